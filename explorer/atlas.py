"""The atlas's data side: every measured clip placed in 2-D by its metrics, with a taste value to colour it by.

The layout is PCA (scikit-learn, full SVD, so the same clips give the same picture in any process) of the clips'
standardised metrics: each metric becomes mean 0, standard deviation 1 over the clips shown, so motion (per cent of
the frame) and sharpness (thousands) weigh the same, and a metric a clip lacks counts as average. The two axes are
the two directions along which the clips differ most, so clips with similar metrics land close together. Why PCA and
not t-SNE/UMAP: it is deterministic and linear (an axis means the same thing in every part of the map, and its
loadings name which metrics it follows), it costs milliseconds at 10k clips, and with ~7 features there is little
non-linear structure for a neighbour embedding to find. Where a CLIP model embedded the clips, the first components
of their embeddings (:mod:`explorer.embeddings`, ``clip_pc1``…) join the metrics as features, so clips that look
alike to CLIP land together too.

Coordinates go out as compact arrays (one list per coordinate, quantised to 0..``GRID``), never one dict per clip.

>>> import pandas as pd
>>> values = pd.DataFrame({"motion": [0.0, 0.1, 5.0, 5.1], "sharpness": [10.0, 11.0, 900.0, 905.0]}, index=list("abcd"))
>>> x, y, explained = layout(values)
>>> bool(abs(x[0] - x[1]) < abs(x[0] - x[2])), round(float(explained[0]), 2)
(True, 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from explorer.embeddings import components
from explorer.request import RequestError

if TYPE_CHECKING:
    from explorer.lab import Lab

COLOUR_BY = {"stars": "mean stars", "bt": "Bradley–Terry score (votes)", "taste": "taste model's prediction"}
FILTERS = ("text", "tag", "author", "backend", "model", "min_rating")
DENSE_BT_ITEMS = 300  # up to this many voted clips the Bradley–Terry colours are the leaderboard's own (dense) fit
GRID = 65535  # coordinates are sent as integers 0..GRID (16 bits: finer than any screen, 5 characters in JSON)


@dataclass
class AtlasData:
    """Placed clips (``ids``, ``x``, ``y`` in 0..1, ``colour`` NaN where unknown) and the measured-less ones."""

    ids: list[str]
    x: np.ndarray
    y: np.ndarray
    colour: np.ndarray
    colour_by: str
    unmeasured: list[str]
    features: list[str]
    explained: list[float] = field(default_factory=list)  # share of the variance each axis shows
    axes: list[dict[str, float]] = field(default_factory=list)  # each axis's loadings per metric
    note: str = ""

    def payload(self) -> dict[str, Any]:
        """The layout for the browser: parallel arrays; coordinates as 16-bit integers, colours to 4 significant digits."""
        return {
            "ids": list(self.ids), "grid": GRID,
            "x": np.rint(self.x * GRID).astype(int).tolist(), "y": np.rint(self.y * GRID).astype(int).tolist(),
            "colour": [None if math.isnan(c) else float(f"{c:.4g}") for c in self.colour.tolist()],
        }

    def legend(self) -> dict[str, Any]:
        known = self.colour[~np.isnan(self.colour)]
        return {"colour_by": self.colour_by, "label": COLOUR_BY[self.colour_by], "known": len(known),
                "unknown": int(len(self.colour) - len(known)),
                "low": float(known.min()) if len(known) else None, "high": float(known.max()) if len(known) else None,
                "features": self.features, "explained": [round(float(e), 3) for e in self.explained],
                "axes": self.axes, "note": self.note}


def layout(values: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """``x``, ``y`` in 0..1 (aspect kept) for each row of ``values`` (one column per metric), and each axis's share
    of the variance. Constant or all-missing metrics are dropped; a missing value counts as the metric's mean."""
    x, y, explained, _ = _pca(values)
    return x, y, explained


