"""GeneratePanel: prompt, controls drawn from the backend, Generate / Variations / Cancel, live preview, a strip of takes.

Runs happen on a worker thread so the kernel keeps answering the panel (Cancel
works mid-run). Previews travel as JPEG bytes in custom messages, at most
``preview_rate`` a second and only the latest: they are never part of the
saved notebook.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

import traitlets

from explorer import backends
from explorer.backends.base import RunControl, Step
from explorer.media import jpeg_from_frame
from explorer.request import LIMITS, Request, RequestError
from explorer.widgets._base import ExplorerWidget

COMMON_FIELDS = ("seed", "frames", "fps", "width", "height", "steps", "guidance")


class GeneratePanel(ExplorerWidget):
    """``lab.ui.generate("a prompt", backend="sketch", frames=24)``."""

    _module = traitlets.Unicode("generate_panel").tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    negative_prompt = traitlets.Unicode("").tag(sync=True)
    backend = traitlets.Unicode("sketch").tag(sync=True)
    model = traitlets.Unicode("").tag(sync=True)
    fields = traitlets.Dict().tag(sync=True)  # the common request fields
    extra = traitlets.Dict().tag(sync=True)  # backend parameters that differ from their defaults
    parent = traitlets.Unicode("").tag(sync=True)  # set by "fork": the next run records it
    variations = traitlets.Int(4).tag(sync=True)
    backends = traitlets.List().tag(sync=True)
    limits = traitlets.Dict().tag(sync=True)
    params = traitlets.List().tag(sync=True)  # the backend's own parameters, for its controls
    running = traitlets.Bool(False).tag(sync=True)
    progress = traitlets.Dict().tag(sync=True)  # {"step", "total", "elapsed", "eta", "run": i, "runs": n}
    message = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    strip = traitlets.List().tag(sync=True)  # finished takes, newest first
    preview_rate = traitlets.Float(4.0).tag(sync=True)

    def __init__(self, lab: Any, prompt: str = "", **fields: Any):
        defaults = Request(prompt=prompt or "placeholder", **{k: v for k, v in fields.items() if k in Request.model_fields and k != "prompt"})
        super().__init__(lab)
        self.prompt = prompt
        self.negative_prompt = defaults.negative_prompt
        self.backend = defaults.backend
        self.model = defaults.model or ""
        self.extra = dict(defaults.extra)
        self.fields = {name: getattr(defaults, name) for name in COMMON_FIELDS}
        self.backends = backends.available()
        self.limits = {name: list(LIMITS[name]) for name in COMMON_FIELDS}
        self._control: RunControl | None = None
        self._thread: threading.Thread | None = None
        self._last_preview = 0.0
        self._refresh_params()
        self.observe(lambda _change: self._refresh_params(), names=["backend", "model"])

    # -- from the browser ------------------------------------------------------

    def on_message(self, content: dict, buffers: list) -> None:
        kind = content.get("type")
        try:
            if kind == "generate":
                self.generate()
            elif kind == "variations":
                self.generate(n=int(content.get("n") or self.variations))
            elif kind == "cancel":
                self.cancel()
            elif kind == "fork":
                self.fork(content["id"])
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the kernel stays up
            self.error = f"{type(exc).__name__}: {exc}"

    # -- Python API (the buttons call these) ---------------------------------------

    def request(self) -> Request:
        """The request the form describes (raises RequestError naming the field)."""
        fields = {k: v for k, v in self.fields.items() if k in COMMON_FIELDS}
        return Request(prompt=self.prompt, negative_prompt=self.negative_prompt, backend=self.backend, model=self.model or None,
                       extra=dict(self.extra), parent=self.parent or None, **fields)

    def generate(self, n: int = 1) -> threading.Thread | None:
        """Start one run (or ``n`` variations: the next ``n`` seeds) on a worker thread."""
        if self.running:
            self.error = "a run is already going: wait, or Cancel it"
            return None
        self.error = ""
        try:
            base = self.request()
            backends.get(base.backend).check(base)
        except RequestError as exc:
            self.error = str(exc)
            return None
        requests = [base] if n <= 1 else [base.replace(seed=(base.seed + i) % (2**63 - 1)) for i in range(n)]
        self._control = RunControl()
        self.running = True
        self._thread = threading.Thread(target=self._run_all, args=(requests, self._control), name="explorer-generate", daemon=True)
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Stop the current run at its next step (it is logged as cancelled) and skip the rest."""
        if self._control is not None:
            self._control.cancel()
            self.message = "cancelling at the next step…"

    def fork(self, run_id: str) -> None:
        """Load a run's request into the form, recording it as the parent of the next run."""
        row = self._lab.log.run(run_id)
        request = Request.from_dict(row["request"])
        self.prompt, self.negative_prompt, self.backend = request.prompt, request.negative_prompt, request.backend
        self.model = request.model or ""
        self.extra = dict(request.extra)
        self.fields = {name: getattr(request, name) for name in COMMON_FIELDS}
        self.parent = row["id"]
        self.message = f"forking {row['id']}: change one thing and Generate"

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current batch ends (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the worker ------------------------------------------------------------------

    def _run_all(self, requests: list[Request], control: RunControl) -> None:
        try:
            for index, request in enumerate(requests):
                if control.cancelled:
                    break
                self.progress = {"step": 0, "total": request.steps, "elapsed": 0.0, "eta": None, "run": index + 1, "runs": len(requests)}
                self.message = f"run {index + 1} of {len(requests)}…" if len(requests) > 1 else "generating…"
                run = self._lab.generate(request, progress=False, control=control,
                                         on_step=lambda step, i=index, n=len(requests): self._on_step(step, i, n))
                if run.ok:
                    self.strip = [self._clip(run.id), *self.strip]
                    self.message = f"{run.id} done in {run.duration_s:.1f} s"
                elif run.status == "cancelled":
                    self.message = f"{run.id} cancelled (logged)"
                else:
                    self.error = f"{run.id} failed: {run.error}" + (f" — {run.hint}" if run.hint else "")
            self.parent = ""
        except Exception as exc:  # noqa: BLE001 - a worker error is shown, never lost in a thread
            self.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            self.running = False

    def _on_step(self, step: Step, index: int, count: int) -> None:
        eta = step.eta if step.index else None
        self.progress = {"step": step.index, "total": step.total, "elapsed": round(step.elapsed, 3),
                         "eta": None if eta is None or eta != eta else round(eta, 2), "run": index + 1, "runs": count}
        now = time.perf_counter()
        final = step.index >= step.total
        if step.preview is None or (not final and now - self._last_preview < 1.0 / max(self.preview_rate, 0.01)):
            return
        self._last_preview = now
        # time.time(), not perf_counter: the browser compares it with its own wall clock for the latency figure
        self.send({"type": "preview", "step": step.index, "total": step.total, "t": time.time()}, buffers=[jpeg_from_frame(step.preview, 80)])

    def _refresh_params(self) -> None:
        try:
            found = backends.get(self.backend).parameters(self.model or None)
        except Exception as exc:  # noqa: BLE001 - e.g. a model folder not there yet: say so, keep the form
            self.params, self.error = [], f"{type(exc).__name__}: {exc}"
            return
        self.params = [{"name": p.name, "type": p.type, "default": p.default, "min": p.minimum, "max": p.maximum, "help": p.help}
                       for p in found]
