"""The class grader on the sim cluster: sandboxes, RBAC, and a class of honest and hostile submissions.

One class is graded once (the ``graded`` fixture) with every case of ``classroom_cases``: three honest
submissions and one per attack. Each test then checks one thing about that run: the grade of a
case, that its attacks were refused by the API server or the jail, that a bystander's work is intact,
and that the honest grades equal plain ``nbgrader autograde``'s. Gradings that share nothing with that
class (plain nbgrader's, and a class with a short limit per submission) run beside it, in the background.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from course._chapters import load_chapter
from course._resetting import CLASSROOM_KINDS, prepare_namespace
from course.classroom._kernels import (
    PORTS_PER_KERNEL,
    KernelPlan,
    SandboxedKernelManager,
    install_plan,
    reserved_port_blocks,
)
from course.classroom._objects import sandbox_objects, volume_binding
from course.classroom.grader import ClassReport, grade_class, submitted_students
from course.classroom.roster import CLASSROOM_NAMESPACE, RosterError, Student, read_roster, students_from
from course.classroom.samples import source_and_released, write_submission
from course.classroom.sandboxes import create_sandboxes, delete_sandboxes

from .background import Ahead, ahead
from .classroom_cases import CASES, CHAPTER, SLEEPS_FOREVER, Case
from .conftest import copy_of_course
from .processes import wait_until_gone

BYSTANDER = Student("bystander")


def _nbgrader(root: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=root, check=True, capture_output=True, stdin=subprocess.DEVNULL
    )


def _submit(root: Path, student: str, case: Case, where: dict[str, str]) -> None:
    source, released = source_and_released(root, CHAPTER)
    write_submission(root, CHAPTER, student, case.build(released, source, where))


def _as(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def _admin() -> client.CoreV1Api:
    from course._client import api_client

    return client.CoreV1Api(api_client())


def _etcd_port() -> str:
    from course._paths import state_dir

    documents = yaml.safe_load_all((state_dir() / "kwok" / "clusters" / "course" / "kwok.yaml").read_text())
    kwok = next(document for document in documents if document and document.get("kind") == "KwokctlConfiguration")
    etcd = next(component for component in kwok["components"] if component["name"] == "etcd")
    return str(next(port["port"] for port in etcd["ports"] if port["name"] == "http"))


# -- the roster: no cluster needed --------------------------------------------------------------
def test_roster_reads_nbgrader_csv_and_plain_lists(tmp_path: Path) -> None:
    (tmp_path / "nbgrader.csv").write_text("id,first_name,last_name,email\nKim_Min-ji,Min-ji,Kim,\nada,Ada,L,\n")
    (tmp_path / "plain.csv").write_text("ada\nbob\n\nada\n")
    assert [s.id for s in read_roster(tmp_path / "nbgrader.csv")] == ["Kim_Min-ji", "ada"]
    assert [s.id for s in read_roster(tmp_path / "plain.csv")] == ["ada", "bob"]
    assert Student("kim-min-ji").namespace(CHAPTER) == "kim-min-ji-00-setup"


def test_roster_refuses_unusable_ids_all_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("id\n../../etc/evil\n...\nada\n")
    with pytest.raises(RosterError) as refused:
        read_roster(tmp_path / "roster.csv")
    assert "'../../etc/evil': it contains a /" in str(refused.value) and "'...': it has no letter" in str(refused.value)
    monkeypatch.setattr("course.classroom.roster.student_label", lambda student_id: "same")  # a hash collision
    with pytest.raises(RosterError, match="share the namespace prefix 'same'"):
        students_from(["Kim.Min", "kim-min"])


ODD_IDS = [
    "ada",
    "Ada",
    "ADA",
    "Kim Min-ji",
    "kim.min-ji",
    "kim-min-ji",
    "Kim_Min-Ji",
    "ada.lovelace",
    "x" * 70,
    "x" * 69 + "y",
    "김민지",
    "Zoë",
    "../ada",
    "../../etc",
    "-ada-",
    "a--b",
]


def test_every_caller_names_a_namespace_the_same_safe_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """course.connect, nbgrader's ChapterSandbox, the class grader and class sandbox agree, and no two
    ids (nor two chapters of one id) share a namespace."""
    from course import _session
    from course._chapters import chapter_ids
    from course.nbgrader_glue import ChapterSandbox, sandbox_namespace

    dns_label = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
    dns_subdomain = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
    monkeypatch.delenv("K8S_COURSE_NAMESPACE", raising=False)
    monkeypatch.setenv("K8S_COURSE_FRESH", "0")  # ChapterSandbox sets it: restored after the test
    chapters = chapter_ids()
    assert not [(a, b) for a in chapters for b in chapters if a != b and b.endswith(f"-{a}")], "ambiguous ids"
    seen: dict[str, tuple[str, str]] = {}
    for student_id in ODD_IDS:
        for chapter in chapters:
            monkeypatch.setenv("K8S_COURSE_LEARNER", student_id)
            connected = _session.namespace_for(chapter)
            grading = {"nbgrader": {"student": student_id, "assignment": chapter}}
            ChapterSandbox().preprocess(nbformat.v4.new_notebook(), grading)  # nbgrader autograde's
            autograded = os.environ.pop("K8S_COURSE_NAMESPACE")
            student = Student(student_id)
            names = {connected, autograded, sandbox_namespace(student_id, chapter), student.namespace(chapter)}
            assert len(names) == 1, (student_id, chapter, names)
            namespace = names.pop()
            assert dns_label.fullmatch(namespace), namespace
            assert dns_subdomain.fullmatch(f"{namespace}-pv")  # the student's volume, as the policy names it
            # persistent-volumes.yaml computes the namespaces as <service account minus learner->-<chapter>
            assert f"{student.service_account.removeprefix('learner-')}-{chapter}" == namespace
            assert seen.setdefault(namespace, (student_id, chapter)) == (student_id, chapter), "shared"
            assert "/" not in student.file_name and student.file_name not in (".", "..")
    monkeypatch.setenv("K8S_COURSE_NAMESPACE", "chosen")
    assert _session.namespace_for(chapters[0]) == "chosen"  # the override still wins


# -- sandboxes and RBAC -------------------------------------------------------------------------
def _sandbox_objects(student: Student) -> dict[str, str]:
    """Every object of a student's sandbox, by kind/name, with its resourceVersion."""
    core, rbac = _admin(), client.RbacAuthorizationV1Api(_admin().api_client)
    namespace = student.namespace(CHAPTER)
    found = {f"Namespace/{namespace}": core.read_namespace(namespace).metadata.resource_version}
    for kind, items in (
        ("RoleBinding", rbac.list_namespaced_role_binding(namespace).items),
        ("ResourceQuota", core.list_namespaced_resource_quota(namespace).items),
        ("LimitRange", core.list_namespaced_limit_range(namespace).items),
    ):
        found.update({f"{kind}/{item.metadata.name}": item.metadata.resource_version for item in items})
    account = core.read_namespaced_service_account(student.service_account, CLASSROOM_NAMESPACE)
    found[f"ServiceAccount/{student.service_account}"] = account.metadata.resource_version
    binding = rbac.read_cluster_role_binding(volume_binding(student))
    found[f"ClusterRoleBinding/{binding.metadata.name}"] = binding.metadata.resource_version
    return found


