"""ClipPlayer: one clip, frame-accurate: play/pause, loop, scrub, step, speed; keys space, ←/→ and ,/."""

from __future__ import annotations

from typing import Any

import traitlets

from explorer.widgets._base import ExplorerWidget, video_html


class ClipPlayer(ExplorerWidget):
    """``lab.ui.player(run)``; ``frame`` follows the player and can be set from Python to seek."""

    _module = traitlets.Unicode("clip_player").tag(sync=True)
    clip = traitlets.Dict().tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    width = traitlets.Int(320).tag(sync=True)

    def __init__(self, lab: Any, run: Any, *, width: int = 320, **kwargs: Any):
        super().__init__(lab, **kwargs)
        self.clip = self._clip(getattr(run, "id", run))
        self.width = width

    def _fallback_html(self) -> str | None:
        return video_html(self._lab, self.clip.get("sha256"), width=self.width)
