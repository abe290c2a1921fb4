"""The version pins in ``cluster-setup/versions.yaml``, the one place the Kubernetes release is set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from course._config import load_config
from course._paths import setup_dir

VERSIONS_SCHEMA = {
    "kubernetes": str,
    "etcd": str,
    "kwok": str,
    "python-client": str,
    "kind": {
        "version": str,
        "node-image": str,
        "cloud-provider-kind": str,
        "ingress-controller": str,
        "calico": str,
    },
}
"""What ``cluster-setup/versions.yaml`` holds; a key added there must be added here (and used)."""


@dataclass(frozen=True)
class Pins:
    """Versions of everything the course runs. ``kubernetes`` decides the rest."""

    kubernetes: str
    etcd: str
    kwok: str
    python_client: str
    kind: str
    kind_node_image: str
    kind_cloud_provider_image: str
    kind_ingress_image: str
    calico: str

    @property
    def minor(self) -> str:
        """``"1.37"`` for ``v1.37.2``: the Kubernetes minor the course teaches."""
        major, minor = self.kubernetes.lstrip("v").split(".")[:2]
        return f"{major}.{minor}"

    @property
    def staging(self) -> str:
        """``"v0.37.2"``: the version of the ``k8s.io/*`` staging modules that match ``kubernetes``."""
        _, minor, patch = self.kubernetes.lstrip("v").split(".")
        return f"v0.{minor}.{patch}"


def load_pins(path: Path | None = None) -> Pins:
    """Read the pins file (``cluster-setup/versions.yaml`` unless told otherwise)."""
    data = load_config(path or setup_dir() / "versions.yaml", VERSIONS_SCHEMA, shown_as="cluster-setup/versions.yaml")
    return Pins(
        kubernetes=data["kubernetes"],
        etcd=data["etcd"],
        kwok=data["kwok"],
        python_client=data["python-client"],
        kind=data["kind"]["version"],
        kind_node_image=data["kind"]["node-image"],
        kind_cloud_provider_image=data["kind"]["cloud-provider-kind"],
        kind_ingress_image=data["kind"]["ingress-controller"],
        calico=data["kind"]["calico"],
    )
