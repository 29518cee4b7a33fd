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

Encoding is a pure function of (frames, fps, recipe) for a given PyAV build: the
same arguments give the same bytes in every process and on every x86-64 CPU, so
a clip's SHA-256 is stable. Two stages used to depend on the CPU they ran on:
FFmpeg's RGB → YUV conversion (swscale's SIMD paths round differently from its
C code unless asked for bit-exact output) and x264 (its decisions depend on
which SIMD kernels the CPU offers: SSE2-only and SSSE3-or-better encodes of the
same picture differ). So the conversion runs bit-exact with a stated matrix
(BT.709, limited range, tagged in the stream so players convert back with the
same one), and x264 runs single-threaded on the SSE2 kernels every x86-64 CPU
has. Takes of the same request still differ in bytes, because the recipe in the
file carries each take's run id.

A store beside a log shared with a Unix group (``MediaStore(root, group_shared=True)``,
set by :class:`~explorer.log.Log` from the log file's mode) makes every folder it
creates group-writable and setgid, so what is made in it takes the group, and every
file group-writable (clips, posters, thumbnails, and the temporary files they are
renamed from), whatever the process's umask; "other" keeps today's read-only access.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
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
# Quality (x264 CRF; lower is better, -6 about doubles the bytes). Short clips are what people compare frame by
# frame (and in the ×4 difference view), and they are small: bench/encode_quality.py measured, on sketch clips,
# CRF 18 at 1.6–1.7× the bytes of CRF 23 for 1.8–1.9 dB more PSNR and a fifth less error (20–44 KB a second).
SHORT_CLIP_CRF = 18
LONG_CLIP_CRF = 23
SHORT_CLIP_S = 10.0
PRESET = "veryfast"
POSTER_QUALITY = 90  # JPEG, 4:4:4 (bench/encode_quality.py: +3 dB over q85 4:2:0 for ~1.6× the bytes, 5–14 KB)
THUMB_SIDE = 160
THUMB_FRAMES = 8
THUMB_QUALITY = 85  # WebP, method 2 (bench/encode_quality.py: about the old q70 method 0's bytes, +3 dB)
THUMB_METHOD = 2  # method 4 saves ~4 % of the bytes for twice the time

# swscale: bilinear chroma filtering with SWS_ACCURATE_RND | SWS_BITEXACT (libswscale/swscale.h), which keep it
# on its reference C arithmetic instead of the CPU's SIMD paths (those round differently: measured, 1 LSB on
# ~2 % of samples, enough to change every x264 decision downstream).
_SWS_EXACT = 0x2 | 0x40000 | 0x80000
# Back to RGB also with SWS_FULL_CHR_H_INT (chroma interpolated to full width first, as players do): without it
# the bit-exact path is ~1 % off (235 → 253); with it greys come back within 1 of where they started.
_SWS_EXACT_TO_RGB = _SWS_EXACT | 0x2000
# BT.709 matrix and primaries (AVCOL_SPC_BT709 = AVCOL_PRI_BT709 = SWS_CS_ITU709 = 1), limited "MPEG" range
# (AVCOL_RANGE_MPEG = 1), and the sRGB transfer curve the frames were made in (AVCOL_TRC_IEC61966_2_1 = 13).
_BT709 = 1
_LIMITED_RANGE = 1
_SRGB_TRANSFER = 13
# PyAV >= 17 converts with sws_scale_frame, threaded unless told otherwise; one thread keeps slices out of it.
_ONE_THREAD = {"threads": 1} if int(av.__version__.split(".")[0]) >= 17 else {}
# x264 picks kernels by the CPU's SIMD level and its output depends on which: pin the x86-64 baseline.
_X264_ASM = "asm=SSE2" if platform.machine().lower() in ("x86_64", "amd64") else ""


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


def crf_for(count: int, fps: float) -> int:
    """The x264 CRF a clip of ``count`` frames at ``fps`` is stored at: ``SHORT_CLIP_CRF`` up to ``SHORT_CLIP_S`` seconds."""
    return SHORT_CLIP_CRF if count / fps <= SHORT_CLIP_S else LONG_CLIP_CRF


def x264_options(crf: int = SHORT_CLIP_CRF, preset: str = PRESET) -> dict[str, str]:
    """The encoder options: one thread (x264's output depends on its thread count) and, on x86-64, the SSE2 kernels."""
    options = {"preset": preset, "crf": str(crf), "threads": "1"}
    if _X264_ASM:
        options["x264-params"] = _X264_ASM
    return options


def yuv_frame(frame: np.ndarray, reformatter: Any = None) -> av.VideoFrame:
    """One H×W×3 uint8 RGB frame as yuv420p: BT.709, limited range, bit-exact (the same on every CPU)."""
    rgb = av.VideoFrame.from_ndarray(frame, format="rgb24")
    reformatter = reformatter or av.video.reformatter.VideoReformatter()
    return reformatter.reformat(rgb, format="yuv420p", dst_colorspace=_BT709, dst_color_range=_LIMITED_RANGE,
                                interpolation=_SWS_EXACT, **_ONE_THREAD)


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float, recipe: dict[str, Any] | None = None, *,
              crf: int | None = None, preset: str = PRESET, audio: str | os.PathLike | None = None) -> None:
    """Encode frames to an MP4 file (H.264, yuv420p BT.709, faststart), with ``recipe`` as JSON in the comment tag.

    ``crf`` defaults to :func:`crf_for` the clip. ``audio``, a sound file, becomes an AAC track as long as the clip
    (:mod:`explorer.audio`). The bytes are a function of the arguments alone (see the module's docstring).
    """
    frames = check_frames(frames)
    crf = crf_for(len(frames), fps) if crf is None else crf
    # A real file, not a BytesIO: faststart rewrites the file to move the index to the front.
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        if recipe is not None:
            container.metadata[RECIPE_KEY] = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate)
        codec = stream.codec_context
        codec.time_base = 1 / rate
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # Say in the stream which matrix made the YUV, so browsers and decoders convert back with the same one.
        codec.colorspace = codec.color_primaries = _BT709
        codec.color_trc = _SRGB_TRANSFER
        codec.color_range = _LIMITED_RANGE
        stream.options = x264_options(crf, preset)
        if audio is not None:  # encoded first, muxed with the video: the muxer interleaves them by time
            from explorer.audio import add_aac_track

            for packet in add_aac_track(container, audio, len(frames) / float(rate)):
                container.mux(packet)
        reformatter = av.video.reformatter.VideoReformatter()
        for index, frame in enumerate(frames):
            video_frame = yuv_frame(frame, reformatter)
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
        # Bit-exact YUV -> RGB with the matrix the stream states: the same pixels on every CPU.
        return np.stack([frame.to_ndarray(format="rgb24", interpolation=_SWS_EXACT_TO_RGB, **_ONE_THREAD)
                         for frame in container.decode(video=0)])


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


