"""Create, check and remove the students' sandboxes on the shared cluster (admin rights needed).

``create_sandboxes`` is idempotent: every object is written with server-side apply, so running it
again (after adding students to the roster, or a chapter) creates what is missing and changes
nothing else; a chapter namespace that is new also gets the chapter's starting state, exactly as
``course.connect`` would have made it. With ``kubeconfig_dir`` each student also gets a kubeconfig
with a fresh token (hand it to them: on JupyterHub, point ``K8S_COURSE_KUBECONFIG`` at it); with
``secrets_namespace`` instead, that kubeconfig goes into a Secret there, for a hub on Kubernetes
(Zero to JupyterHub) to mount into the student's server (``cluster-setup/z2jh/README.md``).

>>> students = read_roster(Path("roster.csv"))                      # doctest: +SKIP
>>> create_sandboxes(students, ["00-setup"], Path("classroom/kubeconfigs"))   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from course._applying import apply
from course._chapters import load_chapter
from course._client import api_client
from course._errors import CourseError
from course._resetting import namespace_exists
from course.backends import simulated as is_simulated
from course.checks import field as field_of
from course.checks import quantity
from course.classroom._objects import (
    CHAPTER_LABEL,
    CLUSTER_READER,
    GRADER_ROLE,
    LABEL,
    LEASE_READER,
    STUDENT_LABEL,
    STUDENT_VOLUMES,
    VOLUME_POLICY,
    identity_objects,
    kubeconfig_secret,
    sandbox_objects,
    sandbox_settings,
    shared_objects,
    volume_binding,
)
from course.classroom._tokens import (
    RevocationFailed,
    binding_secret,
    cluster_entry,
    kubeconfig_text,
    request_token,
    revoke,
    write_kubeconfig,
)
from course.classroom.roster import CLASSROOM_NAMESPACE, Student

T = TypeVar("T")
_PARALLEL = 8
"""Students prepared at once: API requests overlap, the API server does the work."""


@dataclass
class SandboxReport:
    """What ``create_sandboxes`` did: new namespaces, the kubeconfigs it wrote (as files, or as Secrets:
    ``namespace/name``), the students it could not prepare (id: why)."""

    created_namespaces: list[str] = field(default_factory=list)
    kubeconfigs: dict[str, Path] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def _each(function: Callable[[Student], T], students: Iterable[Student]) -> list[T]:
    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        return list(pool.map(function, students))


def _core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def _namespace_exists(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name)
        return True
    except ApiException as error:
        if error.status == 404:
            return False
        raise


def ensure_classroom() -> None:
    """The objects every sandbox and the grader share: the classroom namespace, the grader's identity,
    the shared roles and the PersistentVolume policy (in force before any student may write volumes)."""
    namespace_exists(CLASSROOM_NAMESPACE)  # one being deleted (a classroom just removed) is waited out
    apply(shared_objects(), CLASSROOM_NAMESPACE)
    wait_for_volume_policy()


def create_sandboxes(
    students: list[Student],
    chapters: list[str],
    kubeconfig_dir: Path | None = None,
    token_days: float = 30.0,
    secrets_namespace: str | None = None,
    server: str | None = None,
) -> SandboxReport:
    """Create (or complete, or repair) every student's sandbox for ``chapters``; optionally hand out kubeconfigs.

    Kubeconfigs go to files in ``kubeconfig_dir``, or, with ``secrets_namespace``, to one Secret per
    student there (:attr:`Student.kubeconfig_secret`, key ``kubeconfig``), replaced on every run. They
    name the API server at ``server`` when given (where the students' servers reach it, such as
    ``https://kubernetes.default.svc`` from a Pod), else where the admin kubeconfig does.

    A student whose sandbox cannot be made is listed in the report's ``failed``; the others go on.
    Applying an existing, unchanged sandbox again costs one request per object and rewrites nothing.
    """
    report = SandboxReport()
    loaded = [load_chapter(chapter) for chapter in chapters]
    core = _core()
    if secrets_namespace and not _namespace_exists(core, secrets_namespace):
        raise CourseError(
            f"There is no namespace {secrets_namespace} for the kubeconfig Secrets: name the hub's"
            " (helm install --namespace ...), or create it first."
        )
    ensure_classroom()
    handing_out = kubeconfig_dir is not None or secrets_namespace is not None
    cluster = {**cluster_entry(), **({"server": server} if server else {})} if handing_out else {}

    def prepare(student: Student) -> tuple[list[str], Path | str | None]:
        apply(identity_objects(student), CLASSROOM_NAMESPACE)
        created = []
        for chapter in loaded:
            namespace = student.namespace(chapter.id)
            new = not namespace_exists(namespace)  # one being deleted is waited out, then made again
            apply(sandbox_objects(student, chapter.id), namespace)
            if new:
                created.append(namespace)
                if chapter.starting_state:
                    apply(list(chapter.starting_state), namespace)
        if not handing_out:
            return created, None
        secret = binding_secret(core, student.session_secret, student.label, renew=False)
        token, _ = request_token(core, student.service_account, secret, int(token_days * 86400))
        if secrets_namespace is not None:
            apply([kubeconfig_secret(student, kubeconfig_text(cluster, student.id, token))], secrets_namespace)
            return created, f"{secrets_namespace}/{student.kubeconfig_secret}"
        assert kubeconfig_dir is not None
        path = kubeconfig_dir / f"{student.file_name}.kubeconfig"  # the id itself may hold "../"
        return created, write_kubeconfig(path, cluster, student.id, token)

    def each_student(student: Student) -> tuple[list[str], Path | str | None] | str:
        try:
            return prepare(student)
        except Exception as problem:  # one student's sandbox failing must not stop the class
            return f"{type(problem).__name__}: {problem}"

    for student, outcome in zip(students, _each(each_student, students), strict=True):
        if isinstance(outcome, str):
            report.failed[student.id] = outcome
            continue
        created, handed = outcome
        report.created_namespaces += created
        if isinstance(handed, Path):
            report.kubeconfigs[student.id] = handed
        elif handed is not None:
            report.secrets[student.id] = handed
    if kubeconfig_dir is not None and secrets_namespace is None:
        _write_index(kubeconfig_dir / "index.csv", report.kubeconfigs)
    return report


def _write_index(path: Path, kubeconfigs: dict[str, Path]) -> None:
    """``index.csv`` next to the kubeconfigs: whose each file is (files are named after the student's
    label, not the id, which may hold characters no file name should); earlier runs' rows are kept."""
    rows: dict[str, str] = {}
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            rows = {row["student"]: row["kubeconfig"] for row in csv.DictReader(handle)}
    rows.update({student_id: kubeconfig.name for student_id, kubeconfig in kubeconfigs.items()})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("student", "kubeconfig"))
        writer.writerows(sorted(rows.items()))


