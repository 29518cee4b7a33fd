"""Cheap measurements of every clip, with no model weights: flicker, motion, sharpness, exposure, colourfulness.

Each metric has a name and a version (a changed formula gets a new version; old values stay in the log and
readers take the latest version of each). They are computed from the frames (``uint8``, T×H×W×3) right after a
run succeeds (:meth:`explorer.lab.Lab.generate`), and for older runs by ``explorer metrics --backfill`` (or
``lab.backfill_metrics()``), which reads each clip back from the media store.

>>> import numpy as np
>>> frames = np.zeros((4, 32, 32, 3), np.uint8); frames[:, 8:24, 8:24] = 200
>>> values = measure(frames)
>>> round(values["motion"], 3), round(values["flicker"], 3)
(0.0, 0.0)

What each one measures (means over ``PAIRS`` consecutive frame pairs spread evenly over the clip: measuring
every frame of a long clip costs more and says little more; a 256² clip of 24 frames takes ~15 ms on one core,
bench/metrics_cost.py):

``motion``        dense optical flow (OpenCV Farnebäck) between consecutive frames, as the mean flow length in
                  per cent of the frame's width per frame. Flow is computed on grey frames scaled down to at most
                  ``FLOW_SIDE`` pixels on their longer side: at 256² full-size flow costs ~10× as much (it would
                  make metrics slow ``generate`` by far more than 5 %); the figure depends on that size, which is
                  part of the metric's version.
``flicker``       what motion does not explain: the mean absolute difference (0–255 grey levels) between each frame
                  and the previous frame warped onto it along that flow. A plain frame difference would call every
                  moving clip flickery; after motion compensation what is left is brightness pumping, per-frame
                  noise and shapes popping in and out.
``sharpness``     variance of the Laplacian of the grey frame at full size (higher: more fine detail or edges).
``exposure``      mean luminance (Rec. 601), 0 (black) to 1 (white).
``clipped``       fraction of pixels crushed to black (luma ≤ 2) or blown to white (≥ 253).
``colourfulness`` Hasler & Süsstrunk (2003): sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²); ~0 grey, >100 vivid.

Where ``EXPLORER_CLIP_MODEL`` names a CLIP model, ``clip_text`` and ``clip_consistency`` are added
(:mod:`explorer.metrics_clip`) and the clip's embedding is stored (:mod:`explorer.embeddings`); runs measured before
(or under another model) get them with ``explorer metrics --backfill``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from explorer.log.clock import utcnow

if TYPE_CHECKING:
    from concurrent.futures import Future

    import duckdb
    import pandas as pd

    from explorer.log import Log

FLOW_SIDE = 64  # longer side, in pixels, of the frames optical flow is computed on
PAIRS = 6  # consecutive frame pairs measured per clip, evenly spread


@dataclass(frozen=True)
class Metric:
    name: str
    version: int
    unit: str
    description: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("motion", 1, "% width/frame", "mean optical-flow length (Farnebäck), per cent of the frame width per frame"),
    Metric("flicker", 1, "grey levels", "mean absolute difference left after motion compensation"),
    Metric("sharpness", 1, "", "variance of the Laplacian of the grey frame"),
    Metric("exposure", 1, "0-1", "mean luminance"),
    Metric("clipped", 1, "fraction", "fraction of pixels crushed to black or blown to white"),
    Metric("colourfulness", 1, "", "Hasler-Süsstrunk colourfulness"),
)}


def _cv2() -> Any:
    import cv2  # opencv-python-headless; imported on first use (~0.1 s), not with explorer

    cv2.setNumThreads(1)  # per-clip work is small: threads cost more than they save, and a kernel has other work
    return cv2


def measure(frames: np.ndarray) -> dict[str, float]:
    """Every metric of one clip (``uint8`` frames, T×H×W×3) as ``{name: value}``."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] < 1:
        raise ValueError(f"frames: expected uint8 T×H×W×3 (got {frames.dtype} {frames.shape})")
    cv2 = _cv2()
    t, h, w = frames.shape[:3]
    # At most PAIRS consecutive pairs, evenly spread over the clip: the per-pair work (flow above all) is what costs.
    starts = np.unique(np.linspace(0, max(t - 2, 0), min(PAIRS, max(t - 1, 1))).round().astype(int))
    used = sorted({int(i) for i in starts} | {int(i) + 1 for i in starts if i + 1 < t})
    grey = {i: cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY) for i in used}
    later = [grey[i + 1] for i in starts if i + 1 < t] or list(grey.values())
    # Single-frame figures on the second frame of each pair. Exposure from a 256-bin histogram per frame (a pass in C,
    # no temporaries); sharpness as the Laplacian's spread.
    hist = sum(cv2.calcHist([g], [0], None, [256], [0, 256]).reshape(-1) for g in later).astype(np.float64)
    exposure = float(np.dot(hist, np.arange(256)) / hist.sum() / 255.0)
    clipped = float((hist[:3].sum() + hist[253:].sum()) / hist.sum())
    sharpness = float(np.mean([cv2.meanStdDev(cv2.Laplacian(g, cv2.CV_32F))[1][0, 0] ** 2 for g in later]))
    scale = min(1.0, FLOW_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = {i: cv2.resize(g, size, interpolation=cv2.INTER_AREA) if scale < 1 else g for i, g in grey.items()}
    pairs = [(small[i], small[i + 1]) for i in starts if i + 1 < t]
    motion, flicker = _motion_and_flicker(cv2, pairs, size[0])
    return {"motion": motion, "flicker": flicker, "sharpness": sharpness, "exposure": exposure, "clipped": clipped,
            "colourfulness": colourfulness(frames[used[::4], ::2, ::2])}  # every other pixel: the same figure at a quarter of the cost


def _motion_and_flicker(cv2: Any, pairs: list[tuple[np.ndarray, np.ndarray]], width: float) -> tuple[float, float]:
    if not pairs:
        return 0.0, 0.0
    hs, ws = pairs[0][0].shape
    gx, gy = np.meshgrid(np.arange(ws, dtype=np.float32), np.arange(hs, dtype=np.float32))
    lengths, residuals = [], []
    for before, after in pairs:
        # Flow from `after` back to `before`: where each pixel of `after` was, so remap pulls `before` onto `after`.
        flow = cv2.calcOpticalFlowFarneback(after, before, None, 0.5, 3, 15, 2, 5, 1.2, 0)  # OpenCV's usual settings, 2 iterations
        lengths.append(float(np.hypot(flow[..., 0], flow[..., 1]).mean()))
        warped = cv2.remap(before, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        residuals.append(float(np.abs(warped.astype(np.float32) - after.astype(np.float32)).mean()))
    return 100.0 * float(np.mean(lengths)) / width, float(np.mean(residuals))


def colourfulness(frames: np.ndarray) -> float:
    """Hasler–Süsstrunk colourfulness, the mean over ``frames``."""
    values = []
    for frame in frames:
        r, g, b = (frame[..., i].astype(np.float32) for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        values.append(float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())))
    return float(np.mean(values))


# -- the log ---------------------------------------------------------------------------------------------------

# The latest version of each metric per run (and its latest row, should one be computed twice).
LATEST = """
    SELECT run_id, name, version, value FROM metrics
    QUALIFY row_number() OVER (PARTITION BY run_id, name ORDER BY version DESC, created_at DESC) = 1
"""


def store(log: Log, run_id: str, values: dict[str, float]) -> None:
    """Append one row per metric of ``run_id`` (rows are never updated: a new version is a new row)."""
    if values:
        log.connection.transaction(lambda conn: insert(conn, run_id, values))


def insert(conn: duckdb.DuckDBPyConnection, run_id: str, values: dict[str, float]) -> None:
    """:func:`store`'s rows, inside the caller's transaction: a new run's are written with its finish
    (:meth:`explorer.log.Log.finish_run`), one commit instead of two."""
    now = utcnow()
    rows = [[run_id, name, METRICS[name].version if name in METRICS else 1, _finite(value), now] for name, value in values.items()]
    if rows:  # one statement for all rows (executemany is one per row)
        conn.execute("INSERT INTO metrics (run_id, name, version, value, created_at) VALUES "
                     + ", ".join(["(?, ?, ?, ?, ?)"] * len(rows)), [v for row in rows for v in row])


def _finite(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def measured(measuring: Future, run_id: str) -> dict[str, float] | None:
    """The values of a measurement under way (:meth:`explorer.lab.Lab.generate` measures while it encodes).

    A fault is a warning and None, never an exception: a run must not fail for its metrics.
    """
    try:
        return measuring.result()
    except Exception as exc:  # noqa: BLE001 - metrics are a by-product: the clip and its run stand without them
        _warn(run_id, exc)
        return None


def store_clip(log: Log, run_id: str, frames: np.ndarray, prompt: str | None) -> None:
    """Where a CLIP model is configured: a new run's CLIP metrics and embedding, stored (a fault is a warning)."""
    from explorer.metrics_clip import configured

    if configured():
        try:
            _store_with_clip(log, run_id, {}, frames, prompt)
        except Exception as exc:  # noqa: BLE001 - as measured(): the run stands without them
            _warn(run_id, exc)


def _warn(run_id: str, exc: Exception) -> None:
    warnings.warn(f"metrics for run {run_id} not computed: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)


def _store_with_clip(log: Log, run_id: str, values: dict[str, float], frames: np.ndarray, prompt: str | None) -> None:
    """Store ``values`` plus, where a CLIP model is configured, its metrics (added to ``values``) and the clip's embedding.

    Nothing of CLIP is imported without one (explorer.metrics_clip imports transformers only when it runs).
    """
    from explorer.metrics_clip import configured, measure_and_embed

    model = configured()
    vector = None
    if model:
        clip_values, vector = measure_and_embed(frames, prompt or "", model)
        values.update(clip_values)
    store(log, run_id, values)
    if vector is not None:
        from explorer import embeddings

        embeddings.store(log, run_id, model, vector)


def latest(log: Log, run_ids: Iterable[str] | None = None) -> dict[str, dict[str, float | None]]:
    """``{run_id: {name: value}}``: the latest version of each metric, for ``run_ids`` (every run when None)."""
    where, params = "", []
    if run_ids is not None:
        ids = list(run_ids)
        if not ids:
            return {}
        where, params = "WHERE run_id IN (SELECT unnest(?))", [ids]
    out: dict[str, dict[str, float | None]] = {}
    order = {name: i for i, name in enumerate(METRICS)}
    for row in log.records(f"SELECT run_id, name, value FROM ({LATEST}) {where} ORDER BY run_id, name", params):
        out.setdefault(row["run_id"], {})[row["name"]] = row["value"]
    return {run: dict(sorted(values.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))) for run, values in out.items()}


def table(log: Log) -> pd.DataFrame:
    """One row per run that has metrics, one ``metric_<name>`` column per metric (the latest version of each)."""
    import pandas as pd

    values = latest(log)
    frame = pd.DataFrame.from_dict(values, orient="index")
    frame = frame.reindex(columns=[n for n in METRICS if n in frame.columns] + [n for n in frame.columns if n not in METRICS])
    frame.columns = [f"metric_{n}" for n in frame.columns]
    frame.index.name = "run_id"
    return frame


def to_measure(log: Log, *, force: bool = False) -> list[dict[str, Any]]:
    """Succeeded runs with a clip that lack a current version of some metric (every such run with ``force``).

    Where a CLIP model is configured, also those it has not embedded yet (with its metrics).
    """
    from explorer import embeddings
    from explorer.metrics_clip import configured

    runs = log.records("SELECT id, media_sha256, prompt FROM runs WHERE status = 'succeeded' AND media_sha256 IS NOT NULL ORDER BY created_at")
    if force:
        return runs
    have: dict[str, set[tuple[str, int]]] = {}
    for row in log.records("SELECT DISTINCT run_id, name, version FROM metrics"):
        have.setdefault(row["run_id"], set()).add((row["name"], int(row["version"])))
    wanted = {(name, m.version) for name, m in METRICS.items()}
    model = configured()
    embedded = set() if model is None else {row["run_id"] for row in log.records(
        "SELECT DISTINCT run_id FROM embeddings WHERE model = ? AND version = ?", [model, embeddings.VERSION])}
    return [r for r in runs if not wanted <= have.get(r["id"], set()) or (model is not None and r["id"] not in embedded)]


@dataclass
class Backfill:
    """What :func:`backfill` did."""

    measured: int = 0
    missing: int = 0      # the clip's file is not in the media store
    failed: int = 0       # the clip could not be read or measured
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"measured": self.measured, "missing": self.missing, "failed": self.failed, "seconds": round(self.seconds, 3)}


def backfill(log: Log, *, force: bool = False, on_run: Callable[[int, int], None] | None = None) -> Backfill:
    """Measure every succeeded run that lacks a current metric (all of them with ``force``), reading its clip back.

    Idempotent: a second call measures nothing new. ``on_run(done, total)`` is called after each run.
    """
    from explorer.media import read_frames

    started = time.perf_counter()
    todo = to_measure(log, force=force)
    result = Backfill()
    for done, row in enumerate(todo, 1):
        path = log.media.path(row["media_sha256"])
        if not path.exists():
            result.missing += 1
        else:
            try:
                frames = read_frames(path)
                _store_with_clip(log, row["id"], measure(frames), frames, row["prompt"])
                result.measured += 1
            except Exception as exc:  # noqa: BLE001 - one unreadable clip must not stop the others; it is counted and named
                _warn(row["id"], exc)
                result.failed += 1
        if on_run is not None:
            on_run(done, len(todo))
    result.seconds = time.perf_counter() - started
    return result
