"""No code cell prints an English sentence of its own (issue 19).

Code cells are the same in every edition, so a sentence that a cell prints reaches a Korean learner
in English. What a cell prints is code, object names, labels of a word or two (``phase:``) and what
kubectl or the course prints (the course speaks through its catalog, ``course/locale/``); why a cell
shows something only on kind is said in the Markdown above it, and its sim branch calls
``cluster.point_to_kind_output()``. These tests need no cluster.
"""

from __future__ import annotations

import ast
import re

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from course.translations import read_notebook, source_chapters, source_notebook_path

SENTENCE = re.compile(r"[A-Za-z]+(?: [A-Za-z]+){2,}")
"""Three words in a row: more than a label. ``"owned by:"`` and ``f"{fqdn} -> {ip}"`` are not sentences."""


def printed_sentences(cell_source: str) -> list[str]:
    """The English sentences that ``print(...)`` calls in a code cell print as written, f-strings' fixed
    parts included (the cell's ``!`` shell lines are read as the Python IPython runs)."""
    tree = ast.parse(TransformerManager().transform_cell(cell_source))
    found = []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print":
            for argument in call.args:
                for node in ast.walk(argument):
                    if isinstance(node, ast.Constant) and isinstance(node.value, str):
                        found += SENTENCE.findall(node.value)
    return found


@pytest.mark.parametrize(
    ("source", "sentences"),
    [
        ('if ready:\n    pass\nelse:\n    print("sim: no DNS server runs here, so nothing to see.")',
         ["no DNS server runs here", "so nothing to see"]),
        ('for role in roles:\n    print(f"from a Pod with role={role}:")', ["from a Pod with role"]),
        ('!kubectl get pods\nprint(f"{fqdn} would resolve to {ip}")', ["would resolve to"]),
        ('print("phase:", pod.status.phase)\nprint("owned by:   ", owners)', []),
        ('print(fqdn, "->", service.spec.cluster_ip)\n!kubectl logs web --tail=3', []),
        ('cluster.kubectl("run", "--", "sh", "-c", "sleep 2; curl -s http://web")', []),
    ],
)
def test_a_printed_sentence_is_found_and_a_label_is_not(source: str, sentences: list[str]) -> None:
    assert printed_sentences(source) == sentences


@pytest.mark.parametrize("chapter", source_chapters())
def test_no_code_cell_of_a_chapter_prints_an_english_sentence(chapter: str) -> None:
    printed = {
        cell.id: sentences
        for cell in read_notebook(source_notebook_path(chapter)).cells
        if cell.cell_type == "code" and (sentences := printed_sentences(cell.source))
    }
    assert not printed, (
        f"{chapter}: these code cells print English sentences, which a translated edition shows untranslated: "
        f"{printed}. Say it in the Markdown cell above; in a kind-only cell's else branch, call "
        "cluster.point_to_kind_output()."
    )
