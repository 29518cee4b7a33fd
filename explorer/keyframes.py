"""Keyframes: request values that change over the clip (a prompt schedule, a guidance ramp), with an easing per key.

A request's ``keyframes`` maps a keyframable field to its keys, frame -> value::

    >>> from explorer.keyframes import normalise, at, blend
    >>> keys = normalise({"prompt": {0: "a quiet forest", 47: {"value": "the forest on fire", "ease": "smooth"}},
    ...                   "guidance": {"0": 3, "47": 9}}, frames=48)
    >>> keys["guidance"]
    {0: 3.0, 47: 9.0}
    >>> round(at(keys["guidance"], 20), 3)
    5.553
    >>> blend(keys["prompt"], 0)
    [('a quiet forest', 1.0)]

The form is JSON-friendly: a key is a bare value, or ``{"value": v, "ease": e}``
when it needs an easing other than ``linear``. Frames are ints in Python and
strings in JSON (``{"0": ...}``); both are accepted and the request keeps ints.
A key's ease shapes the way *from* that key to the next one:

- ``step``: hold the value until the next key, then jump;
- ``linear``: move at a constant pace (the default);
- ``smooth``: ease in and out (smoothstep, ``3u² - 2u³``).

Before the first key the first value holds, after the last the last one. Text
cannot be averaged, so a text field's value at a frame is a *blend*: the two
neighbouring keys' texts with weights (the sketch backend cross-fades their
scenes; FreeNoise interpolates their text embeddings). Numbers are
interpolated. Everything is checked against :mod:`explorer.limits` (frames in
the clip, values in their field's range, text limits, at most
``limits.KEYFRAMES`` keys per text field and ``limits.KEYFRAMES_PER_FRAME``,
one per frame, per number field: an audio curve, :mod:`explorer.audio`) and
every problem is reported at once.
"""

from __future__ import annotations

import numbers
import re
from typing import Any, Mapping

from explorer.limits import KEYFRAMES, KEYFRAMES_PER_FRAME, RANGES, range_problem, text_problem

# Field -> kind. Text fields blend; number fields interpolate.
KEYFRAMABLE: Mapping[str, str] = {"prompt": "text", "negative_prompt": "text", "guidance": "number"}
EASES = ("step", "linear", "smooth")
DEFAULT_EASE = "linear"


class KeyframeProblems(ValueError):
    """Every problem found in a ``keyframes`` value, each as ``"field.frame: what"`` (the request prefixes ``keyframes.``)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def normalise(value: Any, frames: int | None = None) -> dict[str, dict[int, Any]]:
    """The canonical form of ``value`` (int frames in order, floats for numbers, bare values for linear keys).

    Raises :class:`KeyframeProblems` naming every bad field, frame and value. ``frames`` (the clip's length), when
    known, bounds the frames; the request passes it.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise KeyframeProblems([f"must be an object of field -> {{frame: value}} (got {type(value).__name__})"])
    problems: list[str] = []
    out: dict[str, dict[int, Any]] = {}
    for name, keys in value.items():
        if name not in KEYFRAMABLE:
            problems.append(f"{_name(name)}: not keyframable (keyframable: {', '.join(sorted(KEYFRAMABLE))})")
            continue
        if not isinstance(keys, Mapping) or not keys:
            problems.append(f"{name}: must be a non-empty object of frame -> value, e.g. {{0: ..., 47: ...}}")
            continue
        most = KEYFRAMES if KEYFRAMABLE[name] == "text" else KEYFRAMES_PER_FRAME  # a number may have a key per frame (an audio curve)
        if len(keys) > most:
            problems.append(f"{name}: at most {most} keys (got {len(keys)})")
            continue
        track: dict[int, Any] = {}
        for frame_key, key in keys.items():
            frame, problem = _frame(frame_key, frames)
            where = f"{name}.{_name(frame_key)}"
            if problem:
                problems.append(f"{where}: {problem}")
                continue
            if frame in track:
                problems.append(f"{where}: frame {frame} is keyed twice")
                continue
            item, ease = (key.get("value"), key.get("ease", DEFAULT_EASE)) if isinstance(key, Mapping) else (key, DEFAULT_EASE)
            if isinstance(key, Mapping):
                unknown = sorted(str(k) for k in key if k not in ("value", "ease"))
                if unknown or "value" not in key:
                    problems.append(f"{where}: a key is a value or {{\"value\": v, \"ease\": {'|'.join(EASES)}}} "
                                    f"(got keys {', '.join(_show(k) for k in key) or 'none'})")
                    continue
            if ease not in EASES:
                problems.append(f"{where}: ease must be one of {', '.join(EASES)} (got {_show(ease)})")
                continue
            item, problem = _value(name, item)
            if problem:
                problems.append(f"{where}: {problem}")
                continue
            track[frame] = item if ease == DEFAULT_EASE else {"value": item, "ease": ease}
        out[name] = dict(sorted(track.items()))
    if problems:
        raise KeyframeProblems(problems)
    return out


def _frame(key: Any, frames: int | None) -> tuple[int, str | None]:
    if isinstance(key, str) and key.strip().isdigit() and key.strip().isascii():
        key = int(key.strip())
    last = (frames - 1) if frames else int(RANGES["frame"][1])
    if isinstance(key, bool) or not isinstance(key, numbers.Integral):
        return 0, f"a frame must be a whole number from 0 to {last} (got {_show(key)})"
    if not 0 <= key <= last:
        clip = f" (the clip has {frames} frames)" if frames else ""
        return 0, f"frame must be between 0 and {last}{clip} (got {key})"
    return int(key), None


def _value(name: str, value: Any) -> tuple[Any, str | None]:
    if KEYFRAMABLE[name] == "text":
        problem = text_problem(name, value)
        if problem is None and name == "prompt" and not value.strip():
            problem = "must contain some text"
        return value, problem
    problem = range_problem(name, value)
    return (None, problem) if problem else (float(value), None)


_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,40}")


