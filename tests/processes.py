"""What is still running: the tests' way to check that nothing was left behind."""

from __future__ import annotations

import time
from pathlib import Path


def processes_under(folder: Path) -> list[str]:
    """Command lines of running processes (zombies are not running) that mention ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(folder) in command and status != "Z":
            found.append(command[:120])
    return found


def wait_until_gone(folder: Path, timeout: float = 15) -> list[str]:
    """Wait up to ``timeout`` seconds for every process that mentions ``folder`` to end; those left."""
    deadline = time.monotonic() + timeout
    while (left := processes_under(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
