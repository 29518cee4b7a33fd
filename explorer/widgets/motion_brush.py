"""MotionBrush: paint up to five regions on a first frame, give each a direction, closeness and wobble, set a camera
pan/zoom, see the arrows, and Generate: the run plays beside the plan.

``brush.motion`` is the request field the drawing makes (:mod:`explorer.motion`), usable anywhere::

    brush = lab.ui.motion_brush(run)          # or a picture: a path, a PIL image or an H×W×3 array
    ...                                       # paint, set the sliders
    lab.generate(run.request.prompt, motion=brush.motion)

Drawing: click points of a polygon and close it (click its first point, double-click, or Enter), or drag to draw a
freehand outline (thinned to at most 64 points). A region is selected by clicking it or its number; its sliders
set the four amounts; Delete removes it. The Generate button makes the run from the brush's request (the run's
request for a run, else ``prompt`` and the fields given) with ``motion`` set and ``image`` the frame shown (a run's
frame 0, recorded as such, or the picture, stored by the lab); it then plays.
"""

from __future__ import annotations

import base64
import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import traitlets

from explorer.motion import AMOUNTS, CAMERA, MAX_REGIONS, normalise
from explorer.request import Request, RequestError
from explorer.widgets._base import ExplorerWidget

PICTURE_SIDE = 512  # the frame shown is at most this many pixels across: the notebook keeps it as a JPEG
DEFAULT_PROMPT = "the picture, in motion"


