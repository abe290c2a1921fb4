"""``class doctor``: what one student can and cannot reach, checked as that student.

A hub is set up right when a student's server can use the course (the course's Python and kubectl,
the API server in their own namespaces) and nothing else that matters: not etcd, not the
instructor's course root (answers, hidden tests, gradebook), not the other kubeconfigs, not another
student's home or namespaces. Reading the permissions and guessing is how leaks go unnoticed, so
the doctor tries each thing:

* as root, in a process of the student's Unix user with the environment their server gets
  (``python -m course.classroom.doctor REQUEST``: the probes below, answered as JSON);
* otherwise, in this process with the student's kubeconfig: the cluster's answers only (a file this
  user can read says nothing about what the student can).

>>> Check("etcd", expected=False, reached=False, detail="refused").line()
' ✓ etcd: no (refused)'
>>> Check("own namespace ada-00-setup", expected=True, reached=False, detail="403 Forbidden").line()
' ✗ own namespace ada-00-setup: no, should be yes (403 Forbidden)'
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import ssl
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from course._chapters import chapter_ids
from course._errors import CourseError
from course._paths import kubeconfig_path
from course._pins import load_pins
from course._toolchain import load_toolchain
from course.classroom._hub_spawn import HUB_DATA, KUBECONFIG_IN_HOME, HubData
from course.classroom.roster import Student


@dataclass(frozen=True)
class Check:
    """One thing tried as the student: should they reach it, did they."""

    what: str
    expected: bool
    reached: bool | None
    """``None``: not tried (nothing to try it on)."""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reached is None or self.reached == self.expected

    def line(self) -> str:
        """The check as one line of the doctor's output, ticked or crossed."""
        if self.reached is None:
            return f" - {self.what}: not checked ({self.detail})"
        answer = "yes" if self.reached else "no"
        wrong = "" if self.ok else f", should be {'yes' if self.expected else 'no'}"
        return f" {'✓' if self.ok else '✗'} {self.what}: {answer}{wrong}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class ProbeRequest:
    """What to try, as data, so that a process of the student's user can be told (JSON)."""

    kubeconfig: str
    kubectl: str
    namespaces: dict[str, bool] = field(default_factory=dict)
    """Namespace → should the student be able to list its Pods."""
    paths: dict[str, bool] = field(default_factory=dict)
    """File or folder → should the student be able to read it."""
    etcd: bool = True
    """Try every etcd on this machine (found in ``/proc``, as any user can)."""


def run_probes(request: ProbeRequest) -> list[Check]:
    """Try everything in ``request`` as whoever runs this process."""
    checks = [Check("the course's Python", True, True, sys.executable), _versions(), _kubectl(request.kubectl)]
    api = config.new_client_from_config(config_file=request.kubeconfig)  # type: ignore[no-untyped-call]
    checks += [_namespace(api, namespace, expected) for namespace, expected in request.namespaces.items()]
    checks += [_path(Path(path), expected) for path, expected in request.paths.items()]
    if request.etcd:
        checks += [_etcd(address) for address in etcd_addresses()] or [Check("etcd", False, None, "none runs here")]
    return checks


def _versions() -> Check:
    """The course's pinned versions, which ``course.connect`` reads first (a wheel alone has none)."""
    try:
        return Check("the course's versions", True, True, f"Kubernetes {load_pins().kubernetes}")
    except (OSError, CourseError) as problem:
        return Check("the course's versions", True, False, str(problem).splitlines()[0])


def _kubectl(path: str) -> Check:
    try:
        done = subprocess.run([path, "version", "--client"], capture_output=True, text=True, timeout=30)
    except OSError as problem:
        return Check("the course's kubectl", True, False, f"{path}: {problem.strerror}")
    first = (done.stdout or done.stderr).strip().splitlines()[:1]
    return Check("the course's kubectl", True, done.returncode == 0, first[0] if first else path)


def _namespace(api: client.ApiClient, namespace: str, expected: bool) -> Check:
    what = f"Pods in namespace {namespace}"
    try:
        client.CoreV1Api(api).list_namespaced_pod(namespace, limit=1, _request_timeout=10)
    except ApiException as error:
        return Check(what, expected, False, f"{error.status} {error.reason}")
    except Exception as error:  # the API server does not answer: that is a "no" too, with its reason
        return Check(what, expected, False, type(error).__name__)
    return Check(what, expected, True, "the API server answers")


