"""Grading a whole class: every submission of an assignment, many at a time, each in its sandbox.

``nbgrader autograde`` runs one submission after another, each in a kernel with the grader's own
rights. :func:`grade_class` is the class-sized version (``python -m course class grade ASSIGNMENT``):

* the **coordinator** (this module, with the instructor's admin kubeconfig) makes sure every student
  has a sandbox, mints for each submission a short-lived token of the *student's* ServiceAccount
  bound to a Secret it deletes when the submission is done, and a read-only token for the grader;
* a **zygote** (:mod:`course.classroom._zygote`), started without any credential, forks one **job**
  per submission (:mod:`course.classroom._job`), ``workers`` at a time;
* each job runs nbgrader's Autograde for its student, in a jailed kernel forked from itself, and
  writes its result; the coordinator merges results into the gradebook one by one (SQLite takes a
  single writer), kills a job that outlives ``timeout`` and records it, and carries on.

Where the time goes when grading one by one, and what is shared here instead: nbgrader's start-up
(once per run instead of once per command), a kernel's start-up and the ``kubernetes`` client's
imports (paid once by the zygote, then forked), API discovery (fetched once, copied to every job and
kernel), and waits on the cluster (overlapped across ``workers`` jobs).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kubernetes import client

from course._cli_output import say, step
from course._client import api_client, kubeconfig
from course._errors import CourseError
from course._naming import chapter_namespace, invalid_reason
from course._paths import cache_dir
from course._toolchain import load_toolchain
from course.backends import discovery_cache_name
from course.classroom._gradebook import db_path, known_notebooks, merge, open_gradebook, snapshot, write_report
from course.classroom._jail import missing_features, system_read_paths
from course.classroom._job import JobResult, JobSpec
from course.classroom._kernels import PORTS_PER_KERNEL, reserved_port_blocks
from course.classroom._tokens import (
    RevocationFailed,
    api_port,
    binding_secret,
    cluster_entry,
    request_token,
    revoke,
    write_kubeconfig,
)
from course.classroom.roster import GRADER, Student, sort_ids
from course.classroom.sandboxes import ensure_classroom, ensure_sandboxes
from course.nbgrader_glue import run_nbgrader

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

GRADER_RUN_SECRET = "k8s-course-grader-run"
"""The start of the name of the Secret a run's read-only grader token is bound to; each run adds its time
(``k8s-course-grader-run-20261130-080500-123456``), so that a run started while another grades (another
assignment, another class) does not revoke the other's token."""


def default_workers() -> int:
    """Jobs at once: a job spends much of its time waiting on its kernel and the cluster, so four per
    core (keeping every core busy), and never more than the memory allows (a job and its kernel take
    about 250 MiB between them at worst)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 8 << 30
    return max(2, min(4 * cpus, available // (250 << 20), 32))


@dataclass
class ClassReport:
    """What ``class grade`` did: one result per submission, where it wrote things, how long it took."""

    assignment: str
    results: list[JobResult]
    run_dir: Path
    report_csv: Path
    seconds: float
    export_csv: Path | None = None
    jail: list[str] = field(default_factory=list)

    def by_student(self) -> dict[str, JobResult]:
        return {result.student: result for result in self.results}


def submitted_students(course_root: Path, assignment: str) -> list[str]:
    """The students with a submission of ``assignment`` in ``submitted/``, readable or not (an
    unreadable one gets a row saying so, rather than no row at all)."""
    folder = course_root / "submitted"
    found = []
    for student in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            (student / assignment).lstat()
        except FileNotFoundError:
            continue
        except OSError:  # the student's folder cannot be searched: report it as theirs
            pass
        found.append(student.name)
    return found


def submission_problem(course_root: Path, assignment: str, student: str) -> str | None:
    """Why ``student``'s submission of ``assignment`` cannot be graded before it is even opened, or None."""
    folder = course_root / "submitted" / student / assignment
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        return f"no submission of {assignment} in submitted/{student}/ (is the id right?)"
    except OSError as error:
        return f"cannot read submitted/{student}/{assignment}: {error.strerror or error}"
    if not any(name.endswith(".ipynb") for name in names):
        return f"submitted/{student}/{assignment} holds no notebook"
    return None


