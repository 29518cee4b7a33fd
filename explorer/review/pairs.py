"""Which two clips to battle next: the pair where a vote teaches the most."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from explorer.review.bradley_terry import bradley_terry

if TYPE_CHECKING:
    from explorer.lab import Lab

ALL_PAIRS_UP_TO = 150  # candidates; above this, pairs are sampled instead of enumerated
SAMPLED_RUNS = 120  # for many candidates: the least-voted runs the sampled pairs are drawn among
SAMPLED_PAIRS = 400


def next_pair(lab: Lab, candidates: list[str] | None = None, *, exclude: Iterable[frozenset] = frozenset(),
              rng: random.Random | None = None) -> tuple[str, str] | None:
    """The next pair of run ids to compare, or None when fewer than two runs (or no unexcluded pair) remain.

    ``candidates``: run ids (or Run objects) to choose from (default: every succeeded run with media).
    ``exclude``: pairs not to offer, as ``frozenset({a, b})`` (e.g. those already shown this session).
    ``rng``: a ``random.Random`` for reproducible choices. The order within the pair is random too.

    The rule: first the pairs with the fewest votes so far (a vote between a and b counts for
    the pair whichever way it went, ties included), so no pair is shown twice while an
    unseen one is left; among those, a pair is drawn with weight ``exp(-|Δscore|)``, its two
    runs' difference in Bradley–Terry score (``bradley_terry(..., bootstrap=0)`` over the
    votes among the candidates; unvoted runs count as average, 0): a close contest teaches
    more than a foregone one. Up to 150 candidates every pair is considered; beyond that, the
    pairs are drawn at random among the 120 least-voted runs, 400 draws, so 10,000 candidates
    cost about as much as 150.

    >>> import explorer, tempfile, pathlib
    >>> lab = explorer.open(pathlib.Path(tempfile.mkdtemp()) / "log.duckdb", author="me")
    >>> a, b, c = (lab.generate(f"fox {i}", frames=2, width=32, height=32, steps=1, progress=False).id for i in range(3))
    >>> _ = lab.vote(a, b), lab.vote(a, c)
    >>> sorted(next_pair(lab, rng=random.Random(0))) == sorted([b, c])  # the only pair without a vote
    True
    >>> next_pair(lab, [a]) is None
    True
    >>> lab.log.close()
    """
    rng = rng or random.Random()
    if candidates is None:
        runs = lab.runs(status="succeeded", sort="oldest")
        candidates = [i for i, sha in zip(runs["id"], runs["media_sha256"]) if isinstance(sha, str) and sha]
    ids = list(dict.fromkeys(getattr(c, "id", c) for c in candidates))  # unique, order kept; Run objects allowed
    if len(ids) < 2:
        return None
    excluded = {frozenset(p) for p in exclude}
    inside = set(ids)
    votes = lab.votes()
    if len(votes):
        mask = votes["winner_id"].isin(inside) & votes["loser_id"].isin(inside) & (votes["winner_id"] != votes["loser_id"])
        votes = votes.loc[mask, ["winner_id", "loser_id", "tie"]]
    pair_votes = Counter(frozenset(p) for p in zip(votes["winner_id"], votes["loser_id"])) if len(votes) else Counter()
    run_votes = Counter(votes["winner_id"]) + Counter(votes["loser_id"]) if len(votes) else Counter()

    if len(ids) <= ALL_PAIRS_UP_TO:
        pool = ids
        pairs = [frozenset(p) for p in itertools.combinations(ids, 2)]
    else:
        pool, pairs = _sampled_pairs(ids, run_votes, rng)
    pairs = [p for p in pairs if p not in excluded]
    if not pairs and len(ids) > ALL_PAIRS_UP_TO:  # the sample hit only excluded pairs: fall back to every pair
        pool = ids
        pairs = [frozenset(p) for p in itertools.combinations(ids, 2) if frozenset(p) not in excluded]
    if not pairs:
        return None

    fewest = min(pair_votes[p] for p in pairs)
    pairs = [sorted(p) for p in pairs if pair_votes[p] == fewest]
    score = _scores(votes, set(pool))
    weights = [math.exp(-abs(score.get(a, 0.0) - score.get(b, 0.0))) for a, b in pairs]
    a, b = rng.choices(pairs, weights=weights)[0]
    return (a, b) if rng.random() < 0.5 else (b, a)


def _scores(votes: pd.DataFrame, pool: set) -> dict:
    """Quick Bradley–Terry scores of the runs in ``pool`` from the votes among them (no intervals)."""
    if not len(votes):
        return {}
    among = votes[votes["winner_id"].isin(pool) & votes["loser_id"].isin(pool)]
    if not len(among):
        return {}
    bt = bradley_terry(among, bootstrap=0)
    return {item: s for item, s in zip(bt["item"], bt["score"]) if not math.isnan(s)}


def _sampled_pairs(ids: list[str], run_votes: Counter, rng: random.Random) -> tuple[list[str], list[frozenset]]:
    """A few hundred candidate pairs among the least-voted runs, without enumerating every pair."""
    order = sorted(ids, key=lambda i: (run_votes[i], rng.random()))  # least-voted first, ties at random
    pool = order[:SAMPLED_RUNS]
    pairs = set()
    for _ in range(SAMPLED_PAIRS):
        a, b = rng.sample(pool, 2)
        pairs.add(frozenset((a, b)))
    return pool, list(pairs)
