"""The widget kit: every widget comes from ``lab.ui`` (anywidget; one Python class beside its .js and .css).

In a notebook::

    lab.ui.player(run)
    lab.ui.compare([a, b, c], blind=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.lab import Lab

__all__ = ["UI"]


class UI:
    """Widgets bound to one lab. Each is logged like any other run, rating, vote or note, as ``lab.author``."""

    def __init__(self, lab: Lab):
        self._lab = lab

    def player(self, run: Any, *, width: int = 320) -> Any:
        """One clip: play/pause, loop, scrub, frame steps, speed; space, ←/→ and ,/. when focused."""
        from explorer.widgets.clip_player import ClipPlayer

        return ClipPlayer(self._lab, run, width=width)

    def compare(self, runs: list[Any], *, blind: bool = False, width: int = 240) -> Any:
        """2–9 clips in a grid, played, paused and scrubbed together; wipe and difference views for two."""
        from explorer.widgets.compare import Compare

        return Compare(self._lab, runs, blind=blind, width=width)

    def rate(self, run: Any, *, blind: bool = False) -> Any:
        """Stars, tags (suggested from the log) and a note, saved the moment they are set."""
        from explorer.widgets.rate import Rater

        return Rater(self._lab, run, blind=blind)

    def annotate(self, run: Any) -> Any:
        """Pause on a frame, draw a box, write a note; click a note to seek to it."""
        from explorer.widgets.annotate import Annotator

        return Annotator(self._lab, run)

    def pairwise(self, runs: list[Any] | None = None, **filters: Any) -> Any:
        """Blind battles: two clips, sides shuffled; ←/→ choose, ↓ tie, s skip; each choice is a logged vote."""
        from explorer.widgets.pairwise import Pairwise

        return Pairwise(self._lab, runs=runs, **filters)

    def gallery(self, **filters: Any) -> Any:
        """The log as pages of thumbnails: filter, sort, open one to play and rate, select several to compare."""
        from explorer.widgets.gallery import Gallery

        return Gallery(self._lab, **filters)

    def lineage(self, run: Any) -> Any:
        """A run's ancestors and descendants as a small tree of thumbnails."""
        from explorer.widgets.lineage import Lineage

        return Lineage(self._lab, run)

    def motion_brush(self, image_or_run: Any, *, prompt: str | None = None, **fields: Any) -> Any:
        """Paint up to five regions on a first frame (a run's, or a picture), set their motion and a camera, Generate, play."""
        from explorer.widgets.motion_brush import MotionBrush

        return MotionBrush(self._lab, image_or_run, prompt=prompt, **fields)

    def generate(self, prompt: str = "", **fields: Any) -> Any:
        """Prompt, controls drawn from the backend, Generate / Variations / Cancel, live preview, a strip of takes."""
        from explorer.widgets.generate_panel import GeneratePanel

        return GeneratePanel(self._lab, prompt=prompt, **fields)

    def atlas(self, *, colour_by: str = "stars", **filters: Any) -> Any:
        """Every measured clip as a point placed by its metrics, coloured by taste; hover plays, lasso to compare or battle."""
        from explorer.widgets.atlas import Atlas

        return Atlas(self._lab, colour_by=colour_by, **filters)

    def sweep(self, base: Any, axes: dict[str, list], *, workers: str | None = None, max_workers: int | None = None, **fields: Any) -> Any:
        """A grid over request fields that fills cell by cell as runs finish; reopen a logged one with ``sweep_id=``.

        ``workers="ray"`` (or ``"ray://HOST:PORT"``) makes the cells on Ray workers, one per device, at most
        ``max_workers``; each cell names the worker that made it (see ``lab.sweep``).
        """
        from explorer.widgets.sweep_grid import SweepGrid

        return SweepGrid(self._lab, base, axes, workers=workers, max_workers=max_workers, **fields)
