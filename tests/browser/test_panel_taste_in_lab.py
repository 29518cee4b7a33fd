"""The review panel's Leaderboard in a real JupyterLab: cost per kept clip beside the scores, and "which measurement
predicts our taste" below Agreement (one bar per metric, the taste model above them, the reference band behind).

Its own server on its own log (test_review_panel.py starts on a server whose log does not exist yet). The clips,
votes and ratings are made from Python first, as a kernel would; the page's figures are checked against the server's
answers. It waits on states (attributes, counts), never on fixed sleeps.
"""

from __future__ import annotations

import itertools

import pytest
from lab import REPO, SCREENSHOTS, start_jupyter_server, stop_jupyter_server

FAST = dict(frames=4, width=32, height=32, steps=1, fps=6, progress=False)
CELLS = [(p, s) for p in ("slow drift", "fast zoom", "a still lake") for s in (1, 2, 3)][:7]
SLOW = 60_000


@pytest.fixture(scope="module")
def taste_server(tmp_path_factory):
    """A server on a log with measured clips, 21 votes (each for the clip that moves more) and a few stars."""
    import explorer

    folder = tmp_path_factory.mktemp("panel-taste")
    root = folder / "root"
    root.mkdir()
    lab = explorer.open(root / "explorer.duckdb", author="setup")
    try:
        made = [lab.generate(p, seed=s, **FAST) for p, s in CELLS]
        motion = lab.metrics()["metric_motion"]
        for a, b in itertools.combinations(made, 2):
            lab.vote(*((a, b) if motion[a.id] > motion[b.id] else (b, a)))
        lowest = motion[[r.id for r in made]].idxmin()
        lab.rate(lowest, 5)  # kept by its stars, though it lost every battle
        lab.log.rate(made[0].id, 2, author="ann")
        lab.log.rate(made[1].id, 4, author="ann")
    finally:
        lab.log.close()
    server = start_jupyter_server(folder, root=root)
    yield server
    stop_jupyter_server(server)


def _served_build_is_this_one(server) -> None:
    """JupyterLab serves the panel from its data path (the venv's copy made at install), not from this checkout:
    say so plainly when that copy is older than explorer/labextension, rather than fail on a missing element."""
    status, served = server.api("lab/extensions/clip-explorer/source.sha256")
    built = (REPO / "explorer" / "labextension" / "source.sha256").read_text().strip()
    assert status == 200 and str(served).strip() == built, (
        "the JupyterLab under test serves another build of the review panel than explorer/labextension: refresh the "
        "installed copy (extensions/README.md, Test), or put a folder whose labextensions/clip-explorer links to "
        "explorer/labextension first on JUPYTER_PATH")


def _api(server, path):
    status, body = server.api(f"explorer/api/{path}")
    assert status == 200, (path, status, body)
    return body


def _cells(board) -> list[str]:
    return board.locator(".cx-table-box tbody td[data-col=s_per_kept]").all_inner_texts()


def _keys(board) -> list[str]:
    return board.locator(".cx-table-box tbody td.cx-key").all_inner_texts()


def _same(shown: dict[str, str], rows: dict[str, dict]) -> None:
    """The page's "s / kept" cells against the server's s_per_kept: "–" for none kept, else the number as rounded
    (one decimal from 1 s, three below)."""
    assert set(shown) == set(rows)
    for label, row in rows.items():
        value = row["s_per_kept"]
        if value is None:
            assert shown[label] == "–", label
        else:
            assert shown[label] != "–" and abs(float(shown[label]) - value) <= (0.05 if value >= 1 else 0.0005) + 1e-9, (label, shown[label], value)


