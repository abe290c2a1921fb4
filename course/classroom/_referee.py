"""The referee: the hidden tests run outside the learner's kernel, with the grader's identity.

A check cell that runs in the learner's kernel can be fooled by the cells before it: they can
replace ``course.checks`` with functions that always pass, add an IPython input transformer that
turns every later cell into ``pass``, or point ``K8S_COURSE_NAMESPACE`` at another student's work.
So the class grader does not take the kernel's word for it. Each time nbgrader reaches an
"autograder tests" cell, the grader

1. asks the learner's kernel for the *values* of the names the check reads but does not define
   (``worker_nodes`` in chapter 00, or ``globals().get("deleted_pod")``) as text, parsed back with
   ``ast.literal_eval``: only plain data (strings, numbers, lists, dicts, ...) crosses over, and
   objects of the ``kubernetes`` client as their JSON, rebuilt with the client's own model class
   (:func:`export`), never code;
2. runs the check's source — restored from the gradebook by nbgrader, whatever the submission says —
   in the :class:`Referee`'s own IPython shell, in the grading job, where ``course.checks`` reads the
   cluster as the read-only grader in the namespace the grader chose;
3. records the referee's outputs as the cell's outputs, so nbgrader scores (and the feedback shows)
   what the referee saw.

The learner's values are theirs to choose anyway (they are the answer); what they cannot choose is
the check's code, the identity it reads with, or the namespace it reads.

A check may therefore use: its own imports, names defined by earlier checks, ``cluster`` (a
read-only :class:`course.Cluster` of the student's namespace) and the learner's variables that hold
plain data or objects the ``kubernetes`` client returned.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.inputtransformer2 import TransformerManager
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from nbformat import NotebookNode
from nbformat.v4 import new_output as _new_output
from traitlets import Type
from traitlets.config import Config

MAX_VALUE_CHARS = 1_000_000
"""A learner's value longer than this (as ``repr``) is not copied to the referee."""


def free_names(source: str) -> list[str]:
    """The names a cell reads without defining them (builtins excluded), in sorted order, and those
    it looks up in ``globals()`` by name (a check does that to tell a missing answer from a wrong one).

    >>> free_names("from course import checks\\nchecks.expect(len(worker_nodes) == 3, 'w', expected=3, found=x)")
    ['worker_nodes', 'x']
    >>> free_names("pod = globals().get('pod')\\nprint(pod, globals()['node'])")
    ['node', 'pod']
    """
    return list(_read_names(source)[0])


