"""Live mode (explorer.live): debounce, the stale take cancelled, the latest wins; live takes marked, hidden unless kept, on both homes."""

from __future__ import annotations

import json
import threading
import time

import duckdb
import pytest

import explorer
from explorer.backends.base import Cancelled
from explorer.live import LiveRunner
from explorer.log import Log
from explorer.log.migrations import MIGRATIONS, applied, migrate
from explorer.request import RequestError
from explorer.review.pairs import next_pair

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FAST = dict(frames=4, width=32, height=32, steps=1, progress=False)


# -- the runner: debounce, cancel, latest wins --------------------------------------------------------


def test_an_edit_after_quiet_starts_at_once_and_a_burst_makes_one_run_of_the_last():
    ran = []
    runner = LiveRunner(lambda payload, control: ran.append((payload, time.monotonic())), delay_s=0.3)
    asked = time.monotonic()
    runner.submit("click")
    assert runner.wait(5)
    assert ran[0][0] == "click" and ran[0][1] - asked < 0.25  # not held back by the delay
    time.sleep(0.35)
    first = time.monotonic()
    for value in range(5):  # each edit within the delay of the one before
        runner.submit(value)
        time.sleep(0.01)
    assert runner.wait(5)
    assert [p for p, _ in ran] == ["click", 0, 4] and runner.skipped == 3
    assert ran[-1][1] - first >= 0.3  # the burst's last edit waited for the pause


def test_an_edit_during_a_run_cancels_it_and_the_latest_runs_next():
    outcomes, first_started = [], threading.Event()

    def run(payload, control):
        if payload == "first":
            first_started.set()
        try:
            for step in range(1, 200):  # a slow take: ~2 s unless cancelled
                time.sleep(0.01)
                control.step(step, 199)
            outcomes.append((payload, "done"))
        except Cancelled:
            outcomes.append((payload, "cancelled"))

    runner = LiveRunner(run, delay_s=0.0)
    runner.submit("first")
    assert first_started.wait(5)
    runner.submit("second")  # while "first" runs
    runner.submit("third")  # replaces "second" before it starts: never run
    assert runner.wait(10)
    assert outcomes == [("first", "cancelled"), ("third", "done")]
    assert runner.superseded == 1 and runner.skipped == 1 and runner.started == 2


def test_cancel_drops_what_waits_and_a_failed_take_does_not_stop_the_runner():
    ran = []

    def run(payload, control):
        ran.append(payload)
        if payload == "boom":
            raise RuntimeError("a backend fault")

    runner = LiveRunner(run, delay_s=2.0)
    runner.submit("first")  # after quiet: at once
    assert runner.wait(1.5)
    runner.submit("never")  # within the delay of the last edit: waits for a pause
    assert runner.cancel() is True and runner.wait(2)
    runner.delay_s = 0.0
    runner.submit("boom")
    assert runner.wait(5)
    runner.submit("after")
    assert runner.wait(5)
    assert ran == ["first", "boom", "after"]
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.submit("late")
    with pytest.raises(ValueError, match="delay_s"):
        LiveRunner(lambda p, c: None, delay_s=-1)


# -- the mark in the log, on both homes --------------------------------------------------------------


def test_live_takes_are_logged_marked_and_hidden_until_kept(lab):
    normal = lab.generate("a red kite", seed=1, **FAST)
    take = lab.generate("a red kite", seed=2, live=True, **FAST)
    assert take.ok
    row = lab.log.run(take.id)
    assert row["live"] is True and row["kept_at"] is None and row["status"] == "succeeded"
    assert lab.log.run(normal.id)["live"] is False

    # hidden: a page (the runs index), a whole listing (SQL), a count, a search, a rating sort, a status filter
    assert list(lab.runs(limit=10).id) == [normal.id]
    assert list(lab.runs().id) == [normal.id]
    assert list(lab.runs(text="kite", limit=5).id) == [normal.id]
    assert list(lab.runs(sort="rating", limit=5).id) == [normal.id]
    assert list(lab.runs(status="succeeded").id) == [normal.id]
    from explorer.log import queries

    assert queries.count_runs(lab.log) == 1 and queries.count_runs(lab.log, live=True) == 2
    # asked for: shown, marked
    listed = lab.runs(live=True, limit=10)
    assert list(listed.id) == [take.id, normal.id] and list(listed.live) == [True, False]
    assert next_pair(lab) is None  # battle pairs: one visible clip, no pair

    assert lab.keep(take) is True
    assert lab.keep(take.id) is False  # kept already
    assert lab.keep(normal) is False  # not a live take
    assert set(lab.runs(limit=10).id) == {normal.id, take.id}
    assert set(lab.runs().id) == {normal.id, take.id}
    assert queries.count_runs(lab.log) == 2
    kept = lab.runs(limit=10).set_index("id")
    assert bool(kept.loc[take.id, "live"]) and kept.loc[take.id, "kept_at"] is not None
    assert set(next_pair(lab)) == {normal.id, take.id}


