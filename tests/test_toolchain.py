"""The binary cache: downloads are verified against pinned checksums, a full cache is used as is.

The download path is exercised against a local HTTP server serving stand-in artifacts (this machine
has no internet), with the same code that fetches the official releases elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from course._steps import StepFailed
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
    assert not list(served_toolchain.bin_dir.parent.glob(".partial-*")), "a partial cache was left behind"


def test_missing_checksum_names_the_binary_and_the_ways_out(served_toolchain: Toolchain) -> None:
    with pytest.raises(StepFailed) as problem:
        ensure_binaries("download", replace(served_toolchain, checksums={}))
    message = str(problem.value)
    assert "etcd" in message and "no checksum is pinned" in message and "Install Go" in message


def test_build_without_go_says_how_to_get_it(
    served_toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StepFailed, match="needs Go"):
        ensure_binaries("build", served_toolchain)


def test_unreachable_download_server_gives_a_clear_message(served_toolchain: Toolchain) -> None:
    offline = tuple(replace(b, download="http://127.0.0.1:9/" + b.name) for b in served_toolchain.binaries)
    sums = {b.url("amd64"): "0" * 64 for b in offline}
    with pytest.raises(StepFailed, match="Could not download"):
        ensure_binaries("download", replace(served_toolchain, binaries=offline, checksums=sums))
