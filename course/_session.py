"""``course.connect()``: the first cell of every chapter.

It finds the course cluster, checks that it answers, prepares the learner's namespace for the chapter
and returns a :class:`Cluster`: ready clients of the official ``kubernetes`` package plus the few
helpers every chapter needs (apply, wait, reset, kubectl).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from course import pictures
from course._applying import apply
from course._chapters import Chapter, load_chapter, verdict
from course._client import api_client, dynamic_client, kubeconfig
from course._errors import CourseError, explain_api_error
from course._i18n import tr
from course._manifests import Manifest
from course._naming import namespace_for
from course._notebook_errors import install_notebook_handler
from course._notebook_output import show
from course._priority import yield_to_the_cluster
from course._resetting import prepare_namespace
from course._toolchain import load_toolchain
from course._waiting import Condition, wait_for
from course.backends import Capabilities, capabilities_of, simulated

NOT_RUNNING = (
    "No course cluster is answering.\n"
    "  Start it in a terminal: python -m course cluster up   (or: make lab)\n"
    "  Then run this cell again."
)


def _backend_of(nodes: list[client.V1Node]) -> str:
    """``"sim"`` when kwok simulates any of ``nodes`` (:func:`course.backends.simulated`), else ``"kind"``."""
    return "sim" if simulated({"annotations": n.metadata.annotations} for n in nodes if n.metadata) else "kind"


class Cluster:
    """The course cluster, as seen from one chapter: clients, the chapter's namespace and helpers.

    >>> cluster = course.connect("00-setup")            # doctest: +SKIP
    >>> cluster.core.list_namespaced_pod(cluster.namespace).items   # doctest: +SKIP
    []
    """

    def __init__(self, chapter: Chapter, namespace: str) -> None:
        self.chapter = chapter
        self.namespace = namespace
        self.api: client.ApiClient = api_client()
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.networking = client.NetworkingV1Api(self.api)
        self.storage = client.StorageV1Api(self.api)
        self.dynamic: DynamicClient = dynamic_client()

    @property
    def backend(self) -> str:
        """``"sim"`` when kwok simulates the nodes, else ``"kind"`` (or another real cluster)."""
        return _backend_of(self.core.list_node().items)

    @property
    def capabilities(self) -> Capabilities:
        """What this cluster really does beyond the API: ask before a demo that needs real traffic.

        >>> if cluster.capabilities.network_policy:     # doctest: +SKIP
        ...     print("the CNI enforces this policy: the next request is blocked")
        """
        metadata = [node.metadata for node in self.core.list_node().items if node.metadata]
        return capabilities_of({"labels": m.labels, "annotations": m.annotations} for m in metadata)

    def apply(self, manifest: Manifest) -> list[dict[str, Any]]:
        """Create or update objects from YAML text or dicts (server-side apply); safe to run twice."""
        return apply(manifest, self.namespace)

    def wait_for(
        self, kind: str, name: str, until: Condition = "Ready", timeout: float = 60.0
    ) -> dict[str, Any] | None:
        """Wait until the object in this chapter's namespace is ``until`` (``"Ready"``, ``"Complete"``...)."""
        namespaced = self.dynamic.resources.get(kind=kind).namespaced
        return wait_for(kind, name, self.namespace if namespaced else None, until, timeout)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object as a dict, or None when it does not exist."""
        resource = self.dynamic.resources.get(kind=kind)
        try:
            found = resource.get(name=name, namespace=self.namespace if resource.namespaced else None)
        except ApiException as error:
            if error.status == 404:
                return None
            raise explain_api_error(error, f"Reading {kind} {name!r}") from None
        return dict(found.to_dict())

    def observe(self, prediction: str, predicted: Any, observed: Any) -> None:
        """Predict, then observe (ungraded): print whether ``predicted``, the learner's guess (``None``
        when skipped), matches ``observed``, what the cluster shows, and why, as the chapter's YAML
        states it under ``predictions:`` (AUTHORING.md). Never raises for the learner's input.

        >>> cluster.observe("deleted-pod", globals().get("predicted_pods"), "c")   # doctest: +SKIP
        ✓ You predicted 'c'; the cluster shows 'c'.
        Why: ...
        """
        print(verdict(self.chapter.prediction(prediction), predicted, observed))

    def point_to_kind_output(self) -> None:
        """Say, in the ``else`` branch of a cell that shows something only on kind, that this cluster
        cannot show it and that what the course's kind cluster printed is under the cell. One line in the
        learner's language; why this cluster cannot show it belongs in the Markdown cell above.

        >>> if cluster.capabilities.containers:        # doctest: +SKIP
        ...     cluster.kubectl("logs", "shared", "-c", "reader")
        ... else:
        ...     cluster.point_to_kind_output()
        """
        print(tr("This cluster cannot show this (the text above says why); what kind printed is under the cell."))

    def reset(self) -> None:
        """Put the chapter's namespace back to its starting state: your objects are deleted."""
        prepare_namespace(self.chapter, self.namespace, fresh=True)

    def kubectl(self, *args: str) -> str:
        """Run kubectl in this chapter's namespace and return (and print) what it says.

        In a notebook ``!kubectl get pods`` works too: :func:`connect` points kubectl here.
        """
        command = [_kubectl_binary(), *args]
        result = subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=120)
        output = (result.stdout + result.stderr).rstrip()
        print(output)
        if result.returncode != 0:
            failed = f"kubectl {' '.join(args)} failed (exit {result.returncode})"
            raise CourseError(f"{failed}; see its message above.")
        return output

    # -- pictures (course.pictures): each shows itself in the notebook, or prints its text form --------
    def show_owners(self, kind: str | None = None, name: str | None = None) -> None:
        """Draw who owns what in this namespace, or around ``kind``/``name``: Deployment → ReplicaSet → Pod.

        >>> cluster.show_owners()                      # doctest: +SKIP
        >>> cluster.show_owners("Deployment", "web")   # doctest: +SKIP
        """
        show(pictures.owner_graph(self.namespace, kind, name))

    def show_placement(self, all_namespaces: bool = False) -> None:
        """Draw the Nodes with the Pods the scheduler put on them, and the Pods it could not place (why)."""
        show(pictures.placement_map(None if all_namespaces else self.namespace))

    def timeline(
        self, kinds: tuple[str, ...] = pictures.timeline_kinds, show: bool = True
    ) -> pictures.Timeline:
        """Record every change in this namespace during a ``with`` block; the picture shows when it ends.

        >>> with cluster.timeline() as recorded:                          # doctest: +SKIP
        ...     cluster.apps.patch_namespaced_deployment_scale("web", cluster.namespace,
        ...                                                    {"spec": {"replicas": 1}})
        >>> recorded.table()                                              # doctest: +SKIP
        """
        return pictures.timeline(self.namespace, kinds, show=show)

    def show_route(self, url: str) -> None:
        """Explain which Ingress rule, Service, port and Pods a request for ``url`` reaches, or why none."""
        show(pictures.explain_route(url, self.namespace))

    def show_control_plane(self) -> None:
        """Draw the control-plane components and node agents with the health the cluster reports."""
        show(pictures.control_plane())

    def __repr__(self) -> str:
        return f"<Cluster chapter={self.chapter.id!r} namespace={self.namespace!r}>"


