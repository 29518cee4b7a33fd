"""The motion brush's field: painted regions that move one way over the clip, plus a camera pan/zoom.

A request's ``motion`` holds up to five regions, each a polygon in normalised
frame coordinates (``[x, y]`` in [0, 1]², the origin at the top left) with four
amounts, and a camera::

    >>> from explorer.motion import normalise
    >>> plan = normalise([{"region": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]], "horizontal": 0.3, "ambient": 0.1}])
    >>> plan["regions"][0]["horizontal"], plan["regions"][0]["vertical"], plan["camera"]
    (0.3, 0.0, {'pan_x': 0.0, 'pan_y': 0.0, 'zoom': 0.0})

The amounts (each from -1 to 1 unless said, an absent one is 0):

- ``horizontal``: the share of the frame's width the region travels over the
  clip, positive to the right;
- ``vertical``: the share of the frame's height, positive *up* (as on a
  slider, and as Runway's brush does; image rows grow downwards);
- ``proximity``: toward the camera (positive: the region grows) or away from it
  (negative: it shrinks); at the last frame its scale is ``2 ** proximity``;
- ``ambient`` (0 to 1): local, incoherent motion inside the region (water,
  leaves, hair): a smooth displacement field of up to 3 % of the frame's side.

The camera moves the whole frame after the regions: ``pan_x`` / ``pan_y`` are
how far the camera travels, as shares of the frame, right / up (so the scene
slides left / down); ``zoom`` is its zoom, the scene's scale at the last frame
being ``2 ** zoom``. Motion grows linearly from nothing at the first frame to
the full amount at the last, so the first frame is always the unmoved picture.

The field is given either whole, ``{"regions": [...], "camera": {...}}``, or as
the bare list of regions. The request keeps the whole form (``{}`` when there
is no motion). Every problem is reported at once, each named
(``motion.regions[1].horizontal: …``).

:func:`render` turns a plan and a first frame into a rough "cut and drag"
video and a mask of the pixels that were dragged (what the diffusers backend
gives ``WanVACEPipeline``); :func:`animate` applies a plan to frames that
change on their own (the sketch backend). Both are pure functions of their
inputs: same plan, same frames, same seed, same pixels.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from typing import Any, Callable, Mapping, Sequence

import numpy as np

MAX_REGIONS = 5
MIN_POINTS = 3
MAX_POINTS = 256            # a freehand stroke, thinned by the brush; a clicked polygon has a handful
MIN_AREA = 1e-4             # of the frame: a polygon smaller than 1 % × 1 % of it (or a line) moves nothing visible
AMOUNTS: Mapping[str, tuple[float, float]] = {"horizontal": (-1.0, 1.0), "vertical": (-1.0, 1.0),
                                              "proximity": (-1.0, 1.0), "ambient": (0.0, 1.0)}
CAMERA: Mapping[str, tuple[float, float]] = {"pan_x": (-1.0, 1.0), "pan_y": (-1.0, 1.0), "zoom": (-1.0, 1.0)}
AMBIENT_SHARE = 0.03        # ambient 1 displaces pixels by up to 3 % of the frame's shorter side
AMBIENT_CYCLES = 2.0        # ambient wobbles twice over the clip


class MotionProblems(ValueError):
    """Every problem found in a ``motion`` value, each as ``"where: what"`` (the request prefixes ``motion``)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# -- validating -------------------------------------------------------------------------------


def normalise(value: Any) -> dict[str, Any]:
    """The canonical form of ``value``: ``{}`` or ``{"regions": [...], "camera": {...}}`` with float amounts.

    Raises :class:`MotionProblems` naming every bad region, point and amount.
    """
    if value is None:
        return {}
    if isinstance(value, (list, tuple)):
        value = {"regions": list(value)}
    if not isinstance(value, Mapping):
        raise MotionProblems([f": must be a list of regions or {{\"regions\": [...], \"camera\": {{...}}}} (got {type(value).__name__})"])
    problems: list[str] = []
    unknown = [key for key in value if key not in ("regions", "camera")]
    if unknown:
        problems.append(f": {', '.join(_show(k) for k in unknown)}: not a motion key (keys: regions, camera)")
    regions_in = value.get("regions", [])
    regions: list[dict[str, Any]] = []
    if not isinstance(regions_in, (list, tuple)):
        problems.append(f".regions: must be a list of regions (got {type(regions_in).__name__})")
    elif len(regions_in) > MAX_REGIONS:
        problems.append(f".regions: at most {MAX_REGIONS} regions (got {len(regions_in)})")
    else:
        for index, region in enumerate(regions_in):
            regions.append(_region(region, f".regions[{index}]", problems))
    camera = _amounts(value.get("camera", {}), CAMERA, ".camera", problems, "camera")
    if problems:
        raise MotionProblems(problems)
    if not regions and not any(camera.values()):
        return {}
    return {"regions": regions, "camera": camera}


