"""The review panel's cost per kept clip and its "which measurement predicts our taste" view, on real logs.

The incremental :class:`~explorer.review.standings.Standings` (what the panel's leaderboard reads) must give the same
``device_s``, ``kept`` and ``s_per_kept`` as the full :func:`~explorer.review.leaderboard.leaderboard`, after every
kind of change (a vote, a rating that replaces an earlier one, a failed run, a vote that turns a clip's battles);
``GET /explorer/api/metric-agreement`` must say what ``metric_agreement`` and the taste model say, without waiting on a
refit.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time

import pandas as pd
import pytest
from tornado.httpclient import HTTPClientError

import explorer
from explorer.request import Request
from explorer.review.leaderboard import leaderboard
from explorer.review.standings import Standings, run_table

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FAST = dict(frames=4, width=32, height=32, steps=1, progress=False)
COST = ["device_s", "kept", "s_per_kept"]


def _cost(board: pd.DataFrame) -> dict:
    return {k: (round(s, 9), int(n), None if math.isnan(p) else round(p, 9)) for k, s, n, p in
            zip(board["key"], board["device_s"], board["kept"], board["s_per_kept"])}


def _agree(lab, standings: dict[str, Standings]) -> None:
    for by, incremental in standings.items():
        assert _cost(incremental.table()) == _cost(leaderboard(lab, by, bootstrap=0)), by
    assert _cost(run_table(lab.log)) == _cost(leaderboard(lab, "run", bootstrap=0))


def test_standings_cost_per_kept_agrees_with_the_full_leaderboard_after_every_change(lab):
    runs = [lab.generate(f"a fox {i % 2}", seed=i, guidance=g, **FAST).id for i, g in enumerate([3.0, 9.0, 3.0, 9.0, 6.0])]
    failed = lab.log.start_run(Request(prompt="a fox 0", guidance=6.0, backend="sketch", **{k: FAST[k] for k in ("frames", "width", "height", "steps")}),
                               author="me")
    lab.log.finish_run(failed, "failed", error="out of memory", duration_s=2.5)  # device time spent, nothing to keep
    standings = {by: Standings(lab.log, by) for by in ("guidance", "prompt", "model")}
    _agree(lab, standings)
    first = standings["guidance"].table().set_index("key")
    assert (first["kept"] == 0).all() and first["s_per_kept"].isna().all()  # nothing kept yet: NaN, never infinity
    assert first.at[6.0, "device_s"] == pytest.approx(2.5 + lab.runs().set_index("id").at[runs[4], "duration_s"])

    lab.vote(runs[1], runs[0])  # runs[1] wins its only battle: kept
    lab.vote(runs[3], runs[2], tie=True)  # ties keep nobody
    _agree(lab, standings)
    assert standings["guidance"].table().set_index("key").at[9.0, "kept"] == 1
    lab.rate(runs[0], 5)
    lab.rate(runs[4], 4)
    lab.log.rate(runs[4], 3, author="ann")  # two reviewers: mean 3.5, not kept
    _agree(lab, standings)
    lab.rate(runs[0], 2)  # replaces the 5: runs[0] is no longer kept
    lab.vote(runs[0], runs[1])
    lab.vote(runs[0], runs[1])  # runs[1] has now lost two of three: no longer kept; runs[0] won two of three: kept
    _agree(lab, standings)
    board = standings["guidance"].table().set_index("key")
    seconds = lab.runs().set_index("id")["duration_s"]
    assert board.at[3.0, "kept"] == 1 and board.at[9.0, "kept"] == 0
    assert board.at[3.0, "s_per_kept"] == pytest.approx(seconds[[runs[0], runs[2]]].sum())
    lab.log.rate(runs[4], 5, author="ann")  # mean 4.5: kept
    _agree(lab, standings)
    assert standings["guidance"].table().set_index("key").at[6.0, "kept"] == 1


def test_a_fresh_standings_on_a_log_with_history_starts_from_the_same_figures(lab):
    runs = [lab.generate(f"a kite {i}", seed=i, guidance=float(i % 3), **FAST).id for i in range(6)]
    for a, b in itertools.combinations(runs, 2):
        lab.vote(a, b)
    lab.rate(runs[5], 5)
    standings = {by: Standings(lab.log, by) for by in ("guidance", "prompt", "backend")}
    _agree(lab, standings)
    assert sum(standings["guidance"].table()["kept"]) == 4  # runs 0–2 won more than half of their five battles; run 5 starred


# -- the server: GET /explorer/api/leaderboard and /explorer/api/metric-agreement ---------------------------------


@pytest.fixture
def jp_server_config(home):
    return home.server_config()


def _server_log(home, root, author="setup"):
    return home.open(author) if home.kind == "team" else explorer.open(root / "explorer.duckdb", author=author)


async def _get(fetch, *parts, **params):
    try:
        response = await fetch("explorer", "api", *parts, params=params)
    except HTTPClientError as error:
        return error.code, json.loads(error.response.body or b"null")
    return response.code, json.loads(response.body)


async def test_metric_agreement_payload_says_what_the_python_api_says(jp_fetch, home, jp_root_dir):
    from explorer.review.metric_agreement import REFERENCE, metric_agreement
    from explorer.review.taste import taste_model

    status, empty = await _get(jp_fetch, "metric-agreement")  # no log yet: an empty answer, nothing created
    assert status == 200 and empty["metrics"] == [] and empty["taste"]["fitted"] is False and empty["reference"]["low"] == REFERENCE["low"]

    lab = _server_log(home, jp_root_dir)
    cells = [(p, s) for p in ("slow drift", "fast zoom", "a still lake") for s in (1, 2, 3)][:7]
    made = [lab.generate(p, seed=s, fps=6, **FAST) for p, s in cells]
    motion = lab.metrics()["metric_motion"]
    for a, b in itertools.combinations(made, 2):  # 21 votes, every one for the clip that moves more
        lab.vote(*((a, b) if motion[a.id] > motion[b.id] else (b, a)))
    lab.rate(made[0], 5)
    lab.log.rate(made[1].id, 2, author="ann")
    expected = metric_agreement(lab)
    lab.log.close()

    deadline = time.monotonic() + 60
    started = time.monotonic()
    status, answer = await _get(jp_fetch, "metric-agreement")
    assert status == 200 and time.monotonic() - started < 30  # it answers without waiting for the refit to finish
    while answer["taste"]["fitting"] or not answer["taste"]["fitted"]:
        assert time.monotonic() < deadline, answer["taste"]
        await asyncio.sleep(0.2)
        status, answer = await _get(jp_fetch, "metric-agreement")
    assert answer["votes"] == 21 and answer["reference"] == REFERENCE
    assert [m["metric"] for m in answer["metrics"]] == list(expected["metric"])
    top = answer["metrics"][0]
    assert top["metric"] == "motion" and top["accuracy"] == 1.0 and top["direction"] == "higher" and top["votes"] == 21
    for row, (_, want) in zip(answer["metrics"], expected.iterrows()):
        for name in ("accuracy", "low", "high"):
            assert (row[name] is None and pd.isna(want[name])) or row[name] == pytest.approx(want[name]), (row["metric"], name)
        assert set(row["rho"]) == {"setup", "ann"}  # one correlation per reviewer (None under three rated clips)
    assert answer["reviewers"] == {"ann": 1, "setup": 1}

    lab = _server_log(home, jp_root_dir, "check")
    model = taste_model(lab).to_dict()
    lab.log.close()
    taste = answer["taste"]
    assert taste["votes"] == model["votes"] == 21 and taste["ready"]
    assert taste["accuracy"] == pytest.approx(model["accuracy"]) and taste["low"] <= taste["accuracy"] <= taste["high"]

    # the panel's leaderboard: the same cost figures as the full computation, on every grouping it asks for
    lab = _server_log(home, jp_root_dir, "check")
    full = {by: _cost(leaderboard(lab, by, bootstrap=0)) for by in ("prompt", "model", "run")}
    lab.log.close()
    for by, want in full.items():
        status, board = await _get(jp_fetch, "leaderboard", by=by)
        assert status == 200
        got = {r["key"]: (round(r["device_s"], 9), r["kept"], None if r["s_per_kept"] is None else round(r["s_per_kept"], 9)) for r in board["rows"]}
        assert got == want, by
    # kept: the three that move most (each won four or more of six battles) and the clip starred 5
    kept = set(motion[[r.id for r in made]].nlargest(3).index) | {made[0].id}
    prompts = {r["key"]: r for r in (await _get(jp_fetch, "leaderboard", by="prompt"))[1]["rows"]}
    assert {p: prompts[p]["kept"] for p in prompts} == {p: sum(r.id in kept and c[0] == p for r, c in zip(made, cells)) for p in prompts}
    clips = {r["key"]: r for r in (await _get(jp_fetch, "leaderboard", by="run"))[1]["rows"]}
    assert {i for i, r in clips.items() if r["kept"]} == kept
    assert all(r["s_per_kept"] is None and r["device_s"] > 0 for i, r in clips.items() if i not in kept)  # "–" in the panel, never Infinity


async def test_metric_agreement_never_waits_on_a_slow_refit(jp_fetch, home, jp_root_dir, monkeypatch):
    """The panel asks while the taste model refits: it gets the metrics at once and "fitting", then the model."""
    from explorer.review import taste

    lab = _server_log(home, jp_root_dir)
    made = [lab.generate(p, seed=s, fps=6, **FAST) for p, s in (("slow drift", 1), ("fast zoom", 1), ("a still lake", 1), ("fast zoom", 2))]
    for a, b in itertools.combinations(made, 2):
        lab.vote(a, b)
    lab.log.close()
    release = threading.Event()
    real_fit = taste.fit

    def slow_fit(*args, **kwargs):  # a refit at 100k votes, as far as the server can tell
        release.wait(30)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(taste, "fit", slow_fit)
    started = time.monotonic()
    status, answer = await _get(jp_fetch, "metric-agreement")
    waited = time.monotonic() - started
    assert status == 200 and waited < taste.QUEUE_WAIT + 5, waited
    assert answer["taste"]["fitting"] is True and answer["taste"]["fitted"] is False and answer["taste"]["ready"] is False
    assert [m["votes"] for m in answer["metrics"]][:1] and answer["votes"] == 6  # the metrics did not wait for the model
    release.set()
    deadline = time.monotonic() + 60
    while answer["taste"]["fitting"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
        answer = (await _get(jp_fetch, "metric-agreement"))[1]
    assert answer["taste"]["fitted"] and answer["taste"]["votes"] == 6 and answer["taste"]["accuracy"] is not None
