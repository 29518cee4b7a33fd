"""Conditioning media: pictures and clips a run starts from, ends on, follows or takes after.

Five request fields hold them::

    image             a picture the clip starts from (its first frame)
    last_image        a picture the clip ends on
    video             a clip to follow (VACE's control video, LTX's video condition)
    mask              where to generate (white) and where to keep the video (black): a picture for every frame, or a clip
    reference_images  pictures of a subject or style to take after (a list)

``lab.generate``, ``lab.fork`` and ``lab.extend`` take each as any of:

- a path to a picture (PNG, JPEG, WebP…) or, for ``video`` and ``mask``, a video file;
- a :class:`~explorer.lab.Run` (its whole clip: ``video`` and ``mask`` only);
- a frame of a run or of a video file: ``(run, 12)``, ``(run, -1)`` (the last frame) or ``lab.frame(run, 12)``;
- a numpy array: ``H×W×3`` uint8 for a picture (``H×W`` for a mask), ``T×H×W×3`` for a clip;
- ``{"media": any of those, "at": k}``: also the frame of the new clip it conditions (LTX's conditions; the
  default is frame 0, and the last frame for ``last_image``).

The lab stores each once in its media store, named by content hash (a picture as PNG, lossless; a clip as the
store's MP4, the run's own file when it comes from a run), and the request records a *reference*::

    {"sha256": "…", "file": "png", "width": 64, "height": 48, "frames": 1, "source": "frame 15 of run 1a2b3c4d5e6f"}

so the run is logged, forkable, and its recipe (inside the MP4 too) names the exact pictures it used. A
:class:`~explorer.request.Request` holds only references; raw paths and arrays become references in the lab.

Backends read the pictures back with :func:`frames_of` (the lab tells them which store); each backend names the
fields it takes (``Backend.conditionable``) and the base class refuses the others by name before any work.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import numbers
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

FIELDS = ("image", "last_image", "video", "mask", "reference_images")
PICTURE_FIELDS = ("image", "last_image")  # one picture each
CLIP_FIELDS = ("video", "mask")  # a clip (a mask may also be one picture, used for every frame)
MOST_REFERENCES = 8
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif", ".avi")
FILES = ("png", "mp4")
MOST_SIDE = 4096
REFERENCE_KEYS = frozenset({"sha256", "file", "width", "height", "frames", "source", "at"})
_PNG_LEVEL = 6  # fixed, so the same pixels make the same bytes (and hash) everywhere

# The media store the current run reads its conditioning from: set by the lab around check and generate.
current_store: contextvars.ContextVar[Any] = contextvars.ContextVar("explorer_conditioning_store", default=None)


class ConditioningProblems(ValueError):
    """Problems with a request's conditioning references, each already naming its field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Frame:
    """One frame of a run's clip (or of a video file): ``lab.frame(run, 12)``; negative indices count from the end."""

    source: Any  # a Run, a run id, or a path to a video file
    index: int


# -- the request side: references only ---------------------------------------------------------


def check_reference(field: str, value: Any, frames: int | None) -> dict[str, Any] | list[dict[str, Any]] | None:
    """The normalised reference(s) of ``field``; raises :class:`ConditioningProblems` naming what is wrong."""
    if value is None:
        return None
    if field == "reference_images":
        if not isinstance(value, (list, tuple)):
            raise ConditioningProblems([f"{field}: must be a list of stored pictures ({_raw_hint(value)})"])
        if not value:
            return None
        if len(value) > MOST_REFERENCES:
            raise ConditioningProblems([f"{field}: at most {MOST_REFERENCES} pictures (got {len(value)})"])
        problems, out = [], []
        for index, item in enumerate(value):
            try:
                out.append(_one_reference(f"{field}[{index}]", item, frames, picture=True))
            except ConditioningProblems as exc:
                problems += exc.problems
        if problems:
            raise ConditioningProblems(problems)
        return out
    return _one_reference(field, value, frames, picture=field in PICTURE_FIELDS)


