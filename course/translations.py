"""Translated editions, generated from the one English source: the chapters' catalogs and notebooks.

The English source notebooks (``autograder/source/<id>/<id>.ipynb``) hold all code and tests. A
translation lives in ``course/locale/<lang>/chapters/<id>.po``, one gettext entry per Markdown cell
(``msgctxt`` = the cell id, ``msgid`` = its English source, ``msgstr`` = the translation); the plain
texts that its check cells hand the check library are in ``check-texts/<id>.po`` (``msgctxt`` = the
check cell's id; see :mod:`course._i18n`). :func:`translated_notebook` replaces each Markdown cell
by its translation and keeps every other cell byte for byte, so nbgrader's grade ids and checksums are
the same in every edition and one gradebook grades both.

``python -m course translations update`` (:func:`update_catalogs`) re-extracts the entries: a
translation is kept when its English is unchanged, kept but marked fuzzy (stale, with the previous
English as ``#| msgid``) when it changed, dropped with its cell; new cells come in untranslated.
``python -m course translations status`` (:func:`catalog_status`) counts translated, stale and
missing entries per chapter.
"""

from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import polib
from nbformat import NotebookNode

from course._chapters import chapter_ids, load_chapter
from course._errors import CourseError
from course._i18n import (
    CATALOG_KINDS,
    CHECK_TEXTS,
    EDITION_METADATA,
    LANG_VARIABLE,
    PROSE,
    TEMPLATE_FLAG,
    chapter_catalog_path,
    is_current,
)
from course._paths import repo_root

TEXT_KEYWORDS = ("hint", "what")
"""The keywords of any ``checks.*`` call that hold a text for the learner."""

TEXT_POSITIONS = {"expect": 1, "expect_answer": 3, "passed": 0}
"""The check functions that take a text for the learner by position, and its index (``what``, ``message``)."""


def source_notebook_path(chapter: str) -> Path:
    return repo_root() / "autograder" / "source" / chapter / f"{chapter}.ipynb"


def source_chapters() -> list[str]:
    """Every chapter with a source notebook, in order."""
    return sorted(path.stem for path in (repo_root() / "autograder" / "source").glob("*/*.ipynb"))


def read_notebook(path: Path) -> NotebookNode:
    notebook: NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def is_check_cell(cell: NotebookNode) -> bool:
    """An nbgrader "Autograder tests" cell."""
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("grade"))


class FStringText(str):
    """A check text written as an f-string: a template whose ``{fields}`` (the f-string's expressions,
    as written) are filled when the check runs. Its catalog entry carries the flag
    :data:`course._i18n.TEMPLATE_FLAG`, and a translation keeps every field (in any order)."""


def fstring_template(node: ast.JoinedStr) -> FStringText:
    """The template an f-string stands for: its literal text (braces doubled) and its fields as written.

    >>> fstring_template(ast.parse('f"The Pod {name!r} has {len(ports)} ports."', mode="eval").body)
    'The Pod {name!r} has {len(ports)} ports.'
    """
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
        elif isinstance(value, ast.FormattedValue):
            conversion = f"!{chr(value.conversion)}" if value.conversion != -1 else ""
            spec = ":" + fstring_template(value.format_spec) if isinstance(value.format_spec, ast.JoinedStr) else ""
            parts.append("{" + ast.unparse(value.value) + conversion + spec + "}")
    return FStringText("".join(parts))


def check_texts(source: str) -> list[str]:
    """The texts a check cell passes to the check library, in order, without repeats: plain strings,
    and f-strings as templates (:class:`FStringText`), translated when the check prints them.

    >>> check_texts('checks.expect(ok, "web is missing.", expected=1, found=0, hint=f"Scale {name}.")\\n'
    ...             'checks.expect_field(pod, "spec.replicas", 3, hint="Scale it.")')
    ['web is missing.', 'Scale {name}.', 'Scale it.']
    """
    arguments: list[ast.expr] = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "checks"):
            continue
        arguments += [keyword.value for keyword in node.keywords if keyword.arg in TEXT_KEYWORDS]
        position = TEXT_POSITIONS.get(node.func.attr)
        if position is not None and len(node.args) > position:
            arguments.append(node.args[position])
    arguments.sort(key=lambda argument: (argument.lineno, argument.col_offset))  # ast.walk goes breadth first
    texts: list[str] = []
    for argument in arguments:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str) and argument.value:
            texts.append(argument.value)
        elif isinstance(argument, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in argument.values):
            texts.append(fstring_template(argument))
    return list(dict.fromkeys(texts))


