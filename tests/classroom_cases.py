"""Submissions for the class grader's tests: honest ones, and one per way of cheating or breaking.

Each case is a released chapter-00 notebook, possibly solved, with cells added or changed. The
attacking cells print ``ATTACK <what> <HTTP status or error>`` for every attempt, so a test can check
that each attempt was refused by the API server (403) or by the jail, not just that the grade is right.
Attack code is a ``string.Template``: ``$bystander`` (another student's namespace), ``$gradebook``,
``$admin_kubeconfig``, ``$etcd_port`` and ``$grader_pid`` are filled in by the test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from uuid import uuid4

import nbformat
from nbformat.v4 import new_code_cell

from course.classroom.samples import exercises, solve

CHAPTER = "00-setup"
Notebook = nbformat.NotebookNode
Build = Callable[[Notebook, Notebook, dict[str, str]], "Notebook | str"]

ATTEMPT = """
from kubernetes import client
from kubernetes.client.exceptions import ApiException

def attempt(what, action):
    try:
        action()
        print("ATTACK", what, "succeeded")
    except ApiException as error:
        print("ATTACK", what, error.status)
    except OSError as error:
        print("ATTACK", what, type(error).__name__)
"""


@dataclass(frozen=True)
class Case:
    """A submission (``build``), the points it must earn, and what its attacks must run into."""

    name: str
    points: float
    build: Build
    refused_with: tuple[str, ...] = ()
    """Every ``ATTACK`` line of the graded notebook must end with one of these (``403``, ...)."""


def _after(notebook: Notebook, grade_id: str, *sources: str) -> Notebook:
    """Insert code cells after the cell ``grade_id`` (``connect``: after the ``course.connect`` cell)."""
    for index, cell in enumerate(notebook.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == grade_id or (grade_id == "connect" and "course.connect(" in cell.source):
            notebook.cells[index + 1 : index + 1] = [new_code_cell(source) for source in sources]
            return notebook
    raise KeyError(grade_id)


def _solved(released: Notebook, source: Notebook) -> Notebook:
    return solve(released, source, exercises(source))


def _attack(code: str) -> Build:
    """The solved notebook with an attacking cell right after ``course.connect``."""

    def build(released: Notebook, source: Notebook, where: dict[str, str]) -> Notebook:
        return _after(_solved(released, source), "connect", ATTEMPT + Template(code).substitute(where))

    return build


def _loop_forever(released: Notebook, source: Notebook, where: dict[str, str]) -> Notebook:
    """Exercise 1 done, then a loop that ignores the interrupt: exercises 2 and 3 never run."""
    loop = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    return _after(_solved(released, source), "ex1-check-hello-details", loop)


def _sleep_forever(released: Notebook, source: Notebook, where: dict[str, str]) -> Notebook:
    """Exercise 1 done, then a wait that ignores the interrupt and never ends, on no CPU: only the
    whole-submission limit ends it, and the submissions graded beside it keep both cores."""
    wait = "import signal\nimport time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)"
    return _after(_solved(released, source), "ex1-check-hello-details", wait)


SLEEPS_FOREVER = Case("sleeps-forever", 3, _sleep_forever)
"""Not one of the class's :data:`CASES`: the submission of the job-timeout test."""


def _kill_kernel(released: Notebook, source: Notebook, where: dict[str, str]) -> Notebook:
    """Exercise 1 done, then the kernel ends itself: the rest never runs, the checks are still judged."""
    return _after(_solved(released, source), "ex1-check-hello-details", "import os\nos._exit(1)")


TAMPER = """
import course.checks as checks
checks.expect = lambda *a, **k: None
checks.expect_field = lambda *a, **k: None
checks.expect_object = lambda *a, **k: {"metadata": {"labels": {"app": "hello", "tier": "demo"}},
    "spec": {"containers": [{"name": "hello", "image": "nginx:1.27"}]}, "status": {"conditions": []}}
get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
"""


def _tamper(released: Notebook, source: Notebook, where: dict[str, str]) -> Notebook:
    """No work at all, but everything a kernel can do to make the checks pass."""
    notebook = nbformat.from_dict(released)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.source = 'print("✓ all good")'  # an edited test cell: nbgrader restores it
    return _after(notebook, "connect", TAMPER)