def _one_reference(field: str, value: Any, frames: int | None, *, picture: bool) -> dict[str, Any]:
    if not isinstance(value, Mapping) or "sha256" not in value:
        raise ConditioningProblems([f"{field}: a request holds stored media references; {_raw_hint(value)}"])
    problems = []
    unknown = sorted(str(k) for k in value if k not in REFERENCE_KEYS)
    if unknown:
        problems.append(f"{field}: not a media reference key: {', '.join(unknown)} (keys: {', '.join(sorted(REFERENCE_KEYS))})")
    sha = value.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        problems.append(f"{field}: sha256 must be 64 lowercase hex digits (got {_short(sha)})")
    if value.get("file") not in FILES:
        problems.append(f"{field}: file must be one of {', '.join(FILES)} (got {_short(value.get('file'))})")
    for key, most in (("width", MOST_SIDE), ("height", MOST_SIDE), ("frames", 100_000)):
        item = value.get(key)
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or not 1 <= item <= most:
            problems.append(f"{field}: {key} must be a whole number from 1 to {most} (got {_short(item)})")
    if picture and value.get("frames") != 1:
        problems.append(f"{field}: must be one picture, not a clip of {value.get('frames')} frames; choose a frame: (run, 0)")
    source = value.get("source", "")
    if not isinstance(source, str) or len(source) > 300:
        problems.append(f"{field}: source must be text of at most 300 characters")
    at = value.get("at")
    if at is not None:
        last = (frames - 1) if frames else 999
        if isinstance(at, bool) or not isinstance(at, numbers.Integral) or not 0 <= at <= last:
            clip = f" (the clip has {frames} frames)" if frames else ""
            problems.append(f"{field}: at must be a frame from 0 to {last}{clip} (got {_short(at)})")
    if problems:
        raise ConditioningProblems(problems)
    out = {"sha256": sha, "file": value["file"], "width": int(value["width"]), "height": int(value["height"]),
           "frames": int(value["frames"]), "source": source}
    if at is not None:
        out["at"] = int(at)
    return out


def _raw_hint(value: Any) -> str:
    return (f"give a path, a run, a frame (run, 12) or an array to lab.generate, lab.fork or lab.extend, "
            f"which store it and record the reference (got {type(value).__name__})")