def connect(chapter_id: str, quiet: bool = False) -> Cluster:
    """Connect a chapter to the course cluster and prepare its namespace.

    Under nbgrader (or with ``K8S_COURSE_FRESH=1``) the namespace is reset first, so a graded run always
    starts from the chapter's starting state. ``K8S_COURSE_FRESH=0`` says it already is (the class
    grader resets it, outside the kernel, right before the kernel starts).
    """
    install_notebook_handler()
    _exit_without_a_last_collection()
    chapter = load_chapter(chapter_id)
    namespace = namespace_for(chapter_id)
    try:
        version = client.VersionApi(api_client()).get_code(_request_timeout=5)
    except (FileNotFoundError, urllib3.exceptions.HTTPError, OSError):
        raise CourseError(NOT_RUNNING) from None
    except ApiException as error:
        raise explain_api_error(error, "Connecting to the course cluster") from None
    if os.environ.get("NBGRADER_EXECUTION"):
        yield_to_the_cluster()  # a class of graded kernels must not starve the controllers they wait for
    fresh = os.environ.get("K8S_COURSE_FRESH") == "1" or bool(os.environ.get("NBGRADER_EXECUTION"))
    if os.environ.get("K8S_COURSE_FRESH") == "0":  # the class grader reset it just before starting the kernel
        fresh = False
    prepare_namespace(chapter, namespace, fresh=fresh)
    _point_kubectl_at(namespace)
    cluster = Cluster(chapter, namespace)
    if not quiet:
        nodes = cluster.core.list_node().items
        role = "node-role.kubernetes.io/control-plane"
        control = sum(1 for n in nodes if n.metadata and role in (n.metadata.labels or {}))
        connected = "✓ Connected: {backend} cluster, Kubernetes {version}, {nodes} nodes ({control} control plane, "
        connected += "{workers} workers)"
        works = "✓ Chapter {chapter} ({title}) works in namespace {namespace!r}"
        print(
            tr(connected, backend=_backend_of(nodes), version=version.git_version, nodes=len(nodes), control=control,
               workers=len(nodes) - control),
            tr(works, chapter=chapter.id, title=tr(chapter.title), namespace=namespace),
            sep="\n",
        )
    return cluster