def test_a_keep_in_another_process_shows_in_this_ones_listing(home):
    """The runs index of a reader that did not keep: a file log finds the kept run by kept_at, a team log by the lake's changes."""
    writer, reader = home.open("ada"), home.open("bob")
    try:
        take = writer.generate("a paper boat", live=True, **FAST)
        assert len(reader.runs(limit=5)) == 0  # builds the reader's index with the take hidden
        other = writer.generate("a paper boat", live=True, **FAST)
        assert len(reader.runs(limit=5)) == 0  # folded in as a new run: still hidden
        writer.keep(take)
        assert list(reader.runs(limit=5).id) == [take.id]
        writer.keep(other)
        assert set(reader.runs(limit=5).id) == {take.id, other.id}
    finally:
        writer.log.close()
        reader.log.close()


def test_bad_live_values_are_refused_naming_the_field(lab):
    with pytest.raises(RequestError, match="live: must be True or False"):
        lab.generate("a kite", live="yes", **FAST)
    with pytest.raises(RequestError, match="live: must be True or False"):
        lab.runs(live=1)
    assert len(lab.runs(live=True)) == 0  # nothing was logged


def test_an_older_log_gains_the_mark_with_every_run_listed(tmp_path):
    path = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, upto="0006_metrics")
    conn.execute("""INSERT INTO runs (id, created_at, author, status, backend, prompt, seed, frames, fps, width, height, request)
                    VALUES ('oldrun000001', now()::TIMESTAMP, 'ada', 'succeeded', 'sketch', 'old kite', 1, 8, 8, 64, 64, '{"prompt": "old kite"}')""")
    conn.close()
    log = Log(path)
    with log.connection.session() as conn:
        assert "0007_live_takes" in applied(conn) and applied(conn)[-1] == MIGRATIONS[-1][0]
    lab = explorer.Lab.on(log, "ada")
    assert list(lab.runs().id) == ["oldrun000001"] and list(lab.runs(limit=5).id) == ["oldrun000001"]
    log.close()


# -- the panel -------------------------------------------------------------------------------------------


@pytest.fixture
def file_lab(tmp_path):
    lab = explorer.open(tmp_path / "panel.duckdb", author="tester")
    yield lab
    lab.log.close()


def _runs(lab):
    rows = lab.sql("SELECT id, status, live, kept_at, request FROM runs ORDER BY created_at")
    return [{"id": r.id, "status": r.status, "live": bool(r.live), "kept": r.kept_at is not None and r.kept_at == r.kept_at,
             "request": json.loads(r.request)} for r in rows.itertuples()]


