"""The team's taste model: which clip the team would prefer, learnt from its own votes and stars.

A Bradley–Terry model whose strengths are a linear function of each clip's features (its metrics, and where a CLIP
model embedded the clips the first principal components of their embeddings, :mod:`explorer.embeddings`; standardised):
``P(a beats b) = σ(w · (f(a) − f(b)))``. That is a logistic regression on feature differences without an intercept,
fitted by scikit-learn's ``LogisticRegression`` (L2-regularised, so a handful of votes cannot give a wild model)::

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> values = pd.DataFrame({"motion": rng.normal(size=60), "flicker": rng.normal(size=60)}, index=[f"r{i}" for i in range(60)])
    >>> pairs = [tuple(rng.choice(values.index, 2, replace=False)) for _ in range(300)]
    >>> votes = pd.DataFrame([(a, b) if values.motion[a] > values.motion[b] else (b, a) for a, b in pairs], columns=["winner_id", "loser_id"])
    >>> model = fit(values, votes.assign(tie=False, author="ann"))
    >>> model.votes, model.accuracy > 0.9, bool(model.weights["motion"] > 0)
    (300, True, True)

What it learns from:

- **votes** (ties left out): the winner beat the loser;
- **stars**: two runs the same reviewer starred differently are a comparison the higher one won (each reviewer's
  latest stars; at most ``STAR_PAIRS_PER_RUN`` drawn per run, so one reviewer's thousand stars do not drown the votes).

How good it is, honestly: ``FOLDS``-fold cross-validation over the votes (star comparisons only ever train; the votes
judge), pairwise accuracy on the held-out votes with a bootstrap 95 % interval, overall and per reviewer. It never
stands in for human ratings on the leaderboard; it orders the Rate queue, picks battle pairs where it is least sure,
and ranks a sweep's cells, once it has learnt from ``MIN_COMPARISONS`` comparisons.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd

from explorer.embeddings import PREFIX as EMBEDDING_PREFIX, Reduction
from explorer.log.per_log import PerLog
from explorer.review.metric_agreement import REFERENCE, _latest_stars, binomial_interval

if TYPE_CHECKING:
    from explorer.lab import Lab

FOLDS = 5
STAR_PAIRS_PER_RUN = 4
MIN_COMPARISONS = 20  # under this the model orders nothing (and says so)
QUEUE_WAIT = 0.5  # seconds the review queue waits for a refit before it uses the model fitted before
REGULARISATION = 1.0  # scikit-learn's C: the inverse strength of the L2 penalty on the weights


@dataclass(frozen=True)
class TasteModel:
    """A fitted taste model: its weights, what it learnt from, and its held-out accuracy."""

    weights: pd.Series  # per feature, on standardised values: the change in log-odds of winning per standard deviation
    mean: pd.Series
    scale: pd.Series
    votes: int  # votes learnt from (ties left out; both runs measured)
    star_pairs: int  # comparisons drawn from stars
    accuracy: float | None = None  # held-out pairwise accuracy on votes; None with under FOLDS votes
    low: float | None = None
    high: float | None = None
    held_out: int = 0  # votes scored
    per_reviewer: dict[str, dict[str, Any]] = field(default_factory=dict)
    embedding: Reduction | None = None  # how CLIP embeddings became features (None: metrics only)

    @property
    def features(self) -> list[str]:
        return list(self.weights.index)

    @property
    def ready(self) -> bool:
        """Whether it has learnt enough to order anything."""
        return self.votes + self.star_pairs >= MIN_COMPARISONS and bool(np.any(self.weights.to_numpy() != 0))

    def scores(self, values: pd.DataFrame) -> pd.Series:
        """Predicted taste (log-strength) per row of ``values`` (run id -> features); NaN for a row with no feature known."""
        known = values.reindex(columns=self.features)
        standard = ((known - self.mean) / self.scale).fillna(0.0)  # an unmeasured feature counts as average
        out = pd.Series(standard.to_numpy() @ self.weights.to_numpy(), index=values.index, dtype="float64")
        out[known.isna().all(axis=1)] = np.nan
        return out

    def chance(self, score_a: float, score_b: float) -> float:
        """P(a beats b) from two predicted scores."""
        return float(1.0 / (1.0 + np.exp(-(score_a - score_b))))

    def describe(self) -> str:
        """One line: what it learnt from and how often it is right on votes it did not see."""
        pcs = sum(f.startswith(EMBEDDING_PREFIX) for f in self.features)
        over = f"{len(self.features) - pcs} metrics" + (f" and {pcs} CLIP embedding components" if pcs else "")
        learnt = f"learnt from {self.votes:,} votes and {self.star_pairs:,} star comparisons, over {over}"
        if self.accuracy is None:
            return f"taste model: {learnt}; too few votes to say how often it is right"
        return (f"taste model: {learnt}; right on {self.accuracy:.0%} of {self.held_out:,} held-out votes "
                f"(95 % interval {self.low:.0%}–{self.high:.0%}; learned reward models: "
                f"{REFERENCE['low']:.0%}–{REFERENCE['high']:.0%})")

    def to_dict(self) -> dict[str, Any]:
        return {"votes": self.votes, "star_pairs": self.star_pairs, "ready": self.ready, "accuracy": self.accuracy,
                "low": self.low, "high": self.high, "held_out": self.held_out, "per_reviewer": self.per_reviewer,
                "weights": {k: float(v) for k, v in self.weights.items()}, "describe": self.describe(),
                "embedding_model": self.embedding.model if self.embedding is not None else None}


def fit(values: pd.DataFrame, votes: pd.DataFrame, ratings: pd.DataFrame | None = None, *, folds: int = FOLDS,
        seed: int = 0) -> TasteModel:
    """Fit a taste model on ``values`` (index run id, one column per feature), ``votes`` (``winner_id``, ``loser_id``,
    ``tie``, ``author``) and ``ratings`` (``run_id``, ``author``, ``score``; latest per reviewer counts)."""
    rng = np.random.default_rng(seed)
    values = values.apply(pd.to_numeric, errors="coerce").astype("float64")
    usable = [c for c in values.columns if values[c].notna().sum() >= 2 and values[c].std() > 0]
    mean, scale = values[usable].mean(), values[usable].std()
    standard = ((values[usable] - mean) / scale).fillna(0.0)
    row = _Rows(standard.index)
    matrix = standard.to_numpy()

    played = votes[~votes["tie"].astype(bool)] if len(votes) else votes
    vote_w, vote_l = row.of(played["winner_id"]), row.of(played["loser_id"])
    measured = (vote_w >= 0) & (vote_l >= 0)
    authors = played["author"].astype(object).to_numpy() if "author" in played else np.array([""] * len(played), object)
    vote_w, vote_l, authors = vote_w[measured], vote_l[measured], authors[measured]
    star_w, star_l = _star_pairs(ratings, row, rng)

    def train(w: np.ndarray, lo: np.ndarray) -> np.ndarray:
        return _weights(matrix[w] - matrix[lo], usable, rng)

    weights = train(np.concatenate([vote_w, star_w]), np.concatenate([vote_l, star_l]))
    accuracy = low = high = None
    held = 0
    per_reviewer: dict[str, dict[str, Any]] = {}
    if len(vote_w) >= folds and usable:
        fold = rng.permutation(len(vote_w)) % folds
        right = np.zeros(len(vote_w))
        for k in range(folds):
            test = fold == k
            w = train(np.concatenate([vote_w[~test], star_w]), np.concatenate([vote_l[~test], star_l]))
            margin = (matrix[vote_w[test]] - matrix[vote_l[test]]) @ w
            right[test] = np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0))  # a model that cannot tell: half right
        held = len(right)
        accuracy = float(right.mean())
        low, high = binomial_interval(held, accuracy, rng)
        for author in sorted(set(authors)):
            mine = right[authors == author]
            a_low, a_high = binomial_interval(len(mine), float(mine.mean()), rng)
            per_reviewer[str(author)] = {"votes": int(len(mine)), "accuracy": float(mine.mean()), "low": a_low, "high": a_high}
    return TasteModel(pd.Series(weights, index=usable, dtype="float64"), mean, scale, int(len(vote_w)), int(len(star_w)),
                      accuracy, low, high, held, per_reviewer)


class _Rows:
    """Run id -> row of the feature matrix, for whole columns of ids at once (-1 where a run has no features)."""

    def __init__(self, ids: pd.Index):
        self.index = pd.Index(ids.astype(object))

    def of(self, ids: Any) -> np.ndarray:
        if not len(ids):
            return np.zeros(0, int)
        # to_numpy(object) converts an Arrow-backed column in one go; iterating it would cost a call per id
        values = ids.to_numpy(dtype=object) if isinstance(ids, (pd.Series, pd.Index)) else np.asarray(list(ids), dtype=object)
        return self.index.get_indexer(pd.Index(values, dtype=object))


def _weights(differences: np.ndarray, features: list[str], rng: np.random.Generator) -> np.ndarray:
    """Logistic regression without intercept on the winners' minus the losers' features.

    Half the comparisons, drawn at random, are turned around (loser minus winner, label 0) so both classes exist;
    without an intercept the model is antisymmetric, so the likelihood is the same whichever half is turned.
    Newton–Cholesky: the solver for many rows and few features.
    """
    if not features or len(differences) < 2:
        return np.zeros(len(features))
    from sklearn.linear_model import LogisticRegression

    turned = rng.random(len(differences)) < 0.5
    turned[:2] = (True, False)
    x = np.where(turned[:, None], -differences, differences)
    model = LogisticRegression(C=REGULARISATION, fit_intercept=False, solver="newton-cholesky", max_iter=100)
    return model.fit(x, (~turned).astype(int)).coef_[0]


def _star_pairs(ratings: pd.DataFrame | None, row: _Rows, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(winner rows, loser rows): for each reviewer, runs they starred differently, up to STAR_PAIRS_PER_RUN per run."""
    winners, losers = [], []
    for stars in _latest_stars(ratings).values():
        rows = row.of(stars.index)
        rows, score = rows[rows >= 0], stars.to_numpy()[rows >= 0]
        if len(rows) < 2:
            continue
        first = np.repeat(np.arange(len(rows)), STAR_PAIRS_PER_RUN)
        second = rng.integers(0, len(rows), size=len(first))
        differ = score[first] != score[second]
        first, second = first[differ], second[differ]
        higher = score[first] > score[second]
        winners.append(np.where(higher, rows[first], rows[second]))
        losers.append(np.where(higher, rows[second], rows[first]))
    if not winners:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(winners), np.concatenate(losers)


