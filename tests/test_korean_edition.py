"""The Korean edition (한국어판), generated from the English source: current catalogs, the same code and
tests byte for byte, the glossary's terms, messages in Korean at run time, and grading in its language.

These tests read the catalogs (``course/locale/ko/``), the source notebooks and ``notebooks/ko/``. Every
chapter of the Korean edition is graded on the sim cluster beside the English one: through
``nbgrader autograde`` in the Korean course root (full marks, zero, exact partial credit:
``tests/test_chapters.py``), and by the class grader, the same work in either edition scoring the same
(``tests/test_classroom_chapters.py``).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import polib
import pytest
import yaml

from course import translations
from course._errors import CourseError
from course._i18n import (
    CATALOG_KINDS,
    CHECK_TEXTS,
    catalog_path,
    chapter_catalog_path,
    is_current,
    notebook_language,
)
from course.kind_outputs import SUMMARY, shown_block
from course.nbgrader_glue import release

from .conftest import REPO
from .test_chapters import CHAPTERS, released_of, source_of

LANG = "ko"
FIX = "python -m course translations update --lang ko, then translate the named entries in course/locale/ko/"


@pytest.mark.parametrize("kind", CATALOG_KINDS)
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_entry_has_a_current_translation(chapter: str, kind: str) -> None:
    status = translations.catalog_status(chapter, LANG, kind)
    problems = [f"stale: {name}" for name in status.stale] + [f"missing: {name}" for name in status.missing]
    assert not problems, (
        f"course/locale/ko/{kind}/{chapter}.po is not current ({len(problems)} entries):\n  "
        + "\n  ".join(problems[:20])
        + f"\nFix: {FIX}"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_catalogs_are_what_the_update_command_writes(chapter: str) -> None:
    """No entry for a removed cell, none missing, in notebook order: `translations update` would change nothing."""
    for kind in CATALOG_KINDS:
        written = chapter_catalog_path(LANG, chapter, kind).read_text()
        assert str(translations.updated_catalog(chapter, LANG, kind)) == written, f"{kind}/{chapter}.po: {FIX}"


@pytest.fixture
def scratch_catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of one chapter (``00-setup``) and a copy of its catalogs, for the update command to change."""
    monkeypatch.setenv("K8S_COURSE_REPO", str(tmp_path / "repo"))
    monkeypatch.setattr("course._i18n.LOCALE_DIR", tmp_path / "locale")
    chapter = "00-setup"
    source = tmp_path / "repo" / "autograder" / "source" / chapter / f"{chapter}.ipynb"
    source.parent.mkdir(parents=True)
    source.write_bytes(source_of(chapter).read_bytes())
    for kind in CATALOG_KINDS:
        (tmp_path / "locale" / LANG / kind).mkdir(parents=True)
        committed = REPO / "course" / "locale" / LANG / kind / f"{chapter}.po"
        chapter_catalog_path(LANG, chapter, kind).write_bytes(committed.read_bytes())
    return source


def test_update_marks_a_changed_cell_stale_drops_a_removed_one_and_adds_a_new_one(scratch_catalogs: Path) -> None:
    chapter = "00-setup"
    notebook = nbformat.read(scratch_catalogs, as_version=4)
    markdown = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
    changed, removed = markdown[1], markdown[2]
    translated_before = {entry.msgctxt: entry.msgstr for entry in translations.load_catalog(chapter, LANG)}
    changed.source += "\n\nOne more sentence."
    notebook.cells.remove(removed)
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell("A new cell.", id="brand-new"))
    nbformat.write(notebook, scratch_catalogs)

    assert [path.name for path in translations.update_catalogs(chapter, LANG)] == [f"{chapter}.po"]
    entries = {entry.msgctxt: entry for entry in translations.load_catalog(chapter, LANG)}
    assert removed.id not in entries
    assert entries["brand-new"].msgstr == "" and entries["brand-new"].msgid == "A new cell."
    stale = entries[changed.id]
    assert stale.fuzzy and stale.msgstr == translated_before[changed.id] and stale.msgid == changed.source
    assert stale.previous_msgid and not stale.previous_msgid.endswith("One more sentence.")
    status = translations.catalog_status(chapter, LANG)
    assert (status.stale, status.missing) == ([changed.id], ["brand-new"])
    unchanged = [cell.id for cell in markdown if cell not in (changed, removed)]
    assert all(entries[cell_id].msgstr == translated_before[cell_id] for cell_id in unchanged)
    assert translations.update_catalogs(chapter, LANG) == [], "a second update changes nothing"

    with pytest.raises(CourseError, match=rf"00-setup \(2 cells: .*{changed.id}.*--allow-untranslated"):
        translations.require_translations([chapter], LANG)
    korean = translations.translated_notebook(notebook, chapter, LANG)
    by_id = {cell.id: cell.source for cell in korean.cells}
    assert by_id[changed.id] == changed.source and by_id["brand-new"] == "A new cell.", "stale and new stay English"