@functools.lru_cache(maxsize=256)
def _read_names(source: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """:func:`free_names`, and the subset of them looked up in ``globals()``; parsed once per check,
    though both :meth:`Referee.missing` and :meth:`Referee.run` need them."""
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return (), frozenset()
    loaded: set[str] = set()
    bound: set[str] = set()
    looked_up: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        looked_up.update(_globals_lookup(node))
    return tuple(sorted((loaded - bound - set(dir(builtins))) | looked_up)), frozenset(looked_up)


def _is_globals_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "globals"


def _globals_lookup(node: ast.AST) -> list[str]:
    """``"name"`` in ``globals().get("name")``, ``globals()["name"]`` or ``"name" in globals()``."""
    keys: list[ast.expr] = []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        if _is_globals_call(node.func.value) and node.args:
            keys.append(node.args[0])
    elif isinstance(node, ast.Subscript) and _is_globals_call(node.value):
        keys.append(node.slice)
    elif isinstance(node, ast.Compare) and any(_is_globals_call(other) for other in node.comparators):
        keys.append(node.left)
    return [key.value for key in keys if isinstance(key, ast.Constant) and isinstance(key.value, str)]


_MODEL = "kubernetes.client.models"
"""The tag of an exported ``kubernetes`` client object: ``(_MODEL, class name, JSON)``."""


def export(value: Any) -> str:
    """Runs in the learner's kernel: ``value`` as text the referee can read back as data.

    >>> export({"replicas": 3})
    "{'replicas': 3}"
    >>> from kubernetes.client import V1ObjectMeta
    >>> export(V1ObjectMeta(name="web"))
    '(\\'kubernetes.client.models\\', \\'V1ObjectMeta\\', \\'{"name": "web"}\\')'
    """
    if type(value).__module__.startswith(_MODEL + ".") and hasattr(value, "to_json"):
        return repr((_MODEL, type(value).__name__, value.to_json()))
    return repr(value)


def value_expressions(names: list[str]) -> dict[str, str]:
    """The ``user_expressions`` that ask a kernel for each name's value, through :func:`export`."""
    export_in_kernel = f"__import__({__name__!r}, fromlist=['export']).export"
    return {name: f"{export_in_kernel}({name})" for name in names}


def _rebuilt(value: Any) -> Any:
    """A tagged export of a ``kubernetes`` client object, as that object again; anything else as it is."""
    if isinstance(value, tuple) and len(value) == 3 and value[0] == _MODEL:
        import kubernetes.client.models

        model = getattr(kubernetes.client.models, str(value[1]), None)
        if isinstance(model, type) and model.__module__.startswith(_MODEL + "."):
            return model.from_json(value[2])  # type: ignore[attr-defined]
        raise ValueError(f"not a model of the kubernetes client: {value[1]!r}")
    return value


def parse_values(user_expressions: dict[str, Any]) -> dict[str, Any]:
    """Turn a kernel's answers to :func:`value_expressions` into values; drop anything else.

    >>> parse_values({"a": {"status": "ok", "data": {"text/plain": '"[1, \\'x\\']"'}},
    ...               "b": {"status": "ok", "data": {"text/plain": "'<object at 0x1>'"}}})
    {'a': [1, 'x']}
    """
    values = {}
    for name, answer in user_expressions.items():
        text = (answer.get("data") or {}).get("text/plain", "") if answer.get("status") == "ok" else ""
        if not text or len(text) > MAX_VALUE_CHARS:
            continue
        with contextlib.suppress(ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            representation = ast.literal_eval(text)
            if isinstance(representation, str):
                values[name] = _rebuilt(ast.literal_eval(representation))
    return values


def new_output(output_type: str, **fields: Any) -> NotebookNode:
    """A notebook output (``stream``, ``error``, ...), typed."""
    output: NotebookNode = _new_output(output_type, **fields)  # type: ignore[no-untyped-call]
    return output


class _ResultHook(DisplayHook):  # type: ignore[misc]
    """Keep a cell's result (for nbgrader's partial credit) instead of printing ``Out[n]``."""

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(self, format_dict: dict[str, Any], md_dict: dict[str, Any] | None = None) -> None:
        self.shell.last_result = (format_dict, md_dict or {})


class RefereeShell(InteractiveShell):  # type: ignore[misc]
    """An in-process IPython shell that records a cell's result and error as notebook outputs."""

    displayhook_class = Type(_ResultHook)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last_result: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.last_error: dict[str, Any] | None = None

    def _showtraceback(self, etype: type, evalue: BaseException, stb: list[str]) -> None:
        self.last_error = {"ename": etype.__name__, "evalue": str(evalue), "traceback": list(stb)}


class Referee:
    """Runs check cells for one submission; ``seed`` are the names every check may use."""

    def __init__(self, seed: dict[str, Any]) -> None:
        self.shell = RefereeShell.instance(config=Config({"HistoryManager": {"hist_file": ":memory:"}}))
        from course._notebook_errors import install_notebook_handler

        install_notebook_handler()  # failed checks read as their short message, as in the notebook
        self.shell.user_ns.update(seed)

    def missing(self, source: str) -> list[str]:
        """The names a check reads that the referee does not have, and those it looks up in
        ``globals()`` (always asked again: the learner may have changed them since): ask the kernel."""
        names, looked_up = _read_names(source)
        return [name for name in names if name not in self.shell.user_ns or name in looked_up]

    def run(self, source: str, values: dict[str, Any]) -> list[NotebookNode]:
        """Run one check with the learner's ``values``; return its outputs, error included.

        A name the check looks up in ``globals()`` is the learner's or missing, never left over
        from an earlier check that assigned it."""
        for name in _read_names(source)[1] - set(values):
            self.shell.user_ns.pop(name, None)
        self.shell.user_ns.update(values)
        self.shell.last_result = self.shell.last_error = None
        with capture_output(stdout=True, stderr=True, display=True) as captured:
            self.shell.run_cell(source, store_history=False)
        outputs = [new_output("stream", name="stdout", text=captured.stdout)] if captured.stdout else []
        if captured.stderr:
            outputs.append(new_output("stream", name="stderr", text=captured.stderr))
        outputs += [new_output("display_data", data=o.data, metadata=o.metadata or {}) for o in captured.outputs]
        if self.shell.last_result is not None:
            data, metadata = self.shell.last_result
            outputs.append(new_output("execute_result", data=data, metadata=metadata, execution_count=None))
        if self.shell.last_error is not None:
            outputs.append(new_output("error", **self.shell.last_error))
        return outputs
