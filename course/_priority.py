"""A graded kernel yields the CPU to the cluster it is graded on.

Grading runs many kernels at once next to the cluster (the sim backend's control plane, or kind's node
containers) on the same machine. A kernel mostly waits for controllers: a Job to complete, a Deployment
to roll out, a foreground deletion to end. When a class of kernels keeps every core busy, the controllers
they wait for get a small share of the CPU, every wait stretches, and a correct submission can run out of
time. So under grading a kernel, and the class grader's job that forks it, run at a lower CPU priority
than the cluster: the kernels still use every idle cycle, but the controllers come first.
"""

from __future__ import annotations

import os

GRADING_NICENESS = 10
"""Niceness of a grading process. At nice 10 a process weighs about a tenth of one at the default 0
(Linux's CFS weights 110 against 1024), so the control plane keeps most of a busy machine."""


def yield_to_the_cluster() -> None:
    """Lower this process's CPU priority to :data:`GRADING_NICENESS`, inherited by what it starts.
    Never raises it (that needs privileges, and a process already nicer stays so); a system without
    niceness (Windows) keeps its priority."""
    if not hasattr(os, "setpriority"):
        return
    if os.getpriority(os.PRIO_PROCESS, 0) < GRADING_NICENESS:
        os.setpriority(os.PRIO_PROCESS, 0, GRADING_NICENESS)
