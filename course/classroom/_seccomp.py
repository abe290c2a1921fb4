"""A seccomp filter for the graded kernel: TCP sockets only, no io_uring, no new namespaces.

Landlock fences TCP (which ports a kernel may bind and connect to) but not the other socket families:
a UDP datagram, a pathname UNIX socket of another program (Docker's, containerd's), a netlink or
vsock socket would all be reachable. The filter lets ``socket()`` make IPv4 and IPv6 TCP sockets
only (``socketpair()`` stays allowed: asyncio's self-pipe is one, and it reaches nothing); every
other family, type or protocol fails with ``EPERM`` (netlink with ``EOPNOTSUPP``: ``getifaddrs()`` then
fails the way ZeroMQ expects on machines without it, and it resolves ``127.0.0.1`` without listing
the machine's interfaces). ``io_uring`` (which makes sockets without
``socket()``) and new namespaces (``unshare``, ``setns``, ``clone`` with a namespace flag; ``clone3``
reports ``ENOSYS``, so the C library falls back to ``clone``) are refused too.

The filter is inherited by everything the kernel runs (kubectl included) and cannot be removed.
Only the system call numbers of x86-64 and arm64 are known; elsewhere :func:`supported` is false and
the grader refuses to start unless told ``--unconfined``.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_PR_SET_NO_NEW_PRIVS, _PR_GET_SECCOMP, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 21, 22, 2

# Classic BPF, as seccomp takes it.
_LD_W_ABS, _JEQ, _JGE, _JSET, _AND, _RET = 0x20, 0x15, 0x35, 0x45, 0x54, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000

_AF_INET, _AF_INET6, _AF_NETLINK = 2, 10, 16
_SOCK_STREAM, _SOCK_FLAGS = 1, 0o4000 | 0o2000000  # SOCK_NONBLOCK | SOCK_CLOEXEC
_IPPROTO_TCP = 6
_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
"""CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (NEWTIME exists for clone3 and unshare only)."""

_ARCHES = {
    # machine: (AUDIT_ARCH_*, socket, clone, unshare, setns, clone3, io_uring_setup, _enter, _register)
    "x86_64": (0xC000003E, 41, 56, 272, 308, 435, 425, 426, 427),
    "aarch64": (0xC00000B7, 198, 220, 97, 268, 435, 425, 426, 427),
}
_X32_BIT = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


class SeccompError(OSError):
    """The filter could not be installed."""


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def supported() -> bool:
    """Whether this kernel takes seccomp filters and this module knows the machine's system calls."""
    if platform.system() != "Linux" or platform.machine() not in _ARCHES:
        return False
    return int(_libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0)) >= 0


def _program() -> list[tuple[int, int, int, int]]:
    """The filter as (code, jump if true, jump if false, k); jumps are resolved from labels below."""
    arch, socket, clone, unshare, setns, clone3, *io_uring = _ARCHES[platform.machine()]
    refuse, nosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    program: list[tuple[int | str, int | str, int | str, int]] = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ, 0, "refuse", arch),
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (_JGE, "refuse", 0, _X32_BIT),
        (_JEQ, "socket", 0, socket),
        (_JEQ, "clone", 0, clone),
        (_JEQ, "refuse", 0, unshare),
        (_JEQ, "refuse", 0, setns),
        (_JEQ, "nosys", 0, clone3),
        *[(_JEQ, "refuse", 0, number) for number in io_uring],
        (_RET, 0, 0, _ALLOW),
        ("socket", 0, 0, 0),
        (_LD_W_ABS, 0, 0, 16),  # args[0]: the family
        (_JEQ, "type", 0, _AF_INET),
        (_JEQ, "type", 0, _AF_INET6),
        (_JEQ, "unsupported", "refuse", _AF_NETLINK),
        ("type", 0, 0, 0),
        (_LD_W_ABS, 0, 0, 24),  # args[1]: the type, with SOCK_NONBLOCK and SOCK_CLOEXEC
        (_AND, 0, 0, ~_SOCK_FLAGS & 0xFFFFFFFF),
        (_JEQ, 0, "refuse", _SOCK_STREAM),
        (_LD_W_ABS, 0, 0, 32),  # args[2]: the protocol (0 or TCP, not SCTP or MPTCP)
        (_JEQ, "allow", 0, 0),
        (_JEQ, "allow", "refuse", _IPPROTO_TCP),
        ("clone", 0, 0, 0),
        (_LD_W_ABS, 0, 0, 16),  # args[0]: the flags (x86-64 and arm64 both)
        (_JSET, "refuse", "allow", _NAMESPACE_FLAGS),
        ("allow", 0, 0, 0),
        (_RET, 0, 0, _ALLOW),
        ("refuse", 0, 0, 0),
        (_RET, 0, 0, refuse),
        ("nosys", 0, 0, 0),
        (_RET, 0, 0, nosys),
        ("unsupported", 0, 0, 0),
        (_RET, 0, 0, _ERRNO | errno.EOPNOTSUPP),
    ]
    labels: dict[str, int] = {}
    index = 0
    for code, *_ in program:
        if isinstance(code, str):
            labels[code] = index
        else:
            index += 1
    resolved: list[tuple[int, int, int, int]] = []
    index = 0
    for code, true, false, k in program:
        if isinstance(code, str):
            continue
        jumps = [labels[j] - index - 1 if isinstance(j, str) else j for j in (true, false)]
        resolved.append((code, jumps[0], jumps[1], k))
        index += 1
    return resolved


def install() -> None:
    """Install the filter on this thread's process (and everything it starts), for good."""
    if not supported():
        raise SeccompError(errno.ENOSYS, f"no seccomp filter for this machine ({platform.machine()})")
    code = b"".join(struct.pack("HBBI", c, t, f, k & 0xFFFFFFFF) for c, t, f, k in _program())
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise SeccompError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
