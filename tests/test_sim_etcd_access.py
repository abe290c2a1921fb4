"""Only the sim cluster's API server can talk to its etcd (issue 14, item 9).

The tests play a local attacker on the machine of a running sim cluster: they find etcd's ports the
way anyone can (kube-apiserver's and etcd's command lines are in ``ps`` for every user) and try to read
the API server's data through etcd's JSON gateway: without TLS, with TLS but no client certificate,
and with the client certificate of the course kubeconfig (which every learner has). The API server's
own etcd client certificate is the positive control: it must work, or the refusals prove nothing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.usefixtures("sim_cluster")


def command_line(binary: str, state: Path) -> list[str]:
    """The arguments of this cluster's running ``binary``, read from /proc as ``ps`` shows them."""
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().decode().split("\0")
        except (OSError, UnicodeDecodeError):
            continue
        if args and Path(args[0]).name == binary and str(state) in " ".join(args):
            return args
    raise AssertionError(f"no running {binary} under {state}")


def flag(args: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in args if arg.startswith(f"--{name}=")]
    assert values, f"--{name} not on the command line: {args}"
    return values[-1]


def address(url: str) -> str:
    """``host:port`` of ``http(s)://host:port``."""
    return url.split("://", 1)[1].split(",")[0].rstrip("/")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def tls(cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A TLS client that trusts any server (an attacker does not care who answers)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def ask(url: str, body: dict[str, Any] | None = None, context: ssl.SSLContext | None = None) -> Any:
    """etcd's answer to a GET (or a JSON POST), parsed when JSON; None when the request is refused."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            answer = response.read().decode()
    except OSError:  # refused, reset, a TLS alert or an HTTP error status
        return None
    try:
        return json.loads(answer)
    except ValueError:
        return answer


def range_request(prefix: str) -> dict[str, Any]:
    """etcd v3 gateway body: every key under ``prefix`` (``range_end`` is the prefix with its last byte + 1)."""
    return {"key": b64(prefix), "range_end": b64(prefix[:-1] + chr(ord(prefix[-1]) + 1)), "keys_only": True}


def keys(answer: Any) -> list[str]:
    return [base64.b64decode(kv["key"]).decode() for kv in (answer or {}).get("kvs", [])]


def kubeconfig_credentials(kubeconfig: Path, scratch: Path) -> tuple[Path, Path]:
    """The client certificate and key of the course kubeconfig, as files."""
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    paths = []
    for field in ("client-certificate", "client-key"):
        if f"{field}-data" in user:
            path = scratch / field
            path.write_bytes(base64.b64decode(user[f"{field}-data"]))
            paths.append(path)
        else:
            paths.append(Path(user[field]))
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def state(sim_cluster: Path) -> Path:
    return Path(os.environ["K8S_COURSE_STATE"])


def test_etcd_answers_only_the_api_servers_client_certificate(state: Path, sim_cluster: Path, tmp_path: Path) -> None:
    apiserver = command_line("kube-apiserver", state)
    etcd = command_line("etcd", state)
    client = address(flag(apiserver, "etcd-servers"))
    peer = address(flag(etcd, "listen-peer-urls"))
    assert client.startswith("127.0.0.1:") and peer.startswith("127.0.0.1:")
    namespaces = range_request(flag(apiserver, "etcd-prefix").rstrip("/") + "/namespaces/")
    admin = tls(*kubeconfig_credentials(sim_cluster, tmp_path))

    for scheme, context in (("http", None), ("https", tls()), ("https", admin)):
        assert ask(f"{scheme}://{client}/v3/kv/range", namespaces, context) is None, (scheme, context)
        assert ask(f"{scheme}://{client}/metrics", None, context) is None, (scheme, context)
        assert ask(f"{scheme}://{peer}/members", None, context) is None, (scheme, context)

    # The control: with the API server's own credentials the very same requests are answered.
    assert flag(apiserver, "etcd-servers").startswith("https://")
    owner = tls(Path(flag(apiserver, "etcd-certfile")), Path(flag(apiserver, "etcd-keyfile")))
    answer = ask(f"https://{client}/v3/kv/range", namespaces, owner)
    assert any(key.endswith("/namespaces/default") for key in keys(answer)), answer
    peer_owner = tls(Path(flag(etcd, "peer-cert-file")), Path(flag(etcd, "peer-key-file")))
    assert ask(f"https://{peer}/members", None, peer_owner)

    # etcd trusts a CA of its own: not the one that signed the course kubeconfig's certificate.
    assert Path(flag(etcd, "trusted-ca-file")).read_bytes() != Path(flag(apiserver, "client-ca-file")).read_bytes()
    assert flag(etcd, "client-cert-auth") == "true" and flag(etcd, "peer-client-cert-auth") == "true"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become another user")
def test_another_local_user_cannot_read_etcds_keys(state: Path) -> None:
    apiserver = command_line("kube-apiserver", state)
    etcd = command_line("etcd", state)
    secrets = [Path(flag(apiserver, "etcd-keyfile")), Path(flag(etcd, "key-file")), Path(flag(etcd, "peer-key-file"))]
    secrets += [Path(flag(apiserver, "etcd-certfile")), Path(flag(etcd, "cert-file"))]
    for path in secrets:
        assert path.is_file(), path
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is open to others"
        assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0, f"{path.parent} is open to others"
    # Make the state folder as open as a usual home directory (0755), then try as user nobody.
    if any(stat.S_IMODE(folder.stat().st_mode) & 0o001 == 0 for folder in state.parents):
        pytest.skip(f"{state} is inside a folder that user nobody cannot enter anyway")
    mode = stat.S_IMODE(state.stat().st_mode)
    probe = 'for f; do cat "$f" >/dev/null 2>&1 && echo "$f"; done; true'
    try:
        state.chmod(mode | 0o055)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
             "/bin/sh", "-c", probe, "sh", *map(str, secrets)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        state.chmod(mode)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"user nobody could read: {result.stdout}"


def test_a_restarted_cluster_keeps_its_certificates_and_etcd_stays_closed(tmp_path: Path) -> None:
    """kwokctl stop/start (what a reboot does, minus the cleanup) reuses etcd's certificates as they are."""
    from course._toolchain import load_toolchain

    from .processes import wait_until_gone
    from .test_cluster_lifecycle import run_course

    state = tmp_path / "state"
    kwokctl = str(load_toolchain().bin_dir / "kwokctl")
    env = {**os.environ, "KWOK_WORKDIR": str(state / "kwok")}
    try:
        run_course(state, "cluster", "up", "--backend", "sim")
        pki = {path.name: path.read_bytes() for path in (state / "kwok" / "etcd-pki").iterdir()}
        for verb in ("stop", "start"):
            subprocess.run([kwokctl, verb, "cluster", "--name", "course"], env=env, check=True, capture_output=True)
        assert {path.name: path.read_bytes() for path in (state / "kwok" / "etcd-pki").iterdir()} == pki
        assert "course-worker3 (worker, Ready)" in run_course(state, "cluster", "status").stderr
        client = address(flag(command_line("kube-apiserver", state), "etcd-servers"))
        assert ask(f"http://{client}/v3/kv/range", range_request("/registry/"), None) is None
        assert ask(f"https://{client}/v3/kv/range", range_request("/registry/"), tls()) is None
    finally:
        run_course(state, "cluster", "down", check=False)
    assert wait_until_gone(state) == []
