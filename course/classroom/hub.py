"""``class hub-config``: a JupyterHub on one machine for a class, from the roster.

What a hub needs around the course, written once and safe to write again:

* ``jupyterhub_config.py`` (a file of the package, ``hub-files/``, copied once and then the
  admin's to edit) and ``k8s-course-hub.json`` next to it, the class as data (rewritten every run:
  :class:`~course.classroom._hub_spawn.HubData`);
* the global nbgrader config (``/etc/jupyter/nbgrader_config.py``, from ``hub-files/``), which names
  the shared exchange for every user, and that exchange folder, writable by all;
* the instructor's private course root: the course's nbgrader config and ``source/`` (the answers
  and hidden tests) copied into the instructor's home, 0700, so no student can read them;
* the students' kubeconfigs copied into the homes of the accounts that exist (what the hub's hook
  does at each spawn), which is how new kubeconfigs reach running servers after ``sandbox revoke``
  and ``create``.

It also says what would leak or fail before a student finds out (:func:`shared_problems`): a course
environment or binary cache other users cannot enter, answers in a checkout everyone can read.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from course._errors import CourseError
from course._paths import cache_dir, jupyter_config_dir, repo_root
from course.classroom._hub_spawn import HUB_DATA, HubData, install_kubeconfig, private_home
from course.classroom.exchange import global_exchange_root
from course.classroom.roster import Student

TEMPLATES = Path(__file__).resolve().parent / "hub-files"
COURSE_ID = "k8s-course"
"""nbgrader's course id, as ``autograder/nbgrader_config.py`` sets it: the exchange's folder name."""


@dataclass(frozen=True)
class HubPlan:
    """Where ``class hub-config`` puts everything (the command line's options, resolved)."""

    students: list[Student]
    instructor: str
    instructor_root: Path
    kubeconfigs: Path
    exchange: Path
    hub_dir: Path
    jupyter_dir: Path
    instructor_kubeconfig: Path | None = None

    def data(self) -> HubData:
        """The class as the hub reads it (``k8s-course-hub.json``)."""
        return HubData(
            python=sys.executable,
            repo=str(repo_root()),
            cache=str(cache_dir()),
            kubeconfigs=str(self.kubeconfigs),
            students={student.id: f"{student.file_name}.kubeconfig" for student in self.students},
            instructor=self.instructor,
            instructor_root=str(self.instructor_root),
            instructor_kubeconfig=str(self.instructor_kubeconfig) if self.instructor_kubeconfig else None,
            learner_settings=str(jupyter_config_dir("learner")),
            instructor_settings=str(jupyter_config_dir("instructor")),
            exchange=str(self.exchange),
        )


def account(user: str) -> pwd.struct_passwd:
    """The Unix account ``user``; a :class:`CourseError` when the machine has none."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        raise CourseError(f"There is no Unix user {user!r} on this machine: create it (useradd -m {user}).") from None


def write_hub_config(plan: HubPlan) -> HubData:
    """``jupyterhub_config.py`` (only if missing) and ``k8s-course-hub.json`` in ``plan.hub_dir``."""
    plan.hub_dir.mkdir(parents=True, exist_ok=True)
    config = plan.hub_dir / "jupyterhub_config.py"
    if not config.exists():
        shutil.copyfile(TEMPLATES / "jupyterhub_config.py", config)
    data = plan.data()
    target = plan.hub_dir / HUB_DATA
    data.dump(target)
    target.chmod(0o600)  # the hub's (root's) only: it says where every kubeconfig is
    return data


def write_nbgrader_config(plan: HubPlan) -> Path:
    """The global nbgrader config that names the shared exchange (left alone if it names it already)."""
    target = plan.jupyter_dir / "nbgrader_config.py"
    current = global_exchange_root([plan.jupyter_dir])
    if target.exists() and current != str(plan.exchange):
        raise CourseError(
            f"{target} already sets the exchange to {current or 'nothing'}, not {plan.exchange}: "
            "remove it or edit it by hand, then run this again."
        )
    plan.jupyter_dir.mkdir(parents=True, exist_ok=True)
    text = Template((TEMPLATES / "nbgrader_config.py").read_text(encoding="utf-8"))
    target.write_text(text.substitute(exchange=plan.exchange, course_id=COURSE_ID), encoding="utf-8")
    target.chmod(0o644)
    return target


def make_exchange(plan: HubPlan) -> None:
    """The exchange folder, where every user may write (nbgrader keeps students apart inside it)."""
    plan.exchange.mkdir(parents=True, exist_ok=True)
    plan.exchange.chmod(0o777)


def make_instructor_root(plan: HubPlan, source_root: Path) -> bool:
    """Copy the course's nbgrader config and ``source/`` into the instructor's private course root.

    Nothing is overwritten (the root is the instructor's work); the root ends 0700 and theirs either
    way. True when it was created now.
    """
    root = plan.instructor_root
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "nbgrader_config.py").exists():
        shutil.copyfile(source_root / "nbgrader_config.py", root / "nbgrader_config.py")
    if not (root / "source").exists():
        shutil.copytree(source_root / "source", root / "source")
    owner = account(plan.instructor)
    if os.geteuid() == 0:
        for folder, _, files in os.walk(root):
            for path in [folder, *(os.path.join(folder, name) for name in files)]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
    root.chmod(0o700)
    return created


@dataclass(frozen=True)
class KubeconfigCopies:
    """What :func:`copy_kubeconfigs` did: who got theirs, who has no account or no kubeconfig yet."""

    copied: list[str]
    no_account: list[str]
    no_kubeconfig: list[str]


def copy_kubeconfigs(data: HubData) -> KubeconfigCopies:
    """Close every student's home to the others, and give each their current kubeconfig, as the hub's
    hook does at spawn (``useradd`` makes homes 0755: a student who never logged in would be readable)."""
    copied, no_account, no_kubeconfig = [], [], []
    for user in data.students:
        try:
            owner = pwd.getpwnam(user)
        except KeyError:
            no_account.append(user)
            continue
        private_home(owner)
        try:
            source = data.student_kubeconfig(user)
        except CourseError:
            no_kubeconfig.append(user)
            continue
        install_kubeconfig(source, owner)
        copied.append(user)
    return KubeconfigCopies(copied, no_account, no_kubeconfig)


def closed_to_others(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot enter (none: ``None``)."""
    for folder in [*reversed(path.parents), path]:
        if folder.is_dir() and not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def readable_by_others(path: Path) -> bool:
    """True when any user may list ``path``, a folder, and every folder above it lets them reach it."""
    return path.is_dir() and closed_to_others(path) is None and bool(path.stat().st_mode & stat.S_IROTH)


def shared_problems(data: HubData, checkout_root: Path | None = None) -> list[str]:
    """What students' servers will trip over, or could read that they must not, one line each."""
    problems = []
    environment = "make the course's environment from a Python every user can run (e.g. under /opt)"
    for what, path, fix in [
        ("the course's Python", Path(data.python).parent, environment),
        ("the Python the course's environment was made from", Path(data.python).resolve().parent, environment),
        (
            "the binary cache (K8S_COURSE_CACHE)",
            Path(data.cache),
            "export K8S_COURSE_CACHE=/opt/k8s-course/cache, run python -m course toolchain, then this again",
        ),
        ("the course package", Path(__file__).resolve().parent, environment),
        ("the course's versions (cluster-setup/)", Path(data.repo) / "cluster-setup", environment),
    ]:
        closed = closed_to_others(path)
        if closed is not None:
            problems.append(f"{what} is under {closed}, which other users cannot enter: {fix}")
    answers = (checkout_root or repo_root() / "autograder") / "source"
    if readable_by_others(answers):
        problems.append(
            f"every user can read the answers in {answers}: chmod 700 {answers.parent} "
            "(students need only the installed package)"
        )
    return problems
