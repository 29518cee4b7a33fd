"""Sound: a clip's audio track, and curves from the audio that drive keyframes.

A request's ``audio`` names a sound file (any format FFmpeg reads). When the
request is made, the file is checked (it exists, FFmpeg opens it, it has an
audio stream) and hashed; the request keeps a *reference* to it, not the path::

    {"sha256": "<64 hex digits of the file's bytes>", "name": "track.wav"}

When the run starts, the file is copied into the log's media store as
``ab/ab12….audio`` (once per content, like clips), so a fork, a rerun or a
recipe read back from the MP4 finds the very same sound later, whatever
happened to the original path. The clip's MP4 gets it as an AAC track
(48 kHz stereo, 128 kb/s), trimmed to the clip's duration (padded with silence
when the sound is shorter). A request without audio is what it always was:
``to_dict()`` has no ``audio`` key, so its recipe and its clip keep the same
bytes.

Curves turn the sound into one number per video frame, scaled to ``low..high``::

    keyframes={"guidance": lab.audio_curve("track.wav", "onset", low=3, high=9)}

- ``onset``: onset strength (librosa's spectral flux), the strongest within each
  frame's span, divided by the clip's strongest;
- ``beats``: 1 on the frame holding a beat (librosa's beat tracker), else 0;
- ``loudness``: RMS level in dB, averaged over each frame's span, from the clip's
  quietest (0) to its loudest (1).

A curve does not know the clip's fps and length: :class:`AudioCurve` is resolved
by the request against its own ``fps`` and ``frames`` while it is validated, and
the request stores the numbers (one linear key per frame, 4 decimals), so a run
is reproducible without librosa or the file. Only the part of the sound the clip
covers (from 0 s) is analysed. librosa is optional: ``pip install clip-explorer[audio]``.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from explorer.limits import AUDIO_BYTES, KEYFRAMES_PER_FRAME, range_problem, text_problem

if TYPE_CHECKING:
    import av

    from explorer.media import MediaStore

SUFFIX = ".audio"  # in the media store, whatever the original format (FFmpeg reads the content, not the name)
KINDS = ("onset", "beats", "loudness")
AAC_RATE = 48_000
AAC_LAYOUT = "stereo"
AAC_BIT_RATE = 128_000
AAC_FRAME = 1024           # samples per AAC frame
ANALYSIS_RATE = 22_050     # librosa's default rate: its hop sizes and onset defaults are tuned for it
HOP = 256                  # ~11.6 ms between analysis frames: several per video frame up to 60 fps
DECIMALS = 4               # a curve's values as stored in the request
INSTALL = "pip install clip-explorer[audio]"


class AudioProblem(ValueError):
    """A sound file that cannot be used; the message says why (the caller names the field)."""


# -- references -----------------------------------------------------------------

# Files seen in this process, by hash (latest first): where :func:`store` copies a track from when the media store lacks it.
_sources: dict[str, list[Path]] = {}
_sources_lock = threading.Lock()


def reference(value: Any) -> dict[str, str] | None:
    """The request's form of ``value``: None, or ``{"sha256", "name"}``. A path is checked and hashed here.

    Raises :class:`AudioProblem` saying what is wrong (the request names the field ``audio``).
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("sha256", "name"))
        sha, name = value.get("sha256"), value.get("name", "")
        if unknown or not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise AudioProblem('must be a path or a stored track {"sha256": 64 lowercase hex digits, "name": text}'
                               + (f" (unknown keys: {', '.join(unknown)})" if unknown else ""))
        problem = text_problem("audio", name)
        if problem:
            raise AudioProblem(f"name: {problem}")
        return {"sha256": sha, "name": name}
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        problem = text_problem("audio", str(value))
        if problem:
            raise AudioProblem(problem)
        sha = _checked_file(path)
        _remember(sha, path.resolve())
        return {"sha256": sha, "name": path.name}
    raise AudioProblem(f"must be the path of a sound file (got {type(value).__name__})")


