"""Golden pictures: the rendered SVG and text of each picture, compared byte for byte.

The input of every golden is state recorded once from the real sim cluster (``tests/golden/*.json``),
so the comparison does not depend on random Pod names or timing. When a picture changes on purpose:

    python -m pytest tests/test_golden.py --update-golden     # rewrite the pictures from the saved inputs
    python -m pytest tests/test_golden.py --record-golden     # record the inputs again from a sim cluster too

and review the diff.
"""

from __future__ import annotations

import difflib
import json
import os
import random
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

import course
from course.pictures._reading import Snapshot
from course.pictures.control import Component, ControlPlane, control_plane
from course.pictures.owners import NAMESPACED_KINDS, build_owner_graph
from course.pictures.placement import build_placement_map
from course.pictures.routes import Hop, Route, explain_route
from course.pictures.timeline import Recording
from tests import pictures_scenario

GOLDEN = Path(__file__).with_name("golden")
ROUTES = ("/", "/api/v1", "/old", "/stuck", "/port", "/www")


def updating(config: pytest.Config, environ: Mapping[str, str]) -> bool:
    """Whether the goldens are to be rewritten; never in CI, where a rewrite would hide every difference."""
    wanted = bool(config.getoption("--update-golden") or config.getoption("--record-golden"))
    if wanted and environ.get("CI"):
        pytest.fail("--update-golden rewrites the goldens instead of comparing them: not in CI (CI is set).")
    return wanted


@pytest.fixture
def update(request: pytest.FixtureRequest) -> bool:
    return updating(request.config, os.environ)


def test_the_update_flag_is_refused_in_ci() -> None:
    class Flags:
        def getoption(self, name: str) -> bool:
            return name == "--update-golden"

    config: Any = Flags()
    assert updating(config, {}) is True
    with pytest.raises(pytest.fail.Exception, match="not in CI"):
        updating(config, {"CI": "true"})


def check_golden(name: str, rendered: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(rendered)
        return
    assert path.exists(), f"no golden {path}; write it with: python -m pytest {__file__} --update-golden"
    expected = path.read_text()
    if rendered != expected:
        diff = difflib.unified_diff(expected.splitlines(), rendered.splitlines(), "golden", "rendered", lineterm="")
        pytest.fail(f"{name} differs from its golden:\n" + "\n".join(list(diff)[:60]))


# -- recording the input (only with --update-golden) ---------------------------------------------------
def _scrubbed(obj: Any) -> Any:
    """Drop what changes on every run and no picture reads: managedFields and timestamps of writes."""
    if isinstance(obj, dict):
        return {k: _scrubbed(v) for k, v in obj.items() if k not in ("managedFields", "resourceVersion")}
    if isinstance(obj, list):
        return [_scrubbed(item) for item in obj]
    return obj


def _record_timeline(cluster: course.Cluster) -> Recording:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]},
            },
        },
    }
    cluster.apply(deployment)
    cluster.wait_for("Deployment", "web", "Ready")
    with cluster.timeline(show=False) as recorded:
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"  # type: ignore[index]
        cluster.apply(deployment)
        cluster.wait_for("Deployment", "web", "Ready")
        time.sleep(0.5)
        cluster.apps.patch_namespaced_deployment_scale("web", cluster.namespace, {"spec": {"replicas": 1}})
    return recorded.recording


@pytest.mark.skipif(
    "not config.getoption('--record-golden')", reason="records from the cluster only with --record-golden"
)
def test_record_inputs_from_the_sim_cluster(sim_cluster: Path) -> None:
    GOLDEN.mkdir(exist_ok=True)
    with pictures_scenario.namespace("golden") as cluster:
        pictures_scenario.build(cluster)
        owners = Snapshot.read(cluster.namespace, (*NAMESPACED_KINDS, "PersistentVolume", "StorageClass"))
        placement = Snapshot.read(cluster.namespace, ("Node", "Pod", "Event"))
        routes = [asdict(explain_route(f"http://shop.example.com{path}", cluster.namespace)) for path in ROUTES]
        view = asdict(control_plane())
    for snapshot, name in ((owners, "owners"), (placement, "placement")):
        snapshot.objects = _scrubbed(snapshot.objects)
        snapshot.save(GOLDEN / f"{name}.snapshot.json")
    (GOLDEN / "routes.json").write_text(json.dumps(routes, indent=1, sort_keys=True) + "\n")
    holder = re.compile(r"Lease held by \S+")
    for component in [*view["components"], *(c for agents in view["nodes"].values() for c in agents)]:
        component["detail"] = holder.sub("Lease held by <holder>", component["detail"])
    (GOLDEN / "control-plane.json").write_text(json.dumps(view, indent=1, sort_keys=True) + "\n")
    with pictures_scenario.namespace("golden-timeline") as cluster:
        _record_timeline(cluster).save(GOLDEN / "timeline.recording.json")


