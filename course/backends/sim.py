"""The sim backend: the real control plane as local processes, with kwok playing the nodes.

``kwokctl`` (binary runtime) starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
the kwok controller from the binary cache, listening on 127.0.0.1 only. No Docker and no root are
needed, which is why Binder, offline classrooms and CI use it. Every API request is answered by a
real kube-apiserver, and every controller is the real one; only the kubelets are simulated, through
the Stage files in ``cluster-setup/sim/stages/``.

etcd answers the API server only: TLS with a required client certificate on its client and peer
ports, from a CA of its own made at every ``cluster up`` (:func:`_make_etcd_pki`), in kwok's work
directory, which only the cluster's owner can enter. Other local users (a classmate's JupyterLab on a
shared hub) can see etcd's ports in ``ps`` but cannot read or write through them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from course._cli_output import StepFailed, step
from course._config import OneOf, Optional, load_config
from course._paths import CLUSTER_NAME, kubeconfig_path, setup_dir, state_dir
from course._pins import load_pins
from course._toolchain import ensure_binaries, load_toolchain
from course.backends._interface import Capabilities, Status
from course.backends._nodes_and_configs import (
    describe_node,
    node_ready,
    remove_course_kubeconfig,
    write_course_kubeconfig,
)

KWOKCTL_SCHEMA = {
    "apiVersion": OneOf("config.kwok.x-k8s.io/v1alpha1"),
    "kind": OneOf("KwokctlConfiguration"),
    "options": {
        "runtime": OneOf("binary"),  # local processes: the sim backend needs no container runtime
        "bindAddress": str,
        "securePort": Optional(bool),
        "quietPull": Optional(bool),
        "disableQPSLimits": Optional(bool),
    },
    "componentsPatches": Optional([{
        "name": OneOf("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller"),
        "extraArgs": Optional([{"key": str, "value": str, "override": Optional(bool)}]),
        "extraVolumes": Optional([Mapping]),
        "extraEnvs": Optional([Mapping]),
    }]),
}  # fmt: skip
"""What ``cluster-setup/sim/kwokctl.yaml`` may hold (kwok's KwokctlConfiguration, as far as the course uses
it): an option kwok knows but the course does not use yet is added here first. The binaries' paths,
versions and etcd's ports are the course's to fill in at ``cluster up``, never the file's."""

READY_TIMEOUT = 180.0
"""Seconds to wait for the API server and the Nodes: a warm start takes a few, a busy machine more."""


