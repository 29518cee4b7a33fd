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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_SEED = 2**63 - 1

# One table of limits, used by validation, by error messages and by the CLI's --help.
LIMITS: dict[str, tuple[float, float]] = {
    "seed": (0, MAX_SEED),
    "frames": (1, 1000),
    "fps": (1, 120),
    "width": (2, 4096),
    "height": (2, 4096),
    "steps": (1, 1000),
    "guidance": (0.0, 50.0),
}


class RequestError(ValueError):
    """A request field holds a value outside what is allowed; the message names it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _limited(name: str, default: Any, **extra: Any) -> Any:
    low, high = LIMITS[name]
    return Field(default, ge=low, le=high, **extra)


class Request(BaseModel):
    """What to generate. Immutable; derive a changed copy with :meth:`replace`."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    prompt: str = Field(min_length=1, max_length=4000)
    negative_prompt: str = Field("", max_length=4000)
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

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        if not value.strip():
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
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must hold only JSON values ({exc})") from None
        return value

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
        return self.model_dump(mode="json")

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def parse_size(text: str) -> tuple[int, int]:
    """'512x288' -> (512, 288); raises RequestError naming 'size' on anything else."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise RequestError([f"size: must look like WIDTHxHEIGHT, e.g. 512x288 (got {text!r})"])
    return int(parts[0]), int(parts[1])


def _explain(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "request"
        given = error.get("input")
        if error["type"] in ("greater_than_equal", "less_than_equal") and field in LIMITS:
            low, high = LIMITS[field]
            message = f"must be between {_fmt(low)} and {_fmt(high)}"
        elif error["type"] == "extra_forbidden":
            message = f"is not a request field (fields: {', '.join(Request.model_fields)})"
        elif error["type"] == "missing":
            problems.append(f"{field}: is required")
            continue
        else:
            message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message} (got {given!r})")
    return problems


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
