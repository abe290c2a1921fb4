"""The old name of :mod:`course.nbgrader_glue`, kept because instructors' course roots import it.

Every course root made from this course has an ``nbgrader_config.py`` with
``from course.grading import ChapterSandbox`` (``autograder/nbgrader_config.py`` did, up to issue 15);
those keep working after an update of the course. New code imports :mod:`course.nbgrader_glue`.
"""

from course.nbgrader_glue import ChapterSandbox, Grades, autograde, generate_assignment, release, sandbox_namespace

__all__ = ["ChapterSandbox", "Grades", "autograde", "generate_assignment", "release", "sandbox_namespace"]
