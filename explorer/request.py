"""The request: one validated value that says what to generate.

A request is checked completely before any work starts. A bad value raises
:class:`RequestError`, whose message names the field, the allowed range and
what was given::

    >>> from explorer.request import Request
    >>> Request(prompt="a red kite", frames=0)
    Traceback (most recent call last):
    ...
    explorer.request.RequestError: frames: must be between 1 and 1000 (got 0)

Sizes must be even (H.264 in yuv420p needs it). Odd sizes are rejected, not
silently changed: a researcher asking for 513 pixels should learn that it is
not what they will get.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from explorer import limits
from explorer.limits import EXTRA_BYTES, RANGES, TEXT, depth_problem, range_problem, text_problem

MAX_SEED = 2**63 - 1

# The request's ranges, from the one table of limits (explorer.limits): validation, error messages and the CLI's --help.
LIMITS: dict[str, tuple[float, float]] = {name: RANGES[name] for name in ("seed", "frames", "fps", "width", "height", "steps", "guidance")}


class RequestError(ValueError):
    """A request field (or any other value a user sends) is outside what is allowed; the message names it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def check(**fields: Any) -> None:
    """Raise :class:`RequestError` naming every value outside the limits of :mod:`explorer.limits`; None is skipped.

    A keyword names the field: text fields by their name in ``limits.TEXT``, numbers by theirs in ``limits.RANGES``.

    >>> check(note="lovely drift", score=4)
    >>> check(note="x" * 10_001, score=9)
    Traceback (most recent call last):
    ...
    explorer.request.RequestError: note: must be at most 10000 characters (got 10001); score: must be between 1 and 5 (got 9)
    """
    problems = []
    for name, value in fields.items():
        if value is None:
            continue
        problem = text_problem(name, value) if name in TEXT else range_problem(name, value)
        if problem:
            problems.append(f"{name}: {problem}")
    if problems:
        raise RequestError(problems)


def check_text(name: str, value: Any, *, like: str | None = None) -> None:
    """Raise :class:`RequestError` if ``value`` is not acceptable text for ``name`` (with the limits of field ``like``)."""
    problem = text_problem(like or name, value)
    if problem:
        raise RequestError([f"{name}: {problem}"])


def check_tags(tags: Any) -> None:
    """At most ``limits.TAGS`` tags, each acceptable as ``tag``."""
    if len(tags) > limits.TAGS:
        raise RequestError([f"tags: at most {limits.TAGS} tags (got {len(tags)})"])
    for tag in tags:
        check_text("tag", tag)


def _limited(name: str, default: Any, **extra: Any) -> Any:
    low, high = LIMITS[name]
    return Field(default, ge=low, le=high, **extra)


