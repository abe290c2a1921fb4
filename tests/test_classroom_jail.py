"""The class grader's jail on its own, as a graded kernel enters it: what a jailed process can read
on the machine and what it can reach over the network. No cluster needed.

Each test runs Python under ``python -m course.classroom._jail`` (the same :func:`enter_jail` a
forked kernel calls) with a kernel's policy: read the system folders, write a scratch folder, bind
one port, connect to one port. Each attempt prints ``ATTACK <what> <result>``.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from course.classroom._jail import JailPolicy, system_read_paths

ATTEMPT = """
import os, socket
def attempt(what, action):
    try:
        action()
        print("ATTACK", what, "succeeded", flush=True)
    except OSError as error:
        print("ATTACK", what, type(error).__name__, flush=True)
"""


def _jailed(tmp_path: Path, code: str, read: list[str] = [], connect: list[int] = []) -> dict[str, str]:  # noqa: B006
    """Run ``code`` (after :data:`ATTEMPT`) in the jail; each attempt's result, by what it tried."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    policy = JailPolicy(
        cwd=str(work),
        env={"PATH": "/usr/bin:/bin", "HOME": str(work)},
        read=[*system_read_paths(), *read],
        write=[str(work), os.devnull],
        bind_ports=[23999],
        connect_ports=connect,
    )
    jailed = [sys.executable, "-m", "course.classroom._jail", str(policy.dump(tmp_path / "policy.json")), "--"]
    ran = subprocess.run([*jailed, sys.executable, "-c", ATTEMPT + code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    results = {}
    for line in ran.stdout.splitlines():
        if line.startswith("ATTACK "):
            what, _, result = line[len("ATTACK ") :].rpartition(" ")
            results[what] = result
    return results


def _block_devices() -> list[str]:
    found = []
    for name in sorted(os.listdir("/dev"), key=lambda name: (name.startswith("loop"), name)):  # disks first
        path = f"/dev/{name}"
        try:
            if stat.S_ISBLK(os.stat(path).st_mode):
                found.append(path)
        except OSError:
            continue
    return found[:4]


@pytest.mark.usefixtures("full_jail")
def test_a_jailed_kernel_reads_nothing_of_the_machines(tmp_path: Path) -> None:
    """Issue 14, item 1: root's files, the disk, other processes: not by path, not by permissions."""
    shared = tmp_path / "shared"  # a folder the jail may read, holding a file only root may read:
    shared.mkdir()  # when the grader is root, only the kernel's own uid keeps it out
    (shared / "root-only").write_text("secret")
    (shared / "root-only").chmod(0o600)
    shared.chmod(0o755)
    tmp_path.chmod(0o755)
    disks = _block_devices()
    code = f"""
attempt("shadow", lambda: open("/etc/shadow", "rb").read())
def machine_accounts():
    if {{line.split(":")[0] for line in open("/etc/passwd")}} <= {{"root", "learner", "nobody"}}:
        raise PermissionError("only the jail's own accounts")
attempt("machine-accounts", machine_accounts)
for disk in {disks!r}:
    attempt("disk " + disk, lambda: open(disk, "rb").read(4096))
attempt("list-dev", lambda: os.listdir("/dev"))
attempt("outside-environ", lambda: open("/proc/{os.getpid()}/environ", "rb").read())
attempt("outside-cmdline", lambda: open("/proc/{os.getpid()}/cmdline", "rb").read())
attempt("init-environ", lambda: open("/proc/1/environ", "rb").read())
attempt("list-proc", lambda: os.listdir("/proc"))
attempt("sysfs", lambda: os.listdir("/sys/block"))
attempt("root-only", lambda: open({str(shared / "root-only")!r}).read())
def as_root():
    if os.getuid() != 0:
        raise PermissionError("not root")
attempt("root-identity", as_root)
attempt("own-scratch", lambda: open("mine", "w").write("ok"))
attempt("python", lambda: open(os.__file__).read())
"""
    results = _jailed(tmp_path, code, read=[str(shared)])
    assert results.pop("own-scratch") == "succeeded" and results.pop("python") == "succeeded"
    refused = {what: result for what, result in results.items() if result in ("PermissionError", "FileNotFoundError")}
    assert results == refused, "read, and should not have been"
    assert {f"disk {disk}" for disk in disks} <= set(results)
    if os.getuid() == 0:
        assert results["root-only"] == "PermissionError"  # plain file permissions, whatever else failed


@pytest.mark.usefixtures("full_jail")
def test_a_jailed_kernel_reaches_its_api_server_port_and_nothing_else(tmp_path: Path) -> None:
    """Issue 14, item 2: no UNIX socket outside the jail, no UDP, no other TCP port."""
    with (
        socket.socket(socket.AF_UNIX) as unix,
        socket.socket(socket.AF_UNIX) as abstract,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        socket.socket() as api_server,
        socket.socket() as other_port,
    ):
        unix.bind(str(tmp_path / "outside.sock"))
        os.chmod(tmp_path / "outside.sock", 0o777)
        abstract.bind(f"\0k8s-course-test-{os.getpid()}")
        for listener in (unix, abstract):
            listener.listen()
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.5)
        for listener in (api_server, other_port):
            listener.bind(("127.0.0.1", 0))
            listener.listen()
        api, other, datagram = (s.getsockname()[1] for s in (api_server, other_port, udp))
        code = f"""
attempt("api-server", lambda: socket.create_connection(("127.0.0.1", {api}), timeout=3))
attempt("other-tcp", lambda: socket.create_connection(("127.0.0.1", {other}), timeout=3))
attempt("other-tcp6", lambda: socket.create_connection(("::1", {other}), timeout=3))
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", {datagram})))
attempt("unix", lambda: socket.socket(socket.AF_UNIX).connect({str(tmp_path / "outside.sock")!r}))
attempt("abstract", lambda: socket.socket(socket.AF_UNIX).connect("\\0k8s-course-test-{os.getpid()}"))
attempt("unix-list", lambda: open("/proc/net/unix").read())
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
attempt("socketpair", lambda: socket.socketpair())
"""
        results = _jailed(tmp_path, code, connect=[api])
        assert results.pop("api-server") == "succeeded" and results.pop("socketpair") == "succeeded"
        assert results.pop("other-tcp6") in ("PermissionError", "OSError")  # OSError: this machine has no IPv6
        assert results.pop("netlink") == "OSError"  # EOPNOTSUPP (see course.classroom._seccomp)
        refused = {what: r for what, r in results.items() if r in ("PermissionError", "FileNotFoundError")}
        assert results == refused, "reached, and should not have been"
        with pytest.raises(TimeoutError):
            udp.recv(16)  # not one datagram got out


def test_the_grader_refuses_to_start_where_a_layer_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from course._errors import CourseError
    from course.classroom import grader

    monkeypatch.setattr(grader, "missing_features", lambda: ["seccomp filters on this machine"])
    with pytest.raises(CourseError, match=r"(?s)Missing: seccomp filters on this machine\..*--unconfined"):
        grader.grade_class("00-setup", tmp_path)