# -- on a lab: refitted as votes and stars arrive ------------------------------------------------------


class _Current:
    """This process's model for one log, refitted when its votes, ratings or metrics changed."""

    def __init__(self, log: Any):
        self.lock = threading.Lock()
        self.seen: tuple | None = None  # what the model was fitted on
        self.model: TasteModel | None = None
        self.refit: threading.Thread | None = None
        self.fitting: tuple | None = None  # what the refit under way is fitting


_current: PerLog[_Current] = PerLog(_Current)
UNFITTED = TasteModel(pd.Series(dtype="float64"), pd.Series(dtype="float64"), pd.Series(dtype="float64"), 0, 0)


def taste_model(lab: Lab, *, wait: float | None = None) -> TasteModel:
    """The team's taste model on this lab's log, refitted when a vote, rating or metric was added since the last fit.

    ``wait``: None (the default) waits for the refit. A number of seconds waits at most that long, then gives the model
    fitted before (or an unfitted one, which is not ``ready``) while the refit goes on in a background thread: the
    review queue uses that, so a reviewer never waits on a refit at 100k votes.
    """
    return taste_model_and_fitting(lab, wait=wait)[0]


def taste_model_and_fitting(lab: Lab, *, wait: float | None = None) -> tuple[TasteModel, bool]:
    """:func:`taste_model`, and whether a refit is still under way, read together: asked one after the other, a refit
    ending in between would look done while the model given was the one before it."""
    state = _current.get(lab.log)
    seen = tuple(lab.log.records("SELECT (SELECT count(*) FROM votes) AS v, (SELECT count(*) FROM ratings) AS r, "
                                 "(SELECT count(*) FROM metrics) AS m, (SELECT count(*) FROM embeddings) AS e")[0].values())
    with state.lock:
        if state.model is not None and seen == state.seen:
            return state.model, False  # fitted on what the log holds now: nothing newer to wait for
        if state.refit is None or state.fitting != seen:
            state.fitting = seen
            state.refit = threading.Thread(target=_refit, args=(lab, state, seen), name="taste-refit", daemon=True)
            state.refit.start()
        refit = state.refit
    refit.join(wait)
    with state.lock:
        return (state.model if state.model is not None else UNFITTED), state.refit is not None


