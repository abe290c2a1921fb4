"""ipykernel, as the class grader runs it: ``!command`` through pipes instead of a terminal.

IPython runs ``!kubectl get pods`` in a pseudo-terminal (pexpect). A jailed kernel may not open
``/dev/ptmx``: granting it would also grant every other terminal of the machine under ``/dev/pts``,
the instructor's included. Here ``!`` runs the command through a pipe, merging stderr into stdout
and printing line by line as it comes — what IPython itself does on Windows. ``kubectl`` prints the
same tables either way.

``python -m course.classroom._ipykernel -f CONNECTION_FILE`` is ``python -m ipykernel_launcher``
with that one change.
"""

from __future__ import annotations

import subprocess
import sys


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


def launch(argv: list[str]) -> None:
    """Start ipykernel with ``argv`` (``-f CONNECTION_FILE ...``) and piped ``!`` commands."""
    from ipykernel import kernelapp, zmqshell

    zmqshell.system = piped_system  # type: ignore[attr-defined]
    sys.argv = ["ipykernel_launcher", *argv]
    kernelapp.launch_new_instance(argv=argv)


if __name__ == "__main__":
    if sys.path and sys.path[0] == "":
        sys.path.pop(0)
    launch(sys.argv[1:])