@pytest.mark.usefixtures("sim_cluster")
def test_sandbox_creation_is_idempotent(tmp_path: Path) -> None:
    students = students_from(["idem-a", "idem-b"])
    first = create_sandboxes(students, [CHAPTER], tmp_path)
    before = {s.id: _sandbox_objects(s) for s in students}
    again = create_sandboxes(students, [CHAPTER], tmp_path)
    assert sorted(first.created_namespaces) == ["idem-a-00-setup", "idem-b-00-setup"]
    assert again.created_namespaces == []
    assert {s.id: _sandbox_objects(s) for s in students} == before  # not one object was rewritten
    assert len(before["idem-a"]) == 7  # namespace, 2 RoleBindings, quota, limits, ServiceAccount, volume rights


@pytest.mark.usefixtures("sim_cluster")
def test_only_changed_sandboxes_are_applied_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """class grade checks every sandbox with a few list requests and applies only what differs."""
    from course.classroom import sandboxes

    students = students_from(["ensure-a", "ensure-b"])
    create_sandboxes(students, [CHAPTER])
    applied: list[list[str]] = []

    def create(chosen: list[Student], chapters: list[str]) -> sandboxes.SandboxReport:
        applied.append([student.id for student in chosen])
        return create_sandboxes(chosen, chapters)

    monkeypatch.setattr(sandboxes, "create_sandboxes", create)
    assert sandboxes.ensure_sandboxes(students, CHAPTER).failed == {}
    assert applied == []  # what the API server defaults (a LimitRange's default) is no difference
    namespace = students[1].namespace(CHAPTER)
    _admin().delete_namespaced_limit_range("k8s-course-limits", namespace)
    sandboxes.ensure_sandboxes(students, CHAPTER)
    assert applied == [["ensure-b"]]
    _admin().read_namespaced_limit_range("k8s-course-limits", namespace)
    # A sandbox still being deleted (the class removed a moment ago) is made again once it is gone.
    _admin().delete_namespace(namespace)
    assert _admin().read_namespace(namespace).status.phase == "Terminating"
    assert sandboxes.ensure_sandboxes(students, CHAPTER).failed == {}
    assert applied == [["ensure-b"], ["ensure-b"]]
    assert _admin().read_namespace(namespace).status.phase == "Active"
    _admin().read_namespaced_limit_range("k8s-course-limits", namespace)
    delete_sandboxes(students)


