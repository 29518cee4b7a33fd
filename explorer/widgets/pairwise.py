"""Pairwise: blind battles between two clips; each choice is a logged vote and the next pair appears at once."""

from __future__ import annotations

import random
from typing import Any

import traitlets

from explorer.review import next_pair
from explorer.widgets._base import ExplorerWidget

# What the browser gets of a clip in a blind battle: enough to play it, nothing that gives it away.
BLIND_KEYS = ("id", "sha256", "frames", "fps", "width", "height")


class Pairwise(ExplorerWidget):
    """``lab.ui.pairwise(runs=None, **filters)``: two clips side by side, sides shuffled, prompt/model/seed hidden.

    ``runs``: the candidates (ids or Runs); otherwise every succeeded run with media matching
    ``filters`` (as for ``lab.runs``: text, tag, author, backend, model, min_rating, ...).
    Keys when focused: ← or a = left wins, → or l = right wins, ↓ or t = tie, s = skip.
    A pair shown once in this widget is not offered again. Pairs are takes of one idea (same prompt,
    one sweep, a fork and its parent: see :func:`explorer.review.next_pair`); when none is left, an
    unrelated pair is offered and ``notice`` says so.
    """

    _module = traitlets.Unicode("pairwise").tag(sync=True)
    left = traitlets.Dict().tag(sync=True)
    right = traitlets.Dict().tag(sync=True)
    votes = traitlets.Int(0).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)  # e.g. "no more takes of the same idea; this pair is unrelated"

    def __init__(self, lab: Any, runs: list[Any] | None = None, *, rng: random.Random | None = None, **filters: Any):
        super().__init__(lab)
        self._rng = rng or random.Random()
        self._filters = filters
        self._runs = None if runs is None else [lab.log.resolve(getattr(r, "id", r)) for r in runs]
        self._shown: set[frozenset] = set()
        self.history: list[dict[str, Any]] = []  # this session's choices: {"left", "right", "choice", "vote"}
        self._guard(self._advance)

    # -- choosing ------------------------------------------------------------------

    def choose(self, choice: str) -> str | None:
        """Record ``"left"``, ``"right"``, ``"tie"`` or ``"skip"`` for the pair on screen; returns the vote id (None for skip)."""
        left, right = self.left.get("id"), self.right.get("id")
        if not left or not right:
            raise ValueError("no pair on screen")
        if choice not in ("left", "right", "tie", "skip"):
            raise ValueError(f"choice: one of left, right, tie, skip (got {choice!r})")
        vote_id = None
        if choice == "left":
            vote_id = self._lab.vote(left, right)
        elif choice == "right":
            vote_id = self._lab.vote(right, left)
        elif choice == "tie":
            vote_id = self._lab.vote(left, right, tie=True)  # the log keeps the left clip as "winner" of a tie
        self.history.append({"left": left, "right": right, "choice": choice, "vote": vote_id})
        if vote_id:
            self.votes += 1
        self._advance()
        return vote_id

    def _candidates(self) -> list[str] | None:
        if self._runs is not None:
            return self._runs
        if not self._filters:
            return None  # next_pair's default: every succeeded run with media
        runs = self._lab.runs(**{"status": "succeeded", **self._filters})
        return [i for i, sha in zip(runs["id"], runs["media_sha256"]) if isinstance(sha, str) and sha]

    def _advance(self) -> None:
        pair = next_pair(self._lab, self._candidates(), exclude=self._shown, rng=self._rng)
        if pair is None:
            self.left, self.right, self.notice = {}, {}, ""
            self.message = ("No pairs left: every pair has been shown in this session." if self._shown
                            else "Nothing to compare yet: pairwise needs at least two finished clips.")
            return
        self._shown.add(frozenset(pair))
        a, b = pair if self._rng.random() < 0.5 else pair[::-1]  # shuffle sides
        with self.hold_sync():  # the pair and its notice reach the browser together
            self.left, self.right = self._blind(a), self._blind(b)
            self.notice = "" if pair.related else pair.reason
            self.message = ""

    def _blind(self, run_id: str) -> dict[str, Any]:
        clip = self._clip(run_id)
        return {k: clip[k] for k in BLIND_KEYS}

    # -- from the browser ----------------------------------------------------------

    def on_message(self, content: dict, buffers: list) -> None:
        if content.get("type") != "choose":
            return
        # ignore a stale press (a key held down, a double click) meant for a pair no longer on screen
        if content.get("left") != self.left.get("id") or content.get("right") != self.right.get("id"):
            return
        self._guard(self.choose, content.get("choice"))

    def _fallback_html(self) -> str | None:
        return f"<p>Clip Explorer pairwise: {self.votes} votes this session (open in JupyterLab to vote).</p>"
