"""A stand-in container engine, for testing the kind backend on a machine without Docker.

Two halves share one JSON state file (the containers that "exist"):

* :class:`FakeEngine` answers the engine's HTTP API on a unix socket, as much of it as the course
  reads: ``/_ping``, ``/info`` (a cgroup v2 host), ``/containers/json`` and ``/containers/<name>/json``
  (``/images/<name>/json`` answers 404: the fake engine holds no image);
* :func:`install_docker_command` writes a ``docker`` command (a small Python script) that records
  each call and answers what kind and the course ask of it; ``rm`` removes containers from the state,
  anything that would create something fails, as an engine without images and networks would.
"""

from __future__ import annotations

import json
import socketserver
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

KIND_NODES = ("course-control-plane", "course-worker", "course-worker2")


class FakeEngine:
    """An engine API on a unix socket. ``ping`` is what ``/_ping`` answers (None: never answers)."""

    def __init__(self, state: Path, ping: bytes | None = b"OK") -> None:
        self.state = state
        self.ping = ping
        self.folder = Path(tempfile.mkdtemp(prefix="engine-", dir="/tmp"))  # unix socket paths are short
        self.socket = self.folder / "engine.sock"
        self.endpoint = f"unix://{self.socket}"
        if not state.exists():
            self.set_containers([])
        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket), self._handler())
        self._server.daemon_threads = True
        self._release = threading.Event()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def set_containers(self, containers: list[dict[str, Any]]) -> None:
        """Containers as ``{"name", "state", "labels", "ports"}`` dicts."""
        self.state.write_text(json.dumps(containers))

    def containers(self) -> list[dict[str, Any]]:
        return list(json.loads(self.state.read_text()))

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self.socket.unlink(missing_ok=True)
        self.folder.rmdir()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/_ping":
                    if engine.ping is None:
                        engine._release.wait(30)  # a hung daemon: accepts, never answers
                        return
                    self._send(200, engine.ping)
                elif url.path == "/info":
                    self._send(200, b'{"CgroupVersion": "2"}')
                elif url.path == "/containers/json":
                    filters = json.loads(urllib.parse.parse_qs(url.query).get("filters", ["{}"])[0])
                    wanted = filters.get("label", [])
                    found = [c for c in engine.containers() if all(_has_label(c, w) for w in wanted)]
                    listing = [{"Names": ["/" + c["name"]], "State": c["state"], "Labels": c["labels"]} for c in found]
                    self._send(200, json.dumps(listing).encode())
                elif url.path.startswith("/containers/") and url.path.endswith("/json"):
                    name = url.path.split("/")[2]
                    match = [c for c in engine.containers() if c["name"] == name]
                    if not match:
                        self._send(404, b'{"message": "No such container"}')
                        return
                    bindings = {f"{p}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(h)}] for p, h in
                                match[0].get("ports", {}).items()}  # fmt: skip
                    self._send(200, json.dumps({"HostConfig": {"PortBindings": bindings}}).encode())
                else:
                    self._send(404, b'{"message": "not in the fake engine"}')

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a unix socket has no client address to log

        return Handler


def _has_label(container: dict[str, Any], wanted: str) -> bool:
    key, _, value = wanted.partition("=")
    return key in container["labels"] and (not value or container["labels"][key] == value)


def kind_node(name: str, state: str = "running") -> dict[str, Any]:
    """A container as kind makes it for a node of the course cluster."""
    ports = {6443: 40000, 80: 80, 443: 443} if name.endswith("control-plane") else {}
    return {"name": name, "state": state, "labels": {"io.x-k8s.kind.cluster": "course"}, "ports": ports}


DOCKER_COMMAND = """\
#!{python}
# Stand-in docker command written by tests/fake_engine.py: records calls, answers a few.
import json, os, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
answers = json.load(open({answers!r})) if os.path.exists({answers!r}) else {{}}
if args and args[0] in answers:
    code, out, err = answers[args[0]]
    sys.stdout.write(out); sys.stderr.write(err); sys.exit(code)
if args[:1] == ["info"]:
    print(json.dumps({{"CgroupDriver": "systemd", "CgroupVersion": "2", "MemoryLimit": True,
                      "PidsLimit": True, "CPUShares": True}}))
elif args[:1] == ["ps"]:
    pass
elif args[:2] == ["inspect", "--type=image"]:
    pass
elif args[:1] == ["rm"]:
    state = json.load(open({state!r}))
    json.dump([c for c in state if c["name"] not in args], open({state!r}, "w"))
else:
    sys.stderr.write("stand-in docker: nothing is created in the tests\\n")
    sys.exit(1)
"""


def install_docker_command(folder: Path, state: Path) -> tuple[Path, Path, Path]:
    """Write ``folder/docker``; returns (its call log, its answers file, the command)."""
    folder.mkdir(parents=True, exist_ok=True)
    log, answers = folder / "docker-calls.log", folder / "docker-answers.json"
    command = folder / "docker"
    script = DOCKER_COMMAND.format(python=sys.executable, log=str(log), answers=str(answers), state=str(state))
    command.write_text(script)
    command.chmod(0o755)
    log.touch()
    return log, answers, command


def calls(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line]


def set_answer(answers: Path, verb: str, code: int, out: str = "", err: str = "") -> None:
    """Make the docker command answer ``docker VERB ...`` with this exit code and output."""
    current = json.loads(answers.read_text()) if answers.exists() else {}
    current[verb] = [code, out, err]
    answers.write_text(json.dumps(current))
