"""Which two clips to battle next.

The rule is deliberately simple: among all pairs of candidate runs, take one of
those with the fewest votes so far (a vote between a and b counts for the pair
whichever way it went, ties included), choosing at random among equals. That
spreads the votes evenly and never shows a pair twice while an unseen one is
left. A Bradley–Terry-informed sampler will replace it; the signature stays.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explorer.lab import Lab


def next_pair(lab: Lab, candidates: list[str] | None = None, *, exclude: Iterable[frozenset] = frozenset(),
              rng: random.Random | None = None) -> tuple[str, str] | None:
    """The next pair of run ids to compare, or None when fewer than two runs (or no unexcluded pair) remain.

    ``candidates``: run ids to choose from (default: every succeeded run with media).
    ``exclude``: pairs not to offer, as ``frozenset({a, b})`` (e.g. those already shown this session).
    ``rng``: a ``random.Random`` for reproducible choices. The order within the pair is random too.
    """
    rng = rng or random.Random()
    if candidates is None:
        runs = lab.runs(status="succeeded", sort="oldest")
        candidates = [i for i, sha in zip(runs["id"], runs["media_sha256"]) if isinstance(sha, str) and sha]
    ids = list(dict.fromkeys(getattr(c, "id", c) for c in candidates))  # unique, order kept; Run objects allowed
    if len(ids) < 2:
        return None
    excluded = {frozenset(p) for p in exclude}
    pairs = [frozenset(p) for p in itertools.combinations(ids, 2)]
    pairs = [p for p in pairs if p not in excluded]
    if not pairs:
        return None
    votes = lab.votes()
    counts = Counter(frozenset((w, l)) for w, l in zip(votes["winner_id"], votes["loser_id"])) if len(votes) else Counter()
    fewest = min(counts[p] for p in pairs)
    a, b = rng.choice([sorted(p) for p in pairs if counts[p] == fewest])
    return (a, b) if rng.random() < 0.5 else (b, a)
