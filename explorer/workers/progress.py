"""A sweep's progress as one value (cells done of total, workers busy, ETA) and the terminal bar that shows it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep on workers stands; ``eta_s`` is None until a cell has finished."""

    total: int
    done: int = 0
    succeeded: int = 0
    busy: int = 0
    workers: int = 0
    starting: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None

    @property
    def failed(self) -> int:
        return self.done - self.succeeded

    def line(self) -> str:
        """``12 of 16 cells · 2 of 2 workers busy · ETA 0:14`` (what the grid and the CLI show)."""
        parts = [f"{self.done} of {self.total} cells"]
        if self.failed:
            parts[0] += f" ({self.failed} not succeeded)"
        parts.append(f"{self.busy} of {self.workers} worker{'s' if self.workers != 1 else ''} busy")
        if self.starting:
            parts.append(f"{self.starting} starting")
        if self.eta_s is not None and self.done < self.total:
            parts.append(f"ETA {clock(self.eta_s)}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "done": self.done, "succeeded": self.succeeded, "busy": self.busy, "workers": self.workers,
                "starting": self.starting, "elapsed_s": round(self.elapsed_s, 3),
                "eta_s": None if self.eta_s is None else round(self.eta_s, 1)}


def estimate(total: int, done: int, since_first_cell: float) -> float | None:
    """Seconds left at the pace so far (cells finished per second of sweep, all workers together)."""
    if done <= 0 or since_first_cell <= 0:
        return None
    return (total - done) * since_first_cell / done


def clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class TerminalBar:
    """A tqdm bar of cells (a widget in a notebook, text in a terminal; none where stderr is not a terminal)."""

    def __init__(self, total: int, description: str):
        from tqdm.auto import tqdm

        # disable=None, as for a run's steps: no bar in logs and pipes, which it would flood
        self.bar = tqdm(total=total, desc=description, unit="cell", disable=None, dynamic_ncols=True)

    def __call__(self, progress: SweepProgress) -> None:
        self.bar.n = progress.done
        busy = f"{progress.busy}/{progress.workers} busy" + (f", {progress.starting} starting" if progress.starting else "")
        self.bar.set_postfix_str(busy, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def terminal_bar(total: int, description: str) -> TerminalBar | None:
    try:
        return TerminalBar(total, description)
    except Exception:  # noqa: BLE001 - a missing terminal or widget front end must not stop a sweep
        return None
