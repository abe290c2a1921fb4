"""What the hub does when it starts a user's server: the code behind ``jupyterhub_config.py``.

``class hub-config`` writes ``k8s-course-hub.json`` (the data: who is a student, where their
kubeconfigs are, which Python runs the servers) next to a ``jupyterhub_config.py`` that reads it
with :meth:`HubData.load` and hands :meth:`HubData.pre_spawn_hook` to JupyterHub. Before each
server starts, as root, the hook

* makes the user's home folder theirs alone (0700: classmates cannot read each other's notebooks);
* copies a student's kubeconfig (from ``class sandbox create``) to ``~/.k8s-course/kubeconfig``,
  0600 and owned by the student (:func:`install_kubeconfig`; ``class hub-config`` does the same
  for servers already running, after ``sandbox revoke`` and ``create``);
* sets the server's environment (:meth:`HubData.environment`): ``K8S_COURSE_KUBECONFIG``,
  ``K8S_COURSE_LEARNER``, the shared binary cache ``K8S_COURSE_CACHE``, and the learner's JupyterLab
  settings (nbgrader's instructor panels off) or the instructor's (with the private course root, so
  the formgrader finds it), and ``K8S_COURSE_REPO``, the checkout with the course's versions.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from course._errors import CourseError

HUB_DATA = "k8s-course-hub.json"
"""The data file next to ``jupyterhub_config.py``; ``class hub-config`` rewrites it on every run."""

KUBECONFIG_IN_HOME = Path(".k8s-course") / "kubeconfig"
"""Where a student's kubeconfig goes, relative to their home."""


@dataclass(frozen=True)
class HubData:
    """Everything the hub needs to know about the class (the content of ``k8s-course-hub.json``)."""

    python: str
    """The course environment's Python: it runs every user's server (``jupyterhub.singleuser``)."""
    repo: str
    """The checkout the course's versions and cluster configs come from (``K8S_COURSE_REPO``): a wheel
    holds the package only. Its ``autograder/`` must be closed to students (``class hub-config`` says)."""
    cache: str
    """The shared binary cache (``K8S_COURSE_CACHE``): the course's kubectl for every user."""
    kubeconfigs: str
    """The folder ``class sandbox create`` wrote the students' kubeconfigs to."""
    students: dict[str, str]
    """Hub user name (the student id) → kubeconfig file name in :attr:`kubeconfigs`."""
    instructor: str
    instructor_root: str
    """The instructor's private nbgrader course root."""
    instructor_kubeconfig: str | None
    learner_settings: str
    instructor_settings: str
    exchange: str

    @classmethod
    def load(cls, path: Path) -> HubData:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @property
    def allowed_users(self) -> set[str]:
        return {*self.students, self.instructor}

    def environment(self, user: str, kubeconfig: Path | None) -> dict[str, str]:
        """The variables a user's server starts with (``kubeconfig``: the copy in their home, if any)."""
        environment = {
            "K8S_COURSE_CACHE": self.cache,
            "K8S_COURSE_REPO": self.repo,
            "PATH": os.pathsep.join([str(Path(self.python).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        }
        if user == self.instructor:
            environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join([self.instructor_settings, self.instructor_root])
            if self.instructor_kubeconfig:
                environment["K8S_COURSE_KUBECONFIG"] = self.instructor_kubeconfig
            return environment
        environment["JUPYTER_CONFIG_PATH"] = self.learner_settings
        environment["K8S_COURSE_LEARNER"] = user
        if kubeconfig is not None:
            environment["K8S_COURSE_KUBECONFIG"] = str(kubeconfig)
        return environment

    def student_kubeconfig(self, user: str) -> Path:
        """The kubeconfig ``class sandbox create`` made for ``user``; a :class:`CourseError` when there is none."""
        source = Path(self.kubeconfigs) / self.students[user]
        if not source.is_file():
            raise CourseError(
                f"No kubeconfig for {user} at {source}: run python -m course class sandbox create with the roster."
            )
        return source

    def prepare(self, user: str) -> dict[str, str]:
        """Make ``user``'s home private, give a student their kubeconfig; the server's environment."""
        account = pwd.getpwnam(user)
        private_home(account)
        kubeconfig = None
        if user in self.students:
            kubeconfig = install_kubeconfig(self.student_kubeconfig(user), account)
        return self.environment(user, kubeconfig)

    def pre_spawn_hook(self) -> Callable[[Any], None]:
        """JupyterHub's ``Spawner.pre_spawn_hook``: :meth:`prepare` the user, then set the environment."""

        def hook(spawner: Any) -> None:
            spawner.environment.update(self.prepare(spawner.user.name))

        return hook


def _owned_by(path: Path, account: pwd.struct_passwd) -> None:
    if os.geteuid() == 0:
        os.chown(path, account.pw_uid, account.pw_gid)


def private_home(account: pwd.struct_passwd) -> Path:
    """``account``'s home folder, created if missing, owned by them and closed to everyone else (0700)."""
    home = Path(account.pw_dir)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owned_by(home, account)
    home.chmod(0o700)
    return home


def install_kubeconfig(source: Path, account: pwd.struct_passwd) -> Path:
    """Copy ``source`` to ``~/.k8s-course/kubeconfig`` of ``account``, 0600 and theirs.

    The copy replaces the old file in one rename, so a running server never reads half a file, and
    the course's client, which checks the file's modification time, picks up the new token.
    """
    target = Path(account.pw_dir) / KUBECONFIG_IN_HOME
    target.parent.mkdir(mode=0o700, exist_ok=True)
    _owned_by(target.parent, account)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".kubeconfig-")
    try:
        with os.fdopen(handle, "wb") as copy, source.open("rb") as original:
            shutil.copyfileobj(original, copy)
        os.chmod(temporary, 0o600)
        _owned_by(Path(temporary), account)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
