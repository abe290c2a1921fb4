"""The course runs its own environment's programs, activated or not.

nbgrader runs ``alembic`` (a console script of the course's environment) to create a gradebook. A
process started without the environment's ``bin/`` on PATH, as ``make`` or an instructor's shell
would start it, must still grade: the course puts that folder first on PATH when it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

GRADE = """
import json, sys
from pathlib import Path
from course.nbgrader_glue import autograde
notebook, workdir = Path(sys.argv[1]), Path(sys.argv[2])
grades = autograde(notebook, "00-setup", "no-venv-on-path", workdir)
print(json.dumps({"score": grades.score, "max_score": grades.max_score}))
"""


def test_nbgrader_generates_and_autogrades_from_a_process_without_the_environment_on_path(
    sim_cluster: Path, tmp_path: Path
) -> None:
    environment_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(["/usr/bin", "/bin"])
    assert environment_bin not in path.split(os.pathsep)
    env = {**os.environ, "PATH": path, "HOME": str(tmp_path)}
    env.pop("VIRTUAL_ENV", None)
    # autograde generates the assignment (nbgrader generate_assignment) and then grades the
    # untouched student notebook (nbgrader autograde), each creating a gradebook with alembic.
    result = subprocess.run(
        [sys.executable, "-c", GRADE, str(REPO / "notebooks" / "00-setup.ipynb"), str(tmp_path / "course")],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    grades = json.loads(result.stdout.strip().splitlines()[-1])
    assert grades["max_score"] > 0 and grades["score"] == 0, grades
