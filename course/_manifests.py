"""Reading manifests: YAML text, a dict, or a list of them, into Kubernetes objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from course._errors import ManifestError, explain_yaml_error

Manifest = str | Mapping[str, Any] | Iterable[Mapping[str, Any]]
"""What ``apply`` takes: YAML text (one or more documents), one object as a dict, or a list of them."""


def load_objects(manifest: Manifest) -> list[dict[str, Any]]:
    """Return the objects in ``manifest``, each checked to have apiVersion, kind and metadata.name.

    >>> load_objects("apiVersion: v1\\nkind: Pod\\nmetadata: {name: hello}")[0]["kind"]
    'Pod'
    """
    if isinstance(manifest, str):
        try:
            documents = list(yaml.safe_load_all(manifest))
        except yaml.YAMLError as error:
            raise explain_yaml_error(error, manifest) from None
    elif isinstance(manifest, Mapping):
        documents = [manifest]
    else:
        documents = list(manifest)
    objects = []
    for number, document in enumerate(documents, start=1):
        if document is None:  # an empty document, e.g. after a trailing '---'
            continue
        if isinstance(document, Mapping) and document.get("kind", "").endswith("List") and "items" in document:
            objects.extend(load_objects(document["items"]))
            continue
        objects.append(_checked(dict(document) if isinstance(document, Mapping) else document, number))
    if not objects:
        raise ManifestError("The manifest is empty: there is no object to apply.")
    return objects


def _checked(document: Any, number: int) -> dict[str, Any]:
    where = f"Object {number} of the manifest"
    if not isinstance(document, dict):
        raise ManifestError(f"{where} is a {type(document).__name__}, not a mapping of fields (key: value).")
    missing = [key for key in ("apiVersion", "kind") if not document.get(key)]
    if not (document.get("metadata") or {}).get("name"):
        missing.append("metadata.name")
    if missing:
        kind = document.get("kind", "object")
        raise ManifestError(
            f"{where} ({kind}) has no {', '.join(missing)}.\n"
            "  Every Kubernetes object needs apiVersion, kind and metadata.name (e.g. apiVersion: v1, kind: Pod)."
        )
    return document
