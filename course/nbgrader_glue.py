"""The course's glue to nbgrader: release the student notebooks, and autograde one submission at a time.

(The class grader, which grades a whole class at once in jailed kernels, is :mod:`course.classroom`;
it builds on this module.)

``nbgrader autograde`` runs every submission in the grader's process, one after another. The
:class:`ChapterSandbox` preprocessor runs just before nbgrader's ``Execute`` and sets the environment
the notebook's kernel inherits: the namespace ``<student>-<assignment>`` and ``K8S_COURSE_FRESH=1``,
so ``course.connect()`` empties that namespace and restores the chapter's starting state before the
student's code runs. Grades then depend only on what the submission does. The kernel speaks the
language of the submission's edition (its notebook metadata, :func:`course._i18n.notebook_language`).

When nbgrader fails (a notebook it cannot read, a chapter with no source), the problem is a
:class:`~course._errors.CourseError` saying what failed, nbgrader's last complaint, where its whole
output is kept and what to try: the command line prints it as one ``ERROR:`` line, not a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from course._errors import CourseError
from course._i18n import ENGLISH, LANG_VARIABLE, notebook_language
from course._naming import chapter_namespace
from course._paths import repo_root, state_dir
from course.translations import require_translations, write_translated_source


def sandbox_namespace(student: str, assignment: str) -> str:
    """The namespace a student's submission of ``assignment`` is graded in: the one the student worked
    in (:func:`course._naming.chapter_namespace`, the only source of that name).

    >>> sandbox_namespace("kim-min-ji", "00-setup")
    'kim-min-ji-00-setup'
    """
    return chapter_namespace(student, assignment)


class ChapterSandbox(Preprocessor):
    """Point the kernel about to run a submission at the student's namespace, reset first."""

    # nbconvert's preprocessors are off unless enabled; without this, nbgrader skipped the sandbox and
    # every submission ran in the grader's own namespace (<login>-<chapter>).
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        grading = resources.get("nbgrader", {})
        student, assignment = grading.get("student"), grading.get("assignment")
        if student and assignment:
            os.environ["K8S_COURSE_NAMESPACE"] = sandbox_namespace(student, assignment)
            os.environ["K8S_COURSE_FRESH"] = "1"
            # Feedback in the language of the edition the student worked in, whichever course root grades it.
            os.environ[LANG_VARIABLE] = notebook_language(nb.metadata)
        return nb, resources


@dataclass(frozen=True)
class Grades:
    """What nbgrader recorded for one submission: points per graded cell, and the totals."""

    cells: dict[str, float]
    max_cells: dict[str, float]
    autograded: Path
    """The notebook as nbgrader executed it, outputs and errors included."""

    @property
    def score(self) -> float:
        return sum(self.cells.values())

    @property
    def max_score(self) -> float:
        return sum(self.max_cells.values())


def autograder_dir() -> Path:
    """The nbgrader course root in the checkout: config and source notebooks."""
    return repo_root() / "autograder"


def nbgrader_log(command: str) -> Path:
    """Where the output of the last ``nbgrader <command>`` the course ran is kept."""
    return state_dir() / "logs" / f"nbgrader-{command}.log"


def run_nbgrader(course_root: Path, *args: str, timeout: float = 900, lang: str = ENGLISH) -> None:
    """Run ``nbgrader *args`` in ``course_root``, the course speaking ``lang`` (the notebooks it runs and
    the blocks it adds); a failure is a :class:`CourseError` naming its log."""
    result = _nbgrader(course_root, args, timeout, lang)
    if result.returncode != 0:
        raise _failure(course_root, args, result)


def _nbgrader(course_root: Path, args: tuple[str, ...], timeout: float, lang: str) -> subprocess.CompletedProcess[str]:
    """``nbgrader *args`` run to its end, whatever its exit status (a timeout or no course root raises)."""
    command = f"nbgrader {' '.join(args)}"
    try:
        return subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=course_root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, LANG_VARIABLE: lang},
        )
    except subprocess.TimeoutExpired:
        raise CourseError(f"{command} did not finish in {timeout:.0f}s (in {course_root}).") from None
    except OSError as error:  # the course root is missing or not a folder
        raise CourseError(f"{command} could not start in {course_root}: {error.strerror}.") from None


