"""Which measurement predicts the team's taste, as the review panel shows it (``GET /explorer/api/metric-agreement``).

One JSON-safe answer: each metric's pairwise accuracy against the votes with its bootstrap 95 % interval and its
rank correlation with each reviewer's stars (:func:`explorer.review.metric_agreement.metric_agreement`), the team's
taste model above them (held-out accuracy, its interval, the votes it learnt from), and the 61–74 % that learned
video reward models reach, as the reference band. Asked again on an unchanged log it is not recomputed; the taste
model is waited on for at most ``wait`` seconds, so a panel never hangs on a refit: until it is done the answer says
``fitting`` and gives the model fitted before (or none).
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from explorer.log.per_log import PerLog

if TYPE_CHECKING:
    from explorer.lab import Lab

BOOTSTRAP = 1000


class _Cached:
    def __init__(self, log: Any):
        self.lock = threading.Lock()
        self.seen: tuple | None = None
        self.metrics: dict[str, Any] | None = None


_cached: PerLog[_Cached] = PerLog(_Cached)


def taste_report(lab: Lab, *, wait: float | None = None) -> dict[str, Any]:
    """``{"metrics": [...], "reviewers": {...}, "reference": {...}, "taste": {...}, "votes": n}`` (see openapi.yaml)."""
    from explorer.review.taste import taste_model, taste_model_and_fitting

    taste_model(lab, wait=0)  # first: it starts a refit in the background, the metrics below run meanwhile
    agreement = _metric_rows(lab)
    taste, busy = taste_model_and_fitting(lab, wait=wait)  # read together: "not fitting" always comes with its model
    taste_dict = taste.to_dict()
    taste_dict["fitting"] = busy
    taste_dict["fitted"] = bool(taste.features)  # False: no model yet (still fitting, or nothing to learn from)
    return {**agreement, "taste": _clean(taste_dict)}


def _metric_rows(lab: Lab) -> dict[str, Any]:
    from explorer.review.metric_agreement import REFERENCE, metric_agreement

    state = _cached.get(lab.log)
    seen = tuple(lab.log.records("SELECT (SELECT count(*) FROM votes) AS v, (SELECT count(*) FROM ratings) AS r, "
                                 "(SELECT count(*) FROM metrics) AS m")[0].values())
    with state.lock:
        if state.seen == seen and state.metrics is not None:
            return state.metrics
    table = metric_agreement(lab, bootstrap=BOOTSTRAP)
    rho = [c for c in table.columns if c.startswith("rho_")]
    rows = [{"metric": r["metric"], "accuracy": _num(r["accuracy"]), "low": _num(r["low"]), "high": _num(r["high"]),
             "direction": r["direction"] if isinstance(r["direction"], str) else None, "votes": int(_num(r["votes"]) or 0),
             "ties": int(_num(r["ties"]) or 0), "rho": {c.removeprefix("rho_"): _num(r[c]) for c in rho}}
            for r in table.to_dict("records")]
    answer = {"metrics": rows, "reviewers": {a: int(n) for a, n in table.attrs.get("reviewers", {}).items()},
              "reference": dict(REFERENCE), "votes": int(seen[0])}
    with state.lock:
        state.seen, state.metrics = seen, answer
    return answer


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clean(value: Any) -> Any:
    """NaN and infinities to None, all the way down (the API's JSON never holds NaN)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value
