"""Graded kernels yield the CPU to the cluster: nice 10, never less nice than they were."""

from __future__ import annotations

import subprocess
import sys

from course._priority import GRADING_NICENESS

PRINT_NICENESS_AFTER_YIELDING = (
    "import os; from course._priority import yield_to_the_cluster; "
    "yield_to_the_cluster(); print(os.getpriority(os.PRIO_PROCESS, 0))"
)


def niceness_after_yielding(started_at: int) -> int:
    """Start a process at niceness ``started_at``, let it yield to the cluster, and return its niceness."""
    command = ["nice", "-n", str(started_at), sys.executable, "-c", PRINT_NICENESS_AFTER_YIELDING]
    return int(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def test_a_grading_process_runs_below_the_cluster() -> None:
    assert niceness_after_yielding(0) == GRADING_NICENESS > 0


def test_a_process_already_nicer_stays_as_nice() -> None:
    assert niceness_after_yielding(GRADING_NICENESS + 5) == GRADING_NICENESS + 5