def _checked_file(path: Path) -> str:
    """The SHA-256 of a readable sound file; AudioProblem for a missing file, a non-media file or one with no audio."""
    import av

    if not path.is_file():
        raise AudioProblem(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    size = path.stat().st_size
    if size > AUDIO_BYTES:
        raise AudioProblem(f"{path}: must be at most {AUDIO_BYTES // 2**20} MB (got {size / 2**20:.0f} MB)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:  # a video, or text FFmpeg takes for one (its "tty" or "bin" demuxers)
                raise AudioProblem(f"{path}: has no audio stream (FFmpeg reads it as {container.format.name})")
    except av.error.FFmpegError as exc:
        raise AudioProblem(f"{path}: not a sound file FFmpeg can read ({type(exc).__name__})") from None
    return _sha256_file(path)


def remember(sha256: str, path: str | os.PathLike) -> None:
    """Say where a stored track's bytes can be found (e.g. the media store an MP4 came from); checked when copied."""
    if Path(path).is_file():
        _remember(sha256, Path(path))


def _remember(sha256: str, path: Path) -> None:
    with _sources_lock:
        known = _sources.setdefault(sha256, [])
        if path in known:
            known.remove(path)
        known.insert(0, path)
        del known[8:]


def beside_clip(mp4: str | os.PathLike, ref: Mapping[str, str] | None) -> None:
    """A clip read from a media store (``<root>/ab/ab….mp4``) has its track in the same store: remember it there."""
    if ref and isinstance(ref.get("sha256"), str) and len(ref["sha256"]) == 64:
        sha = ref["sha256"]
        remember(sha, Path(mp4).resolve().parent.parent / sha[:2] / f"{sha}{SUFFIX}")


def store(media: MediaStore, ref: Mapping[str, str]) -> Path:
    """The track's file in ``media``, copied in (verified against its hash) if it is not there yet.

    Raises :class:`AudioProblem` when neither the store nor a file seen in this process holds it.
    """
    from explorer.media import _temp_prefix

    sha = ref["sha256"]
    target = media.path(sha, SUFFIX)
    if target.is_file():
        return target
    with _sources_lock:
        candidates = list(_sources.get(sha, ()))
    source = next((path for path in candidates if path.is_file()), None)
    if source is None:
        raise AudioProblem(f"track {sha[:12]}… ({ref.get('name') or 'no name'}) is not in this log's media store "
                           f"({media.root}); give its file again, e.g. audio='{ref.get('name') or 'track.wav'}'")
    media._make_folder(media.root)
    media._make_folder(target.parent)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(), suffix=SUFFIX)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha:
            raise AudioProblem(f"{source}: changed since it was given (its hash is no longer {sha[:12]}…); give it again")
        os.chmod(tmp, media._file_mode)
        media._share(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- decoding and muxing ------------------------------------------------------------


def decode(path: str | os.PathLike, seconds: float, *, rate: int = AAC_RATE, layout: str = AAC_LAYOUT) -> np.ndarray:
    """The first ``seconds`` of a sound file as float32, channels × samples at ``rate``, padded with silence to length."""
    import av

    want = int(round(seconds * rate))
    channels = 1 if layout == "mono" else 2
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    parts, have = [], 0
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray())
                have += parts[-1].shape[1]
            if have >= want:
                break
        else:
            for out in resampler.resample(None):
                parts.append(out.to_ndarray())
                have += parts[-1].shape[1]
    samples = np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), np.float32)
    samples = samples[:, :want]
    if samples.shape[1] < want:
        samples = np.pad(samples, ((0, 0), (0, want - samples.shape[1])))
    return np.ascontiguousarray(samples, dtype=np.float32)


def add_aac_track(container: av.container.OutputContainer, path: str | os.PathLike, seconds: float) -> list:
    """Add an AAC stream to ``container`` and return its packets: the first ``seconds`` of ``path``, exactly that long.

    The caller muxes the packets (with its video's) so the muxer interleaves them.
    """
    import av

    samples = decode(path, seconds)
    stream = container.add_stream("aac", rate=AAC_RATE)
    stream.codec_context.layout = AAC_LAYOUT
    stream.codec_context.format = "fltp"
    stream.codec_context.bit_rate = AAC_BIT_RATE
    stream.codec_context.time_base = Fraction(1, AAC_RATE)
    packets = []
    for start in range(0, samples.shape[1], AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + AAC_FRAME]), format="fltp", layout=AAC_LAYOUT)
        frame.sample_rate = AAC_RATE
        frame.pts = start
        frame.time_base = stream.codec_context.time_base
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return packets


# -- curves -------------------------------------------------------------------------


def _librosa() -> Any:
    try:
        import librosa
    except ImportError:
        raise ImportError(f"audio curves need librosa: {INSTALL}") from None
    return librosa


@dataclass(frozen=True)
class AudioCurve:
    """One value per video frame from a sound file, scaled to ``low..high``; resolved by the request (see the module)."""

    path: str
    sha256: str
    kind: str
    low: float = 0.0
    high: float = 1.0

    is_audio_curve = True  # how the request recognises one without importing this module

    def values(self, frames: int, fps: float) -> np.ndarray:
        """The curve for a clip of ``frames`` at ``fps``: ``frames`` floats from ``low`` to ``high``."""
        unit = np.asarray(_unit_curve(self.path, self.sha256, self.kind, int(frames), float(fps)))
        return self.low + (self.high - self.low) * unit

    def keys(self, frames: int, fps: float) -> dict[int, float]:
        """The curve as keyframes (one linear key per frame), the form the request stores."""
        return {i: round(float(v), DECIMALS) for i, v in enumerate(self.values(frames, fps))}

    def __repr__(self) -> str:
        return f"<AudioCurve {self.kind} of {Path(self.path).name} {self.low:g}..{self.high:g}>"


