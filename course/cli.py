"""The course's command line: ``python -m course`` (or ``course``).

    python -m course cluster up [--backend sim|kind|auto]   start the cluster (a no-op when it runs)
    python -m course cluster down                           stop it and leave nothing running
    python -m course cluster status                         what runs, where, which version
    python -m course lab                                    cluster up, then JupyterLab on notebooks/
    python -m course reset CHAPTER                          restore a chapter's starting state
    python -m course toolchain [--method build|download]    fill the binary cache only
    python -m course toolchain pin                          record download checksums (maintainers)
    python -m course release [CHAPTER ...]                  regenerate notebooks/ from autograder/source/
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from course._errors import CourseError
from course._paths import kubeconfig_path, repo_root
from course._steps import StepFailed, say, step
from course.backends import Status, get_backend


def _print_status(status: Status) -> None:
    if not status.running:
        say(f"No course cluster is running ({status.detail}).")
        say("Start one with: python -m course cluster up")
        return
    say(f"Course cluster: {status.backend}, Kubernetes {status.version}, API server {status.server}")
    for node in status.nodes:
        say(f"  node {node}")
    say(f"kubeconfig: {kubeconfig_path()} (context k8s-course)")


def cluster_up(backend_name: str) -> Status:
    backend = get_backend(backend_name)
    current = backend.status()
    if current.running:
        say("The course cluster is already running; nothing to do.")
        return current
    say(f"Creating the course cluster ({backend.name} backend) ...")
    return backend.up()


def _lab() -> int:
    status = cluster_up("auto")
    _print_status(status)
    notebooks = repo_root() / "notebooks"
    say(f"Opening JupyterLab on {notebooks} (stop it with Ctrl-C; the cluster keeps running)")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig_path())}
    return subprocess.call([sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={notebooks}"], env=env)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course", description="Hands-on Kubernetes course.")
    commands = parser.add_subparsers(dest="command", required=True)
    cluster = commands.add_parser("cluster", help="start, stop or inspect the course cluster")
    actions = cluster.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start the cluster (does nothing when it already runs)")
    up.add_argument("--backend", choices=["auto", "sim", "kind"], default="auto")
    actions.add_parser("down", help="stop the cluster and remove its state")
    actions.add_parser("status", help="show what runs")
    commands.add_parser("lab", help="start the cluster, then JupyterLab on notebooks/")
    reset = commands.add_parser("reset", help="restore a chapter's namespace to its starting state")
    reset.add_argument("chapter", help="for example 00-setup")
    toolchain = commands.add_parser("toolchain", help="fill the binary cache (or pin download checksums)")
    toolchain.add_argument("what", nargs="?", choices=["ensure", "pin"], default="ensure")
    toolchain.add_argument("--method", choices=["auto", "build", "download"], default="auto")
    release = commands.add_parser("release", help="regenerate the student notebooks in notebooks/ (nbgrader)")
    release.add_argument("chapters", nargs="*", help="only these chapters (default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "cluster" and args.action == "up":
            _print_status(cluster_up(args.backend))
            say("Next: make lab  (or open notebooks/ in JupyterLab)")
        elif args.command == "cluster" and args.action == "down":
            for name in ("sim",):
                with step(f"Deleting the course cluster ({name})"):
                    get_backend(name).down()
            say("Nothing of the course cluster is running now. Start it again with: python -m course cluster up")
        elif args.command == "cluster":
            _print_status(get_backend("auto").status())
        elif args.command == "lab":
            return _lab()
        elif args.command == "reset":
            from course._session import connect

            with step(f"Resetting chapter {args.chapter}"):
                connect(args.chapter, quiet=True).reset()
        elif args.command == "release":
            from course.grading import release

            with step("Generating the student notebooks with nbgrader"):
                written = release(repo_root() / "notebooks", args.chapters or None)
            say(f"Wrote {len(written)} notebooks to notebooks/. Commit them together with their sources.")
        elif args.command == "toolchain":
            from course._toolchain import ensure_binaries, pin_checksums

            if args.what == "pin":
                say(f"Pinned {len(pin_checksums())} checksums in cluster-setup/checksums.yaml")
            else:
                say(f"Binaries ready in {ensure_binaries(args.method)}")
    except (StepFailed, CourseError) as problem:
        say(f"ERROR: {problem}")
        return 1
    except KeyboardInterrupt:
        say("Interrupted. If the cluster is half-started, run: python -m course cluster down")
        return 130
    return 0
