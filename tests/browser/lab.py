"""Helpers for driving a real JupyterLab in Chromium from pytest (Playwright sync API).

Import them in tests as ``from lab import ...`` (this folder is on sys.path via
rootdir-relative conftest import) or ``from tests.browser.lab import ...``.

Server side: :class:`JupyterServer` (started by the ``jupyter_server`` fixture in
conftest.py). Browser side: ``write_notebook``, ``open_notebook``, ``run_cell``,
``run_all``, ``cell``, ``cell_output``, ``output_text``, ``wait_for_output``,
``wait_for_widget``, ``add_cell``, ``shot``.

Why it is done this way (measured, see shared/notes/jupyterlab-and-browser-tests.md):
cells are run by clicking the cell's *input prompt* (command mode, never the
editor) and pressing Ctrl+Enter; completion is the prompt changing to a new
``[n]:`` *and* the status bar reading "... | Idle". The notebook toolbar's
execution indicator goes idle too early to be trusted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

DEFAULT_TIMEOUT_MS = 30_000
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
_PROMPT_DONE = re.compile(r"^\s*\[(\d+)\]:\s*$")


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` bound to 127.0.0.1 (yielded by the ``jupyter_server`` fixture)."""

    url: str  # "http://127.0.0.1:<port>/" (ends with the base_url, so always with "/")
    token: str
    root: Path  # ServerApp.root_dir: write notebooks here
    base_url: str  # "/"
    port: int
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def lab_url(self, path: str = "") -> str:
        """URL that opens ``path`` (relative to root) in JupyterLab, with the token."""
        path = str(path).lstrip("/")
        # reset: start from an empty workspace, not with the previous test's notebooks reopened behind this one
        return f"{self.url}lab/tree/{path}?reset&token={self.token}" if path else f"{self.url}lab?reset&token={self.token}"

    def api(self, path: str, *, token: bool = True, method: str = "GET", body: dict | None = None, timeout: float = 10):
        """Call the REST API; returns ``(status, parsed JSON or text)``. Never raises for HTTP errors."""
        req = urllib.request.Request(self.url + path.lstrip("/"), method=method)
        if token:
            req.add_header("Authorization", f"token {self.token}")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, data=data, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"


def start_jupyter_server(tmp: Path, *, timeout: float = 60.0, root: Path | None = None, extra_args: list[str] = ()) -> JupyterServer:
    """Start ``jupyter lab`` with isolated config/runtime/IPython dirs under ``tmp``.

    The data path (installed labextensions, kernelspecs in the venv's share/jupyter)
    is left alone on purpose. Raises RuntimeError with the log tail if it does not
    answer ``/api/status`` within ``timeout`` seconds.
    """
    root = Path(root) if root is not None else tmp / "root"
    config = tmp / "config"
    runtime = tmp / "runtime"
    ipython = tmp / "ipython"
    for d in (root, config, runtime, ipython):
        d.mkdir(parents=True, exist_ok=True)
    _write_lab_config(config)

    port = free_port()
    token = os.urandom(24).hex()
    log_path = tmp / "jupyter-server.log"

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        IPYTHONDIR=str(ipython),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
        # The kernel must be this interpreter (the venv) even if PATH has another python first.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    env.pop("JUPYTER_TOKEN", None)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        "--ServerApp.terminals_enabled=False",
        "--allow-root",
        # Offline and quiet: no news feed, no update check, no PyPI extension manager.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={config / 'lab' / 'user-settings'}",
        f"--LabApp.workspaces_dir={config / 'lab' / 'workspaces'}",
        *extra_args,
    ]
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so teardown can stop it and its kernels
    )
    log.close()
    server = JupyterServer(
        url=f"http://127.0.0.1:{port}/", token=token, root=root, base_url="/", port=port,
        log_path=log_path, process=proc,
    )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode} before answering.\n"
                               f"--- server log ---\n{server.log_tail()}")
        try:
            status, _ = server.api("api/status", timeout=2)
            if status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_jupyter_server(server)
            raise RuntimeError(f"jupyter lab did not answer /api/status within {timeout:.0f} s.\n"
                               f"--- server log ---\n{server.log_tail()}")
        time.sleep(0.25)


def stop_jupyter_server(server: JupyterServer, timeout: float = 15.0) -> None:
    """SIGTERM the server (it shuts its kernels down), then SIGKILL its process group if needed."""
    proc = server.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Anything left in the group we started (kernels that outlived the server).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


def _write_lab_config(config: Path) -> None:
    """Page config and user settings that keep JupyterLab quiet and the DOM predictable."""
    labconfig = config / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    # No "Would you like to receive official Jupyter news?" toast over the notebook.
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    settings = config / "lab" / "user-settings" / "@jupyterlab"
    tracker = settings / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    # Every cell stays in the DOM, so .nth(index) is the index-th cell.
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    notification = settings / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


