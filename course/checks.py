"""The check library behind every graded test: read the live cluster, explain what is wrong.

A check reads objects from the cluster (never the learner's variables alone) and, when the cluster is
not as the exercise asks, raises :class:`CheckFailed` with what it expected, what it found and a hint.
``CheckFailed`` is an ``AssertionError``, so nbgrader counts the test cell as failed and shows the
message in the learner's feedback.

>>> pod = expect_object("Pod", "hello", namespace="ada-00-setup")          # doctest: +SKIP
>>> expect_field(pod, "spec.containers[0].image", "nginx:1.27")            # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import re
import time
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError
from kubernetes.dynamic.resource import Resource
from kubernetes.utils import parse_quantity

from course._chapters import chapter_ids
from course._client import dynamic_client
from course._errors import CourseError
from course._events import in_order
from course._i18n import tr, translate
from course._naming import namespace_for
from course._readiness import readiness

__all__ = [
    "AuthoringError",
    "CheckFailed",
    "containers_of",
    "controller_of",
    "diff_fields",
    "events_about",
    "eventually",
    "expect",
    "expect_bound_claim",
    "expect_condition",
    "expect_controlled_by",
    "expect_field",
    "expect_fields",
    "expect_object",
    "expect_quantity",
    "expect_ready",
    "expect_ready_endpoints",
    "expect_requests",
    "expect_selector",
    "field",
    "field_path",
    "label_selector_matches",
    "namespace",
    "objects",
    "owned_by",
    "owner_chain",
    "passed",
    "policy_admits",
    "quantity",
    "ready_endpoints",
    "selector_text",
    "selects",
]

_MISSING = object()


class CheckFailed(AssertionError):
    """The cluster is not as the exercise asks. The message has expected, found and a hint.

    When ``expected`` and ``found`` are mappings or lists, the message shows only the fields that
    differ, one line each, so a learner sees at once what to change:

    >>> print(CheckFailed("Pod 'web': metadata.labels is not as asked.", {"app": "web", "tier": "front"},
    ...                   {"app": "web", "tier": "back"}, "Set the label tier."))
    Pod 'web': metadata.labels is not as asked.
      field   expected   found
      tier    'front'    'back'
      hint:   Set the label tier.
    """

    def __init__(self, what: str, expected: Any, found: Any, hint: str = "") -> None:
        # A check cell's own texts are English in every edition: translated here (course/_i18n.py).
        what, hint = translate(what), translate(hint)
        self.what, self.expected, self.found, self.hint = what, expected, found, hint
        lines = [what]
        differences = diff_fields(expected, found) or None  # an empty table would show nothing: say both
        if differences is None:
            labels = [f"{tr(label)}:" for label in ("expected", "found", "hint")]
            width = max(map(_width, labels))
            lines += [f"  {_pad(labels[0], width)} {expected}", f"  {_pad(labels[1], width)} {found}"]
            if hint:
                lines.append(f"  {_pad(labels[2], width)} {hint}")
        else:
            lines += _diff_table(differences)
            if hint:
                lines.append(f"  {tr('hint')}:   {hint}")
        super().__init__("\n".join(lines))


class AuthoringError(CourseError):
    """A check is written wrongly: the mistake is the course author's, never the learner's.

    Raised as soon as a check is called wrongly (an unknown chapter or kind, a namespaced kind without
    its namespace, a field path that cannot be read), before the cluster is judged. It is not an
    ``AssertionError``, so it never passes for a learner's failed check; the message names the
    mistake and the fix:

    >>> namespace("04-workload")
    Traceback (most recent call last):
    ...
    course.checks.AuthoringError: A check is written wrongly: checks.namespace('04-workload') names no chapter.
      Fix: did you mean '04-workloads'? The chapters are the names of course/chapters/*.yaml.
    """

    def __init__(self, mistake: str, fix: str) -> None:
        super().__init__(f"A check is written wrongly: {mistake}\n  Fix: {fix}")


NOT_SET = "(not set)"
DIFF_ROWS = 12
"""Differences listed in a message; more are counted."""


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value:
        flat = {}
        for index, item in enumerate(value):
            flat.update(_flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: value} if prefix else {}  # an empty mapping or list has no fields


def diff_fields(expected: Any, found: Any) -> list[tuple[str, str, str]] | None:
    """The fields where ``found`` differs from ``expected``, as (path, expected, found) texts.

    None when the two are not both mappings or both lists (then there is nothing to compare field by
    field). A field missing on one side shows as ``(not set)``.

    >>> diff_fields({"replicas": 3, "image": "nginx"}, {"replicas": 2, "image": "nginx"})
    [('replicas', '3', '2')]
    """
    if not (isinstance(expected, dict) and isinstance(found, dict)) and not (
        isinstance(expected, list) and isinstance(found, list)
    ):
        return None
    want, have = _flatten(expected), _flatten(found)
    rows = []
    for path in list(dict.fromkeys([*want, *have])):
        left, right = want.get(path, _MISSING), have.get(path, _MISSING)
        if left != right:
            rows.append((path or "(whole value)", _shown(left), _shown(right)))
    return rows


def _shown(value: Any) -> str:
    return NOT_SET if value is _MISSING else repr(value)


def _diff_table(rows: list[tuple[str, str, str]]) -> list[str]:
    shown = rows[:DIFF_ROWS]
    table = [(tr("field"), tr("expected"), tr("found")), *shown]
    widths = [max(_width(row[column]) for row in table) for column in range(2)]
    lines = [f"  {_pad(row[0], widths[0])}   {_pad(row[1], widths[1])}   {row[2]}".rstrip() for row in table]
    if len(rows) > DIFF_ROWS:
        lines.append("  " + tr("... and {count} more differences", count=len(rows) - DIFF_ROWS))
    return lines


def _width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(character) in "WF" else 1 for character in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def namespace(chapter_id: str) -> str:
    """The namespace a chapter's checks read: the same one ``course.connect(chapter_id)`` prepared.

    ``chapter_id`` must be one of the course's chapters (the names of ``course/chapters/*.yaml``), else
    :class:`AuthoringError`.
    """
    known = chapter_ids()
    if known and chapter_id not in known:  # no list at all (an unreadable folder) cannot tell
        close = difflib.get_close_matches(str(chapter_id), known, n=1)
        guess = f"did you mean {close[0]!r}? " if close else f"use one of {', '.join(known)}. "
        raise AuthoringError(
            f"checks.namespace({chapter_id!r}) names no chapter.",
            guess + "The chapters are the names of course/chapters/*.yaml.",
        )
    return namespace_for(chapter_id)


Step = str | int | tuple[str, str]
"""One step of a field path: a key (``"spec"``), a list position (``0``) or a list item by a field
(``("name", "web")``)."""

_STEP = re.compile(
    r"""(?P<dot>\.)?(?P<key>[^.\[\]\s"'=]+)             # spec, containers, app (after a dot but the first)
      | \[(?P<index>-?\d+)\]                            # [0], [-1]: a list item by position
      | \[(?P<by>[A-Za-z_][\w-]*)=(?P<value>[^\]"']+|"[^"]*"|'[^']*')\]   # [name=web]: a list item by a field
      | \[(?P<quote>["'])(?P<literal>[^"']+)(?P=quote)\]  # ["app.kubernetes.io/name"]: a key with dots
    """,
    re.VERBOSE,
)
FIELD_PATH_FORMS = (
    'spec.containers[0].image, spec.containers[name=web].image, status.conditions[type=Ready].status, '
    'metadata.labels["app.kubernetes.io/name"]'
)
"""The field-path syntax, as the author error shows it."""


@cache
def field_path(path: str) -> tuple[Step, ...]:
    """The steps of a field path; :class:`AuthoringError` when ``path`` is not written in the syntax.

    Keys are joined by dots; ``[N]`` picks a list item by position (``[-1]`` the last);
    ``[field=value]`` picks the first list item whose ``field`` reads ``value`` (compared as text:
    a container by name, a condition by type, a port by number); ``["key.with.dots"]`` reads a key
    that has dots or slashes (a label's or an annotation's).

    >>> field_path("spec.containers[name=web].env[0].value")
    ('spec', 'containers', ('name', 'web'), 'env', 0, 'value')
    >>> try:
    ...     field_path("spec.containers.[0]")
    ... except AuthoringError as mistake:
    ...     print(str(mistake).splitlines()[0])
    A check is written wrongly: field path 'spec.containers.[0]' cannot be read at '.[0]'.
    """
    steps: list[Step] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        # A key follows a dot, except the first; nothing else may.
        if match is None or (match["key"] is not None and bool(match["dot"]) != bool(steps)):
            raise AuthoringError(
                f"field path {path!r} cannot be read at {path[position:]!r}.", f"write it as {FIELD_PATH_FORMS}"
            )
        if match["index"] is not None:
            steps.append(int(match["index"]))
        elif match["by"] is not None:
            steps.append((match["by"], match["value"].strip("\"'")))
        else:
            steps.append(match["key"] or match["literal"])
        position = match.end()
    if not steps:
        raise AuthoringError("an empty field path.", f"write it as {FIELD_PATH_FORMS}")
    return tuple(steps)


def field(obj: dict[str, Any], path: str, default: Any = None) -> Any:
    """Read a field by path (see :func:`field_path`), or ``default`` when a step finds nothing.

    >>> pod = {"spec": {"containers": [{"name": "log", "image": "busybox"}, {"name": "web", "image": "nginx"}]}}
    >>> field(pod, "spec.containers[0].image"), field(pod, "spec.containers[name=web].image")
    ('busybox', 'nginx')
    >>> field({}, "metadata.labels.app", default="(none)")
    '(none)'
    """
    current: Any = obj
    for step in field_path(path):
        if isinstance(step, str):
            if not isinstance(current, dict) or step not in current:
                return default
            current = current[step]
        elif isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return default
            current = current[step]
        else:
            by, value = step
            items = current if isinstance(current, list) else []
            found = [item for item in items if isinstance(item, dict) and by in item and str(item[by]) == value]
            if not found:
                return default
            current = found[0]
    return current


def _resource(kind: str, namespace: str | None, call: str, all_namespaces: bool | None = None) -> Resource:
    """The API resource of ``kind`` (a kind as YAML writes it: ``Deployment``), or :class:`AuthoringError`
    when the cluster serves no such kind or a namespaced kind comes without a namespace. ``call`` names
    the check in the message; ``all_namespaces`` is None where the check cannot read every namespace."""
    try:
        resource: Resource = dynamic_client().resources.get(kind=kind)
    except ResourceNotFoundError:
        served = dynamic_client().resources.search()
        kinds = sorted({r.kind for r in served if not r.kind.endswith("List")})
        close = [k for k in kinds if k.lower() == str(kind).lower()] or difflib.get_close_matches(str(kind), kinds, n=1)
        raise AuthoringError(
            f"{call}: this cluster has no kind {kind!r}.",
            f"did you mean {close[0]!r}?" if close else "write the kind as YAML does (kubectl api-resources).",
        ) from None
    except ResourceNotUniqueError:
        versions = sorted(r.group_version for r in dynamic_client().resources.search(kind=kind))
        raise AuthoringError(
            f"{call}: several API groups serve kind {kind!r} ({', '.join(versions)}).",
            "read Events with checks.events_about; another such kind needs a check that names its apiVersion.",
        ) from None
    if resource.namespaced and not namespace and not all_namespaces:
        raise AuthoringError(
            f"{call}: {kind} is namespaced, and no namespace is given.",
            'pass namespace=checks.namespace("<chapter id>")'
            + ("." if all_namespaces is None else ", or all_namespaces=True to read every namespace."),
        )
    return resource


def expect_object(kind: str, name: str, namespace: str | None = None, hint: str = "") -> dict[str, Any]:
    """Return ``kind``/``name`` from the cluster as a dict, or fail naming what exists instead.

    ``namespace`` is required for a namespaced kind and ignored for a cluster-wide one (a Node); an
    unknown kind or a missing namespace is an :class:`AuthoringError`.
    """
    resource = _resource(kind, namespace, f"checks.expect_object({kind!r}, {name!r})")
    where = tr(" in namespace {namespace!r}", namespace=namespace) if resource.namespaced and namespace else ""
    scope = namespace if resource.namespaced else None
    try:
        return dict(resource.get(name=name, namespace=scope).to_dict())
    except ApiException as error:
        if error.status != 404:
            raise
    others = sorted(item.metadata.name for item in resource.get(namespace=scope).items)
    raise CheckFailed(
        tr("There is no {kind} named {name!r}{where}.", kind=kind, name=name, where=where),
        tr("a {kind} named {name!r}", kind=kind, name=name),
        tr("{kind}s here: {names}", kind=kind, names=", ".join(others)) if others
        else tr("no {kind} at all", kind=kind),
        hint or tr("Create it (check the spelling of the name: {name!r}), then run this check again.", name=name),
    )


def expect_field(obj: dict[str, Any], path: str, expected: Any, hint: str = "") -> Any:
    """Fail unless the field at ``path`` of ``obj`` equals ``expected``; return the value."""
    found = field(obj, path, _MISSING)
    if found != expected:
        meta = obj.get("metadata", {})
        state = "{kind} {name!r}: {path} is not as asked."
        if found is _MISSING:
            state = "{kind} {name!r}: {path} is not set."
        raise CheckFailed(
            tr(state, kind=obj.get("kind", "The object"), name=meta.get("name", ""), path=path),
            *_comparable(expected, found),
            hint,
        )
    return found


def _comparable(expected: Any, found: Any) -> tuple[Any, Any]:
    """Mappings and lists found stay as they are (the message diffs them field by field); the rest is
    repr'd, and a field that is missing shows as ``(not set)``, never as an empty table."""
    if found is _MISSING:
        return expected if isinstance(expected, (dict, list)) else repr(expected), NOT_SET
    if isinstance(expected, (dict, list)):
        return expected, found
    return repr(expected), repr(found)


def expect_fields(obj: dict[str, Any], expected: dict[str, Any], hint: str = "") -> None:
    """Fail unless every field path in ``expected`` has its value; the message lists only those that differ.

    >>> deployment = {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}
    >>> try:
    ...     expect_fields(deployment, {"spec.replicas": 3, "metadata.name": "web"})
    ... except CheckFailed as failure:
    ...     print(failure)
    Deployment 'web' is not as asked.
      field           expected   found
      spec.replicas   3          2
    """
    found = {path: field(obj, path, _MISSING) for path in expected}
    wrong = {path: value for path, value in expected.items() if found[path] != value}
    if wrong:
        meta = obj.get("metadata", {})
        raise CheckFailed(
            tr("{kind} {name!r} is not as asked.", kind=obj.get("kind", "The object"), name=meta.get("name", "")),
            wrong,
            {path: found[path] for path in wrong if found[path] is not _MISSING},
            hint,
        )


def passed(message: str, **values: Any) -> None:
    """Print ``✓ message`` at the end of a check cell whose checks all held, in the learner's language:
    ``message`` is looked up in the chapter's check texts (a template whose ``{fields}`` come from ``values``),
    so that a check cell, the same in every edition, says it in each.

    >>> passed("web runs {count} replicas", count=3)
    ✓ web runs 3 replicas
    """
    text = translate(message)
    print("✓ " + (text.format(**values) if values else text))


def expect(
    condition: bool | Callable[[], bool], what: str, *, expected: Any, found: Any, hint: str = ""
) -> None:
    """The general form: fail with ``what``/``expected``/``found``/``hint`` unless ``condition`` holds."""
    holds = condition() if callable(condition) else condition
    if not holds:
        raise CheckFailed(what, expected, found, hint)


# -- Selectors: judged by what they select (chapters 01, 02, 04, 04b, 05, 06, 07) ----------------------
Selector = dict[str, Any]
"""A LabelSelector (``matchLabels`` and ``matchExpressions``: a Deployment's ``spec.selector``, a
NetworkPolicy's ``podSelector``) or a plain map of labels (a Service's ``spec.selector``, a Pod's
``nodeSelector``)."""


def _is_label_selector(selector: Selector) -> bool:
    """A plain map's values are label values (text); a LabelSelector's are a map and a list."""
    return bool(selector) and set(selector) <= {"matchLabels", "matchExpressions"} and not any(
        isinstance(value, str) for value in selector.values()
    )


def label_selector_matches(selector: Selector | None, labels: dict[str, str] | None) -> bool:
    """Whether ``selector`` selects an object with ``labels``: the one place the course evaluates selectors.

    ``matchLabels`` pairs must all be among the labels, and every ``matchExpressions`` requirement must
    hold (``In``, ``NotIn``, ``Exists``, ``DoesNotExist``, as the API server evaluates them). A plain map
    is read as ``matchLabels``. An empty selector selects everything (what a NetworkPolicy's
    ``podSelector: {}`` means; a Service without a selector is the exception, see :func:`expect_selector`).
    Two selectors written differently that select the same objects are the same answer:

    >>> written = [{"matchLabels": {"app": "web"}}, {"app": "web"},
    ...            {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}]
    >>> [label_selector_matches(s, {"app": "web", "tier": "front"}) for s in written]
    [True, True, True]
    >>> [label_selector_matches(s, {"app": "shop"}) for s in written]
    [False, False, False]
    >>> label_selector_matches({"matchLabels": {"app": "shop"}, "matchExpressions": [
    ...     {"key": "tier", "operator": "NotIn", "values": ["db"]}, {"key": "debug", "operator": "DoesNotExist"}]},
    ...     {"app": "shop", "tier": "web"})
    True
    >>> label_selector_matches({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "shop"})
    False
    """
    labels = labels or {}
    selector = selector or {}
    if not _is_label_selector(selector):
        selector = {"matchLabels": selector}
    if not all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        holds = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator, False)
        if not holds:
            return False
    return True


def selects(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """Whether a plain map selector (a Service's ``spec.selector``, a ``nodeSelector``) selects ``labels``:
    :func:`label_selector_matches` for the maps chapters read.

    >>> selects({"app": "web"}, {"app": "web", "tier": "front"}), selects({"app": "web"}, {"app": "shop"})
    (True, False)
    >>> selects({}, {"app": "web"})
    True
    """
    return label_selector_matches({"matchLabels": selector or {}}, labels)


def selector_text(selector: Selector | None) -> str:
    """A selector as kubectl writes one (``-l``): ``app=web,tier in (db),!debug``; ``(everything)`` when empty.

    >>> selector_text({"matchLabels": {"app": "web"}, "matchExpressions": [
    ...     {"key": "tier", "operator": "NotIn", "values": ["db", "cache"]}, {"key": "debug", "operator": "Exists"}]})
    'app=web,tier notin (db,cache),debug'
    """
    selector = selector or {}
    if not _is_label_selector(selector):
        selector = {"matchLabels": selector}
    parts = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(str(value) for value in expression.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}",
             "DoesNotExist": f"!{key}"}.get(str(operator), f"{key} {operator} ({values})")
        )
    return ",".join(parts) or "(everything)"


Selectable = dict[str, Any]
"""What a selector is judged against: an object (its ``metadata.labels``), or a map of labels."""


def _selectable(item: Selectable) -> tuple[str, dict[str, str]]:
    """How to name ``item`` in a message, and its labels."""
    if "metadata" in item:
        return f"{item.get('kind', 'object')} {field(item, 'metadata.name', '')}", field(item, "metadata.labels") or {}
    return _label_text(item) if item else "(no labels)", item


def expect_selector(
    obj: dict[str, Any],
    path: str,
    selects: list[Selectable],
    rejects: list[Selectable] | tuple[()] = (),
    hint: str = "",
) -> Any:
    """Fail unless the selector at ``path`` selects everything in ``selects`` and nothing in ``rejects``.

    A selector is judged by what it selects, never by how it is written: ``matchLabels: {app: web}`` and
    ``matchExpressions: [{key: app, operator: In, values: [web]}]`` are the same answer. ``selects`` and
    ``rejects`` name what the task names: label maps (``{"app": "web"}``, the labels of the Pods it asks
    for) or objects (a Node, a Pod). A Service's ``spec.selector`` that is empty selects no Pod at all
    (the Service gets no endpoints); any other empty selector selects everything. Returns the selector.

    >>> policy = {"kind": "NetworkPolicy", "metadata": {"name": "web-only"}, "spec": {"podSelector": {
    ...     "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}}
    >>> expect_selector(policy, "spec.podSelector", selects=[{"app": "web"}], rejects=[{"app": "db"}])
    {'matchExpressions': [{'key': 'app', 'operator': 'In', 'values': ['web']}]}
    >>> expect_selector(policy, "spec.podSelector", selects=[{"app": "web"}, {"app": "api"}])
    Traceback (most recent call last):
    ...
    course.checks.CheckFailed: NetworkPolicy 'web-only': spec.podSelector does not select what it should.
      expected: selects app=web; app=api
      found:    selector app in (web): leaves out app=api
    """
    selector = field(obj, path) or {}
    no_selector = obj.get("kind") == "Service" and not selector

    def chosen(item: Selectable) -> bool:
        return not no_selector and label_selector_matches(selector, _selectable(item)[1])

    missed = [_selectable(item)[0] for item in selects if not chosen(item)]
    extra = [_selectable(item)[0] for item in rejects if chosen(item)]
    if missed or extra:
        problems = ([f"leaves out {'; '.join(missed)}"] if missed else []) + (
            [f"also selects {'; '.join(extra)}"] if extra else []
        )
        shown = "no selector, which selects nothing" if no_selector else f"selector {selector_text(selector)}"
        wanted = "selects " + "; ".join(_selectable(item)[0] for item in selects)
        if rejects:
            wanted += ", not " + "; ".join(_selectable(item)[0] for item in rejects)
        name = field(obj, "metadata.name", "")
        raise CheckFailed(
            f"{obj.get('kind', 'The object')} {name!r}: {path} does not select what it should.",
            wanted,
            f"{shown}: {', '.join(problems)}",
            hint,
        )
    return selector


def policy_admits(
    policy: dict[str, Any],
    labels: dict[str, str],
    port: int | str | None = None,
    namespace_labels: dict[str, str] | None = None,
) -> bool:
    """Whether a NetworkPolicy's ``ingress`` rules let in a Pod with ``labels`` (on ``port``, when given),
    following the API's rules: rules and ``from`` entries are alternatives; a rule without ``from``
    admits every source and one without ``ports`` every port. Selectors are evaluated with
    :func:`label_selector_matches`, however they are written.

    The Pod is in the namespace with ``namespace_labels``; by default the policy's own namespace, whose
    labels the API server sets to ``kubernetes.io/metadata.name: <name>``. An entry with only a
    ``podSelector`` admits Pods of the policy's own namespace; a ``namespaceSelector`` chooses the
    namespaces (and a ``podSelector`` beside it, the Pods in them). An ``ipBlock`` is taken to admit the
    Pod (it may, depending on addresses this function does not see), as is a ``namespaceSelector`` when
    the policy's namespace is unknown: a check that uses it errs on the side of "too open".

    >>> policy = {"metadata": {"namespace": "ada"}, "spec": {"ingress": [{
    ...     "from": [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}}],
    ...     "ports": [{"protocol": "TCP", "port": 5432}]}]}}
    >>> policy_admits(policy, {"tier": "web"}, 5432), policy_admits(policy, {"tier": "web"}, 80)
    (True, False)
    >>> policy_admits(policy, {"run": "curl"}), policy_admits(policy, {"tier": "web"}, 5432, {"team": "other"})
    (False, False)
    """
    own = field(policy, "metadata.namespace")
    if namespace_labels is None and own:
        namespace_labels = {"kubernetes.io/metadata.name": own}
    in_own = namespace_labels is None or (own or None) in (None, namespace_labels.get("kubernetes.io/metadata.name"))

    def peer_admits(entry: dict[str, Any]) -> bool:
        if entry.get("ipBlock") is not None:
            return True
        if "namespaceSelector" in entry:
            chosen = namespace_labels is None or label_selector_matches(entry["namespaceSelector"], namespace_labels)
            return chosen and label_selector_matches(entry.get("podSelector"), labels)
        return "podSelector" in entry and in_own and label_selector_matches(entry["podSelector"], labels)

    for rule in field(policy, "spec.ingress") or []:
        sources = rule.get("from") or []
        source_ok = not sources or any(peer_admits(entry) for entry in sources)
        ports = rule.get("ports") or []
        port_ok = port is None or not ports or any(
            p.get("port") in (None, port)
            or (isinstance(port, int) and isinstance(p["port"], int) and p["port"] <= port <= p.get("endPort", 0))
            for p in ports
        )
        if source_ok and port_ok:
            return True
    return False


def _label_text(labels: dict[str, str] | None) -> str:
    generated = ("pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/")
    shown = {k: v for k, v in (labels or {}).items() if not k.startswith(generated)}
    return ",".join(f"{k}={v}" for k, v in sorted(shown.items())) or "no labels"


def ready_endpoints(service: str, namespace: str) -> list[dict[str, str]]:
    """The Ready endpoints of a Service, from its EndpointSlices: ``[{"ip": ..., "pod": ...}]`` by Pod.

    >>> [e["pod"] for e in ready_endpoints("web", "ada-05-network")]         # doctest: +SKIP
    ['web-7d9f8c6b5d-2xkqz', 'web-7d9f8c6b5d-8hjfs', 'web-7d9f8c6b5d-x2x4k']
    """
    slices = dynamic_client().resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice")
    found = []
    for item in slices.get(namespace=namespace, label_selector=f"kubernetes.io/service-name={service}").items:
        for endpoint in item.to_dict().get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready"):
                pod = (endpoint.get("targetRef") or {}).get("name", "")
                found += [{"ip": ip, "pod": pod} for ip in endpoint.get("addresses") or []]
    return sorted(found, key=lambda e: (e["pod"], e["ip"]))


def _conditions(obj: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": c.get("type"), "status": c.get("status")} for c in field(obj, "status.conditions") or []]


def _why_no_traffic(service: dict[str, Any], namespace: str) -> str:
    """What a Service's selector finds among the Pods of the namespace, in one line."""
    selector = field(service, "spec.selector") or {}
    if not selector:
        return "the Service has no selector, so no Pod is chosen for it"
    listed = dynamic_client().resources.get(api_version="v1", kind="Pod").get(namespace=namespace).items
    pods = [p.to_dict() for p in listed]
    chosen = [p for p in pods if selects(selector, field(p, "metadata.labels"))]
    wanted = _label_text(selector)
    if not chosen:
        others = sorted({_label_text(field(p, "metadata.labels")) for p in pods})
        return f"the selector {wanted} matches no Pod; Pods here have: {'; '.join(others[:5]) or 'no Pods'}"
    ready = [p for p in chosen if {"type": "Ready", "status": "True"} in _conditions(p)]
    return f"the selector {wanted} matches {len(chosen)} Pods, {len(ready)} of them Ready"


def eventually(condition: Callable[[], bool], wait: float = 10.0) -> bool:
    """Whether ``condition`` holds within ``wait`` seconds (asked every quarter second). For what the
    cluster records a moment after the fact, such as the Events a controller sends after it acted:
    wait for it, then check and explain with :func:`expect` as usual.

    >>> eventually(lambda: True)
    True
    """
    deadline = time.monotonic() + wait
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def expect_ready_endpoints(
    service: str, namespace: str, count: int | None = None, hint: str = "", wait: float = 5.0
) -> list[dict[str, str]]:
    """Fail unless the Service sends traffic to Ready Pods (exactly ``count`` of them when given).

    EndpointSlices follow Pods a moment later, so this waits up to ``wait`` seconds before it fails.
    The failure says why: the selector matches no Pod (and which labels the Pods have instead), or the
    Pods it matches are not Ready. Returns the endpoints, as :func:`ready_endpoints`.
    """
    obj = expect_object("Service", service, namespace)
    endpoints: list[dict[str, str]] = []

    def reaches() -> bool:
        nonlocal endpoints
        endpoints = ready_endpoints(service, namespace)
        return (len(endpoints) == count) if count is not None else bool(endpoints)

    if eventually(reaches, wait):
        return endpoints
    raise CheckFailed(
        f"Service {service!r} does not reach the Pods it should.",
        f"{count} Ready endpoints" if count is not None else "at least one Ready endpoint",
        f"{len(endpoints)} Ready endpoints ({', '.join(e['pod'] for e in endpoints) or 'none'}): "
        + _why_no_traffic(obj, namespace),
        hint or "Compare the Service's selector with the Pods' labels: kubectl get pods --show-labels",
    )


def _latest_warning(kind: str, name: str, namespace: str, uid: str = "") -> str:
    """The latest Warning event (else any event) about an object, as ``reason: message``; "" when none.

    With ``uid``, only events about that very object: not those of an earlier object of the same name.
    """
    events = dynamic_client().resources.get(api_version="v1", kind="Event")
    selector = f"involvedObject.kind={kind},involvedObject.name={name}" + (f",involvedObject.uid={uid}" if uid else "")
    found = in_order(e.to_dict() for e in events.get(namespace=namespace, field_selector=selector).items)
    warnings = [e for e in found if e.get("type") == "Warning"] or found
    return f"{warnings[-1].get('reason')}: {warnings[-1].get('message')}" if warnings else ""


def _volume_mismatch(claim: dict[str, Any]) -> str:
    """Why the volume meant for an unbound claim does not fit it, or "" when no volume is meant for it.

    A volume is meant for the claim when its ``claimRef`` names the claim, or when it is free and of the
    claim's class (static provisioning). The PV controller's own event is then misleading: it says that
    it could not *provision* a volume, not why the existing one does not fit.
    """
    namespace, name = field(claim, "metadata.namespace"), field(claim, "metadata.name")
    wanted_class = field(claim, "spec.storageClassName") or ""
    wanted_modes = set(field(claim, "spec.accessModes") or [])
    wanted_size = quantity(field(claim, "spec.resources.requests.storage") or 0)
    listed = dynamic_client().resources.get(api_version="v1", kind="PersistentVolume").get().items
    volumes = [v.to_dict() for v in listed]
    for volume in sorted(volumes, key=lambda v: field(v, "metadata.name", "")):
        ref = field(volume, "spec.claimRef") or {}
        reserved = (ref.get("namespace"), ref.get("name")) == (namespace, name)
        if not reserved and (ref or (field(volume, "spec.storageClassName") or "") != wanted_class):
            continue
        problems = []
        offered_class = field(volume, "spec.storageClassName") or ""
        if offered_class != wanted_class:
            problems.append(f"storageClassName {offered_class!r}, the claim asks for {wanted_class!r}")
        offered_modes = field(volume, "spec.accessModes") or []
        if not wanted_modes <= set(offered_modes):
            problems.append(f"accessModes {offered_modes}, the claim asks for {sorted(wanted_modes)}")
        offered_size = field(volume, "spec.capacity.storage") or "0"
        if quantity(offered_size) < wanted_size:
            problems.append(f"capacity {offered_size}, the claim asks for more")
        if (field(volume, "spec.volumeMode") or "Filesystem") != (field(claim, "spec.volumeMode") or "Filesystem"):
            problems.append("a different volumeMode")
        if reserved and ref.get("uid") and ref.get("uid") != field(claim, "metadata.uid"):
            problems.append(f"it is {field(volume, 'status.phase')}, still reserved for an earlier claim of that name")
        if problems:
            return f"the volume {field(volume, 'metadata.name')!r} does not fit: " + "; ".join(problems)
    return ""


def expect_bound_claim(
    name: str, namespace: str, hint: str = "", wait: float = 5.0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PersistentVolumeClaim ``name`` and the PersistentVolume bound to it, or a failure saying why not.

    The volume is found through the claim (``spec.volumeName``) and must point back at this very claim
    (``spec.claimRef`` with the claim's uid): PersistentVolumes are cluster-scoped and outlive a reset
    of the namespace, so a volume left from an earlier run never counts. A Pending claim fails saying
    why the volume meant for it does not fit (class, access modes, size), or else with its latest
    warning event (for example ``storageclass "fast-ssd" not found``).

    >>> claim, volume = expect_bound_claim("notes", "ada-06-storage")        # doctest: +SKIP
    >>> volume["spec"]["persistentVolumeReclaimPolicy"]                     # doctest: +SKIP
    'Retain'
    """
    claim = expect_object("PersistentVolumeClaim", name, namespace)
    claims = dynamic_client().resources.get(api_version="v1", kind="PersistentVolumeClaim")

    def bound() -> bool:
        nonlocal claim
        if field(claim, "status.phase") != "Bound":
            claim = claims.get(name=name, namespace=namespace).to_dict()
        return bool(field(claim, "status.phase") == "Bound")

    eventually(bound, wait)
    phase = field(claim, "status.phase", "Pending")
    if phase != "Bound":
        event = _latest_warning("PersistentVolumeClaim", name, namespace, field(claim, "metadata.uid", ""))
        why = _volume_mismatch(claim) or (f"latest event: {event}" if event else "")
        raise CheckFailed(
            f"PersistentVolumeClaim {name!r} is not bound to a volume.",
            "phase Bound",
            f"phase {phase}" + (f"; {why}" if why else ""),
            hint or f"Read its events: kubectl describe pvc {name}",
        )
    volume_name = field(claim, "spec.volumeName", "")
    volume = expect_object("PersistentVolume", volume_name)
    ref = field(volume, "spec.claimRef") or {}
    expect(
        (ref.get("namespace"), ref.get("name"), ref.get("uid"))
        == (namespace, name, field(claim, "metadata.uid")),
        f"PersistentVolume {volume_name!r} does not point back at the claim {name!r}.",
        expected=f"claimRef {namespace}/{name} (uid {field(claim, 'metadata.uid')})",
        found=f"claimRef {ref.get('namespace')}/{ref.get('name')} (uid {ref.get('uid')})",
        hint=hint,
    )
    return claim, volume


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a Pod, or of the Pod template of a Deployment, StatefulSet, Job or CronJob.

    >>> [c["name"] for c in containers_of({"kind": "Pod", "spec": {"containers": [{"name": "web"}]}})]
    ['web']
    """
    for path in ("spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec"):
        found = field(obj, f"{path}.containers")
        if found is not None:
            return list(found)
    return []


def expect_requests(
    obj: dict[str, Any], resources: tuple[str, ...] = ("cpu", "memory"), hint: str = ""
) -> None:
    """Fail unless every container of ``obj`` (a Pod or a workload) requests each of ``resources``.

    >>> pod = {"kind": "Pod", "metadata": {"name": "p"},
    ...        "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]}}
    >>> try:
    ...     expect_requests(pod)
    ... except CheckFailed as failure:
    ...     print(failure)
    Pod 'p': a container does not request what it needs.
      expected: requests of cpu, memory in every container
      found:    container 'a' requests cpu=100m
      hint:     Add resources.requests (cpu and memory) to each container.
    """
    containers = containers_of(obj)
    missing = [c for c in containers if not set(resources) <= set(field(c, "resources.requests") or {})]
    if missing or not containers:
        shown = [
            f"container {c.get('name')!r} requests "
            + (", ".join(f"{k}={v}" for k, v in (field(c, "resources.requests") or {}).items()) or "nothing")
            for c in missing
        ]
        raise CheckFailed(
            f"{obj.get('kind', 'The object')} {field(obj, 'metadata.name', '')!r}: "
            "a container does not request what it needs.",
            f"requests of {', '.join(resources)} in every container",
            "; ".join(shown) or "no containers",
            hint or f"Add resources.requests ({' and '.join(resources)}) to each container.",
        )


# -- Workloads: owners, conditions and quantities (chapters 04-workloads, 04b-more-workloads) --------
def owned_by(kind: str, owner: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """The objects of ``kind`` in ``namespace`` that ``owner`` controls, oldest first.

    An object belongs to its controller through ``metadata.ownerReferences`` (the entry with
    ``controller: true``), which carries the owner's uid. Names cannot tell: a ReplicaSet called
    ``web-5c8597c5fb`` may be left from an earlier ``web`` that was deleted and created again.

    >>> deployment = expect_object("Deployment", "web", "ada-04-workloads")              # doctest: +SKIP
    >>> [rs["metadata"]["name"] for rs in owned_by("ReplicaSet", deployment, "ada-04-workloads")]  # doctest: +SKIP
    ['web-5c8597c5fb', 'web-7549484477']
    """
    uid = field(owner, "metadata.uid")
    listed = _resource(kind, namespace, f"checks.owned_by({kind!r})").get(namespace=namespace).items
    found = []
    for item in listed:
        obj = item.to_dict()
        references = field(obj, "metadata.ownerReferences") or []
        if any(ref.get("controller") and ref.get("uid") == uid for ref in references):
            found.append(obj)
    return sorted(found, key=lambda obj: (str(field(obj, "metadata.creationTimestamp")), field(obj, "metadata.name")))


def _condition_text(condition: dict[str, Any] | None, with_message: bool = True) -> str:
    if condition is None:
        return "(no such condition)"
    text = f"{condition.get('type')}={condition.get('status')}"
    keys = ("reason", "message") if with_message else ("reason",)
    details = [str(condition[key]) for key in keys if condition.get(key)]
    return f"{text} ({': '.join(details)})" if details else text


def expect_condition(
    obj: dict[str, Any], condition: str, status: str = "True", reason: str | None = None, hint: str = ""
) -> dict[str, Any]:
    """Fail unless ``obj`` reports ``condition`` with ``status`` (and ``reason``, when given); return it.

    Controllers explain themselves in ``status.conditions``: a Deployment that is stuck says
    ``Progressing=False (ProgressDeadlineExceeded)``, a finished Job says ``Complete=True``. The failure
    shows the condition as found, with its reason and message, or every condition the object has.

    >>> deployment = {"kind": "Deployment", "metadata": {"name": "web"}, "status": {"conditions": [
    ...     {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
    ...      "message": "ReplicaSet web-7f4b has timed out progressing."}]}}
    >>> expect_condition(deployment, "Progressing", "True", "NewReplicaSetAvailable")
    Traceback (most recent call last):
    ...
    course.checks.CheckFailed: Deployment 'web': condition Progressing is not as asked.
      expected: Progressing=True (NewReplicaSetAvailable)
      found:    Progressing=False (ProgressDeadlineExceeded: ReplicaSet web-7f4b has timed out progressing.)
    """
    if status not in ("True", "False", "Unknown"):
        raise AuthoringError(
            f"checks.expect_condition(..., {condition!r}, {status!r}): a condition's status is text.",
            'write status="True", "False" or "Unknown", as the API does.',
        )
    conditions = field(obj, "status.conditions") or []
    found = next((c for c in conditions if c.get("type") == condition), None)
    if found is None or found.get("status") != status or (reason is not None and found.get("reason") != reason):
        wanted = f"{condition}={status}" + (f" ({reason})" if reason else "")
        shown = _condition_text(found) if found else (
            "conditions: " + ", ".join(_condition_text(c, with_message=False) for c in conditions)
            if conditions else "no conditions yet"
        )
        raise CheckFailed(
            f"{obj.get('kind', 'The object')} {field(obj, 'metadata.name', '')!r}: "
            f"condition {condition} is not as asked.",
            wanted,
            shown,
            hint,
        )
    return dict(found)


def quantity(value: str | int | float) -> Decimal:
    """A resource quantity (``500m``, ``0.5``, ``128Mi``, ``1G``) as a number, to compare amounts.

    >>> quantity("500m") == quantity("0.5"), quantity("1Gi") == quantity("1024Mi"), quantity("1G") == quantity("1Gi")
    (True, True, False)
    """
    return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]


def expect_quantity(obj: dict[str, Any], path: str, expected: str, hint: str = "") -> Any:
    """Fail unless the resource quantity at ``path`` is the amount ``expected``, in whatever notation.

    ``500m`` and ``0.5`` CPUs are the same amount, as are ``1Gi`` and ``1024Mi`` of memory (``1G`` is not:
    it is 10^9 bytes). A missing field or a text that is no quantity fails. Returns the value as stored.

    >>> pod = {"kind": "Pod", "metadata": {"name": "p"},
    ...        "spec": {"containers": [{"resources": {"requests": {"cpu": "0.5"}}}]}}
    >>> expect_quantity(pod, "spec.containers[0].resources.requests.cpu", "500m")
    '0.5'
    >>> expect_quantity(pod, "spec.containers[0].resources.requests.cpu", "500")
    Traceback (most recent call last):
    ...
    course.checks.CheckFailed: Pod 'p': spec.containers[0].resources.requests.cpu is not as asked.
      expected: 500 (or the same amount written another way)
      found:    '0.5'
    """
    found = field(obj, path, _MISSING)
    try:
        same = found is not _MISSING and quantity(found) == quantity(expected)
    except ValueError:
        same = False
    if not same:
        raise CheckFailed(
            f"{obj.get('kind', 'The object')} {field(obj, 'metadata.name', '')!r}: {path} is not as asked.",
            f"{expected} (or the same amount written another way)",
            NOT_SET if found is _MISSING else repr(found),
            hint,
        )
    return found


# -- Objects, owners, readiness and events (chapters 01-why-kubernetes, 02-control-plane, 03-nodes-and-pods)
def objects(
    kind: str,
    namespace: str | None = None,
    selector: str = "",
    terminating: bool = False,
    all_namespaces: bool = False,
) -> list[dict[str, Any]]:
    """Every ``kind`` object in ``namespace`` that matches the label ``selector``, as dicts sorted by name.

    A namespaced kind needs ``namespace``, or ``all_namespaces=True`` to read every namespace (a
    cluster-wide kind such as Node needs neither); an unknown kind is an :class:`AuthoringError`.
    Objects already being deleted (``metadata.deletionTimestamp`` set) are left out unless
    ``terminating`` is True: a Pod on its way out no longer counts as one of a workload's replicas.

    >>> [pod["metadata"]["name"] for pod in objects("Pod", "ada-01-why-kubernetes", "app=web")]   # doctest: +SKIP
    ['web-7d9f8c6b5d-2xkqz', 'web-7d9f8c6b5d-8hjfs', 'web-7d9f8c6b5d-x2x4k']
    """
    resource = _resource(kind, namespace, f"checks.objects({kind!r})", all_namespaces)
    listed = resource.get(namespace=namespace if resource.namespaced else None, label_selector=selector or None)
    # Items of a list carry no kind; a message that names an object names its kind too.
    found = [{"kind": kind, **item.to_dict()} for item in listed.items]
    if not terminating:
        found = [obj for obj in found if not field(obj, "metadata.deletionTimestamp")]
    return sorted(found, key=lambda obj: str(field(obj, "metadata.name", "")))


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The owner reference marked ``controller: true`` (the object that keeps ``obj`` alive), or None.

    >>> controller_of({"metadata": {"ownerReferences": [
    ...     {"kind": "ReplicaSet", "name": "web-7d9f8c6b5d", "controller": True}]}})["name"]
    'web-7d9f8c6b5d'
    >>> controller_of({"metadata": {"name": "made-by-hand"}}) is None
    True
    """
    for ref in field(obj, "metadata.ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_chain(obj: dict[str, Any], namespace: str) -> list[str]:
    """The controllers above ``obj``, nearest first, as ``Kind/name``: empty for an object made by hand.

    >>> owner_chain(pod, "ada-01-why-kubernetes")                              # doctest: +SKIP
    ['ReplicaSet/web-7d9f8c6b5d', 'Deployment/web']
    """
    chain: list[str] = []
    current: dict[str, Any] | None = obj
    while current is not None and len(chain) < 10:
        ref = controller_of(current)
        if ref is None:
            break
        chain.append(f"{ref['kind']}/{ref['name']}")
        try:
            resource = dynamic_client().resources.get(api_version=ref["apiVersion"], kind=ref["kind"])
            current = dict(resource.get(name=ref["name"], namespace=namespace).to_dict())
        except ApiException as error:
            if error.status != 404:
                raise
            current = None
    return chain


def expect_controlled_by(obj: dict[str, Any], kind: str, name: str, namespace: str, hint: str = "") -> list[str]:
    """Fail unless ``kind``/``name`` is among the controllers above ``obj``; return the chain.

    A Pod of the Deployment ``web`` is controlled by a ReplicaSet ``web-<hash>``, which the Deployment
    controls, so ``expect_controlled_by(pod, "Deployment", "web", ...)`` holds for it.
    """
    chain = owner_chain(obj, namespace)
    meta = obj.get("metadata", {})
    expect(
        f"{kind}/{name}" in chain,
        f"{obj.get('kind', 'The object')} {meta.get('name', '')!r} is not kept alive by {kind} {name!r}.",
        expected=f"{kind}/{name} among its controllers",
        found=" → ".join(chain) if chain else "no controller: it was made by hand, nothing recreates it",
        hint=hint,
    )
    return chain


def expect_ready(obj: dict[str, Any], hint: str = "") -> None:
    """Fail unless ``obj`` is ready, by the one rule per kind in :mod:`course._readiness`: a Pod's or a
    Node's ``Ready`` condition; a Deployment, ReplicaSet or StatefulSet with every wanted replica ready
    (and none left over) once its controller has seen the latest spec; a DaemonSet with a ready Pod on
    every node it runs on; a Job that is ``Complete``. Any other kind is an authoring mistake
    (:class:`course._readiness.NoReadiness`): check one of its fields with :func:`expect_field`.

    >>> deployment = {"kind": "Deployment", "metadata": {"name": "web", "generation": 2},
    ...               "spec": {"replicas": 3},
    ...               "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 3}}
    >>> try:
    ...     expect_ready(deployment)
    ... except CheckFailed as failure:
    ...     print(failure)
    Deployment 'web' is not ready.
      expected: 3 of 3 replicas ready
      found:    2 ready, 3 in all
      hint:     Look at its Pods and their events: kubectl describe deployment web
    """
    kind, name = obj.get("kind", "The object"), field(obj, "metadata.name", "")
    state = readiness(obj)
    if state.ready:
        return
    found = state.found
    namespace = field(obj, "metadata.namespace", "")
    if kind == "Pod":
        why = _latest_warning("Pod", name, namespace)
        found += f"; latest event: {why}" if why else ""
    crowded = _no_room(_pods_of(obj, namespace), namespace) if kind != "Node" else ""
    if crowded:
        raise CheckFailed(
            f"{kind} {name!r} is not ready because the cluster has no room for it right now, not because of "
            "your answer.",
            state.expected,
            f"{found}; {crowded}",
            "Other Pods fill the nodes. Run the check again in a while; in a class, ask for this to be graded again.",
        )
    what = "Look at its events: kubectl describe {command} {name}"
    if kind not in ("Pod", "Node"):
        what = "Look at its Pods and their events: kubectl describe {command} {name}"
    raise CheckFailed(
        tr("{kind} {name!r} is not complete." if kind == "Job" else "{kind} {name!r} is not ready.",
           kind=kind, name=name),
        state.expected,
        found,
        hint or tr(what, command=kind.lower(), name=name),
    )


def _pods_of(obj: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """``obj`` itself when it is a Pod, else the Pods its selector picks in ``namespace``."""
    if obj.get("kind") == "Pod":
        return [obj]
    selector = field(obj, "spec.selector")
    if not selector or not namespace:
        return []
    return [pod for pod in objects("Pod", namespace) if label_selector_matches(selector, field(pod, "metadata.labels"))]


def pod_requests(pod: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """What the scheduler reserves for ``pod``: (CPUs, bytes of memory), its containers' requests added up
    (an init container runs alone, so the largest one counts if it is larger).

    >>> pod_requests({"spec": {"containers": [{"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
    ...                                        {"resources": {"requests": {"cpu": "250m"}}}]}})
    (Decimal('0.500'), Decimal('67108864'))
    """

    def requested(containers: list[dict[str, Any]], resource: str) -> list[Decimal]:
        return [quantity(field(c, f"resources.requests.{resource}") or 0) for c in containers]

    containers, init = field(pod, "spec.containers") or [], field(pod, "spec.initContainers") or []
    cpu = max([sum(requested(containers, "cpu"), Decimal(0)), *requested(init, "cpu")])
    memory = max([sum(requested(containers, "memory"), Decimal(0)), *requested(init, "memory")])
    return cpu, memory


def _no_room(pods: list[dict[str, Any]], namespace: str) -> str:
    """Why a Pod waits when the reason is other people's Pods, not the learner's: "" unless the scheduler
    found too little CPU or memory *and* the Pod would fit a schedulable Node if only the Pods of its
    own namespace were there.

    A request larger than any Node (``cpu: "500"``), a resource no Node offers (``nvidia.com/gpu``), or
    replicas that together outgrow the cluster, are the learner's to fix and are not excused here. An
    identity that may not read Nodes or every namespace's Pods cannot tell, and says nothing.
    """
    waiting = []
    for pod in pods:
        conditions: list[dict[str, Any]] = field(pod, "status.conditions") or []
        scheduled = next((c for c in conditions if c.get("type") == "PodScheduled"), {})
        short = set(re.findall(r"Insufficient (\S+?)[,.]?(?:\s|$)", str(scheduled.get("message"))))
        if scheduled.get("reason") == "Unschedulable" and short and short <= {"cpu", "memory"}:
            waiting.append((pod, str(scheduled.get("message"))))
    if not waiting:
        return ""
    try:
        nodes, everyone = objects("Node"), objects("Pod", all_namespaces=True)
    except ApiException:
        return ""
    for node in nodes:
        if field(node, "spec.unschedulable") or any(
            t.get("effect") in ("NoSchedule", "NoExecute") for t in field(node, "spec.taints") or []
        ):
            continue
        own = [
            pod_requests(p)
            for p in everyone
            if field(p, "spec.nodeName") == field(node, "metadata.name")
            and field(p, "metadata.namespace") == namespace
            and field(p, "status.phase") not in ("Succeeded", "Failed")
        ]
        cpu_left = quantity(field(node, "status.allocatable.cpu") or 0) - sum((c for c, _ in own), Decimal(0))
        memory_left = quantity(field(node, "status.allocatable.memory") or 0) - sum((m for _, m in own), Decimal(0))
        for pod, message in waiting:
            cpu, memory = pod_requests(pod)
            if cpu <= cpu_left and memory <= memory_left:
                return (
                    f"Pod {field(pod, 'metadata.name')!r} would fit Node {field(node, 'metadata.name')!r} but for "
                    f"other namespaces' Pods; the scheduler says: {message}"
                )
    return ""


def events_about(kind: str, name: str, namespace: str) -> list[dict[str, Any]]:
    """The Events about ``kind``/``name``, oldest first (the API server keeps them for an hour).

    >>> [e["reason"] for e in events_about("Deployment", "web", "ada-01-why-kubernetes")]   # doctest: +SKIP
    ['ScalingReplicaSet', 'ScalingReplicaSet']
    """
    listed = dynamic_client().resources.get(api_version="v1", kind="Event").get(
        namespace=namespace, field_selector=f"involvedObject.kind={kind},involvedObject.name={name}"
    )
    return in_order(dict(e.to_dict()) for e in listed.items)


def expect_answer(name: str, value: Any, kind: type | tuple[type, ...], what: str, hint: str = "") -> Any:
    """A learner's answer, read by the check as ``globals().get(name)``: ``value`` if it is a ``kind``,
    else a failure with expected and found, so a missing variable reads "not set" rather than a
    ``NameError`` (the class grader copies every name a check looks up through ``globals()``).

    >>> expect_answer("worker_nodes", ["course-worker"], list, "a list of node names")
    ['course-worker']
    >>> expect_answer("worker_nodes", None, list, "a list of node names", hint="Run the exercise's cell.")
    Traceback (most recent call last):
    ...
    course.checks.CheckFailed: worker_nodes should be a list of node names.
      expected: a list of node names
      found:    no variable worker_nodes (run the exercise's cell first)
      hint:     Run the exercise's cell.
    """
    if isinstance(value, kind):
        return value
    shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."
    missing = tr("no variable {name} (run the exercise's cell first)", name=name)
    found = missing if value is None else f"{type(value).__name__} {shown}"
    what = translate(what)
    raise CheckFailed(tr("{name} should be {what}.", name=name, what=what), what, found, hint)
