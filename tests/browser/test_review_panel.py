"""The review panel (extensions/) in a real JupyterLab with no kernel: open it from the command palette, rate by
keyboard, vote blind, watch the leaderboard move (also from a write made elsewhere), annotate a frame; every
write lands in the server's log as the server's user, whatever the page could have sent."""

from __future__ import annotations

import math
import time

import pytest

from lab import SCREENSHOTS

FAST = dict(frames=8, width=96, height=72, steps=2, progress=False)
PROMPTS = ["a red fox", "a blue whale", "a green forest", "a yellow taxi", "an orange sunset"]


@pytest.fixture
def review_log(jupyter_server):
    """The server's default log (explorer.duckdb in its root) with a few sketch clips; returns their ids."""
    import explorer

    lab = explorer.open(jupyter_server.root / "explorer.duckdb", author="setup")
    try:
        ids = [lab.generate(p, seed=i, **FAST).id for i, p in enumerate(PROMPTS)]
    finally:
        lab.log.close()  # one process holds a DuckDB file at a time: hand it to the server
    return ids


def _api(server, path, **kw):
    status, body = server.api(f"explorer/api/{path}", **kw)
    assert status in (200, 201), (path, status, body)
    return body


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".cx-panel").screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _votes_shown(panel) -> int:
    cells = panel.locator(".cx-leaderboard tbody td[data-col=votes]")
    return sum(int(cells.nth(i).inner_text()) for i in range(cells.count()))


def _wait(predicate, what: str, timeout_s: float = 15.0, page=None):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if page is not None:
            page.wait_for_timeout(100)
        else:
            time.sleep(0.1)


