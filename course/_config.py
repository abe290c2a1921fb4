"""Strict reading of the course's own YAML files: unknown keys and wrong types are errors.

A schema is plain data, in the shape of the file it describes::

    {"title": str, "starting-state": Optional([Mapping])}

* a type (``str``, ``int``, ``bool``) or a tuple of types: the value must be one of them;
* a dict: a mapping with exactly these keys (each required unless wrapped in :class:`Optional`);
  a key ``...`` allows other keys too, with any values (a manifest's ``spec``, checked later by the
  API server);
* a one-element list: a list whose items all follow that schema;
* :class:`MapOf`: a mapping with free keys (names chosen by the author) whose values follow a schema;
* :class:`OneOf`: one of a few fixed values (a kind, a component's name);
* ``Mapping``: any mapping (a Kubernetes manifest, checked later by the API server).

Like kind's config loader, :func:`load_config` reports every problem at once, each with where it is
and what was expected, so a typo such as ``starting_state:`` is named instead of silently ignored.

>>> check({"title": "Meet your cluster", "starting_state": []}, {"title": str, "starting-state": Optional([Mapping])})
["unknown key 'starting_state' (did you mean 'starting-state'?)"]
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from course._cli_output import StepFailed


class ConfigError(StepFailed):
    """A course file does not follow its schema; the message lists every problem found."""


@dataclass(frozen=True)
class Optional:
    """A key that may be left out."""

    schema: Any


@dataclass(frozen=True)
class MapOf:
    """A mapping whose keys are free (names) and whose values all follow ``schema``."""

    schema: Any


@dataclass(frozen=True)
class OneOf:
    """One of ``values``, exactly (a misspelt one is named with the closest value).

    >>> check({"name": "kube-apiserve"}, {"name": OneOf("etcd", "kube-apiserver")})
    ["name: expected one of 'etcd', 'kube-apiserver', found 'kube-apiserve' (did you mean 'kube-apiserver'?)"]
    """

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", values)


def _type_name(schema: Any) -> str:
    if isinstance(schema, OneOf):
        return "one of " + ", ".join(repr(v) for v in schema.values)
    if isinstance(schema, tuple):
        return " or ".join(_type_name(item) for item in schema)
    if schema is Mapping or isinstance(schema, dict | MapOf):
        return "a mapping"
    if isinstance(schema, list):
        return "a list"
    return {str: "a string", int: "a number", bool: "true or false", float: "a number"}.get(schema, str(schema))


def _found(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", int: "a number", float: "a number"}
    kind = names.get(type(value), "nothing" if value is None else type(value).__name__)
    return f"{kind} ({value!r})" if isinstance(value, str | int | float | bool) else kind


def check(value: Any, schema: Any, where: str = "") -> list[str]:
    """Every way ``value`` departs from ``schema``, as messages that say where and what was expected."""
    at = f"{where}: " if where else ""
    if isinstance(schema, OneOf):
        if value in schema.values and type(value) in {type(v) for v in schema.values}:
            return []
        close = difflib.get_close_matches(str(value), [str(v) for v in schema.values], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(repr(v) for v in schema.values)
        return [f"{at}expected one of {listed}, found {value!r}{hint}"]
    if schema is Mapping:
        return [] if isinstance(value, dict) else [f"{at}expected a mapping, found {_found(value)}"]
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            return [f"{at}expected a mapping, found {_found(value)}"]
        return [problem for key, item in value.items() for problem in check(item, schema.schema, _join(where, key))]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{at}expected a list, found {_found(value)}"]
        return [problem for index, item in enumerate(value) for problem in check(item, schema[0], f"{where}[{index}]")]
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{at}expected a mapping, found {_found(value)}"]
        problems = []
        for key in value:
            if key not in schema and ... not in schema:
                close = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(map(str, schema))})"
                problems.append(f"{at}unknown key {key!r}{hint}")
        for key, item_schema in schema.items():
            if key is ...:
                continue
            if key in value:
                inner = item_schema.schema if isinstance(item_schema, Optional) else item_schema
                problems.extend(check(value[key], inner, _join(where, key)))
            elif not isinstance(item_schema, Optional):
                problems.append(f"{at}missing key {key!r} ({_type_name(item_schema)})")
        return problems
    # bool is an int in Python: `replicas: true` must not pass for a number.
    if isinstance(value, bool) and bool not in (schema if isinstance(schema, tuple) else (schema,)):
        return [f"{at}expected {_type_name(schema)}, found {_found(value)}"]
    if not isinstance(value, schema):
        return [f"{at}expected {_type_name(schema)}, found {_found(value)}"]
    return []


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def load_config(path: Path, schema: Any, shown_as: str | None = None) -> Any:
    """Read the YAML file ``path`` and return its data, or raise :class:`ConfigError` with every problem.

    ``shown_as`` is how the file is named in the message (default: its path).
    """
    name = shown_as or str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{name} is not valid YAML: {error}") from None
    problems = check({} if data is None else data, schema)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{name} has {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n{listed}")
    return data