def english_entries(notebook: NotebookNode, kind: str, chapter: str) -> list[tuple[str, str]]:
    """What a chapter's catalog of ``kind`` translates, as (msgctxt, msgid) in notebook order: each
    Markdown cell (:data:`PROSE`), or each check cell's texts and then the ``why`` of each of the
    chapter's predictions (:data:`CHECK_TEXTS`; ``msgctxt`` ``prediction:<name>``), which
    ``cluster.observe`` prints."""
    entries: list[tuple[str, str]] = []
    for cell in notebook.cells:
        if kind == PROSE and cell.cell_type == "markdown":
            entries.append((cell.id, cell.source))
        elif kind == CHECK_TEXTS and is_check_cell(cell):
            entries += [(cell.id, text) for text in check_texts(cell.source)]
    if kind == CHECK_TEXTS and chapter in chapter_ids():
        entries += [(f"prediction:{name}", p.why) for name, p in load_chapter(chapter).predictions.items()]
    return entries


def _key(kind: str, context: str, english: str) -> tuple[str, str]:
    """What ties a translation to its English: a prose entry's cell (whose text may change), a check
    text's cell and text (a cell has several; a changed text is a new entry)."""
    return (context, "") if kind == PROSE else (context, english)


def _new_catalog(chapter: str, lang: str) -> polib.POFile:
    catalog = polib.POFile(wrapwidth=0)
    catalog.metadata = {
        "Project-Id-Version": f"k8s-course {chapter}",
        "Language": lang,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    return catalog


def load_catalog(chapter: str, lang: str, kind: str = PROSE) -> polib.POFile:
    """The chapter's catalog of ``kind`` for ``lang`` (an empty one when it has none yet)."""
    path = chapter_catalog_path(lang, chapter, kind)
    if not path.exists():
        return _new_catalog(chapter, lang)
    catalog = polib.pofile(str(path), wrapwidth=0)
    catalog.wrapwidth = 0  # one line per source line, as written: a diff shows what a translator changed
    return catalog


def updated_catalog(chapter: str, lang: str, kind: str = PROSE) -> polib.POFile:
    """The chapter's catalog of ``kind`` re-extracted from its source notebook (nothing is written)."""
    catalog = load_catalog(chapter, lang, kind)
    old = {_key(kind, entry.msgctxt, entry.msgid): entry for entry in catalog if not entry.obsolete}
    catalog[:] = []
    for context, english in english_entries(read_notebook(source_notebook_path(chapter)), kind, chapter):
        before = old.get(_key(kind, context, english))
        if before is None:
            flags = [TEMPLATE_FLAG] if isinstance(english, FStringText) else []
            catalog.append(polib.POEntry(msgctxt=context, msgid=english, msgstr="", flags=flags))
        elif before.msgid == english:
            catalog.append(before)
        else:  # the English changed: keep the translation as a draft, marked stale, with what it translated
            entry = polib.POEntry(msgctxt=context, msgid=english, msgstr=before.msgstr, tcomment=before.tcomment)
            if before.msgstr:
                entry.flags = ["fuzzy"]
                entry.previous_msgid = before.previous_msgid if before.fuzzy and before.previous_msgid else before.msgid
            catalog.append(entry)
    return catalog


def update_catalogs(chapter: str, lang: str) -> list[Path]:
    """Write the chapter's re-extracted catalogs; returns those that changed."""
    changed = []
    for kind in CATALOG_KINDS:
        path = chapter_catalog_path(lang, chapter, kind)
        text = str(updated_catalog(chapter, lang, kind))
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


@dataclass
class CatalogStatus:
    """A chapter's catalog against its source notebook: which entries are translated, stale, missing
    (each named ``<cell id>`` for prose, ``<cell id>: <English text>`` for a check text)."""

    chapter: str
    kind: str
    translated: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    """Translated once, but the English changed since (fuzzy), or the catalog still has the old English."""
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.stale or self.missing)


def catalog_status(chapter: str, lang: str, kind: str = PROSE) -> CatalogStatus:
    """Compare the chapter's catalog of ``kind`` on disk with its source notebook."""
    status = CatalogStatus(chapter, kind)
    catalog = load_catalog(chapter, lang, kind)
    on_disk = {_key(kind, entry.msgctxt, entry.msgid): entry for entry in catalog if not entry.obsolete}
    for context, english in english_entries(read_notebook(source_notebook_path(chapter)), kind, chapter):
        entry = on_disk.get(_key(kind, context, english))
        name = context if kind == PROSE else f"{context}: {english}"
        if entry is None or not entry.msgstr:
            status.missing.append(name)
        elif entry.fuzzy or entry.msgid != english:
            status.stale.append(name)
        else:
            status.translated.append(name)
    return status


