"""Measure the sim cluster: start, stop, memory, and how long chapter 00 takes. Prints numbers.

    python bench/cluster.py [--rounds 3] [--cold-build]

It uses a state directory of its own, so a running course cluster is left alone. ``--cold-build``
also times a build of every binary from empty Go and binary caches (several minutes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def course(state: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Run ``python -m course ARGS`` with its own state; return the wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "course", *args],
        env={**os.environ, **(env or {}), "K8S_COURSE_STATE": str(state)},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def cluster_rss_mib(state: Path) -> float:
    """Summed resident memory of the processes started from ``state`` (the cluster's components)."""
    total_kib = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if str(state).encode() not in (proc / "cmdline").read_bytes():
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def run_chapter(state: Path, chapter: str) -> float:
    """Execute the chapter's solved source notebook top to bottom, as a learner would; seconds."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO / "autograder" / "source" / chapter / f"{chapter}.ipynb", as_version=4)
    os.environ["K8S_COURSE_STATE"] = str(state)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=120).execute()
    return time.perf_counter() - started


def cold_build() -> float:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as gocache:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "course", "toolchain", "--method", "build"],
            env={**os.environ, "K8S_COURSE_CACHE": cache, "GOCACHE": gocache},
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold-build", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="k8s-course-bench-") as scratch:
        state = Path(scratch) / "state"
        cached = course(state, "toolchain")
        ups, noops, downs, rss = [], [], [], []
        try:
            for _ in range(args.rounds):
                ups.append(course(state, "cluster", "up"))
                rss.append(cluster_rss_mib(state))
                noops.append(course(state, "cluster", "up"))
                downs.append(course(state, "cluster", "down"))
            course(state, "cluster", "up")
            chapter = run_chapter(state, "00-setup")
            rss_after = cluster_rss_mib(state)
        finally:
            course(state, "cluster", "down")

    print(f"binary cache hit (toolchain ensure):        {cached:6.2f} s")
    print(f"cluster up, to all nodes Ready (median/{args.rounds}): {statistics.median(ups):6.2f} s")
    print(f"cluster up when already running (no-op):    {statistics.median(noops):6.2f} s")
    print(f"cluster down (median):                      {statistics.median(downs):6.2f} s")
    print(f"cluster processes RSS, idle:                {statistics.median(rss):6.0f} MiB")
    print(f"cluster processes RSS, after chapter 00:    {rss_after:6.0f} MiB")
    print(f"chapter 00 executed top to bottom:          {chapter:6.2f} s")
    if args.cold_build:
        print(f"cold build of all binaries (empty caches):  {cold_build():6.0f} s")


if __name__ == "__main__":
    main()