def test_a_check_cells_changed_text_is_a_new_entry(scratch_catalogs: Path) -> None:
    chapter = "00-setup"
    notebook = nbformat.read(scratch_catalogs, as_version=4)
    check = next(cell for cell in notebook.cells if translations.is_check_cell(cell) and "hint=" in cell.source)
    old = translations.check_texts(check.source)[0]
    check.source = check.source.replace(old, "A reworded hint.")
    nbformat.write(notebook, scratch_catalogs)
    translations.update_catalogs(chapter, LANG)
    catalog = translations.load_catalog(chapter, LANG, CHECK_TEXTS)
    texts = [entry.msgid for entry in catalog if entry.msgctxt == check.id]
    assert "A reworded hint." in texts and old not in texts
    assert f"{check.id}: A reworded hint." in translations.catalog_status(chapter, LANG, CHECK_TEXTS).missing


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_code_and_check_cells_are_byte_identical_and_prose_is_translated(chapter: str) -> None:
    english = nbformat.read(source_of(chapter), as_version=4)
    korean = translations.translated_notebook(english, chapter, LANG)
    catalog = {entry.msgctxt: entry for entry in translations.load_catalog(chapter, LANG) if is_current(entry)}
    for before, after in zip(english.cells, korean.cells, strict=True):
        assert (before.id, before.cell_type, before.metadata) == (after.id, after.cell_type, after.metadata)
        if before.cell_type == "markdown" and before.id in catalog and catalog[before.id].msgid == before.source:
            assert after.source == catalog[before.id].msgstr
        elif before.cell_type != "markdown":
            assert after.source == before.source, f"{chapter} cell {before.id} differs in the Korean edition"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebooks_ko_are_the_english_release_with_the_prose_translated(chapter: str) -> None:
    """notebooks/ko/ is current: its code and check cells (nbgrader checksums included) are notebooks/'s, and
    each Markdown cell is the current translation (`python -m course release --lang ko` writes it)."""
    english = nbformat.read(released_of(chapter), as_version=4)
    korean = nbformat.read(released_of(chapter, LANG), as_version=4)
    catalog = {entry.msgctxt: entry.msgstr for entry in translations.load_catalog(chapter, LANG)}
    stale = f"notebooks/ko/{chapter}.ipynb is stale: run python -m course release --lang ko"
    assert notebook_language(korean.metadata) == LANG, stale  # what the grader's feedback follows
    assert [cell.id for cell in korean.cells] == [cell.id for cell in english.cells], stale
    for before, after in zip(english.cells, korean.cells, strict=True):
        if before.cell_type == "code":
            assert (after.source, after.metadata) == (before.source, before.metadata), stale
        elif before.metadata.get("k8s-course", {}).get("recorded-on-kind"):
            assert after.source == before.source.replace(SUMMARY, translated(SUMMARY)), stale
        else:
            assert after.source == catalog[before.id], stale


def translated(message: str) -> str:
    entry = polib.pofile(str(catalog_path(LANG))).find(message)
    assert entry is not None and is_current(entry), f"course.po has no Korean for {message!r}"
    return str(entry.msgstr)