DENIED: list[tuple[str, str, str, str]] = [
    # (namespace, verb, group/resource[/subresource], why)
    ("other-00-setup", "list", "/pods", "another student's Pods"),
    ("other-00-setup", "delete", "/pods", "another student's Pods"),
    ("other-00-setup", "create", "apps/deployments", "another student's namespace"),
    ("other-00-setup", "get", "/secrets", "another student's Secrets"),
    ("kube-system", "list", "/secrets", "the cluster's Secrets"),
    ("kube-system", "list", "/pods", "kube-system"),
    ("default", "create", "/pods", "the default namespace"),
    (CLASSROOM_NAMESPACE, "create", "/serviceaccounts/token", "tokens of other identities"),
    (CLASSROOM_NAMESPACE, "delete", "/serviceaccounts", "identities"),
    ("", "create", "/namespaces", "new namespaces"),
    ("", "create", "rbac.authorization.k8s.io/clusterroles", "cluster roles"),
    ("", "create", "rbac.authorization.k8s.io/clusterrolebindings", "cluster role bindings"),
    ("", "deletecollection", "/persistentvolumes", "PersistentVolumes, all at once"),
    ("", "delete", "/nodes", "Nodes"),
    ("", "create", "apiextensions.k8s.io/customresourcedefinitions", "CRDs"),
    ("mine-00-setup", "delete", "/namespaces", "its own namespace"),
    ("mine-00-setup", "update", "/resourcequotas", "its own quota"),
    ("mine-00-setup", "delete", "/limitranges", "its own limits"),
    ("mine-00-setup", "create", "rbac.authorization.k8s.io/rolebindings", "RBAC in its namespace"),
]
ALLOWED = [
    ("mine-00-setup", "create", "/pods"),
    ("mine-00-setup", "delete", "/secrets"),
    ("mine-00-setup", "create", "apps/deployments"),
    ("", "list", "/nodes"),
    ("kube-system", "list", "coordination.k8s.io/leases"),
]


def _review(api: client.ApiClient, namespace: str, verb: str, what: str) -> bool:
    group, resource = what.split("/", 1)
    resource, _, subresource = resource.partition("/")
    attributes = client.V1ResourceAttributes(
        namespace=namespace or None, verb=verb, group=group, resource=resource, subresource=subresource or None
    )
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))
    return bool(client.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed)


