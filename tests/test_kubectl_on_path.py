"""Which kubectl the course hands a notebook: its own pinned one, or one on PATH that is named when too old."""

from __future__ import annotations

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