def test_leaderboard_shows_cost_per_kept_and_which_measurement_predicts_our_taste(page, taste_server):
    from playwright.sync_api import expect

    server = taste_server
    _served_build_is_this_one(server)
    page.goto(server.lab_url())
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)
    page.wait_for_function("document.activeElement && document.activeElement.closest('.jp-Launcher') !== null")
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Clip Explorer")
    page.locator(".lm-CommandPalette-item", has_text="Clip Explorer: Open review panel").click()
    panel = page.locator(".cx-panel")
    expect(panel).to_be_visible()
    panel.locator(".cx-tab[data-mode=leaderboard]").click()
    board = panel.locator(".cx-leaderboard")

    # -- s / kept per clip: the server's figure, "–" where nothing was kept ---------------------------------
    board.locator("select.cx-by").select_option("run")
    expect(board).to_have_attribute("data-by", "run", timeout=SLOW)
    expected = {r["label"]: r for r in _api(server, "leaderboard?by=run")["rows"]}
    expect(board.locator(".cx-table-box tbody tr")).to_have_count(len(expected))
    header = board.locator(".cx-table-box thead th").last
    expect(header).to_have_text("s / kept")
    assert "device-seconds per kept clip" in header.get_attribute("title")
    shown = dict(zip(_keys(board), _cells(board)))
    _same(shown, expected)
    kept = [label for label, r in expected.items() if r["kept"]]
    assert kept and len(kept) < len(expected), "some clips kept and some not, or the check proves little"
    assert all(shown[label] == "–" for label in expected if label not in kept) and "Infinity" not in board.inner_text() and "NaN" not in board.inner_text()
    first_kept = board.locator(".cx-table-box tbody tr", has=page.locator("td.cx-key", has_text=kept[0])).locator("td[data-col=s_per_kept]")
    assert f"{expected[kept[0]]['kept']} kept" in first_kept.get_attribute("title") and "device-s" in first_kept.get_attribute("title")
    # the bar chart: one row per clip, a bar only where something was kept
    cost = board.locator("svg.cx-cost-chart")
    expect(cost.locator(".cx-chart-row")).to_have_count(len(expected))
    expect(cost.locator(".cx-cost-bar")).to_have_count(len(kept))

    # -- by prompt: a number that matches the server's ----------------------------------------------------------
    board.locator("select.cx-by").select_option("prompt")
    expect(board).to_have_attribute("data-by", "prompt", timeout=SLOW)
    by_prompt = {r["label"]: r for r in _api(server, "leaderboard?by=prompt")["rows"]}
    expect(board.locator(".cx-table-box tbody tr")).to_have_count(len(by_prompt))
    shown = dict(zip(_keys(board), _cells(board)))
    _same(shown, by_prompt)
    assert any(r["s_per_kept"] is not None for r in by_prompt.values())

    # -- which measurement predicts our taste: the taste model above, one bar per metric, the reference band ----
    taste = board.locator(".cx-taste")
    expect(taste).to_have_attribute("data-fitting", "false", timeout=SLOW)  # "fitting…" first, then the model
    answer = _api(server, "metric-agreement")
    assert answer["taste"]["fitted"] and not answer["taste"]["fitting"]
    metrics = answer["metrics"]
    chart = taste.locator("svg.cx-taste-chart")
    expect(chart.locator(".cx-taste-metric")).to_have_count(len(metrics))
    expect(chart.locator(".cx-taste-metric .cx-taste-bar")).to_have_count(sum(m["accuracy"] is not None for m in metrics))
    rows = chart.locator(".cx-taste-row")
    expect(rows.first).to_have_class("cx-chart-row cx-taste-row cx-taste-taste")  # the taste model comes first
    accuracy = answer["taste"]["accuracy"]
    expect(rows.first.locator(".cx-chart-value")).to_have_text(f"{round(accuracy * 100)}% · {answer['taste']['votes']} votes")
    expect(taste.locator(".cx-taste-note").first).to_contain_text(f"learnt from {answer['taste']['votes']} votes")
    top = metrics[0]
    assert top["metric"] == "motion" and top["accuracy"] == 1.0  # every vote went to the clip that moves more
    expect(rows.nth(1)).to_have_attribute("data-key", "motion ↑")
    expect(rows.nth(1).locator(".cx-chart-value")).to_have_text(f"100% · {top['votes']} votes")
    expect(chart.locator("rect.cx-taste-reference")).to_have_count(1)
    expect(chart.locator(".cx-taste-reference-label")).to_have_text("reward models 61%–74%")
    # the reference band spans 61–74 % of the same axis the bars use
    band = chart.locator("rect.cx-taste-reference")
    motion_bar = rows.nth(1).locator(".cx-taste-bar")
    full = float(motion_bar.get_attribute("width"))  # 100 %
    assert float(band.get_attribute("width")) == pytest.approx(full * 0.13, rel=0.02)
    # rank correlation with each reviewer's stars: one column per reviewer, one row per metric
    rho = taste.locator("table.cx-taste-rho")
    expect(rho.locator("thead th")).to_have_text(["ρ with stars", "ann", "setup"])
    expect(rho.locator("tbody tr")).to_have_count(len(metrics))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    board.screenshot(path=str(SCREENSHOTS / "review-leaderboard-taste.png"))
