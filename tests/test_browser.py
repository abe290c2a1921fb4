"""In a real browser: JupyterLab runs a notebook against the test cluster and shows pictures and progress.

Headless Chromium (Debian's ``chromium`` package; a browser download would fail offline) is driven by
Playwright. The notebook connects to the test's sim cluster (``K8S_COURSE_STATE`` is passed through),
so what renders is what a learner would see. JupyterLab is always stopped, pass or fail.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
LEARNER = "browser"
NOTEBOOK_CELLS = [
    "import course\ncluster = course.connect('00-setup', quiet=True)\ncluster.reset()",
    """cluster.apply('''
apiVersion: apps/v1
kind: Deployment
metadata: {name: browser-web}
spec:
  replicas: 3
  selector: {matchLabels: {app: browser-web}}
  template:
    metadata: {labels: {app: browser-web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
''')
cluster.wait_for("Deployment", "browser-web", "Ready")""",
    "cluster.show_owners()",
    "cluster.show_placement()",
    "cluster.core.read_namespaced_pod('no-such-pod', cluster.namespace)",
]


KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    notebook: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_notebook(folder: Path) -> str:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS])
    notebook.metadata["kernelspec"] = KERNELSPEC
    (folder / "pictures.ipynb").write_text(nbformat.writes(notebook))
    return "pictures.ipynb"


def _write_settings(folder: Path) -> None:
    """A fresh user's JupyterLab settings: start the notebook's kernel without asking, fetch no news."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    }
    for name, values in settings.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(values))


