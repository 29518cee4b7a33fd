"""What every backend implements, and the small values it exchanges with the caller."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from explorer.request import Request


class Cancelled(Exception):
    """The run was asked to stop; raised at the next step boundary."""


class BackendError(RuntimeError):
    """A backend failed in a way it understands; ``hint`` says what to try next."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass
class Step:
    """Progress after one denoising step (1-based ``index`` of ``total``)."""

    index: int
    total: int
    elapsed: float
    preview: np.ndarray | None = None  # small H×W×3 uint8 image, when the backend can make one cheaply

    @property
    def eta(self) -> float:
        return self.elapsed / self.index * (self.total - self.index) if self.index else float("nan")


@dataclass
class Parameter:
    """One parameter a backend accepts, so forms can be drawn from the model."""

    name: str
    type: str  # "int" | "float" | "str" | "bool" | "image" | "video" | "json"
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


@dataclass
class RunControl:
    """Handed to a backend for one run: report progress, learn about cancellation.

    ``step()`` raises :class:`Cancelled` once ``cancel()`` has been called, so a
    backend stops at the next step boundary without extra code.
    """

    on_step: Callable[[Step], None] | None = None
    started: float = field(default_factory=time.perf_counter)
    _cancel: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def step(self, index: int, total: int, preview: np.ndarray | None = None) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"cancelled after step {index - 1} of {total}")
        if self.on_step is not None:
            self.on_step(Step(index, total, time.perf_counter() - self.started, preview))
        if self._cancel.is_set():
            raise Cancelled(f"cancelled at step {index} of {total}")


class Backend:
    """Base class: turn a :class:`Request` into frames (T×H×W×3 uint8).

    Subclasses set ``name`` and implement :meth:`generate`; they may override
    :meth:`parameters`, :meth:`info` and :meth:`hint`. Register one for
    ``backend="name"`` through the ``explorer.backends`` entry-point group.
    """

    name: ClassVar[str] = ""
    # The keyframable request fields this backend honours (explorer.keyframes); others are refused by :meth:`check`.
    keyframable: ClassVar[frozenset[str]] = frozenset()
    # The conditioning media fields this backend honours (explorer.conditioning); others are refused by :meth:`check`,
    # and by the lab before it stores them. None: the backend decides per request in its own check.
    conditionable: ClassVar[frozenset[str] | None] = frozenset()
    # Whether this backend honours a request's ``motion`` (explorer.motion); if not, :meth:`check` refuses one.
    takes_motion: ClassVar[bool] = False

    def generate(self, request: Request, control: RunControl) -> np.ndarray:
        raise NotImplementedError

    def parameters(self, model: str | None = None) -> list[Parameter]:
        """Extra parameters accepted in ``request.extra`` (beyond the common fields)."""
        return []

    def info(self, request: Request) -> dict[str, Any]:
        """Device, library versions and model details recorded with each run."""
        return {}

    def hint(self, error: BaseException) -> str | None:
        """A next step for the user when ``error`` ended a run."""
        return getattr(error, "hint", None)

    def check(self, request: Request) -> None:
        """Reject what this backend cannot do, before any work (raise RequestError)."""
        from explorer.request import RequestError

        refused = [name for name in request.keyframes if name not in self.keyframable]
        if refused:  # a backend that does not know keyframes would quietly make a clip without them
            takes = ", ".join(sorted(self.keyframable)) or "none"
            raise RequestError([f"keyframes.{name}: backend {self.name!r} does not take keyframes for {name} (it takes: {takes})" for name in refused])
        if request.motion and not self.takes_motion:  # else the regions would quietly stay still
            raise RequestError([f"motion: backend {self.name!r} does not take a motion plan (the sketch backend does, and diffusers with WanVACEPipeline)"])
        from explorer.conditioning import refuse

        if self.conditionable is not None:
            refuse(request, self.conditionable, f"backend {self.name!r}")
        accepted = {p.name for p in self.parameters(request.model)}
        unknown = sorted(set(request.extra) - accepted)
        if unknown:
            allowed = ", ".join(sorted(accepted)) or "none"
            raise RequestError([f"extra.{name}: not a parameter of backend {self.name!r} (accepted: {allowed})" for name in unknown])