class Request(BaseModel):
    """What to generate. Immutable; derive a changed copy with :meth:`replace`."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    prompt: str = Field(min_length=1)
    negative_prompt: str = ""
    seed: int = _limited("seed", 0)
    frames: int = _limited("frames", 16)
    fps: float = _limited("fps", 8.0)
    width: int = _limited("width", 256)
    height: int = _limited("height", 256)
    steps: int = _limited("steps", 8)
    guidance: float = _limited("guidance", 7.5)
    backend: str = Field("sketch", min_length=1)
    model: str | None = None
    # Backend-specific parameters (e.g. a scheduler option); checked by the backend, not here.
    extra: dict[str, Any] = Field(default_factory=dict)
    # The run this request was derived from (a fork or a variation).
    parent: str | None = None
    # Values that change over the clip: field -> {frame: value or {"value", "ease"}} (explorer.keyframes); after frames, which bounds them.
    keyframes: dict[str, Any] = Field(default_factory=dict)
    # The motion brush: {"regions": [{"region": [[x, y], ...], "horizontal", "vertical", "proximity", "ambient"}], "camera": {...}} (explorer.motion).
    motion: dict[str, Any] = Field(default_factory=dict)
    # Conditioning media (explorer.conditioning): references to pictures and clips in the media store; after frames.
    image: dict[str, Any] | None = None
    last_image: dict[str, Any] | None = None
    video: dict[str, Any] | None = None
    mask: dict[str, Any] | None = None
    reference_images: list[dict[str, Any]] | None = None
    # The clip's sound: a path when given, kept as the stored track {"sha256", "name"} (explorer.audio); None: a silent clip.
    audio: dict[str, str] | None = None

    @field_validator("prompt", "negative_prompt", "backend", "model", "parent")
    @classmethod
    def _text(cls, value: str | None, info: Any) -> str | None:
        problem = None if value is None else text_problem(info.field_name, value)
        if problem:
            raise ValueError(problem)
        if info.field_name == "prompt" and not value.strip():
            raise ValueError("must contain some text")
        return value

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"must be even for H.264 video; use {value - 1} or {value + 1}")
        return value

    @field_validator("fps", "guidance")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("extra")
    @classmethod
    def _json_extra(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = depth_problem(value)  # first: json.dumps recurses, and a deep enough value would overflow the stack
        if problem:
            raise ValueError(problem)
        try:
            size = len(json.dumps(value, allow_nan=False).encode("utf-8", "surrogatepass"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must hold only JSON values ({exc})") from None
        if size > EXTRA_BYTES:
            raise ValueError(f"must be at most {EXTRA_BYTES} bytes as JSON (got {size})")
        for key, text in _strings(value):
            problem = text_problem("extra", text, limit=EXTRA_BYTES)
            if problem:
                raise ValueError(f"{key}: {problem}")
        return value

    @field_validator("keyframes", mode="before")
    @classmethod
    def _keyframes(cls, value: Any, info: Any) -> dict[str, Any]:
        from explorer.keyframes import normalise

        problem = depth_problem(value, most=4) if isinstance(value, (dict, list, tuple)) else None
        if problem:  # before anything walks it: a value nested thousands deep
            raise ValueError(problem)
        if isinstance(value, dict) and any(getattr(track, "is_audio_curve", False) for track in value.values()):
            from explorer.audio import resolve_curves  # an audio curve becomes numbers for this clip's fps and frames

            value = resolve_curves(value, info.data.get("frames"), info.data.get("fps"))
        return normalise(value, info.data.get("frames"))

    @field_validator("motion", mode="before")
    @classmethod
    def _motion(cls, value: Any) -> dict[str, Any]:
        from explorer.motion import normalise

        problem = depth_problem(value, most=5) if isinstance(value, (dict, list, tuple)) else None
        if problem:  # before anything walks it: a value nested thousands deep
            raise ValueError(problem)
        return normalise(value)

    @field_validator("image", "last_image", "video", "mask", "reference_images", mode="before")
    @classmethod
    def _conditioning(cls, value: Any, info: Any) -> Any:
        from explorer.conditioning import check_reference

        return check_reference(info.field_name, value, info.data.get("frames"))

    @field_validator("audio", mode="before")
    @classmethod
    def _audio(cls, value: Any) -> dict[str, str] | None:
        if value is None:
            return None
        from explorer.audio import reference

        return reference(value)  # a path is checked (a sound FFmpeg reads) and hashed here, before any work

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise RequestError(_explain(exc)) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        """Build a request from a plain dict (e.g. a logged recipe), ignoring unknown keys' absence."""
        return cls(**data)

    def replace(self, **changes: Any) -> Request:
        """A new, re-validated request with some fields changed."""
        return Request(**{**self.model_dump(), **changes})

    def to_dict(self) -> dict[str, Any]:
        # No "audio" key in a silent clip's request: its recipe, and so its MP4, keep the bytes they had before sound.
        return self.model_dump(mode="json", exclude=None if self.audio else {"audio"})

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def _strings(value: Any, path: str = "") -> Any:
    """(where, text) for every key and string inside ``value`` (already known to be shallow)."""
    if isinstance(value, str):
        yield path or "value", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, path)
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def parse_size(text: str) -> tuple[int, int]:
    """'512x288' -> (512, 288); raises RequestError naming 'size' on anything else."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise RequestError([f"size: must look like WIDTHxHEIGHT, e.g. 512x288 (got {text!r})"])
    return int(parts[0]), int(parts[1])


def _explain(exc: ValidationError) -> list[str]:
    problems = []
    from explorer.conditioning import ConditioningProblems
    from explorer.keyframes import KeyframeProblems
    from explorer.motion import MotionProblems

    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "request"
        inner = (error.get("ctx") or {}).get("error")
        if isinstance(inner, ConditioningProblems):  # already named: image: …, reference_images[1]: …
            problems.extend(inner.problems)
            continue
        if isinstance(inner, KeyframeProblems):  # every problem in the keyframes, each named (keyframes.prompt.47: …)
            problems.extend(f"{field}.{problem}" if not problem.startswith("must ") else f"{field}: {problem}" for problem in inner.problems)
            continue
        if isinstance(inner, MotionProblems):  # each named from its own path (motion.regions[1].horizontal: …)
            problems.extend(f"{field}{problem}" for problem in inner.problems)
            continue
        given = error.get("input")
        if error["type"] in ("greater_than_equal", "less_than_equal") and field in LIMITS:
            low, high = LIMITS[field]
            message = f"must be between {limits.fmt(low)} and {limits.fmt(high)}"
        elif error["type"] == "extra_forbidden":
            message = f"is not a request field (fields: {', '.join(Request.model_fields)})"
        elif error["type"] == "missing":
            problems.append(f"{field}: is required")
            continue
        else:
            message = error["msg"].removeprefix("Value error, ")
        inside = _INSIDE.match(message) if field == "extra" else None
        if inside:  # a problem with one value inside extra: name it (extra.lora[0].path), not the whole dict
            problems.append(f"extra.{inside.group(1)}: {message[inside.end():]}")
            continue
        problems.append(f"{field}: {message}" + ("" if "(got " in message or _quiet(field, error) else f" (got {shown(given)})"))
    return problems


_INSIDE = re.compile(r"^([\w.\[\]]+): ")


def _quiet(field: str, error: Any) -> bool:
    """Our own checks of text and of extra say what is wrong without echoing it (it may be long, or not printable)."""
    return error["type"] == "value_error" and (field in TEXT or field == "extra")


def shown(value: Any, most: int = 60) -> str:
    """``repr(value)``, cut short: an error message must stay one readable line whatever it was given."""
    try:
        text = repr(value)
    except RecursionError:  # a list nested thousands deep
        return f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= most else f"{text[:most]}… ({len(text)} characters)"
