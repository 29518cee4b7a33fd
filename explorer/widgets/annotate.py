"""Annotator: pause on a frame, drag a box on the video, write a note; the notes list seeks back to each one.

Each note is an annotation row (``lab.annotate``) as ``lab.author``, with its frame and its box as
fractions ``{"x","y","w","h"}`` of the frame (or no box).
"""

from __future__ import annotations

import json
from typing import Any

import traitlets

from explorer.widgets._base import ExplorerWidget, video_html


class Annotator(ExplorerWidget):
    """``lab.ui.annotate(run)``; ``notes`` lists the run's annotations, ``frame`` follows the player (set it to seek)."""

    _module = traitlets.Unicode("annotate").tag(sync=True)
    clip = traitlets.Dict().tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    notes = traitlets.List(traitlets.Dict()).tag(sync=True)
    author = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lab: Any, run: Any, **kwargs: Any):
        super().__init__(lab, **kwargs)
        self.clip = self._clip(getattr(run, "id", run))
        self.author = lab.author
        self.refresh()

    def add(self, text: str, *, frame: int | None = None, region: dict[str, float] | None = None, end_frame: int | None = None) -> str:
        """Add a note (at ``frame``, default the current one) and refresh the list; returns the annotation id."""
        annotation_id = self._lab.annotate(self.clip["id"], text, frame=self.frame if frame is None else frame,
                                           end_frame=end_frame, region=region)
        self.refresh()
        return annotation_id

    def refresh(self) -> None:
        """Reload ``notes`` from the log (teammates' notes too)."""
        rows = self._lab.annotations(self.clip["id"]).to_dict("records")
        self.notes = [_note(r) for r in rows]

    @traitlets.validate("frame")
    def _check_frame(self, proposal: dict) -> int:
        frames = (self.clip or {}).get("frames") or 1
        return min(max(0, int(proposal["value"])), frames - 1)

    def on_message(self, content: dict, buffers: list) -> None:
        """``{"type": "annotate", "text", "frame", "region"?, "nonce"?}`` from the browser; the answer says saved or why not."""
        if not isinstance(content, dict) or content.get("type") != "annotate":
            return
        nonce = content.get("nonce")
        try:
            frame = content.get("frame", self.frame)
            if isinstance(frame, float) and frame.is_integer():
                frame = int(frame)
            region = content.get("region") or None
            if region is not None:
                region = {k: round(float(region[k]), 4) for k in ("x", "y", "w", "h")} if isinstance(region, dict) and set(region) == {"x", "y", "w", "h"} else region
            annotation_id = self.add(str(content.get("text") or ""), frame=frame, region=region)
        except Exception as exc:  # noqa: BLE001 - LogError and anything else: shown in the widget, never raised into the kernel
            self.status, self.error = "", ""
            self.error = f"not saved: {exc}"
            self.send({"type": "annotated", "nonce": nonce, "ok": False, "error": str(exc)})
            return
        self.status, self.error = "", ""
        self.status = f"saved ✓ note on frame {frame + 1} as {self._lab.author}"
        self.send({"type": "annotated", "nonce": nonce, "ok": True, "id": annotation_id})

    def _fallback_html(self) -> str | None:
        return video_html(self._lab, self.clip.get("sha256"), width=320)


def _note(row: dict[str, Any]) -> dict[str, Any]:
    region = row.get("region")
    if isinstance(region, str):
        region = json.loads(region)
    elif region is not None and region != region:  # NaN from pandas
        region = None
    end = row.get("end_frame")
    return {
        "id": str(row["id"]), "author": str(row["author"]), "frame": int(row["frame"]), "time_s": float(row["time_s"]),
        "end_frame": None if end is None or end != end else int(end), "region": region, "text": str(row["text"]),
        "created_at": str(row["created_at"])[:19],
    }