def _path(path: Path, expected: bool) -> Check:
    what = str(path)
    try:
        if path.is_dir():
            os.listdir(path)
        else:
            with path.open("rb") as handle:
                handle.read(1)
    except FileNotFoundError:
        return Check(what, expected, None, "not there")
    except PermissionError:
        return Check(what, expected, False, "permission denied")
    return Check(what, expected, True, "readable")


def etcd_addresses() -> list[str]:
    """``host:port`` of every etcd client URL on this machine, from the command lines in ``/proc``."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            args = (process / "cmdline").read_bytes().decode().split("\0")
        except (OSError, UnicodeDecodeError):
            continue
        if not args or Path(args[0]).name != "etcd":
            continue
        for arg in args:
            if arg.startswith("--listen-client-urls="):
                urls = arg.split("=", 1)[1].split(",")
                found += [url.split("://", 1)[-1].rstrip("/") for url in urls]
    return sorted(set(found))


def _etcd(address: str) -> Check:
    """Ask etcd for its version over TLS, with no client certificate (what a student has)."""
    host, port = address.rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.sendall(f"GET /version HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
            answer = tls.recv(64).decode(errors="replace")
    except (OSError, ssl.SSLError) as problem:
        return Check(f"etcd at {address}", False, False, type(problem).__name__)
    reached = answer.startswith("HTTP/")
    return Check(f"etcd at {address}", False, reached, answer.splitlines()[0] if reached else "no answer")


def request_for(student: Student, data: HubData, home: Path | None) -> ProbeRequest:
    """What to try for ``student`` on this hub (``home``: their home, when they have an account)."""
    chapter = chapter_ids()[0]
    others = [Student(other) for other in data.students if other != student.id]
    namespaces = {student.namespace(chapter): True, "kube-system": False}
    namespaces.update({other.namespace(chapter): False for other in others[:2]})
    instructor_root = Path(data.instructor_root)
    paths = {
        str(instructor_root / "source"): False,
        str(instructor_root / "gradebook.db"): False,
        str(Path(data.repo) / "autograder" / "source"): False,  # the checkout the servers read
        data.kubeconfigs: False,
        str(kubeconfig_path()): False,
    }
    for other in others[:2]:
        try:
            paths[pwd.getpwnam(other.id).pw_dir] = False
        except KeyError:
            continue
    kubeconfig = Path(data.kubeconfigs) / data.students[student.id]
    if home is not None:
        paths[str(home)] = True
        kubeconfig = home / KUBECONFIG_IN_HOME
        paths[str(kubeconfig)] = True
    kubectl = load_toolchain().bin_dir / "kubectl"
    return ProbeRequest(kubeconfig=str(kubeconfig), kubectl=str(kubectl), namespaces=namespaces, paths=paths)


def examine(student_id: str, data: HubData) -> list[Check]:
    """Every check for ``student_id``: as their Unix user when this runs as root, else by kubeconfig only."""
    student = Student(student_id)
    if os.geteuid() != 0:
        request = request_for(student, data, None)
        request = ProbeRequest(request.kubeconfig, request.kubectl, request.namespaces, etcd=False)
        skipped = Check("files and etcd", False, None, "run as root to try them as the student's Unix user")
        return [*run_probes(request), skipped]
    account = pwd.getpwnam(student_id)
    request = request_for(student, data, Path(account.pw_dir))
    environment = {**data.environment(student_id, Path(request.kubeconfig)), "HOME": account.pw_dir}
    try:
        done = subprocess.run(
            [data.python, "-m", "course.classroom.doctor", json.dumps(asdict(request))],
            capture_output=True,
            text=True,
            timeout=120,
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
            env=environment,
            cwd="/",
        )
    except OSError as problem:
        return [Check("the course's Python", True, False, f"{data.python}: {problem.strerror}")]
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [Check("the course's Python", True, False, last)]
    return [Check(**fields) for fields in json.loads(done.stdout)]


def load_hub_data(hub_dir: Path) -> HubData:
    """The class as ``class hub-config`` wrote it in ``hub_dir``."""
    try:
        return HubData.load(hub_dir / HUB_DATA)
    except FileNotFoundError:
        raise CourseError(f"No {hub_dir / HUB_DATA}: run python -m course class hub-config first.") from None
    except PermissionError:
        raise CourseError(f"Cannot read {hub_dir / HUB_DATA}: run this as root (it is the hub's).") from None


def main(argv: list[str]) -> int:
    """``python -m course.classroom.doctor REQUEST``: run the probes, print the checks as JSON."""
    fields = json.loads(argv[0])
    print(json.dumps([asdict(check) for check in run_probes(ProbeRequest(**fields))]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
