"""Starting a learner's kernel: jailed, with the student's identity only, and fast.

Starting a Python kernel the usual way costs about a second and a half of CPU: a new interpreter
imports ipykernel, then the notebook imports ``course`` and the ``kubernetes`` client, whose models
are built on first use. For a class that is most of the grading time. The class grader instead
*forks* the kernel from its grading job, whose process was itself forked from a zygote that imported
all of that once (:mod:`course.classroom._zygote`). A forked kernel shares those pages and starts in
milliseconds.

The fork happens first thing in the job, before the job reads any credential, so the kernel's memory
holds no secret: :class:`PreforkedKernel` is a child that waits on a pipe. When nbgrader's Execute
starts "the kernel", :class:`SandboxedKernelManager` hands that child the jail policy and the
kernel's arguments instead of spawning a process; the child enters the jail
(:func:`course.classroom._jail.enter_jail`) and becomes an ipykernel. Without a waiting child (or for
a kernel that is not ipykernel) the manager falls back to spawning
``python -m course.classroom._jail POLICY -- <kernel command>``: slower, just as jailed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from course.classroom._forking import exit_flushed, redirect_to_log
from course.classroom._jail import JailPolicy, die_with_parent, enter_jail


class ForkedProcess:
    """Enough of ``subprocess.Popen`` for jupyter_client to watch, signal and reap a forked kernel."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class PreforkedKernel:
    """A child forked while the job is still clean, waiting to be told how to become the kernel."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid = pid
        self._pipe = pipe

    @classmethod
    def fork(cls) -> PreforkedKernel:
        """Fork now. Call before the process reads secrets or starts threads (it checks the latter)."""
        if threading.active_count() != 1:
            raise RuntimeError("a kernel can only be pre-forked from a single-threaded process")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write_end)
            _become_kernel(read_end)  # never returns
        os.close(read_end)
        return cls(pid, write_end)

    def launch(self, request: dict[str, Any]) -> ForkedProcess:
        """Send the jail policy and kernel arguments; the child becomes the kernel."""
        data = json.dumps(request).encode()
        while data:
            data = data[os.write(self._pipe, data) :]
        self.discard()
        return ForkedProcess(self.pid)

    def discard(self) -> None:
        """Close the pipe: a child that got no request exits."""
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1


def _become_kernel(pipe: int) -> None:
    """In the pre-forked child: wait for the request, enter the jail, run ipykernel; never return."""
    code = 1
    try:
        os.setsid()  # its own process group: jupyter_client interrupts and kills the group
        die_with_parent()
        chunks = []
        while chunk := os.read(pipe, 65536):
            chunks.append(chunk)
        os.close(pipe)
        if not chunks:
            os._exit(0)
        request = json.loads(b"".join(chunks))
        redirect_to_log(request["log"])
        enforced = enter_jail(JailPolicy(**request["policy"]))
        Path(request["report"]).write_text(json.dumps(enforced))
        from course.classroom._ipykernel import launch

        launch(request["argv"])
        code = 0
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else 0
    except BaseException:
        traceback.print_exc()
    finally:
        exit_flushed(code)


@dataclass
class KernelPlan:
    """How the next kernel of this job starts: filled by the job, completed by ``ClassroomSandbox``."""

    kernel_dir: Path
    student_kubeconfig: Path
    api_ports: list[int]
    read_paths: list[str]
    """Folders the kernel may read (:func:`~course.classroom._jail.system_read_paths`, computed once)."""
    bin_dir: str
    """The course's binaries (kubectl), first on the kernel's PATH."""
    cache_dir: str
    """``K8S_COURSE_CACHE`` for the kernel, so that ``course`` finds the same kubectl."""
    ports: list[int] = field(default_factory=list)
    """This job's own TCP ports for its kernels, :data:`PORTS_PER_KERNEL` each (see :func:`reserved_port_blocks`)."""
    require_landlock: bool = True
    preforked: list[PreforkedKernel] = field(default_factory=list)
    policy: JailPolicy | None = None
    pids: list[int] = field(default_factory=list)
    """Every kernel started, so the job (and the coordinator, on a timeout) can end them."""

    def record(self, pid: int) -> None:
        """Remember a kernel's process group, here and in ``kernel.pids`` (read by the coordinator)."""
        self.pids.append(pid)
        pids = [kernel.pid for kernel in self.preforked] + self.pids
        (self.kernel_dir.parent / "kernel.pids").write_text("\n".join(str(p) for p in sorted(set(pids))))

    def policy_for(self, connection: Mapping[str, Any]) -> JailPolicy:
        assert self.policy is not None, "ClassroomSandbox must run before Execute"
        ports = [int(connection[key]) for key in ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")]
        return replace(
            self.policy, bind_ports=ports, connect_ports=list(self.api_ports), scratch=str(self.kernel_dir.parent)
        )


_plan: KernelPlan | None = None


def install_plan(plan: KernelPlan | None) -> None:
    """Make ``plan`` the one :class:`SandboxedKernelManager` follows in this (single-job) process."""
    global _plan
    _plan = plan


def current_plan() -> KernelPlan | None:
    return _plan


PORTS_PER_KERNEL = 5
"""shell, iopub, stdin, heartbeat and control."""


def _open_lock(path: Path) -> int:
    """Open (creating if need be) a lock file in the shared sticky folder, readable by every user.

    An existing file is opened without ``O_CREAT``: where ``fs.protected_regular`` is set (Debian's
    default is 2), the kernel refuses ``O_CREAT`` on another user's file in a sticky folder, even to
    root, and the second grader of the day would fail. ``flock`` needs no more than a read-only file.
    """
    while True:
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
        try:
            return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:  # another grader created it just now: open theirs
            continue


@contextlib.contextmanager
def reserved_port_blocks(count: int, size: int, start: int = 20000) -> Iterator[list[list[int]]]:
    """``count`` blocks of ``size`` TCP ports on 127.0.0.1, each port free now and the block reserved
    for the caller until the ``with`` ends.

    jupyter_client picks a kernel's ports by binding port 0 and letting go: within one process it
    remembers what it handed out, but the class grader's jobs are separate processes, and two of them
    were sometimes given the same port ("Address already in use", the kernel dead before it started).
    The coordinator gives each worker slot a block of its own instead, below the range the system
    hands out for "any free port" (so nothing else takes them by chance). The blocks sit at fixed
    places (``start``, ``start + size``, ...) and each is reserved with a lock file, so two class
    graders running at once on one machine never take the same one.
    """
    locks = Path(tempfile.gettempdir()) / "k8s-course-ports"
    if not locks.is_dir():
        locks.mkdir(exist_ok=True)
        with contextlib.suppress(PermissionError):
            locks.chmod(0o1777)  # shared by every user's graders, like /tmp itself
    with contextlib.ExitStack() as held:
        blocks: list[list[int]] = []
        for first in range(start, 32768 - size + 1, size):
            if len(blocks) == count:
                break
            lock = _open_lock(locks / str(first))
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another grader's
                os.close(lock)
                continue
            block = list(range(first, first + size))
            if all(_free(port) for port in block):
                held.callback(os.close, lock)  # closing the file lets the lock go
                blocks.append(block)
            else:
                os.close(lock)
        if len(blocks) < count:
            raise RuntimeError(f"no {count} blocks of {size} free ports between {start} and 32767")
        yield blocks


def _free(port: int) -> bool:
    """Whether a process could bind ``port`` on 127.0.0.1 now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel in the jail of the current :class:`KernelPlan`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        plan = current_plan()
        if plan is None:
            return
        runtime = plan.kernel_dir / "runtime"  # the connection file must be inside the kernel's fence
        runtime.mkdir(parents=True, exist_ok=True)
        self.connection_file = str(runtime / f"kernel-{os.getpid()}-{len(plan.pids)}.json")
        first = len(plan.pids) * PORTS_PER_KERNEL
        ports = plan.ports[first : first + PORTS_PER_KERNEL]
        if len(ports) == PORTS_PER_KERNEL:  # the job's own ports, instead of "any free one" (see reserved_port_blocks)
            self.cache_ports = False
            self.shell_port, self.iopub_port, self.stdin_port, self.hb_port, self.control_port = ports

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        plan = current_plan()
        if plan is None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        provisioner = self.provisioner
        assert isinstance(provisioner, LocalProvisioner), "the class grader starts local kernels only"
        policy = plan.policy_for(provisioner.connection_info)
        log = plan.kernel_dir / "kernel.log"
        report = plan.kernel_dir / "jail.json"
        ipykernel = kernel_cmd[1:3] == ["-m", "ipykernel_launcher"]
        if ipykernel and plan.preforked:
            process: Any = plan.preforked.pop(0).launch(
                {"policy": asdict(policy), "argv": kernel_cmd[3:], "log": str(log), "report": str(report)}
            )
        else:
            if ipykernel:  # the same kernel, with `!command` through pipes (see _ipykernel)
                kernel_cmd = [kernel_cmd[0], "-m", "course.classroom._ipykernel", *kernel_cmd[3:]]
            policy_file = policy.dump(plan.kernel_dir / "jail-policy.json")
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "course.classroom._jail", str(policy_file), "--", *kernel_cmd],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    cwd=policy.cwd,
                    env={"PATH": policy.env.get("PATH", "/usr/bin:/bin")},
                    start_new_session=True,
                )
        plan.record(process.pid)
        provisioner.process = process
        provisioner.pid = provisioner.pgid = process.pid
        provisioner.cwd = policy.cwd
        self._reconcile_connection_info(provisioner.connection_info)
