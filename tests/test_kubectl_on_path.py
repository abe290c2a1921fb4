"""Which kubectl the course hands a notebook: its own pinned one, or one on PATH that is named when too old;
and the kubeconfig folders it writes for ``!kubectl``, which do not pile up."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def _fake_kubectl(folder: Path, minor: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "kubectl"
    version = f'{{"clientVersion": {{"major": "1", "minor": "{minor}", "gitVersion": "v1.{minor.rstrip("+")}.4"}}}}'
    script.write_text(f"#!/bin/sh\necho '{version}'\n")
    script.chmod(0o755)


@pytest.mark.parametrize(("minor", "warned"), [("32+", True), ("36", False)])
def test_a_kubectl_on_path_too_far_from_the_course_is_named(
    minor: str, warned: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: without the course's own kubectl, an old one on PATH was used silently."""
    from course import _session

    monkeypatch.setenv("K8S_COURSE_CACHE", str(tmp_path / "empty-cache"))
    _fake_kubectl(tmp_path / "bin", minor)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(_session, "_warned", set())
    assert _session._kubectl_binary() == str(tmp_path / "bin" / "kubectl")
    warning = capsys.readouterr().err
    if warned:
        assert "is v1.32.4, but the course teaches Kubernetes 1.37" in warning
        assert "python -m course toolchain" in warning
    else:
        assert warning == ""


def test_the_kubeconfig_folder_of_a_kernel_that_was_killed_is_removed_by_the_next_connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel ended by SIGKILL or ``os._exit`` skips the exit handler that removes its kubeconfig folder
    (every test run left one in /tmp); the next kernel to connect removes it, and only it."""
    from course import _session

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    of_an_ended_kernel = tmp_path / f"k8s-course-kubectl-{ended.stdout.strip()}-abc"
    of_a_running_kernel = tmp_path / f"k8s-course-kubectl-{os.getpid()}-def"
    not_a_kernels = tmp_path / "k8s-course-kubectl-notes"
    for folder in (of_an_ended_kernel, of_a_running_kernel, not_a_kernels):
        folder.mkdir()
        (folder / "kubeconfig").write_text("apiVersion: v1\n")
    _session._remove_kubeconfigs_of_ended_kernels()
    assert not of_an_ended_kernel.exists()
    assert of_a_running_kernel.exists() and not_a_kernels.exists()
