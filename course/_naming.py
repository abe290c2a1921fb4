"""The one place a learner's id becomes Kubernetes names: the student label and a chapter's namespace.

It also says who the learner is (:func:`learner`) and which namespace a chapter works in
(:func:`namespace_for`), so that ``course.connect()`` and ``course.checks`` (which must not depend on
each other) read the same one.

Student isolation depends on every caller (``course.connect``, ``nbgrader autograde``'s
``ChapterSandbox``, the class grader and ``class sandbox``) computing the same namespace for the
same learner and chapter, and on two learners never sharing one; so this module is the only source,
and imports nothing of the course.

An id that already is a short DNS label (``ada``, ``kim-min-ji``) is used as it is. Any other id
(upper case, dots, spaces, non-ASCII letters, too long) keeps a readable stem and gets ``--`` and a
hash of the whole id: ``Kim.Min`` and ``kim-min`` differ only by case and punctuation, so without the
hash they would share a namespace. An id used as it is never contains ``--``, so it never equals the
hashed form of another. The label is at most :data:`STUDENT_LABEL_MAX` characters, which leaves room
for every chapter id, so ``<label>-<chapter>`` is a namespace of at most 63 characters for every
chapter of the same student, and ``<namespace>-pv`` (the student's volume) a valid object name.

>>> student_label("ada"), student_label("Kim.Min"), student_label("kim-min")
('ada', 'kim-min--s5532fha', 'kim-min')
>>> chapter_namespace("Kim.Min", "00-setup")
'kim-min--s5532fha-00-setup'
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import re

NAMESPACE_MAX = 63
"""A namespace name is a DNS-1123 label: at most 63 characters."""
STUDENT_LABEL_MAX = 40
"""The student part of a namespace; the rest (22 characters after the ``-``) is the chapter id's."""
_HASH = 8
"""Characters of base32 SHA-256 (40 bits): a class of 10,000 shares one by chance about once in 20,000."""
_PLAIN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
"""A label used as it is: lower-case words joined by single hyphens (never ``--``, which marks a hash)."""


def _label(text: str, limit: int) -> str:
    """``text`` as a DNS label of at most ``limit`` characters, distinct for distinct ``text``."""
    if _PLAIN.fullmatch(text) and len(text) <= limit:
        return text
    # surrogatepass: ids read from folder names may hold undecodable bytes; they still hash, and apart.
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    suffix = base64.b32encode(digest).decode().lower()[:_HASH]
    stem = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[: limit - _HASH - 2].rstrip("-")
    return f"{stem or 'id'}--{suffix}"


def student_label(student_id: str) -> str:
    """The student's DNS label: their namespaces' prefix and the value of their objects' student label.

    >>> student_label("Ada.Lovelace 2")
    'ada-lovelace-2--povs4psl'
    """
    return _label(student_id, STUDENT_LABEL_MAX)


def chapter_namespace(student_id: str, chapter: str) -> str:
    """The namespace where ``student_id`` works on (and is graded in) ``chapter``: ``<label>-<chapter>``.

    A chapter id that is not a plain label or would not fit (not one of the course's chapters) gets a
    hash the same way, so the result is always a valid namespace name.

    >>> chapter_namespace("ada", "00-setup")
    'ada-00-setup'
    """
    label = student_label(student_id)
    return f"{label}-{_label(chapter, NAMESPACE_MAX - len(label) - 1)}"


def invalid_reason(student_id: str) -> str | None:
    """Why ``student_id`` cannot be a student id (a folder name in nbgrader's ``submitted/``), or None.

    >>> invalid_reason("../ada"), invalid_reason("Kim Min-ji")
    ('it contains a / or \\\\', None)
    """
    if not student_id.strip():
        return "it is empty"
    if "/" in student_id or "\\" in student_id:
        return "it contains a / or \\"
    if any(ord(character) < 32 or ord(character) == 127 for character in student_id):
        return "it contains a control character"
    if student_id != student_id.strip():
        return "it starts or ends with a space"
    if not any(character.isalnum() for character in student_id):
        return "it has no letter or digit to name it by"
    if len(student_id.encode("utf-8", "surrogatepass")) > 255:
        return "it is longer than a file name may be (255 bytes)"
    return None


def learner() -> str:
    """Who is learning: ``K8S_COURSE_LEARNER``, else the JupyterHub user, else the login name."""
    return os.environ.get("K8S_COURSE_LEARNER") or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def namespace_for(chapter_id: str) -> str:
    """The namespace a chapter works in: ``<learner>-<chapter>``, or ``K8S_COURSE_NAMESPACE`` when set.

    The learner's id becomes a DNS label as :func:`chapter_namespace` says (a hash is added to ids
    that are not plain lower-case labels, so that no two learners share a namespace).

    >>> os.environ["K8S_COURSE_LEARNER"] = "Ada.Lovelace"         # doctest: +SKIP
    >>> namespace_for("00-setup")                                 # doctest: +SKIP
    'ada-lovelace--vglqr22s-00-setup'
    """
    return os.environ.get("K8S_COURSE_NAMESPACE") or chapter_namespace(learner(), chapter_id)
