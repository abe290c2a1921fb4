"""The capstone grades two rules by what they mean, so a submission that only looks right earns nothing.

"Only the web tier and the backup reach the database" is judged from every NetworkPolicy of the
namespace together, not from one policy's shape; "the password is only in the Secret" by searching
every object for the password. Each submission below passes the literal checks the capstone had
before (a policy ``db-allow-web`` of the right shape; ``PGPASSWORD`` from a ``secretKeyRef``) and
breaks the rule itself. Graded through ``nbgrader autograde`` on the sim cluster, the rule's checks
give it nothing, and every other part still earns its points.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from course.nbgrader_glue import Grades, Submission, autograde_all

from .background import Relabelled, Results, in_lanes
from .conftest import copy_of_course
from .test_chapters import source_of
from .test_gamed_checks import points, submission

CHAPTER = "07-capstone"
PARTS = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]


def solution_of(grade_id: str) -> str:
    """The code between the solution markers of an answer cell of the capstone's source."""
    notebook = nbformat.read(source_of(CHAPTER), as_version=4)
    source = next(c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return source.split("### BEGIN SOLUTION\n", 1)[1].split("### END SOLUTION", 1)[0]


OPEN_TO_ALL = """
allow_everyone = '''
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-allow-all
spec:
  podSelector:
    matchLabels: {app: shop, tier: db}
  ingress:
  - {}
'''
"""
"""Part 6: the right ``db-allow-web``, and beside it a policy that lets every Pod in on every port."""

PASSWORD_IN_THE_COMMAND = (
    'backup_manifest = backup_manifest.replace("pg_dump -h", "PGPASSWORD=correct-horse-battery-staple pg_dump -h")'
)
"""Part 5: ``PGPASSWORD`` still comes from the Secret, and the command carries the password as well."""


TWO_POLICIES = solution_of("ex6-policy").replace(
    "    - podSelector:\n        matchLabels: {app: shop, tier: backup}\n", ""
) + (
    "policy_manifest += '''\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
    "  name: db-allow-backup\nspec:\n  podSelector:\n    matchLabels: {app: shop, tier: db}\n"
    "  ingress:\n  - from:\n    - podSelector:\n        matchExpressions:\n"
    "        - {key: tier, operator: In, values: [backup]}\n        - {key: app, operator: In, values: [shop]}\n"
    "    ports:\n    - {protocol: TCP, port: 5432}\n'''\n"
)
"""Part 6: the web tier and the backup let in by a policy each (the solution's policy without the backup)."""

SUBMISSIONS = {
    "gamer-policy": {"ex6-policy": solution_of("ex6-policy") + OPEN_TO_ALL + "policy_manifest += allow_everyone\n"},
    "gamer-password": {"ex5-backup": solution_of("ex5-backup") + PASSWORD_IN_THE_COMMAND},
    "two-policies": {"ex6-policy": TWO_POLICIES},
}
"""Each graded submission, by its student: the answer cells (by grade_id) it fills its own way; it solves
every other part as the source does."""


@pytest.fixture(scope="module")
def capstone_grades(
    sim_cluster: Path, released_course: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Results[str, Grades]]:
    """Every submission of ``SUBMISSIONS`` graded once through ``nbgrader autograde``, in two lanes (each one
    nbgrader process grading its share), from the first test that asks."""

    def grade_all(students: tuple[str, ...]) -> Relabelled[str, Grades]:
        submissions = []
        for student in students:
            answers = SUBMISSIONS[student]
            solved = [part for part in PARTS if not any(grade_id.startswith(f"{part}-") for grade_id in answers)]
            notebook = submission(CHAPTER, solved, dict(answers), tmp_path_factory.mktemp(student))
            submissions.append(Submission(notebook, CHAPTER, student))
        grades = autograde_all(submissions, copy_of_course(released_course, tmp_path_factory.mktemp("course")))
        return Relabelled(grades, {student: (CHAPTER, student) for student in students})

    with in_lanes(list(SUBMISSIONS), grade_all) as grades:
        yield grades


@pytest.mark.parametrize(
    ("student", "gamed"),
    [("gamer-policy", ["ex6-check-policy-sources"]), ("gamer-password", ["ex5-check-password"])],
    ids=["a-second-policy-opens-the-database", "the-password-in-the-backup-command"],
)
def test_a_submission_that_only_looks_right_earns_nothing_for_the_rule(
    student: str, gamed: list[str], capstone_grades: Results[str, Grades]
) -> None:
    grades = capstone_grades.result(student)
    assert all(points(grades.max_cells, cell) > 0 for cell in gamed), f"no graded cell {gamed}"
    assert {cell: points(grades.cells, cell) for cell in gamed} == dict.fromkeys(gamed, 0.0), grades.cells
    earned = {cell: p for cell, p in grades.cells.items() if cell not in gamed}
    assert earned == {cell: p for cell, p in grades.max_cells.items() if cell not in gamed}, grades.cells


def test_two_policies_earn_what_one_does(capstone_grades: Results[str, Grades]) -> None:
    """The web tier and the backup let in by a policy each: the same meaning, the same points."""
    assert "tier: backup" not in TWO_POLICIES.split("---")[0]
    grades = capstone_grades.result("two-policies")
    assert grades.cells == grades.max_cells