class MotionBrush(ExplorerWidget):
    """``lab.ui.motion_brush(image_or_run, prompt=..., **fields)``; ``motion`` is the field value, ``run`` the last take."""

    _module = traitlets.Unicode("motion_brush").tag(sync=True)
    picture = traitlets.Unicode("").tag(sync=True)      # the first frame, a JPEG data URL
    aspect = traitlets.Float(1.0).tag(sync=True)        # width / height of the frame
    regions = traitlets.List(traitlets.Dict()).tag(sync=True)
    camera = traitlets.Dict().tag(sync=True)
    limits = traitlets.Dict().tag(sync=True)
    source = traitlets.Unicode("").tag(sync=True)       # what the frame is, in words
    clip = traitlets.Dict().tag(sync=True)              # the last take, as the player sees it
    running = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lab: Any, image_or_run: Any, *, prompt: str | None = None, **fields: Any):
        super().__init__(lab)
        frame, base, source, image = _first_frame(lab, image_or_run, prompt, fields)
        self._frame = frame
        self._image = image  # what Generate gives as image=: the run's frame 0 (recorded as such), or the picture
        self._base = base
        self.source = source
        self.aspect = frame.shape[1] / frame.shape[0]
        self.picture = _data_url(frame)
        self.camera = {name: 0.0 for name in CAMERA}
        self.limits = {"regions": MAX_REGIONS, "amounts": {k: list(v) for k, v in AMOUNTS.items()},
                       "camera": {k: list(v) for k, v in CAMERA.items()}}
        self.run: Any = None
        self._thread: threading.Thread | None = None

    # -- the field ------------------------------------------------------------------

    @property
    def motion(self) -> dict[str, Any]:
        """The ``motion`` field the drawing describes (raises RequestError naming any bad value)."""
        from explorer.motion import MotionProblems

        try:
            return normalise({"regions": [_clean(r) for r in self.regions], "camera": dict(self.camera)})
        except MotionProblems as exc:
            raise RequestError([f"motion{problem}" for problem in exc.problems]) from None

    @motion.setter
    def motion(self, value: Any) -> None:
        plan = Request(prompt="x", motion=value).motion  # validated like a request's
        with self.hold_sync():
            self.regions = list(plan.get("regions", []))
            self.camera = dict(plan.get("camera") or {name: 0.0 for name in CAMERA})

    @property
    def frame(self) -> np.ndarray:
        """The first frame the regions are painted on (H×W×3 uint8)."""
        return self._frame

    def request(self) -> Request:
        """The request Generate starts from, with this motion (Generate adds the frame as ``image``, stored by the lab)."""
        return self._base.replace(motion=self.motion)

    # -- Generate --------------------------------------------------------------------------

    def on_message(self, content: dict, buffers: list) -> None:
        if isinstance(content, dict) and content.get("type") == "generate":
            self.generate()

    def generate(self) -> threading.Thread | None:
        """Make the run on a worker thread (the kernel keeps answering); ``wait()`` for it from a script."""
        if self.running:
            self._say(error="a run is already going")
            return None
        try:
            request = self.request()
            from explorer import backends

            backends.get(request.backend).check(request)
        except (RequestError, ValueError) as exc:
            self._say(error=str(exc))
            return None
        self.running = True
        self._say("generating…")
        self._thread = threading.Thread(target=self._make, args=(request,), name="explorer-motion-brush", daemon=True)
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the current run ends; returns it."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.run

    def _make(self, request: Request) -> None:
        try:
            run = self._lab.generate(request, progress=False, image=self._image)  # the frame painted on is the first frame
            self.run = run
            if run.ok:
                self.clip = self._clip(run.id)
                self._say(f"{run.id} done in {run.duration_s:.1f} s")
            else:
                self._say(error=f"{run.id} {run.status}: {run.error}")
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never lost in a thread
            self._say(error=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            self.running = False

    def _say(self, message: str = "", error: str = "") -> None:
        with self.hold_sync():
            self.message, self.error = message, error


def _clean(region: dict[str, Any]) -> dict[str, Any]:
    """A region as the browser keeps it, less what is only for display."""
    return {k: v for k, v in region.items() if k == "region" or k in AMOUNTS}


def _first_frame(lab: Any, source: Any, prompt: str | None, fields: dict[str, Any]) -> tuple[np.ndarray, Request, str, Any]:
    """(the frame to paint on, the request Generate starts from, what the frame is, the value Generate gives as image=)."""
    from PIL import Image

    run_id = getattr(source, "id", None)
    if run_id is None and isinstance(source, str) and not Path(source).expanduser().is_file():
        run_id = source  # a run id or a unique prefix of one
    if run_id is not None:
        from explorer.media import read_frames

        row = lab.log.run(lab.log.resolve(run_id))
        if row["status"] != "succeeded" or not row.get("media_sha256"):
            raise RequestError([f"image_or_run: run {row['id']} has no clip ({row['status']})"])
        frame = read_frames(lab.log.media.path(row["media_sha256"], ".mp4"))[0]
        base = Request.from_dict(row["request"]).replace(**{"parent": row["id"], **({"prompt": prompt} if prompt else {}), **fields})
        return frame, base, f"the first frame of run {row['id']}", (row["id"], 0)
    if isinstance(source, (str, Path)):
        frame, what = np.asarray(Image.open(Path(source).expanduser()).convert("RGB")), f"the picture {Path(source).name}"
    elif isinstance(source, Image.Image):
        frame, what = np.asarray(source.convert("RGB")), "a picture"
    elif isinstance(source, np.ndarray) and source.ndim == 3 and source.shape[2] in (3, 4):
        frame = source[..., :3]
        if frame.dtype != np.uint8:
            frame = np.clip(np.rint(frame * (255.0 if frame.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        what = "an array"
    else:
        raise RequestError([f"image_or_run: must be a run, a run id, an image path, a PIL image or an H×W×3 array "
                            f"(got {type(source).__name__})"])
    height, width = frame.shape[:2]
    size = {"width": width - width % 2, "height": height - height % 2}  # the clip's size: the picture's, made even for H.264
    base = Request(**{"prompt": prompt or DEFAULT_PROMPT, **size, **fields})
    frame = np.ascontiguousarray(frame)
    return frame, base, what, frame


def _data_url(frame: np.ndarray) -> str:
    from PIL import Image

    from explorer.media import jpeg_from_frame

    height, width = frame.shape[:2]
    scale = min(1.0, PICTURE_SIDE / max(height, width))
    if scale < 1.0:
        frame = np.asarray(Image.fromarray(frame).resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.LANCZOS))
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_from_frame(frame, 85)).decode("ascii")
