"""The ways to open the course: Codespaces (.devcontainer/) and Binder (environment.yml, binder/).

Codespaces and Binder themselves cannot run here; what can be checked is that their files say what
the course needs, agree with the pins, and that Binder's start script brings a cluster up on a
machine like Binder's (no Docker, a clean home).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from course._pins import load_pins

from .conftest import REPO
from .processes import processes_under

# conda-forge's names for the PyPI packages the course depends on.
CONDA_NAMES = {"kubernetes": "python-kubernetes", "pyyaml": "pyyaml"}


def requirement(spec: str) -> tuple[str, str]:
    """``("nbgrader", "==0.9.6")`` for ``nbgrader==0.9.6`` (PyPI) or ``nbgrader==0.9.6`` (conda)."""
    found = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", spec.strip())
    assert found, spec
    return found.group(1).lower(), found.group(2).replace(" ", "")


def test_environment_yml_pins_what_pyproject_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {CONDA_NAMES.get(name, name): pin for name, pin in map(requirement, project["dependencies"])}
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    assert environment["channels"][0] == "conda-forge"
    from_pip = [spec for item in environment["dependencies"] if isinstance(item, dict) for spec in item.get("pip", [])]
    conda = dict(requirement(spec) for spec in environment["dependencies"] + from_pip if isinstance(spec, str))
    assert {name: conda.get(name) for name in wanted} == wanted
    assert conda["python"] == "=3.11"
    assert conda["python-kubernetes"] == f"=={load_pins().python_client}"


def test_binder_reads_the_one_environment_file() -> None:
    """repo2docker reads binder/ alone when it exists: its environment.yml must be the root one."""
    link = REPO / "binder" / "environment.yml"
    assert link.is_symlink() and os.readlink(link) == "../environment.yml"
    assert link.resolve() == (REPO / "environment.yml").resolve()


def test_binder_scripts_are_executable_and_start_ends_with_exec() -> None:
    for name in ("postBuild", "start"):
        assert os.access(REPO / "binder" / name, os.X_OK), name
    lines = [line for line in (REPO / "binder" / "start").read_text().splitlines() if line.strip()]
    assert lines[-1] == 'exec "$@"'


def test_devcontainer_is_json_with_docker_python_kubectl_and_kind_at_the_pins() -> None:
    config = json.loads((REPO / ".devcontainer" / "devcontainer.json").read_text())
    features = config["features"]
    pins = load_pins()
    assert features["ghcr.io/devcontainers/features/python:1"]["version"] == "3.11"
    assert "ghcr.io/devcontainers/features/docker-in-docker:2" in features
    assert features["ghcr.io/devcontainers/features/kubectl-helm-minikube:1"]["version"] == pins.kubernetes.lstrip("v")
    assert features["ghcr.io/devcontainers-extra/features/kind:1"]["version"] == pins.kind.lstrip("v")
    assert config["postCreateCommand"] == "python -m pip install --user -e '.[dev]'"
    assert config["postStartCommand"] == "python -m course cluster up --backend kind"
    assert "--notebook-dir=notebooks" in config["postAttachCommand"]["jupyterlab"]
    assert config["remoteEnv"]["KUBECONFIG"].endswith("/.local/state/k8s-course/kubeconfig")
    # JupyterLab as learners get it everywhere (no news prompt, no instructor panels): course/jupyter/.
    lab_settings = config["remoteEnv"]["JUPYTER_CONFIG_PATH"].replace("${containerWorkspaceFolder}", str(REPO))
    assert (Path(lab_settings) / "labconfig" / "page_config.json").is_file()
    assert Path(lab_settings).name == "learner"


def test_the_korean_codespace_is_the_english_one_opening_the_korean_edition() -> None:
    from course.translations import devcontainer_path, edition_devcontainer

    path = devcontainer_path("ko")
    assert path.read_text() == edition_devcontainer("ko"), (
        f"{path.relative_to(REPO)} is not what python -m course release --lang ko writes; run it and commit"
    )
    english = json.loads((REPO / ".devcontainer" / "devcontainer.json").read_text())
    korean = json.loads(path.read_text())
    assert {key for key in english if english[key] != korean[key]} == {"name", "remoteEnv", "postAttachCommand"}
    assert korean["postAttachCommand"]["jupyterlab"].endswith("--notebook-dir=notebooks/ko")
    assert korean["remoteEnv"]["K8S_COURSE_LANG"] == "ko"
    folders = korean["remoteEnv"]["JUPYTER_CONFIG_PATH"].replace("${containerWorkspaceFolder}", str(REPO)).split(":")
    assert [Path(folder).name for folder in folders] == ["ko", "learner"]
    assert all((Path(folder) / "labconfig").is_dir() for folder in folders)
    assert (REPO / "notebooks" / "ko").is_dir()
    link = "https://codespaces.new/OWNER/REPO?quickstart=1&devcontainer_path=.devcontainer%2Fko%2Fdevcontainer.json"
    assert link in (REPO / "README.ko.md").read_text()


@pytest.mark.cluster
def test_binder_start_in_a_clean_home_brings_the_sim_cluster_up(tmp_path: Path) -> None:
    """As on Binder: no Docker, an empty home. The binary cache is shared so that nothing is rebuilt."""
    from course._paths import cache_dir

    home, state = tmp_path / "home", tmp_path / "state"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "K8S_COURSE_STATE": str(state),
        "K8S_COURSE_CACHE": str(cache_dir()),
        "K8S_COURSE_LEARNER": "jovyan",
    }
    # What JupyterLab would be: a command that uses the cluster the way a Binder terminal does.
    session = "kubectl get nodes -o name; echo KUBECONFIG=$KUBECONFIG; echo JUPYTER_CONFIG_PATH=$JUPYTER_CONFIG_PATH"
    try:
        result = subprocess.run(
            [str(REPO / "binder" / "start"), "bash", "-c", session],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "node/course-control-plane" in result.stdout
        assert f"KUBECONFIG={state}/kubeconfig" in result.stdout
        assert f"JUPYTER_CONFIG_PATH={REPO}/course/jupyter/learner" in result.stdout
        # kubectl keeps its discovery cache in ~/.kube/cache; the config there is the learner's alone.
        assert not (home / ".kube" / "config").exists()
        status = subprocess.run(
            [sys.executable, "-m", "course", "cluster", "status"], env=env, capture_output=True, text=True, timeout=60
        )
        assert "Course cluster: sim" in status.stderr, status.stderr
        assert processes_under(state), "the cluster should outlive the start script"
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "course", "cluster", "down"], env=env, capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    assert processes_under(state) == []
    assert not (state / "kubeconfig").exists()


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_binder_scripts_parse(name: str) -> None:
    result = subprocess.run(["bash", "-n", str(REPO / "binder" / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
