"""The class grader on kind (issue 18): a small class of one chapter graded by ``grade_class``, as
``tests/test_classroom_chapters.py`` grades every chapter on sim, but with containers that really run
in the students' sandboxes (their quota, LimitRange and tokens) and jailed kernels that reach a real
API server. Marked ``kind`` through the ``kind_cluster`` fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course.classroom.grader import grade_class
from course.classroom.roster import students_from
from course.classroom.sandboxes import delete_sandboxes

from .conftest import copy_of_course
from .namespaces import wait_until_gone
from .test_classroom_chapters import expect_each_student_earns, submit_class

CHAPTER = "03-nodes-and-pods"
"""Its Pods crash, mount volumes and have probes and limits: what a sandbox's LimitRange and quota meet."""


def test_the_class_grader_grades_a_small_class_on_kind(
    kind_cluster: Path, full_jail: None, released_course: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = copy_of_course(released_course, tmp_path_factory.mktemp("kind-class"))
    earns = submit_class(root, CHAPTER, partial=[2])  # three students: all solved, none, the first two
    try:
        report = grade_class(CHAPTER, root, workers=len(earns), feedback=False, export=False)
    finally:
        wait_until_gone(delete_sandboxes(students_from(list(earns)), [CHAPTER]), timeout=180)
    expect_each_student_earns(CHAPTER, earns, report, root)
