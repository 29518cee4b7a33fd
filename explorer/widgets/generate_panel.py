"""GeneratePanel: prompt, controls drawn from the backend, Generate / Variations / Cancel, live preview, a strip of takes.

Runs happen on a worker thread so the kernel keeps answering the panel (Cancel
works mid-run). Previews travel as JPEG bytes in custom messages, at most
``preview_rate`` a second and only the latest: they are never part of the
saved notebook.

The "live" switch (``panel.live = True``) regenerates as the form changes: every
edit goes to an :class:`explorer.live.LiveRunner` (debounced, the stale take
cancelled, the latest wins, on its own worker thread). Live takes are logged
marked ``live`` and hidden from listings and review until kept (the Keep button,
``panel.keep()`` or ``lab.keep(run)``).

Files picked in the panel (a first or last frame, a video, a mask, a sound) travel to the kernel as bytes, are
stored by hash at once (a bad file is refused there, naming the field) and go with every run until removed
(``panel.attach(field, path_or_bytes)``, ``panel.detach(field)``).
"""

from __future__ import annotations

import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import traitlets

from explorer import backends
from explorer.backends.base import RunControl, Step
from explorer.live import DELAY_S, LiveRunner
from explorer.media import jpeg_from_frame
from explorer.request import LIMITS, Request, RequestError
from explorer.widgets._base import ExplorerWidget