@pytest.mark.usefixtures("sim_cluster")
def test_student_kubeconfig_is_refused_outside_its_namespace(tmp_path: Path) -> None:
    mine, other = students_from(["mine", "other"])
    report = create_sandboxes([mine, other], [CHAPTER], tmp_path)
    api = _as(report.kubeconfigs["mine"])
    denied = [(ns, verb, what) for ns, verb, what, _ in DENIED if _review(api, ns, verb, what)]
    assert denied == [], "allowed, and should not be"
    assert [entry for entry in ALLOWED if not _review(api, *entry)] == [], "refused, and should be allowed"

    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    others_volume = "other-00-setup-pv"
    _admin().create_persistent_volume(
        _volume(others_volume, "/tmp/k8s-course/other-00-setup", claim_namespace="other-00-setup")
    )
    calls = {
        "list another student's Pods": lambda: core.list_namespaced_pod("other-00-setup"),
        "read kube-system's Secrets": lambda: core.list_namespaced_secret("kube-system"),
        "create a Namespace": lambda: core.create_namespace({"metadata": {"name": "mine-extra"}}),
        "create a PersistentVolume": lambda: core.create_persistent_volume(_volume("mine-pv", "/tmp/k8s-course/mine")),
        "mount a node's / with its own volume": lambda: core.create_persistent_volume(_volume("mine-00-setup-pv", "/")),
        "take another student's volume name": lambda: core.create_persistent_volume(
            _volume("other-00-setup-pv", "/tmp/k8s-course/other-00-setup", claim_namespace="other-00-setup")
        ),
        "delete another student's volume": lambda: core.delete_persistent_volume(others_volume),
        "create a ClusterRole": lambda: rbac.create_cluster_role({"metadata": {"name": "mine-admin"}}),
        "delete its own namespace": lambda: core.delete_namespace("mine-00-setup"),
        "raise its own quota": lambda: core.patch_namespaced_resource_quota(
            "k8s-course-quota", "mine-00-setup", {"spec": {"hard": {"pods": "1000"}}}
        ),
        "mint a token for another student": lambda: core.create_namespaced_service_account_token(
            other.service_account, CLASSROOM_NAMESPACE, {"spec": {"audiences": []}}
        ),
    }
    statuses = {}
    for what, call in calls.items():
        try:
            call()
            statuses[what] = 200
        except ApiException as error:
            statuses[what] = error.status
    assert statuses == dict.fromkeys(calls, 403)
    pod = {"metadata": {"name": "mine"}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}
    assert core.create_namespaced_pod("mine-00-setup", pod).metadata.name == "mine"  # its own namespace works
    own = core.create_persistent_volume(_volume("mine-00-setup-pv", "/tmp/k8s-course/mine-00-setup"))
    assert own.spec.claim_ref.namespace == "mine-00-setup"  # and so does the one volume it may make
    delete_sandboxes([mine, other])
    assert [v.metadata.name for v in _admin().list_persistent_volume().items if "-00-setup-pv" in v.metadata.name] == []


@pytest.mark.usefixtures("sim_cluster")
def test_long_and_odd_ids_get_namespaces_volumes_and_files_of_their_own(tmp_path: Path) -> None:
    """A 70-character id gets one namespace per chapter, and may create each one's volume (the admission
    policy computes the same names); an id holding ../ writes nothing outside the kubeconfig folder."""
    long_id, chapters = "Student.With.A.Rather.Long.Name." + "x" * 38, [CHAPTER, "06-storage"]
    student, escape = Student(long_id), Student("../escaped")  # the roster refuses the latter; still safe
    namespaces = [student.namespace(chapter) for chapter in chapters]
    assert len(set(namespaces)) == len(chapters) and max(map(len, namespaces)) <= 63, namespaces
    folder = tmp_path / "kubeconfigs"
    report = create_sandboxes([student, escape], chapters, folder)
    assert list(tmp_path.iterdir()) == [folder] and {path.parent for path in report.kubeconfigs.values()} == {folder}
    assert report.failed == {}
    assert (folder / "index.csv").read_text().splitlines() == [
        "student,kubeconfig",
        f"../escaped,{escape.file_name}.kubeconfig",
        f"{long_id},{student.file_name}.kubeconfig",
    ]
    core = client.CoreV1Api(_as(report.kubeconfigs[long_id]))
    for namespace in namespaces:
        volume = _volume(f"{namespace}-pv", f"/tmp/k8s-course/{namespace}", claim_namespace=namespace)
        assert core.create_persistent_volume(volume).metadata.name == f"{namespace}-pv"
    delete_sandboxes([student, escape])


@pytest.mark.usefixtures("sim_cluster")
def test_a_reset_with_admin_rights_leaves_the_sandbox_alone() -> None:
    """Plain nbgrader autograde on a classroom cluster resets with the instructor's rights: the
    learner's objects go, labelled as the classroom's or not; the quota, limits and bindings stay."""
    student = Student("reset-by-admin")
    assert {m["kind"] for m in sandbox_objects(student, CHAPTER)} - {"Namespace"} == set(CLASSROOM_KINDS)
    create_sandboxes([student], [CHAPTER])
    core, namespace, before = _admin(), student.namespace(CHAPTER), _sandbox_objects(student)
    disguised = {"metadata": {"name": "disguised", "labels": {"k8s-course/classroom": "sandbox"}}}
    core.create_namespaced_config_map(namespace, disguised)
    prepare_namespace(load_chapter(CHAPTER), namespace, fresh=True)
    assert _sandbox_objects(student).keys() == before.keys()  # the quota's status changes; nothing goes
    assert "disguised" not in [item.metadata.name for item in core.list_namespaced_config_map(namespace).items]
    delete_sandboxes([student])