def _failure(course_root: Path, args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> CourseError:
    """The failed ``nbgrader *args`` as a :class:`CourseError`: nbgrader's first complaint, the exception
    behind it, and its whole output kept in :func:`nbgrader_log`."""
    command = f"nbgrader {' '.join(args)}"
    log = _kept_output(course_root, args, result)
    lines = (result.stdout + result.stderr).splitlines()
    complaints = [line.split("| ERROR]", 1)[1].strip() for line in lines if "| ERROR]" in line]
    said = complaints[0] if complaints else f"exit {result.returncode}"
    raised = _raised(lines)
    if raised:  # the exception behind it, e.g. nbformat's NotJSONError for a broken notebook
        said += f" ({raised[-1][:200]})"
    return CourseError(
        f"{command} failed: {said}\n"
        f"  Its whole output: {log}\n"
        f"  Try: fix what is named above (a notebook opens in JupyterLab); nbgrader's own report: cd {course_root} && "
        f"{command}"
    )


def _kept_output(course_root: Path, args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> Path:
    """The whole output of ``nbgrader *args`` written to :func:`nbgrader_log`, for the reader of an error."""
    log = nbgrader_log(args[0])
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ nbgrader {' '.join(args)}   (in {course_root})\n{result.stdout}{result.stderr}")
    return log


def _raised(lines: list[str]) -> list[str]:
    """The lines of ``lines`` that name an exception and its message (``RuntimeError: ...``)."""
    return [line.strip() for line in lines if re.match(r"\s*[\w.]+(Error|Exception): ", line)]


def _source_chapters(course_root: Path) -> list[str]:
    source = course_root / "source"
    return sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []


def require_source(course_root: Path, chapters: list[str]) -> None:
    """Refuse, with one message, chapters that have no source notebook folder in ``course_root``."""
    missing = [chapter for chapter in chapters if not (course_root / "source" / chapter).is_dir()]
    if not missing:
        return
    known = _source_chapters(course_root)
    where = f"{course_root / 'source'}"
    there = f"It has: {', '.join(known)}." if known else "It has none: is this the nbgrader course root?"
    raise CourseError(f"No chapter {', '.join(map(repr, missing))} in {where}. {there}")


def generate_assignment(course_root: Path, chapter: str, lang: str = ENGLISH) -> Path:
    """``nbgrader generate_assignment``: write ``chapter``'s student version (solutions replaced by
    stubs, hidden tests removed) into ``course_root/release/<chapter>``, the folder returned."""
    require_source(course_root, [chapter])
    run_nbgrader(course_root, "generate_assignment", chapter, "--force", lang=lang)
    return course_root / "release" / chapter


def scratch_course(into: Path, chapters: list[str] | None = None, lang: str = ENGLISH) -> Path:
    """Copy the course root (config and sources only) to ``into``, so nbgrader's database and
    outputs never land in the checkout. For a translated edition (``lang``), each source notebook's
    Markdown cells are its translation (:mod:`course.translations`), every other cell the same."""
    chapters = chapters or _source_chapters(autograder_dir())
    require_source(autograder_dir(), chapters)
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(autograder_dir() / "nbgrader_config.py", into / "nbgrader_config.py")
    for chapter in chapters:
        shutil.copytree(autograder_dir() / "source" / chapter, into / "source" / chapter, dirs_exist_ok=True)
        if lang != ENGLISH:
            write_translated_source(chapter, lang, into / "source")
    return into


def release(
    out_dir: Path,
    chapters: list[str] | None = None,
    lang: str = ENGLISH,
    allow_untranslated: bool = False,
    course_root: Path | None = None,
) -> list[Path]:
    """Generate the student version of each chapter (``nbgrader generate_assignment``) into ``out_dir``.

    The released notebooks are what ``notebooks/`` holds: solutions replaced by stubs, hidden tests
    removed, graded cells checksummed. A translated edition (``lang``) is refused while a chapter has a
    stale or missing translation, unless ``allow_untranslated`` (those cells stay in English); its
    source course root is also written to ``course_root`` when given (config and source notebooks).
    """
    if lang != ENGLISH and not allow_untranslated:
        require_translations(chapters or _source_chapters(autograder_dir()), lang)
    with tempfile.TemporaryDirectory(prefix="k8s-course-release-") as scratch:
        root = scratch_course(Path(scratch), chapters, lang)
        if course_root is not None:
            shutil.copytree(root, course_root, dirs_exist_ok=True)
        written = []
        for chapter in sorted(p.name for p in (root / "source").iterdir()):
            for notebook in sorted(generate_assignment(root, chapter, lang).glob("*.ipynb")):
                out_dir.mkdir(parents=True, exist_ok=True)
                target = out_dir / notebook.name
                shutil.copy(notebook, target)
                written.append(target)
        return written


@dataclass(frozen=True)
class Submission:
    """One notebook to grade: its file, the chapter (nbgrader assignment) and the student it is from."""

    notebook: Path
    chapter: str
    student: str


def autograde(submission: Path, chapter: str, student: str, workdir: Path, lang: str = ENGLISH) -> Grades:
    """Grade one submitted notebook of ``chapter`` with ``nbgrader autograde``, as an instructor would.

    ``workdir`` becomes a scratch course root (config, sources, gradebook) of the edition ``lang``; the
    submission runs against the course cluster in the namespace :func:`sandbox_namespace` gives
    ``student``, with the course speaking ``lang``.
    """
    [grades] = autograde_all([Submission(submission, chapter, student)], workdir, lang).values()
    return grades


def autograde_all(
    submissions: list[Submission], workdir: Path, lang: str = ENGLISH, delete_namespaces: bool = False
) -> GradedSubmissions:
    """Grade several submitted notebooks, of one chapter or more, with one ``nbgrader autograde``, as
    :func:`autograde` grades one; their grades by ``(chapter, student)``. ``delete_namespaces``: delete each
    submission's namespace as soon as it is graded (:func:`delete_graded_namespace`), where no student works
    in it, such as the tests' many gradings on one small cluster.

    nbgrader starts once and grades them one after another, each in its student's namespace: its start
    (importing nbgrader, nbconvert and jupyter_client, reading the config and the gradebook) takes longer
    than a short notebook's cells, so grading many submissions in one start saves most of it. A submission
    nbgrader cannot grade (its kernel died) fails alone: the others' grades stay readable.
    ``workdir`` must hold no other submissions: nbgrader grades every one it finds there.
    """
    chapters = sorted({sub.chapter for sub in submissions})
    students = sorted({sub.student for sub in submissions})
    root = scratch_course(workdir, chapters, lang)
    for chapter in chapters:
        if not (root / "release" / chapter).exists():
            generate_assignment(root, chapter, lang)
    for sub in submissions:
        target = root / "submitted" / sub.student / sub.chapter / sub.notebook.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sub.notebook, target)
    assignment = chapters[0] if len(chapters) == 1 else "*"  # "*": every chapter that has a submission
    only = ["--student", students[0]] if len(students) == 1 else []
    # jupyter_client gives a kernel TCP ports by binding port 0 and letting go, so two graders starting
    # kernels at once were sometimes given the same port, and the kernel died before it began (a lane of
    # nine submissions lost). Unix sockets in a folder of this run's own cannot collide; its short path
    # keeps each socket's path within the system's limit (about 100 bytes).
    with tempfile.TemporaryDirectory(prefix="k8s-kernels-") as sockets:
        kernels = ("--KernelManager.transport=ipc", f"--KernelManager.ip={sockets}/kernel")
        cleaning = ["--Autograde.post_convert_hook=course.nbgrader_glue.delete_graded_namespace"] * delete_namespaces
        args = ("autograde", assignment, *only, "--force", *kernels, *cleaning)
        result = _nbgrader(root, args, timeout=900 * len(submissions), lang=lang)
    failed = _failed_submissions(result.stdout + result.stderr)
    if result.returncode != 0 and not failed:  # nbgrader itself failed (config, gradebook), not a submission
        raise _failure(root, args, result)
    if failed:
        log = _kept_output(root, args, result)
        again = f"cd {root} && nbgrader autograde {{chapter}} --student {{student}} --force"
        failed = {
            key: f"{why}\n  nbgrader's whole output: {log}\n  Try: run the notebook in JupyterLab to see where it "
            f"stops, then grade it again: {again.format(chapter=key[0], student=key[1])}"
            for key, why in failed.items()
        }
    from nbgrader.api import Gradebook

    graded = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for sub in submissions:
            if (sub.chapter, sub.student) in failed:
                continue
            notebook = gradebook.find_submission_notebook(sub.notebook.stem, sub.chapter, sub.student)
            graded[sub.chapter, sub.student] = Grades(
                cells={grade.name: float(grade.score) for grade in notebook.grades},
                max_cells={grade.name: float(grade.max_score) for grade in notebook.grades},
                autograded=root / "autograded" / sub.student / sub.chapter / sub.notebook.name,
            )
    return GradedSubmissions(graded, failed)


def delete_graded_namespace(notebooks: list[str], **_: Any) -> None:
    """nbgrader's ``post_convert_hook``, called once a submission (``submitted/<student>/<chapter>/``) is
    graded: delete the namespace it ran in and its Pods at once (:func:`course._resetting.delete_pods_now`).
    Its grades are in the gradebook by then, and its Pods' requests no longer hold room on the nodes that
    the next submissions need. Errors are nbgrader's to log: it goes on with the next submission."""
    from course._resetting import delete_namespaces, delete_pods_now  # the kubernetes client: only when grading

    graded = {sandbox_namespace(*Path(notebook).parts[-3:-1]) for notebook in notebooks}
    delete_pods_now(delete_namespaces(sorted(graded)))


class GradingFailed(CourseError):
    """nbgrader could not grade one submission (its kernel died, a cell hung past every timeout)."""


class GradedSubmissions(Mapping[tuple[str, str], Grades]):
    """The grades of one :func:`autograde_all` by ``(chapter, student)``. A submission nbgrader could not
    grade raises :class:`GradingFailed` when it is asked for, so one broken submission costs no other its
    grades."""

    def __init__(self, graded: dict[tuple[str, str], Grades], failed: dict[tuple[str, str], str]) -> None:
        self._graded, self._failed = graded, failed

    def __getitem__(self, key: tuple[str, str]) -> Grades:
        if key in self._failed:
            chapter, student = key
            raise GradingFailed(f"nbgrader could not grade {student}'s {chapter}: {self._failed[key]}")
        return self._graded[key]

    def __contains__(self, key: object) -> bool:  # Mapping's own would read the grades, and raise for a failed one
        return key in self._graded or key in self._failed

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter([*self._graded, *self._failed])

    def __len__(self) -> int:
        return len(self._graded) + len(self._failed)


def _failed_submissions(output: str) -> dict[tuple[str, str], str]:
    """The submissions that nbgrader's ``output`` names as failed, by ``(chapter, student)``, each with why:
    the last exception named in its traceback."""
    failed = {}
    for chapter, student in re.findall(r"error processing assignment '([^']*)' for student '([^']*)'", output):
        # nbgrader names the submission's folder, then logs its traceback, then goes on to the next one.
        named = re.search(rf"processing assignment:? \S*/{re.escape(student)}/{re.escape(chapter)}\b", output)
        story = output[named.end() :].split("error processing assignment", 1)[0] if named else ""
        raised = _raised(story.splitlines())
        failed[chapter, student] = raised[-1] if raised else "nbgrader named no exception"
    return failed
