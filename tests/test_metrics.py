"""Clip metrics (explorer.metrics) respond to what they measure, are stored per run on both homes, and are backfilled;
metric_agreement (explorer.review) finds the metric the reviewers' taste follows, and reports chance for random votes."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pandas as pd
import pytest
from test_cli import explorer as cli

from explorer import backends
from explorer.backends.base import RunControl
from explorer.metrics import METRICS, measure
from explorer.request import Request
from explorer.review import metric_agreement
from explorer.review.metric_agreement import agreement_table

SMALL = dict(frames=6, width=64, height=48, steps=2, fps=6)


def sketch(prompt: str, seed: int = 0, frames: int = 24, size: int = 96) -> np.ndarray:
    return backends.get("sketch").generate(Request(prompt=prompt, seed=seed, frames=frames, width=size, height=size), RunControl())


# -- what the metrics measure ----------------------------------------------------------------------------------------

def test_motion_orders_still_then_slow_drift_then_fast_zoom():
    # The sketch has no motionless motion ("still" is a drift word), so the still clip is a drift clip's first frame held.
    seeds = (0, 2, 4)
    drift = [measure(sketch("slow drift", s))["motion"] for s in seeds]
    zoom = [measure(sketch("fast zoom", s))["motion"] for s in seeds]
    still = [measure(np.repeat(sketch("slow drift", s)[:1], 24, axis=0))["motion"] for s in seeds]
    assert max(still) < 0.01 < min(drift)
    assert np.mean(still) < np.mean(drift) < np.mean(zoom)


def test_flicker_rises_with_per_frame_noise_and_sharpness_drops_with_blur():
    frames = sketch("slow drift", 1, frames=12)
    rng = np.random.default_rng(0)
    flicker = [measure(np.clip(frames + rng.normal(0, sigma, frames.shape), 0, 255).astype(np.uint8))["flicker"] for sigma in (0, 4, 12)]
    assert flicker[0] < flicker[1] < flicker[2]
    sharpness = [measure(np.stack([cv2.GaussianBlur(f, (0, 0), s) for f in frames]) if s else frames)["sharpness"] for s in (0, 1, 3)]
    assert sharpness[0] > sharpness[1] > sharpness[2]


def test_exposure_clipping_and_colourfulness():
    grey = np.full((3, 16, 16, 3), 128, np.uint8)
    white = np.full((3, 16, 16, 3), 255, np.uint8)
    vivid = np.zeros((3, 16, 16, 3), np.uint8)
    vivid[:, :, :8, 0] = 255
    vivid[:, :, 8:, 2] = 255
    g, w, v = measure(grey), measure(white), measure(vivid)
    assert g["exposure"] == pytest.approx(128 / 255, abs=0.01) and w["exposure"] == 1.0
    assert g["clipped"] == 0.0 and w["clipped"] == 1.0
    assert g["colourfulness"] == 0.0 < v["colourfulness"]
    assert set(g) == set(METRICS)
    with pytest.raises(ValueError, match="frames"):
        measure(np.zeros((3, 16, 16), np.uint8))


# -- stored per run, on both homes --------------------------------------------------------------------------------------

def test_each_run_is_measured_and_shown_in_runs(lab):
    run = lab.generate("fast zoom", seed=1, progress=False, **SMALL)
    frame = lab.runs(metrics=True)
    assert [f"metric_{n}" for n in METRICS] == [c for c in frame.columns if c.startswith("metric_")]
    assert frame.loc[frame.id == run.id, "metric_motion"].iloc[0] > 0
    assert "metric_motion" not in lab.runs().columns  # only when asked
    rows = lab.sql("SELECT name, version FROM metrics WHERE run_id = ?", [run.id])
    assert sorted(rows.name) == sorted(METRICS) and set(rows.version) == {1}


def test_backfill_measures_old_runs_once(lab):
    lab.compute_metrics = False  # runs made before metrics existed
    old = [lab.generate("slow drift", seed=s, progress=False, **SMALL) for s in (1, 2)]
    assert lab.runs(metrics=True).metric_motion.isna().all()
    assert lab.backfill_metrics(progress=False)["measured"] == 2
    assert lab.backfill_metrics(progress=False)["measured"] == 0  # idempotent
    assert not lab.runs(metrics=True).metric_motion.isna().any()
    assert len(lab.sql("SELECT * FROM metrics")) == 2 * len(METRICS)
    assert set(lab.metrics().index) == {r.id for r in old}


def test_a_metrics_failure_does_not_fail_the_run(lab, monkeypatch):
    import explorer.metrics

    def broken(frames):
        raise RuntimeError("no flow today")

    monkeypatch.setattr(explorer.metrics, "measure", broken)
    with pytest.warns(RuntimeWarning, match="metrics for run .* not computed: RuntimeError: no flow today"):
        run = lab.generate("kite", progress=False, **SMALL)
    assert run.ok and lab.run(run.id).ok
    assert len(lab.sql("SELECT * FROM metrics")) == 0


def test_cli_backfill_and_show(tmp_path):
    import explorer

    db = tmp_path / "m.duckdb"
    lab = explorer.open(db, author="ada")
    lab.compute_metrics = False
    run = lab.generate("fast zoom", progress=False, **SMALL)
    lab.log.close()
    assert "1 succeeded run(s) without current metrics" in cli("metrics", "--db", db).stdout
    assert json.loads(cli("metrics", "--backfill", "--db", db, "--json").stdout)["measured"] == 1
    assert json.loads(cli("metrics", "--backfill", "--db", db, "--json").stdout)["measured"] == 0
    assert "metrics: motion" in cli("show", run.id, "--db", db).stdout
    assert set(json.loads(cli("show", run.id, "--db", db, "--json").stdout)["metrics"]) == set(METRICS)
    assert cli("metrics", "--force", "--db", db, check=False).returncode == 2


# -- which metric predicts taste --------------------------------------------------------------------------------------------

def _simulated(n_runs=120, n_votes=600, noise=0.5, seed=0, follow="sharpness"):
    rng = np.random.default_rng(seed)
    ids = [f"r{i:03d}" for i in range(n_runs)]
    values = pd.DataFrame({name: rng.normal(size=n_runs) for name in ("motion", "flicker", "sharpness", "colourfulness")}, index=ids)
    taste = -values["flicker"] if follow == "-flicker" else values.get(follow, pd.Series(0.0, index=ids))
    rows = []
    for k in range(n_votes):
        a, b = rng.choice(n_runs, 2, replace=False)
        pa, pb = taste.iloc[a] + rng.normal(0, noise), taste.iloc[b] + rng.normal(0, noise)
        if follow == "random":
            pa, pb = rng.random(), rng.random()
        won, lost = (ids[a], ids[b]) if pa > pb else (ids[b], ids[a])
        rows.append({"winner_id": won, "loser_id": lost, "tie": bool(k % 25 == 0), "author": ["ann", "bob"][k % 2]})
    stars = pd.DataFrame([{"run_id": i, "author": "ann", "score": int(np.clip(np.round(3 + taste[i] + rng.normal(0, noise)), 1, 5))}
                          for i in ids])
    return values, pd.DataFrame(rows), stars


def test_the_metric_the_votes_follow_ranks_first():
    values, votes, stars = _simulated(follow="-flicker")
    table = agreement_table(values, votes, stars)
    best = table.iloc[0]
    assert best.metric == "flicker" and best.direction == "lower"
    assert 0.75 < best.accuracy < 0.95 and best.low < best.accuracy < best.high
    assert best.votes + best.ties == len(votes) and best.ties >= 24  # every 25th vote is a tie, left out
    assert table.set_index("metric").loc["flicker", "rho_ann"] < -0.6
    assert table.attrs["reference"]["low"] == 0.61 and table.attrs["reference"]["high"] == 0.74


def test_random_votes_read_as_chance():
    values, votes, stars = _simulated(follow="random", seed=3)
    table = agreement_table(values, votes, stars)
    for row in table.itertuples():
        assert abs(row.accuracy - 0.5) < 0.07
        assert row.low < 0.5 < row.high


def test_metric_agreement_on_a_lab(lab):
    runs = [lab.generate(p, seed=s, progress=False, **SMALL) for p in ("slow drift", "fast zoom") for s in (1, 2)]
    motion = lab.metrics()["metric_motion"]
    ordered = sorted(runs, key=lambda r: motion[r.id])
    for low, high in itertools.pairwise(ordered):
        lab.vote(high, low)
    for stars, run in enumerate(ordered, 1):
        lab.rate(run, stars)
    table = metric_agreement(lab, bootstrap=200)
    top = table.iloc[0]
    assert top.metric == "motion" and top.accuracy == 1.0 and top.direction == "higher"
    assert table.set_index("metric").loc["motion", "rho_tester"] == pytest.approx(1.0)


def test_the_gallery_detail_shows_the_metrics(lab):
    run = lab.generate("fast zoom", seed=1, progress=False, **SMALL)
    gallery = lab.ui.gallery()
    gallery.show(run)
    assert set(gallery.detail["metrics"]) == set(METRICS) and gallery.detail["metrics"]["motion"] > 0


def _generate_in_child(path, queue):
    import explorer

    lab = explorer.open(path, author="child")
    run = lab.generate("slow drift", seed=9, progress=False, **SMALL)
    queue.put(sorted(lab.metrics().loc[run.id].dropna().index))
    lab.log.close()


def test_a_forked_process_measures_its_clips_too(tmp_path):
    """The measuring thread's pool is per process: a forked child (a kernel's subprocess, a test's other user) must
    not hand its clip to the parent's pool, whose thread it does not have, and wait forever."""
    import multiprocessing

    import explorer

    lab = explorer.open(tmp_path / "parent.duckdb", author="parent")
    assert lab.generate("fast zoom", progress=False, **SMALL).ok  # the parent's pool now exists
    lab.log.close()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_generate_in_child, args=(tmp_path / "child.duckdb", queue))
    child.start()
    child.join(120)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    assert queue.get(timeout=5) == sorted(f"metric_{n}" for n in METRICS)


def test_on_one_core_the_clip_is_measured_without_the_thread(lab, monkeypatch):
    import threading

    import explorer.metrics

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    where = []
    real = explorer.metrics.measure

    def spy(frames):
        where.append(threading.current_thread().name)
        return real(frames)

    monkeypatch.setattr(explorer.metrics, "measure", spy)
    run = lab.generate("fast zoom", seed=3, progress=False, **SMALL)
    assert where == [threading.current_thread().name]  # measured here, not in explorer-metrics
    assert lab.runs(metrics=True).set_index("id").loc[run.id, "metric_motion"] > 0
