"""The language the course speaks at run time: English, or a translated edition (Korean: ``ko``).

``K8S_COURSE_LANG=ko`` (set by ``python -m course lab --lang ko``, and by the class grader per
student) makes what the course prints appear in Korean: check failures (expected, found, hint),
``connect()``'s lines, the friendly errors, wait progress and the pictures' legends. Unset, or
``en``, the course speaks English.

Two kinds of catalogs, both gettext ``.po`` files under ``course/locale/<lang>/``, read with polib
(nothing to compile, and the wheel ships them as they are):

- ``LC_MESSAGES/course.po``: the library's own messages. A message with values is a template,
  ``tr("Pod {name!r} is missing.", name=name)``, so that word order can change in a translation.
- ``chapters/<chapter>.po``: a chapter's Markdown cells, used when the edition is generated
  (:mod:`course.translations`);
- ``check-texts/<chapter>.po``: the plain texts a chapter's check cells pass to the check library
  (``hint=...``, the ``what`` of ``checks.expect``). Check cells are the same in every edition, so
  those texts are translated here, when the check fails, by their English text (:func:`translate`).

An entry that is empty or marked fuzzy (its English changed since it was translated) is not used:
the English text shows instead.

>>> tr("expected", lang="en")
'expected'
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import polib

LANG_VARIABLE = "K8S_COURSE_LANG"
"""The environment variable that chooses the language."""

ENGLISH = "en"
LANGUAGES = (ENGLISH, "ko")
"""The editions: English (the source) and the translations that have a ``course/locale/<lang>/``."""

LOCALE_DIR = Path(__file__).parent / "locale"


def language() -> str:
    """The language chosen by :data:`LANG_VARIABLE`: ``ko`` for ``ko``, ``ko_KR``, ``ko-KR.UTF-8``;
    English for anything unknown. Unset, a notebook of a translated edition (its kernel runs in
    ``notebooks/ko/``) speaks that edition's language, however JupyterLab was started (a Binder link).

    >>> os.environ[LANG_VARIABLE] = "ko_KR"; language()
    'ko'
    >>> del os.environ[LANG_VARIABLE]; language()
    'en'
    """
    chosen = os.environ.get(LANG_VARIABLE, "").strip().lower()[:2]
    if not chosen:
        try:
            folder = Path.cwd()
        except OSError:  # the working directory was removed
            return ENGLISH
        chosen = folder.name if folder.parent.name == "notebooks" else ""
    return chosen if chosen in LANGUAGES else ENGLISH


EDITION_METADATA = "k8s-course"
"""The notebook metadata key under which a translated edition's notebook says its ``lang``."""


def notebook_language(metadata: dict[str, Any]) -> str:
    """The edition a notebook belongs to, from its metadata: what a grader's feedback on it speaks.

    >>> notebook_language({"k8s-course": {"lang": "ko"}}), notebook_language({})
    ('ko', 'en')
    """
    lang = str((metadata.get(EDITION_METADATA) or {}).get("lang", ENGLISH))
    return lang if lang in LANGUAGES else ENGLISH


def catalog_path(lang: str) -> Path:
    """The library's own message catalog for ``lang``."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / "course.po"


PROSE = "chapters"
CHECK_TEXTS = "check-texts"
CATALOG_KINDS = (PROSE, CHECK_TEXTS)
"""A chapter's two catalogs, by folder: its Markdown cells, and its check cells' texts."""


def chapter_catalog_path(lang: str, chapter: str, kind: str = PROSE) -> Path:
    """One of the chapter's catalogs (:data:`CATALOG_KINDS`) for ``lang``."""
    return LOCALE_DIR / lang / kind / f"{chapter}.po"


def is_current(entry: polib.POEntry) -> bool:
    """A translation that may be shown: not empty, not fuzzy (its English did not change since)."""
    return bool(entry.msgstr) and not entry.fuzzy and not entry.obsolete


@cache
def _library_messages(lang: str) -> dict[str, str]:
    path = catalog_path(lang)
    if not path.exists():
        return {}
    return {entry.msgid: entry.msgstr for entry in polib.pofile(str(path)) if is_current(entry)}


TEMPLATE_FLAG = "python-brace-format"
"""The gettext flag of a check text that was an f-string in its cell: a template whose ``{fields}``
are filled when the check runs (:func:`translate` finds it by matching the text it produced)."""


@cache
def _check_entries(lang: str) -> list[polib.POEntry]:
    return [
        entry
        for path in sorted((LOCALE_DIR / lang / CHECK_TEXTS).glob("*.po"))
        for entry in polib.pofile(str(path))
        if is_current(entry)
    ]


@cache
def _check_texts(lang: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in _check_entries(lang):
        if TEMPLATE_FLAG not in entry.flags:
            found.setdefault(entry.msgid, entry.msgstr)
    return found


def _field_key(name: str, conversion: str | None, spec: str | None) -> str:
    return name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")


@dataclass(frozen=True)
class _Template:
    """A translated f-string check text: a pattern that matches the English it produces (one group per
    field, in order), each group's field as written (``name!r``), and the translation."""

    pattern: re.Pattern[str]
    fields: tuple[str, ...]
    translation: str

    def fill(self, text: str) -> str | None:
        """The translation of ``text`` with the values its fields had, or None when ``text`` is not this
        template's or the translation names a field the English does not have."""
        match = self.pattern.fullmatch(text)
        if match is None:
            return None
        values = dict(zip(self.fields, match.groups(), strict=True))
        filled = []
        for literal, name, spec, conversion in string.Formatter().parse(self.translation):
            filled.append(literal)
            if name is not None:
                key = _field_key(name, conversion, spec)
                if key not in values:
                    return None
                filled.append(values[key])
        return "".join(filled)


@cache
def _check_templates(lang: str) -> list[_Template]:
    templates = []
    for entry in _check_entries(lang):
        if TEMPLATE_FLAG in entry.flags:
            parts = list(string.Formatter().parse(entry.msgid))
            pattern = "".join(re.escape(text) + ("(.*?)" if name is not None else "") for text, name, _, _ in parts)
            fields = tuple(_field_key(name, conv, spec) for _, name, spec, conv in parts if name is not None)
            templates.append(_Template(re.compile(pattern, re.DOTALL), fields, entry.msgstr))
    return templates


def tr(message: str, lang: str | None = None, **values: Any) -> str:
    """``message`` (a template with ``{name}`` fields, filled from ``values``) in the chosen language.

    >>> tr("{count} of {total} replicas ready", lang="en", count=2, total=3)
    '2 of 3 replicas ready'
    """
    lang = lang or language()
    template = message if lang == ENGLISH else _library_messages(lang).get(message, message)
    return template.format(**values) if values else template


def translate(text: str, lang: str | None = None) -> str:
    """A text written in a check cell (a hint, what a check expects) in the chosen language: looked up
    in the chapters' catalogs (an f-string's text by its template, its values kept), then the
    library's; unchanged when no current translation has it."""
    lang = lang or language()
    if lang == ENGLISH or not text:
        return text
    exact = _check_texts(lang).get(text)
    if exact:
        return exact
    for template in _check_templates(lang):
        filled = template.fill(text)
        if filled is not None:
            return filled
    return _library_messages(lang).get(text, text)
