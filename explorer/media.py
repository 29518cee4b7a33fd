"""Media: encode frames to browser-playable MP4, posters, thumbnails, and the content-addressed store.

Verbs in the mediapy way: ``mp4_from_frames`` encodes, ``read_frames`` decodes,
``read_recipe`` reads back the run id and request an MP4 carries, and
:class:`MediaStore` keeps each clip once under its SHA-256::

    >>> import numpy as np
    >>> from explorer.media import MediaStore
    >>> store = MediaStore("/tmp/demo-media")
    >>> clip = store.put(np.zeros((8, 64, 64, 3), np.uint8), fps=8, recipe={"run": "r1"})
    >>> clip.path.name == clip.sha256 + ".mp4"
    True

Encoding is FFmpeg's libx264 through PyAV (its libraries ship inside the PyAV
wheel): H.264, yuv420p, ``+faststart`` so a browser starts playing before the
whole file arrives.

The same frames usually, but not always, encode to the same bytes (x264 inside
the MP4 muxer varied by a few bytes between identical runs on this machine), so
the hash names and verifies a file; the run id is what identifies a take, and
the frames a backend returns are what is reproducible.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
RECIPE_KEY = "comment"  # a standard MP4 tag: survives copying and shows in players' info panels
THUMB_SIDE = 160
THUMB_FRAMES = 8


class MediaError(ValueError):
    """Frames that cannot become a clip, or a media file that is missing or not ours."""


def check_frames(frames: Any) -> np.ndarray:
    """Return frames as a C-contiguous T×H×W×3 uint8 array, or raise MediaError saying what is wrong."""
    if not isinstance(frames, np.ndarray):
        raise MediaError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MediaError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise MediaError(f"frames must be uint8, got {frames.dtype}")
    count, height, width, _ = frames.shape
    if count < 1:
        raise MediaError("frames is empty (0 frames)")
    if height % 2 or width % 2:
        raise MediaError(f"H.264 needs even width and height, got {width}x{height}")
    return np.ascontiguousarray(frames)


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float, recipe: dict[str, Any] | None = None, *, crf: int = 23,
              preset: str = "veryfast") -> None:
    """Encode frames to an MP4 file (H.264, yuv420p, faststart), with ``recipe`` as JSON in the comment tag."""
    frames = check_frames(frames)
    # A real file, not a BytesIO: faststart rewrites the file to move the index to the front.
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        if recipe is not None:
            container.metadata[RECIPE_KEY] = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate)
        stream.codec_context.time_base = 1 / rate
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # One thread keeps encoding cheap to share with generation; note that x264 in MP4 was seen to vary a
        # few bytes between identical encodes here, so a clip's identity is its run, the hash only names the file.
        stream.options = {"preset": preset, "crf": str(crf), "threads": "1"}
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            video_frame.time_base = 1 / rate
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode())


def mp4_from_frames(frames: np.ndarray, fps: float, recipe: dict[str, Any] | None = None, **options: Any) -> bytes:
    """The MP4 bytes of :func:`write_mp4`."""
    with tempfile.TemporaryDirectory(prefix="explorer-") as folder:
        path = Path(folder) / "clip.mp4"
        write_mp4(path, frames, fps, recipe, **options)
        return path.read_bytes()


def read_frames(path: str | os.PathLike) -> np.ndarray:
    """Decode a video file to T×H×W×3 uint8 RGB frames."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def read_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """The run id and request an MP4 written by Clip Explorer carries; MediaError for any other file."""
    try:
        with av.open(str(path)) as container:
            text = container.metadata.get(RECIPE_KEY)
    except (av.error.FileNotFoundError, FileNotFoundError):
        raise MediaError(f"{path}: no such file") from None
    except av.error.InvalidDataError:
        raise MediaError(f"{path}: not a video file") from None
    try:
        recipe = json.loads(text) if text else None
    except json.JSONDecodeError:
        recipe = None
    if not isinstance(recipe, dict) or "request" not in recipe:
        raise MediaError(f"{path}: carries no Clip Explorer recipe (was it made by another tool?)")
    return recipe


def jpeg_from_frame(frame: np.ndarray, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail_from_frames(frames: np.ndarray, fps: float, side: int = THUMB_SIDE) -> bytes:
    """A small looping animated WebP (about ``side`` px, ≤ 8 frames) for galleries."""
    count, height, width, _ = frames.shape
    factor = max(1, -(-max(height, width) // side))  # box-filter by a whole factor: ~4x cheaper than resampling
    picks = np.unique(np.linspace(0, count - 1, min(count, THUMB_FRAMES)).round().astype(int))
    images = [Image.fromarray(frames[i]).reduce(factor) for i in picks]
    duration_ms = max(20, round(1000 * count / fps / len(picks)))
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", save_all=True, append_images=images[1:], duration=duration_ms, loop=0, quality=70, method=0)
    return buffer.getvalue()


@dataclass(frozen=True)
class StoredClip:
    sha256: str
    path: Path
    poster: Path
    thumb: Path
    bytes: int
    frames: int
    width: int
    height: int
    fps: float

    def to_row(self, root: Path) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "path": str(self.path.relative_to(root)),
            "poster": str(self.poster.relative_to(root)),
            "thumb": str(self.thumb.relative_to(root)),
            "bytes": self.bytes,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
        }


class MediaStore:
    """A folder of clips named by the SHA-256 of their MP4 bytes, fanned out by the first two hex digits."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, sha256: str, suffix: str = ".mp4") -> Path:
        """Where a clip (or its ``.poster.jpg`` / ``.thumb.webp``) lives; refuses anything but a SHA-256."""
        if not SHA256_RE.match(sha256 or ""):
            raise MediaError(f"not a media hash: {sha256!r} (expected 64 lowercase hex digits)")
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def put(self, frames: np.ndarray, fps: float, recipe: dict[str, Any] | None = None) -> StoredClip:
        """Encode and store a clip with its poster and thumbnail; a clip already stored is not rewritten."""
        frames = check_frames(frames)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".mp4")
        os.close(fd)
        tmp = Path(tmp_name)
        # Poster and thumbnail are made on a second thread while x264 (which releases the GIL) encodes.
        companions = _companion_pool.submit(lambda: (jpeg_from_frame(frames[len(frames) // 2]), thumbnail_from_frames(frames, fps)))
        try:
            write_mp4(tmp, frames, fps, recipe)
            poster_bytes, thumb_bytes = companions.result()
            sha = _sha256_file(tmp)
            path, poster, thumb = self.path(sha), self.path(sha, ".poster.jpg"), self.path(sha, ".thumb.webp")
            size = tmp.stat().st_size
            if not path.exists():
                # Poster and thumbnail first: a clip file on disk always has its companions.
                _write_atomic(poster, poster_bytes)
                _write_atomic(thumb, thumb_bytes)
                path.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        count, height, width, _ = frames.shape
        return StoredClip(sha, path, poster, thumb, size, count, width, height, float(fps))

    def verify(self, sha256: str) -> bool:
        """True when the stored file exists and still hashes to its name."""
        path = self.path(sha256)
        return path.is_file() and _sha256_file(path) == sha256


_companion_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-media")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