def _short(value: Any, most: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= most else f"{text[:most]}… ({len(text)} characters)"


def used(request: Any) -> list[str]:
    """The conditioning fields a request sets, in :data:`FIELDS` order."""
    return [name for name in FIELDS if getattr(request, name, None)]


def references(request: Any) -> list[tuple[str, dict[str, Any]]]:
    """(field, reference) for every stored medium of a request (one per reference image)."""
    out = []
    for name in used(request):
        value = getattr(request, name)
        out += [(f"{name}[{i}]", ref) for i, ref in enumerate(value)] if isinstance(value, list) else [(name, value)]
    return out


def frame_at(field: str, ref: Mapping[str, Any], frames: int) -> int:
    """The frame of the new clip a reference conditions: its ``at``, else 0 (the last frame for ``last_image``)."""
    if ref.get("at") is not None:
        return int(ref["at"])
    return frames - 1 if field == "last_image" else 0


# -- the lab side: storing what the user gives ---------------------------------------------------


def store_fields(lab: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with every conditioning value stored in ``lab``'s media store and replaced by its reference.

    Every problem (a missing file, a wrong shape, a frame outside a clip) is raised at once as a RequestError
    naming the field, before anything is written.
    """
    from explorer.request import RequestError

    wanted = {name: value for name, value in fields.items() if name in FIELDS and value is not None}
    if not wanted:
        return fields
    problems: list[str] = []
    loaded: dict[str, Any] = {}
    for name, value in wanted.items():
        try:
            if name == "reference_images":
                items = list(value) if isinstance(value, (list, tuple)) and not _is_frame_pair(value) else [value]
                if len(items) > MOST_REFERENCES:
                    raise RequestError([f"{name}: at most {MOST_REFERENCES} pictures (got {len(items)})"])
                loaded[name] = [_load(lab, f"{name}[{i}]", item, picture=True) for i, item in enumerate(items)]
            else:
                loaded[name] = _load(lab, name, value, picture=name in PICTURE_FIELDS)
        except RequestError as exc:
            problems += exc.problems
    if problems:
        raise RequestError(problems)
    store = lab.log.media
    out = dict(fields)
    for name, value in loaded.items():
        out[name] = [_put(store, item) for item in value] if isinstance(value, list) else _put(store, value)
    return out


@dataclass
class _Medium:
    """A medium read and checked, not yet stored: pixels to store, or an already stored reference."""

    field: str
    pixels: np.ndarray | None  # T×H×W×3 uint8
    source: str
    at: int | None = None
    reference: dict[str, Any] | None = None
    fps: float = 8.0


def _is_frame_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], numbers.Integral) and not isinstance(value[1], bool)


def _load(lab: Any, field: str, value: Any, *, picture: bool) -> _Medium:
    """Read one conditioning value into pixels (or find it already stored); RequestError naming ``field``."""
    from explorer.lab import Run
    from explorer.request import RequestError

    def fail(message: str) -> RequestError:
        return RequestError([f"{field}: {message}"])

    at = None
    if isinstance(value, Mapping) and "media" in value:
        unknown = sorted(str(k) for k in value if k not in ("media", "at"))
        if unknown:
            raise fail(f"{{'media': ..., 'at': frame}} takes no {', '.join(unknown)}")
        at = value.get("at")
        if at is not None and (isinstance(at, bool) or not isinstance(at, numbers.Integral) or at < 0):
            raise fail(f"at must be a frame of the new clip, a whole number from 0 (got {_short(at)})")
        value = value["media"]
    if isinstance(value, Mapping) and "sha256" in value:  # a stored reference (a fork, a recipe read back from a clip)
        ref = dict(value) if at is None else {**value, "at": at}
        try:
            ref = _one_reference(field, ref, None, picture=picture)
        except ConditioningProblems as exc:
            raise RequestError(exc.problems) from None
        path = lab.log.media.path(ref["sha256"], "." + ref["file"])
        if not path.is_file():
            raise fail(f"media {ref['sha256'][:12]}… ({ref.get('source') or 'no source'}) is not in this log's media store "
                       f"{lab.log.media.root} (a recipe from another log? give the picture again)")
        return _Medium(field, None, ref["source"], ref.get("at"), reference=ref)
    if isinstance(value, Frame) or _is_frame_pair(value):
        source, index = (value.source, value.index) if isinstance(value, Frame) else value
        clip, name, fps = _clip_of(lab, field, source)
        count = len(clip)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not -count <= index < count:
            raise fail(f"frame {_short(index)} is outside {name} (its {count} frames are 0 to {count - 1}, or -{count} to -1)")
        frame = int(index) % count
        return _Medium(field, clip[frame : frame + 1], f"frame {frame} of {name}", at, fps=fps)
    if isinstance(value, Run) or isinstance(value, (str, os.PathLike)) and Path(value).suffix.lower() in VIDEO_SUFFIXES:
        if picture:
            raise fail(f"takes one picture, not a clip; choose a frame: ({'run' if isinstance(value, Run) else 'path'}, 0) "
                       "or lab.frame(run, -1) for the last")
        if isinstance(value, Run):
            row = _run_row(lab, field, value)
            ref = {"sha256": row["media_sha256"], "file": "mp4", "width": int(row["request"]["width"]),
                   "height": int(row["request"]["height"]), "frames": int(row["request"]["frames"]), "source": f"run {row['id']}"}
            return _Medium(field, None, ref["source"], at, reference={**ref, **({"at": at} if at is not None else {})})
        clip, name, fps = _clip_of(lab, field, value)
        return _Medium(field, clip, name, at, fps=fps)
    if isinstance(value, (str, os.PathLike)):
        path = Path(value).expanduser()
        if not path.is_file():
            raise fail(f"no such file {str(value)[:200]}")
        try:
            from PIL import Image, UnidentifiedImageError

            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L" if field == "mask" else "RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise fail(f"{path.name} is not a picture Pillow can read ({exc})") from None
        return _Medium(field, _as_pixels(field, pixels, picture=True), f"file {path.name}", at)
    if isinstance(value, np.ndarray):
        return _Medium(field, _as_pixels(field, value, picture=picture), "array", at)
    raise fail(f"must be a path, a run, a frame (run, 12), an array or {{'media': ..., 'at': frame}} (got {type(value).__name__})")


def _as_pixels(field: str, array: np.ndarray, *, picture: bool) -> np.ndarray:
    """``array`` as T×H×W×3 uint8, or a RequestError naming ``field`` and the shapes it takes."""
    from explorer.request import RequestError

    mask, given = field == "mask", array.shape
    if array.dtype != np.uint8:
        raise RequestError([f"{field}: must be a uint8 array (0-255) (got {array.dtype})"])
    if mask and array.ndim in (2, 3) and (array.ndim == 2 or array.shape[-1] != 3):  # H×W, or T×H×W greys
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim == 3 and array.shape[-1] == 3:
        array = array[None]
    shapes = "H×W×3" if picture else "T×H×W×3 (or H×W×3 for one picture)" if not mask else "H×W, H×W×3, T×H×W or T×H×W×3"
    if array.ndim != 4 or array.shape[-1] != 3 or min(array.shape) < 1:
        raise RequestError([f"{field}: must be an array of shape {shapes} (got shape {given})"])
    if picture and len(array) != 1:
        raise RequestError([f"{field}: takes one picture, not {len(array)} frames (shape {shapes}; got {given})"])
    if max(array.shape[1:3]) > MOST_SIDE:
        raise RequestError([f"{field}: at most {MOST_SIDE} pixels a side (got {array.shape[2]}x{array.shape[1]})"])
    if len(array) > 1 and (array.shape[1] % 2 or array.shape[2] % 2):
        raise RequestError([f"{field}: a clip needs an even width and height to be stored as H.264 (got {array.shape[2]}x{array.shape[1]})"])
    return np.ascontiguousarray(array)


def _run_row(lab: Any, field: str, run: Any) -> dict[str, Any]:
    from explorer.log import LogError
    from explorer.request import RequestError

    run_id = getattr(run, "id", run)
    try:
        row = lab.log.run(str(run_id))
    except (LogError, RequestError) as exc:
        raise RequestError([f"{field}: {str(exc).removeprefix('run id: ')}"]) from None
    if row["status"] != "succeeded" or not row.get("media_sha256"):
        raise RequestError([f"{field}: run {row['id']} has no clip (it {row['status']})"])
    return row


def _clip_of(lab: Any, field: str, source: Any) -> tuple[np.ndarray, str, float]:
    """(frames, a name for messages, fps) of a run's clip or a video file."""
    from explorer.lab import Run
    from explorer.media import read_frames
    from explorer.request import RequestError

    if isinstance(source, Run) or isinstance(source, str) and not Path(source).suffix:
        row = _run_row(lab, field, source)
        path = lab.log.media.path(row["media_sha256"])
        if not path.is_file():
            raise RequestError([f"{field}: run {row['id']}'s clip is missing from the media store ({path})"])
        return _decoded(path), f"run {row['id']}", float(row["request"]["fps"])
    path = Path(source).expanduser()
    if not path.is_file():
        raise RequestError([f"{field}: no such file {str(source)[:200]}"])
    try:
        import av

        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
        frames = read_frames(path)
    except Exception as exc:  # noqa: BLE001 - any decoder complaint is a bad file, named
        raise RequestError([f"{field}: {path.name} is not a video file PyAV can read ({exc})"]) from None
    return frames, f"file {path.name}", float(rate) if rate else 8.0


def _put(store: Any, medium: _Medium) -> dict[str, Any]:
    """Store ``medium`` once (a picture as PNG, a clip as MP4) and return its reference."""
    if medium.reference is not None:
        return medium.reference
    pixels = medium.pixels
    count, height, width, _ = pixels.shape
    if count == 1:
        sha, file = put_picture(store, pixels[0]), "png"
    else:
        sha, file = store.put(pixels, medium.fps).sha256, "mp4"
    ref = {"sha256": sha, "file": file, "width": width, "height": height, "frames": count, "source": medium.source[:300]}
    if medium.at is not None:
        ref["at"] = int(medium.at)
    return ref


def put_picture(store: Any, picture: np.ndarray) -> str:
    """Store an H×W×3 uint8 picture as PNG (with a thumbnail) under the SHA-256 of its bytes; returns the hash."""
    from PIL import Image

    from explorer.media import _write_atomic, thumbnail_from_frames

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG", compress_level=_PNG_LEVEL)
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    path = store.path(sha, ".png")
    if not path.is_file():
        store._make_folder(path.parent)
        thumb = store.path(sha, ".thumb.webp")
        _write_atomic(thumb, thumbnail_from_frames(picture[None], 1.0))
        _write_atomic(path, data)  # the picture last: a picture on disk always has its thumbnail
    return sha


# -- the backend side: reading the pictures back -------------------------------------------------

_DECODED: OrderedDict[str, np.ndarray] = OrderedDict()
_DECODED_MOST = 8


def _decoded(path: Path) -> np.ndarray:
    key = str(path)
    if key not in _DECODED:
        from explorer.media import read_frames

        _DECODED[key] = read_frames(path)
        while len(_DECODED) > _DECODED_MOST:
            _DECODED.popitem(last=False)
    _DECODED.move_to_end(key)
    return _DECODED[key]


def frames_of(ref: Mapping[str, Any], store: Any = None) -> np.ndarray:
    """The stored pixels of a reference as T×H×W×3 uint8 (a picture has T = 1); read-only, shared between calls."""
    store = store or current_store.get()
    if store is None:
        raise RuntimeError("conditioning media are read inside a lab run (lab.generate sets the media store)")
    path = store.path(ref["sha256"], "." + ref["file"])
    if ref["file"] == "png":
        from PIL import Image

        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))[None]
    return _decoded(path)


