"""Chapter demos that are not graded still teach the right thing with a classroom sandbox's rights.

A student's sandbox has the ``edit`` role in its own namespaces, which may not write a Pod's status.
Chapter 05's "unready Pod" once patched ``pods/status`` on sim: in a sandbox that was a 403, and the next
cell showed the Pod as Ready. These tests run the demo's cells in a kernel-like process with a student's
kubeconfig, as a class would, and read what the Service then sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

from course.classroom.roster import students_from
from course.classroom.sandboxes import create_sandboxes, delete_sandboxes

REPO = Path(__file__).resolve().parent.parent
CHAPTER = "05-network"
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"


def _demo_cells() -> list[str]:
    """The code cells from the one that creates ``web-unready`` to the one that shows its EndpointSlice."""
    notebook = nbformat.read(REPO / "notebooks" / f"{CHAPTER}.ipynb", as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code" and not cell.source.startswith("!")]
    first = next(i for i, source in enumerate(code) if "name: web-unready" in source)
    return code[first : first + 2]


def test_the_unready_pod_demo_works_with_a_students_rights(sim_cluster: Path, tmp_path: Path) -> None:
    student = students_from(["demo-reader"])[0]
    report = create_sandboxes([student], [CHAPTER], tmp_path)
    script = "\n".join(
        [
            "import json, course",
            f"cluster = course.connect({CHAPTER!r}, quiet=True)",
            f"cluster.apply({SERVICE!r})",
            *_demo_cells(),
            "pod = cluster.get('Pod', 'web-unready')",
            "print('RESULT', json.dumps([c for c in pod['status']['conditions'] if c['type'] == 'Ready']))",
        ]
    )
    env = {
        **os.environ,
        "K8S_COURSE_KUBECONFIG": str(report.kubeconfigs[student.id]),
        "K8S_COURSE_LEARNER": student.id,
        "K8S_COURSE_FRESH": "0",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
        )
        assert result.returncode == 0, result.stderr[-2000:]
        output = result.stdout
        assert "web-unready" in output and "ready=False" in output, output  # the EndpointSlice keeps it, not ready
        ready = json.loads(output.split("RESULT ", 1)[1])
        assert [(c["status"], c.get("reason")) for c in ready] == [("False", "ReadinessGatesNotReady")]
    finally:
        delete_sandboxes([student], [CHAPTER])