GLOSSARY = yaml.safe_load((REPO / "course" / "locale" / LANG / "glossary.yaml").read_text())["terms"]
NOT_PROSE = re.compile(
    r"```.*?```|`[^`\n]*`|\]\([^)]*\)|https?://\S+|<[^>]+>|{[^}]*}|\[[^]]*\]|kubectl [^:;]*", re.DOTALL
)
"""Code, link targets, addresses, HTML tags, inline maps and lists, kubectl commands: a term there is English in
both editions (a check text writes code without backticks)."""


def mentions(prose: str, term: str) -> bool:
    """``term`` (or its plural) as a word of ``prose`` outside code; an API kind (``Pod``) by its case,
    a common noun (``node``) in any case.

    >>> mentions("Two Pods and a `Pod` manifest", "Pod"), mentions("the PodSpec", "Pod"), mentions("Nodes", "node")
    (True, False, True)
    """
    flags = 0 if term[0].isupper() else re.IGNORECASE
    word = rf"(?<![\w./-]){re.escape(term)}(?:s|es)?(?![\w./:-])"  # not a field (labels:), a path or a name (a.b)
    return re.search(word, NOT_PROSE.sub(" ", prose), flags) is not None


def skipped_terms(entry: polib.POEntry) -> set[str]:
    """Terms a translator marked as not meant here, by a comment ``# glossary-skip: label (why)``."""
    found = re.findall(r"^glossary-skip:\s*([^(\n]+?)\s*(?:\(|$)", entry.tcomment or "", re.MULTILINE)
    return set(found)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_glossarys_enforced_terms_are_used(chapter: str) -> None:
    """Where the English prose uses an enforced term, its translation uses the Korean term, and never a variant
    the glossary rules out. A word that only looks like the term (the verb "label") is marked by the translator."""
    problems = []
    for kind in CATALOG_KINDS:
        for entry in translations.load_catalog(chapter, LANG, kind):
            if not entry.msgstr:
                continue
            for term in (term for term in GLOSSARY if term.get("enforced")):
                untranslated = mentions(entry.msgid, term["en"]) and term["ko"] not in entry.msgstr
                if untranslated and term["en"] not in skipped_terms(entry):
                    problems.append(f"{kind} {entry.msgctxt}: {term['en']!r} is not translated as {term['ko']!r}")
                problems += [
                    f"{kind} {entry.msgctxt}: {wrong!r} is not the term; write {term['ko']!r}"
                    for wrong in term.get("not", [])
                    if wrong in entry.msgstr
                ]
    assert not problems, f"{chapter}, against course/locale/ko/glossary.yaml:\n  " + "\n  ".join(problems) + (
        "\n(A word that is not the term, such as a verb: add the comment '# glossary-skip: <term> (why)' above it.)"
    )