# --------------------------------------------------------------------------- notebooks


def write_notebook(root: Path, name: str, cells: list[str], *, markdown: dict[int, str] | None = None) -> Path:
    """Write ``root/name`` (``.ipynb`` added if missing) with one code cell per string, kernel python3.

    Returns the path. ``open_notebook`` takes it (or its name relative to root).
    """
    import nbformat

    if not name.endswith(".ipynb"):
        name += ".ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _rel(server: JupyterServer, path) -> str:
    p = Path(path)
    if p.is_absolute():
        p = p.relative_to(server.root)
    return p.as_posix()


def open_notebook(page, server: JupyterServer, path, *, timeout: float = 60_000) -> None:
    """Open a notebook (absolute path under ``server.root`` or relative) and wait until its kernel is Idle."""
    page.goto(server.lab_url(_rel(server, path)))
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=timeout)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").first.wait_for(timeout=timeout)
    wait_idle(page, timeout=timeout)


def wait_idle(page, *, timeout: float = DEFAULT_TIMEOUT_MS) -> None:
    """Wait for the status bar to read ``Python 3 (ipykernel) | Idle``."""
    page.locator(".jp-StatusBar-Widget", has_text=KERNEL_IDLE).first.wait_for(timeout=timeout)


def cells(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")


def cell(page, index: int):
    """Locator of the ``index``-th cell (0-based) of the visible notebook."""
    return cells(page).nth(index)


def cell_output(page, index: int):
    """Locator of the ``index``-th cell's output area (``.jp-OutputArea``)."""
    return cell(page, index).locator(".jp-OutputArea")


def _prompt_text(page, index: int) -> str:
    return cell(page, index).locator(".jp-InputPrompt").inner_text().strip()


def run_cell(page, index: int, *, timeout: float = 60_000) -> int:
    """Run the ``index``-th cell and wait until it has a new execution count and the kernel is Idle.

    Returns the execution count. Does not advance or insert cells (Ctrl+Enter).
    """
    before = _prompt_text(page, index)
    prompt = cell(page, index).locator(".jp-InputPrompt")
    prompt.scroll_into_view_if_needed()
    prompt.click()
    page.keyboard.press("Control+Enter")
    deadline = time.monotonic() + timeout / 1000
    while True:
        text = _prompt_text(page, index)
        m = _PROMPT_DONE.match(text)
        if m and text != before:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"cell {index} did not finish in {timeout / 1000:.0f} s (prompt {text!r})")
        page.wait_for_timeout(50)
    wait_idle(page, timeout=max(1_000, (deadline - time.monotonic()) * 1000))
    return int(m.group(1))


def run_all(page, *, timeout: float = 60_000) -> list[int]:
    """Run every cell in order (one ``run_cell`` each); returns the execution counts."""
    return [run_cell(page, i, timeout=timeout) for i in range(cells(page).count())]


def output_text(page, index: int) -> str:
    """Text of the ``index``-th cell's outputs ("" if none)."""
    out = cell_output(page, index)
    return out.inner_text() if out.count() else ""


def wait_for_output(page, index: int, text: str | re.Pattern, *, timeout: float = DEFAULT_TIMEOUT_MS):
    """Wait until the ``index``-th cell's output contains ``text`` (str or regex); returns the output locator."""
    out = cell_output(page, index)
    out.locator(".jp-OutputArea-output", has_text=text).first.wait_for(timeout=timeout)
    return out


def wait_for_widget(page, index: int, selector: str = "*", *, timeout: float = DEFAULT_TIMEOUT_MS):
    """Wait until a widget view in the ``index``-th cell's output has rendered ``selector``; returns its locator.

    ``selector`` is looked up inside the cell's ``.jp-OutputArea-output`` elements
    (an anywidget view is a bare ``div.lm-Widget`` there, an ipywidget a
    ``.jupyter-widgets``), e.g. ``"button.counter-button"``.
    """
    loc = cell_output(page, index).locator(".jp-OutputArea-output").locator(selector).first
    loc.wait_for(state="visible", timeout=timeout)
    return loc


def add_cell(page, code: str) -> int:
    """Append a code cell holding ``code`` at the end and return its index (not run).

    Text is inserted in one go (no key-by-key typing), so the editor's auto-indent
    does not mangle multi-line code.
    """
    n = cells(page).count()
    last = cell(page, n - 1).locator(".jp-InputPrompt")
    last.scroll_into_view_if_needed()
    last.click()
    page.keyboard.press("b")  # command mode: insert a cell below
    cells(page).nth(n).wait_for()
    editor = cell(page, n).locator(".cm-content")
    editor.click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Escape")  # back to command mode
    return n


def shot(page, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG screenshot to ``<repo>/artifacts/screenshots/<name>.png``; returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "shot"
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
