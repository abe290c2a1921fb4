"""nbgrader configuration of the course (the course root is this folder).

Instructors: `cd autograder && nbgrader generate_assignment 00-setup` makes the student version;
`nbgrader autograde 00-setup` grades what is in submitted/. Each submission runs in its own namespace,
reset to the chapter's starting state first (course.nbgrader_glue.ChapterSandbox).

For a class, `python -m course class grade 00-setup` grades every submission with this configuration,
many at a time, each with its student's identity in a jailed kernel: it puts ClassroomSandbox and
GradedExecute (course.classroom) in place of ChapterSandbox and Execute below.
"""

from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from course.classroom.exchange import exchange_root
from course.kind_outputs import ShowKindOutputs
from course.nbgrader_glue import ChapterSandbox

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)
here = Path(__file__).resolve().parent

c.CourseDirectory.root = str(here)
c.CourseDirectory.course_id = "k8s-course"
# The default exchange (/usr/local/share/nbgrader/exchange) is not writable on Binder or Codespaces,
# so the course keeps one here; but a hub's shared exchange (K8S_COURSE_EXCHANGE, or a global
# /etc/jupyter/nbgrader_config.py as `class hub-config` writes) wins: this file is read last.
c.Exchange.root = exchange_root(here)

# Under each cell that shows something only on kind, what it printed there (course/kind_outputs.py).
generate_steps = GenerateAssignment.class_traits()["preprocessors"].default()
c.GenerateAssignment.preprocessors = [*generate_steps, ShowKindOutputs]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# The slowest cell of any chapter waits up to 60 s for the cluster (course.connect resets a
# namespace in a few seconds; wait_for defaults to 60 s). A cell that needs longer is a bug.
c.Execute.timeout = 90  # nbgrader's Execute always goes on after a cell's error (allow_errors)

c.Autograde.autograde_preprocessors = [
    ChapterSandbox,
    Execute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