def require_translations(chapters: list[str], lang: str) -> None:
    """Refuse, in one message, chapters whose Markdown cells have stale or missing translations."""
    problems = []
    for chapter in chapters:
        status = catalog_status(chapter, lang)
        cells = status.stale + status.missing
        if cells:
            problems.append(f"{chapter} ({len(cells)} cells: {', '.join(cells[:5])}{' ...' if len(cells) > 5 else ''})")
    if problems:
        raise CourseError(
            f"Stale or missing '{lang}' translations in {'; '.join(problems)}. Run: python -m course translations "
            f"update --lang {lang}, translate the entries in course/locale/{lang}/chapters/, or release with "
            "--allow-untranslated (those cells stay in English)."
        )


def translated_notebook(notebook: NotebookNode, chapter: str, lang: str) -> NotebookNode:
    """``notebook`` with each Markdown cell replaced by its current translation (English where there is
    none); every other cell, and every cell's metadata and id, unchanged. The notebook's metadata names
    its language (:func:`course._i18n.notebook_language`)."""
    translations = {  # cell id -> (the English it translates, the translation)
        entry.msgctxt: (entry.msgid, entry.msgstr)
        for entry in load_catalog(chapter, lang)
        if is_current(entry)
    }
    translated = copy.deepcopy(notebook)
    translated.metadata.setdefault(EDITION_METADATA, {})["lang"] = lang  # the grader's feedback follows it
    for cell in translated.cells:
        english, translation = translations.get(cell.get("id"), ("", ""))
        if cell.cell_type == "markdown" and english == cell.source:  # a changed cell is stale: English stays
            cell.source = translation
    return translated


def write_translated_source(chapter: str, lang: str, into: Path) -> Path:
    """Write ``chapter``'s translated source notebook to ``into/<chapter>/<chapter>.ipynb``."""
    source = source_notebook_path(chapter)
    if not source.exists():
        raise CourseError(f"No source notebook {source}. Chapters: {', '.join(source_chapters())}.")
    target = into / chapter / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(translated_notebook(read_notebook(source), chapter, lang), target)  # type: ignore[no-untyped-call]
    return target


ENGLISH_NOTEBOOKS_FLAG = "--notebook-dir=notebooks"
"""How the English devcontainer tells JupyterLab which folder to open."""


def devcontainer_path(lang: str) -> Path:
    """Where an edition's Codespaces configuration is: ``.devcontainer/<lang>/devcontainer.json``
    (Codespaces offers every ``.devcontainer/*/devcontainer.json``; a link picks one with
    ``?devcontainer_path=``)."""
    return repo_root() / ".devcontainer" / lang / "devcontainer.json"


def edition_devcontainer(lang: str) -> str:
    """The Codespaces configuration of the edition ``lang``: the English one (``.devcontainer/devcontainer.json``,
    the one a contributor edits), opening ``notebooks/<lang>/`` with the course (``K8S_COURSE_LANG``) and
    JupyterLab's menus (``course/jupyter/<lang>/``) in that language, as ``python -m course lab --lang`` does."""
    config = json.loads((repo_root() / ".devcontainer" / "devcontainer.json").read_text())
    command = config["postAttachCommand"]["jupyterlab"]
    if f"{ENGLISH_NOTEBOOKS_FLAG} " not in f"{command} ":
        raise CourseError(f".devcontainer/devcontainer.json: its JupyterLab command has no {ENGLISH_NOTEBOOKS_FLAG}.")
    config["name"] = f"{config['name']} [{lang}]"
    config["postAttachCommand"]["jupyterlab"] = f"{command} ".replace(
        f"{ENGLISH_NOTEBOOKS_FLAG} ", f"{ENGLISH_NOTEBOOKS_FLAG}/{lang} "
    ).rstrip()
    env = config["remoteEnv"]
    role_settings = env["JUPYTER_CONFIG_PATH"]  # .../course/jupyter/learner: the language's folder goes first
    env["JUPYTER_CONFIG_PATH"] = f"{role_settings.rsplit('/', 1)[0]}/{lang}:{role_settings}"
    env[LANG_VARIABLE] = lang
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def write_edition_devcontainer(lang: str) -> Path:
    """Write :func:`edition_devcontainer` to :func:`devcontainer_path` (``python -m course release --lang``)."""
    target = devcontainer_path(lang)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(edition_devcontainer(lang))
    return target
