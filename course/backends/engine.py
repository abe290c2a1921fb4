"""Finding a container engine (Docker or Podman) that answers, for the kind backend.

kind runs each Kubernetes node as a container, so it needs an engine that is not only installed but
running. Having the ``docker`` command is not enough: on this kind of machine (and on a laptop where
Docker Desktop is closed) the command exists and its daemon does not answer. So the engine is asked
directly, over its API socket, the question ``docker info`` starts with: ``GET /_ping``.

>>> probe = find_engine()                                            # doctest: +SKIP
>>> probe.engine.name if probe.engine else probe.reason              # doctest: +SKIP
'Docker is installed, but its engine does not answer at unix:///var/run/docker.sock ...'

The same API lists containers and their published ports, which is all the course reads from the
engine; everything that changes something goes through the engine's own command (``docker`` or
``podman``), pointed at the same endpoint.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PING_TIMEOUT = 2.0
"""Seconds to wait for an engine's answer: a running engine answers in milliseconds."""


class EngineError(Exception):
    """The engine did not answer, or answered with an error."""


@dataclass(frozen=True)
class Container:
    """One container as the engine lists it."""

    name: str
    state: str
    """``running``, ``exited``, ``created``, ``paused``, ..."""
    labels: dict[str, str]


@dataclass(frozen=True)
class Engine:
    """A container engine that answered, and how to reach it."""

    name: str
    """``docker`` or ``podman``: the command kind drives (``KIND_EXPERIMENTAL_PROVIDER``)."""
    command: str
    """Path of that command."""
    endpoint: str
    """``unix:///path/to/socket`` or ``tcp://host:port``."""

    @property
    def label(self) -> str:
        return f"{self.name.capitalize()} at {self.endpoint}"

    @property
    def socket_path(self) -> str | None:
        """The API socket's path on this machine, or None for a TCP endpoint."""
        parsed = urllib.parse.urlsplit(self.endpoint)
        return parsed.path if parsed.scheme == "unix" else None

    def env(self) -> dict[str, str]:
        """Environment for ``kind`` and the engine's command, so that they use this very endpoint."""
        env = {**os.environ}
        if self.name == "docker":
            env["DOCKER_HOST"] = self.endpoint
        else:
            env["CONTAINER_HOST"] = self.endpoint
            env["KIND_EXPERIMENTAL_PROVIDER"] = "podman"
        return env

    def get(self, path: str, timeout: float = 10.0) -> Any:
        """``GET`` an API path and decode its JSON answer."""
        return json.loads(_request(self.endpoint, path, timeout))

    def containers(self, label: str) -> list[Container]:
        """Every container (running or not) that has ``label`` (``key`` or ``key=value``)."""
        filters = urllib.parse.quote(json.dumps({"label": [label]}))
        found = self.get(f"/containers/json?all=1&filters={filters}")
        return [
            Container(name=c["Names"][0].lstrip("/"), state=c.get("State", ""), labels=c.get("Labels") or {})
            for c in found
        ]

    def published_ports(self, container: str) -> dict[int, int]:
        """``{container port: host port}`` of the TCP ports ``container`` publishes."""
        config = self.get(f"/containers/{urllib.parse.quote(container)}/json")
        bindings = config.get("HostConfig", {}).get("PortBindings") or {}
        return {
            int(port.split("/")[0]): int(hosts[0]["HostPort"])
            for port, hosts in bindings.items()
            if port.endswith("/tcp") and hosts
        }

    def has_image(self, image: str) -> bool:
        """Whether the engine holds ``image`` (a name or ``name@digest``) already, without pulling it."""
        try:
            self.get(f"/images/{urllib.parse.quote(image, safe='')}/json")
        except EngineError:
            return False
        return True

    def cgroup_version(self) -> str:
        """``"1"`` or ``"2"``: the cgroup version of the machine whose kernel runs the containers.

        That machine is not always this one (Docker Desktop runs a VM), so the engine is asked, as
        ``docker info`` does; an engine that does not say is taken to run the current default, v2.
        """
        return str(self.get("/info").get("CgroupVersion") or "2")

    def run(self, *args: str, timeout: float = 300, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the engine's command (``docker ARGS``) against this endpoint."""
        return subprocess.run(
            [self.command, *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )


@dataclass(frozen=True)
class EngineProbe:
    """What :func:`find_engine` found: an engine, or the reason there is none (one sentence)."""

    engine: Engine | None
    reason: str
    installed: bool
    """A ``docker`` or ``podman`` command exists (even if its engine does not answer)."""


def _candidates() -> list[tuple[str, str]]:
    """``(engine name, endpoint)`` pairs to try, most specific first, for the commands installed."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")
    home = Path.home()
    pairs: list[tuple[str, str]] = []
    if shutil.which("docker"):
        if os.environ.get("DOCKER_HOST"):
            pairs.append(("docker", os.environ["DOCKER_HOST"]))
        else:
            # The system daemon, Docker Desktop's per-user socket, rootless Docker.
            for path in ("/var/run/docker.sock", f"{home}/.docker/run/docker.sock", f"{runtime}/docker.sock"):
                pairs.append(("docker", f"unix://{path}"))
    if shutil.which("podman"):
        if os.environ.get("CONTAINER_HOST"):
            pairs.append(("podman", os.environ["CONTAINER_HOST"]))
        else:
            for path in (f"{runtime}/podman/podman.sock", "/run/podman/podman.sock"):
                pairs.append(("podman", f"unix://{path}"))
    return pairs


def find_engine(timeout: float = PING_TIMEOUT) -> EngineProbe:
    """The first Docker or Podman engine that answers ``/_ping``, or why there is none."""
    pairs = _candidates()
    if not pairs:
        return EngineProbe(None, "neither Docker nor Podman is installed", installed=False)
    failures = []
    for name, endpoint in pairs:
        try:
            answer = _request(endpoint, "/_ping", timeout)
        except EngineError as problem:
            failures.append(f"{endpoint} ({problem})")
            continue
        if answer.strip() == b"OK":
            return EngineProbe(Engine(name, str(shutil.which(name)), endpoint), "", installed=True)
        failures.append(f"{endpoint} (answered {answer[:40]!r} instead of OK)")
    names = " and ".join(sorted({name.capitalize() for name, _ in pairs}))
    verb = "is" if " and " not in names else "are"
    return EngineProbe(
        None,
        f"{names} {verb} installed, but no engine answers at {'; '.join(failures)}",
        installed=True,
    )


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, the way the docker command talks to its daemon."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _request(endpoint: str, path: str, timeout: float) -> bytes:
    """``GET path`` from the engine API at ``endpoint``; raise EngineError with a short reason."""
    parsed = urllib.parse.urlsplit(endpoint)
    connection: http.client.HTTPConnection
    if parsed.scheme == "unix":
        connection = _UnixHTTPConnection(parsed.path, timeout)
    elif parsed.scheme in ("tcp", "http"):
        connection = http.client.HTTPConnection(parsed.hostname or "localhost", parsed.port or 2375, timeout=timeout)
    else:
        raise EngineError(f"the course cannot reach {parsed.scheme}:// endpoints")
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    except FileNotFoundError:
        raise EngineError("no such socket") from None
    except ConnectionRefusedError:
        raise EngineError("connection refused") from None
    except TimeoutError:
        raise EngineError(f"no answer within {timeout:.0f}s") from None
    except (OSError, http.client.HTTPException) as problem:
        raise EngineError(str(problem) or type(problem).__name__) from None
    finally:
        connection.close()
    if response.status != 200:
        raise EngineError(f"HTTP {response.status} for {path}")
    return body
