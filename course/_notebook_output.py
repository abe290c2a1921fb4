"""Where a notebook's output goes: rich widgets and pictures when a person watches, plain text elsewhere.

Under nbgrader's autograding (``NBGRADER_EXECUTION`` is set) or in a terminal there is nobody to see a
widget, and feedback files must be readable, so everything falls back to text there.
``K8S_COURSE_DISPLAY=text`` or ``=rich`` overrides the guess.

>>> in_notebook()       # in a plain Python process
False
"""

from __future__ import annotations

import os
from typing import Any


def in_notebook() -> bool:
    """True in a Jupyter kernel with a frontend that a person looks at (not nbgrader's run)."""
    forced = os.environ.get("K8S_COURSE_DISPLAY")
    if forced in ("text", "rich"):
        return forced == "rich"
    if os.environ.get("NBGRADER_EXECUTION"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(picture: Any) -> None:
    """Display ``picture`` (anything with ``_repr_html_`` and ``__str__``) where the learner looks.

    In IPython it goes through ``display()``, which keeps both the HTML and the text form (nbgrader's
    feedback and ``jupyter nbconvert --to markdown`` use the text); elsewhere it is printed.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(picture)
        return
    if get_ipython() is None:
        print(picture)
    else:
        display(picture)
