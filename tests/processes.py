"""What is still running: the tests' way to check that nothing was left behind."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    command: str
    """Its arguments joined by spaces."""


def running_processes() -> Iterator[Process]:
    """Every running process, read from /proc; not zombies, which have ended and wait for their parent."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state, parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if state != "Z":
            yield Process(int(proc.name), int(parent), command)


def processes_under(folder: Path) -> list[str]:
    """Command lines of running processes that mention ``folder``."""
    return [process.command[:120] for process in running_processes() if str(folder) in process.command]


def wait_until_gone(folder: Path, timeout: float = 15) -> list[str]:
    """Wait up to ``timeout`` seconds for every process that mentions ``folder`` to end; those left."""
    deadline = time.monotonic() + timeout
    while (left := processes_under(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _socket_inodes(pid: str) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def _address(hex_address: str) -> str:
    """``0100007F:1F90`` (as /proc/net/tcp writes 127.0.0.1:8080) to ``127.0.0.1``; IPv6 likewise."""
    host = hex_address.split(":")[0]
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_addresses(executables_in: Path) -> list[tuple[str, str]]:
    """``(program, address)`` for every TCP socket listening in a process started from the folder
    ``executables_in``, read from /proc (no ``ss`` or ``netstat`` needed)."""
    owners: dict[str, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:  # the command as started: kwokctl's bin/ holds links, which /proc/PID/exe would resolve
            program = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if Path(program).parent == executables_in:
            owners.update(dict.fromkeys(_socket_inodes(proc.name), Path(program).name))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in owners:  # 0A: LISTEN
                    found.append((owners[fields[9]], _address(fields[1])))
    return found


@contextlib.contextmanager
def unix_users(names: list[str]) -> Iterator[list[str]]:
    """Real Unix users with homes and groups of their own, removed (homes included) whatever happens."""
    try:
        for name in names:
            subprocess.run(["useradd", "--create-home", "--user-group", name], check=True, capture_output=True)
        yield names
    finally:
        for name in names:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
