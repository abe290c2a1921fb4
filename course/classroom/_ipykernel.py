"""ipykernel, as the class grader runs it: ``!command`` through pipes instead of a terminal.

IPython runs ``!kubectl get pods`` in a pseudo-terminal (pexpect). A jailed kernel may not open
``/dev/ptmx``: granting it would also grant every other terminal of the machine under ``/dev/pts``,
the instructor's included. Here ``!`` runs the command through a pipe, merging stderr into stdout
and printing line by line as it comes — what IPython itself does on Windows. ``kubectl`` prints the
same tables either way.

IPython 9 also formats every error a second time, for its history database, walking the frames
inside ``course`` and parsing their source files: a third of the CPU of grading an untouched
notebook. Nothing reads that history in a graded kernel, so it gets the plain traceback instead
(:func:`plain_stored_exception`); what the notebook shows is unchanged.

``python -m course.classroom._ipykernel -f CONNECTION_FILE`` is ``python -m ipykernel_launcher``
with these two changes.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any


def piped_system(command: str) -> int:
    """Run ``command`` with ``/bin/sh``, echo its output as it arrives, return its exit status."""
    with subprocess.Popen(
        ["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, b""):
            sys.stdout.write(line.decode(errors="replace"))
            sys.stdout.flush()
    return process.returncode


def plain_stored_exception(shell: object, exception: BaseException, *args: object, **kwargs: object) -> dict[str, Any]:
    """What IPython 9 keeps of an error in its history: here, Python's own traceback text."""
    import traceback

    lines = traceback.format_exception(type(exception), exception, exception.__traceback__)
    return {"ename": type(exception).__name__, "evalue": str(exception), "traceback": lines}


def launch(argv: list[str]) -> None:
    """Start ipykernel with ``argv`` (``-f CONNECTION_FILE ...``), piped ``!`` commands and plain
    tracebacks in the history."""
    from ipykernel import kernelapp, zmqshell
    from IPython.core.interactiveshell import InteractiveShell

    zmqshell.system = piped_system  # type: ignore[attr-defined]
    if hasattr(InteractiveShell, "_format_exception_for_storage"):  # IPython 9
        setattr(InteractiveShell, "_format_exception_for_storage", plain_stored_exception)  # noqa: B010 (typed in IPython 9 only)
    sys.argv = ["ipykernel_launcher", *argv]
    kernelapp.launch_new_instance(argv=argv)


if __name__ == "__main__":
    if sys.path and sys.path[0] == "":
        sys.path.pop(0)
    launch(sys.argv[1:])