def curve(path: str | os.PathLike, kind: str = "onset", *, low: float = 0.0, high: float = 1.0) -> AudioCurve:
    """A curve from ``path`` (checked now: the file, the kind, the numbers, librosa); see :func:`Lab.audio_curve`."""
    from explorer.request import RequestError

    problems = []
    if kind not in KINDS:
        problems.append(f"audio_curve: kind must be one of {', '.join(KINDS)} (got {kind!r})")
    for name, number in (("low", low), ("high", high)):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            problems.append(f"audio_curve.{name}: must be a finite number (got {number!r})")
    if not isinstance(path, (str, os.PathLike)):
        problems.append(f"audio_curve: must be the path of a sound file (got {type(path).__name__})")
    if problems:
        raise RequestError(problems)
    try:
        sha = _checked_file(Path(path))
    except AudioProblem as exc:
        raise RequestError([f"audio_curve: {exc}"]) from None
    _librosa()  # now, not when the request is made
    return AudioCurve(str(Path(path).resolve()), sha, kind, float(low), float(high))


def resolve_curves(value: Mapping[str, Any], frames: int | None, fps: float | None) -> dict[str, Any]:
    """``keyframes`` with every :class:`AudioCurve` replaced by its keys for this clip; KeyframeProblems names the field."""
    from explorer.keyframes import KEYFRAMABLE, KeyframeProblems

    out, problems = dict(value), []
    for name, track in value.items():
        if not getattr(track, "is_audio_curve", False):
            continue
        if KEYFRAMABLE.get(name) != "number":
            numbers = ", ".join(sorted(n for n, kind in KEYFRAMABLE.items() if kind == "number"))
            problems.append(f"{name}: an audio curve drives numbers only (number fields: {numbers})")
            continue
        if not frames or not fps:
            problems.append(f"{name}: an audio curve needs the clip's frames and fps (fix those first)")
            continue
        if frames > KEYFRAMES_PER_FRAME:
            problems.append(f"{name}: an audio curve has a key per frame, at most {KEYFRAMES_PER_FRAME} (got {frames} frames)")
            continue
        bad = [f"{end} {problem}" for end, number in (("low", track.low), ("high", track.high))
               if (problem := range_problem(name, number))]
        if bad:
            problems.append(f"{name}: the audio curve's {'; '.join(bad)}")
            continue
        try:
            out[name] = track.keys(frames, fps)
        except AudioProblem as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise KeyframeProblems(problems)
    return out


@lru_cache(maxsize=32)
def _unit_curve(path: str, sha256: str, kind: str, frames: int, fps: float) -> tuple[float, ...]:
    """The curve in 0..1 (cached by content: the same file, kind and clip give the same numbers)."""
    librosa = _librosa()
    try:
        if _sha256_file(Path(path)) != sha256:
            raise AudioProblem(f"{path}: changed since the curve was made; make it again")
    except OSError as exc:
        raise AudioProblem(f"{path}: cannot be read ({exc.strerror})") from None
    seconds = frames / fps
    y = decode(path, seconds, rate=ANALYSIS_RATE, layout="mono")[0]
    times = np.arange(frames + 1) / fps  # frame i spans times[i]..times[i + 1]
    if kind == "beats":
        envelope = librosa.onset.onset_strength(y=y, sr=ANALYSIS_RATE, hop_length=HOP)
        _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=ANALYSIS_RATE, hop_length=HOP, units="time")
        unit = np.zeros(frames)
        unit[np.clip(np.floor(np.asarray(beats) * fps + 1e-6).astype(int), 0, frames - 1)] = 1.0
        return tuple(unit)
    if kind == "onset":
        feature = librosa.onset.onset_strength(y=y, sr=ANALYSIS_RATE, hop_length=HOP)
        reduce = np.max
    else:
        rms = librosa.feature.rms(y=y, hop_length=HOP)[0]
        feature = librosa.amplitude_to_db(rms, ref=1.0, amin=1e-5)  # dBFS, floor at -100 dB
        reduce = np.mean
    at = librosa.frames_to_time(np.arange(len(feature)), sr=ANALYSIS_RATE, hop_length=HOP)
    per_frame = np.empty(frames)
    for i in range(frames):
        inside = feature[(at >= times[i]) & (at < times[i + 1])]
        # a frame shorter than a hop holds no analysis frame: take the value at its middle
        per_frame[i] = reduce(inside) if inside.size else np.interp((times[i] + times[i + 1]) / 2, at, feature)
    if kind == "onset":
        top = per_frame.max()
        unit = per_frame / top if top > 0 else np.zeros(frames)
    else:
        span = per_frame.max() - per_frame.min()
        unit = (per_frame - per_frame.min()) / span if span > 0 else np.zeros(frames)
    return tuple(np.clip(unit, 0.0, 1.0))


def beat_times(path: str | os.PathLike, seconds: float) -> np.ndarray:
    """The beats librosa finds in the first ``seconds`` of ``path``, in seconds (what the ``beats`` curve marks)."""
    librosa = _librosa()
    y = decode(path, seconds, rate=ANALYSIS_RATE, layout="mono")[0]
    envelope = librosa.onset.onset_strength(y=y, sr=ANALYSIS_RATE, hop_length=HOP)
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=ANALYSIS_RATE, hop_length=HOP, units="time")
    return np.asarray(beats, dtype=float)


__all__ = ["AudioCurve", "AudioProblem", "KINDS", "add_aac_track", "beat_times", "beside_clip", "curve", "decode",
           "reference", "remember", "resolve_curves", "store"]
