"""Compare: 2–9 clips in a grid, played, paused, stepped and scrubbed together from one control bar.

For exactly two clips a view switch adds *wipe* (one clip over the other, a draggable divider) and
*difference* (|A − B| per pixel, amplified). Each tile is labelled by what differs between the clips
(``guidance 3`` / ``guidance 9``, ``+neon``), with what they all share above; ``blind`` hides both.
"""

from __future__ import annotations

import math
from typing import Any

import traitlets

from explorer.widgets._base import ExplorerWidget, video_html
from explorer.widgets.differences import describe_differences, run_requests

MIN_CLIPS, MAX_CLIPS = 2, 9
VIEWS = ("side", "wipe", "difference")


class Compare(ExplorerWidget):
    """``lab.ui.compare([a, b, c], blind=False, width=240)``; ``frame`` is the shared position (set it to seek all)."""

    _module = traitlets.Unicode("compare").tag(sync=True)
    clips = traitlets.List(traitlets.Dict()).tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    blind = traitlets.Bool(False).tag(sync=True)
    width = traitlets.Int(240).tag(sync=True)
    view = traitlets.Unicode("side").tag(sync=True)
    columns = traitlets.Int(1).tag(sync=True)
    shared = traitlets.Unicode("").tag(sync=True)  # what every clip has in common; each clip's "label" says what differs

    def __init__(self, lab: Any, runs: Any, *, blind: bool = False, width: int = 240, **kwargs: Any):
        if isinstance(runs, (str, bytes)) or not hasattr(runs, "__iter__"):
            raise ValueError(f"compare: give a list of {MIN_CLIPS} to {MAX_CLIPS} runs (got {type(runs).__name__})")
        ids = [getattr(r, "id", r) for r in runs]
        if not MIN_CLIPS <= len(ids) <= MAX_CLIPS:
            raise ValueError(f"compare: give {MIN_CLIPS} to {MAX_CLIPS} runs (got {len(ids)})")
        if not isinstance(width, int) or isinstance(width, bool) or not 64 <= width <= 2048:
            raise ValueError(f"compare: width must be a whole number of pixels from 64 to 2048 (got {width!r})")
        super().__init__(lab, **kwargs)
        clips = [self._clip(i) for i in ids]
        missing = [f"{c['id']} ({c['status']})" for c in clips if not c.get("sha256")]
        if missing:
            raise ValueError(f"compare: these runs have no clip to show: {', '.join(missing)}")
        differences = describe_differences(run_requests(lab, [c["id"] for c in clips]))
        self.clips = [{**c, "label": label} for c, label in zip(clips, differences["labels"])]
        self.shared = differences["shared"]
        self.columns = math.ceil(math.sqrt(len(clips)))
        self.width = width
        self.blind = bool(blind)

    @traitlets.validate("view")
    def _check_view(self, proposal: dict) -> str:
        view = proposal["value"]
        if view not in VIEWS:
            raise traitlets.TraitError(f"view: one of {', '.join(VIEWS)} (got {view!r})")
        if view != "side" and len(self.clips) != 2:
            raise traitlets.TraitError(f"view: {view!r} needs exactly two clips (this compares {len(self.clips)})")
        return view

    @traitlets.validate("frame")
    def _check_frame(self, proposal: dict) -> int:
        longest = max((c.get("frames") or 1 for c in self.clips), default=1)
        return min(max(0, int(proposal["value"])), longest - 1)

    def on_message(self, content: dict, buffers: list) -> None:
        pass  # everything goes through traits

    def _fallback_html(self) -> str | None:
        videos = [video_html(self._lab, c.get("sha256"), width=self.width) for c in self.clips]
        return "<div style='display:flex;gap:4px;flex-wrap:wrap'>" + "".join(v for v in videos if v) + "</div>"
