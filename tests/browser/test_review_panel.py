"""The review panel (extensions/) in a real JupyterLab with no kernel: open it from the command palette on a log that
does not exist yet (it says so, and how to make clips, and creates nothing), watch the clips a "kernel" makes arrive,
rate by keyboard (tags and a note kept per clip until a star saves them; the count goes down by one per rating, whatever
the polls do), vote blind on two takes of one idea (the pair stays put while the log changes under it), read a
leaderboard that says where the votes went, annotate a frame; every write lands in the server's log as the server's
user, whatever the page could have sent.

It waits on states, never on fixed sleeps, so it holds on a busy machine: a change "made elsewhere" (a teammate writing
to the log from Python) is followed until the panel has caught up with the log's new version (``data-version``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from lab import SCREENSHOTS

FAST = dict(frames=8, width=96, height=72, steps=2, progress=False)
PROMPTS = ["a red fox", "a blue whale", "a green forest", "a yellow taxi", "an orange sunset"]
NO_CLIPS = "No clips in explorer.duckdb yet. Make some: `explorer demo` in a terminal, or `lab.generate(...)` in a notebook."
UNRELATED = "no more takes of the same idea; this pair is unrelated"
SLOW = 60_000  # ms: first video decode and poll round trips on a loaded machine


def _make_clips(path: Path) -> list[str]:
    """What a kernel does: create the log and make clips (five ideas, and a second take of the first)."""
    import explorer

    lab = explorer.open(path, author="setup")
    try:
        ids = [lab.generate(p, seed=i, **FAST).id for i, p in enumerate(PROMPTS)]
        ids.append(lab.generate(PROMPTS[0], seed=len(PROMPTS), **FAST).id)  # two takes of "a red fox"
    finally:
        lab.log.close()  # one process holds a DuckDB file at a time: hand it back to the server
    return ids


def _as_teammate(path: Path, act) -> None:
    """A write from elsewhere (another reviewer's kernel), so the log's version moves under the panel."""
    import explorer

    lab = explorer.open(path, author="teammate", create=False)
    try:
        act(lab)
    finally:
        lab.log.close()


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


def _wait(predicate, what: str, page, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


def _caught_up(server, panel, page, what: str) -> None:
    """Wait until the panel has handled the log as it is now: polled, header counts asked, the mode on screen refreshed."""
    version = _api(server, "changes")["version"]
    _wait(lambda: panel.get_attribute("data-version") == version, f"the panel to catch up with {what}", page)


def test_review_panel(page, jupyter_server):
    from playwright.sync_api import expect

    server = jupyter_server
    log_path = server.root / "explorer.duckdb"  # the server's default log
    assert not log_path.exists(), "this test starts on a server whose log does not exist yet"
    kernels_before = {k["id"] for k in server.api("api/kernels")[1]}
    me = _api(server, "me")["author"]
    assert me and me not in ("setup", "teammate")

    # -- open JupyterLab (no notebook, no kernel) and the panel from the command palette ----------------
    page.goto(server.lab_url())
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)
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

    # -- no log yet: the header names the file it reads (full path on hover); the queue says how to make clips -
    header = panel.locator(".cx-log")
    expect(header).to_have_attribute("data-exists", "false")
    expect(header.locator(".cx-log-name")).to_have_text("explorer.duckdb")
    expect(header.locator(".cx-log-counts")).to_have_text("not created yet")
    assert str(log_path.resolve()) in header.get_attribute("title")
    queue = panel.locator(".cx-queue")
    expect(queue.locator(".cx-empty")).to_have_text(NO_CLIPS)
    expect(queue).to_have_attribute("data-empty", "no-clips")
    assert "All" not in queue.inner_text() and "rated ✓" not in queue.inner_text()
    _shot(page, "review-no-log")
    assert not log_path.exists(), "the panel's reads created the log"

    # -- a kernel makes the log and clips: the panel picks them up by polling ------------------------------
    review_log = _make_clips(log_path)
    foxes = [review_log[0], review_log[-1]]
    others = review_log[1:-1]
    expect(header).to_have_attribute("data-clips", str(len(review_log)), timeout=SLOW)
    expect(header.locator(".cx-log-counts")).to_have_text(f"{len(review_log)} clips · 0 ratings · 0 votes · {len(review_log)} for you to rate")
    expect(queue.locator(".cx-stage video")).to_have_js_property("readyState", 4, timeout=SLOW)
    expect(queue.locator(".cx-counter")).to_contain_text(f"{len(review_log)} left to rate")

    # -- tags and a note before a star: marked unsaved, kept with the clip when j moves on, saved by the star -
    first = queue.get_attribute("data-run-id")
    page.keyboard.press("t")
    page.keyboard.type("windy")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    page.keyboard.type("too fast")
    page.keyboard.press("Escape")
    expect(panel).to_be_focused()
    pending = queue.locator(".cx-pending")
    expect(pending).to_have_text("unsaved: 1 tag and a note — press 1–5 to save with stars")
    _shot(page, "review-queue-unsaved")
    page.keyboard.press("j")
    expect(queue).not_to_have_attribute("data-run-id", first)
    expect(panel.locator(".cx-status")).to_contain_text(f"kept unsaved tags/note of {first[:8]}")
    expect(pending).to_be_hidden()
    expect(queue.locator(".cx-chip")).to_have_count(0)
    expect(queue.locator(".cx-counter")).to_have_text(f"{len(review_log)} left to rate · 2/2 seen · 1 unsaved")
    page.keyboard.press("k")
    expect(queue).to_have_attribute("data-run-id", first)
    expect(queue.locator(".cx-chip")).to_have_text(["windy ×"])
    expect(queue.locator(".cx-note")).to_have_value("too fast")
    expect(pending).to_be_visible()

    # -- 4, 5, 3 rate three clips, each moving on at once; the count goes down by exactly one each time -------
    rated: dict[str, int] = {}
    for score in (4, 5, 3):
        run_id = queue.get_attribute("data-run-id")
        assert run_id in review_log
        page.keyboard.press(str(score))
        expect(panel.locator(".cx-status")).to_have_text(f"saved ✓ {score}★ {run_id[:8]}")
        # the next clip comes from the server: its first queue answer for a reviewer builds their summary (slow when loaded)
        expect(queue).not_to_have_attribute("data-run-id", run_id, timeout=SLOW)
        rated[run_id] = score
        expect(queue.locator(".cx-counter")).to_contain_text(f"{len(review_log) - len(rated)} left to rate")
    assert list(rated)[0] == first
    expect(pending).to_be_hidden()
    # a teammate's rating moves the log's version: the poll refreshes the panel, and my count stays put
    _as_teammate(log_path, lambda lab: lab.rate(others[-1], 2))
    _caught_up(server, panel, page, "the teammate's rating")
    expect(header).to_have_attribute("data-ratings", str(len(rated) + 1))
    expect(queue.locator(".cx-counter")).to_contain_text(f"{len(review_log) - len(rated)} left to rate")
    expect(header).to_have_attribute("data-unrated", str(len(review_log) - len(rated)))
    # k goes back to a rated clip and shows my stars; j comes forward again
    page.keyboard.press("k")
    expect(queue).to_have_attribute("data-run-id", list(rated)[-1])
    expect(queue.locator(".cx-star.cx-mod-on")).to_have_count(3)
    page.keyboard.press("j")
    expect(queue).not_to_have_attribute("data-run-id", list(rated)[-1])
    expect(panel).to_be_focused()
    _shot(page, "review-queue")

    # -- battle: two takes of one idea, blind; the pair stays while the log changes under it ---------------
    # Every pair the battle puts on screen is recorded, so a pair swapped under the reviewer cannot go unseen.
    panel.evaluate("""panel => {
        window.__cxPairs = [];
        new MutationObserver(records => {
            for (const r of records) {
                const pair = r.target.dataset.pair;
                if (pair && window.__cxPairs[window.__cxPairs.length - 1] !== pair) window.__cxPairs.push(pair);
            }
        }).observe(panel, {subtree: true, attributes: true, attributeFilter: ["data-pair"]});
    }""")
    panel.locator(".cx-tab[data-mode=battle]").click()
    battle = panel.locator(".cx-battle")
    expect(battle.locator(".cx-side video")).to_have_count(2)
    expect(battle.locator(".cx-side video").first).to_have_js_property("readyState", 4, timeout=SLOW)
    pair = battle.get_attribute("data-pair")
    left, right = pair.split(",")
    assert {left, right} == set(foxes)  # the only two takes of one idea
    expect(battle).to_have_attribute("data-related", "true")
    expect(battle.locator(".cx-notice")).to_be_hidden()
    assert not any(p in battle.inner_text() for p in PROMPTS)  # blind: no prompts on screen
    _shot(page, "review-battle")
    # a teammate votes elsewhere: the poll sees the log move and refreshes the panel; the pair on screen stays
    _as_teammate(log_path, lambda lab: lab.vote(others[0], others[1]))
    _caught_up(server, panel, page, "the teammate's vote")
    expect(header).to_have_attribute("data-votes", "1")
    expect(battle).to_have_attribute("data-pair", pair)
    assert page.evaluate("window.__cxPairs") == [pair]
    expect(panel).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(panel.locator(".cx-status")).to_have_text("saved ✓ right wins")
    expect(battle.locator(".cx-counter")).to_contain_text("1 vote this session")
    # I have judged the only related pair: the next one is unrelated, and says so
    expect(battle).to_have_attribute("data-related", "false")
    expect(battle.locator(".cx-notice")).to_have_text(UNRELATED)
    assert set(battle.get_attribute("data-pair").split(",")) != set(foxes)
    _shot(page, "review-battle-unrelated")

    # -- leaderboard: "auto" groups where the votes split, and says what the grouping leaves out -------------
    panel.locator(".cx-tab[data-mode=leaderboard]").click()
    board = panel.locator(".cx-leaderboard")
    # one model; the teammate's vote compares two prompts, mine two takes of one prompt
    expect(board).to_have_attribute("data-by", "prompt")
    expect(board.locator(".cx-by-used")).to_have_text("→ prompt")
    expect(board.locator(".cx-vote-note")).to_have_text(
        "1 of 2 votes compares clips of the same prompt; group by clip (run) or by a field that differs to see them.")
    board.locator("select.cx-by").select_option("model")
    expect(board).to_have_attribute("data-by", "model")
    expect(board.locator(".cx-table-box tbody tr")).to_have_count(1)
    expect(board.locator("tbody td[data-col=votes]")).to_have_text(["0"])
    expect(board.locator(".cx-vote-note")).to_contain_text("2 of 2 votes compare clips of the same model")
    board.locator("select.cx-by").select_option("run")  # each clip on its own: every vote counts
    expect(board).to_have_attribute("data-by", "run")
    expect(board.locator(".cx-vote-note")).to_be_hidden()
    _wait(lambda: _votes_shown(panel) == 4, "the per-clip board to count both votes (two clips each)", page)
    expect(board.locator("svg.cx-chart .cx-chart-row").first).to_be_attached()
    # a vote made elsewhere arrives by polling
    _api(server, "votes", method="POST", body={"winner_id": others[2], "loser_id": others[3], "tie": False, "author": "mallory"})
    _wait(lambda: _votes_shown(panel) == 6, "the live update (api/changes poll) to refresh the leaderboard", page)
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
    expect(video).to_have_js_property("readyState", 4, timeout=SLOW)
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
    expect(board.locator(".cx-table-box tbody tr").first).to_be_visible()
    page.wait_for_timeout(300)  # let the theme's transition finish before the screenshot (a picture, not a check)
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
        if run_id == first:  # the tags and note typed before the star, kept across j and k, saved with it
            assert (mine[0]["tags"], mine[0]["note"]) == (["windy"], "too fast")
        else:
            assert (mine[0]["tags"], mine[0]["note"]) == ([], None)
    detail = _api(server, f"runs/{right}")
    assert [(v["winner_id"], v["loser_id"], v["tie"], v["author"]) for v in detail["votes"]] == [(right, left, False, me)]
    detail = _api(server, f"runs/{others[2]}")
    assert [v["author"] for v in detail["votes"]] == [me]  # "mallory" in the body was ignored
    detail = _api(server, f"runs/{target}")
    assert [(a["frame"], a["text"], a["author"]) for a in detail["annotations"]] == [(expected_frame, "tail fin flickers", me)]

    # the panel started no kernel (the session's server may still hold kernels of earlier notebook tests)
    status, kernels = server.api("api/kernels")
    assert status == 200 and {k["id"] for k in kernels} <= kernels_before
