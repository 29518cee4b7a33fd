"""The widget kit: every widget comes from ``lab.ui`` (anywidget; one Python class beside its .js and .css)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from explorer.widgets.clip_player import ClipPlayer

if TYPE_CHECKING:
    from explorer.lab import Lab

__all__ = ["ClipPlayer", "UI"]


class UI:
    """Widgets bound to one lab: ``lab.ui.player(run)`` and friends."""

    def __init__(self, lab: Lab):
        self._lab = lab

    def player(self, run: Any, *, width: int = 320) -> ClipPlayer:
        """One clip: play/pause, loop, scrub, frame steps, speed; space, ←/→ and ,/. when focused."""
        return ClipPlayer(self._lab, run, width=width)