def _volume(name: str, path: str, claim_namespace: str = "mine-00-setup") -> dict[str, Any]:
    """A PersistentVolume as chapter 06 has a learner write it, reserved for the claim ``notes``."""
    return {
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "manual",
            "hostPath": {"path": path},
            "claimRef": {"namespace": claim_namespace, "name": "notes"},
        },
    }


# -- one class, graded once ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def bystander(sim_cluster: Path) -> dict[str, str]:
    """A student who is not graded now, whose namespace holds the Pods the checks look for."""
    create_sandboxes([BYSTANDER], [CHAPTER])
    core, namespace = _admin(), BYSTANDER.namespace(CHAPTER)
    uids = {}
    for name, labels, image in (
        ("hello", {"app": "hello"}, "nginx:1.27"),
        ("greeter", {"app": "greeter", "tier": "demo"}, "busybox:1.36"),
    ):
        pod = {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": name, "image": image}]}}
        try:
            uids[name] = core.create_namespaced_pod(namespace, pod).metadata.uid
        except ApiException:
            uids[name] = core.read_namespaced_pod(name, namespace).metadata.uid
    return uids


HONEST = [case for case in CASES if case.name in ("solved", "partial", "untouched")]
TAMPERER = next(case for case in CASES if case.name == "tampers-with-checks")


def _graded_by_plain_nbgrader(root: Path) -> dict[str, dict[str, float]]:
    """The honest cases and the tamperer, graded one after another by ``nbgrader autograde``; their cells' points."""
    for case in [*HONEST, TAMPERER]:
        _submit(root, f"serial-{case.name}", case, {})
    _nbgrader(root, "autograde", CHAPTER)
    return _cell_scores(root)


def _graded_with_a_short_limit(root: Path) -> ClassReport:
    """A class of a submission that never ends and one that is solved, with a 45 s limit per submission
    (room for the solved one on two busy cores); the report."""
    for name, case in (("stuck", SLEEPS_FOREVER), ("finished", CASES[0])):
        _submit(root, name, case, {})
    return grade_class(CHAPTER, root, workers=2, cell_timeout=120, timeout=45, feedback=False, export=False)


BESIDE_THE_CLASS: dict[str, Callable[[Path], Any]] = {
    "test_class_grades_equal_plain_nbgrader": _graded_by_plain_nbgrader,
    "test_a_submission_that_outlives_its_timeout_is_ended_and_the_class_goes_on": _graded_with_a_short_limit,
}
"""Gradings that share nothing with the class of :func:`graded` (a course root, students and namespaces of
their own), each for the test it is named after."""


@pytest.fixture(scope="module")
def beside_the_class(
    sim_cluster: Path,
    full_jail: None,
    released_course: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Ahead[str, Any]]:
    """:data:`BESIDE_THE_CLASS`'s gradings of the tests this session runs, in the background from the start
    of :func:`graded`'s: they mostly wait (on a kernel that sleeps, on one submission at a time)."""

    def grade(test: str) -> Any:
        return BESIDE_THE_CLASS[test](copy_of_course(released_course, tmp_path_factory.mktemp("beside")))

    tests = [item.name for item in request.session.items if item.name in BESIDE_THE_CLASS]
    with ahead(tests, grade, ahead=None) as gradings:
        gradings.start()
        yield gradings


@pytest.fixture(scope="module")
def graded(
    sim_cluster: Path,
    full_jail: None,
    bystander: dict[str, str],
    beside_the_class: Ahead[str, Any],
    released_course: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> ClassReport:
    import os

    root = copy_of_course(released_course, tmp_path_factory.mktemp("class"))
    where = {
        "bystander": BYSTANDER.namespace(CHAPTER),
        "admin_kubeconfig": str(sim_cluster),
        "gradebook": str(root / "gradebook.db"),
        "etcd_port": _etcd_port(),
        "grader_pid": str(os.getpid()),
    }
    for case in CASES:
        _submit(root, case.name, case, where)
    return grade_class(CHAPTER, root, workers=6, cell_timeout=15, timeout=240)


def _root(report: ClassReport) -> Path:
    return report.run_dir.parent.parent.parent


def _attacks(report: ClassReport, student: str) -> list[str]:
    notebook = nbformat.read(_root(report) / "autograded" / student / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    return [line for line in text.splitlines() if line.startswith("ATTACK ")]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_submission_is_graded_correctly(graded: ClassReport, case: Case) -> None:
    result = graded.by_student()[case.name]
    assert result.score == case.points, (result.status, result.detail)
    assert result.status == ("invalid" if case.name == "not-json" else "graded"), result.detail
    if case.refused_with:
        attacks = _attacks(graded, case.name)
        assert attacks, "the attack did not run"
        assert [a for a in attacks if not a.endswith(case.refused_with)] == []


def test_no_attack_changed_anything_outside_its_namespace(graded: ClassReport, bystander: dict[str, str]) -> None:
    core = _admin()
    namespace = BYSTANDER.namespace(CHAPTER)
    pods = {pod.metadata.name: pod for pod in core.list_namespaced_pod(namespace).items}
    assert {name: pod.metadata.uid for name, pod in pods.items()} == bystander
    assert "owned" not in (pods["hello"].metadata.labels or {})
    rbac = client.RbacAuthorizationV1Api(core.api_client)
    for read in (
        lambda: core.read_namespace("cheat"),
        lambda: rbac.read_cluster_role("cheat"),
        lambda: rbac.read_cluster_role_binding("cheat"),
        lambda: core.read_persistent_volume("cheat"),
    ):
        with pytest.raises(ApiException) as missing:
            read()
        assert missing.value.status == 404
    for case in CASES:  # every graded namespace is still there, with its quota
        core.read_namespaced_resource_quota("k8s-course-quota", Student(case.name).namespace(CHAPTER))


def test_a_cell_printing_megabytes_is_cut_short(graded: ClassReport) -> None:
    autograded = _root(graded) / "autograded" / "prints-megabytes" / CHAPTER / f"{CHAPTER}.ipynb"
    assert autograded.stat().st_size < 2_000_000


def test_grading_tokens_die_with_the_run(graded: ClassReport) -> None:
    kubeconfig = graded.run_dir / "jobs" / "solved" / "kernel" / "kubeconfig"
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(_as(kubeconfig)).list_namespaced_pod(Student("solved").namespace(CHAPTER))
    assert refused.value.status == 401


def test_feedback_gradebook_and_csv_are_written(graded: ClassReport) -> None:
    root = _root(graded)
    assert (root / "feedback" / "solved" / CHAPTER / f"{CHAPTER}.html").is_file()
    rows = graded.report_csv.read_text().splitlines()
    assert rows[0] == "student,namespace,status,score,max_score,seconds,detail" and len(rows) == len(CASES) + 1
    assert graded.export_csv is not None and "solved" in graded.export_csv.read_text()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submissions = {case.name: gradebook.find_submission(CHAPTER, case.name) for case in CASES}
        scores = {name: submission.score for name, submission in submissions.items()}
        flagged = {name for name, submission in submissions.items() if submission.needs_manual_grade}
    assert scores == {case.name: case.points for case in CASES}
    assert flagged == {"not-json"}  # only what could not be graded waits for a human


def _cell_scores(root: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        return {
            submission.student.id: {
                grade.name: float(grade.score) for nb in submission.notebooks for grade in nb.grades
            }
            for submission in gradebook.find_assignment(CHAPTER).submissions
        }


def test_class_grades_equal_plain_nbgrader(graded: ClassReport, beside_the_class: Ahead[str, Any]) -> None:
    """Honest work earns exactly what ``nbgrader autograde`` gives it; the tamperer fools only nbgrader."""
    serial = beside_the_class.result("test_class_grades_equal_plain_nbgrader")
    parallel = _cell_scores(_root(graded))
    assert {case.name: serial[f"serial-{case.name}"] for case in HONEST} == {c.name: parallel[c.name] for c in HONEST}
    assert sum(serial["serial-tampers-with-checks"].values()) > 0 == sum(parallel["tampers-with-checks"].values())


def test_the_kernel_was_jailed(graded: ClassReport) -> None:
    result: Any = graded.by_student()["solved"]
    layers = {"files", "tcp", "no-capabilities", "pid-namespace", "private-root", "tcp-sockets-only"}
    assert layers <= set(result.jail) and {"own-uid", "graders-uid"} & set(result.jail), json.dumps(result.jail)


# -- the jail and the job timeout, each on its own --------------------------------------------
def test_each_worker_slot_starts_its_kernels_on_ports_of_its_own(tmp_path: Path) -> None:
    start = 21000
    with socket.socket() as taken, reserved_port_blocks(1, PORTS_PER_KERNEL, start) as [other_graders]:
        taken.bind(("127.0.0.1", start + PORTS_PER_KERNEL + 1))  # something else holds a port of the next block
        with reserved_port_blocks(3, PORTS_PER_KERNEL, start) as blocks:
            ports = [port for block in blocks for port in block]
            assert len(set(ports)) == 3 * PORTS_PER_KERNEL and max(ports) < 32768
            assert not {taken.getsockname()[1], *other_graders} & set(ports)
    with reserved_port_blocks(1, PORTS_PER_KERNEL, start) as [again]:
        assert again == other_graders  # given back when the class was graded

    plan = KernelPlan(tmp_path, tmp_path / "kubeconfig", [], [], "", "", ports=blocks[1] + blocks[2])
    install_plan(plan)
    try:
        manager = SandboxedKernelManager(kernel_name="python3")
    finally:
        install_plan(None)
    given = [manager.shell_port, manager.iopub_port, manager.stdin_port, manager.hb_port, manager.control_port]
    assert given == blocks[1] and not manager.cache_ports  # the first kernel: the job's first five


def test_the_jail_lets_a_process_read_python_but_not_the_graders_files(tmp_path: Path) -> None:
    from course.classroom._jail import JailPolicy, landlock_available, system_read_paths

    if landlock_available() < 1:
        pytest.skip("this kernel has no Landlock")
    secret, work = tmp_path / "admin.kubeconfig", tmp_path / "work"
    secret.write_text("client-key-data: ...")
    work.mkdir()
    policy = JailPolicy(cwd=str(work), env={"PATH": "/usr/bin:/bin"}, read=system_read_paths(), write=[str(work)])
    code = f"import json; open('mine', 'w').write('ok'); open({str(secret)!r}).read()"
    jailed = [sys.executable, "-m", "course.classroom._jail", str(policy.dump(tmp_path / "policy.json")), "--"]
    result = subprocess.run([*jailed, sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "PermissionError" in result.stderr or "FileNotFoundError" in result.stderr  # fenced, or not in its root
    assert (work / "mine").read_text() == "ok"


def test_a_jailed_process_dies_with_its_waiter(tmp_path: Path) -> None:
    """A grading job killed outright (out of memory, SIGKILL) must not leave its kernel running."""
    from course.classroom._jail import JailPolicy, system_read_paths

    policy = JailPolicy(cwd=str(tmp_path), env={}, read=system_read_paths(), require_landlock=False)
    jailed = [sys.executable, "-m", "course.classroom._jail", str(policy.dump(tmp_path / "policy.json")), "--"]
    sleeper = [sys.executable, "-c", "print('jailed', flush=True); import time; time.sleep(600)", str(tmp_path)]
    waiter = subprocess.Popen([*jailed, *sleeper], stdout=subprocess.PIPE, text=True)
    try:
        assert waiter.stdout is not None and waiter.stdout.readline() == "jailed\n"
        inside = Path(f"/proc/{waiter.pid}/task/{waiter.pid}/children").read_text().split()
        if not inside:
            pytest.skip("no PID namespace here: the jail runs the command itself, without a waiter")
    finally:
        waiter.kill()
        waiter.wait(timeout=10)
    left = wait_until_gone(tmp_path, timeout=10)
    for pid in inside if left else []:  # should the test fail, it leaves nothing running either
        os.kill(int(pid), signal.SIGKILL)
    assert left == [], "the jailed process outlived its waiter"


def test_a_submission_that_outlives_its_timeout_is_ended_and_the_class_goes_on(
    beside_the_class: Ahead[str, Any],
) -> None:
    report = beside_the_class.result("test_a_submission_that_outlives_its_timeout_is_ended_and_the_class_goes_on")
    results = report.by_student()
    assert (results["stuck"].status, results["stuck"].score) == ("timeout", 0)
    assert (results["finished"].status, results["finished"].score) == ("graded", 8)
    left = [pid for pid in Path("/proc").iterdir() if pid.name.isdigit() and _cwd_in(pid, report.run_dir)]
    assert left == [], "processes of the run are still alive"


@pytest.mark.usefixtures("sim_cluster", "full_jail")
def test_unusable_submissions_are_rows_and_stripped_sandboxes_are_repaired(
    released_course: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Ids differing only by case and punctuation, an unreadable folder, an unknown id and an id that
    is no folder name: the class is graded, each of those gets an error row, and a sandbox a reset
    with admin rights stripped is applied again before its student is graded."""
    root = copy_of_course(released_course, tmp_path_factory.mktemp("unusable"))
    for name in ("Kim.Min", "kim-min"):
        _submit(root, name, CASES[0], {})
    locked = root / "submitted" / "locked" / CHAPTER
    locked.parent.mkdir(parents=True)
    locked.symlink_to(locked)  # unreadable even to root, who reads any folder whatever its mode
    stripped = Student("kim-min")
    create_sandboxes([stripped], [CHAPTER])
    namespace, rbac = stripped.namespace(CHAPTER), client.RbacAuthorizationV1Api(_admin().api_client)
    _admin().delete_namespaced_resource_quota("k8s-course-quota", namespace)
    rbac.delete_namespaced_role_binding("k8s-course-learner", namespace)
    submitted = submitted_students(root, CHAPTER)
    assert submitted == ["Kim.Min", "kim-min", "locked"]
    ids = [*submitted, "nobody", "../escape"]
    report = grade_class(CHAPTER, root, workers=2, cell_timeout=60, timeout=240, students=ids, export=False)
    with report.report_csv.open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert {student: (row["status"], float(row["score"])) for student, row in rows.items()} == {
        "Kim.Min": ("graded", 8),
        "kim-min": ("graded", 8),  # with the learner's RoleBinding back: its reset and its cells worked
        "locked": ("error", 0),
        "nobody": ("error", 0),
        "../escape": ("error", 0),
    }
    assert (
        rows["kim-min"]["namespace"]
        == namespace
        != rows["Kim.Min"]["namespace"]
        == Student("Kim.Min").namespace(CHAPTER)
    )
    assert "cannot read" in rows["locked"]["detail"] and "no submission" in rows["nobody"]["detail"]
    assert "contains a /" in rows["../escape"]["detail"] and rows["../escape"]["namespace"] == ""
    _admin().read_namespaced_resource_quota("k8s-course-quota", namespace)
    rbac.read_namespaced_role_binding("k8s-course-learner", namespace)


def _cwd_in(process: Path, folder: Path) -> bool:
    try:
        return Path(process / "cwd").resolve().is_relative_to(folder)
    except OSError:
        return False


@pytest.mark.usefixtures("sim_cluster")
def test_a_revocation_that_fails_is_reported_and_sandbox_revoke_exits_non_zero(tmp_path: Path) -> None:
    """Only "already gone" (404) counts as revoked; any other refusal is named, and the command fails."""
    from course.classroom._tokens import revoke

    revoker, revoked = students_from(["revoker", "revoked"])
    report = create_sandboxes([revoker, revoked], [CHAPTER], tmp_path)
    revoke(_admin(), revoked.session_secret)
    revoke(_admin(), revoked.session_secret)  # gone already: nothing to report
    roster = tmp_path / "roster.csv"
    roster.write_text("revoker\n")
    # A student's kubeconfig may not delete the classroom's Secrets: the revocation is refused (403).
    env = {**os.environ, "K8S_COURSE_KUBECONFIG": str(report.kubeconfigs["revoker"])}
    result = subprocess.run(
        [sys.executable, "-m", "course", "class", "sandbox", "revoke", "--roster", str(roster)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "ERROR: 1 of 1 students' kubeconfigs still work" in result.stderr
    assert "revoker: Could not revoke the tokens bound to Secret" in result.stderr and "403" in result.stderr
    assert "Traceback" not in result.stderr
    still = client.CoreV1Api(_as(report.kubeconfigs["revoker"]))
    assert still.list_namespaced_pod("revoker-00-setup").items == [], "the refused revocation changed nothing"


def test_another_users_lock_files_are_reused_where_the_kernel_protects_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: with ``fs.protected_regular`` (Debian's default), opening another user's file in a sticky
    folder with O_CREAT fails even for root. Here the kernel's rule is played by ``os.open``."""
    import tempfile

    shared = tmp_path / "tmp"
    shared.mkdir(mode=0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    with reserved_port_blocks(1, PORTS_PER_KERNEL, 23000):
        pass  # the first grader of the day creates the lock files
    real_open = os.open

    def protected_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_CREAT and not flags & os.O_EXCL and os.path.exists(path):
            raise PermissionError(13, "Permission denied (fs.protected_regular)", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", protected_open)
    with reserved_port_blocks(2, PORTS_PER_KERNEL, 23000) as blocks:  # the next grader, another user
        assert blocks[0][0] == 23000 and len(blocks) == 2
