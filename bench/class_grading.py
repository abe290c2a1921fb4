"""Benchmark: grade a practice class of chapter 00 one by one (plain nbgrader) and with the class grader.

    python bench/class_grading.py [--students 30] [--workers N]

Uses the sim cluster of ``K8S_COURSE_STATE`` when one runs there; otherwise starts a private one in
a temporary folder and stops it at the end. Prints both wall times, the ratio, the peak memory of
each (the proportional set size of the grading processes, summed: shared pages counted once) and
whether every score is identical. This is a measurement, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHAPTER = "00-setup"


def _children(root: int) -> list[int]:
    """``root`` and every process descending from it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Sample the summed PSS of this process tree every second; the list holds the peak afterwards."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            peak[0] = max(peak[0], sum(_pss_bytes(pid) for pid in _children(os.getpid())))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def _course(into: Path, students: int) -> Path:
    from course.classroom.samples import write_practice_class
    from course.nbgrader_glue import generate_assignment, scratch_course

    root = scratch_course(into, [CHAPTER])
    generate_assignment(root, CHAPTER)
    write_practice_class(root, CHAPTER, students)
    return root


def _scores(root: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        assignment = gradebook.find_assignment(CHAPTER)
        return {
            submission.student.id: {
                grade.name: float(grade.score) for notebook in submission.notebooks for grade in notebook.grades
            }
            for submission in assignment.submissions
        }


@dataclass
class Measured:
    """Wall time, peak memory and CPU seconds of one way of grading (CPU: this process's children,
    the grading process itself when it is this one, and the cluster's processes)."""

    seconds: float = 0.0
    peak_bytes: int = 0
    cpu: float = 0.0
    cluster_cpu: float = 0.0


def _cluster_cpu() -> float:
    """CPU seconds used so far by the cluster's processes (those started from this state folder)."""
    from course._paths import state_dir

    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_text()
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if str(state_dir()) in command:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


@contextmanager
def measured() -> Iterator[Measured]:
    result = Measured()
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cluster, started = _cluster_cpu(), time.monotonic()
    with peak_memory() as peak:
        yield result
    result.seconds, result.peak_bytes = time.monotonic() - started, peak[0]
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    result.cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, usage, strict=True))
    result.cluster_cpu = _cluster_cpu() - cluster


def _line(name: str, run: Measured, students: int) -> str:
    per = (run.cpu + run.cluster_cpu) / students
    return (
        f"  {name:34} {run.seconds:7.1f} s   peak memory {run.peak_bytes / 2**20:5.0f} MiB   "
        f"CPU {run.cpu:6.1f} s + cluster {run.cluster_cpu:5.1f} s = {per:.2f} s per submission"
    )


def run(students: int, workers: int | None) -> None:
    from course.classroom.grader import default_workers, grade_class
    from course.classroom.roster import students_from
    from course.classroom.sandboxes import create_sandboxes

    workers = workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="k8s-course-bench-") as scratch:
        serial_root, class_root = (
            _course(Path(scratch) / "serial", students),
            _course(Path(scratch) / "class", students),
        )
        with measured() as serial:
            command = [sys.executable, "-m", "nbgrader", "autograde", CHAPTER]
            subprocess.run(command, cwd=serial_root, capture_output=True, stdin=subprocess.DEVNULL)

        roster = students_from(sorted(p.name for p in (class_root / "submitted").iterdir()))
        started = time.monotonic()
        create_sandboxes(roster, [CHAPTER])
        sandboxes = time.monotonic() - started
        with measured() as parallel:
            report = grade_class(CHAPTER, class_root, workers=workers, feedback=False, export=False)
        class_scores = _scores(class_root)
        with measured() as full:
            grade_class(CHAPTER, class_root, workers=workers)

        serial_scores = _scores(serial_root)
        same = serial_scores == class_scores == _scores(class_root)
        load = os.getloadavg()[0]
        print(f"\nClass grading: {students} submissions of {CHAPTER}, {os.cpu_count()} CPUs, load average {load:.1f}")
        print(_line("serial: nbgrader autograde", serial, students))
        print(_line(f"class grade, {workers} workers", parallel, students))
        print(f"  ratio (wall time)                  {serial.seconds / parallel.seconds:7.1f} x")
        cpu_ratio = (serial.cpu + serial.cluster_cpu) / (parallel.cpu + parallel.cluster_cpu)
        print(f"  ratio (CPU per submission)         {cpu_ratio:7.1f} x")
        print(_line("class grade + feedback + CSV", full, students))
        print(f"  sandboxes for the class, beforehand {sandboxes:6.1f} s")
        print(f"  jail: {', '.join(report.jail) or 'none'}")
        print(f"  scores: {'identical' if same else 'DIFFERENT'} ({sum(map(len, class_scores.values()))} cells)")
        if not same:
            for student in sorted(set(serial_scores) | set(class_scores)):
                if serial_scores.get(student) != class_scores.get(student):
                    print(f"    {student}: serial {serial_scores.get(student)} class {class_scores.get(student)}")


@contextmanager
def sim_cluster() -> Iterator[None]:
    """The sim cluster of ``K8S_COURSE_STATE`` when one runs there; otherwise a private one in a
    temporary folder, stopped at the end."""
    from course.backends.sim import SimBackend

    own_cluster = not os.environ.get("K8S_COURSE_STATE") or not SimBackend().status().running
    try:
        if own_cluster:  # stopped below even when it fails to start: nothing of it keeps running
            os.environ["K8S_COURSE_STATE"] = tempfile.mkdtemp(prefix="k8s-course-bench-state-")
            SimBackend().up()
        yield
    finally:
        if own_cluster:
            SimBackend().down()
            shutil.rmtree(os.environ["K8S_COURSE_STATE"], ignore_errors=True)  # `down` keeps its config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with sim_cluster():
        run(args.students, args.workers)


if __name__ == "__main__":
    main()
