"""The sketch backend's conditioning pictures: a clip that starts on ``image`` and ends on ``last_image``.

The picture is the first frame exactly; over the following frames the view pushes in on it (up to 12 %) while
it dissolves, smoothly, into the prompt's scene: over the whole clip, or its first half when a ``last_image``
ends it. ``last_image`` does the same backwards, so it is the last frame exactly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from explorer.conditioning import fitted, frames_of
from explorer.keyframes import ease
from explorer.request import Request

PUSH_IN = 0.12  # how far the view closes in on a picture while it dissolves


def with_pictures(request: Request, render: Callable[[int], np.ndarray]) -> Callable[[int], np.ndarray]:
    """``render`` (frame i of the scene) with the request's first and last pictures dissolved in."""
    size = (request.width, request.height)
    first = fitted(frames_of(request.image)[0], *size) if request.image else None
    last = fitted(frames_of(request.last_image)[0], *size) if request.last_image else None
    count = request.frames

    def frame(i: int) -> np.ndarray:
        u = i / (count - 1) if count > 1 else 0.0
        layers = []  # (picture, how far it has gone: 0 = the picture itself)
        if first is not None:
            gone = min(1.0, 2 * u) if last is not None else u
            layers.append((first, gone))
        if last is not None:
            gone = min(1.0, 2 * (1 - u)) if first is not None else 1 - u
            layers.append((last, gone))
        out = None
        for picture, gone in layers:
            weight = 1.0 - ease("smooth", gone)
            if weight <= 0.0:
                continue
            if weight >= 1.0:
                return picture.copy()
            if out is None:
                out = render(i).astype(np.float32)
            out = out * (1 - weight) + _pushed(picture, gone).astype(np.float32) * weight
        return render(i) if out is None else np.clip(np.rint(out), 0, 255).astype(np.uint8)

    return frame


def _pushed(picture: np.ndarray, gone: float) -> np.ndarray:
    """``picture`` seen from closer: the centre (1 - PUSH_IN * gone) of it, resized back to full size."""
    if gone <= 0:
        return picture
    from PIL import Image

    h, w = picture.shape[:2]
    keep = 1.0 - PUSH_IN * gone
    box_w, box_h = w * keep, h * keep
    left, top = (w - box_w) / 2, (h - box_h) / 2
    image = Image.fromarray(picture).resize((w, h), Image.Resampling.BILINEAR, box=(left, top, left + box_w, top + box_h))
    return np.asarray(image)
