"""CLIP embeddings of clips, where a CLIP model is configured: one vector per run, and a few components of them as features.

Stored (table ``embeddings``: run, model, version, vector): the mean of the normalised image embeddings of the frames
the CLIP metrics look at (:mod:`explorer.metrics_clip`), normalised again, so two clips' cosine similarity is a dot
product. ``model`` is what ``EXPLORER_CLIP_MODEL`` named when the clip was embedded: vectors of different models are
never mixed.

Used as features (:func:`components`): the taste model and the atlas take the first ``COMPONENTS`` principal components
of one model's vectors (the model that embedded the most clips), named ``clip_pc1``… beside the metrics. Why not the
whole vector: a CLIP image embedding has 512 or 768 numbers and a team has hundreds to thousands of votes; a linear
model over all of them learns the votes by heart and predicts new ones no better than chance, while a handful of
directions along which the clips differ most carries most of what sets one look apart from another. PCA is
scikit-learn's (from the covariance's eigenvectors: no random start, so the same vectors give the same components in
any process).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> vectors = pd.DataFrame(rng.normal(size=(20, 16)), index=[f"r{i}" for i in range(20)])
>>> list(reduce(vectors, 3).apply(vectors).columns)
['clip_pc1', 'clip_pc2', 'clip_pc3']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from explorer.log.clock import utcnow

if TYPE_CHECKING:
    from explorer.log import Log

COMPONENTS = 8  # embedding directions offered as features
PREFIX = "clip_pc"
VERSION = 1  # how the vector is made (frames picked, pooling); a new recipe is a new version, readers take the latest

LATEST = """
    SELECT run_id, vector FROM embeddings WHERE model = ?
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY version DESC, created_at DESC) = 1
"""


def store(log: Log, run_id: str, model: str, vector: np.ndarray) -> None:
    """Append ``run_id``'s embedding under ``model`` (rows are never updated: embedding again appends)."""
    values = [float(v) for v in np.asarray(vector, dtype=np.float32).reshape(-1)]
    if not values or not all(np.isfinite(values)):
        raise ValueError(f"embedding of run {run_id}: expected a non-empty vector of finite numbers")
    log.connection.transaction(lambda conn: conn.execute(
        "INSERT INTO embeddings (run_id, model, version, vector, created_at) VALUES (?, ?, ?, ?::FLOAT[], ?)",
        [run_id, model, VERSION, values, utcnow()]))


def main_model(log: Log) -> str | None:
    """The model that embedded the most runs (None when nothing is embedded)."""
    rows = log.records("SELECT model, count(DISTINCT run_id) AS n FROM embeddings GROUP BY model ORDER BY n DESC, model LIMIT 1")
    return rows[0]["model"] if rows else None


def vectors(log: Log, model: str | None = None, ids: list[str] | None = None) -> pd.DataFrame:
    """One row per embedded run (index run id; only ``ids`` when given), one column per dimension, of ``model``
    (default :func:`main_model`)."""
    model = model or main_model(log)
    empty = pd.DataFrame(index=pd.Index([], name="run_id"))
    if model is None or (ids is not None and not ids):
        return empty
    sql, params = LATEST, [model]
    if ids is not None:
        sql, params = f"SELECT * FROM ({LATEST}) WHERE run_id IN (SELECT unnest(?))", [model, list(ids)]
    with log.connection.session() as conn:
        table = conn.execute(sql, params).to_arrow_table()
    found = table.column("run_id").to_pylist()
    if not found:
        return empty
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return pd.DataFrame(flat.reshape(len(found), -1).astype(np.float64), index=pd.Index(found, name="run_id"))


@dataclass(frozen=True)
class Reduction:
    """A fitted PCA of one model's vectors: projects any run's vector of that model onto the same components."""

    model: str | None
    mean: np.ndarray
    axes: np.ndarray  # components × dimensions

    @property
    def names(self) -> list[str]:
        return [f"{PREFIX}{i + 1}" for i in range(len(self.axes))]

    def apply(self, vectors: pd.DataFrame) -> pd.DataFrame:
        if not len(vectors) or vectors.shape[1] != self.axes.shape[1]:
            return pd.DataFrame(index=vectors.index, columns=self.names, dtype="float64")
        return pd.DataFrame((vectors.to_numpy() - self.mean) @ self.axes.T, index=vectors.index, columns=self.names)


def reduce(vectors: pd.DataFrame, components: int = COMPONENTS, model: str | None = None) -> Reduction | None:
    """The first ``components`` principal components of ``vectors`` (fewer with fewer runs or dimensions; None if none)."""
    keep = min(components, len(vectors) - 1, vectors.shape[1])
    if keep < 1:
        return None
    from sklearn.decomposition import PCA

    # the covariance's eigenvectors: deterministic like a full SVD (signs fixed by scikit-learn's svd_flip), but
    # 0.2 s instead of 5-12 s for 20,000 clips of 512 numbers (bench/taste_refit.py): it costs rows x dims², not more
    pca = PCA(n_components=keep, svd_solver="covariance_eigh").fit(vectors.to_numpy())
    return Reduction(model, pca.mean_, pca.components_)


def components(log: Log) -> tuple[pd.DataFrame, Reduction | None]:
    """``clip_pc1``… of every run the main model embedded, and the reduction that made them (None when none is stored)."""
    model = main_model(log)
    stored = vectors(log, model)
    reduction = reduce(stored, model=model)
    if reduction is None:
        return pd.DataFrame(index=stored.index), None
    return reduction.apply(stored), reduction
