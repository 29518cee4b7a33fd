"""Which two clips to battle next: two takes of the same idea, where a vote teaches the most."""

from __future__ import annotations

import itertools
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pandas as pd

from explorer.review.bradley_terry import bradley_terry

if TYPE_CHECKING:
    from explorer.lab import Lab

ALL_PAIRS_UP_TO = 150  # candidates; above this, pairs are sampled instead of enumerated
RELATED_PAIRS_UP_TO = ALL_PAIRS_UP_TO * (ALL_PAIRS_UP_TO - 1) // 2  # related pairs; above this, they are sampled too
SAMPLED_RUNS = 120  # for many candidates: the least-voted runs the sampled pairs are drawn among
SAMPLED_PAIRS = 400
LIGHT_TAKES = 8  # sampled related pairs: a least-voted run against one of the 8 least-voted takes of its idea
UNRELATED = "no more takes of the same idea; this pair is unrelated"


class Pair(tuple):
    """Two run ids (a plain tuple to compare and unpack) that also say why they were paired.

    ``related``: True when the two are takes of one idea (same prompt, cells of one sweep, a fork and
    its parent, forks of one parent); ``reason``: that relation in words, or why the pair is unrelated.
    """

    related: bool
    reason: str

    def __new__(cls, a: str, b: str, related: bool = True, reason: str = "") -> Pair:
        pair = super().__new__(cls, (a, b))
        pair.related, pair.reason = related, reason
        return pair

    def __getnewargs__(self) -> tuple:  # copy and pickle keep the flags
        return (self[0], self[1], self.related, self.reason)


def next_pair(lab: Lab, candidates: list[str] | None = None, *, exclude: Iterable[frozenset] = frozenset(),
              rng: random.Random | None = None) -> Pair | None:
    """The next pair of run ids to compare, or None when fewer than two runs (or no unexcluded pair) remain.

    ``candidates``: run ids (or Run objects) to choose from (default: every succeeded run with media).
    ``exclude``: pairs not to offer, as ``frozenset({a, b})`` (e.g. those already shown this session).
    ``rng``: a ``random.Random`` for reproducible choices. The order within the pair is random too.

    A battle compares takes of one idea: two runs are *related* when their prompts match (case,
    spacing and punctuation aside), they are cells of one sweep, one is a fork of the other, or
    both are forks of one parent. Related pairs come first; only when none is left (all excluded)
    is an unrelated pair offered, and the result says so: ``pair.related`` is False and
    ``pair.reason`` reads "no more takes of the same idea; this pair is unrelated". For a related
    pair ``pair.reason`` names the relation ("same prompt", "same sweep", "fork and parent",
    "forks of one parent"). The result is a tuple subclass: it unpacks and compares as ``(a, b)``.

    Among the pairs on offer, the rule: first the pairs with the fewest votes so far (a vote
    between a and b counts for the pair whichever way it went, ties included), so no pair is
    shown twice while an unseen one is left; among those, a pair is drawn with weight
    ``exp(-|Δscore|)``: a close contest teaches more than a foregone one. Once the team's taste
    model is ready (:mod:`explorer.review.taste`: learnt from 20 comparisons or more) the score is
    its predicted taste, so the pair drawn is one where the model is least sure; before that, it
    is the runs' Bradley–Terry score (``bradley_terry(..., bootstrap=0)`` over the votes among
    them; unvoted runs count as average, 0). Up to 150 candidates (and
    up to 11,175 related pairs) every pair is considered; beyond that, pairs are drawn at random
    around the 120 least-voted runs, 400 draws, so 10,000 candidates cost about as much as 150.

    >>> import explorer, tempfile, pathlib
    >>> lab = explorer.open(pathlib.Path(tempfile.mkdtemp()) / "log.duckdb", author="me")
    >>> a, b, c = (lab.generate("a fox", seed=i, frames=2, width=32, height=32, steps=1, progress=False).id for i in range(3))
    >>> galaxy = lab.generate("a galaxy", frames=2, width=32, height=32, steps=1, progress=False).id
    >>> _ = lab.vote(a, b), lab.vote(a, c)
    >>> pair = next_pair(lab, rng=random.Random(0))
    >>> sorted(pair) == sorted([b, c]), pair.related, pair.reason  # the only take-vs-take pair without a vote
    (True, True, 'same prompt')
    >>> late = next_pair(lab, exclude=[{a, b}, {a, c}, {b, c}], rng=random.Random(0))
    >>> galaxy in late, late.related  # no fox-vs-fox pair left: an unrelated one, flagged
    (True, False)
    >>> next_pair(lab, [a]) is None
    True
    >>> lab.log.close()
    """
    rng = rng or random.Random()
    meta = None
    if candidates is None:
        runs = lab.runs(status="succeeded", sort="oldest")
        runs = runs.loc[[isinstance(sha, str) and bool(sha) for sha in runs["media_sha256"]]] if len(runs) else runs
        candidates, meta = list(runs["id"]), runs
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

    taste = _taste(lab, ids)
    groups = _groups(lab, ids, meta)
    related = _related_pairs(groups, run_votes, excluded, rng)
    if related:
        return _draw(related, pair_votes, votes, rng, related=True, taste=taste)

    if len(ids) <= ALL_PAIRS_UP_TO:
        pairs = [frozenset(p) for p in itertools.combinations(ids, 2)]
    else:
        pairs = _sampled_pairs(ids, run_votes, rng)
    pairs = [p for p in pairs if p not in excluded]
    if not pairs and len(ids) > ALL_PAIRS_UP_TO:  # the sample hit only excluded pairs: look further, lazily
        pairs = list(itertools.islice((p for p in map(frozenset, itertools.combinations(ids, 2)) if p not in excluded), SAMPLED_PAIRS))
    if not pairs:
        return None
    return _draw({p: UNRELATED for p in pairs}, pair_votes, votes, rng, related=False, taste=taste)