def _kubectl_binary() -> str:
    """The course's kubectl (the pinned release, in the binary cache); else the one on PATH, with a
    warning when its version is further from the course's than kubectl supports (one minor)."""
    toolchain = load_toolchain()
    cached = toolchain.bin_dir / "kubectl"
    if cached.exists():
        return str(cached)
    found = shutil.which("kubectl")
    if found:
        _warn_about_skew(found, toolchain.pins.minor)
    return found or "kubectl"


_warned: set[str] = set()


def _warn_about_skew(kubectl: str, course_minor: str) -> None:
    """Say once per kubectl when it is more than one minor away from the Kubernetes the course teaches."""
    if kubectl in _warned:
        return
    _warned.add(kubectl)
    try:
        answer = subprocess.run(
            [kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=20
        )
        version = json.loads(answer.stdout)["clientVersion"]
        theirs = int(str(version["minor"]).rstrip("+"))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return  # a kubectl that cannot say its version: nothing to compare
    ours = int(course_minor.split(".")[1])
    if abs(theirs - ours) > 1:
        sys.stderr.write(
            f"Warning: the kubectl on PATH ({kubectl}) is {version.get('gitVersion', f'1.{theirs}')}, but the course "
            f"teaches Kubernetes {course_minor} and kubectl works with one minor version of difference at most. "
            "Get the course's own with: python -m course toolchain\n"
        )


def _exit_without_a_last_collection() -> None:
    """Let this process end without its last garbage collection walking every object the Kubernetes client
    made (its models, the discovery cache): a kernel that had connected took half a second to exit, 2 s on a
    busy machine, and ``nbgrader autograde`` waits for the kernel of every notebook it grades. Frozen at
    exit (``gc.freeze``), they are left to the operating system; the exit handlers still run."""
    atexit.unregister(gc.freeze)  # registered once, however often connect() runs
    atexit.register(gc.freeze)


_KUBECONFIG_FOLDER = "k8s-course-kubectl-"
"""Prefix of a kernel's kubeconfig folder in the temporary directory, followed by the kernel's pid."""


def _remove_kubeconfigs_of_ended_kernels() -> None:
    """Remove the kubeconfig folders of kernels that ended without their exit handlers (killed, or
    ``os._exit``), so that they do not pile up in the temporary directory. Only this user's, and only
    where the pid in the name no longer runs."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_KUBECONFIG_FOLDER}*-*"):
        pid = folder.name.removeprefix(_KUBECONFIG_FOLDER).split("-", 1)[0]
        try:
            if not pid.isdigit() or folder.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive under another user (PermissionError), or the folder just went
            continue


def _point_kubectl_at(namespace: str) -> None:
    """Make ``!kubectl`` in this kernel use the course cluster and the chapter's namespace.

    A private copy of the kubeconfig gets the namespace as its context default; the learner's
    ``~/.kube/config`` is left alone.
    """
    config = yaml.safe_load(kubeconfig().read_text())
    current = config.get("current-context")
    for context in config.get("contexts", []):
        if context["name"] == current:
            context["context"]["namespace"] = namespace
    _remove_kubeconfigs_of_ended_kernels()
    folder = Path(tempfile.mkdtemp(prefix=f"{_KUBECONFIG_FOLDER}{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    os.environ["KUBECONFIG"] = str(path)
    bin_dir = str(Path(_kubectl_binary()).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
