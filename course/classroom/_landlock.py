"""Landlock: an unprivileged process fences itself in, and the fence cannot be taken down.

`Landlock <https://docs.kernel.org/userspace-api/landlock.html>`_ is a Linux security module (5.13+)
that any process may use on itself, root or not. The process lists what it will still be allowed to
do (read these folders, write that one, connect to this TCP port); after ``restrict_self`` every
other file access, TCP bind or connect, signal to or ptrace of a process outside the fence fails with
``EACCES``/``EPERM`` — for the process and every process it starts, forever.

The class grader puts each learner's kernel inside such a fence (see :mod:`course.classroom._jail`):
it can read the Python installation and the course package but not the instructor's kubeconfig, the
gradebook or another learner's files; it can reach the API server's port but not etcd's.

Features arrive by ABI version: 1 files, 2 rename across folders, 3 truncate, 4 TCP, 5 device ioctl,
6 signals and abstract unix sockets. :func:`abi_version` says what this kernel offers; rules for a
feature the kernel lacks are dropped, and :class:`Fence` reports what was really enforced.

>>> fence = Fence(read=["/usr"], write=["/tmp/x"], connect_ports=[6443])   # doctest: +SKIP
>>> fence.enforce()                                                          # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import os
import platform
from dataclasses import dataclass, field

# Syscall numbers are the same on every architecture that has Landlock (they were added late).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights (uapi/linux/landlock.h), with the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_BY_ABI = {1: (1 << 13) - 1, 2: REFER, 3: TRUNCATE, 5: IOCTL_DEV}
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
"""The rights that make sense on a single file (the kernel rejects the others there)."""

READ = EXECUTE | READ_FILE | READ_DIR | IOCTL_DEV
"""What a readable folder allows: open, list, run programs (no device nodes are ever made)."""
CREATE = MAKE_DIR | MAKE_REG | MAKE_SYM | MAKE_FIFO | MAKE_SOCK
WRITE = READ | WRITE_FILE | TRUNCATE | REMOVE_DIR | REMOVE_FILE | REFER | CREATE
"""What a writable folder allows on top: change, create, remove and move files within it."""

# Network rights (ABI 4) and scopes (ABI 6).
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)


class LandlockError(OSError):
    """Landlock is missing, or refused a rule."""


def abi_version() -> int:
    """The Landlock ABI of the running kernel; 0 when it has none (or this is not Linux)."""
    if platform.system() != "Linux":
        return 0
    version = _libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _handled_fs(abi: int) -> int:
    return sum(bits for since, bits in _FS_BY_ABI.items() if abi >= since)


@dataclass
class Fence:
    """What a process may still do once :meth:`enforce` ran: everything else is denied.

    ``read`` and ``write`` are files or folders (everything beneath a folder is included);
    ``bind_ports`` and ``connect_ports`` are TCP ports. Signals and abstract unix sockets never
    cross the fence (ABI 6).
    """

    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    bind_ports: list[int] = field(default_factory=list)
    connect_ports: list[int] = field(default_factory=list)

    def enforce(self) -> list[str]:
        """Restrict this process (and its future children) for good; return what is enforced."""
        abi = abi_version()
        if abi < 1:
            raise LandlockError("this kernel has no Landlock (Linux 5.13 or newer with landlock in lsm=)")
        handled_fs = _handled_fs(abi)
        attr = _RulesetAttr(
            handled_access_fs=handled_fs,
            handled_access_net=(BIND_TCP | CONNECT_TCP) if abi >= 4 else 0,
            scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0,
        )
        size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
        ruleset = _libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if ruleset < 0:
            raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
        try:
            for paths, rights in ((self.read, READ), (self.write, WRITE)):
                for path in paths:
                    self._allow_path(ruleset, path, rights & handled_fs)
            if abi >= 4:
                for ports, right in ((self.bind_ports, BIND_TCP), (self.connect_ports, CONNECT_TCP)):
                    for port in ports:
                        rule = _NetPortAttr(allowed_access=right, port=port)
                        self._add_rule(ruleset, _RULE_NET_PORT, ctypes.byref(rule))
            if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise LandlockError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
            if _libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
                raise LandlockError(ctypes.get_errno(), "landlock_restrict_self failed")
        finally:
            os.close(ruleset)
        enforced = ["files"]
        enforced += ["tcp"] if abi >= 4 else []
        enforced += ["signals", "abstract-sockets"] if abi >= 6 else []
        return enforced

    @staticmethod
    def _allow_path(ruleset: int, path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # nothing there to allow
        try:
            if not os.path.isdir(path):
                rights &= _FILE_ONLY
            rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
            Fence._add_rule(ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule))
        finally:
            os.close(fd)

    @staticmethod
    def _add_rule(ruleset: int, rule_type: int, rule: object) -> None:
        if _libc.syscall(_ADD_RULE, ruleset, ctypes.c_int(rule_type), rule, ctypes.c_uint32(0)) != 0:
            raise LandlockError(ctypes.get_errno(), f"landlock_add_rule (type {rule_type}) failed")
