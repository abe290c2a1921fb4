"""nbgrader for every user of this machine, written by `python -m course class hub-config`.

The exchange is shared: instructors release into it, students fetch from and submit into it. The
course root's own nbgrader_config.py leaves Exchange.root alone when this file sets it.
"""

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (nbgrader provides it)

c.Exchange.root = "$exchange"
c.CourseDirectory.course_id = "$course_id"
