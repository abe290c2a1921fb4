"""The class list: who gets a sandbox, and what every sandbox object of a student is called.

A roster is a CSV file. Either it has a header with an ``id`` column (the format of nbgrader's
``nbgrader db student import``: ``id,first_name,last_name,email``), or every row's first cell is a
student id. Student ids are nbgrader's: the folder names in ``submitted/``. Kubernetes names must be
DNS labels, so each id is turned into a *label* (lower case, ``[a-z0-9-]``), and two ids that would
share one are refused before anything is created.

>>> Student("Kim_Min-ji").label, Student("Kim_Min-ji").namespace("00-setup")
('kim-min-ji', 'kim-min-ji-00-setup')
>>> Student("Kim_Min-ji").service_account
'learner-kim-min-ji'
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from course.grading import sandbox_namespace

CLASSROOM_NAMESPACE = "k8s-course-classroom"
"""Holds every student's ServiceAccount and the grader's; students have no rights in it."""

GRADER = "k8s-course-grader"
"""The read-only ServiceAccount the hidden tests read the cluster with."""


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as a DNS label: lower case letters, digits and ``-``.

    >>> dns_label("Ada.Lovelace 2")
    'ada-lovelace-2'
    """
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:limit].rstrip("-")


@dataclass(frozen=True)
class Student:
    """One student, by nbgrader id, and the names of their sandbox objects."""

    id: str

    @property
    def label(self) -> str:
        """The id as a DNS label; the value of the ``k8s-course/student`` label on their objects."""
        return dns_label(self.id, limit=50)

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

    def namespace(self, chapter: str) -> str:
        """The namespace of ``chapter``: the one ``nbgrader autograde`` and ``course.connect`` use."""
        return sandbox_namespace(self.id, chapter)


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


def students_from(ids: list[str], source: str = "the student list") -> list[Student]:
    """Check a list of ids (non-empty, no two with the same label) and return them as students."""
    students: dict[str, Student] = {}
    for student_id in ids:
        student = Student(student_id)
        if not student.label:
            raise RosterError(f"{source}: student id {student_id!r} has no letter or digit to name it by")
        other = students.get(student.label)
        if other is not None and other.id != student_id:
            raise RosterError(
                f"{source}: {other.id!r} and {student_id!r} would share the namespace prefix {student.label!r}; "
                "rename one of them"
            )
        students[student.label] = student
    return list(students.values())