def _pca(values: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[float], list[dict[str, float]]]:
    n = len(values)
    values = values.apply(pd.to_numeric, errors="coerce").astype("float64")
    usable = [c for c in values.columns if values[c].notna().sum() >= 2 and values[c].std() > 0]
    if n == 0:
        return np.zeros(0), np.zeros(0), [], []
    if n < 2 or not usable:
        return np.full(n, 0.5), np.full(n, 0.5), [], []
    standard = ((values[usable] - values[usable].mean()) / values[usable].std()).fillna(0.0).to_numpy()
    from sklearn.decomposition import PCA  # lazily: scikit-learn takes ~1 s to import

    components = min(2, len(usable), n)
    pca = PCA(n_components=components, svd_solver="full")  # full SVD: exact, no random start, same in every process
    coords = pca.fit_transform(standard)
    # PCA's signs are arbitrary; fix them so the largest loading of each axis is positive (stable across versions)
    for k in range(components):
        if pca.components_[k][np.argmax(np.abs(pca.components_[k]))] < 0:
            coords[:, k] *= -1
            pca.components_[k] *= -1
    if components == 1:
        coords = np.column_stack([coords[:, 0], np.zeros(n)])
    # one scale for both axes, so distances on screen are distances in feature space
    low = coords.min(axis=0)
    span = float((coords.max(axis=0) - low).max()) or 1.0
    scaled = (coords - low) / span
    scaled += (1.0 - (scaled.max(axis=0))) / 2  # centre the shorter axis
    axes = [{name: round(float(w), 3) for name, w in zip(usable, pca.components_[k])} for k in range(components)]
    return scaled[:, 0], scaled[:, 1], [float(e) for e in pca.explained_variance_ratio_], axes


def check(colour_by: str, filters: dict[str, Any]) -> None:
    """Bad input, named, before any work."""
    if colour_by not in COLOUR_BY:
        raise RequestError([f"colour_by: one of {', '.join(COLOUR_BY)} (got {colour_by!r})"])
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise RequestError([f"{min(unknown)}: not an atlas filter; use {', '.join(FILTERS)}"])
    rating = filters.get("min_rating")
    if rating not in (None, "", 0) and (isinstance(rating, bool) or not isinstance(rating, (int, float)) or not 0 <= rating <= 5):
        raise RequestError([f"min_rating: a number from 0 to 5 (got {rating!r})"])


def colours(lab: Lab, ids: list[str], colour_by: str, runs: pd.DataFrame | None = None,
            values: pd.DataFrame | None = None) -> tuple[np.ndarray, str]:
    """The taste value of each run in ``ids`` (NaN where there is none), and a note when a whole kind is missing."""
    if colour_by == "stars":
        if runs is None:
            runs = lab.runs(status="succeeded")
        rating = pd.to_numeric(runs.set_index("id")["rating"], errors="coerce")
        out = rating.reindex(ids).to_numpy(dtype="float64")
        return out, "" if np.any(~np.isnan(out)) else "no clip shown has stars yet"
    if colour_by == "bt":
        votes = lab.votes()
        if not len(votes):
            return np.full(len(ids), np.nan), "no votes yet"
        scores = bt_scores(votes)  # every vote counts, also those against clips not shown
        out = scores.reindex(ids).to_numpy(dtype="float64")
        return out, "" if np.any(~np.isnan(out)) else "no clip shown has votes yet"
    from explorer.review.taste import predicted_taste, taste_model

    model = taste_model(lab)
    if not model.ready:
        return np.full(len(ids), np.nan), f"the taste model is not ready ({model.describe()})"
    if values is None:
        return predicted_taste(lab, ids).to_numpy(dtype="float64"), model.describe()
    # predicted_taste's own metric lookup builds a dict per clip (0.4 s at 10k); the values are already here
    return model.scores(values.reindex(ids)).to_numpy(dtype="float64"), model.describe()


