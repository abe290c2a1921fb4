"""One grading job: one student's submission of one assignment, in a process of its own.

The coordinator (:mod:`course.classroom.grader`) writes ``spec.json`` into the job's folder and asks
the zygote to fork a job; the job writes ``result.json`` and exits. In between, in this order:

1. fork the kernel-to-be (:class:`~course.classroom._kernels.PreforkedKernel`) while the process
   still holds nothing secret, both at a lower CPU priority than the cluster (:mod:`course._priority`);
2. reset the student's namespace to the chapter's starting state, *with the student's identity*
   (only what the student could create is deleted; the quota, limits and RoleBindings stay);
3. run nbgrader's ``Autograde`` for this student only, on a private copy of the gradebook (SQLite
   takes one writer at a time; the coordinator merges the result into the real one), with
   :func:`~course.classroom._execute.classroom_preprocessors` in place of the course's;
4. write the student's feedback with nbgrader's ``GenerateFeedback`` (from the same private copy);
5. report the scores, per cell, in ``result.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import resource
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from course._priority import yield_to_the_cluster
from course.classroom._kernels import KernelPlan, PreforkedKernel, install_plan


@dataclass
class JobSpec:
    """What the coordinator tells a job; ``job_dir`` holds everything the job reads and writes."""

    student: str
    assignment: str
    course_root: str
    job_dir: str
    template_db: str
    grader_kubeconfig: str
    api_ports: list[int]
    notebooks: int = 1
    cell_timeout: int | None = None
    max_output_bytes: int = 1 << 20
    feedback: bool = True
    require_landlock: bool = True
    kernel_read: list[str] = field(default_factory=list)
    bin_dir: str = ""
    cache_dir: str = ""
    kernel_ports: list[int] = field(default_factory=list)

    @property
    def kernel_dir(self) -> Path:
        """The kernel's whole world: home, work folder, its kubeconfig. Nothing else is writable to it."""
        return Path(self.job_dir) / "kernel"

    @property
    def student_kubeconfig(self) -> Path:
        return self.kernel_dir / "kubeconfig"

    @property
    def job_db(self) -> Path:
        return Path(self.job_dir) / "gradebook.db"

    def dump(self) -> Path:
        path = Path(self.job_dir) / "spec.json"
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> JobSpec:
        return cls(**json.loads(path.read_text()))


@dataclass
class JobResult:
    """What a job reports: ``status`` is ``graded``, ``invalid`` (a notebook nbgrader cannot read),
    ``error``, or ``timeout`` (set by the coordinator)."""

    student: str
    status: str = "error"
    detail: str = ""
    namespace: str = ""
    """Where the submission was graded (set by the coordinator): the student id's mapping, for the CSV."""
    seconds: float = 0.0
    score: float = 0.0
    max_score: float = 0.0
    timestamp: str | None = None
    notebooks: dict[str, Any] = field(default_factory=dict)
    jail: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the job itself and of its kernels (with everything they ran)."""

    @classmethod
    def load(cls, path: Path) -> JobResult:
        return cls(**json.loads(path.read_text()))


def run_job(spec_path: Path) -> int:
    """Grade one submission as described in the module docstring; never raises."""
    spec = JobSpec.load(spec_path)
    yield_to_the_cluster()  # before forking: the kernels inherit it
    kernels = [PreforkedKernel.fork() for _ in range(max(spec.notebooks, 1))]
    _record_pids(spec, [kernel.pid for kernel in kernels])
    started = time.monotonic()
    result = JobResult(student=spec.student)
    plan = KernelPlan(
        kernel_dir=spec.kernel_dir,
        student_kubeconfig=spec.student_kubeconfig,
        api_ports=spec.api_ports,
        read_paths=spec.kernel_read,
        bin_dir=spec.bin_dir,
        cache_dir=spec.cache_dir,
        ports=spec.kernel_ports,
        require_landlock=spec.require_landlock,
        preforked=kernels,
    )
    log = logging.getLogger(__name__)
    try:
        _log_to(Path(spec.job_dir) / "job.log")
        _private_temp(spec)
        invalid = _invalid_notebooks(spec)
        _reset_namespace(spec)
        log.info("namespace reset after %.2fs", time.monotonic() - started)
        os.environ["K8S_COURSE_KUBECONFIG"] = spec.grader_kubeconfig
        shutil.copyfile(spec.template_db, spec.job_db)
        _one_engine_per_gradebook()
        install_plan(plan)
        graded = _autograde(spec)
        log.info("autograded after %.2fs", time.monotonic() - started)
        if graded and spec.feedback:
            _feedback(spec)
            log.info("feedback written after %.2fs", time.monotonic() - started)
        result = _collect(spec, result)
        result.status = "graded" if graded else "invalid" if invalid else "error"
        result.detail = "; ".join(invalid) if invalid else "" if graded else _last_error(spec)
    except Exception as problem:  # the job's own failure is a result too
        log.exception("grading job failed")
        result.detail = f"{type(problem).__name__}: {problem}"
    finally:
        for kernel in kernels:
            kernel.discard()
        kernel_cpu = _end_kernels(plan.pids + [kernel.pid for kernel in kernels])
    result.seconds = round(time.monotonic() - started, 2)
    reaped = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])  # kernels that exited, with their children
    result.cpu = {
        "job": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
        "kernels": round(kernel_cpu + reaped, 2),
    }
    report = spec.kernel_dir / "jail.json"
    result.jail = json.loads(report.read_text()) if report.is_file() else []
    (Path(spec.job_dir) / "result.json").write_text(json.dumps(asdict(result), indent=1, default=str))
    return 0


def _record_pids(spec: JobSpec, pids: list[int]) -> None:
    """Kernel process groups the coordinator kills if this job runs out of time."""
    (Path(spec.job_dir) / "kernel.pids").write_text("\n".join(str(pid) for pid in pids))


def _end_kernels(pids: list[int]) -> float:
    """Kill what is left of every kernel's process group; return the CPU seconds it had used."""
    import signal

    cpu = sum(_group_cpu(pid) for pid in set(pids))
    for pid in set(pids):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return cpu