# -- the goldens ---------------------------------------------------------------------------------------
def load_routes() -> list[Route]:
    routes = []
    for data in json.loads((GOLDEN / "routes.json").read_text()):
        routes.append(Route(**{**data, "hops": [Hop(**hop) for hop in data["hops"]]}))
    return routes


def load_control_plane() -> ControlPlane:
    data = json.loads((GOLDEN / "control-plane.json").read_text())
    return ControlPlane(
        data["backend"],
        [Component(**c) for c in data["components"]],
        {node: [Component(**c) for c in agents] for node, agents in data["nodes"].items()},
    )


def test_owner_graph(update: bool) -> None:
    snapshot = Snapshot.load(GOLDEN / "owners.snapshot.json")
    check_golden("owners.svg", build_owner_graph(snapshot).to_svg(), update)
    check_golden("owners.txt", str(build_owner_graph(snapshot)) + "\n", update)
    check_golden("owners-db.svg", build_owner_graph(snapshot, "StatefulSet", "db").to_svg(), update)


def test_empty_namespace(update: bool) -> None:
    check_golden("owners-empty.svg", build_owner_graph(Snapshot("empty")).to_svg(), update)


def test_placement_map(update: bool) -> None:
    placement = build_placement_map(Snapshot.load(GOLDEN / "placement.snapshot.json"))
    check_golden("placement.svg", placement.to_svg(), update)
    check_golden("placement.txt", str(placement) + "\n", update)


def test_timeline(update: bool) -> None:
    recording = Recording.load(GOLDEN / "timeline.recording.json")
    check_golden("timeline.svg", recording.to_svg(), update)
    check_golden("timeline-table.txt", str(recording.table()) + "\n", update)


def test_routes(update: bool) -> None:
    routes = load_routes()
    check_golden("routes.svg", "\n".join(route.to_svg() for route in routes), update)
    check_golden("routes.txt", "\n\n".join(str(route) for route in routes) + "\n", update)


def test_control_plane(update: bool) -> None:
    check_golden("control-plane.svg", load_control_plane().to_svg(), update)


# -- that the goldens can catch what they are for ------------------------------------------------------
def test_rendering_does_not_depend_on_the_order_the_api_server_lists_objects() -> None:
    snapshot = Snapshot.load(GOLDEN / "owners.snapshot.json")
    shuffled = Snapshot.load(GOLDEN / "owners.snapshot.json")
    for items in shuffled.objects.values():
        random.Random(4).shuffle(items)
    assert build_owner_graph(shuffled).to_svg() == build_owner_graph(snapshot).to_svg()


def test_a_lost_object_or_label_fails_the_golden() -> None:
    snapshot = Snapshot.load(GOLDEN / "owners.snapshot.json")
    snapshot.objects["Pod"] = [p for p in snapshot.objects["Pod"] if p["metadata"]["name"] != "huge"]
    with pytest.raises(pytest.fail.Exception, match="huge"):
        check_golden("owners.svg", build_owner_graph(snapshot).to_svg(), update=False)
    relabelled = (GOLDEN / "placement.svg").read_text().replace("Not scheduled", "")
    with pytest.raises(pytest.fail.Exception, match="Not scheduled"):
        check_golden("placement.svg", relabelled, update=False)


def test_goldens_hold_no_uids_or_timestamps() -> None:
    uid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
    goldens = sorted(GOLDEN.glob("*.svg")) + sorted(GOLDEN.glob("*.txt"))
    assert len(goldens) >= 10
    for path in goldens:
        text = path.read_text()
        assert not stamp.search(text), path
        assert not [m for m in uid.findall(text) if not text[: text.find(m)].endswith("pvc-")], path