def library_messages() -> list[str]:
    """Every message the course passes to ``tr`` as a literal (both branches of a conditional)."""
    found = []
    for path in sorted((REPO / "course").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr" and node.args:
                first = node.args[0]
                options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
                found += [option.value for option in options if isinstance(option, ast.Constant)]
    return found


def test_every_library_message_has_a_korean_translation_that_keeps_its_fields() -> None:
    from course.pictures._words import LEGEND, WORDS

    messages = library_messages() + list(WORDS.english.values()) + list(LEGEND.english.values())
    assert len(messages) >= 60
    catalog = {entry.msgid: entry for entry in polib.pofile(str(catalog_path(LANG)))}
    for message in [*messages, SUMMARY]:
        entry = catalog.get(message)
        assert entry is not None and is_current(entry), f"course/locale/ko/LC_MESSAGES/course.po lacks {message!r}"
        assert re.findall(r"{[^}]*}", message) == sorted(re.findall(r"{[^}]*}", entry.msgstr), key=message.find), (
            f"the translation of {message!r} must keep its fields"
        )


@pytest.fixture
def korean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("K8S_COURSE_LANG", LANG)
    yield


def test_a_failed_check_speaks_korean_with_k8s_course_lang(korean: None) -> None:
    from course import checks

    hint = "Set the container's image to nginx:1.27."  # a check cell's text in 00-setup, translated in check-texts/
    with pytest.raises(checks.CheckFailed) as failure:
        checks.expect_field({"kind": "Pod", "metadata": {"name": "hello"}}, "spec.replicas", 3, hint=hint)
    lines = str(failure.value).splitlines()
    assert lines[0] == "Pod 'hello': spec.replicas이(가) 설정되어 있지 않습니다."
    assert lines[1].split(":")[0].strip() == translated("expected")
    assert lines[3].split(":")[0].strip() == translated("hint") and hint not in lines[3]
    assert re.search(r"[가-힣]", lines[3])


def test_a_check_text_written_as_an_f_string_is_translated_with_its_values(korean: None) -> None:
    """Chapter 07's check builds its message with an f-string; the catalog holds its template, and the
    Korean keeps the values the check filled in, wherever the translation puts them."""
    from course import checks

    cells = nbformat.read(source_of("07-capstone"), as_version=4).cells
    source = next(cell.source for cell in cells if cell.get("id") == "44795f51")
    assert "The {tier} Pods (app=shop, tier={tier}) may not connect to the database on port 5432." in (
        translations.check_texts(source)
    )
    with pytest.raises(checks.CheckFailed) as failure:
        tier = "backup"
        message = f"The {tier} Pods (app=shop, tier={tier}) may not connect to the database on port 5432."
        checks.expect(False, message, expected="connected", found="no answer")
    message = str(failure.value).splitlines()[0]
    assert re.search(r"[가-힣]", message) and message.count("backup") == 2 and "5432" in message
    assert "may not connect" not in message


def test_the_language_comes_from_the_setting_or_the_korean_notebooks_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from course._i18n import language, tr

    monkeypatch.delenv("K8S_COURSE_LANG", raising=False)
    assert (language(), tr("expected")) == ("en", "expected")
    monkeypatch.setenv("K8S_COURSE_LANG", "ko_KR.UTF-8")
    assert (language(), tr("expected")) == ("ko", translated("expected"))
    monkeypatch.setenv("K8S_COURSE_LANG", "xx")
    assert language() == "en"
    monkeypatch.delenv("K8S_COURSE_LANG")
    (tmp_path / "notebooks" / LANG).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "notebooks" / LANG)  # a kernel of a notebook in notebooks/ko/ (a Binder link)
    assert language() == "ko"


@pytest.mark.parametrize(("metadata", "spoken"), [({"k8s-course": {"lang": "ko"}}, "ko"), ({}, "en")])
def test_nbgrader_grades_a_submission_in_the_language_of_its_edition(
    metadata: dict[str, object], spoken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One grading path for both editions (the check cells are the same): the feedback follows the notebook,
    in nbgrader autograde and in the class grader (whose ClassroomSandbox builds on ChapterSandbox)."""
    from course.nbgrader_glue import ChapterSandbox

    monkeypatch.setenv("K8S_COURSE_LANG", "ko" if spoken == "en" else "en")  # the grader's own setting loses
    for variable in ("K8S_COURSE_NAMESPACE", "K8S_COURSE_FRESH"):
        monkeypatch.delenv(variable, raising=False)
    notebook = nbformat.v4.new_notebook(metadata=metadata)
    ChapterSandbox().preprocess(notebook, {"nbgrader": {"student": "ada", "assignment": "00-setup"}})
    assert os.environ["K8S_COURSE_LANG"] == spoken


def test_the_recorded_on_kind_block_has_a_korean_title(korean: None) -> None:
    from course.kind_outputs import Recording

    block = shown_block("cell", Recording(source_sha256="", output="ok\n"))
    assert translated(SUMMARY) in block.source and SUMMARY not in block.source


def test_release_refuses_stale_translations_unless_allowed(scratch_catalogs: Path, tmp_path: Path) -> None:
    """The refusal comes before nbgrader runs: nothing is generated."""
    notebook = nbformat.read(scratch_catalogs, as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("Untranslated.", id="new-prose"))
    nbformat.write(notebook, scratch_catalogs)
    with pytest.raises(CourseError, match=r"00-setup \(1 cells: new-prose\)"):
        release(tmp_path / "out", ["00-setup"], LANG)
    assert not (tmp_path / "out").exists()
