"""Getting the sim backend's binaries: a per-version cache, filled by a Go build or a verified download.

The binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, kwokctl)
live in ``~/.cache/k8s-course/bin/<kubernetes-version>/``. A stamp file there records the versions
they were made for, so a second ``ensure_binaries`` is a cache hit that returns at once.

Two ways fill the cache, both described by ``cluster-setup/toolchain.yaml``:

* **build** (where ``go`` is installed, as in CI): ``go build`` of the pinned modules in
  ``cluster-setup/tools/``, static (``CGO_ENABLED=0``) and version-stamped;
* **download** (a learner's laptop, Binder): the official release artifacts, each checked against
  the sha256 pinned in ``cluster-setup/checksums.yaml``. A mismatch is refused, never installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from course._paths import cache_dir, setup_dir
from course._pins import Pins, load_pins
from course._steps import StepFailed, step

STAMP = ".pins.json"


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
class Toolchain:
    """What ``cluster-setup/toolchain.yaml`` says, with the versions of ``versions.yaml`` filled in."""

    binaries: tuple[Binary, ...]
    ldflags: Mapping[str, tuple[str, ...]]
    checksums: Mapping[str, str]
    pins: Pins

    @property
    def bin_dir(self) -> Path:
        return cache_dir() / "bin" / self.pins.kubernetes

    def stamp(self) -> dict[str, str]:
        return {b.name: b.version for b in self.binaries}


def load_toolchain(pins: Pins | None = None) -> Toolchain:
    """Read ``toolchain.yaml`` and ``checksums.yaml`` for the pinned versions."""
    pins = pins or load_pins()
    spec = yaml.safe_load((setup_dir() / "toolchain.yaml").read_text())
    sums = yaml.safe_load((setup_dir() / "checksums.yaml").read_text()).get("checksums") or {}
    versions = {"kubernetes": pins.kubernetes, "etcd": pins.etcd, "kwok": pins.kwok}
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
    return Toolchain(
        binaries=binaries,
        ldflags={module: tuple(flags) for module, flags in spec.get("ldflags", {}).items()},
        checksums=dict(sums),
        pins=pins,
    )


def cached(toolchain: Toolchain) -> bool:
    """True when every binary is in the cache and was made for the pinned versions."""
    stamp = toolchain.bin_dir / STAMP
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    return recorded == toolchain.stamp() and all(
        os.access(toolchain.bin_dir / b.name, os.X_OK) for b in toolchain.binaries
    )


def ensure_binaries(method: str = "auto", toolchain: Toolchain | None = None) -> Path:
    """Return the directory holding every sim binary, building or downloading what is missing.

    ``method`` is ``"build"``, ``"download"`` or ``"auto"`` (build when ``go`` is on PATH, else
    download); ``K8S_COURSE_TOOLCHAIN`` overrides ``"auto"``.
    """
    toolchain = toolchain or load_toolchain()
    if cached(toolchain):
        return toolchain.bin_dir
    if method == "auto":
        method = os.environ.get("K8S_COURSE_TOOLCHAIN") or ("build" if shutil.which("go") else "download")
    toolchain.bin_dir.parent.mkdir(parents=True, exist_ok=True)
    # Work in a sibling folder and swap it in whole, so an interrupted run never leaves a half cache.
    with tempfile.TemporaryDirectory(dir=toolchain.bin_dir.parent, prefix=".partial-") as partial:
        staging = Path(partial)
        if method == "build":
            build(toolchain, staging)
        elif method == "download":
            download_all(toolchain, staging)
        else:
            raise StepFailed(f"Unknown toolchain method {method!r}: use 'build' or 'download'.")
        (staging / STAMP).write_text(json.dumps(toolchain.stamp(), indent=1, sort_keys=True))
        if toolchain.bin_dir.exists():
            shutil.rmtree(toolchain.bin_dir)
        staging.rename(toolchain.bin_dir)
        staging.mkdir()  # TemporaryDirectory removes it again on exit
    return toolchain.bin_dir


def _go_env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}


def build(toolchain: Toolchain, out: Path) -> None:
    """``go build`` every binary from the pinned modules in ``cluster-setup/tools/`` into ``out``."""
    if not shutil.which("go"):
        raise StepFailed(
            "Building the cluster binaries needs Go (https://go.dev/dl/), which is not installed.\n"
            "Install Go >= 1.26, or use the official downloads: python -m course toolchain --method download"
        )
    for binary in toolchain.binaries:
        minor = binary.version.lstrip("v").split(".")[1]
        flags = toolchain.ldflags.get(binary.module, ())
        stamps = [f"-X {flag.format(version=binary.version, minor=minor)}" for flag in flags]
        # The first binary of a module compiles its packages; the rest reuse Go's build cache.
        with step(f"Building {binary.name} {binary.version} (first time only)"):
            command = [
                "go", "build", "-trimpath", "-ldflags", " ".join(["-s", "-w", *stamps]),
                "-o", str(out / binary.name), binary.package,
            ]  # fmt: skip
            result = subprocess.run(
                command, cwd=setup_dir() / binary.module, env=_go_env(), capture_output=True, text=True
            )
            if result.returncode != 0:
                raise StepFailed(f"go build failed in cluster-setup/{binary.module}:\n{result.stderr[-3000:]}")


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
            f"{dest.name} is missing from the binary cache and cannot be fetched: no checksum is pinned"
            f" for {url} in cluster-setup/checksums.yaml.\n"
            "Install Go >= 1.26 to build the binaries instead, or pin the checksums with:"
            " python -m course toolchain pin"
        )
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as handle:
            shutil.copyfileobj(response, handle)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise StepFailed(f"Could not download {url}: {error}. Check the network, or install Go to build.") from None
    found = sha256_of(partial)
    if found != expected_sha256:
        partial.unlink()
        raise StepFailed(
            f"Refused {url}: its sha256 is {found}, but cluster-setup/checksums.yaml pins {expected_sha256}."
        )
    partial.rename(dest)


def download_all(toolchain: Toolchain, out: Path) -> None:
    """Fetch and verify every binary's official artifact into ``out``."""
    machine = arch()
    for binary in toolchain.binaries:
        url = binary.url(machine)
        with step(f"Downloading {binary.name} {binary.version}"):
            artifact = out / url.rsplit("/", 1)[-1]
            fetch_verified(url, toolchain.checksums.get(url), artifact)
            if binary.member:
                member = binary.member.format(version=binary.version, arch=machine)
                with tarfile.open(artifact) as archive:
                    source = archive.extractfile(member)
                    if source is None:
                        raise StepFailed(f"{url} has no file {member}.")
                    with source, (out / binary.name).open("wb") as target:
                        shutil.copyfileobj(source, target)
                artifact.unlink()
            else:
                artifact.rename(out / binary.name)
            (out / binary.name).chmod(0o755)


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