def test_the_panel_regenerates_live_cancels_the_stale_take_and_keeps(file_lab):
    from explorer.widgets.generate_panel import GeneratePanel

    panel = GeneratePanel(file_lab, "a quiet forest", frames=4, width=64, height=48, steps=2)
    sent = []
    panel.send = lambda content, buffers=None: sent.append(content)
    panel.live_delay = 0.05
    panel.live = True  # switching on makes a first take of the form as it is
    panel.wait(30)
    [first] = _runs(file_lab)
    assert first["live"] and first["status"] == "succeeded" and first["request"]["prompt"] == "a quiet forest"
    assert panel.strip[0]["id"] == first["id"] and panel.strip[0]["live"] and panel.live_take() == first["id"]

    # a drag: many edits within the delay make one take, of the last value
    for guidance in (3.0, 4.0, 5.0, 6.0):
        panel.live_seq += 1
        panel.fields = {**panel.fields, "guidance": guidance}
    panel.wait(30)
    runs = _runs(file_lab)
    assert len(runs) == 2 and runs[1]["request"]["guidance"] == 6.0 and runs[1]["status"] == "succeeded"
    assert [m["seq"] for m in sent if m.get("type") == "preview"][-1] == panel.live_seq  # previews name the edit they answer
    assert [c["id"] for c in panel.strip] == [runs[1]["id"]]  # the new take replaced the unkept one on show

    # an edit while a slow take runs: that take is cancelled (logged, live, hidden) and the latest is made
    panel.extra = {"pace": 0.3}
    panel.fields = {**panel.fields, "steps": 20}
    deadline = time.time() + 10
    while time.time() < deadline and not any(r["status"] == "running" for r in _runs(file_lab)):
        time.sleep(0.02)
    panel.extra = {}
    panel.wait(60)
    runs = _runs(file_lab)
    assert [r["status"] for r in runs[2:]] == ["cancelled", "succeeded"] and all(r["live"] for r in runs)
    assert runs[-1]["request"]["extra"] == {} and runs[-1]["request"]["steps"] == 20
    assert len(file_lab.runs(live=True)) == 4 and len(file_lab.runs()) == 0

    # Keep: from the browser, the take on show; it is listed from now on
    panel._on_custom(panel, {"type": "keep"}, [])
    assert list(file_lab.runs().id) == [runs[-1]["id"]] and panel.strip[0]["kept"]
    assert "kept" in panel.message and panel.live_take() is None

    # switched off: edits make no take
    panel.live = False
    panel.prompt = "a loud forest"
    panel.wait(5)
    assert len(_runs(file_lab)) == 4


def test_an_invalid_live_edit_is_said_and_makes_no_take(file_lab):
    from explorer.widgets.generate_panel import GeneratePanel

    panel = GeneratePanel(file_lab, "a kite", frames=4, width=64, height=48, steps=1)
    panel.live = True
    panel.wait(30)
    panel.fields = {**panel.fields, "width": 63}
    panel.wait(5)
    assert "width: must be even" in panel.error and len(_runs(file_lab)) == 1


# -- the REST API's listing and rate queue -------------------------------------------------------------


@pytest.fixture
def jp_server_config(home):
    return home.server_config()


async def test_the_api_lists_and_queues_no_unkept_live_take(home, jp_root_dir, jp_fetch):
    lab = home.open("setup") if home.kind == "team" else explorer.open(jp_root_dir / "explorer.duckdb", author="setup")
    shown = lab.generate("sunset birds", **FAST).id
    hidden = lab.generate("sunset birds", seed=5, live=True, **FAST).id

    async def get(*parts, **params):
        response = await jp_fetch("explorer", "api", *parts, params=params)
        return json.loads(response.body)

    page = await get("runs", limit=10)
    assert page["total"] == 1 and [r["id"] for r in page["items"]] == [shown]
    queue = await get("queue", "next")
    assert queue["remaining"] == 1 and queue["item"]["id"] == shown
    assert (await get("log"))["unrated"] == 1
    assert (await get("runs", hidden))["id"] == hidden  # asked for by id: its detail is there
    lab.keep(hidden)
    lab.log.close()
    page = await get("runs", limit=10)
    assert page["total"] == 2 and {r["id"] for r in page["items"]} == {shown, hidden}
    assert (await get("queue", "next"))["remaining"] == 2


def test_the_cli_lists_live_takes_only_with_live(file_lab):
    import subprocess
    import sys

    take = file_lab.generate("a paper crane", live=True, **FAST)
    normal = file_lab.generate("a paper crane", **FAST)
    file_lab.log.close()  # the CLI is another process: let it have the file

    def listed(*flags):
        out = subprocess.run([sys.executable, "-m", "explorer.cli", "runs", "--db", str(file_lab.log.path), "--json", *flags],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        return [(r["id"], r["live"]) for r in json.loads(out)]

    assert listed() == [(normal.id, False)]
    assert listed("--live") == [(normal.id, False), (take.id, True)]
