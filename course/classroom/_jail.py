"""The jail a learner's kernel runs in while the class grader executes their notebook.

A submission is code from a student, run on the grading machine. RBAC already keeps it inside the
student's namespaces on the cluster; the jail keeps it away from everything on the *machine* that
would let it step outside them: the instructor's admin kubeconfig, the grader's token, other
students' kubeconfigs and kernels, the gradebook, etcd's port (the sim cluster's etcd has no
authentication). Entering the jail is one call, :func:`enter_jail`, made by the process that is
about to become the kernel; in order it

1. gives the kernel its own PID namespace (when the system allows one), so that every process the
   submission starts dies with the kernel, daemons included;
2. lowers resource limits (address space, file size, CPU seconds, open files, no core dumps);
3. drops every Linux capability for good (a grader running as root gives the kernel a powerless root);
4. fences it with :mod:`~course.classroom._landlock`: read the Python installation, the course
   package and the system folders; write only its own scratch folder; bind its own kernel ports;
   connect to the API server's port only; no signals or ptrace across the fence;
5. replaces the environment with the policy's (the student's kubeconfig and namespace, a private
   ``HOME`` and ``TMPDIR``) and changes to its working folder.

``python -m course.classroom._jail POLICY.json -- COMMAND ...`` does the same and then runs COMMAND
(the slow path, used when no pre-forked kernel is at hand).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.classroom._landlock import Fence, LandlockError, abi_version

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWUSER, _CLONE_NEWPID = 0x10000000, 0x20000000
_PR_CAPBSET_DROP, _PR_SET_SECUREBITS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 28, 47, 4
_PR_SET_DUMPABLE, _PR_SET_PDEATHSIG = 4, 1
_SECURE_NOROOT_ALL = 0xFF  # noroot, no_setuid_fixup, keep_caps, no_cap_ambient_raise, each locked


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

    def dump(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> JailPolicy:
        return cls(**json.loads(path.read_text()))


def system_read_paths() -> list[str]:
    """Folders every kernel may read: the OS, this Python, the course package and its data."""
    import course
    from course._paths import setup_dir
    from course._toolchain import load_toolchain

    folders = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/dev", "/proc", "/sys", "/opt"]
    folders += [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix)
    folders += [p for p in sys.path if p.startswith(prefixes) or p.endswith(("site-packages", "dist-packages"))]
    folders += [str(Path(course.__file__).resolve().parent), str(setup_dir())]
    with contextlib.suppress(Exception):
        folders.append(str(load_toolchain().bin_dir))
    return sorted(set(folders))


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent ends (a fork does not inherit it)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def enter_jail(policy: JailPolicy) -> list[str]:
    """Turn the calling process into a jailed one (see the module docstring); return what is enforced.

    May fork: with a PID namespace the caller's process stays outside as a small waiter that exits
    with the kernel's status, and only the new process (PID 1 inside) returns from this call.
    """
    enforced = ["pid-namespace"] if _enter_pid_namespace() else []
    _lower_limits(policy)
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # other processes of this user cannot read its memory
    if _drop_capabilities():
        enforced.append("no-capabilities")
    fence = Fence(
        read=policy.read, write=policy.write, bind_ports=policy.bind_ports, connect_ports=policy.connect_ports
    )
    try:
        enforced += fence.enforce()
    except LandlockError:
        if policy.require_landlock:
            raise
    os.environ.clear()
    os.environ.update(policy.env)
    tempfile.tempdir = None  # recomputed from the new TMPDIR
    os.chdir(policy.cwd)
    return enforced


def _enter_pid_namespace() -> bool:
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
    child = os.fork()
    if child == 0:
        # Dies with the waiter, which dies with a grading job that is killed (see _kernels).
        die_with_parent()
        return True
    # The waiter: interrupts are for the kernel (it gets them through the process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


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


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> bool:
    """Empty every capability set, for this process and anything it ever executes (even as root)."""
    _libc.prctl(_PR_SET_SECUREBITS, _SECURE_NOROOT_ALL, 0, 0, 0)
    for cap in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: no such cap
            break
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(version=0x20080522, pid=0)
    data = (_CapData * 2)()
    return int(_libc.capset(ctypes.byref(header), data)) == 0


def landlock_available() -> int:
    """The Landlock ABI the jail can use here (0: none; the grader then refuses unless told otherwise)."""
    return abi_version()


def main(argv: list[str]) -> None:
    """``python -m course.classroom._jail POLICY.json -- COMMAND ...``: jail, then exec COMMAND."""
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m course.classroom._jail POLICY.json -- COMMAND ...")
    policy = JailPolicy.load(Path(argv[0]))
    enter_jail(policy)
    os.execve(argv[2], argv[2:], dict(os.environ))


if __name__ == "__main__":
    main(sys.argv[1:])