def _wait_until_up(url: str, token: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer at {url} within {timeout:.0f}s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """End the server and the kernels it started (its own process group), whatever state it is in."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # kernels left behind by a server that was killed


KERNEL_SETTINGS = (
    "NBGRADER_EXECUTION", "K8S_COURSE_DISPLAY", "K8S_COURSE_NAMESPACE", "K8S_COURSE_FRESH", "K8S_COURSE_LANG",
)  # fmt: skip
"""This process's settings that a learner's JupyterLab does not have."""


@contextmanager
def running_lab(root: Path, scratch: Path, lang: str = "en") -> Iterator[tuple[Lab, subprocess.Popen[bytes]]]:
    """JupyterLab on a free loopback port with a random token, serving ``root``; stopped on exit. ``lang``:
    the edition, as ``python -m course lab --lang`` starts it (the course's messages and JupyterLab's menus)."""
    from course._paths import jupyter_config_dir

    port, token = _free_port(), secrets.token_hex(16)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in KERNEL_SETTINGS
    }
    if lang != "en":
        env.update(K8S_COURSE_LANG=lang, JUPYTER_CONFIG_PATH=str(jupyter_config_dir(lang)))
    env.update(
        K8S_COURSE_LEARNER=LEARNER,
        JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(scratch / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(scratch / "settings"),
    )
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    _write_settings(scratch / "settings")
    if os.geteuid() == 0:  # CI and the course's containers run as root
        command.append("--allow-root")
    with (scratch / "lab.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, token, server, scratch / "lab.log")
            yield Lab(url, token, _write_notebook(root)), server
        finally:
            _stop(server)


@pytest.fixture
def lab(sim_cluster: Path, tmp_path: Path) -> Iterator[Lab]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed here (apt-get install -y chromium could not run)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    root = tmp_path / "lab"
    root.mkdir()
    with running_lab(root, tmp_path) as (started, _):
        yield started


KERNEL_READY = """() => {
    const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
    return kernel?.connectionStatus === 'connected' && kernel?.status === 'idle';
}"""


def _run_all_cells(page: Any) -> None:
    """Run > Run All Cells, as a command once the kernel is connected; again if no cell started."""
    page.wait_for_function(KERNEL_READY, timeout=120_000)
    first_prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    for _ in range(5):
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if first_prompt.inner_text().strip() not in ("[ ]:", ""):
                return
            time.sleep(0.25)
    raise AssertionError("JupyterLab did not start running the cells")


def test_nbgrader_extensions_are_enabled() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    lines = [line for line in (listed.stdout + listed.stderr).splitlines() if "@jupyter/nbgrader" in line]
    assert lines and all("enabled" in line and "OK" in line for line in lines), listed.stdout + listed.stderr


@contextmanager
def chromium_page(folder: Path, log: str = "") -> Iterator[Any]:
    """A page of headless Chromium with its profile in ``folder``; when the block fails, a screenshot
    of the page is kept there (and ``log``, where to look next, is printed with it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(folder / "profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )  # fmt: skip
        page = browser.new_page()
        try:
            yield page
        except Exception:
            shot = folder / "failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the page: {shot}{log}")
            raise
        finally:
            browser.close()


def test_a_notebook_shows_pictures_progress_and_short_errors_in_chromium(lab: Lab, tmp_path: Path) -> None:
    with chromium_page(tmp_path, f"; JupyterLab's log: {tmp_path / 'lab.log'}") as page:
        page.goto(f"{lab.url}/lab/tree/{lab.notebook}?token={lab.token}", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        _run_all_cells(page)
        owners = page.wait_for_selector(".jp-OutputArea svg[data-course-picture='owners']", timeout=180_000)
        assert owners is not None
        texts = owners.inner_html()
        assert "browser-web" in texts and "ReplicaSet" in texts and "3/3 ready" in texts
        progress = page.wait_for_selector(".course-progress", timeout=30_000)
        assert progress is not None
        assert page.locator(".course-progress .progress-bar-success").count() == 1, progress.inner_html()
        assert "✓ Deployment 'browser-web' is Ready" in progress.inner_text()
        placement = page.wait_for_selector(".jp-OutputArea svg[data-course-picture='placement']", timeout=60_000)
        assert placement is not None and "course-worker" in placement.inner_html()
        folded = page.wait_for_selector("details.course-full-error", timeout=60_000)
        assert folded is not None and "full error" in folded.inner_text()
        short = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").last
        assert "What it means" in short.inner_text()
        assert page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").count() == 1
        page.screenshot(path=str(tmp_path / "lab.png"), full_page=True)  # for a person checking by eye


def test_a_korean_notebook_in_a_korean_jupyterlab(sim_cluster: Path, tmp_path: Path) -> None:
    """The Korean edition as `python -m course lab --lang ko` opens it: Korean menus, the chapter's Korean prose,
    a check that fails in Korean, and a picture whose legend is Korean."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed here (apt-get install -y chromium could not run)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    from tests.test_chapters import released_of

    root = tmp_path / "lab"
    root.mkdir()
    prose = nbformat.read(released_of("00-setup", "ko"), as_version=4).cells[0].source
    cells = [  # a code cell first: _run_all_cells watches the first cell's prompt
        nbformat.v4.new_code_cell("import course\nfrom course import checks\ncluster = course.connect('00-setup')"),
        nbformat.v4.new_markdown_cell(prose),
        nbformat.v4.new_code_cell("cluster.show_placement()"),
        nbformat.v4.new_code_cell("checks.expect_object('Pod', 'no-such-pod', namespace=cluster.namespace)"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})
    (root / "korean.ipynb").write_text(nbformat.writes(notebook))
    log = f"; JupyterLab's log: {tmp_path / 'lab.log'}"
    with running_lab(root, tmp_path, lang="ko") as (lab, _), chromium_page(tmp_path, log) as page:
        page.goto(f"{lab.url}/lab/tree/korean.ipynb?token={lab.token}", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        assert page.locator(".lm-MenuBar-itemLabel", has_text="파일").count() == 1, "JupyterLab's menus are not Korean"
        heading = prose.splitlines()[0].lstrip("# ")
        page.locator(".jp-RenderedMarkdown h1", has_text=heading).wait_for(timeout=60_000)  # the chapter's prose
        _run_all_cells(page)
        placement = page.wait_for_selector(".jp-OutputArea svg[data-course-picture='placement']", timeout=120_000)
        assert placement is not None and "course-worker" in placement.inner_html()
        assert "준비됨" in placement.inner_html(), "the legend is not Korean"
        connected = page.locator(".jp-OutputArea-output", has_text="✓ 연결되었습니다").first
        assert "클러스터 둘러보기" in connected.inner_text()
        failure = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").last
        failure.wait_for(timeout=60_000)
        assert "이름이 'no-such-pod'인 Pod이(가) 없습니다" in failure.inner_text()
        page.screenshot(path=str(tmp_path / "korean-lab.png"), full_page=True)  # for a person checking by eye


def test_the_lab_server_is_stopped_even_when_the_test_fails(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    root.mkdir()
    with pytest.raises(RuntimeError, match="the test failed"), running_lab(root, tmp_path) as (lab, server):
        with urllib.request.urlopen(f"{lab.url}/api/kernelspecs?token={lab.token}", timeout=5) as answer:
            assert "python3" in json.loads(answer.read())["kernelspecs"]
        raise RuntimeError("the test failed")
    assert server.poll() is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{lab.url}/api/status", timeout=5)