def bt_scores(votes: pd.DataFrame, *, dense_items: int = DENSE_BT_ITEMS) -> pd.Series:
    """Bradley–Terry log-strengths of every voted clip (centred), indexed by run id.

    Up to ``dense_items`` voted clips: :func:`explorer.review.bradley_terry.bradley_terry` (the leaderboard's fit).
    Beyond, that dense fit costs ~n³ (minutes at 10k clips), so the same model is fitted as an L2-regularised logistic
    regression on a sparse design (+1 winner, −1 loser per vote; a tie is half a win each way): seconds at 10k clips
    and 100k votes, the same order, slightly shrunk scores (a colour scale, not a leaderboard).
    """
    winners, losers = votes["winner_id"].astype(str).to_numpy(), votes["loser_id"].astype(str).to_numpy()
    keep = winners != losers
    winners, losers, tie = winners[keep], losers[keep], votes["tie"].astype(bool).to_numpy()[keep]
    items, codes = np.unique(np.concatenate([winners, losers]), return_inverse=True)
    if len(items) <= dense_items:
        from explorer.review.bradley_terry import bradley_terry

        bt = bradley_terry(votes, bootstrap=0)
        return bt.set_index("item")["score"].dropna()
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    n = len(winners)
    w, lo = codes[:n], codes[n:]
    # each vote once as "winner minus loser beat" (label 1) and once mirrored (label 0), so both classes exist;
    # a tie enters both ways with half the weight
    rows = np.repeat(np.arange(2 * n), 2)
    cols = np.column_stack([np.concatenate([w, lo]), np.concatenate([lo, w])]).ravel()
    signs = np.tile([1.0, -1.0], 2 * n)
    design = csr_matrix((signs, (rows, cols)), shape=(2 * n, len(items)))
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    weight = np.tile(np.where(tie, 0.5, 1.0), 2)
    model = LogisticRegression(C=10.0, fit_intercept=False, solver="lbfgs", max_iter=500)
    model.fit(design, labels, sample_weight=weight)
    scores = model.coef_[0]
    return pd.Series(scores - scores.mean(), index=items, dtype="float64")


def metric_values(lab: Lab) -> pd.DataFrame:
    """Every measured run's latest metrics, one column each (as ``lab.metrics()``, pivoted in the database: at 10k
    clips ``explorer.metrics.table`` builds a dict per row, 0.45 s; this takes a tenth of that)."""
    from explorer.metrics import LATEST, METRICS

    long = lab.log.query(f"SELECT run_id, name, value FROM ({LATEST})")
    if not len(long):
        return pd.DataFrame(index=pd.Index([], name="run_id"))
    wide = long.pivot(index="run_id", columns="name", values="value")
    wide.columns.name = None
    return wide.reindex(columns=[n for n in METRICS if n in wide.columns] + sorted(n for n in wide.columns if n not in METRICS)).astype("float64")


def atlas(lab: Lab, colour_by: str = "stars", **filters: Any) -> AtlasData:
    """The atlas of the succeeded clips matching ``filters`` (text, tag, author, backend, model, min_rating)."""
    check(colour_by, filters)
    query = {k: v for k, v in filters.items() if v not in (None, "", 0)}
    runs = lab.runs(status="succeeded", **query)
    runs = runs[runs["media_sha256"].notna()]
    ids = list(runs["id"])
    values = metric_values(lab)
    pcs, _ = components(lab.log)
    if len(pcs.columns):
        values = values.join(pcs, how="outer")
    measured = [i for i in ids if i in values.index]
    measured_set = set(measured)
    unmeasured = [i for i in ids if i not in measured_set]
    # the clips' creation order (newest first from lab.runs) is kept, so equal inputs give equal arrays
    x, y, explained, axes = _pca(values.loc[measured])
    colour, note = colours(lab, measured, colour_by, runs, values)
    return AtlasData(measured, x, y, colour, colour_by, unmeasured, list(values.columns), explained, axes, note)
