"""The offline kind node image build (cluster-setup/kind/node-image/): its pins and its cache keys.

Cheap checks only, without Docker or Go. The build itself is opt-in (its README says how to run it).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest

from .conftest import REPO

FOLDER = REPO / "cluster-setup" / "kind" / "node-image"
GO = "go1.26.8"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kind_node_image_build", FOLDER / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


build = load_build()


@pytest.fixture
def pins() -> dict[str, Any]:
    return copy.deepcopy(build.load_pins())


def test_the_pins_are_well_formed(pins: dict[str, Any]) -> None:
    assert pins["debian"]["suite"] == "bookworm"  # trixie's systemd refuses cgroup v1
    assert all(isinstance(package, str) for package in pins["debian"]["packages"])
    for name, spec in pins["go"].items():
        assert {"module", "version", "packages"} <= spec.keys(), name
        assert spec["version"].startswith("v"), name
        assert all(isinstance(flag, str) and "={version}" in flag for flag in spec.get("ldflags", [])), name
    for name, spec in pins["images"].items():
        assert spec["base"] in {"scratch", "debian"}, name
        assert ":{" in spec["name"] or name in chapter_standins(pins), f"{name}: the tag comes from a pin"
        for program in spec["bin"]:
            assert build.program_stage(pins, program) or (FOLDER / program).is_file(), f"{name}: {program}"
    assert "{kubernetes}" in pins["node"]["image"]


def chapter_standins(pins: dict[str, Any]) -> dict[str, str]:
    """The stand-ins for the chapters' own images: ``{entry: image}`` (their tags are the chapters', not pins)."""
    return {name: spec["name"] for name, spec in pins["images"].items()
            if name.startswith("standin-") and ":{" not in spec["name"]}  # fmt: skip


def test_each_chapter_image_stand_in_is_an_image_a_chapter_runs(pins: dict[str, Any]) -> None:
    """A stand-in under a name no chapter uses would hide nothing and cost disk: the names must stay in step."""
    chapters = "".join(path.read_text() for path in (REPO / "autograder" / "source").glob("*/*.ipynb"))
    chapters += "".join(path.read_text() for path in (REPO / "course" / "chapters").glob("*.yaml"))
    standins = chapter_standins(pins)
    assert standins
    for name, image in standins.items():
        short = image.removeprefix("docker.io/").removeprefix("library/")
        assert short in chapters, f"{name}: no chapter runs {short}"


def test_the_stand_in_network_plugin_is_named_as_one(pins: dict[str, Any]) -> None:
    standin = pins["images"]["standin-kindnetd"]
    assert standin["name"].startswith("docker.io/kindest/kindnetd:")
    assert "TEST STAND-IN" in (FOLDER / "standin-kindnetd.sh").read_text()


def test_a_pin_rebuilds_its_stage_and_what_is_built_from_it_only(pins: dict[str, Any]) -> None:
    versions = build.load_versions()
    before = build.stage_keys(pins, versions, GO)
    assert before == build.stage_keys(copy.deepcopy(pins), versions, GO)  # stable

    pins["go"]["traefik"]["version"] = "v3.6.13"
    after = build.stage_keys(pins, versions, GO)
    changed = {stage for stage in before if before[stage] != after[stage]}
    assert changed == {"go-traefik", "image-traefik", "release", "node"}


def test_the_debian_pin_rebuilds_the_base_and_the_debian_images(pins: dict[str, Any]) -> None:
    versions = build.load_versions()
    before = build.stage_keys(pins, versions, GO)
    pins["debian"]["packages"].append("less")
    after = build.stage_keys(pins, versions, GO)
    changed = {stage for stage in before if before[stage] != after[stage]}
    on_debian = {f"image-{name}" for name, spec in pins["images"].items() if spec["base"] == "debian"}
    assert changed == {"rootfs", "base", "release", "node", *on_debian}
    assert "image-etcd" not in changed


def test_the_kubernetes_pin_reaches_every_kubernetes_image(pins: dict[str, Any]) -> None:
    versions = build.load_versions()
    before = build.stage_keys(pins, versions, GO)
    after = build.stage_keys(pins, {**versions, "kubernetes": "v1.37.3"}, GO)
    for stage in ("kubernetes", "pause", "image-kube-apiserver", "image-kube-proxy", "release", "node"):
        assert before[stage] != after[stage], stage
    assert before["go-containerd"] == after["go-containerd"]
    assert before["rootfs"] == after["rootfs"]
