"""A team log in the review panel: a reviewer's Jupyter server on one "machine" and a kernel on another, both writing to
one DuckLake on a real PostgreSQL; the panel shows the kernel's clips (served from the shared folder) and both writers'
ratings.

The two machines are two HOME folders (each process keeps its own extension links and caches there) and two
processes that share nothing but the PostgreSQL address and the storage folder, as two hosts mounting one share would.
It waits on states (the panel's ``data-*`` attributes), never on fixed sleeps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lab import start_jupyter_server, stop_jupyter_server
from test_review_panel import SLOW, _api, _shot

KERNEL = textwrap.dedent("""
    import sys, explorer
    url, storage, act = sys.argv[1:4]
    lab = explorer.open(url, storage=storage, author="kernel-bea")
    if act == "make":
        ids = [lab.generate(p, seed=i, frames=8, width=96, height=72, steps=2, progress=False).id
               for i, p in enumerate(["a red fox", "a blue whale", "a green forest"])]
        lab.rate(ids[0], 2, tags=["muddy"])
        print(" ".join(ids))
    else:
        lab.rate(act, 3)
""")


@pytest.fixture(scope="module")
def team_server(tmp_path_factory, postgres):
    machine_a, machine_b = tmp_path_factory.mktemp("machine-a"), tmp_path_factory.mktemp("machine-b")
    storage = tmp_path_factory.mktemp("shared-storage")
    url = postgres.new_database()
    home = os.environ.get("HOME")
    os.environ["HOME"] = str(machine_a)  # the server's machine
    try:
        server = start_jupyter_server(machine_a / "jupyter", extra_args=[f"--ClipExplorer.db={url}", f"--ClipExplorer.storage={storage}"])
    finally:
        os.environ["HOME"] = home or ""
    try:
        yield server, url, storage, machine_b
    finally:
        stop_jupyter_server(server)


def _kernel(url, storage, machine, act: str) -> str:
    env = {**os.environ, "HOME": str(machine)}
    env.pop("XDG_CACHE_HOME", None)
    done = subprocess.run([sys.executable, "-c", KERNEL, url, str(storage), act], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_the_panel_shows_a_kernel_on_another_machine_and_the_reviewer_writing_to_one_team_log(page, team_server):
    from playwright.sync_api import expect

    server, url, storage, machine_b = team_server
    me = _api(server, "me")["author"]
    assert _api(server, "me")["log"] == url
    made = _kernel(url, storage, machine_b, "make").split()
    assert len(made) == 3

    page.goto(server.lab_url())
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)
    page.wait_for_function("document.activeElement && document.activeElement.closest('.jp-Launcher') !== null")
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Clip Explorer")
    page.keyboard.press("Enter")
    panel = page.locator(".cx-panel")
    expect(panel).to_be_focused()

    header = panel.locator(".cx-log")
    expect(header).to_have_attribute("data-clips", "3", timeout=SLOW)
    expect(header.locator(".cx-log-name")).to_have_text(url.rsplit("/", 1)[-1])  # the team log's database
    expect(header).to_have_attribute("data-ratings", "1")
    queue = panel.locator(".cx-queue")
    # the kernel's clip plays: the server found it in the shared folder, not beside a file
    expect(queue.locator(".cx-stage video")).to_have_js_property("readyState", 4, timeout=SLOW)

    run_id = queue.get_attribute("data-run-id")
    page.keyboard.press("5")
    expect(panel.locator(".cx-status")).to_have_text(f"saved ✓ 5★ {run_id[:8]}")
    expect(header).to_have_attribute("data-ratings", "2", timeout=SLOW)

    _kernel(url, storage, machine_b, made[1])  # the other machine rates again; the panel's poll brings it in
    expect(header).to_have_attribute("data-ratings", "3", timeout=SLOW)
    _shot(page, "review-team-log")

    detail = _api(server, f"runs/{made[0]}", timeout=60)
    authors = {r["author"]: r["score"] for r in detail["ratings_latest"]}
    assert authors["kernel-bea"] == 2
    mine = {r["author"] for r in _api(server, f"runs/{run_id}", timeout=60)["ratings_latest"]}
    assert me in mine