COMMON_FIELDS = ("seed", "frames", "fps", "width", "height", "steps", "guidance")
MEDIA_FIELDS = ("image", "last_image", "video", "mask", "audio")  # what a file picked in the panel can be
LIVE_LINGER_S = 30.0  # how long a file log stays open between live takes


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
    progress = traitlets.Dict().tag(sync=True)  # {"step", "total", "elapsed", "eta", "run": i, "runs": n, "state": how it ended}
    message = traitlets.Unicode("").tag(sync=True)  # message and error: never both (see _say)
    error = traitlets.Unicode("").tag(sync=True)
    strip = traitlets.List().tag(sync=True)  # finished takes, newest first
    preview_rate = traitlets.Float(4.0).tag(sync=True)
    live = traitlets.Bool(False).tag(sync=True)  # regenerate as the form changes (explorer.live)
    live_seq = traitlets.Int(0).tag(sync=True)  # the browser's count of live edits: previews carry the edit they answer
    live_delay = traitlets.Float(DELAY_S).tag(sync=True)  # seconds of quiet before a live take starts
    media = traitlets.Dict().tag(sync=True)  # {field: its stored reference}: attached files, sent with every run

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
        self._live: LiveRunner | None = None
        self._linger: float | None = None  # the log connection's own linger, while live mode raises it
        self.observe(self._on_live_switch, names=["live"])
        self.observe(self._on_form_edit, names=["prompt", "negative_prompt", "fields", "extra", "backend", "model", "media"])

    # -- from the browser ------------------------------------------------------

    def on_message(self, content: dict, buffers: list) -> None:
        kind = content.get("type")
        try:
            if kind == "generate":
                self.generate()
            elif kind == "variations":
                self.vary(int(content.get("n") or self.variations))
            elif kind == "cancel":
                self.cancel()
            elif kind == "fork":
                self.fork(content["id"])
            elif kind == "keep":
                self.keep(content.get("id"))
            elif kind == "attach":
                if not buffers:
                    raise RequestError([f"{content.get('field')}: the file's bytes did not arrive"])
                self.attach(str(content.get("field")), bytes(buffers[0]), name=str(content.get("name") or "upload"))
            elif kind == "detach":
                self.detach(str(content.get("field")))
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the kernel stays up
            self._say(error=f"{type(exc).__name__}: {exc}")

    # -- Python API (the buttons call these) ---------------------------------------

    def request(self) -> Request:
        """The request the form describes (raises RequestError naming the field)."""
        fields = {k: v for k, v in self.fields.items() if k in COMMON_FIELDS}
        media = {k: v for k, v in self.media.items() if k in MEDIA_FIELDS}
        return Request(prompt=self.prompt, negative_prompt=self.negative_prompt, backend=self.backend, model=self.model or None,
                       extra=dict(self.extra), parent=self.parent or None, **fields, **media)

    def attach(self, field: str, data: bytes | str | Path, *, name: str | None = None) -> dict:
        """Attach a file (its bytes, or a path) as ``field`` (``image``, ``last_image``, ``video``, ``mask`` or
        ``audio``) to every run from now on. It is checked and stored by hash at once: a file that is not a picture,
        a clip or a sound is refused here (RequestError naming the field), not at Generate."""
        from explorer import audio, conditioning
        from explorer.limits import AUDIO_BYTES

        if field not in MEDIA_FIELDS:
            raise RequestError([f"attach: the field must be one of {', '.join(MEDIA_FIELDS)} (got {field!r})"])
        if isinstance(data, (str, Path)):
            data, name = Path(data).read_bytes(), name or Path(data).name
        if len(data) > AUDIO_BYTES:
            raise RequestError([f"{field}: the file is {len(data) / 2**20:.0f} MB; at most {AUDIO_BYTES // 2**20} MB"])
        with tempfile.TemporaryDirectory(prefix="explorer-attach-") as folder:
            path = Path(folder) / (Path(name or "upload").name or "upload")  # the name only, never a path from the browser
            path.write_bytes(data)
            if field == "audio":
                reference = Request(prompt="attach", audio=str(path)).audio  # checked and hashed (explorer.audio)
                audio.store(self._lab.log.media, reference)  # copied into the store before the file goes
            else:
                reference = conditioning.store_fields(self._lab, {field: str(path)}, self.backend)[field]
                reference = {**reference, "source": path.name}  # the file's name, not the temporary folder it passed through
        self.media = {**self.media, field: reference}
        self._say(f"{field}: {path.name} attached")
        return reference

    def detach(self, field: str) -> None:
        """Remove an attached file: the next runs go without it."""
        self.media = {k: v for k, v in self.media.items() if k != field}

    def generate(self, n: int = 1) -> threading.Thread | None:
        """Start the run the form describes on a worker thread (``n`` > 1: :meth:`vary` instead)."""
        if n > 1:
            return self.vary(n)
        return self._start(lambda: [self._checked(self.request())])

    def vary(self, n: int | None = None) -> threading.Thread | None:
        """The Variations button: ``lab.variations(take, n)`` on the current take, on a worker thread.

        The current take is the run loaded with "fork", else the newest take in the strip: the next ``n``
        seeds after its seed, each recording it as the parent, with whatever else the form has changed
        since. Before any take, the form's request is the source (the seeds after the form's seed), so
        Variations never makes the clip on screen again.
        """
        return self._start(lambda: self._variation_requests(n or self.variations))

    def current_take(self) -> str | None:
        """The run Variations starts from: the forked run, else the newest take (None before any)."""
        return self.parent or (self.strip[0]["id"] if self.strip else None)

    def _variation_requests(self, n: int) -> list[Request]:
        form = self._checked(self.request())
        take = self.current_take()
        if take is None:
            base, parent = form, form.parent
        else:
            row = self._lab.log.run(take)
            base, parent = Request.from_dict(row["request"]), row["id"]
            # the form's edits since that take carry over (seed excepted: the seeds follow the take's)
            changes = {k: v for k, v in form.model_dump().items() if k not in ("seed", "parent") and v != getattr(base, k)}
            base = base.replace(**changes) if changes else base
        # as lab.variations: seed + 1 … seed + n, each recording its source as parent
        return [self._checked(base.replace(seed=(base.seed + i) % (2**63 - 1), parent=parent)) for i in range(1, max(1, n) + 1)]

    @staticmethod
    def _checked(request: Request) -> Request:
        backends.get(request.backend).check(request)
        return request

    def _start(self, plan: Any) -> threading.Thread | None:
        if self.running:
            self._say(error="a run is already going: wait, or Cancel it")
            return None
        try:
            requests = plan()
        except RequestError as exc:
            self._say(error=str(exc))
            return None
        self._say()
        self._control = RunControl()
        self.running = True
        self._thread = threading.Thread(target=self._run_all, args=(requests, self._control), name="explorer-generate", daemon=True)
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Stop the current run at its next step (it is logged as cancelled) and skip the rest."""
        if self._live is not None and self._live.cancel():
            self._say("cancelling the live take…")
        if self._control is not None and self.running:
            self._control.cancel()
            self._say("cancelling at the next step…")

    def fork(self, run_id: str) -> None:
        """Load a run's request into the form, recording it as the parent of the next run."""
        row = self._lab.log.run(run_id)
        request = Request.from_dict(row["request"])
        self.prompt, self.negative_prompt, self.backend = request.prompt, request.negative_prompt, request.backend
        self.model = request.model or ""
        self.extra = dict(request.extra)
        self.fields = {name: getattr(request, name) for name in COMMON_FIELDS}
        self.media = {name: getattr(request, name) for name in MEDIA_FIELDS if getattr(request, name) is not None}
        self.parent = row["id"]
        self._say(f"forking {row['id']}: change one thing and Generate (or Variations: the next seeds)")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current batch ends, and live mode has nothing waiting or running (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self._live is not None:
            self._live.wait(timeout)

    # -- live mode (explorer.live) -------------------------------------------------------------------

    def live_take(self) -> str | None:
        """The live take on show and not kept yet (None if there is none)."""
        return next((c["id"] for c in self.strip if c.get("live") and not c.get("kept")), None)

    def keep(self, run_id: str | None = None) -> str:
        """Keep a live take (default: the one on show): listed, in the gallery and in review from now on."""
        run_id = run_id or self.live_take()
        if run_id is None:
            raise ValueError("no live take to keep: turn live on and edit the form, or give a run id")
        full = self._lab.log.resolve(run_id)
        newly = self._lab.keep(full)
        self.strip = [{**c, "kept": True} if c["id"] == full else c for c in self.strip]
        self._say(f"{full} kept: it shows in the gallery and review" if newly else f"{full} was listed already")
        return full

    def _on_live_switch(self, change: dict) -> None:
        connection = self._lab.log.connection
        if change["new"]:
            if self._live is None:
                self._live = LiveRunner(self._live_take, delay_s=self.live_delay)
            # A file log's connection is given back after `linger` idle seconds and reopened (~20 ms each way) on the
            # next take: while live, keep it between takes. Another process asking for the file still gets it at once.
            if hasattr(connection, "linger") and self._linger is None:
                self._linger, connection.linger = connection.linger, max(connection.linger, LIVE_LINGER_S)
            self._live.delay_s = self.live_delay
            self._submit_live()  # the form as it is now: a first take at once
        else:
            if self._live is not None:
                self._live.cancel()
            if self._linger is not None:
                connection.linger, self._linger = self._linger, None

    def _on_form_edit(self, _change: dict) -> None:
        if self.live:
            self._submit_live()

    def _submit_live(self) -> None:
        """Hand the form's request to the live runner; an invalid form is said, and the take on show stays."""
        try:
            request = self._checked(self.request())
        except RequestError as exc:
            self._say(error=str(exc))
            return
        self._live.delay_s = self.live_delay
        self._live.submit((request, self.live_seq))

    def _live_take(self, payload: tuple[Request, int], control: RunControl) -> None:
        """One live take, on the live runner's worker thread."""
        request, seq = payload
        if self._thread is not None:
            self._thread.join()  # a Generate or Variations batch under way finishes first: one run at a time per panel
        if control.cancelled:
            return
        self._last_preview = 0.0  # the new take's first preview goes out at once: that is the latency a person feels
        self.running = True
        try:
            # no "live take…" line and no step-0 progress: each is a message the browser handles before the first preview
            run = self._lab.generate(request, progress=False, control=control, live=True,
                                     on_step=lambda step: self._on_step(step, 0, 1, seq=seq))
            self.progress = {**self.progress, "eta": None, "state": run.status}
            if run.ok:
                # the newest live take replaces the previous one not kept: a drag leaves one take in the strip, not fifty
                clip = {**self._clip(run.id), "live": True, "kept": False}
                self.strip = [clip, *[c for c in self.strip if not (c.get("live") and not c.get("kept"))]]
                self._say(f"{run.id} live take in {run.duration_s:.1f} s (Keep it to list it)")
            elif run.status == "cancelled":
                self._say(f"{run.id} stale take cancelled (logged, hidden)")
            else:
                self._say(error=f"{run.id} failed: {run.error}" + (f" — {run.hint}" if run.hint else ""))
        except Exception as exc:  # noqa: BLE001 - a worker error is shown, never lost in a thread
            self.progress = {**self.progress, "eta": None, "state": "failed"}
            self._say(error=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            if not self._live.waiting:  # the next take starts at once: no flicker of the buttons
                self.running = False

    # -- the worker ------------------------------------------------------------------

    def _run_all(self, requests: list[Request], control: RunControl) -> None:
        failures: list[str] = []
        try:
            for index, request in enumerate(requests):
                if control.cancelled:
                    break
                self.progress = {"step": 0, "total": request.steps, "elapsed": 0.0, "eta": None, "run": index + 1, "runs": len(requests)}
                self._say(f"run {index + 1} of {len(requests)}…" if len(requests) > 1 else "generating…")
                run = self._lab.generate(request, progress=False, control=control,
                                         on_step=lambda step, i=index, n=len(requests): self._on_step(step, i, n))
                # the run is over: no ETA any more, say how it ended instead
                self.progress = {**self.progress, "eta": None, "state": run.status}
                if run.ok:
                    self.strip = [self._clip(run.id), *self.strip]
                    self._say(f"{run.id} done in {run.duration_s:.1f} s")
                elif run.status == "cancelled":
                    self._say(f"{run.id} cancelled (logged)")
                else:
                    failures.append(f"{run.id} failed: {run.error}" + (f" — {run.hint}" if run.hint else ""))
                    self._say(error=failures[-1])
            if failures and len(requests) > 1:  # a later run's news must not hide an earlier failure
                self._say(error=f"{len(failures)} of {len(requests)} runs failed; first: {failures[0]}")
            self.parent = ""
        except Exception as exc:  # noqa: BLE001 - a worker error is shown, never lost in a thread
            self.progress = {**self.progress, "eta": None, "state": "failed"}
            self._say(error=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            self.running = False

    def _say(self, message: str = "", error: str = "") -> None:
        """One line of news at a time: a new message or error replaces whatever was shown before."""
        with self.hold_sync():
            self.message, self.error = message, error

    def _on_step(self, step: Step, index: int, count: int, seq: int | None = None) -> None:
        eta = step.eta if step.index else None
        progress = {"step": step.index, "total": step.total, "elapsed": round(step.elapsed, 3),
                    "eta": None if eta is None or eta != eta else round(eta, 2), "run": index + 1, "runs": count}
        now = time.perf_counter()
        final = step.index >= step.total
        if step.preview is not None and (final or now - self._last_preview >= 1.0 / max(self.preview_rate, 0.01)):
            self._last_preview = now
            # time.time(), not perf_counter: the browser compares it with its own wall clock for the latency figure
            message = {"type": "preview", "step": step.index, "total": step.total, "t": time.time()}
            if seq is not None:  # a live take's: the browser times the edit it answers (bench/live_latency.py)
                message["seq"] = seq
            self.send(message, buffers=[jpeg_from_frame(step.preview, 80)])
        # the preview first, then the progress line: the picture is what a person waits for (live mode's latency)
        self.progress = progress

    def _refresh_params(self) -> None:
        try:
            found = backends.get(self.backend).parameters(self.model or None)
        except Exception as exc:  # noqa: BLE001 - e.g. a model folder not there yet: say so, keep the form
            self.params = []
            self._say(error=f"{type(exc).__name__}: {exc}")
            return
        self.params = [{"name": p.name, "type": p.type, "default": p.default, "min": p.minimum, "max": p.maximum, "help": p.help}
                       for p in found]