def normalise_prompt(prompt: object) -> str:
    """A prompt as compared for "same idea": lower case, words only ("A fox, running!" == "a fox running")."""
    return " ".join(re.findall(r"\w+", prompt.lower())) if isinstance(prompt, str) else ""


# -- relations -----------------------------------------------------------------------------------

# (kind of group, what a pair within it is called); a pair in several groups takes the first reason
_REASONS = {"prompt": "same prompt", "sweep": "same sweep", "family": "fork and parent"}


def _groups(lab: Lab, ids: list[str], meta: pd.DataFrame | None) -> dict[tuple, list[str]]:
    """Groups of candidates that are takes of one idea, keyed by (kind, value); only groups of two or more."""
    if meta is None:
        meta = lab.sql("SELECT id, prompt, sweep_id, parent_id FROM runs WHERE id IN (SELECT unnest(?))", [ids])
    groups: dict[tuple, list[str]] = {}
    inside = set(ids)
    for run_id, prompt, sweep, parent in zip(meta["id"], meta["prompt"], meta["sweep_id"], meta["parent_id"]):
        if run_id not in inside:
            continue
        text = normalise_prompt(prompt)
        if text:
            groups.setdefault(("prompt", text), []).append(run_id)
        if isinstance(sweep, str) and sweep:
            groups.setdefault(("sweep", sweep), []).append(run_id)
        # a family is a run and its forks: pairs in it are a fork and its parent, or two forks of one parent
        groups.setdefault(("family", run_id), []).append(run_id)
        if isinstance(parent, str) and parent:  # (if the parent is no candidate, its forks are still siblings)
            groups.setdefault(("family", parent), []).append(run_id)
    return {key: list(dict.fromkeys(members)) for key, members in groups.items() if len(set(members)) > 1}


def _reason(kind: str, a: str, b: str, key: tuple) -> str:
    if kind == "family" and key[1] not in (a, b):
        return "forks of one parent"
    return _REASONS[kind]


def _all_related(groups: dict[tuple, list[str]]) -> Iterator[tuple[frozenset, str]]:
    for key in sorted(groups, key=lambda k: list(_REASONS).index(k[0])):
        for a, b in itertools.combinations(groups[key], 2):
            yield frozenset((a, b)), _reason(key[0], a, b, key)


