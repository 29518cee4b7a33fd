"""The README's demo command on a plain machine: a fresh clone, no Node on PATH, as a user who is not root
(and has no sudo), and as root. It must make the demo clips and install nothing system-wide and no test tools.

Runs the committed HEAD (git clone of this checkout). Needs root to create the throwaway user; under CI it must run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NODE_TOOLS = {"node", "nodejs", "npm", "npx", "corepack", "yarn", "yarnpkg", "pnpm", "jlpm"}

# A cold pip install of JupyterLab and friends: minutes, not the suite-wide 300 s limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _need_root():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        if os.environ.get("CI"):
            pytest.fail("the newcomer test needs root and useradd under CI")
        pytest.skip("needs root (it creates a throwaway user)")


def _path_without_node(folder: Path, *, for_other_user: bool) -> str:
    """A folder of links to every command on PATH except Node and its package managers."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not os.path.isdir(d) or (for_other_user and d.startswith("/root")) or "/.venv/" in d + "/":
            continue  # another user cannot enter root's home (pyenv); the test's own venv is not the newcomer's
        for entry in os.scandir(d):
            if entry.name in NODE_TOOLS or (folder / entry.name).exists():
                continue
            if os.access(entry.path, os.X_OK) and not entry.is_dir():
                (folder / entry.name).symlink_to(entry.path)
    return str(folder)


def _pip_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("PIP_")}


def _check_demo(clone: Path, result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "runs logged" in output and "explorer lab" in output, output[-2000:]
    assert "Traceback" not in output and "jlpm" not in output and "metadata-generation-failed" not in output, output[-3000:]
    log = clone / "explorer.duckdb"
    assert log.is_file()
    count = subprocess.run([str(clone / ".venv/bin/python"), "-c",
                            f"import explorer; print(len(explorer.open({str(log)!r}, create=False).runs()))"],
                           capture_output=True, text=True, timeout=120)
    assert count.stdout.strip() == "8", count.stdout + count.stderr
    venv_bin = {p.name for p in (clone / ".venv/bin").iterdir()}
    assert not venv_bin & {"pytest", "playwright", "schemathesis"}, "the demo installed test tools"
    assert not list((clone / ".venv/lib").glob("python*/site-packages/torch")), "the demo installed torch"
    assert (clone / ".venv/share/jupyter/labextensions/clip-explorer/package.json").is_file(), "no review panel without Node"
    assert subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout == "", \
        "the demo left the checkout dirty"


def test_demo_as_a_new_user_without_node_or_sudo():
    _need_root()
    work = Path(tempfile.mkdtemp(prefix="explorer-newcomer-"))  # pytest's tmp_path is root-only (0700)
    os.chmod(work, 0o755)
    user = f"nc{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "-m", user], check=True, capture_output=True)
    try:
        clone = work / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        subprocess.run(["chown", "-R", user, str(clone)], check=True)
        path = _path_without_node(work / "bin", for_other_user=True)
        os.chmod(work / "bin", 0o755)
        home = pwd.getpwnam(user).pw_dir
        env = ["env", "-i", f"HOME={home}", f"PATH={path}", "TERM=dumb", *[f"{k}={v}" for k, v in _pip_env().items()]]
        probe = subprocess.run(["runuser", "-u", user, "--", *env, "sh", "-c", "command -v python3; command -v node; command -v sudo"],
                               capture_output=True, text=True)
        assert probe.stdout.strip().count("\n") == 0 and "python3" in probe.stdout, f"the newcomer should have python3 only: {probe}"
        result = subprocess.run(["runuser", "-u", user, "--", *env, "bash", "-c", f"cd {clone} && bash scripts/demo.sh"],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        _check_demo(clone, result)
    finally:
        subprocess.run(["userdel", "-r", user], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def test_demo_as_root_without_node(tmp_path):
    _need_root()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    path = _path_without_node(tmp_path / "bin", for_other_user=False)
    home = tmp_path / "home"
    home.mkdir()
    # pip's download cache is shared here (the non-root run above proves a cold start); it only saves CI time
    env = {"HOME": str(home), "PATH": path, "TERM": "dumb", "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip"), **_pip_env()}
    result = subprocess.run(["bash", "scripts/demo.sh"], cwd=clone, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    _check_demo(clone, result)
