"""Atlas: every measured clip as a point in 2-D by its metrics, coloured by taste; hover plays, a lasso selects."""

from __future__ import annotations

import random
from typing import Any

import traitlets

from explorer.atlas import COLOUR_BY, FILTERS, atlas, check
from explorer.review import next_pair
from explorer.widgets._base import ExplorerWidget
from explorer.widgets.differences import labelled_clips
from explorer.widgets.pairwise import BLIND_KEYS

UNMEASURED_SHOWN = 20  # ids of unmeasured clips listed by name; the rest only counted


class Atlas(ExplorerWidget):
    """``lab.ui.atlas(colour_by="stars"|"bt"|"taste", text=, tag=, author=, backend=, model=, min_rating=)``.

    ``points`` holds the layout as parallel arrays (``ids``, ``x``, ``y`` as 0..``grid`` integers, ``colour``);
    the browser draws them on a canvas. ``selected`` holds the lassoed run ids; "Compare" shows them in the atlas on
    one clock (as the gallery's compare does), :meth:`compare` opens them in ``lab.ui.compare``; "Battle" offers
    pairs among them blind, as ``lab.ui.pairwise`` does (:func:`explorer.review.next_pair`), each choice a logged vote.
    """

    _module = traitlets.Unicode("atlas").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    tag = traitlets.Unicode("").tag(sync=True)
    author = traitlets.Unicode("").tag(sync=True)
    backend = traitlets.Unicode("").tag(sync=True)
    model = traitlets.Unicode("").tag(sync=True)
    min_rating = traitlets.Int(0).tag(sync=True)
    colour_by = traitlets.Unicode("stars").tag(sync=True)
    points = traitlets.Dict().tag(sync=True)  # {"ids", "x", "y", "colour", "grid"}: compact arrays, not a dict per clip
    legend = traitlets.Dict().tag(sync=True)  # {"label", "low", "high", "known", "unknown", "features", "note", ...}
    unmeasured = traitlets.Int(0).tag(sync=True)
    unmeasured_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)  # the first UNMEASURED_SHOWN of them
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    comparing = traitlets.Dict().tag(sync=True)
    battle = traitlets.Dict().tag(sync=True)  # {"left", "right", "notice", "votes"} ({} when closed)
    options = traitlets.Dict().tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lab: Any, *, colour_by: str = "stars", rng: random.Random | None = None, **filters: Any):
        filters = {k: ("" if v is None else v) for k, v in filters.items()}
        check(colour_by, filters)  # named errors before any work
        self._quiet = True
        super().__init__(lab, colour_by=colour_by, **filters)
        self._quiet = False
        self._rng = rng or random.Random()
        self._battle_pool: list[str] = []
        self._shown: set[frozenset] = set()
        self.data = None
        self._guard(self.refresh)

    # -- layout ---------------------------------------------------------------------

    def _filters(self) -> dict[str, Any]:
        f: dict[str, Any] = {k: getattr(self, k).strip() for k in ("text", "tag", "author", "backend", "model") if getattr(self, k).strip()}
        if self.min_rating > 0:
            f["min_rating"] = self.min_rating
        return f

    def refresh(self) -> None:
        """Lay out the clips matching the filters again and colour them; updates ``points``, ``legend``, ``unmeasured``."""
        data = atlas(self._lab, self.colour_by, **self._filters())
        self.data = data
        placed = set(data.ids)
        self._quiet = True
        try:
            with self.hold_sync():
                self.points = data.payload()
                self.legend = data.legend()
                self.unmeasured = len(data.unmeasured)
                self.unmeasured_ids = data.unmeasured[:UNMEASURED_SHOWN]
                self.selected = [i for i in self.selected if i in placed]
                self.options = self._options()
                self.message = ""
        finally:
            self._quiet = False

    def _options(self) -> dict[str, list[str]]:
        distinct = self._lab.sql("SELECT list(DISTINCT author) AS a, list(DISTINCT backend) AS b, list(DISTINCT model) AS m FROM runs")
        pick = lambda col: sorted(v for v in (distinct[col].iloc[0] if distinct[col].iloc[0] is not None else []) if isinstance(v, str) and v)
        return {"tags": self._lab.tags(), "authors": pick("a"), "backends": pick("b"), "models": pick("m"),
                "colour_by": [[k, v] for k, v in COLOUR_BY.items()]}

    @traitlets.observe(*FILTERS, "colour_by")
    def _on_filter(self, change: dict) -> None:
        if not self._quiet:
            self._guard(self._checked_refresh)

    def _checked_refresh(self) -> None:
        check(self.colour_by, self._filters())
        self.refresh()

    # -- actions ---------------------------------------------------------------------

    def select(self, ids: list[Any]) -> None:
        """Select runs (ids or Runs) as a lasso would; ids not on the map are left out."""
        placed = set(self.points.get("ids", []))
        self.selected = [i for i in dict.fromkeys(getattr(r, "id", r) for r in ids) if i in placed]

    def show_compare(self, ids: list[str] | None = None) -> None:
        """Compare ``ids`` (default: the selection) inside the atlas, labelled by what differs; ``[]`` closes it."""
        self.comparing = labelled_clips(self._lab, list(self.selected if ids is None else ids), self._clip)

    def compare(self, **kwargs: Any) -> Any:
        """``lab.ui.compare(selected)``: the selection in the Compare widget."""
        if len(self.selected) < 2:
            raise ValueError("select at least two clips to compare")
        return self._lab.ui.compare(list(self.selected), **kwargs)

    def pairwise(self) -> Any:
        """``lab.ui.pairwise(runs=selected)``: blind battles among the selection in their own widget."""
        if len(self.selected) < 2:
            raise ValueError("select at least two clips for a battle")
        return self._lab.ui.pairwise(runs=list(self.selected))

    def start_battle(self, ids: list[str] | None = None) -> None:
        """Blind battles among ``ids`` (default: the selection) inside the atlas; ``[]`` closes them."""
        ids = list(self.selected if ids is None else ids)
        if not ids:
            self.battle = {}
            return
        if len(ids) < 2:
            raise ValueError("select at least two clips for a battle")
        self._battle_pool, self._shown = ids, set()
        self._next_battle(votes=0)

    def choose(self, choice: str) -> str | None:
        """``"left"``, ``"right"``, ``"tie"`` or ``"skip"`` for the battle on screen; returns the vote id (None for skip)."""
        left, right = self.battle.get("left", {}).get("id"), self.battle.get("right", {}).get("id")
        if not left or not right:
            raise ValueError("no battle on screen")
        if choice not in ("left", "right", "tie", "skip"):
            raise ValueError(f"choice: one of left, right, tie, skip (got {choice!r})")
        vote_id = None
        if choice == "left":
            vote_id = self._lab.vote(left, right)
        elif choice == "right":
            vote_id = self._lab.vote(right, left)
        elif choice == "tie":
            vote_id = self._lab.vote(left, right, tie=True)
        self._next_battle(votes=self.battle.get("votes", 0) + (vote_id is not None))
        if vote_id and self.colour_by == "bt":
            self.refresh()  # the colours follow the new vote
        return vote_id

    def _next_battle(self, *, votes: int) -> None:
        pair = next_pair(self._lab, self._battle_pool, exclude=self._shown, rng=self._rng)
        if pair is None:
            self.battle = {"left": {}, "right": {}, "votes": votes, "notice": "Every pair in this selection has been shown."}
            return
        self._shown.add(frozenset(pair))
        a, b = pair if self._rng.random() < 0.5 else pair[::-1]  # shuffle sides
        blind = lambda run_id: {k: v for k, v in self._clip(run_id).items() if k in BLIND_KEYS}
        self.battle = {"left": blind(a), "right": blind(b), "votes": votes, "notice": "" if pair.related else pair.reason}

    def hover_clip(self, run_id: str) -> dict[str, Any]:
        """What the floating player needs of a clip: its media, size, prompt and taste."""
        clip = self._clip(run_id)
        keys = ("id", "sha256", "frames", "fps", "width", "height", "prompt", "seed", "model", "backend")
        return {k: clip[k] for k in keys}

    # -- from the browser ---------------------------------------------------------------

    def on_message(self, content: dict, buffers: list) -> None:
        kind = content.get("type")
        if kind == "clip":
            self._guard(lambda: self.send({"type": "clip", "clip": self.hover_clip(str(content["id"]))}))
        elif kind == "select":
            self._guard(self.select, list(content.get("ids") or []))
        elif kind == "query":
            self._guard(self._query, content)
        elif kind == "compare":
            self._guard(self.show_compare, content.get("ids"))
        elif kind == "battle":
            self._guard(self.start_battle, content.get("ids"))
        elif kind == "choose" and (content.get("left"), content.get("right")) == (
                self.battle.get("left", {}).get("id"), self.battle.get("right", {}).get("id")):  # a stale press is ignored
            self._guard(self.choose, content.get("choice"))

    def _query(self, content: dict) -> None:
        self._quiet = True
        try:
            for key in ("text", "tag", "author", "backend", "model", "colour_by"):
                if key in content:
                    setattr(self, key, str(content[key] or ""))
            if "min_rating" in content:
                self.min_rating = int(content["min_rating"] or 0)
        finally:
            self._quiet = False
        self._checked_refresh()

    def _fallback_html(self) -> str | None:
        return (f"<p>Clip Explorer atlas: {len(self.points.get('ids', []))} clips placed, {self.unmeasured} unmeasured "
                "(open in JupyterLab to explore).</p>")
