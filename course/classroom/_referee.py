"""The referee: the hidden tests run outside the learner's kernel, with the grader's identity.

A check cell that runs in the learner's kernel can be fooled by the cells before it: they can
replace ``course.checks`` with functions that always pass, add an IPython input transformer that
turns every later cell into ``pass``, or point ``K8S_COURSE_NAMESPACE`` at another student's work.
So the class grader does not take the kernel's word for it. Each time nbgrader reaches an
"autograder tests" cell, the grader

1. asks the learner's kernel for the *values* of the names the check reads but does not define
   (``worker_nodes`` in chapter 00): ``repr`` of each, parsed back with ``ast.literal_eval``, so only
   plain data (strings, numbers, lists, dicts, ...) crosses over, never code or objects;
2. runs the check's source — restored from the gradebook by nbgrader, whatever the submission says —
   in the :class:`Referee`'s own IPython shell, in the grading job, where ``course.checks`` reads the
   cluster as the read-only grader in the namespace the grader chose;
3. records the referee's outputs as the cell's outputs, so nbgrader scores (and the feedback shows)
   what the referee saw.

The learner's values are theirs to choose anyway (they are the answer); what they cannot choose is
the check's code, the identity it reads with, or the namespace it reads.

A check may therefore use: its own imports, names defined by earlier checks, ``cluster`` (a
read-only :class:`course.Cluster` of the student's namespace) and plain-data variables of the learner.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
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
    """The names a cell reads without defining them (builtins excluded), in sorted order.

    >>> free_names("from course import checks\\nchecks.expect(len(worker_nodes) == 3, 'w', 3, x)")
    ['worker_nodes', 'x']
    """
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return []
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return sorted(loaded - bound - set(dir(builtins)))


def value_expressions(names: list[str]) -> dict[str, str]:
    """The ``user_expressions`` that ask a kernel for ``repr`` of each name."""
    return {name: f"repr({name})" for name in names}


def parse_values(user_expressions: dict[str, Any]) -> dict[str, Any]:
    """Turn a kernel's answers to :func:`value_expressions` into plain values; drop anything else.

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
                values[name] = ast.literal_eval(representation)
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
        from course._errors import install_notebook_handler

        install_notebook_handler()  # failed checks read as their short message, as in the notebook
        self.shell.user_ns.update(seed)

    def missing(self, source: str) -> list[str]:
        """The names a check reads that the referee does not have: ask the learner's kernel."""
        return [name for name in free_names(source) if name not in self.shell.user_ns]

    def run(self, source: str, values: dict[str, Any]) -> list[NotebookNode]:
        """Run one check with the learner's ``values``; return its outputs, error included."""
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
