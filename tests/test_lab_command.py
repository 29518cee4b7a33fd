"""`explorer lab` (what the demo opens) starts a real JupyterLab on the quickstart notebook, with our server extension on."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


def test_explorer_lab_serves_the_quickstart(tmp_path):
    """As root too (CI runs as root; no --allow-root given), rooted at the working folder, one log for all."""
    pytest.importorskip("jupyterlab")
    port, token = _free_port(), "lab-command-test"
    log = tmp_path / "team.duckdb"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "EXPLORER_DB": str(log)}
    process = subprocess.Popen(
        [sys.executable, "-m", "explorer.cli", "lab", "--port", str(port), "--no-browser", f"--IdentityProvider.token={token}"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if _get(base + "api/status", token)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert process.poll() is None and time.time() < deadline, process.stdout.read().decode(errors="replace")[-3000:]
            time.sleep(0.3)
        # rooted at the working folder: the tours and the log beside them are both in reach
        status, body = _get(base + "api/contents/notebooks/quickstart.ipynb", token)
        assert status == 200 and json.loads(body)["type"] == "notebook"
        status, body = _get(base + "explorer/static/generate_panel.js", token)  # the server extension is loaded
        assert status == 200 and b"export default" in body
        # JupyterLab defaults shipped with the package: widget state saved with notebooks, no news prompt
        status, body = _get(base + "lab/api/settings/@jupyter-widgets/jupyterlab-manager:plugin", token)
        assert json.loads(body)["schema"]["properties"]["saveState"]["default"] is True
        status, body = _get(base + "lab/api/settings/@jupyterlab/apputils-extension:notification", token)
        assert json.loads(body)["schema"]["properties"]["fetchNews"]["default"] == "false"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