def fitted(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """``picture`` (H×W×3) cropped to the aspect of ``width``×``height`` about its centre, then resized to it."""
    h, w = picture.shape[:2]
    if (w, h) == (width, height):
        return picture
    from PIL import Image

    scale = min(w / width, h / height)
    crop_w, crop_h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    image = Image.fromarray(np.ascontiguousarray(picture[top : top + crop_h, left : left + crop_w]))
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


def describe(request: Any) -> str:
    """A short line for people: ``image: frame 15 of run 1a2b… ; mask: array``."""
    return "; ".join(f"{field}: {ref.get('source') or ref['sha256'][:12]}" for field, ref in references(request))


__all__ = ["FIELDS", "TAKEN_BY", "Frame", "check_reference", "refuse", "check_stored", "current_store", "describe", "fitted", "frame_at", "frames_of",
           "put_picture", "references", "store_fields", "used"]


# Who takes what, for the messages that refuse a field (the diffusers classes are those mapped in
# explorer.backends.diffusers.conditioning, plus any pipeline whose call has a parameter of the field's name).
TAKEN_BY = {
    "image": "sketch; diffusers WanImageToVideoPipeline, LTXConditionPipeline, LTXImageToVideoPipeline, CogVideoXImageToVideoPipeline",
    "last_image": "sketch; diffusers WanImageToVideoPipeline (a first-last-frame model), LTXConditionPipeline",
    "video": "diffusers WanVACEPipeline, LTXConditionPipeline",
    "mask": "diffusers WanVACEPipeline",
    "reference_images": "diffusers WanVACEPipeline",
}


def refuse(request: Any, takes: Any, who: str) -> None:
    """Raise RequestError naming each conditioning field of ``request`` not in ``takes``, and who does take it."""
    from explorer.request import RequestError

    refused = [name for name in used(request) if name not in takes]
    if refused:
        raise RequestError([f"{name}: {who} does not take {name} (it takes: {', '.join(f for f in FIELDS if f in takes) or 'none'}); "
                            f"{name} is taken by: {TAKEN_BY[name]}" for name in refused])


def check_stored(store: Any, request: Any) -> None:
    """RequestError naming each reference of ``request`` whose file ``store`` lacks (a recipe from another log)."""
    from explorer.request import RequestError

    missing = [f"{field}: media {ref['sha256'][:12]}… ({ref.get('source') or 'no source'}) is not in this log's media store "
               f"{store.root} (a recipe from another log? give the picture again)"
               for field, ref in references(request) if not store.path(ref["sha256"], "." + ref["file"]).is_file()]
    if missing:
        raise RequestError(missing)


def extension(run: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes ``lab.extend`` makes: start from the run's last frame; drop what was aligned to the old clip."""
    base = {"image": Frame(run, -1), "last_image": None, "video": None, "mask": None}
    return {**base, **changes}


def thumbs(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A logged request's conditioning media as the widgets show them: field, hash (its ``.thumb.webp``), source, at."""
    out = []
    for name in FIELDS:
        value = request.get(name) if isinstance(request, Mapping) else None
        items = value if isinstance(value, list) else [value] if value else []
        for ref in items:
            if isinstance(ref, Mapping) and isinstance(ref.get("sha256"), str):
                out.append({"field": name, "sha256": ref["sha256"], "source": ref.get("source", ""), "frames": ref.get("frames", 1),
                            **({"at": ref["at"]} if ref.get("at") is not None else {})})
    return out


def thumbs_of_runs(lab: Any, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """:func:`thumbs` for several runs in one query: run id -> its media (runs without any are left out)."""
    import json

    if not ids:
        return {}
    frame = lab.sql("SELECT id, request FROM runs WHERE id IN (SELECT unnest(?))", [[str(i) for i in ids]])
    out = {}
    for run_id, request in zip(frame["id"], frame["request"]):
        found = thumbs(json.loads(request) if isinstance(request, str) else request)
        if found:
            out[str(run_id)] = found
    return out