def jpeg_from_frame(frame: np.ndarray, quality: int = 85, *, subsampling: int | None = None) -> bytes:
    """A JPEG of one frame; ``subsampling=0`` keeps full-resolution colour (4:4:4), Pillow's default halves it."""
    buffer = io.BytesIO()
    options = {} if subsampling is None else {"subsampling": subsampling}
    Image.fromarray(frame).save(buffer, "JPEG", quality=quality, **options)
    return buffer.getvalue()


def poster_from_frames(frames: np.ndarray) -> bytes:
    """The clip's poster: its middle frame at full size, JPEG with full-resolution colour (no blocky chroma edges)."""
    return jpeg_from_frame(frames[len(frames) // 2], POSTER_QUALITY, subsampling=0)


def thumbnail_size(width: int, height: int, side: int = THUMB_SIDE) -> tuple[int, int]:
    """The thumbnail's size: the clip's own aspect ratio (no bars), longest side ``side``, never enlarged."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail_picks(count: int) -> np.ndarray:
    """Which frames the thumbnail shows: at most ``THUMB_FRAMES``, evenly spread over the clip."""
    return np.unique(np.linspace(0, count - 1, min(count, THUMB_FRAMES)).round().astype(int))


def thumbnail_from_frames(frames: np.ndarray, fps: float, side: int = THUMB_SIDE, quality: int | None = None) -> bytes:
    """A small looping animated WebP (longest side ``side`` px, the clip's aspect ratio, ≤ 8 frames) for galleries."""
    count, height, width, _ = frames.shape
    size = thumbnail_size(width, height, side)
    picks = thumbnail_picks(count)
    # Lanczos to exactly the clip's shape (the old whole-factor box reduction made a 512×288 clip 128×72 and a
    # 1024×576 one 147×83). reducing_gap=1.5 box-reduces by a whole factor first while the frame is over 1.5× the
    # target: half the time, within 53 dB of a full Lanczos (the WebP itself is ~40 dB), so nothing visible.
    images = [_resized(frames[i], size) for i in picks]
    duration_ms = max(20, round(1000 * count / fps / len(picks)))
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", save_all=True, append_images=images[1:], duration=duration_ms, loop=0,
                   quality=THUMB_QUALITY if quality is None else quality, method=THUMB_METHOD)
    return buffer.getvalue()


def _resized(frame: np.ndarray, size: tuple[int, int]) -> Image.Image:
    image = Image.fromarray(frame)
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.5)


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


def _temp_prefix() -> str:
    from explorer.log.recovery import temp_prefix

    return temp_prefix()


class MediaStore:
    """A folder of clips named by the SHA-256 of their MP4 bytes, fanned out by the first two hex digits.

    ``group_shared``: the log beside it is shared with a Unix group, so the folders and files made here are too.
    """

    def __init__(self, root: str | os.PathLike, *, group_shared: bool = False):
        self.root = Path(root)
        self.group_shared = group_shared

    def path(self, sha256: str, suffix: str = ".mp4") -> Path:
        """Where a clip (or its ``.poster.jpg`` / ``.thumb.webp``) lives; refuses anything but a SHA-256."""
        if not SHA256_RE.match(sha256 or ""):
            raise MediaError(f"not a media hash: {sha256!r} (expected 64 lowercase hex digits)")
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def put(self, frames: np.ndarray, fps: float, recipe: dict[str, Any] | None = None, *, audio: str | os.PathLike | None = None) -> StoredClip:
        """Encode and store a clip with its poster and thumbnail (and ``audio``'s sound); a clip already stored is not rewritten.

        All or nothing: when any step fails (a full disk, say), every file this call wrote is removed
        again, temporary ones included, and the error is raised.
        """
        frames = check_frames(frames)
        self._make_folder(self.root)
        # The name says who writes it (host, pid): after a crash, explorer.log.recovery knows it is abandoned.
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=_temp_prefix(), suffix=".mp4")
        try:
            self._share(fd)
        finally:
            os.close(fd)
        tmp = Path(tmp_name)
        written: list[Path] = []  # companions this call wrote, and the fan-out folder if it made it
        # Poster and thumbnail are made on a second thread while x264 (which releases the GIL) encodes.
        companions = _companion_pool.submit(lambda: (poster_from_frames(frames), thumbnail_from_frames(frames, fps)))
        try:
            write_mp4(tmp, frames, fps, recipe, audio=audio)
            poster_bytes, thumb_bytes = companions.result()
            sha = _sha256_file(tmp)
            path, poster, thumb = self.path(sha), self.path(sha, ".poster.jpg"), self.path(sha, ".thumb.webp")
            size = tmp.stat().st_size
            if not path.exists():
                if self._make_folder(path.parent):
                    written.append(path.parent)
                # Poster and thumbnail first: a clip file on disk always has its companions.
                for companion, data in ((poster, poster_bytes), (thumb, thumb_bytes)):
                    written.append(companion)
                    _write_atomic(companion, data)
                    self._share(companion)  # after the rename: a companion is never rewritten, nobody needs it earlier
                os.chmod(tmp, self._file_mode)
                os.replace(tmp, path)
        except BaseException:
            # Named by their content (which holds the run id), these files are this call's alone: remove them all.
            for file in reversed(written):
                try:
                    file.rmdir() if file.is_dir() else file.unlink(missing_ok=True)
                except OSError:
                    pass  # the fan-out folder, if another clip has moved in meanwhile
            raise
        finally:
            tmp.unlink(missing_ok=True)
        count, height, width, _ = frames.shape
        return StoredClip(sha, path, poster, thumb, size, count, width, height, float(fps))

    @property
    def _file_mode(self) -> int:
        return 0o664 if self.group_shared else 0o644

    def _make_folder(self, folder: Path) -> bool:
        """Make ``folder`` if missing (its parents too); True when this call made it. In a shared store: group-writable, setgid."""
        if folder.is_dir():
            return False
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
        except FileExistsError:
            return False  # made by another process meanwhile
        self._share(folder)
        return True

    def _share(self, target: int | Path) -> None:
        if self.group_shared:
            from explorer.log.connection import share_with_group  # the log imports this module: looked up late

            where = target if isinstance(target, Path) else None
            share_with_group(target, (where.parent if where else self.root).stat().st_gid)

    def verify(self, sha256: str) -> bool:
        """True when the stored file exists and still hashes to its name."""
        path = self.path(sha256)
        return path.is_file() and _sha256_file(path) == sha256


_companion_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-media")


def _new_companion_pool() -> None:
    # A forked child (multiprocessing's default on Linux, or a process that drops to another user) has no copy of the
    # parent's worker thread, but the pool would believe it idle there and never run what it is given.
    global _companion_pool
    _companion_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-media")


os.register_at_fork(after_in_child=_new_companion_pool)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(), suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
