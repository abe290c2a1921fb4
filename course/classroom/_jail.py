"""The jail a learner's kernel runs in while the class grader executes their notebook.

A submission is code from a student, run on the grading machine. RBAC already keeps it inside the
student's namespaces on the cluster; the jail keeps it away from everything on the *machine* that
would let it step outside them: the instructor's admin kubeconfig, the grader's token, other
students' kubeconfigs and kernels, the gradebook, the disk, etcd's port (the sim cluster's etcd has
no authentication), other programs' sockets. Entering the jail is one call, :func:`enter_jail`, made
by the process that is about to become the kernel; in order it

1. gives the kernel its own PID namespace, so that every process the submission starts dies with
   the kernel, daemons included, and no process outside is visible;
2. lowers resource limits (address space, file size, CPU seconds, open files, no core dumps);
3. moves it into a private root (:mod:`~course.classroom._rootfs`, a mount namespace): the Python
   installation, the course package and the system folders read-only, its scratch folder writable,
   a handful of files of ``/etc`` and devices of ``/dev``, a ``/proc`` of its own PID namespace;
4. gives it an unprivileged identity: when the grader runs as root, a uid and gid of its own
   (:func:`jail_uid`, in no group, in no ``/etc/passwd``), so that root's files (``/etc/shadow``, a
   disk) are closed to it even by plain file permissions; a grader that is not root gives its own;
5. drops every Linux capability for good;
6. filters its system calls (:mod:`~course.classroom._seccomp`): TCP sockets only (no UDP, no UNIX
   socket but a ``socketpair``), no ``io_uring``, no new namespaces;
7. fences it with :mod:`~course.classroom._landlock`: read what was bound above (and of ``/proc``
   only a few system-wide files); write only its own scratch folder; bind its own kernel ports;
   connect to the API server's port only; no ptrace (and, with ABI 6, no signals or abstract
   sockets) across the fence;
8. replaces the environment with the policy's (the student's kubeconfig and namespace, a private
   ``HOME`` and ``TMPDIR``) and changes to its working folder.

With ``require_landlock`` (the default, and the class grader's unless told ``--unconfined``) a layer
that cannot be put in place is an error and the kernel does not start; :func:`missing_features`
says beforehand what this machine lacks. Without it, the jail does what the machine allows and
reports what it enforced.

``python -m course.classroom._jail POLICY.json -- COMMAND ...`` does the same and then runs COMMAND
(the slow path, used when no pre-forked kernel is at hand).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.classroom import _seccomp
from course.classroom._landlock import Fence, LandlockError, abi_version
from course.classroom._rootfs import (
    DEVICES,
    ETC_FILES,
    JAIL_ETC_FILES,
    PROC_FILES,
    WRITABLE_DEVICES,
    RootfsError,
    enter_private_root,
)

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWUSER, _CLONE_NEWPID = 0x10000000, 0x20000000
_PR_CAPBSET_DROP, _PR_SET_SECUREBITS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 28, 47, 4
_PR_SET_DUMPABLE, _PR_SET_PDEATHSIG = 4, 1
_SECURE_NOROOT_ALL = 0xFF  # noroot, no_setuid_fixup, keep_caps, no_cap_ambient_raise, each locked
LANDLOCK_ABI = 4
"""Files (1) and TCP ports (4): what the jail needs of Landlock. Signals and abstract UNIX sockets
are scoped too where the kernel has ABI 6; without it, the PID namespace (no process outside has a
PID in there), the uid and the seccomp filter (no UNIX socket at all) keep them in."""
JAIL_UID_BASE = 0x70000000
"""Jailed kernels of a root grader run as ``JAIL_UID_BASE + their first port`` (or ``+ 65536 + pid``)."""


class JailError(OSError):
    """A layer of the jail could not be put in place; the message names it."""


@dataclass
class JailPolicy:
    """Everything the kernel may keep; written as JSON next to the job for the exec path."""

    cwd: str
    env: dict[str, str]
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    bind_ports: list[int] = field(default_factory=list)
    connect_ports: list[int] = field(default_factory=list)
    address_space: int = 4 << 30
    file_size: int = 256 << 20
    cpu_seconds: int = 1800
    open_files: int = 1024
    require_landlock: bool = True
    """Every layer, not Landlock only: a layer that cannot be put in place stops the kernel."""
    scratch: str = ""
    """Where the jail makes the empty folder it mounts the kernel's root on (removed when the kernel
    ends; default: the temp folder)."""

    def dump(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> JailPolicy:
        return cls(**json.loads(path.read_text()))


def system_read_paths() -> list[str]:
    """Folders every kernel may read: the OS's programs and libraries, this Python, the course package
    and its data. ``/etc``, ``/dev`` and ``/proc`` are not among them: the jail adds the few files of
    those it allows (see :mod:`~course.classroom._rootfs`)."""
    import course
    from course._paths import setup_dir
    from course._toolchain import load_toolchain

    folders = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"]
    folders += [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix)
    folders += [p for p in sys.path if p.startswith(prefixes) or p.endswith(("site-packages", "dist-packages"))]
    folders += [str(Path(course.__file__).resolve().parent), str(setup_dir())]
    with contextlib.suppress(Exception):
        folders.append(str(load_toolchain().bin_dir))
    return sorted(set(folders))


def jail_uid(policy: JailPolicy) -> int:
    """The uid (and gid) a root grader's kernel runs as: one per kernel running on this machine at once
    (ports are reserved machine-wide, see :func:`~course.classroom._kernels.reserved_port_blocks`)."""
    if policy.bind_ports:
        return JAIL_UID_BASE + min(policy.bind_ports)
    return JAIL_UID_BASE + 65536 + os.getpid()


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent ends (a fork does not inherit it)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def enter_jail(policy: JailPolicy) -> list[str]:
    """Turn the calling process into a jailed one (see the module docstring); return what is enforced.

    Forks: the caller's process stays outside as a small waiter that exits with the kernel's status,
    and only the new process (PID 1 inside) returns from this call. Raises :class:`JailError` when a
    layer fails and the policy requires every layer.
    """
    strict = policy.require_landlock
    enforced: list[str] = []

    def failed(layer: str, problem: BaseException) -> None:
        if strict:
            raise JailError(f"jail: {layer}: {problem}") from problem
        enforced.append(f"no-{layer}")

    mountpoint = tempfile.mkdtemp(prefix="jail-root-", dir=policy.scratch or None)  # the waiter removes it
    if _enter_pid_namespace(mountpoint):
        enforced.append("pid-namespace")
    else:
        os.rmdir(mountpoint)
        failed("pid-namespace", OSError("unshare(CLONE_NEWPID) refused"))
    _lower_limits(policy)
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # other processes of this user cannot read its memory
    writable = [*policy.write, *WRITABLE_DEVICES]
    try:
        uid = jail_uid(policy) if os.geteuid() == 0 else os.getuid()
        gid = uid if os.geteuid() == 0 else os.getgid()
        account = (uid, gid, policy.env.get("HOME", "/nonexistent"))
        enforced += enter_private_root(mountpoint, [*policy.read, policy.cwd], policy.write, account)
        writable.append("/dev/shm")  # its own
    except (RootfsError, OSError) as problem:
        failed("private-root", problem)
    os.chdir(policy.cwd)  # before the identity changes: a working folder closed to the kernel's uid is allowed
    _prepare_capabilities()
    if os.geteuid() == 0:  # a root grader (inside a user namespace, the grader's own uid is kept)
        uid = jail_uid(policy)
        try:
            _become(uid, policy.write)
            _still_watched()
            enforced.append("own-uid")
        except OSError as problem:
            failed("identity", problem)
    else:
        enforced.append("graders-uid")  # not root: root's files are closed to it already
    if _drop_capabilities():
        enforced.append("no-capabilities")
    else:
        failed("capabilities", OSError(ctypes.get_errno(), "capset failed"))
    try:
        _seccomp.install()
        enforced.append("tcp-sockets-only")
    except OSError as problem:
        failed("seccomp", problem)
    fence = Fence(
        read=[*policy.read, *ETC_FILES, *DEVICES, *PROC_FILES, *(JAIL_ETC_FILES if "private-root" in enforced else [])],
        write=writable,
        bind_ports=policy.bind_ports,
        connect_ports=policy.connect_ports,
    )
    try:
        if strict and abi_version() < LANDLOCK_ABI:
            raise LandlockError(f"Landlock ABI {LANDLOCK_ABI} needed, this kernel has {abi_version()}")
        enforced += fence.enforce()
    except LandlockError as problem:
        failed("landlock", problem)
    os.environ.clear()
    os.environ.update(policy.env)
    tempfile.tempdir = None  # recomputed from the new TMPDIR
    return enforced


def _enter_pid_namespace(mountpoint: str) -> bool:
    """Unshare the PID namespace and fork; the parent waits, mirrors the exit and never returns."""
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWPID if os.geteuid() == 0 else _CLONE_NEWUSER | _CLONE_NEWPID
    if _libc.unshare(flags) != 0:
        return False
    if flags & _CLONE_NEWUSER:
        try:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        except OSError:
            return False
    global _waiter
    watch, held = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        # Dies with the waiter, which dies with a grading job that is killed (see _kernels).
        die_with_parent()
        os.close(held)
        _waiter = watch
        return True
    os.close(watch)
    # The waiter: interrupts are for the kernel (it gets them through the process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    with contextlib.suppress(OSError):
        os.rmdir(mountpoint)  # the kernel's root was mounted on it in the kernel's mount namespace only
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


_waiter = -1
"""In the jailed process: a pipe whose other end only the waiter holds (end of file: the waiter is gone)."""


def _still_watched() -> None:
    """Arm the parent-death signal again (a change of uid disarms it); end now if the waiter is gone already."""
    die_with_parent()
    if _waiter >= 0 and select.select([_waiter], [], [], 0)[0]:
        os._exit(1)


def _lower_limits(policy: JailPolicy) -> None:
    wanted = {
        resource.RLIMIT_AS: policy.address_space,
        resource.RLIMIT_FSIZE: policy.file_size,
        resource.RLIMIT_CPU: policy.cpu_seconds,
        resource.RLIMIT_NOFILE: policy.open_files,
        resource.RLIMIT_CORE: 0,
    }
    for limit, value in wanted.items():
        _soft, hard = resource.getrlimit(limit)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value))


def _become(uid: int, writable: list[str]) -> None:
    """Hand the writable folders to ``uid``, then become it (and its own gid, in no other group)."""
    for path in writable:
        if os.path.isdir(path) and not os.path.islink(path):
            for folder, dirs, files in os.walk(path):
                for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
                    _hand_over(name, uid)
        elif os.path.isfile(path):
            _hand_over(path, uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid or os.getgroups():
        raise JailError(f"still uid {os.getuid()} after setresuid({uid})")
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _hand_over(path: str, uid: int) -> None:
    """Give ``path`` to ``uid``, unless it is a hard link (an earlier kernel's link to a file that is
    not its own must not make that file the next kernel's)."""
    found = os.lstat(path)
    if stat.S_ISDIR(found.st_mode) or found.st_nlink == 1:
        os.chown(path, uid, uid, follow_symlinks=False)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _prepare_capabilities() -> None:
    """Lock the securebits and empty the bounding and ambient sets: nothing executed ever gains a
    capability (even as root). Needs CAP_SETPCAP, so it comes before the identity changes."""
    _libc.prctl(_PR_SET_SECUREBITS, _SECURE_NOROOT_ALL, 0, 0, 0)
    for cap in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: no such cap
            break
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def _drop_capabilities() -> bool:
    """Empty the effective, permitted and inheritable sets."""
    header = _CapHeader(version=0x20080522, pid=0)
    data = (_CapData * 2)()
    return int(_libc.capset(ctypes.byref(header), data)) == 0


def landlock_available() -> int:
    """The Landlock ABI the jail can use here (0: none)."""
    return abi_version()


def missing_features() -> list[str]:
    """What this machine lacks for a full jail, one line each (empty: every layer works here).

    Checks the kernel's features, then jails a small Python for real and reports the first layer
    that failed.
    """
    missing = []
    abi = abi_version()
    if abi < LANDLOCK_ABI:
        missing.append(
            f"Landlock ABI {LANDLOCK_ABI} (Linux 6.7 or newer, with landlock in lsm=) for the file and TCP "
            f"fences; this kernel has {f'ABI {abi}' if abi else 'no Landlock'}"
        )
    if not _seccomp.supported():
        missing.append("seccomp filters on this machine (x86-64 or arm64) for the UDP and UNIX-socket fence")
    if missing:
        return missing
    with tempfile.TemporaryDirectory(prefix="k8s-course-jail-check-") as scratch:
        work = Path(scratch) / "work"
        work.mkdir()
        policy = JailPolicy(cwd=str(work), env={}, read=system_read_paths(), write=[str(work)])
        jailed = [sys.executable, "-m", "course.classroom._jail", str(policy.dump(Path(scratch) / "policy.json"))]
        check = [sys.executable, "-c", "print('ok')"]
        try:
            ran = subprocess.run([*jailed, "--", *check], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as problem:
            return [f"a jailed process ({problem})"]
        if ran.stdout.strip() != "ok":
            lines = [line for line in ran.stderr.splitlines() if line.startswith("jail: ")]
            missing.append(lines[-1][len("jail: ") :] if lines else f"a jailed process (exit {ran.returncode})")
    return missing


def main(argv: list[str]) -> None:
    """``python -m course.classroom._jail POLICY.json -- COMMAND ...``: jail, then exec COMMAND."""
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m course.classroom._jail POLICY.json -- COMMAND ...")
    policy = JailPolicy.load(Path(argv[0]))
    policy.scratch = policy.scratch or str(Path(argv[0]).resolve().parent)
    try:
        enter_jail(policy)
    except JailError as problem:
        raise SystemExit(str(problem)) from None
    os.execve(argv[2], argv[2:], dict(os.environ))


if __name__ == "__main__":
    main(sys.argv[1:])
