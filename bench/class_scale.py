"""Benchmark: how long a class of 30 takes to set up, and how many students at once one machine serves.

    python bench/class_scale.py [--students 30] [--crowds 5,10,20,30] [--chapter 01-why-kubernetes]

On the sim cluster of ``K8S_COURSE_STATE`` when one runs there, otherwise on a private one (as
``bench/class_grading.py`` does). Two measurements, printed as numbers (it asserts nothing):

1. **Ready**: the wall time of the commands an instructor runs for a new class, each as its own
   ``python -m course`` process: ``class sandbox create`` (every chapter, kubeconfig files), the same
   with ``--as-secrets`` (for a hub on Kubernetes), and ``class hub-config`` (into a scratch folder;
   no Unix account is made, so no kubeconfig is copied into a home).
2. **Crowds**: for each N, N students run the chapter's solutions at once, each in a kernel of their
   own with their own kubeconfig, as on a hub (the released notebook with every answer cell filled
   in, as ``class practice`` writes it, executed from the top by ``jupyter nbconvert --execute``).
   Meanwhile a probe lists the Pods of one namespace every 0.2 s with the admin's kubeconfig; the
   API server's latency is the probe's p50, p95 and max. The first N whose p95 exceeds one second is
   named, or that none did.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from class_grading import sim_cluster

PROBE_EVERY = 0.2
"""Seconds between the probe's requests."""
SLOW = 1.0
"""The p95 latency, in seconds, above which a crowd counts as more than the machine serves."""


def _course(*args: str, env: dict[str, str] | None = None) -> tuple[float, int]:
    """``python -m course ARGS`` in a process of its own: its wall time and exit code."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "course", *args], env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    return time.monotonic() - started, done.returncode


def _load() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def ready(scratch: Path, roster: Path, course_root: Path) -> None:
    """Time the commands that make a class of the roster ready, and print them."""
    hub = scratch / "hub"
    commands = {
        "class sandbox create (all chapters)": ["class", "--course-root", str(course_root), "sandbox", "create"],
        "the same again (nothing to create)": ["class", "--course-root", str(course_root), "sandbox", "create"],
        "sandbox create --as-secrets": ["class", "sandbox", "create", "--as-secrets", "k8s-course-bench-hub"],
        "class hub-config": [
            "class", "--course-root", str(course_root), "hub-config", "--instructor", "root",
            "--instructor-root", str(hub / "teacher"), "--kubeconfigs", str(course_root / "classroom" / "kubeconfigs"),
            "--hub-dir", str(hub / "etc-jupyterhub"), "--jupyter-dir", str(hub / "etc-jupyter"),
            "--exchange", str(hub / "exchange"),
        ],
    }  # fmt: skip
    from course._applying import apply

    apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "k8s-course-bench-hub"}}, "")
    print(f"\nA class of {sum(1 for _ in roster.open()) - 1} students, ready ({os.cpu_count()} CPUs):")
    seconds = {}
    for name, command in commands.items():
        seconds[name], code = _course(*command, "--roster", str(roster))
        print(f"  {name:38} {seconds[name]:6.1f} s   exit {code}   {_load()}")
    ready = seconds["class sandbox create (all chapters)"] + seconds["class hub-config"]
    print(f"  {'ready: sandbox create + hub-config':38} {ready:6.1f} s")


@dataclass
class Probe:
    """List-Pods latencies of one namespace, one request every :data:`PROBE_EVERY` seconds."""

    namespace: str
    seconds: list[float] = field(default_factory=list)
    failures: int = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        from kubernetes import client

        from course._client import api_client

        core, stop = client.CoreV1Api(api_client()), threading.Event()

        def loop() -> None:
            while not stop.wait(PROBE_EVERY):
                started = time.monotonic()
                try:
                    core.list_namespaced_pod(self.namespace, _request_timeout=30)
                except Exception:  # a timeout or an error is a failed request, counted apart
                    self.failures += 1
                    continue
                self.seconds.append(time.monotonic() - started)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def solved_notebook(course_root: Path, chapter: str, into: Path) -> Path:
    """The released notebook of ``chapter`` with every answer filled in, as ``class practice`` writes it."""
    import nbformat

    from course.classroom.samples import exercises, solve, source_and_released
    from course.nbgrader_glue import generate_assignment

    generate_assignment(course_root, chapter)
    source, released = source_and_released(course_root, chapter)
    nbformat.write(solve(released, source, exercises(source)), into)  # type: ignore[no-untyped-call]
    return into


def run_crowd(notebook: Path, kubeconfigs: dict[str, Path], scratch: Path) -> tuple[list[float], int]:
    """Every student of ``kubeconfigs`` runs ``notebook`` at once; each one's wall time, and how many failed."""
    started, running = time.monotonic(), {}
    for student, kubeconfig in kubeconfigs.items():
        env = {
            **os.environ,
            "K8S_COURSE_KUBECONFIG": str(kubeconfig),
            "K8S_COURSE_LEARNER": student,
            "K8S_COURSE_FRESH": "1",  # from the chapter's starting state, as the grader does
        }
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute"]
        command += ["--ExecutePreprocessor.timeout=90", "--output", str(scratch / f"{student}.ipynb"), str(notebook)]
        with (scratch / f"{student}.log").open("w") as log:
            running[student] = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    seconds, failed = [], 0
    while running:
        for student, process in list(running.items()):
            if process.poll() is None:
                continue
            seconds.append(time.monotonic() - started)
            del running[student]
            if process.returncode != 0:
                failed += 1
                said = re.sub(r"\x1b\[[\d;]*m", "", (scratch / f"{student}.log").read_text()).splitlines()
                errors = [line.strip() for line in said if re.match(r"\s*\w+(Error|Exception|Timeout): ", line)]
                print(f"    {student}'s run failed:", *(errors or said)[-1:])
        time.sleep(0.1)
    return seconds, failed


