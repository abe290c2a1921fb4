"""The zygote: a clean process, with everything a grading job needs already imported, that forks jobs.

Importing nbgrader, nbconvert, ipykernel and the ``kubernetes`` client's models takes seconds of
CPU; a class of 200 would pay it 400 times (once per job, once per kernel). The zygote pays it once:
it imports everything, then forks one child per job it is asked for. A forked child starts in
milliseconds and shares the imported modules' memory with the zygote and with every other job.

The zygote is started by the coordinator as ``python -m course.classroom._zygote`` with an
environment that carries no credential, and it never reads one: jobs (and the kernels they fork)
inherit nothing secret. It speaks JSON lines: the coordinator writes ``{"job": ID, "spec": PATH}``
on its stdin; the zygote answers ``{"started": ID, "pid": PID}`` and, when that job's process ends,
``{"exited": ID, "code": CODE}``. End of input: it waits for its jobs, then exits.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import sys

from course.classroom._forking import exit_flushed, redirect_to_log

PRELOAD = (
    "nbgrader.api",
    "nbgrader.converters",
    "nbgrader.preprocessors",
    "nbgrader.coursedir",
    "nbclient",
    "nbconvert",
    "jupyter_client.manager",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",  # debugpy: a hundred modules every ipykernel imports as it starts
    "ipykernel.kernelspec",
    "IPython.core.completerlib",
    "tornado.queues",
    "sqlalchemy.dialects.sqlite",
    "IPython",
    "IPython.core.interactiveshell",
    "yaml",
    "course",
    "course.checks",
    "course.classroom._cells",
    "course.classroom._execute",
    "course.classroom._job",
    "kubernetes.dynamic",
)
"""Modules imported once; the kernels' own imports (``course``, the ``kubernetes`` APIs) included."""

KUBERNETES_APIS = ("CoreV1Api", "AppsV1Api", "BatchV1Api", "NetworkingV1Api", "StorageV1Api", "VersionApi")
"""The client classes ``course.Cluster`` builds; their models are built on first access, so touch them."""


def preload() -> None:
    """Import everything, then freeze it: the garbage collector never walks (and so never copies)
    the shared pages of the preloaded objects in a forked job or kernel."""
    gc.disable()
    for module in PRELOAD:
        importlib.import_module(module)
    from kubernetes import client

    for api in KUBERNETES_APIS:
        getattr(client, api)
    import nbformat

    nbformat.validate(nbformat.v4.new_notebook())  # type: ignore[no-untyped-call]  # compile the schema once
    _format_one_traceback()
    gc.freeze()
    gc.enable()


def _format_one_traceback() -> None:
    """Format one traceback as IPython does, so that forked processes find its caches filled.

    The first traceback a process formats costs about 0.15 s of CPU: ``inspect`` maps every loaded
    module to its file (tens of thousands of ``lstat`` calls) and ``stack_data`` parses
    ``interactiveshell.py``, a frame of every cell. An unsolved exercise raises in the learner's
    kernel and again in the referee, so without this each submission would pay it twice.
    """
    from IPython.core import interactiveshell, ultratb
    from stack_data.core import Source

    formatter = ultratb.AutoFormattedTB(mode="Context")  # the default colours: IPython 8 and 9 name them differently
    try:
        exec(compile("raise NotImplementedError()", "<zygote>", "exec"))
    except NotImplementedError:
        formatter.structured_traceback(*sys.exc_info())
    Source.for_filename(interactiveshell.__file__)


def _say(message: dict[str, object]) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def _start(job: str, spec: str) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        redirect_to_log(os.path.join(os.path.dirname(spec), "job.out"))
        from pathlib import Path

        from course.classroom._job import run_job

        code = run_job(Path(spec))
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        exit_flushed(code)


def main() -> None:
    preload()
    jobs: dict[int, str] = {}
    buffer = b""
    reading = True
    while reading or jobs:
        ready, _, _ = select.select([0] if reading else [], [], [], 0.05)
        if ready:
            chunk = os.read(0, 65536)
            if not chunk:
                reading = False
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = _start(str(request["job"]), str(request["spec"]))
                jobs[pid] = str(request["job"])
                _say({"started": request["job"], "pid": pid})
        while jobs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in jobs:
                _say({"exited": jobs.pop(pid), "code": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)
    main()