class Zygote:
    """The coordinator's handle on the zygote process: submit jobs, read what happened to them."""

    def __init__(self, run_dir: Path, env: dict[str, str]) -> None:
        self._log = (run_dir / "zygote.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course.classroom._zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=run_dir,
            env=env,
            start_new_session=True,
        )
        self._buffer = b""

    def submit(self, job: str, spec: Path) -> None:
        stdin: IO[bytes] | None = self.process.stdin
        assert stdin is not None
        stdin.write((json.dumps({"job": job, "spec": str(spec)}) + "\n").encode())
        stdin.flush()

    def events(self, timeout: float) -> list[dict[str, Any]]:
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        if ready:
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk and self.process.poll() is not None:
                raise CourseError(f"The grading zygote stopped (exit {self.process.returncode}); see zygote.log.")
            self._buffer += chunk
        lines, _, self._buffer = self._buffer.rpartition(b"\n")
        return [json.loads(line) for line in lines.splitlines() if line.strip()]

    def close(self) -> None:
        """End of input: the zygote waits for its jobs and exits (killed if it does not within 30s)."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()


@dataclass
class _Running:
    student: Student
    spec: JobSpec
    started: float
    pid: int = 0
    timed_out: bool = False


class ClassGrader:
    """One ``class grade`` run; see the module docstring. Use :func:`grade_class`."""

    def __init__(
        self,
        assignment: str,
        course_root: Path,
        workers: int,
        cell_timeout: int | None,
        timeout: float,
        feedback: bool,
        require_landlock: bool,
    ) -> None:
        self.assignment, self.course_root = assignment, course_root.resolve()
        self.workers, self.cell_timeout, self.timeout = workers, cell_timeout, timeout
        self.feedback, self.require_landlock = feedback, require_landlock
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.run_dir = self.course_root / "classroom" / "runs" / f"{assignment}-{stamp}"
        self.grader_secret = f"{GRADER_RUN_SECRET}-{stamp}"
        self.core = client.CoreV1Api(api_client())
        self.cluster = cluster_entry()
        self.results: list[JobResult] = []
        self.zygote: Zygote | None = None
        self.gradebook: Gradebook | None = None

    # -- preparing --------------------------------------------------------------------------
    def prepare(self, students: list[Student]) -> list[Student]:
        """Get everything ready; return the students to grade (those whose sandbox could be applied)."""
        self.run_dir.mkdir(parents=True, mode=0o700)
        self.zygote = Zygote(self.run_dir, self._zygote_env())  # its imports overlap with what follows
        notebooks = known_notebooks(db_path(self.course_root), self.assignment)
        if not notebooks:
            raise CourseError(
                f"The gradebook does not know {self.assignment!r}: run nbgrader generate_assignment first."
            )
        self.notebooks = len(notebooks)
        # What the grader's own identity needs first (on a cluster where no sandbox was ever made, the
        # classroom namespace itself); then each student's sandbox, applied again even when it exists:
        # a reset with admin rights (plain nbgrader autograde) or a hand edit may have changed a quota or
        # a RoleBinding, and grading must happen in the sandbox. In the background: the requests mostly
        # wait on the API server, as does what follows.
        ensure_classroom()
        with ThreadPoolExecutor(max_workers=1) as background:
            applying = background.submit(ensure_sandboxes, students, self.assignment)
            self.template = snapshot(db_path(self.course_root), self.run_dir / "template.db")
            self.gradebook = open_gradebook(db_path(self.course_root))
            secret = binding_secret(self.core, self.grader_secret, "grader", renew=True)
            token, _ = request_token(self.core, GRADER, secret, 3600 * 6)
            self.grader_kubeconfig = write_kubeconfig(self.run_dir / "grader.kubeconfig", self.cluster, GRADER, token)
            self._warm_caches()
            self.toolchain = load_toolchain()
            self.kernel_read = system_read_paths()
            failed = applying.result().failed
        for student_id, problem in failed.items():
            self.refuse(student_id, f"its sandbox could not be applied: {problem}")
        return [student for student in students if student.id not in failed]

    def _warm_caches(self) -> None:
        """Fetch API discovery once, every group's resources included (a reset walks them all); every
        job and kernel starts with a copy instead of fetching it and writing it back."""
        from kubernetes.dynamic import DynamicClient

        from course._session import _kubectl_binary

        api = api_client()
        self.discovery_name = discovery_cache_name(api.configuration.host)
        discovery = DynamicClient(api, cache_file=str(self.run_dir / self.discovery_name))  # type: ignore[no-untyped-call]
        list(discovery.resources)  # iterating fetches every group version and writes the cache
        home = self.run_dir / "kubectl-home"
        subprocess.run(
            [_kubectl_binary(), "--kubeconfig", str(kubeconfig()), "api-resources", "-o", "name"],
            env={"HOME": str(home), "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            timeout=60,
        )
        self.kubectl_cache = home / ".kube" / "cache" / "discovery"

    def _job(self, student: Student, kernel_ports: list[int]) -> JobSpec:
        job_dir = self.run_dir / "jobs" / student.file_name
        spec = JobSpec(
            student=student.id,
            assignment=self.assignment,
            course_root=str(self.course_root),
            job_dir=str(job_dir),
            template_db=str(self.template),
            grader_kubeconfig=str(self.grader_kubeconfig),
            api_ports=[api_port(self.cluster)],
            notebooks=self.notebooks,
            cell_timeout=self.cell_timeout,
            feedback=self.feedback,
            require_landlock=self.require_landlock,
            kernel_read=self.kernel_read,
            bin_dir=str(self.toolchain.bin_dir),
            cache_dir=str(cache_dir()),
            kernel_ports=kernel_ports,
        )
        for temp in (job_dir / "tmp", spec.kernel_dir / "home" / "tmp"):
            temp.mkdir(parents=True, mode=0o700)
            shutil.copyfile(self.run_dir / self.discovery_name, temp / self.discovery_name)
        if self.kubectl_cache.is_dir():
            shutil.copytree(self.kubectl_cache, spec.kernel_dir / "home" / ".kube" / "cache" / "discovery")
        secret = binding_secret(self.core, student.grading_secret, student.label, renew=True)
        token, _ = request_token(self.core, student.service_account, secret, int(max(self.timeout, 600) + 600))
        namespace = student.namespace(self.assignment)
        write_kubeconfig(spec.student_kubeconfig, self.cluster, student.id, token, namespace)
        spec.dump()
        return spec

    # -- running ----------------------------------------------------------------------------
    def run(self, students: list[Student]) -> None:
        zygote = self.zygote
        assert zygote is not None, "prepare() first"
        try:  # one block of kernel ports per worker slot, handed back when its job has exited
            with reserved_port_blocks(self.workers, PORTS_PER_KERNEL * self.notebooks) as blocks:
                self._schedule(deque(students), deque(blocks), zygote)
        finally:
            zygote.close()

    def _schedule(self, pending: deque[Student], free_ports: deque[list[int]], zygote: Zygote) -> None:
        """Keep ``workers`` jobs running until every student is graded; each job gets a free port block."""
        running = dict[str, _Running]()
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    student, ports = pending.popleft(), free_ports.popleft()
                    try:
                        spec = self._job(student, ports)
                    except Exception as problem:  # whatever it is, it is this student's row; go on
                        free_ports.append(ports)
                        self._record(JobResult(student=student.id, detail=f"could not prepare: {problem}"))
                        continue
                    running[student.id] = _Running(student, spec, time.monotonic())
                    zygote.submit(student.id, Path(spec.job_dir) / "spec.json")
                for event in zygote.events(timeout=0.05):
                    job = running.get(str(event.get("started", event.get("exited"))))
                    if job is None:
                        continue
                    if "started" in event:
                        job.pid = int(event["pid"])
                    else:
                        self._finish(running.pop(job.student.id))
                        free_ports.append(job.spec.kernel_ports)
                self._enforce_timeouts(running.values())
        finally:
            for job in running.values():
                self._kill(job)

    def _enforce_timeouts(self, jobs: Any) -> None:
        now = time.monotonic()
        for job in jobs:
            if not job.timed_out and job.pid and now - job.started > self.timeout:
                job.timed_out = True
                self._kill(job)

    @staticmethod
    def _kill(job: _Running) -> None:
        """End the job's process group and its kernels' (each kernel leads a group of its own)."""
        pids_file = Path(job.spec.job_dir) / "kernel.pids"
        groups = [job.pid] + [int(p) for p in pids_file.read_text().split()] if pids_file.is_file() else [job.pid]
        for group in groups:
            if group > 0:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)

    def _revoke(self, secret: str, whose: str) -> None:
        """Revoke a grading token; a failure is shown (the token lives on until it expires) but grading goes on."""
        try:
            revoke(self.core, secret)
        except RevocationFailed as problem:
            say(f"WARNING ({whose}): {problem}")

    def _finish(self, job: _Running) -> None:
        self._revoke(job.student.grading_secret, f"grading token of {job.student.id}")
        result_file = Path(job.spec.job_dir) / "result.json"
        try:
            result = JobResult.load(result_file)
        except (OSError, ValueError, TypeError):  # none, or the job was ended while writing it
            result = JobResult(student=job.student.id, detail="the grading job ended without a result (see job.out)")
        result.seconds = round(time.monotonic() - job.started, 2)
        if job.timed_out:
            result.status, result.detail = "timeout", f"still running after {self.timeout:.0f}s; ended"
        self._record(result)

    def refuse(self, student_id: str, reason: str) -> None:
        """A submission that is not graded at all: a row in the CSV (not in the gradebook, which has
        no notebook of it to show); the class goes on."""
        self._report(JobResult(student=student_id, detail=reason))

    def _record(self, result: JobResult) -> None:
        """Merge one result into the gradebook (this process is its only writer) and report it."""
        try:
            merge(self.gradebook, self.assignment, result)
        except Exception as problem:  # the gradebook refused this one; the CSV still says what happened
            assert self.gradebook is not None
            self.gradebook.db.rollback()
            result.status, result.detail = "error", f"not recorded in the gradebook: {problem}"
        self._report(result)

    def _report(self, result: JobResult) -> None:
        result.namespace = "" if invalid_reason(result.student) else chapter_namespace(result.student, self.assignment)
        self.results.append(result)
        mark = "✓" if result.status == "graded" else "✗"
        detail = "" if result.status == "graded" else f" {result.status}: {result.detail}"
        say(f" {mark} {result.student}: {result.score:g}/{result.max_score:g} ({result.seconds:.1f}s){detail}")

    def _zygote_env(self) -> dict[str, str]:
        """No kubeconfig and no cluster state for the zygote: jobs get credentials by path, one each."""
        keep = (
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "XDG_CACHE_HOME",
            "K8S_COURSE_CACHE",
            "K8S_COURSE_REPO",
            "VIRTUAL_ENV",
        )
        env = {name: os.environ[name] for name in keep if name in os.environ}
        env["K8S_COURSE_STATE"] = str(self.run_dir / "no-admin-credentials-here")
        env["PYTHONUNBUFFERED"] = "1"
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's import-time warning about frozen modules
        return env

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
        if self.gradebook is not None:
            self.gradebook.close()
        self._revoke(self.grader_secret, "the grader's own read-only token")


def grade_class(
    assignment: str,
    course_root: Path,
    workers: int | None = None,
    cell_timeout: int | None = None,
    timeout: float = 600.0,
    students: list[str] | None = None,
    feedback: bool = True,
    export: bool = True,
    require_landlock: bool = True,
) -> ClassReport:
    """Grade every submission of ``assignment`` in ``course_root`` (see the module docstring)."""
    started = time.monotonic()
    missing = missing_features() if require_landlock else []
    if missing:
        raise CourseError(
            "This machine cannot jail the graded kernels, so a submission could read or reach what the grader can.\n"
            + "".join(f"  Missing: {feature}.\n" for feature in missing)
            + "  Grade on a machine that has it (see README: How grading stays honest), or take the risk with"
            " --unconfined."
        )
    ids = students if students is not None else submitted_students(course_root, assignment)
    roster, refused = sort_ids(ids)
    for student in roster:
        if problem := submission_problem(course_root, assignment, student.id):
            refused[student.id] = problem
    roster = [student for student in roster if student.id not in refused]
    grader = ClassGrader(
        assignment, course_root, workers or default_workers(), cell_timeout, timeout, feedback, require_landlock
    )
    try:
        for student_id, reason in refused.items():
            grader.refuse(student_id, reason)
        with step(f"Preparing to grade {len(roster)} submissions of {assignment}"):
            roster = grader.prepare(roster)
        say(f"Grading with {grader.workers} workers (run folder: {grader.run_dir})")
        grader.run(roster)
    finally:
        grader.close()
    report_csv = write_report(course_root / "classroom" / f"{assignment}-grades.csv", grader.results)
    export_csv = _nbgrader_export(course_root) if export else None
    jail = sorted({feature for result in grader.results for feature in result.jail})
    return ClassReport(
        assignment, grader.results, grader.run_dir, report_csv, round(time.monotonic() - started, 2), export_csv, jail
    )


def _nbgrader_export(course_root: Path) -> Path:
    """nbgrader's own CSV of the whole gradebook (``nbgrader export``)."""
    target = course_root / "classroom" / "grades.csv"
    run_nbgrader(course_root, "export", "--to", str(target), timeout=600)
    return target