def ensure_sandboxes(students: list[Student], chapter: str) -> SandboxReport:
    """Make every student's sandbox for ``chapter`` what :func:`create_sandboxes` makes, quickly.

    Six list requests read what is there (by the classroom's labels); only the students with an
    object missing or changed (a quota deleted by a reset with admin rights, a RoleBinding edited)
    are applied again. A field the live object has and the manifest does not name (the API server's
    defaults, another manager's additions) is no difference, as it is none to server-side apply.
    """
    live = _live_sandbox_objects(chapter)
    stale = [
        student
        for student in students
        if not all(
            _holds(live.get(_key(manifest)), manifest)
            for manifest in (*identity_objects(student), *sandbox_objects(student, chapter))
        )
    ]
    return create_sandboxes(stale, [chapter]) if stale else SandboxReport()


def _key(manifest: dict[str, Any]) -> tuple[str, str, str]:
    metadata = manifest["metadata"]
    return manifest["kind"], metadata.get("namespace", ""), metadata["name"]


def _live_sandbox_objects(chapter: str) -> dict[tuple[str, str, str], Any]:
    """Every object the classroom made for ``chapter``'s sandboxes and every identity, by kind, namespace, name."""
    api = api_client()
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    sandbox, identity = f"{LABEL}=sandbox,{CHAPTER_LABEL}={chapter}", f"{LABEL}=identity"
    listed: dict[str, Any] = {
        "Namespace": core.list_namespace(label_selector=sandbox),
        "RoleBinding": rbac.list_role_binding_for_all_namespaces(label_selector=sandbox),
        "ResourceQuota": core.list_resource_quota_for_all_namespaces(label_selector=sandbox),
        "LimitRange": core.list_limit_range_for_all_namespaces(label_selector=sandbox),
        "ServiceAccount": core.list_namespaced_service_account(CLASSROOM_NAMESPACE, label_selector=identity),
        "ClusterRoleBinding": rbac.list_cluster_role_binding(label_selector=identity),
    }
    found = {}
    for kind, answer in listed.items():
        for item in api.sanitize_for_serialization(answer.items):  # type: ignore[no-untyped-call]
            if kind == "Namespace" and _terminating(item):
                continue  # on its way out: a sandbox to make again, not one that holds
            found[kind, item["metadata"].get("namespace", ""), item["metadata"]["name"]] = item
    return found


