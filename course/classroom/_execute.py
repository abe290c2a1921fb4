"""The two nbgrader preprocessors of the class grader: where the student's notebook runs, and how.

``c.Autograde.autograde_preprocessors`` of the course lists ``ChapterSandbox, Execute, ...``; the
class grader runs the same list with these two in their places (:func:`classroom_preprocessors`):

* :class:`ClassroomSandbox` (a :class:`course.nbgrader_glue.ChapterSandbox`) decides, outside the kernel,
  which namespace and which identity the kernel gets: the student's namespace for this chapter, a
  kubeconfig with the student's own token, a private home folder, and the jail around it all;
* :class:`GradedExecute` (nbgrader's ``Execute``) starts that kernel through
  :class:`~course.classroom._kernels.SandboxedKernelManager`, runs every cell as nbgrader would, and
  lets the :class:`~course.classroom._referee.Referee` decide each test cell's outcome. It also caps
  a cell's output (a cell printing gigabytes would exhaust the grader's memory before nbgrader's
  ``LimitOutput`` could trim it) and ends a kernel that ignores the interrupt after a cell timeout,
  so the remaining test cells are still judged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from course._i18n import ENGLISH, LANG_VARIABLE
from course._paths import repo_root
from course.classroom._jail import JailPolicy
from course.classroom._kernels import SandboxedKernelManager, current_plan
from course.classroom._referee import Referee, new_output, value_expressions
from course.nbgrader_glue import ChapterSandbox, sandbox_namespace


def is_test_cell(cell: NotebookNode) -> bool:
    """An nbgrader "Autograder tests" cell: graded by its outputs."""
    meta = cell.metadata.get("nbgrader", {})
    return bool(cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"))


class ClassroomSandbox(ChapterSandbox):
    """Give the kernel the student's namespace and identity, a private home, and the jail."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        nb, resources = super().preprocess(nb, resources)
        plan = current_plan()
        if plan is None:
            raise RuntimeError("ClassroomSandbox works inside the class grader: python -m course class grade")
        grading = resources["nbgrader"]
        namespace = sandbox_namespace(grading["student"], grading["assignment"])
        home, work = plan.kernel_dir / "home", plan.kernel_dir / "work"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        source = resources.get("metadata", {}).get("path")
        if source and not work.exists():
            shutil.copytree(source, work, ignore=shutil.ignore_patterns("*.ipynb"))
        work.mkdir(exist_ok=True)
        kubeconfig = str(plan.student_kubeconfig)
        env = {
            "PATH": os.pathsep.join([plan.bin_dir, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "IPYTHONDIR": str(home / ".ipython"),
            "JUPYTER_RUNTIME_DIR": str(plan.kernel_dir / "runtime"),
            "MPLCONFIGDIR": str(home / ".matplotlib"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "K8S_COURSE_CACHE": plan.cache_dir,
            # The checkout with cluster-setup/ (the jail lets the kernel read it): a course installed from
            # its wheel, as on a hub, has no versions of its own, and course.connect() needs them.
            "K8S_COURSE_REPO": str(repo_root()),
            "K8S_COURSE_LEARNER": grading["student"],
            "K8S_COURSE_NAMESPACE": namespace,
            "K8S_COURSE_KUBECONFIG": kubeconfig,
            "KUBECONFIG": kubeconfig,
            # The job reset the namespace right before the first kernel; a later notebook resets it again.
            "K8S_COURSE_FRESH": "1" if plan.pids else "0",
            # The edition the student worked in (ChapterSandbox read it from the notebook): the referee in this
            # process and the kernel give feedback in its language.
            LANG_VARIABLE: os.environ.get(LANG_VARIABLE, ENGLISH),
            "NBGRADER_EXECUTION": "autograde",
            # kubectl (Go) lives for a fraction of a second: one thread, and garbage collected only
            # near 256 MiB, saves a fifth of its CPU (46 ms a call), and a class runs thousands of them.
            "GOGC": "off",
            "GOMEMLIMIT": "256MiB",
            "GOMAXPROCS": "1",
        }
        plan.policy = JailPolicy(
            cwd=str(work),
            env=env,
            read=plan.read_paths,
            write=[str(plan.kernel_dir), os.devnull],
            require_landlock=plan.require_landlock,
        )
        return nb, resources


class GradedExecute(Execute):  # type: ignore[misc]
    """nbgrader's Execute in the student's jailed kernel, with test cells judged by the referee."""

    max_output_bytes = Integer(1 << 20, help="Output kept per cell; the rest is dropped with a note.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        self.shutdown_kernel = "graceful"  # the kernel exits, its PID namespace dies, CPU is accounted
        self._stopped: str | None = None
        self._referee: Referee | None = None
        self._tests: dict[str, str] = {}
        self._budget: tuple[int, int, bool] = (-1, 0, False)

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any], km: Any = None
    ) -> tuple[NotebookNode, dict[str, Any]]:
        self._stopped, self._referee = None, None
        grading = resources["nbgrader"]
        self._referee = Referee(
            _seed(grading["assignment"], sandbox_namespace(grading["student"], grading["assignment"]))
        )
        self._tests = _test_sources(grading)
        result: tuple[NotebookNode, dict[str, Any]] = super().preprocess(nb, resources, km)
        return result

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        verdict = self._judge(self._tests[grade_id]) if is_test_cell(cell) and grade_id in self._tests else None
        if self._stopped is None:
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            except (CellTimeoutError, DeadKernelError) as problem:
                self._stop(cell, problem)
        elif cell.cell_type == "code" and cell.source.strip():
            cell.outputs = [
                new_output("error", ename="NotRun", evalue=self._stopped, traceback=[f"Not run: {self._stopped}"])
            ]
        if verdict is not None:
            cell.outputs = verdict
        return cell, resources

    def _judge(self, source: str) -> list[NotebookNode]:
        """The referee's outputs for a test, run from the instructor's ``source`` (never the notebook's)."""
        assert self._referee is not None
        names = self._referee.missing(source)
        values = self._learner_values(names) if names and self._stopped is None else {}
        return self._referee.run(source, values)

    def _learner_values(self, names: list[str]) -> dict[str, Any]:
        """Ask the learner's kernel for the plain-data values of ``names`` (see the referee)."""
        from course.classroom._referee import parse_values

        assert self.kc is not None
        try:
            msg_id = self.kc.execute(
                "", silent=True, store_history=False, user_expressions=value_expressions(names), allow_stdin=False
            )
            reply = self.wait_for_reply(msg_id)
        except DeadKernelError:
            self._stopped = "the kernel had died"
            return {}
        if not reply:
            return {}
        values: dict[str, Any] = parse_values(reply["content"].get("user_expressions") or {})
        return values

    def _stop(self, cell: NotebookNode, problem: Exception) -> None:
        """The kernel is dead or ignores interrupts: end it; later cells are not run, tests still judged."""
        if isinstance(problem, DeadKernelError):
            self._stopped = "the kernel had died"
        else:
            self._stopped = "the kernel ignored the interrupt after a cell timeout and was ended"
            provisioner = getattr(self.km, "provisioner", None)
            pgid = getattr(provisioner, "pgid", None)
            if pgid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        cell.outputs.append(
            new_output("error", ename=type(problem).__name__, evalue=self._stopped, traceback=[f"{self._stopped}"])
        )

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        """Keep at most ``max_output_bytes`` of a cell's output; note once what was dropped."""
        index, used, noted = self._budget
        if index != cell_index:
            index, used, noted = cell_index, 0, False
        used += len(str(msg.get("content", "")))
        self._budget = (index, used, noted)
        if used <= self.max_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        if not noted:
            self._budget = (index, used, True)
            note = f"\n[The grader dropped the rest of this cell's output: more than {self.max_output_bytes} bytes.]\n"
            outs.append(new_output("stream", name="stderr", text=note))
        return None


def _test_sources(grading: dict[str, str]) -> dict[str, str]:
    """The instructor's source of every test cell of the notebook, from the gradebook (hidden tests
    included), by grade id. The referee runs these, whatever the submitted cell says or claims to be."""
    from nbgrader.api import Gradebook

    with Gradebook(grading["db_url"]) as gradebook:
        notebook = gradebook.find_notebook(grading["notebook"], grading["assignment"])
        answers = {cell.name for cell in notebook.solution_cells}
        tests = {cell.name for cell in notebook.grade_cells if cell.name not in answers}
        return {cell.name: cell.source for cell in notebook.source_cells if cell.name in tests}


def _seed(assignment: str, namespace: str) -> dict[str, Any]:
    """What every check may use without importing it: ``course`` and a read-only ``cluster``."""
    import course
    from course._chapters import chapter_ids, load_chapter
    from course._session import Cluster

    seed: dict[str, Any] = {"course": course}
    if assignment in chapter_ids():
        seed["cluster"] = Cluster(load_chapter(assignment), namespace)
    return seed


def classroom_preprocessors(configured: list[Any]) -> list[Any]:
    """The course's autograde preprocessors with the class grader's two in place of theirs."""
    replaced = []
    for preprocessor in configured:
        if isinstance(preprocessor, type) and issubclass(preprocessor, ChapterSandbox):
            continue
        if isinstance(preprocessor, type) and issubclass(preprocessor, Execute):
            replaced += [ClassroomSandbox, GradedExecute]
        else:
            replaced.append(preprocessor)
    return replaced