def _edit_cell_metadata(released: Notebook, source: Notebook, where: dict[str, str]) -> Notebook:
    """Exercises 1 and 2 solved; the unsolved exercise 3's test turned into a manually graded answer;
    the tests of exercise 2 copied to the end, edited and worth 100 points; an invented test."""
    notebook = solve(released, source, ["ex1", "ex2"])
    for cell in list(notebook.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "ex3-check-nodes":
            meta.update(grade=False, solution=True)
        if meta.get("grade_id", "").startswith("ex2-check"):
            copy = nbformat.from_dict(cell)
            copy.id = uuid4().hex[:8]  # a copy pasted in JupyterLab gets a new cell id
            copy.metadata.nbgrader["points"] = 100
            copy.source = 'print("✓ worth a hundred points")'
            notebook.cells.append(copy)
    invented = new_code_cell('print("bonus")')
    invented.metadata["nbgrader"] = {**notebook.cells[-1].metadata.nbgrader, "grade_id": "ex9-bonus", "points": 50}
    notebook.cells.append(invented)
    return notebook


def _borrow_namespace(released: Notebook, source: Notebook, where: dict[str, str]) -> Notebook:
    """No work; point everything at the bystander's namespace, where the right Pods exist."""
    notebook = nbformat.from_dict(released)
    notebook.cells.insert(0, new_code_cell(f'import os\nos.environ["K8S_COURSE_NAMESPACE"] = "{where["bystander"]}"'))
    return notebook


DELETE_OTHERS = """
attempt("delete-namespace", lambda: cluster.core.delete_namespace("$bystander"))
attempt("delete-pods", lambda: cluster.core.delete_collection_namespaced_pod("$bystander"))
attempt("delete-pod", lambda: cluster.core.delete_namespaced_pod("hello", "$bystander"))
owned = {"metadata": {"labels": {"owned": "yes"}}}
attempt("label-pod", lambda: cluster.core.patch_namespaced_pod("hello", "$bystander", owned))
"""
SECRETS = """
attempt("list-secrets", lambda: cluster.core.list_namespaced_secret("kube-system"))
attempt("all-secrets", lambda: cluster.core.list_secret_for_all_namespaces())
"""
CLUSTER_OBJECTS = """
rbac = client.RbacAuthorizationV1Api(cluster.api)
everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
admins = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}
everyone = [{"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}]
volume = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/"}}
attempt("namespace", lambda: cluster.core.create_namespace({"metadata": {"name": "cheat"}}))
attempt("clusterrole", lambda: rbac.create_cluster_role({"metadata": {"name": "cheat"}, "rules": everything}))
attempt("binding", lambda: rbac.create_cluster_role_binding(
    {"metadata": {"name": "cheat"}, "roleRef": admins, "subjects": everyone}))
attempt("volume", lambda: cluster.core.create_persistent_volume({"metadata": {"name": "cheat"}, "spec": volume}))
"""
QUOTA = """
def flood():
    for number in range(100):
        cluster.core.create_namespaced_config_map(cluster.namespace, {"metadata": {"name": f"junk-{number}"}})
attempt("configmaps", flood)
"""
OWN_NAMESPACE = 'attempt("own-namespace", lambda: cluster.core.delete_namespace(cluster.namespace))'
GRADER_FILES = """
import os, socket
attempt("admin-kubeconfig", lambda: open("$admin_kubeconfig").read())
attempt("gradebook", lambda: open("$gradebook", "rb").read())
attempt("etcd", lambda: socket.create_connection(("127.0.0.1", $etcd_port), timeout=3))
attempt("signal-grader", lambda: os.kill($grader_pid, 0))
"""

MACHINE = """
import os, socket
attempt("shadow", lambda: open("/etc/shadow", "rb").read())
for disk in ("/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda", "/dev/loop0", "/dev/mem"):
    attempt("disk " + disk, lambda: open(disk, "rb").read(4096))
attempt("grader-process", lambda: open("/proc/$grader_pid/cmdline", "rb").read())
attempt("grader-environ", lambda: open("/proc/$grader_pid/environ", "rb").read())
attempt("other-processes", lambda: [p for p in os.listdir("/proc") if p.isdigit() and p != "1"] or open("/proc/none"))
attempt("unix-socket-list", lambda: open("/proc/net/unix").read())
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", $etcd_port)))
attempt("unix-socket", lambda: socket.socket(socket.AF_UNIX).connect("/run/containerd/containerd.sock"))
def as_root():
    if os.getuid() != 0:
        raise PermissionError("the kernel is not root")
attempt("root-identity", as_root)
"""
"""What a submission must not read or reach on the machine: root's files, a disk, the processes and
sockets of others; and it must not be root."""

REFUSED = ("PermissionError", "FileNotFoundError")
"""How the jail refuses: by the fence (``PermissionError``), or because nothing is there in its root."""


def _not_json(released: Notebook, source: Notebook, where: dict[str, str]) -> str:
    return "{ this is not a notebook"


CASES = [
    Case("solved", 8, lambda released, source, where: _solved(released, source)),
    Case("partial", 3, lambda released, source, where: solve(released, source, ["ex1"])),
    Case("untouched", 0, lambda released, source, where: nbformat.from_dict(released)),
    Case("deletes-others", 8, _attack(DELETE_OTHERS), ("403",)),
    Case("reads-kube-system-secrets", 8, _attack(SECRETS), ("403",)),
    Case("creates-cluster-objects", 8, _attack(CLUSTER_OBJECTS), ("403",)),
    Case("loops-forever", 3, _loop_forever),
    Case("kills-its-kernel", 3, _kill_kernel),
    Case("prints-megabytes", 8, _attack('print("x" * 8_000_000)')),
    Case("exhausts-quota", 8, _attack(QUOTA), ("403",)),
    Case("deletes-own-namespace", 8, _attack(OWN_NAMESPACE), ("403",)),
    Case("reads-grader-files", 8, _attack(GRADER_FILES), (*REFUSED, "ProcessLookupError")),
    Case("reads-the-machine", 8, _attack(MACHINE), REFUSED),
    Case("tampers-with-checks", 0, _tamper),
    Case("edits-cell-metadata", 6, _edit_cell_metadata),
    Case("borrows-namespace", 0, _borrow_namespace),
    Case("not-json", 0, _not_json),
]
