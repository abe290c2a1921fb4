"""Reading manifests: YAML text, a dict, or a list of them, into Kubernetes objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from course._errors import ManifestError, explain_yaml_error

Manifest = str | Mapping[str, Any] | Iterable[Mapping[str, Any]]
"""What ``apply`` takes: YAML text (one or more documents), one object as a dict, or a list of them."""


class KubectlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, taking tabs where kubectl's YAML parser does.

    YAML forbids tabs for indentation only; between tokens a tab is white space like a space. PyYAML
    skips only spaces there, so it refuses ``labels: {app: web,<TAB>tier: db}`` or a tab after a value
    (left by copying from a web page), which kubectl applies. kubectl parses with go-yaml, a port of
    libyaml, whose rule this loader follows: a tab is skipped inside a flow collection (``{...}``,
    ``[...]``) and where no key can start (after a key's ``:`` or after a value), and it is part of a
    plain value (``echo a<TAB>b``). Where a key can start (at the start of a line, after ``- ``) a tab
    would be indentation, and stays an error.

    >>> yaml.load("metadata: {name: web,\\ttier: db}\\t\\r\\n", Loader=KubectlLoader)
    {'metadata': {'name': 'web', 'tier': 'db'}}
    """

    def scan_to_next_token(self) -> None:
        # PyYAML's own method with libyaml's condition for tabs; the byte order mark, comments and line
        # breaks are handled as PyYAML does.
        if self.index == 0 and self.peek() == "\uFEFF":
            self.forward()
        while True:
            while self.peek() == " " or (self.peek() == "\t" and (self.flow_level or not self.allow_simple_key)):
                self.forward()
            if self.peek() == "#":
                while self.peek() not in "\0\r\n\x85\u2028\u2029":
                    self.forward()
            if not self.scan_line_break():  # type: ignore[no-untyped-call]
                return
            if not self.flow_level:
                self.allow_simple_key = True

    def scan_plain_spaces(self, indent: int, start_mark: Any) -> Any:
        # Blanks between the words of a plain value (``echo a<TAB>b``): tabs are taken as they stand, as
        # libyaml does; PyYAML counts only spaces and would end the value at the tab.
        length = 0
        while self.peek(length) in " \t":
            length += 1
        if "\t" not in self.prefix(length):
            return super().scan_plain_spaces(indent, start_mark)
        if self.peek(length) in "\r\n\x85\u2028\u2029":
            self.forward(length)  # blanks before a line break are dropped either way
            return super().scan_plain_spaces(indent, start_mark)
        blanks = self.prefix(length)
        self.forward(length)
        return [blanks]


def load_objects(manifest: Manifest) -> list[dict[str, Any]]:
    """Return the objects in ``manifest``, each checked to have apiVersion, kind and metadata.name.

    >>> load_objects("apiVersion: v1\\nkind: Pod\\nmetadata: {name: hello}")[0]["kind"]
    'Pod'
    """
    if isinstance(manifest, str):
        try:
            documents = list(yaml.load_all(manifest, Loader=KubectlLoader))
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