class SimBackend:
    """Runs the course cluster with kwokctl's binary runtime. See the module docstring."""

    name = "sim"
    capabilities = Capabilities(containers=False, network_policy=False, load_balancer=False, ingress=False)

    # -- where things are ---------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        """kwok's work directory (``KWOK_WORKDIR``): pki, etcd data, logs and pid files."""
        return state_dir() / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "clusters" / CLUSTER_NAME

    @property
    def etcd_pki_dir(self) -> Path:
        """etcd's CA certificate and the certificates of etcd and of the API server as its client."""
        return self.workdir / "etcd-pki"

    def _env(self, bin_dir: Path | None = None) -> dict[str, str]:
        env = {**os.environ, "KWOK_WORKDIR": str(self.workdir)}
        if bin_dir is not None:
            env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- Backend protocol ---------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        toolchain = load_toolchain()
        if shutil.which("go") or toolchain.checksums:
            return True, "runs anywhere: local processes, no Docker, no root"
        return False, "needs Go (to build the control plane) or pinned download checksums"

    def exists(self) -> bool:
        return self.cluster_dir.exists()

    def status(self) -> Status:
        kubeconfig = kubeconfig_path()
        if not kubeconfig.exists() or not self.cluster_dir.exists():
            return Status(self.name, running=False, detail="no sim cluster")
        bin_dir = load_toolchain().bin_dir
        try:
            version = json.loads(self._kubectl(bin_dir, "version", "-o", "json", timeout=10))
            nodes = json.loads(self._kubectl(bin_dir, "get", "nodes", "-o", "json", timeout=10))
        except (StepFailed, ValueError) as problem:
            return Status(self.name, running=False, detail=f"not answering: {problem}")
        config = yaml.safe_load(kubeconfig.read_text())
        return Status(
            self.name,
            running=True,
            server=config["clusters"][0]["cluster"]["server"],
            version=version.get("serverVersion", {}).get("gitVersion", "?"),
            nodes=tuple(describe_node(node) for node in nodes["items"]),
        )

    def up(self) -> Status:
        current = self.status()
        if current.running and len(current.nodes) == len(_node_manifests()):
            return current
        if self.cluster_dir.exists():
            with step("Cleaning up a cluster that did not start completely"):
                self.down()
        settings = kwokctl_settings()  # a mistake in it is named before minutes of building
        bin_dir = ensure_binaries()
        with step("Starting the control plane (etcd, kube-apiserver, controller-manager, scheduler)"):
            # Keys, etcd's data and the logs are the owner's only: kwokctl writes its keys 0644.
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.workdir.chmod(0o700)
            _make_etcd_pki(self.etcd_pki_dir)
            config = self._write_config(bin_dir, settings)
            create = [
                str(bin_dir / "kwokctl"), "create", "cluster", "--name", CLUSTER_NAME,
                "--config", str(config), "--kubeconfig", "", "--timeout", f"{READY_TIMEOUT:.0f}s",
            ]  # fmt: skip
            result = subprocess.run(
                create,
                env=self._env(bin_dir),
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            if result.returncode != 0:
                raise StepFailed(
                    f"kwokctl could not start the cluster:\n{result.stderr[-2000:]}\n"
                    f"Logs: {self.cluster_dir / 'logs'}. Try: python -m course cluster down, then up again."
                )
            self._write_kubeconfig()
        with step("Adding nodes and the default StorageClass"):
            for manifest in ("nodes.yaml", "storage-class.yaml"):
                self._kubectl(bin_dir, "apply", "--server-side", "-f", str(setup_dir() / "sim" / manifest))
        with step(f"Waiting for {len(_node_manifests())} nodes to be Ready"):
            self._wait_schedulable(bin_dir)
        return self.status()

    def down(self) -> None:
        bin_dir = load_toolchain().bin_dir
        if self.cluster_dir.exists() and (bin_dir / "kwokctl").exists():
            subprocess.run(
                [str(bin_dir / "kwokctl"), "delete", "cluster", "--name", CLUSTER_NAME, "--kubeconfig", ""],
                env=self._env(bin_dir),
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=120,
            )
        # kwokctl stops what it started; pid files left by a crash or a killed kwokctl are ours to end.
        _stop_pids(self.cluster_dir / "pids")
        shutil.rmtree(self.workdir, ignore_errors=True)
        remove_course_kubeconfig()

    # -- helpers ------------------------------------------------------------------------------
    def _write_config(self, bin_dir: Path, config: dict[str, Any]) -> Path:
        """``config`` (:func:`kwokctl_settings`) with the cached binaries, etcd's pki and ports filled in,
        followed by every Stage."""
        pins = load_pins()
        sim = setup_dir() / "sim"
        config["options"].update(
            kubeVersion=pins.kubernetes,
            etcdVersion=pins.etcd.lstrip("v"),
            kubeApiserverBinary=str(bin_dir / "kube-apiserver"),
            kubeControllerManagerBinary=str(bin_dir / "kube-controller-manager"),
            kubeSchedulerBinary=str(bin_dir / "kube-scheduler"),
            kubectlBinary=str(bin_dir / "kubectl"),
            etcdBinary=str(bin_dir / "etcd"),
            kwokControllerBinary=str(bin_dir / "kwok"),
        )
        # etcd's ports are chosen here because its command line (componentsPatches) names them; the others
        # because kwokctl takes the first free port from 32766 down, so two clusters started in the same
        # second (two test sessions, two learners on one machine) could both take it.
        client_port, peer_port, apiserver, controller_manager, scheduler, kwok_controller = _free_ports(6)
        config["options"].update(
            etcdPort=client_port,
            etcdPeerPort=peer_port,
            kubeApiserverPort=apiserver,
            kubeControllerManagerPort=controller_manager,
            kubeSchedulerPort=scheduler,
            kwokControllerPort=kwok_controller,
        )
        values = {"etcd_pki": str(self.etcd_pki_dir), "etcd_port": client_port, "etcd_peer_port": peer_port}
        for patch in config.get("componentsPatches", []):
            for arg in patch.get("extraArgs", []):
                arg["value"] = str(arg["value"]).format(**values)
        documents = [yaml.safe_dump(config, sort_keys=False)]
        documents += [path.read_text() for path in sorted((sim / "stages").glob("*.yaml"))]
        target = state_dir() / "kwokctl.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n---\n".join(documents))
        return target

    def _write_kubeconfig(self) -> None:
        """Copy kwok's kubeconfig to the course's place (context ``k8s-course``)."""
        write_course_kubeconfig(yaml.safe_load((self.cluster_dir / "kubeconfig.yaml").read_text()))

    def _wait_schedulable(self, bin_dir: Path) -> None:
        """Wait until every Node is Ready, has its podCIDR (from which kwok gives its Pods their addresses)
        and the node controller has lifted its ``not-ready`` taint."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            nodes = json.loads(self._kubectl(bin_dir, "get", "nodes", "-o", "json"))["items"]
            waiting = [
                node["metadata"]["name"]
                for node in nodes
                if not node_ready(node)
                or not node["spec"].get("podCIDR")
                or any(t["key"] == "node.kubernetes.io/not-ready" for t in node["spec"].get("taints") or [])
            ]
            if len(nodes) == len(_node_manifests()) and not waiting:
                return
            if time.monotonic() > deadline:
                raise StepFailed(f"Nodes not Ready after {READY_TIMEOUT:.0f}s: {', '.join(waiting)}")
            time.sleep(0.2)

    def _kubectl(self, bin_dir: Path, *args: str, timeout: float = 60) -> str:
        command = [str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig_path()), "--request-timeout=10s", *args]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as problem:
            raise StepFailed(f"kubectl {' '.join(args)}: {problem}") from None
        if result.returncode != 0:
            raise StepFailed(f"kubectl {' '.join(args)}: {result.stderr.strip()[-1000:]}")
        return result.stdout


def kwokctl_settings() -> dict[str, Any]:
    """``cluster-setup/sim/kwokctl.yaml``, read strictly (:data:`KWOKCTL_SCHEMA`): every problem at once."""
    config: dict[str, Any] = load_config(
        setup_dir() / "sim" / "kwokctl.yaml", KWOKCTL_SCHEMA, shown_as="cluster-setup/sim/kwokctl.yaml"
    )
    return config


def _node_manifests() -> list[dict[str, Any]]:
    text = (setup_dir() / "sim" / "nodes.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""
"""X.509 extensions as kubeadm gives etcd's certificates: ``server`` serves clients and peers (and is
the peer client certificate too), ``client`` is the API server's."""