def _name(value: Any) -> str:
    """A key as it appears in a message's path: plain when it is short, printable text or a number, else its repr."""
    if isinstance(value, (str, int)) and not isinstance(value, bool) and _PLAIN.fullmatch(str(value)):
        return str(value)
    return _show(value)


def _show(value: Any, most: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= most else f"{text[:most]}… ({len(text)} characters)"


# -- evaluating -----------------------------------------------------------------


def ease(kind: str, u: float) -> float:
    """The eased share of the way from one key to the next, for ``u`` in [0, 1].

    >>> [ease(k, 0.25) for k in EASES]
    [0.0, 0.25, 0.15625]
    """
    u = min(max(u, 0.0), 1.0)
    if kind == "step":
        return 1.0 if u >= 1.0 else 0.0
    if kind == "smooth":
        return u * u * (3.0 - 2.0 * u)
    return u


def value_of(key: Any) -> Any:
    """A key's value (a key is a bare value or ``{"value", "ease"}``)."""
    return key["value"] if isinstance(key, Mapping) else key


def ease_of(key: Any) -> str:
    return key.get("ease", DEFAULT_EASE) if isinstance(key, Mapping) else DEFAULT_EASE


def segment(track: Mapping[int, Any], frame: float) -> tuple[Any, Any, float]:
    """(value before, value after, eased weight of the after value) at ``frame`` of a normalised track."""
    frames = sorted(int(f) for f in track)
    if not frames:
        raise ValueError("an empty keyframe track has no value")
    first, last = frames[0], frames[-1]
    if frame <= first:
        v = value_of(track[first])
        return v, v, 0.0
    if frame >= last:
        v = value_of(track[last])
        return v, v, 0.0
    for left, right in zip(frames, frames[1:]):
        if left <= frame < right:
            key = track[left]
            return value_of(key), value_of(track[right]), ease(ease_of(key), (frame - left) / (right - left))
    raise AssertionError("unreachable")  # pragma: no cover - frames are sorted and frame is inside them


def at(track: Mapping[int, Any], frame: float) -> float:
    """A number track's value at ``frame``."""
    a, b, w = segment(track, frame)
    return float(a) + (float(b) - float(a)) * w


def blend(track: Mapping[int, Any], frame: float) -> list[tuple[Any, float]]:
    """A text track at ``frame``: [(text, weight)], weights summing to 1, texts with weight 0 left out."""
    a, b, w = segment(track, frame)
    if w <= 0.0 or a == b:
        return [(a, 1.0)]
    if w >= 1.0:
        return [(b, 1.0)]
    return [(a, 1.0 - w), (b, w)]


def nearest(track: Mapping[int, Any], frame: float) -> Any:
    """A text track's value at ``frame`` when texts cannot be mixed: the one with the larger weight."""
    a, b, w = segment(track, frame)
    return b if w >= 0.5 else a


def describe(keyframes: Mapping[str, Mapping[int, Any]]) -> str:
    """A short line for people: ``prompt@0,47 guidance@0,47``; a key on every frame (an audio curve) reads ``guidance@0..47``."""
    def frames(track: Mapping[int, Any]) -> str:
        keys = [int(f) for f in track]
        if len(keys) > 8 and keys == list(range(keys[0], keys[-1] + 1)):
            return f"{keys[0]}..{keys[-1]}"
        return ",".join(str(f) for f in keys)

    return " ".join(f"{name}@{frames(track)}" for name, track in keyframes.items())


__all__ = ["DEFAULT_EASE", "EASES", "KEYFRAMABLE", "KeyframeProblems", "at", "blend", "describe", "ease", "ease_of",
           "nearest", "normalise", "segment", "value_of"]