def features(lab: Lab) -> tuple[pd.DataFrame, Reduction | None]:
    """Every measured or embedded run's features (metrics by name, ``clip_pc1``…), and how embeddings were reduced."""
    from explorer import embeddings
    from explorer.metrics import table

    values = table(lab.log)
    values.columns = [c.removeprefix("metric_") for c in values.columns]
    pcs, reduction = embeddings.components(lab.log)
    return (values.join(pcs, how="outer") if len(pcs.columns) else values), reduction


def _refit(lab: Lab, state: _Current, seen: tuple) -> None:
    model = None
    try:
        values, reduction = features(lab)
        model = replace(fit(values, lab.votes(), lab.ratings()), embedding=reduction)
    finally:
        with state.lock:  # one step: whoever sees the refit done sees its model too (taste_model_and_fitting)
            if model is not None and (state.seen is None or seen >= state.seen):  # a slower, older refit never overwrites a newer one
                state.model, state.seen = model, seen
            if state.fitting == seen:
                state.refit = None


def predicted_taste(lab: Lab, runs: Iterable[Any], *, wait: float | None = None) -> pd.Series:
    """Predicted taste of each run (ids or Run objects), in the order given; NaN where it has no metrics."""
    from explorer import embeddings
    from explorer.metrics import latest

    ids = [getattr(r, "id", r) for r in runs]
    model = taste_model(lab, wait=wait)
    values = pd.DataFrame.from_dict(latest(lab.log, ids), orient="index")
    if model.embedding is not None:  # projected on the components the model was fitted on
        pcs = model.embedding.apply(embeddings.vectors(lab.log, model.embedding.model, ids))
        values = values.join(pcs, how="outer") if len(values.columns) else pcs
    values = values.reindex(ids)
    return model.scores(values) if model.features else pd.Series(np.nan, index=ids, dtype="float64")


def rank_by_taste(lab: Lab, runs: Iterable[Any]) -> pd.DataFrame:
    """``runs`` (e.g. a sweep's cells) best-predicted first: ``id``, ``taste`` (log-strength), ``rank`` (1 = best).

    Unmeasured runs come last, unranked. ``attrs["model"]`` says what the model learnt from.
    """
    taste = predicted_taste(lab, runs)
    frame = pd.DataFrame({"id": taste.index, "taste": taste.to_numpy()})
    frame = frame.sort_values("taste", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    frame["rank"] = pd.array([i + 1 if pd.notna(t) else pd.NA for i, t in enumerate(frame["taste"])], dtype="Int64")
    frame.attrs["model"] = taste_model(lab).describe()
    return frame


def order_by_taste(lab: Lab, ids: list[str], *, wait: float | None = None) -> list[str]:
    """``ids`` best-predicted first once the model is ready (unmeasured ones after, in their order); else unchanged."""
    if len(ids) < 2 or not taste_model(lab, wait=wait).ready:
        return ids
    taste = predicted_taste(lab, ids, wait=wait)
    return list(taste.sort_values(ascending=False, na_position="last", kind="stable").index)
