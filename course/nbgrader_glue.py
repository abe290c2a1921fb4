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
    command = f"nbgrader {' '.join(args)}"
    log = nbgrader_log(args[0])
    try:
        result = subprocess.run(
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
    if result.returncode == 0:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {command}   (in {course_root})\n{result.stdout}{result.stderr}")
    lines = (result.stdout + result.stderr).splitlines()
    complaints = [line.split("| ERROR]", 1)[1].strip() for line in lines if "| ERROR]" in line]
    said = complaints[0] if complaints else f"exit {result.returncode}"
    raised = [line.strip() for line in lines if re.match(r"\s*[\w.]+(Error|Exception): ", line)]
    if raised:  # the exception behind it, e.g. nbformat's NotJSONError for a broken notebook
        said += f" ({raised[-1][:200]})"
    raise CourseError(
        f"{command} failed: {said}\n"
        f"  Its whole output: {log}\n"
        f"  Try: fix what is named above (a notebook opens in JupyterLab); nbgrader's own report: cd {course_root} && "
        f"{command}"
    )


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


def autograde_all(submissions: list[Submission], workdir: Path, lang: str = ENGLISH) -> dict[tuple[str, str], Grades]:
    """Grade several submitted notebooks, of one chapter or more, with one ``nbgrader autograde``, as
    :func:`autograde` grades one; their grades by ``(chapter, student)``.

    nbgrader starts once and grades them one after another, each in its student's namespace: its start
    (importing nbgrader, nbconvert and jupyter_client, reading the config and the gradebook) takes longer
    than a short notebook's cells, so grading many submissions in one start saves most of it.
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
    run_nbgrader(root, "autograde", assignment, *only, "--force", timeout=900 * len(submissions), lang=lang)
    from nbgrader.api import Gradebook

    graded = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for sub in submissions:
            notebook = gradebook.find_submission_notebook(sub.notebook.stem, sub.chapter, sub.student)
            graded[sub.chapter, sub.student] = Grades(
                cells={grade.name: float(grade.score) for grade in notebook.grades},
                max_cells={grade.name: float(grade.max_score) for grade in notebook.grades},
                autograded=root / "autograded" / sub.student / sub.chapter / sub.notebook.name,
            )
    return graded
