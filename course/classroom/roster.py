"""The class list: who gets a sandbox, and what every sandbox object of a student is called.

A roster is a CSV file. Either it has a header with an ``id`` column (the format of nbgrader's
``nbgrader db student import``: ``id,first_name,last_name,email``), or every row's first cell is a
student id. Student ids are nbgrader's: the folder names in ``submitted/``. Each id is checked once
(:func:`course._naming.invalid_reason`) and named by :func:`course._naming.student_label`, the same
function ``course.connect`` and ``nbgrader autograde`` use: distinct ids get distinct labels.

>>> Student("kim-min-ji").label, Student("kim-min-ji").namespace("00-setup")
('kim-min-ji', 'kim-min-ji-00-setup')
>>> Student("Kim_Min-ji").service_account
'learner-kim-min-ji--dik4cjn5'
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from course._naming import chapter_namespace, invalid_reason, student_label

CLASSROOM_NAMESPACE = "k8s-course-classroom"
"""Holds every student's ServiceAccount and the grader's; students have no rights in it."""

GRADER = "k8s-course-grader"
"""The read-only ServiceAccount the hidden tests read the cluster with."""


@dataclass(frozen=True)
class Student:
    """One student, by nbgrader id, and the names of their sandbox objects."""

    id: str

    @property
    def label(self) -> str:
        """The id as a DNS label; the value of the ``k8s-course/student`` label on their objects."""
        return student_label(self.id)

    @property
    def file_name(self) -> str:
        """A name for the student's files (kubeconfig, grading job folder): never a path, and
        distinct for distinct ids (the id itself could hold ``../``)."""
        return self.label

    @property
    def service_account(self) -> str:
        return f"learner-{self.label}"

    @property
    def session_secret(self) -> str:
        """The Secret the tokens of the student's own kubeconfig are bound to (delete it to revoke)."""
        return f"{self.service_account}-session"

    @property
    def grading_secret(self) -> str:
        """The Secret the token of one grading run is bound to; deleted when the run ends."""
        return f"{self.service_account}-grading"

    @property
    def kubeconfig_secret(self) -> str:
        """The Secret that holds the student's kubeconfig on a hub that runs on Kubernetes
        (``class sandbox create --as-secrets``), which KubeSpawner mounts into their server.

        >>> Student("ada").kubeconfig_secret
        'k8s-course-kubeconfig-ada'
        """
        return f"k8s-course-kubeconfig-{self.label}"

    @property
    def kubespawner_names_alike(self) -> bool:
        """Whether KubeSpawner's ``{username}`` for a hub user named like this id is the student's label,
        so that ``k8s-course-kubeconfig-{username}`` (``cluster-setup/z2jh/values.yaml``) names
        :attr:`kubeconfig_secret`.

        KubeSpawner 7's default ("safe") slug keeps a user name that is a lower-case DNS label starting
        with a letter, at most 48 characters, without ``--``, and hashes any other name, with a hash of
        its own. The course keeps an id that is a lower-case DNS label of at most 40 characters
        (``course/_naming.py``), which may start with a digit.

        >>> Student("ada").kubespawner_names_alike, Student("2024001").kubespawner_names_alike
        (True, False)
        >>> Student("Ada.Lovelace").kubespawner_names_alike
        False
        """
        return self.label == self.id and not self.id[0].isdigit()

    def namespace(self, chapter: str) -> str:
        """The namespace of ``chapter``: the one ``nbgrader autograde`` and ``course.connect`` use."""
        return chapter_namespace(self.id, chapter)


class RosterError(ValueError):
    """The roster cannot be used as it is; the message says which line and why."""


def read_roster(path: Path) -> list[Student]:
    """The students listed in the CSV file ``path``, in file order, without duplicates."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise RosterError(f"{path}: the roster is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    column = header.index("id") if "id" in header else 0
    body = rows[1:] if "id" in header else rows
    return students_from([row[column].strip() for row in body if len(row) > column], source=str(path))


def sort_ids(ids: list[str]) -> tuple[list[Student], dict[str, str]]:
    """Split ``ids`` into usable students (in order, without duplicates) and refused ids with the
    reason: not a valid id, or sharing a label with another id (only by a hash collision)."""
    refused = {student_id: reason for student_id in ids if (reason := invalid_reason(student_id))}
    by_label: dict[str, list[str]] = defaultdict(list)
    for student_id in dict.fromkeys(ids):
        if student_id not in refused:
            by_label[student_label(student_id)].append(student_id)
    for label, sharing in by_label.items():
        for student_id in sharing if len(sharing) > 1 else []:
            others = ", ".join(repr(other) for other in sharing if other != student_id)
            refused[student_id] = f"it would share the namespace prefix {label!r} with {others}; rename one"
    usable = [Student(student_id) for sharing in by_label.values() if len(sharing) == 1 for student_id in sharing]
    return usable, refused


def students_from(ids: list[str], source: str = "the student list") -> list[Student]:
    """Check a list of ids and return them as students; every refused id is named in one error."""
    students, refused = sort_ids(ids)
    if refused:
        problems = "\n".join(f"  {student_id!r}: {reason}" for student_id, reason in refused.items())
        raise RosterError(f"{source}: {len(refused)} student ids cannot be used:\n{problems}")
    return students