_ETCD_CERTIFICATES = {"server": "/CN=etcd-server", "apiserver-etcd-client": "/CN=kube-apiserver-etcd-client"}


def _make_etcd_pki(folder: Path) -> None:
    """A new CA for etcd, etcd's certificate and the API server's client certificate, in ``folder``.

    ``folder`` is 0700 and every file in it 0600. The CA's key is deleted once both certificates are
    signed: nothing can sign another certificate that etcd would accept. ECDSA P-256 keys (instant to
    make) and the ``openssl`` command line, which every Linux has; the course needs no crypto package.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise StepFailed("The sim cluster needs the `openssl` command to make etcd's certificates: install openssl.")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    folder.chmod(0o700)  # whatever the umask
    config = folder / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    ca_key, ca_cert = folder / "ca.key", folder / "ca.crt"
    days = "3650"

    def run(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run([openssl, *args], input=stdin, capture_output=True, text=True)
        if result.returncode != 0:
            raise StepFailed(f"openssl {args[0]} could not make etcd's certificates: {result.stderr.strip()[-1000:]}")
        return result.stdout

    def new_key(path: Path) -> None:
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path))
        path.chmod(0o600)

    new_key(ca_key)
    run(
        "req", "-x509", "-new", "-sha256", "-key", str(ca_key), "-subj", "/CN=k8s-course-etcd-ca",
        "-days", days, "-config", str(config), "-extensions", "ca", "-out", str(ca_cert),
    )  # fmt: skip
    for name, subject in _ETCD_CERTIFICATES.items():
        key = folder / f"{name}.key"
        new_key(key)
        request = run("req", "-new", "-sha256", "-key", str(key), "-subj", subject, "-config", str(config))
        run(
            "x509", "-req", "-sha256", "-CA", str(ca_cert), "-CAkey", str(ca_key),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", days,
            "-extfile", str(config), "-extensions", "server" if name == "server" else "client",
            "-out", str(folder / f"{name}.crt"), stdin=request,
        )  # fmt: skip
    ca_key.unlink()
    config.unlink()
    for path in folder.iterdir():
        path.chmod(0o600)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now, from the kernel's ephemeral ports (32768 and up
    on Linux), which it hands out in no fixed order."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _stop_pids(pid_dir: Path, grace: float = 5.0) -> None:
    """End every process named by a ``*.pid`` file in ``pid_dir``: TERM, then KILL after ``grace``.

    A pid outlives its process and may be reused, so only a process whose command line mentions this
    cluster's folder is ours to stop.
    """
    pids = []
    for pid_file in pid_dir.glob("*.pid") if pid_dir.is_dir() else ():
        try:
            pid = int(pid_file.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError):
            continue
        if str(pid_dir.parent).encode() in command:
            pids.append(pid)
    alive = [pid for pid in pids if _signal(pid, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if _signal(pid, 0)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> bool:
    """Send ``sig`` to ``pid``; False when no such process exists (any more)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