def crowds(course_root: Path, chapter: str, sizes: list[int], scratch: Path) -> None:
    """Run ever larger crowds through ``chapter`` and print the API server's latency under each."""
    import csv

    index = course_root / "classroom" / "kubeconfigs"
    with (index / "index.csv").open() as handle:
        kubeconfigs = {row["student"]: index / row["kubeconfig"] for row in csv.DictReader(handle)}
    notebook = solved_notebook(course_root, chapter, scratch / f"{chapter}.ipynb")
    first_student = sorted(kubeconfigs)[0]
    from course._naming import chapter_namespace

    print(f"\nStudents running {chapter}'s solutions at once (probe: list Pods every {PROBE_EVERY} s):")
    columns = ("ok", "run p50", "run max", "API p50", "API p95", "API max")
    print(f"  {'N':>3}  " + "  ".join(f"{name:>8}" for name in columns) + "  samples")
    beyond = None
    for size in sizes:
        chosen = {student: kubeconfigs[student] for student in sorted(kubeconfigs)[:size]}
        probe = Probe(chapter_namespace(first_student, chapter))
        with probe.running():
            seconds, failed = run_crowd(notebook, chosen, scratch)
        p95 = probe.percentile(0.95)
        print(
            f"  {size:>3}  {size - failed:>5}/{size:<2}  {statistics.median(seconds):7.1f}s  {max(seconds):7.1f}s  "
            f"{probe.percentile(0.5) * 1000:6.0f}ms  {p95 * 1000:6.0f}ms  {max(probe.seconds) * 1000:6.0f}ms  "
            f"{len(probe.seconds)} ({probe.failures} failed)   {_load()}"
        )
        if beyond is None and p95 > SLOW:
            beyond = size
    print(f"  p95 above {SLOW:.0f} s: " + (f"first at N = {beyond}" if beyond else f"never, up to N = {max(sizes)}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--crowds", default="5,10,20,30", help="crowd sizes, comma-separated")
    parser.add_argument("--chapter", default="01-why-kubernetes")
    args = parser.parse_args()
    sizes = [int(size) for size in args.crowds.split(",")]
    from course.nbgrader_glue import scratch_course

    with sim_cluster(), tempfile.TemporaryDirectory(prefix="k8s-course-bench-") as folder:
        scratch = Path(folder)
        course_root = scratch_course(scratch / "course-root")  # not "course": the kernels would import it
        roster = scratch / "roster.csv"
        roster.write_text("id\n" + "".join(f"bench-{number:02d}\n" for number in range(args.students)))
        ready(scratch, roster, course_root)
        crowds(course_root, args.chapter, [size for size in sizes if size <= args.students], scratch)


if __name__ == "__main__":
    main()