def test_review_panel(page, jupyter_server, review_log):
    from playwright.sync_api import expect

    server = jupyter_server
    kernels_before = {k["id"] for k in server.api("api/kernels")[1]}
    me = _api(server, "me")["author"]
    assert me and me != "setup"

    # -- open JupyterLab (no notebook, no kernel) and the panel from the command palette ----------------
    page.goto(server.lab_url())
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60_000)
    # JupyterLab focuses the launcher once its layout is restored; open the panel after that, as a person would.
    page.wait_for_function("document.activeElement && document.activeElement.closest('.jp-Launcher') !== null")
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    expect(palette).to_be_focused()
    palette.fill("Clip Explorer")
    expect(page.locator(".lm-CommandPalette-item", has_text="Clip Explorer: Open review panel")).to_be_visible()
    page.keyboard.press("Enter")
    panel = page.locator(".cx-panel")
    expect(panel).to_be_visible()
    expect(panel).to_be_focused()
    expect(panel.locator(".cx-who")).to_have_text(f"as {me}")

    # -- queue mode: 4, 5, 3 rate three clips, each moving on at once ------------------------------------
    queue = panel.locator(".cx-queue")
    expect(queue.locator(".cx-stage video")).to_have_js_property("readyState", 4, timeout=15_000)
    expect(queue.locator(".cx-counter")).to_contain_text(f"{len(review_log)} left to rate")
    _shot(page, "review-queue")
    rated: dict[str, int] = {}
    for score in (4, 5, 3):
        run_id = queue.get_attribute("data-run-id")
        assert run_id in review_log
        page.keyboard.press(str(score))
        expect(panel.locator(".cx-status")).to_have_text(f"saved ✓ {score}★ {run_id[:8]}")
        expect(queue).not_to_have_attribute("data-run-id", run_id)
        rated[run_id] = score
    expect(queue.locator(".cx-counter")).to_contain_text(f"{len(review_log) - 3} left to rate")
    # k goes back to a rated clip and shows my stars; j comes forward again
    page.keyboard.press("k")
    expect(queue).to_have_attribute("data-run-id", list(rated)[-1])
    expect(queue.locator(".cx-star.cx-mod-on")).to_have_count(3)
    page.keyboard.press("j")
    expect(queue).not_to_have_attribute("data-run-id", list(rated)[-1])
    expect(panel).to_be_focused()

    # -- leaderboard before any vote --------------------------------------------------------------------
    panel.locator(".cx-tab[data-mode=leaderboard]").click()
    board = panel.locator(".cx-leaderboard")
    board.locator("select.cx-by").select_option("seed")  # one row per clip (all are the sketch model)
    expect(board.locator("tbody tr")).to_have_count(len(review_log))
    expect(board.locator("tbody tr").first).to_be_visible()
    expect(board.locator("svg.cx-chart .cx-chart-row").first).to_be_attached()
    votes_before = _votes_shown(panel)
    assert votes_before == 0

    # -- battle mode: → votes the right side; a new pair comes at once ----------------------------------
    panel.locator(".cx-tab[data-mode=battle]").click()
    battle = panel.locator(".cx-battle")
    expect(battle.locator(".cx-side video")).to_have_count(2)
    expect(battle.locator(".cx-side video").first).to_have_js_property("readyState", 4, timeout=15_000)
    left, right = battle.get_attribute("data-pair").split(",")
    assert not any(p in battle.inner_text() for p in PROMPTS)  # blind: no prompts on screen
    _shot(page, "review-battle")
    expect(panel).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(panel.locator(".cx-status")).to_have_text("saved ✓ right wins")
    expect(battle.locator(".cx-counter")).to_contain_text("1 vote this session")

    # -- the leaderboard shows the vote; then a vote made elsewhere arrives by polling -------------------
    panel.locator(".cx-tab[data-mode=leaderboard]").click()
    _wait(lambda: _votes_shown(panel) > votes_before, "the leaderboard to count the vote", page=page)
    after_mine = _votes_shown(panel)
    others = [i for i in review_log if i not in (left, right)]
    _api(server, "votes", method="POST", body={"winner_id": others[0], "loser_id": others[1], "tie": False, "author": "mallory"})
    _wait(lambda: _votes_shown(panel) > after_mine, "the live update (api/changes poll) to refresh the leaderboard", page=page)
    expect(board.locator(".cx-agreement")).not_to_be_empty()
    _shot(page, "review-leaderboard")

    # -- browse: open a clip, seek, annotate the frame on screen ----------------------------------------
    panel.locator(".cx-tab[data-mode=browse]").click()
    browse = panel.locator(".cx-browse")
    tiles = browse.locator(".cx-tile")
    expect(tiles).to_have_count(len(review_log))
    browse.locator("input[data-filter=text]").fill("whale")
    expect(tiles).to_have_count(1)
    target = tiles.first.get_attribute("data-id")
    tiles.first.click()
    video = browse.locator(".cx-detail video")
    expect(video).to_have_js_property("readyState", 4, timeout=15_000)
    fps = _api(server, f"runs/{target}")["fps"]
    video.evaluate("v => { v.pause(); v.currentTime = 0.2; }")
    expected_frame = math.floor(0.2 * fps)
    expect(browse.locator(".cx-annotate .cx-frame")).to_have_text(f"frame {expected_frame}")
    note = browse.locator(".cx-annotate-text")
    note.fill("tail fin flickers")
    note.press("Enter")
    expect(panel.locator(".cx-status")).to_have_text(f"saved ✓ note at frame {expected_frame}")
    expect(browse.locator(".cx-note-item")).to_contain_text("tail fin flickers")
    _shot(page, "review-browse")

    # -- dark theme: the panel follows it ---------------------------------------------------------------
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("JupyterLab Dark")
    page.locator(".lm-CommandPalette-item", has_text="Use Theme: JupyterLab Dark").first.click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    panel.locator(".cx-tab[data-mode=leaderboard]").click()
    expect(board.locator("tbody tr").first).to_be_visible()
    page.wait_for_timeout(300)
    _shot(page, "review-leaderboard-dark")
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("JupyterLab Light")
    page.locator(".lm-CommandPalette-item", has_text="Use Theme: JupyterLab Light").first.click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'true'")

    # -- the log: every write is there, authored by the server's user -----------------------------------
    for run_id, score in rated.items():
        detail = _api(server, f"runs/{run_id}")
        mine = [r for r in detail["ratings_latest"] if r["author"] == me]
        assert [r["score"] for r in mine] == [score], detail["ratings_latest"]
        assert all(r["author"] == me for r in detail["ratings_latest"])
    detail = _api(server, f"runs/{right}")
    assert [(v["winner_id"], v["loser_id"], v["tie"], v["author"]) for v in detail["votes"]] == [(right, left, False, me)]
    detail = _api(server, f"runs/{others[0]}")
    assert [v["author"] for v in detail["votes"]] == [me]  # "mallory" in the body was ignored
    detail = _api(server, f"runs/{target}")
    assert [(a["frame"], a["text"], a["author"]) for a in detail["annotations"]] == [(expected_frame, "tail fin flickers", me)]

    # the panel started no kernel (the session's server may still hold kernels of earlier notebook tests)
    status, kernels = server.api("api/kernels")
    assert status == 200 and {k["id"] for k in kernels} <= kernels_before
