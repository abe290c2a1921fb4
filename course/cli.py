"""The course's command line: ``python -m course`` (or ``course``).

    python -m course cluster up [--backend auto|sim|kind|kind-calico] [--recreate]
                                                            start the cluster (a no-op when it runs)
    python -m course cluster down                           stop it (any backend), leave nothing running
    python -m course cluster status                         what runs, where, which version
    python -m course lab [--instructor] [--lang ko] [JUPYTER ARGS]
                                                            cluster up, then JupyterLab on notebooks/
                                                            (ko: on notebooks/ko/, all in Korean)
    python -m course reset CHAPTER                          restore a chapter's starting state
    python -m course toolchain [--method build|download]    fill the binary cache only
    python -m course toolchain go                           which Go would build them (installs it if needed)
    python -m course toolchain pin                          record download checksums (maintainers)
    python -m course release [CHAPTER ...]                  regenerate notebooks/ from autograder/source/
    python -m course release --lang ko [--allow-untranslated] [CHAPTER ...]
                                                            the Korean edition: notebooks/ko/, autograder/ko/
    python -m course translations update|status [--lang ko] [CHAPTER ...]
                                                            re-extract the catalogs / count what is left
    python -m course new-chapter ID "TITLE"                 a new chapter's skeleton that the tests accept
    python -m course record-kind-outputs [CHAPTER ...]      on kind: record what kind-only cells print (CI)
    python -m course class sandbox|grade|practice ...       a class on one cluster: course.classroom.cli
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import urllib3
from kubernetes.client.exceptions import ApiException

from course._cli_output import say, step
from course._client import kubeconfig
from course._errors import CourseError, explain_api_error
from course._i18n import CATALOG_KINDS, ENGLISH, LANG_VARIABLE, LANGUAGES
from course._paths import jupyter_config_dir, kubeconfig_path, repo_root
from course.backends import BACKEND_NAMES, Backend, Status, all_backends, choose_backend, get_backend


def _print_status(status: Status) -> None:
    if not status.running:
        say(f"No course cluster is running ({status.detail}).")
        say("Start one with: python -m course cluster up")
        return
    say(f"Course cluster: {status.backend}, Kubernetes {status.version}, API server {status.server}")
    for node in status.nodes:
        say(f"  node {node}")
    if status.detail:
        say(f"  {status.detail}")
    say(f"kubeconfig: {kubeconfig_path()} (context k8s-course)")


def cluster_up(backend_name: str, recreate: bool = False) -> Status:
    """Start the cluster on ``backend_name`` (or reuse it); ``recreate`` deletes any course cluster first."""
    backend: Backend
    if backend_name == "auto":
        backend, why = choose_backend()
        say(f"Backend: {backend.name} ({why}).")
    else:
        backend = get_backend(backend_name)
    if recreate:
        cluster_down()
    else:
        current = backend.status()
        if current.running:
            say("The course cluster is already running; nothing to do.")
            return current
    say(f"Creating the course cluster ({backend.name} backend) ...")
    return backend.up()


def cluster_down() -> None:
    """Delete the course cluster of every backend that has one (there is normally just one)."""
    found = [backend for backend in all_backends() if backend.exists()]
    for backend in found:
        with step(f"Deleting the course cluster ({backend.name})"):
            backend.down()
    if not found:
        kubeconfig_path().unlink(missing_ok=True)


def edition_dirs(lang: str) -> tuple[Path, Path]:
    """Where an edition's released notebooks and its nbgrader source course root are: ``notebooks/`` and
    ``autograder/`` for English, ``notebooks/<lang>/`` and ``autograder/<lang>/`` for a translation."""
    if lang == ENGLISH:
        return repo_root() / "notebooks", repo_root() / "autograder"
    return repo_root() / "notebooks" / lang, repo_root() / "autograder" / lang


def lab_environment(role: str, lang: str) -> dict[str, str]:
    """The environment JupyterLab starts with: the course cluster's kubeconfig, the settings of ``role``
    (``course/jupyter/<role>/``), and for a translated edition its language for the course (``K8S_COURSE_LANG``)
    and for JupyterLab's menus (``course/jupyter/<lang>/``: the language pack's locale)."""
    # JupyterLab merges each folder's labconfig/ with the machine's own settings.
    folders = [jupyter_config_dir(lang)] if lang != ENGLISH else []
    folders.append(jupyter_config_dir(role))
    config_path = os.pathsep.join(filter(None, [*map(str, folders), os.environ.get("JUPYTER_CONFIG_PATH")]))
    return {**os.environ, "KUBECONFIG": str(kubeconfig_path()), "JUPYTER_CONFIG_PATH": config_path, LANG_VARIABLE: lang}


def _lab(jupyter_args: Sequence[str], instructor: bool, lang: str) -> NoReturn:
    status = cluster_up("auto")
    _print_status(status)
    notebooks = edition_dirs(lang)[0]
    role = "instructor" if instructor else "learner"
    say(f"Opening JupyterLab on {notebooks} (stop it with Ctrl-C; the cluster keeps running)")
    if instructor:
        say("Instructor view: nbgrader's Formgrader and Create Assignment panels are on.")
    else:
        say("Learner view: Assignments and Validate only (instructors: python -m course lab --instructor).")
    env = lab_environment(role, lang)
    # JupyterLab of this very environment (not whatever `jupyter` is first on PATH).
    command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}", *jupyter_args]
    if os.geteuid() == 0:  # containers often run as root; JupyterLab refuses that unless told
        command.append("--allow-root")
    # Become JupyterLab rather than start a child: Ctrl-C or a stopping parent then reach it directly,
    # and no server is left behind.
    os.execve(sys.executable, command, env)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course", description="Hands-on Kubernetes course.")
    commands = parser.add_subparsers(dest="command", required=True)
    cluster = commands.add_parser("cluster", help="start, stop or inspect the course cluster")
    actions = cluster.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start the cluster (does nothing when it already runs)")
    up.add_argument(
        "--backend",
        choices=["auto", *BACKEND_NAMES],
        default="auto",
        help="auto: kind when Docker or Podman answers, else sim; kind-calico uses Calico instead of kindnet",
    )
    up.add_argument(
        "--recreate",
        action="store_true",
        help="delete the course cluster first (everything in it is lost), then create it again",
    )
    actions.add_parser("down", help="stop the cluster and remove its state")
    actions.add_parser("status", help="show what runs")
    lab = commands.add_parser("lab", help="start the cluster, then JupyterLab on notebooks/ (other options go to it)")
    lab.add_argument(
        "--instructor", action="store_true", help="show nbgrader's instructor panels (Formgrader, Create Assignment)"
    )
    lab.add_argument("--lang", choices=LANGUAGES, default=ENGLISH, help="the edition: ko opens notebooks/ko/ in Korean")
    reset = commands.add_parser("reset", help="restore a chapter's namespace to its starting state")
    reset.add_argument("chapter", help="for example 00-setup")
    toolchain = commands.add_parser("toolchain", help="fill the binary cache (or pin download checksums)")
    toolchain.add_argument("what", nargs="?", choices=["ensure", "go", "pin"], default="ensure")
    toolchain.add_argument("--method", choices=["auto", "build", "download"], default="auto")
    release = commands.add_parser("release", help="regenerate the student notebooks in notebooks/ (nbgrader)")
    release.add_argument("chapters", nargs="*", help="only these chapters (default: all)")
    release.add_argument("--lang", choices=LANGUAGES, default=ENGLISH, help="the edition (ko: notebooks/ko/)")
    release.add_argument(
        "--allow-untranslated", action="store_true", help="release even with stale or missing translations (in English)"
    )
    translations = commands.add_parser("translations", help="keep a translated edition's catalogs current")
    translations.add_argument("action", choices=["update", "status"])
    translations.add_argument("chapters", nargs="*", help="only these chapters (default: all)")
    translations.add_argument("--lang", choices=LANGUAGES[1:], default="ko")
    new_chapter = commands.add_parser("new-chapter", help="write a new chapter's YAML and source notebook")
    new_chapter.add_argument("id", help="NN-slug, for example 08-security")
    new_chapter.add_argument("title", help='one line, for example "Security"')
    record = commands.add_parser(
        "record-kind-outputs", help="on a kind cluster: record what the kind-only cells print, shown on sim"
    )
    record.add_argument("chapters", nargs="*", help="only these chapters (default: every chapter that has such cells)")
    from course.classroom.cli import add_parser as add_class_parser

    add_class_parser(commands)
    return parser


def _record_kind_outputs(chapters: list[str]) -> None:
    from course.kind_outputs import chapters_with_kind_only_cells, record

    status = get_backend("auto").status()
    if not (status.running and status.backend.startswith("kind")):
        raise CourseError(
            f"Recording needs the kind backend running; found {status.backend if status.running else 'no cluster'}. "
            "Start it with: python -m course cluster up --backend kind"
        )
    for chapter in chapters or chapters_with_kind_only_cells():
        with step(f"Running {chapter} on kind and recording its kind-only cells"):
            path = record(chapter)
        say(f"Wrote {path.relative_to(repo_root())}")
    say("Next: python -m course release, then commit the recordings with the notebooks.")


def _translations(action: str, lang: str, chapters: list[str]) -> None:
    from course.translations import catalog_status, source_chapters, update_catalogs

    for chapter in chapters or source_chapters():
        if action == "update":
            for path in update_catalogs(chapter, lang):
                say(f"Updated {path.relative_to(repo_root())}")
        for status in (catalog_status(chapter, lang, kind) for kind in CATALOG_KINDS):
            counts = f"{len(status.translated)} translated, {len(status.stale)} stale, {len(status.missing)} missing"
            say(f"{chapter} {status.kind}: {counts}")
    if action == "status":
        say(f"Stale entries are marked fuzzy in course/locale/{lang}/ (#| msgid is the English they translated).")


def _no_answer(error: urllib3.exceptions.HTTPError) -> str:
    pool = getattr(error, "pool", None)
    where = f" at {pool.host}:{pool.port}" if pool is not None else ""
    return (
        f"The cluster{where} does not answer (kubeconfig {kubeconfig()}). Start it with: python -m course cluster up"
        " (or set K8S_COURSE_KUBECONFIG to a running cluster's)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":  # only `lab` passes options on (to jupyter lab)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "cluster" and args.action == "up":
            _print_status(cluster_up(args.backend, args.recreate))
            say("Next: make lab  (or open notebooks/ in JupyterLab)")
        elif args.command == "cluster" and args.action == "down":
            cluster_down()
            say("Nothing of the course cluster is running now.")
            say("Start it again with: python -m course cluster up")
        elif args.command == "cluster":
            _print_status(get_backend("auto").status())
        elif args.command == "lab":
            _lab(extra, args.instructor, args.lang)
        elif args.command == "reset":
            from course._session import connect

            with step(f"Resetting chapter {args.chapter}"):
                connect(args.chapter, quiet=True).reset()
        elif args.command == "release":
            from course.nbgrader_glue import release

            notebooks, course_root = edition_dirs(args.lang)
            with step("Generating the student notebooks with nbgrader"):
                written = release(
                    notebooks,
                    args.chapters or None,
                    args.lang,
                    args.allow_untranslated,
                    None if args.lang == ENGLISH else course_root,
                )
            where = notebooks.relative_to(repo_root())
            say(f"Wrote {len(written)} notebooks to {where}/. Commit them together with their sources.")
            if args.lang != ENGLISH:
                from course.translations import write_edition_devcontainer

                devcontainer = write_edition_devcontainer(args.lang).relative_to(repo_root())
                say(f"Wrote {devcontainer} (Codespaces opens this edition with it).")
        elif args.command == "translations":
            _translations(args.action, args.lang, args.chapters)
        elif args.command == "record-kind-outputs":
            _record_kind_outputs(args.chapters)
        elif args.command == "new-chapter":
            from course._scaffold import new_chapter

            for path in new_chapter(repo_root(), args.id, args.title):
                say(f"Wrote {path.relative_to(repo_root())}")
            say(f"Next: replace its exercise with yours (AUTHORING.md), add its row to README.md's table, then "
                f"python -m course release {args.id}")
        elif args.command == "toolchain":
            from course._toolchain import ensure_binaries, ensure_go, pin_checksums

            if args.what == "pin":
                say(f"Pinned {len(pin_checksums())} checksums in cluster-setup/checksums.yaml")
            elif args.what == "go":
                go = ensure_go()
                say(f"Go: {go.command} ({go.version}, {go.why}).")
            else:
                say(f"Binaries ready in {ensure_binaries(args.method)}")
        elif args.command == "class":
            from course.classroom.cli import run as run_class

            return run_class(args)
    except CourseError as problem:  # StepFailed, ConfigError, ...: one root, one line, no traceback
        say(f"ERROR: {problem}")
        return 1
    except ApiException as error:  # the cluster refused: not an admin's kubeconfig, a quota, ...
        say(f"ERROR: {explain_api_error(error, 'A request to the cluster')}")
        return 1
    except urllib3.exceptions.HTTPError as error:  # nothing answers where the kubeconfig points
        say(f"ERROR: {_no_answer(error)}")
        return 1
    except KeyboardInterrupt:
        say("Interrupted. If the cluster is half-started, run: python -m course cluster down")
        return 130
    return 0