def _group_cpu(group: int) -> float:
    """CPU seconds of the processes in a process group, including their reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.isdigit() and int(fields[2]) == group:
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


def _log_to(path: Path) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("traitlets").handlers[:] = []


def _private_temp(spec: JobSpec) -> None:
    """A temp folder of the job's own: discovery caches in a shared /tmp could be poisoned."""
    temp = Path(spec.job_dir) / "tmp"
    temp.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(temp)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(spec.kernel_dir / "runtime")
    tempfile.tempdir = None


def _one_engine_per_gradebook() -> None:
    """Let nbgrader reuse one SQLAlchemy engine per gradebook file in this job.

    nbgrader opens the gradebook a dozen times per submission (its converters and preprocessors each
    open their own ``Gradebook``), each time with a new engine that compiles every query again:
    0.019 s of CPU per opening, 0.002 s with a shared engine. ``Gradebook.close`` disposes the
    engine's connections; a disposed engine simply opens new ones the next time it is used.
    """
    import nbgrader.api
    from sqlalchemy import create_engine

    engines: dict[tuple[str, str], Any] = {}

    def shared_engine(url: str, **options: Any) -> Any:
        key = (str(url), repr(sorted(options.items())))
        if key not in engines:
            engines[key] = create_engine(url, **options)
        return engines[key]

    nbgrader.api.create_engine = shared_engine


def _submitted(spec: JobSpec) -> Path:
    return Path(spec.course_root) / "submitted" / spec.student / spec.assignment


def _invalid_notebooks(spec: JobSpec) -> list[str]:
    """The submitted notebooks nbformat cannot read, each with the reason."""
    import nbformat

    invalid = []
    for path in sorted(_submitted(spec).glob("*.ipynb")):
        try:
            nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        except Exception as problem:
            invalid.append(f"{path.name} is not a valid notebook ({type(problem).__name__}: {str(problem)[:200]})")
    return invalid


def _reset_namespace(spec: JobSpec) -> None:
    """Restore the chapter's starting state with the student's own rights (see the module docstring)."""
    from course._chapters import chapter_ids, load_chapter
    from course._resetting import prepare_namespace
    from course.nbgrader_glue import sandbox_namespace

    if spec.assignment not in chapter_ids():
        return
    os.environ["K8S_COURSE_KUBECONFIG"] = str(spec.student_kubeconfig)
    prepare_namespace(load_chapter(spec.assignment), sandbox_namespace(spec.student, spec.assignment), fresh=True)


def _config(spec: JobSpec) -> Any:
    """The course's nbgrader configuration, narrowed to this student and this job's gradebook copy."""
    from nbgrader.converters import Autograde
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from course.classroom._cells import classroom_sanitizers
    from course.classroom._execute import classroom_preprocessors

    config = Config()
    if (Path(spec.course_root) / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=spec.course_root).load_config()
    config.CourseDirectory.root = spec.course_root
    config.CourseDirectory.db_url = f"sqlite:///{spec.job_db}"
    config.CourseDirectory.student_id = spec.student
    config.CourseDirectory.assignment_id = spec.assignment
    config.BaseConverter.force = True
    configured = config.Autograde.get("autograde_preprocessors") or Autograde.autograde_preprocessors.default()
    config.Autograde.autograde_preprocessors = classroom_preprocessors(list(configured))
    sanitizers = config.Autograde.get("sanitize_preprocessors") or Autograde.sanitize_preprocessors.default()
    config.Autograde.sanitize_preprocessors = classroom_sanitizers(list(sanitizers))
    if spec.cell_timeout:
        config.Execute.timeout = spec.cell_timeout
    config.GradedExecute.max_output_bytes = spec.max_output_bytes
    config.HTMLExporter.sanitize_html = True  # the feedback shows the student's outputs: no scripts in them
    return config


def _autograde(spec: JobSpec) -> bool:
    from nbgrader.converters import Autograde, NbGraderException
    from nbgrader.coursedir import CourseDirectory

    config = _config(spec)
    try:
        Autograde(coursedir=CourseDirectory(config=config), config=config).start()
    except NbGraderException:
        return False
    return True


def _feedback(spec: JobSpec) -> None:
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = _config(spec)
    GenerateFeedback(coursedir=CourseDirectory(config=config), config=config).start()


def _collect(spec: JobSpec, result: JobResult) -> JobResult:
    """Scores, comments and late penalty of every notebook, from the job's gradebook copy."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{spec.job_db}") as gradebook:
        try:
            submission = gradebook.find_submission(spec.assignment, spec.student)
        except MissingEntry:
            return result
        result.timestamp = submission.timestamp.isoformat() if submission.timestamp else None
        result.score, result.max_score = float(submission.score), float(submission.max_score)
        for notebook in submission.notebooks:
            result.notebooks[notebook.name] = {
                "late_penalty": notebook.late_submission_penalty,
                "grades": {grade.name: grade.auto_score for grade in notebook.grades},
                "comments": {comment.name: comment.auto_comment for comment in notebook.comments},
            }
    return result


def _last_error(spec: JobSpec) -> str:
    """The first exception nbgrader logged for this job, in one line (the rest follows from it)."""
    lines = (Path(spec.job_dir) / "job.log").read_text(errors="replace").splitlines()
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Timeout): ", line)]
    return errors[0][:300] if errors else "nbgrader could not grade it (see job.log)"