def _related_pairs(groups: dict[tuple, list[str]], run_votes: Counter, excluded: set[frozenset],
                   rng: random.Random) -> dict[frozenset, str]:
    """Related pairs on offer (pair -> reason): every one when there are few, else a sample around the least-voted runs."""
    total = sum(len(m) * (len(m) - 1) // 2 for m in groups.values())
    if not total:
        return {}
    pairs: dict[frozenset, str] = {}
    if total <= RELATED_PAIRS_UP_TO:
        for pair, reason in _all_related(groups):
            if pair not in excluded:
                pairs.setdefault(pair, reason)
        return pairs
    member_of: dict[str, list[tuple]] = {}
    for key, members in groups.items():
        for run_id in members:
            member_of.setdefault(run_id, []).append(key)
    pool = sorted(member_of, key=lambda i: (run_votes[i], rng.random()))[:SAMPLED_RUNS]  # least-voted first
    light: dict[tuple, list[str]] = {}  # each group's few least-voted members: the other side of a drawn pair
    for key in {key for run_id in pool for key in member_of[run_id]}:
        light[key] = sorted(groups[key], key=lambda i: (run_votes[i], rng.random()))[:LIGHT_TAKES]
    for k in range(SAMPLED_PAIRS):
        a = pool[k % len(pool)]
        key = rng.choice(member_of[a])
        b = rng.choice([m for m in light[key] if m != a])
        pair = frozenset((a, b))
        if a != b and pair not in excluded:
            pairs.setdefault(pair, _reason(key[0], a, b, key))
    if not pairs:  # the sample hit only excluded pairs: look further, lazily
        for pair, reason in _all_related(groups):
            if pair not in excluded:
                pairs.setdefault(pair, reason)
                if len(pairs) >= SAMPLED_PAIRS:
                    break
    return pairs


# -- choosing among the pairs on offer -------------------------------------------------------------


def _draw(offer: dict[frozenset, str], pair_votes: Counter, votes: pd.DataFrame, rng: random.Random, *, related: bool,
          taste: dict[str, float] | None = None) -> Pair:
    """Fewest votes first; among those, close contests more often (as the taste model predicts, or the votes say); sides at random."""
    fewest = min(pair_votes[p] for p in offer)
    pairs = [(sorted(p), offer[p]) for p in offer if pair_votes[p] == fewest]
    pairs.sort()  # reproducible whatever the dict order
    score = taste or _scores(votes, {run_id for p in offer for run_id in p})
    weights = [math.exp(-abs(score.get(a, 0.0) - score.get(b, 0.0))) for (a, b), _ in pairs]
    (a, b), reason = rng.choices(pairs, weights=weights)[0]
    return Pair(a, b, related, reason) if rng.random() < 0.5 else Pair(b, a, related, reason)


def _taste(lab: Lab, ids: list[str]) -> dict[str, float]:
    """The taste model's predicted scores of ``ids`` once it is ready (unmeasured runs count as average), else {}."""
    from explorer.review.taste import QUEUE_WAIT, predicted_taste, taste_model

    if not taste_model(lab, wait=QUEUE_WAIT).ready:
        return {}
    return {run_id: (0.0 if math.isnan(s) else float(s)) for run_id, s in predicted_taste(lab, ids, wait=QUEUE_WAIT).items()}


def _scores(votes: pd.DataFrame, pool: set) -> dict:
    """Quick Bradley–Terry scores of the runs in ``pool`` from the votes among them (no intervals)."""
    if not len(votes):
        return {}
    among = votes[votes["winner_id"].isin(pool) & votes["loser_id"].isin(pool)]
    if not len(among):
        return {}
    bt = bradley_terry(among, bootstrap=0)
    return {item: s for item, s in zip(bt["item"], bt["score"]) if not math.isnan(s)}


def _sampled_pairs(ids: list[str], run_votes: Counter, rng: random.Random) -> list[frozenset]:
    """A few hundred candidate pairs among the least-voted runs, without enumerating every pair."""
    order = sorted(ids, key=lambda i: (run_votes[i], rng.random()))  # least-voted first, ties at random
    pool = order[:SAMPLED_RUNS]
    pairs = set()
    for _ in range(SAMPLED_PAIRS):
        a, b = rng.sample(pool, 2)
        pairs.add(frozenset((a, b)))
    return list(pairs)