def _region(region: Any, where: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(region, Mapping):
        problems.append(f"{where}: must be an object with region, {', '.join(AMOUNTS)} (got {type(region).__name__})")
        return {}
    out: dict[str, Any] = {"region": _polygon(region.get("region"), f"{where}.region", problems)}
    out.update(_amounts({k: v for k, v in region.items() if k != "region"}, AMOUNTS, where, problems, "region"))
    return out


def _polygon(points: Any, where: str, problems: list[str]) -> list[list[float]]:
    if points is None:
        problems.append(f"{where}: is required: a polygon of [x, y] points in [0, 1], e.g. [[0.1, 0.1], [0.5, 0.1], [0.3, 0.6]]")
        return []
    if not isinstance(points, (list, tuple)) or not MIN_POINTS <= len(points) <= MAX_POINTS:
        count = f"{len(points)} points" if isinstance(points, (list, tuple)) else type(points).__name__
        problems.append(f"{where}: must be a list of {MIN_POINTS} to {MAX_POINTS} [x, y] points (got {count})")
        return []
    out = []
    for index, point in enumerate(points):
        if (not isinstance(point, (list, tuple)) or len(point) != 2
                or not all(_real(c) and 0.0 <= c <= 1.0 for c in point)):
            problems.append(f"{where}[{index}]: a point is [x, y] with x and y from 0 to 1 (got {_show(point)})")
            return []
        out.append([float(point[0]), float(point[1])])
    if polygon_area(out) < MIN_AREA:
        problems.append(f"{where}: the polygon encloses {polygon_area(out):.2g} of the frame; it must enclose at least {MIN_AREA:g}")
        return []
    return out


def _amounts(value: Any, table: Mapping[str, tuple[float, float]], where: str, problems: list[str], what: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be an object of {', '.join(table)} (got {type(value).__name__})")
        return {}
    for key in value:
        if key not in table:
            problems.append(f"{where}.{_name(key)}: not a {what} setting (settings: {', '.join(table)})")
    out = {}
    for name, (low, high) in table.items():
        amount = value.get(name, 0.0)
        if not _real(amount) or not low <= amount <= high:
            problems.append(f"{where}.{name}: must be a number from {low:g} to {high:g} (got {_show(amount)})")
            continue
        out[name] = float(amount) + 0.0  # -0.0 -> 0.0: the same plan, the same JSON
    return out


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _name(value: Any) -> str:
    return str(value) if isinstance(value, str) and value.isidentifier() and len(value) <= 40 else _show(value)


def _show(value: Any, most: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= most else f"{text[:most]}… ({len(text)} characters)"


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """The area a polygon encloses (shoelace formula; a self-crossing one counts its lobes' difference)."""
    if len(points) < 3:
        return 0.0
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2.0)


def describe(motion: Mapping[str, Any]) -> str:
    """A short line for people: ``2 regions (→0.3 ↑0.1, ambient 0.2); camera pan_x 0.1``."""
    if not motion:
        return "none"
    parts = []
    for region in motion.get("regions", []):
        bits = [f"{label}{region[name]:g}" for name, label in (("horizontal", "→"), ("vertical", "↑"), ("proximity", "⇱")) if region[name]]
        if region["ambient"]:
            bits.append(f"ambient {region['ambient']:g}")
        parts.append(" ".join(bits) or "still")
    count = len(motion.get("regions", []))
    text = f"{count} region{'s' if count != 1 else ''}" + (f" ({'; '.join(parts)})" if parts else "")
    camera = {k: v for k, v in motion.get("camera", {}).items() if v}
    if camera:
        text += "; camera " + " ".join(f"{k} {v:g}" for k, v in camera.items())
    return text


# -- rendering ----------------------------------------------------------------------------------


def progress(index: int, frames: int) -> float:
    """How far along the clip frame ``index`` is: 0 at the first frame, 1 at the last."""
    return index / (frames - 1) if frames > 1 else 0.0


def region_transform(region: Mapping[str, Any], t: float, width: int, height: int) -> np.ndarray:
    """The 2×3 affine map (source pixel -> where it is at progress ``t``) of a region: scaled about its centre, then moved."""
    cx, cy = _centre(region["region"], width, height)
    scale = 2.0 ** (region["proximity"] * t)
    dx, dy = region["horizontal"] * width * t, -region["vertical"] * height * t
    return np.array([[scale, 0.0, cx - scale * cx + dx], [0.0, scale, cy - scale * cy + dy]], np.float64)


def camera_transform(camera: Mapping[str, float], t: float, width: int, height: int) -> np.ndarray:
    """The 2×3 affine map of the whole frame at progress ``t``: the camera pans right/up (the scene slides left/down) and zooms."""
    cx, cy = width / 2.0, height / 2.0
    scale = 2.0 ** (camera.get("zoom", 0.0) * t)
    dx, dy = -camera.get("pan_x", 0.0) * width * t, camera.get("pan_y", 0.0) * height * t
    return np.array([[scale, 0.0, cx - scale * cx + dx], [0.0, scale, cy - scale * cy + dy]], np.float64)


def region_mask(region: Mapping[str, Any], width: int, height: int) -> np.ndarray:
    """The region's pixels at the first frame: float32 H×W, 1 inside (edges anti-aliased)."""
    import cv2

    scale = 16  # fillPoly's fixed-point shift: sub-pixel vertices
    points = np.round(np.array(region["region"], np.float64) * [width, height] * scale).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [points], 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _centre(points: Sequence[Sequence[float]], width: int, height: int) -> tuple[float, float]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    # the centre of the bounding box: stable for freehand strokes whose points crowd on one side
    return (min(xs) + max(xs)) / 2.0 * width, (min(ys) + max(ys)) / 2.0 * height


def moves(region: Mapping[str, Any]) -> bool:
    return any(region[name] for name in AMOUNTS)


class Plan:
    """A motion plan made ready for one clip size and length: masks, ambient fields and maps, computed once."""

    def __init__(self, motion: Mapping[str, Any], frames: int, width: int, height: int, seed: int = 0):
        self.motion = normalise(motion)
        self.frames, self.width, self.height = int(frames), int(width), int(height)
        self.regions = [r for r in self.motion.get("regions", []) if moves(r)]  # a still region changes nothing
        self.camera = self.motion.get("camera", {})
        self.masks = [region_mask(r, width, height) for r in self.regions]
        self.hole = np.clip(sum(self.masks), 0.0, 1.0) if self.masks else None
        self.ambient = [_ambient_phases(seed, index, width, height) if r["ambient"] else None for index, r in enumerate(self.regions)]

    @property
    def empty(self) -> bool:
        return not self.regions and not any(self.camera.values())

    def frame(self, source: np.ndarray, index: int, background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``index`` of the moved clip, and the share of each pixel that is a dragged region (H×W float32).

        ``source`` is the picture at this frame before any motion (the same first frame every time for a
        control video, the scene's own frame for the sketch); ``background`` is ``source`` with the regions'
        first places filled in (computed here when not given).
        """
        import cv2

        t = progress(index, self.frames)
        size = (self.width, self.height)
        if t == 0.0:  # nothing has moved yet: the first frame is the picture itself
            return source.copy(), np.clip(sum(self.masks), 0.0, 1.0) if self.masks else np.zeros((self.height, self.width), np.float32)
        out = (background if background is not None else self.background(source)).copy()
        dragged = np.zeros((self.height, self.width), np.float32)
        for region, mask, phases in zip(self.regions, self.masks, self.ambient):
            matrix = region_transform(region, t, self.width, self.height)
            amplitude = region["ambient"] * AMBIENT_SHARE * min(size)
            box = self._box(region, matrix, 2.0 * amplitude + 2.0)
            if box is None:  # it has left the frame
                continue
            # Only the box the region lands in is warped and blended: a region is a part of the frame, and
            # full-frame warps cost most of a render at a real model's sizes.
            x0, y0, x1, y1 = box
            local = matrix.copy()
            local[:, 2] -= (x0, y0)
            roi = (x1 - x0, y1 - y0)
            pixels = cv2.warpAffine(source, local, roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            alpha = cv2.warpAffine(mask, local, roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if phases is not None:
                pixels, alpha = _wobble(pixels, alpha, phases[:, y0:y1, x0:x1], amplitude, t)
            a = alpha[..., None]
            blended = out[y0:y1, x0:x1].astype(np.float32) * (1.0 - a) + pixels.astype(np.float32) * a
            out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255)
            np.maximum(dragged[y0:y1, x0:x1], alpha, out=dragged[y0:y1, x0:x1])
        if any(self.camera.values()):
            matrix = camera_transform(self.camera, t, self.width, self.height)
            out = cv2.warpAffine(out, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            dragged = cv2.warpAffine(dragged, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out, dragged

    def _box(self, region: Mapping[str, Any], matrix: np.ndarray, margin: float) -> tuple[int, int, int, int] | None:
        """The pixel box (x0, y0, x1, y1) a region covers after ``matrix``, widened by ``margin``, within the frame."""
        points = np.array(region["region"], np.float64) * [self.width, self.height]
        moved = points @ matrix[:, :2].T + matrix[:, 2]
        x0 = max(0, int(np.floor(moved[:, 0].min() - margin)))
        y0 = max(0, int(np.floor(moved[:, 1].min() - margin)))
        x1 = min(self.width, int(np.ceil(moved[:, 0].max() + margin)) + 1)
        y1 = min(self.height, int(np.ceil(moved[:, 1].max() + margin)) + 1)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    def background(self, source: np.ndarray) -> np.ndarray:
        """``source`` with the moving regions' first places filled from their surroundings (what is left behind)."""
        if self.hole is None:
            return source
        return fill(source, self.hole)


def fill(picture: np.ndarray, hole: np.ndarray, side: int = 64) -> np.ndarray:
    """``picture`` with the pixels under ``hole`` (float H×W, 1 = missing) inpainted from around them.

    Inpainting runs on a copy at most ``side`` pixels across and is scaled back: a hole is smooth colour
    anyway, and full-size inpainting costs a hundred times more.
    """
    import cv2

    height, width = hole.shape
    factor = max(1.0, max(height, width) / side)
    small_size = (max(2, round(width / factor)), max(2, round(height / factor)))
    small = cv2.resize(picture, small_size, interpolation=cv2.INTER_AREA)
    small_hole = (cv2.resize(hole, small_size, interpolation=cv2.INTER_LINEAR) > 0.01).astype(np.uint8)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))  # the anti-aliased rim is part of the hole too
    patched = cv2.inpaint(small, small_hole, 3, cv2.INPAINT_TELEA)
    big = cv2.resize(patched, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    a = np.clip(hole * 1.5, 0.0, 1.0)[..., None]  # fill the rim fully, so no ghost of the region stays behind
    return np.clip(np.rint(picture.astype(np.float32) * (1.0 - a) + big * a), 0, 255).astype(np.uint8)


def _ambient_phases(seed: int, index: int, width: int, height: int) -> np.ndarray:
    """Two smooth random phase fields (x and y) for a region's ambient wobble, from the seed: the same in any process."""
    import cv2

    digest = hashlib.sha256(f"motion-ambient:{seed}:{index}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    coarse = rng.uniform(0.0, 2.0 * np.pi, (2, 5, 5)).astype(np.float32)
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_CUBIC) for c in coarse])


def _wobble(pixels: np.ndarray, alpha: np.ndarray, phases: np.ndarray, amplitude: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Displace a region's pixels and alpha by a smooth field that is zero at the first frame."""
    import cv2

    height, width = alpha.shape
    turn = 2.0 * np.pi * AMBIENT_CYCLES * t
    dx = amplitude * (np.sin(turn + phases[0]) - np.sin(phases[0]))
    dy = amplitude * (np.sin(turn + phases[1]) - np.sin(phases[1]))
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = (xs - dx).astype(np.float32), (ys - dy).astype(np.float32)
    return (cv2.remap(pixels, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
            cv2.remap(alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0))


def render(motion: Mapping[str, Any], first_frame: np.ndarray, frames: int, size: tuple[int, int] | None = None,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A "cut and drag" control video of ``motion`` from a first frame: (T×H×W×3 uint8 video, T×H×W float32 mask).

    Each region's pixels are cut from ``first_frame`` and dragged (moved, scaled, wobbled) along their path
    over a background whose holes are filled; the camera moves the result. The mask is 1 where a dragged
    region lies (the pixels that say where things go) and 0 elsewhere. ``size`` is (width, height); the
    first frame is resized to it when it differs.
    """
    import cv2

    picture = np.ascontiguousarray(np.asarray(first_frame)[..., :3])
    if picture.dtype != np.uint8:
        picture = np.clip(np.rint(picture * (255.0 if picture.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
    width, height = size or (picture.shape[1], picture.shape[0])
    if (picture.shape[1], picture.shape[0]) != (width, height):
        picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
    plan = Plan(motion, frames, width, height, seed)
    background = plan.background(picture)
    video = np.empty((frames, height, width, 3), np.uint8)
    mask = np.empty((frames, height, width), np.float32)
    for index in range(frames):
        video[index], mask[index] = plan.frame(picture, index, background)
    return video, mask


def animate(motion: Mapping[str, Any], frame_at: Callable[[int], np.ndarray], frames: int, width: int, height: int,
            seed: int = 0) -> Callable[[int], np.ndarray]:
    """``frame_at`` with ``motion`` applied: what lies in each region at frame i is dragged along its path."""
    plan = Plan(motion, frames, width, height, seed)
    if plan.empty:
        return frame_at
    return lambda index: plan.frame(frame_at(index), index)[0]


__all__ = ["AMOUNTS", "CAMERA", "MAX_POINTS", "MAX_REGIONS", "MIN_POINTS", "MotionProblems", "Plan", "animate",
           "camera_transform", "describe", "fill", "normalise", "polygon_area", "progress", "region_mask", "region_transform", "render"]
