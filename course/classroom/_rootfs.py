"""The graded kernel's own file system: a private root holding only what grading needs.

In a mount namespace of its own, the jailed process builds a new root on an empty ``tmpfs`` and
moves into it (``pivot_root``); the machine's root is then unmounted from its view. The new root has

* the folders it may read (Python, the course package, ``/usr``), each bound read-only, without
  set-user-ID programs, at the same path as outside;
* the folders it may write (its scratch folder), bound read-write;
* from ``/etc`` only :data:`ETC_FILES` (the dynamic linker's cache, time zone, hosts, TLS roots),
  and a ``passwd`` and ``group`` of its own that name the kernel's uid only (and root, nobody);
* from ``/dev`` only :data:`DEVICES`, and a private ``/dev/shm``;
* a ``/proc`` of its own PID namespace (no other process is in it), when the kernel allows one;
* nothing else: no ``/sys``, ``/run``, ``/var``, ``/tmp``, ``/home``, no block device, no other
  program's UNIX socket (a socket file outside the jail has no path inside it).

Folders whose parents are private to root outside (``/root/.pyenv``, ``~/.cache`` of a root grader)
stay reachable: their parents in the new root are plain ``0755`` folders of the ``tmpfs``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC, _MS_PRIVATE, _MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 18, 1 << 21
_MNT_DETACH = 2
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
# statvfs flags a remount must keep (a mount namespace of a user namespace may not clear them).
_KEEP = {
    os.ST_RDONLY: _MS_RDONLY,
    os.ST_NOSUID: _MS_NOSUID,
    os.ST_NODEV: _MS_NODEV,
    os.ST_NOEXEC: _MS_NOEXEC,
    os.ST_NOATIME: _MS_NOATIME,
    os.ST_NODIRATIME: _MS_NODIRATIME,
    os.ST_RELATIME: _MS_RELATIME,
}

ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs")
"""All of the machine's ``/etc`` a kernel sees: no passwd, group, shadow, ssh keys (the jail writes a
``passwd`` and ``group`` of its own, :data:`JAIL_ETC_FILES`)."""
JAIL_ETC_FILES = ("/etc/passwd", "/etc/group")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
"""All of ``/dev`` a kernel sees (with a private ``/dev/shm``): no disk, no memory, no vsock."""
WRITABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty")
PROC_FILES = ("/proc/stat", "/proc/meminfo", "/proc/cpuinfo", "/proc/loadavg", "/proc/uptime")
"""What of the private ``/proc`` the Landlock fence lets a kernel read (no process's files, not even its own)."""


class RootfsError(OSError):
    """The private root could not be built (no mount namespace, or a mount was refused)."""


def _encode(value: str | None) -> bytes | None:
    return value.encode() if value is not None else None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(_encode(source), _encode(target), _encode(fstype), ctypes.c_ulong(flags), _encode(data)) != 0:
        error = ctypes.get_errno()
        raise RootfsError(error, f"mount {source or ''} on {target}: {os.strerror(error)}")


def _kept_flags(path: str) -> int:
    found = os.statvfs(path).f_flag
    return sum(flag for st, flag in _KEEP.items() if found & st)


def _bind(root: str, source: str, writable: bool, device: bool = False) -> None:
    """Bind ``source`` at the same path under ``root``: read-only unless ``writable``, never set-user-ID."""
    target = root + source
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    _mount(source, target, None, _MS_BIND)  # not what is mounted beneath it: only what was asked for
    flags = _MS_REMOUNT | _MS_BIND | _MS_NOSUID | _kept_flags(source) | (0 if writable else _MS_RDONLY)
    _mount(None, target, None, flags if device else flags | _MS_NODEV)


def _symlink(root: str, path: str) -> None:
    """Recreate the symbolic link ``path`` (``/bin -> usr/bin``) under ``root``."""
    target = root + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if not os.path.lexists(target):
        os.symlink(os.readlink(path), target)


def _plan(read: list[str], write: list[str]) -> tuple[list[str], list[tuple[str, bool]]]:
    """The symbolic links to recreate and the (real path, writable) binds, parents first, none twice."""
    links: list[str] = []
    binds: dict[str, bool] = {}
    for paths, writable in ((read, False), (write, True)):
        for path in paths:
            path = os.path.abspath(path)
            if not os.path.lexists(path):
                continue
            real = os.path.realpath(path)
            if real != path and os.path.islink(path):
                links.append(path)
            if os.path.exists(real):
                binds[real] = binds.get(real, False) or writable
    planned: list[tuple[str, bool]] = []
    for path in sorted(binds):
        covering = [w for p, w in planned if path.startswith(p.rstrip("/") + "/")]
        if covering and covering[-1] >= binds[path]:
            continue  # inside a folder bound already, with the same rights or more
        planned.append((path, binds[path]))
    return links, planned


def _accounts(root: str, uid: int, gid: int, home: str) -> None:
    """An ``/etc/passwd`` and ``/etc/group`` of the jail's own, naming the kernel's uid ``learner``
    (``getpass.getuser()``, ``whoami`` and ``ssh`` want one); the machine's are not there."""
    users = [("root", 0, 0, "/nonexistent"), ("learner", uid, gid, home), ("nobody", 65534, 65534, "/nonexistent")]
    groups = [("root", 0), ("learner", gid), ("nogroup", 65534)]
    seen_users, seen_groups = set(), set()
    with open(root + "/etc/passwd", "w") as passwd:
        for name, user, group, folder in users:
            if user not in seen_users:
                seen_users.add(user)
                passwd.write(f"{name}:x:{user}:{group}:{name}:{folder}:/usr/sbin/nologin\n")
    with open(root + "/etc/group", "w") as group_file:
        for name, group in groups:
            if group not in seen_groups:
                seen_groups.add(group)
                group_file.write(f"{name}:x:{group}:\n")


def enter_private_root(
    mountpoint: str, read: list[str], write: list[str], account: tuple[int, int, str] = (65534, 65534, "/")
) -> list[str]:
    """Unshare the mount namespace, build the new root on ``mountpoint`` (an empty folder), move in.

    ``account`` is the uid, gid and home folder the process will have in there (for ``/etc/passwd``).

    Must run as root, or with every capability of a user namespace, and in the PID namespace whose
    ``/proc`` it mounts. Returns what it set up (``private-root``, and ``proc`` when a private
    ``/proc`` could be mounted); raises :class:`RootfsError` when the root cannot be built.
    """
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise RootfsError(ctypes.get_errno(), "no mount namespace")
    pivot_root = _PIVOT_ROOT.get(platform.machine())
    if pivot_root is None:
        raise RootfsError(0, f"pivot_root: unknown system call number on {platform.machine()}")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing of what follows leaks to the machine
    root = os.path.realpath(mountpoint)
    _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m,nr_inodes=4096")
    mask = os.umask(0o022)
    try:
        links, binds = _plan([*ETC_FILES, *read], write)
        for link in links:
            _symlink(root, link)
        for path, writable in binds:
            _bind(root, path, writable)
        for device in DEVICES:
            if os.path.exists(device):
                _bind(root, device, writable=True, device=True)
        os.makedirs(root + "/dev/shm", mode=0o755, exist_ok=True)
        _mount("tmpfs", root + "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "mode=1777,size=64m")
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
            os.symlink(target, f"{root}/dev/{name}")
        os.symlink("/proc/self/fd/2", f"{root}/dev/stderr")
        os.makedirs(root + "/etc", mode=0o755, exist_ok=True)
        _accounts(root, *account)
        os.makedirs(root + "/proc", mode=0o555, exist_ok=True)
        enforced = ["private-root"]
        with contextlib.suppress(RootfsError):  # refused in some containers: then there is no /proc at all
            _mount("proc", root + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
            enforced.append("private-proc")
    finally:
        os.umask(mask)
    os.chdir(root)
    if _libc.syscall(pivot_root, b".", b".") != 0:
        raise RootfsError(ctypes.get_errno(), "pivot_root failed")
    if _libc.umount2(b".", _MNT_DETACH) != 0:  # the machine's root, stacked under the new one
        raise RootfsError(ctypes.get_errno(), "could not unmount the old root")
    os.chdir("/")
    _mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    return enforced