def _terminating(namespace: dict[str, Any]) -> bool:
    return bool(field_of(namespace, "status.phase") == "Terminating")


def _holds(live: Any, wanted: Any) -> bool:
    """Whether ``live`` has every field of ``wanted`` with the same value (``kind`` and ``apiVersion``,
    absent from listed items, aside)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(
            key in ("kind", "apiVersion") or _holds(live.get(key), value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(live, list) and len(live) == len(wanted) and all(map(_holds, live, wanted))
    return bool(live == wanted)


def wait_for_volume_policy(timeout: float = 30.0) -> None:
    """Wait until the API server enforces ``persistent-volumes.yaml``'s policy.

    A new ValidatingAdmissionPolicy takes effect a moment after it is stored (the API server loads it
    in the background). So ask, as a student would (a dry run, impersonating a student name with
    every right RBAC could give, so that only the policy can refuse), for a volume no student may
    have, until the policy is the one that refuses it.
    """
    api = client.ApiClient(api_client().configuration)
    api.default_headers["Impersonate-User"] = f"system:serviceaccount:{CLASSROOM_NAMESPACE}:learner-policy-probe"
    api.default_headers["Impersonate-Group"] = "system:masters"
    probe = client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name="k8s-course-policy-probe"),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": "1Gi"},
            access_modes=["ReadWriteOnce"],
            host_path=client.V1HostPathVolumeSource(path="/"),
        ),
    )
    deadline = time.monotonic() + timeout
    with api:
        while True:
            try:
                client.CoreV1Api(api).create_persistent_volume(probe, dry_run="All")
            except ApiException as error:
                if error.status == 403 and VOLUME_POLICY in str(error.body):
                    return
                if error.status != 403:
                    raise
            if time.monotonic() > deadline:
                raise CourseError(
                    f"The API server still does not enforce the policy {VOLUME_POLICY} after {timeout:.0f}s,"
                    " so students could write any PersistentVolume.\n"
                    "  Check that the cluster serves admissionregistration.k8s.io/v1 (Kubernetes 1.30 or newer)."
                )
            time.sleep(0.2)


def revoke_sessions(students: list[Student]) -> None:
    """Invalidate every kubeconfig handed to these students (``create`` with kubeconfigs issues new ones).

    Every student is tried; when any revocation fails, one :class:`RevocationFailed` lists them all.
    """
    core = _core()

    def attempt(student: Student) -> str:
        try:
            revoke(core, student.session_secret)
        except RevocationFailed as problem:
            return f"{student.id}: {problem}"
        return ""

    failures = [failure for failure in _each(attempt, students) if failure]
    if failures:
        listed = "\n".join(f"  - {failure}" for failure in failures)
        raise RevocationFailed(f"{len(failures)} of {len(students)} students' kubeconfigs still work:\n{listed}")


def delete_sandboxes(students: list[Student] | None, chapters: list[str] | None = None) -> list[str]:
    """Delete sandboxes: of ``students`` (all students when None), of ``chapters`` (all when None).

    With neither, the whole classroom goes: identities, shared roles and every student namespace.
    Namespaces are deleted in the background (the namespace controller empties them), and so is the
    PersistentVolume a student made for each (``<namespace>-pv``); the names are returned.
    """
    core = _core()
    selectors = [f"{LABEL}=sandbox"]
    if students is not None:
        selectors = [f"{LABEL}=sandbox,{STUDENT_LABEL}={student.label}" for student in students]
    if chapters is not None:
        selectors = [f"{selector},{CHAPTER_LABEL}={chapter}" for selector in selectors for chapter in chapters]
    doomed = sorted({name for selector in selectors for name in _namespaces(core, selector)})
    _each_name(core.delete_namespace, doomed)
    _each_name(core.delete_persistent_volume, [f"{namespace}-pv" for namespace in doomed])
    if chapters is None:
        rbac = client.RbacAuthorizationV1Api(api_client())
        for student in students or []:
            for secret in (student.session_secret, student.grading_secret):
                revoke(core, secret)
            _ignore_missing(
                partial(core.delete_namespaced_service_account, student.service_account, CLASSROOM_NAMESPACE)
            )
            _ignore_missing(partial(rbac.delete_cluster_role_binding, volume_binding(student)))
    if students is None and chapters is None:
        _delete_shared(core)
        doomed.append(CLASSROOM_NAMESPACE)
    return doomed


def _delete_shared(core: client.CoreV1Api) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client())
    admission = client.AdmissionregistrationV1Api(api_client())
    _ignore_missing(partial(core.delete_namespace, CLASSROOM_NAMESPACE))
    _ignore_missing(partial(rbac.delete_cluster_role_binding, CLUSTER_READER))
    bindings = rbac.list_cluster_role_binding(label_selector=f"{LABEL}=identity").items  # students' volume rights
    _each_name(rbac.delete_cluster_role_binding, [b.metadata.name for b in bindings if b.metadata and b.metadata.name])
    for role in (CLUSTER_READER, GRADER_ROLE, STUDENT_VOLUMES):
        _ignore_missing(partial(rbac.delete_cluster_role, role))
    _ignore_missing(partial(admission.delete_validating_admission_policy_binding, VOLUME_POLICY))
    _ignore_missing(partial(admission.delete_validating_admission_policy, VOLUME_POLICY))
    _ignore_missing(partial(rbac.delete_namespaced_role_binding, LEASE_READER, "kube-system"))
    _ignore_missing(partial(rbac.delete_namespaced_role, LEASE_READER, "kube-system"))


def _namespaces(core: client.CoreV1Api, selector: str) -> list[str]:
    """The names of the namespaces that match a label selector."""
    items = core.list_namespace(label_selector=selector).items
    return [ns.metadata.name for ns in items if ns.metadata and ns.metadata.name]


def _each_name(function: Callable[[str], Any], names: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        list(pool.map(lambda name: _ignore_missing(lambda: function(name)), names))


def _ignore_missing(action: Callable[[], Any]) -> None:
    try:
        action()
    except ApiException as error:
        if error.status != 404:
            raise


SIZED = {"cpu": "requests.cpu", "memory": "requests.memory", "pods": "pods"}
"""The node resources a class is sized by, and the quota entry that bounds each per namespace."""


@dataclass
class ClassFit:
    """Whether a class fits its cluster: each student may hold ``per_student`` (chapters times the sandbox
    quota), the schedulable workers can allocate ``workers`` in all; room for ``room`` students, and
    the class has ``students``. ``enlarged`` names the simulated workers declared larger to fit."""

    students: int
    chapters: int
    per_student: dict[str, Decimal]
    workers: dict[str, Decimal]
    worker_count: int
    enlarged: list[str] = field(default_factory=list)

    @property
    def room(self) -> int:
        return int(min(self.workers[r] // self.per_student[r] if self.per_student[r] else 1 << 30 for r in SIZED))

    def line(self) -> str:
        """One line for the instructor: the room, the class, and what to do when it does not fit."""
        if not self.students:
            return "Capacity: no student has a sandbox on this cluster yet."
        each = ", ".join(_amount(r, self.per_student[r]) for r in SIZED)
        total = ", ".join(_amount(r, self.workers[r]) for r in SIZED)
        room = (
            f"room for {self.room} students at this quota (each may hold {self.chapters} chapters' quota: {each}; "
            f"the {self.worker_count} schedulable workers allocate {total}); this class has {self.students}"
        )
        if self.enlarged:
            return f"Declared the simulated workers {', '.join(self.enlarged)} larger to fit the class: {room}."
        if self.room >= self.students:
            return f"Capacity: {room}."
        return (
            f"WARNING: {room}. A student who fills their quota can keep others' Pods Pending: add workers, lower "
            "the quota in course/classroom/sandbox.yaml, or create fewer chapters at a time (--chapter)."
        )


def _amount(resource: str, value: Decimal) -> str:
    if resource == "memory":
        return f"{value / (1 << 30):.4g}Gi memory"
    return f"{value.normalize():f} {'CPUs' if resource == 'cpu' else 'Pods'}"


def fit_class() -> ClassFit:
    """Check the sizing rule of ``sandbox.yaml`` for the class on the cluster: the students and chapters
    that have sandboxes now (one list request), against the schedulable workers' allocatable resources.

    On the sim cluster, whose workers kwok only simulates, a class that does not fit gets workers
    declared large enough (their capacity costs nothing: only the Pods made use memory); elsewhere the
    cluster is what it is, and :meth:`ClassFit.line` says what to do. That is a warning, not a refusal:
    the rule assumes every student fills every chapter's quota at once, which only an attack does, and
    an instructor may take that risk on a small cluster (a Ready check that then fails for want of room
    says so, and the student's submission can be graded again).
    """
    core = _core()
    sandboxes = [
        (ns.metadata.labels if ns.metadata else None) or {}
        for ns in core.list_namespace(label_selector=f"{LABEL}=sandbox").items
        if not (ns.status and ns.status.phase == "Terminating")  # a deleted sandbox needs no room
    ]
    students = len({labels.get(STUDENT_LABEL) for labels in sandboxes})
    chapters = len({labels.get(CHAPTER_LABEL) for labels in sandboxes})
    quota = sandbox_settings()["quota"]
    per_student = {r: chapters * quantity(quota.get(entry, 0)) for r, entry in SIZED.items()}
    workers = [node for node in _nodes(core) if _schedulable(node)]
    fit = ClassFit(students, chapters, per_student, _allocatable(workers), len(workers))
    simulated = all(is_simulated([node["metadata"]]) for node in workers)  # their capacity is only declared
    if fit.room < students and workers and simulated:
        each = {r: Decimal(math.ceil(students * per_student[r] / len(workers))) for r in SIZED}
        for node in workers:
            declared = {r: f"{max(each[r], _allocatable([node])[r]):f}" for r in SIZED}
            core.patch_node_status(
                node["metadata"]["name"], {"status": {"capacity": declared, "allocatable": declared}}
            )
        names = {node["metadata"]["name"] for node in workers}
        workers = [node for node in _nodes(core) if node["metadata"]["name"] in names]
        fit.workers, fit.enlarged = _allocatable(workers), sorted(names)
    return fit


def _nodes(core: client.CoreV1Api) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = core.api_client.sanitize_for_serialization(core.list_node().items)
    return listed


def _schedulable(node: dict[str, Any]) -> bool:
    """A node the scheduler may place a student's Pod on: not cordoned, no taint that keeps Pods off."""
    taints = field_of(node, "spec.taints") or []
    return not field_of(node, "spec.unschedulable") and not any(
        t.get("effect") in ("NoSchedule", "NoExecute") for t in taints
    )


def _allocatable(nodes: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {r: sum((quantity(field_of(n, f"status.allocatable.{r}") or 0) for n in nodes), Decimal(0)) for r in SIZED}
