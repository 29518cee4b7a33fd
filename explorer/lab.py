"""The one entry point: ``lab = explorer.open(path)``, then generate, fork, rate, vote, annotate and query.

>>> import explorer, os, tempfile
>>> lab = explorer.open(os.path.join(tempfile.mkdtemp(), "lab.duckdb"), author="ada")
>>> first = lab.generate("neon city rain", seed=3, frames=8, progress=False)
>>> other = lab.fork(first, seed=4, progress=False)
>>> other.request.parent == first.id
True
>>> _ = lab.rate(first, 4, tags=["moody"])
>>> int(lab.runs(tag="moody").shape[0])
1
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import platform
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from explorer import backends, metrics
from explorer.backends.base import Cancelled, RunControl, Step
from explorer.log import Log, default_author, default_db_path
from explorer.log import queries
from explorer.log.recovery import Heartbeat
from explorer.media import MediaError, check_frames, read_recipe
from explorer.request import Request, RequestError, check, shown

if TYPE_CHECKING:  # pandas only where a DataFrame is returned: the CLI's commands need none
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Run:
    """One logged run: its request, outcome and clip."""

    id: str
    status: str
    request: Request
    media: Path | None = None
    sha256: str | None = None
    error: str | None = None
    hint: str | None = None
    duration_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def raise_for_status(self) -> Run:
        """Raise RuntimeError for a failed or cancelled run; return the run otherwise."""
        if not self.ok:
            detail = f": {self.error}" if self.error else ""
            hint = f" (hint: {self.hint})" if self.hint else ""
            raise RuntimeError(f"run {self.id} {self.status}{detail}{hint}")
        return self

    def to_dict(self) -> dict[str, Any]:
        request = self.request.to_dict()
        return {
            "id": self.id, "status": self.status, "media": str(self.media) if self.media else None, "sha256": self.sha256,
            "error": self.error, "hint": self.hint, "duration_s": self.duration_s, **request,
        }

    def __repr__(self) -> str:
        outcome = f"{self.media}" if self.ok else f"{self.error or ''}"
        return f"<Run {self.id} {self.status} {self.request.backend} seed={self.request.seed} {self.request.prompt!r} {outcome}>"


def open(path: str | os.PathLike | None = None, *, storage: str | os.PathLike | None = None, author: str | None = None,  # noqa: A001
         create: bool = True, shared: bool = False) -> Lab:
    """Open (or create) a log; ``path`` falls back to ``EXPLORER_DB``, then ``explorer.duckdb`` here.

    ``path`` is a file (a person's log) or ``postgresql://USER@HOST:PORT/DB``, a team log, whose clips and data
    files live in ``storage`` (else ``EXPLORER_STORAGE``), a folder every machine of the team mounts.
    With ``create=False`` a missing log raises :class:`~explorer.log.LogMissing` and nothing is created.
    ``shared=True`` creates a new file log shared with the Unix group of its folder (README: "Sharing a log with your group").
    """
    return Lab(default_db_path(path), storage=storage, author=author, create=create, shared=shared)


class Lab:
    """Generate clips and record taste in one log. Create with :func:`explorer.open`.

    Everything given is checked against :mod:`explorer.limits` before anything is written: a value
    outside them raises :class:`RequestError` naming the field, a run the log does not hold a
    :class:`~explorer.log.LogError`::

        >>> import explorer, os, tempfile
        >>> lab = explorer.open(os.path.join(tempfile.mkdtemp(), "lab.duckdb"), author="ada")
        >>> lab.generate("a kite", parent="0000000000ff", progress=False)
        Traceback (most recent call last):
        ...
        explorer.request.RequestError: parent: no run '0000000000ff' in lab.duckdb
    """

    compute_metrics = True  # measure each new clip (explorer.metrics); set False on a lab to skip it

    def __init__(self, path: str | os.PathLike, *, storage: str | os.PathLike | None = None, author: str | None = None,
                 create: bool = True, shared: bool = False):
        author = author or default_author()
        check(author=author)  # before the log is opened: a bad name leaves nothing behind
        self.log = Log(path, storage=storage, create=create, shared=shared)
        self.author = author

    @classmethod
    def on(cls, log: Log, author: str) -> Lab:
        """A lab over an already open log, acting as ``author`` (the server makes one per request user)."""
        lab = cls.__new__(cls)
        lab.log, lab.author = log, author
        return lab

    def __repr__(self) -> str:
        return f"<Lab {self.log.location} author={self.author!r}>"

    @property
    def ui(self) -> Any:
        """The widgets (``lab.ui.player(run)``, ``lab.ui.compare(...)``, …), bound to this lab."""
        from explorer.widgets import UI

        return UI(self)

    # -- making clips --------------------------------------------------------

    def generate(self, prompt: str | Request | None = None, *, progress: bool = True, on_step: Callable[[Step], None] | None = None,
                 control: RunControl | None = None, _sweep: tuple[str, dict] | None = None, live: bool = False, **fields: Any) -> Run:
        """Make one clip and log the run, whatever its outcome.

        ``prompt`` is text or a whole :class:`Request`; other request fields go as
        keywords (``seed=``, ``frames=``, ``backend=``…). An invalid request raises
        :class:`RequestError` before anything runs. A run that fails or is
        cancelled is logged and returned with ``status`` saying so (check
        ``run.ok`` or call ``run.raise_for_status()``). A kernel interrupt is
        logged as cancelled, then re-raised so loops stop.

        ``live=True`` marks the run as a live mode take (:mod:`explorer.live`): logged like any run, but left out of
        ``lab.runs()``, the gallery and review until :meth:`keep`.
        """
        from explorer import conditioning

        backend_name = fields.get("backend") or getattr(prompt, "backend", None) or Request.model_fields["backend"].default
        request = self._with_parent(_as_request(prompt, conditioning.store_fields(self, fields, backend_name)))
        conditioning.check_stored(self.log.media, request)
        media_token = conditioning.current_store.set(self.log.media)  # where the backend reads the conditioning media
        try:
            return self._generate(request, progress, on_step, control, _sweep, live)
        finally:
            conditioning.current_store.reset(media_token)

    def _generate(self, request: Request, progress: bool, on_step: Callable[[Step], None] | None, control: RunControl | None,
                  _sweep: tuple[str, dict] | None, live: bool = False) -> Run:
        backend = backends.get(request.backend)
        backend.check(request)
        audio_file = self._stored_audio(request)  # before the run is logged: a track the store cannot get is refused
        control = control or RunControl()
        bar = _progress_bar(request) if progress else None
        control.on_step = _chain(on_step, bar)
        sweep_id, sweep_cell = _sweep or (None, None)

        run_id = self.log.start_run(request, author=self.author, sweep_id=sweep_id, sweep_cell=sweep_cell, live=live)
        started = time.perf_counter()
        control.started = started
        outcome: dict[str, Any] = {"versions": _versions(), "device": "cpu"}
        heartbeat = Heartbeat(self.log, run_id).__enter__()  # while it beats, every reader knows the run is alive
        try:
            info = backend.info(request)
            outcome["backend_info"] = info
            outcome["device"] = info.get("device", "cpu")
            frames = check_frames(backend.generate(request, control))
            generated = time.perf_counter()
            measuring = _measure_beside(frames) if self.compute_metrics else None
            clip = self.log.media.put(frames, request.fps, recipe={"run": run_id, "request": request.to_dict()}, audio=audio_file)
            encoded = time.perf_counter()
            timings = {"generate_s": generated - started, "encode_s": encoded - generated}
            values = metrics.measured(measuring, run_id) if measuring is not None else None  # a fault: a warning, no metrics
            self.log.finish_run(run_id, "succeeded", clip=clip, duration_s=encoded - started, timings=timings, metrics=values, **outcome)
            if measuring is not None:
                metrics.store_clip(self.log, run_id, frames, request.prompt)
            return Run(run_id, "succeeded", request, clip.path, clip.sha256, duration_s=encoded - started)
        except Cancelled as exc:
            return self._end(run_id, "cancelled", request, started, outcome, str(exc))
        except KeyboardInterrupt:
            self._end(run_id, "cancelled", request, started, outcome, "interrupted (KeyboardInterrupt)")
            raise
        except Exception as exc:  # noqa: BLE001 - any backend fault becomes a logged failure, the kernel stays usable
            hint = backend.hint(exc) or (None if not isinstance(exc, MediaError) else "the backend returned frames that are not a clip")
            return self._end(run_id, "failed", request, started, outcome, f"{type(exc).__name__}: {exc}", hint)
        finally:
            heartbeat.__exit__()
            if bar is not None:
                bar.close()

    def _end(self, run_id: str, status: str, request: Request, started: float, outcome: dict, error: str, hint: str | None = None) -> Run:
        duration = time.perf_counter() - started
        self.log.finish_run(run_id, status, error=error, hint=hint, duration_s=duration, **outcome)
        if status == "failed":
            warnings.warn(f"run {run_id} failed: {error}" + (f" (hint: {hint})" if hint else ""), RuntimeWarning, stacklevel=3)
        return Run(run_id, status, request, error=error, hint=hint, duration_s=duration)

    def _stored_audio(self, request: Request) -> Path | None:
        """The request's sound in this log's media store (copied in on first use), or None; RequestError naming ``audio``."""
        if request.audio is None:
            return None
        from explorer.audio import AudioProblem, store

        try:
            return store(self.log.media, request.audio)
        except AudioProblem as exc:
            raise RequestError([f"audio: {exc}"]) from None

    def audio_curve(self, path: str | os.PathLike, kind: str = "onset", *, low: float = 0.0, high: float = 1.0) -> Any:
        """A curve from a sound file for ``keyframes``, one value per frame from ``low`` to ``high`` (README: "Sound").

        ``kind`` is ``onset`` (onset strength), ``beats`` (1 on a beat's frame) or ``loudness`` (RMS in dB);
        ``keyframes={"guidance": lab.audio_curve("track.wav", "onset", low=3, high=9)}``. The request resolves it
        against its own fps and frames and stores the numbers. Needs librosa (``pip install clip-explorer[audio]``).
        """
        from explorer.audio import curve

        return curve(path, kind, low=low, high=high)

    def _with_parent(self, request: Request) -> Request:
        """``request`` with its parent as a full id of a run in this log; a parent the log does not hold is refused."""
        if request.parent is None:
            return request
        from explorer.log import LogError

        try:
            parent = self.log.resolve(request.parent)
        except LogError as exc:
            raise RequestError([f"parent: {str(exc).removeprefix('run id: ')}"]) from None
        return request if parent == request.parent else request.replace(parent=parent)

    def variations(self, source: str | Run | Request, n: int = 4, *, progress: bool = True, **changes: Any) -> list[Run]:
        """``n`` runs of the same request with the next ``n`` seeds, each recording ``source`` as its parent."""
        from explorer.conditioning import store_fields

        base, parent = self._source(source)
        base = base.replace(**store_fields(self, _changes(changes))) if changes else base
        requests = [base.replace(seed=(base.seed + i) % (2**63 - 1), parent=parent) for i in range(1, n + 1)]
        return [self.generate(r, progress=progress) for r in requests]

    def fork(self, source: str | Run | Request | os.PathLike, *, progress: bool = True, on_step: Callable[[Step], None] | None = None,
             **changes: Any) -> Run:
        """Run ``source`` again with some fields changed, recording it as the parent.

        ``source`` is a run id (or unique prefix), a :class:`Run`, or the path of
        an MP4 made by Clip Explorer (its recipe travels inside the file; when its
        run is not in this log, the fork starts a new family). ``parent`` is not
        a change a fork can make: it is ``source``.
        """
        from explorer.conditioning import store_fields

        base, parent = self._source(source)
        changes = store_fields(self, _changes(changes), changes.get("backend") or base.backend)
        return self.generate(base.replace(**changes, parent=parent), progress=progress, on_step=on_step)

    def extend(self, run: str | Run, *, progress: bool = True, on_step: Callable[[Step], None] | None = None, **changes: Any) -> Run:
        """Continue ``run``: a fork whose ``image`` is the run's last frame (README "Conditioning media").

        ``last_image``, ``video`` and ``mask`` were aligned to the old clip and are dropped unless given again;
        other fields, the seed included, carry over, and ``changes`` change them (``prompt=``, ``seed=``…).
        """
        from explorer.conditioning import extension

        source = run if isinstance(run, Run) else self.run(str(run))
        return self.fork(source, progress=progress, on_step=on_step, **extension(source, changes))

    def frame(self, run: str | Run, index: int) -> Any:
        """Frame ``index`` of ``run``'s clip (negative: from the end), to give as ``image=``, ``last_image=``…"""
        from explorer.conditioning import Frame

        source = run if isinstance(run, Run) else self.run(str(run))
        count = source.request.frames
        if isinstance(index, bool) or not isinstance(index, int) or not -count <= index < count:
            raise RequestError([f"frame: {shown(index)} is outside run {source.id}'s clip (its {count} frames are 0 to {count - 1}, "
                                f"or -{count} to -1)"])
        return Frame(source, index)

    def rerun(self, source: str | Run, *, progress: bool = True) -> Run:
        """The same request again (same seed: the same frames, on the same device)."""
        base, _ = self._source(source)
        return self.generate(base, progress=progress)

    def sweep(self, base: str | Request, axes: dict[str, list], *, name: str | None = None, progress: bool = True,
              workers: str | None = None, max_workers: int | None = None, **fields: Any) -> pd.DataFrame:
        """Run every combination of ``axes`` (e.g. ``{"seed": [1, 2], "guidance": [3, 9]}``) and return the runs.

        Every cell is validated before the first one runs; the sweep is logged
        with its runs, so ``lab.runs(sweep=id)`` reopens it later. ``workers=None``
        runs the cells here, one after another; ``workers="ray"`` (the connected
        Ray cluster, else a local one) or ``"ray://HOST:PORT"`` runs them on Ray
        workers, one per device, at most ``max_workers`` (:mod:`explorer.workers`).
        """
        pool = None
        if workers is not None:  # checked, and Ray reached, before the sweep is logged; Ray is imported only here
            from explorer.workers import connect

            pool = connect(self, workers, max_workers=max_workers)
        elif max_workers is not None:
            raise RequestError(["max_workers: only with workers='ray' or 'ray://HOST:PORT' (in the kernel, cells run one at a time)"])
        sweep_id, cells, requests = self.plan_sweep(base, axes, name=name, **fields)
        if pool is not None:
            pool.run(sweep_id, cells, requests, progress=progress)
        else:
            for cell, r in zip(cells, requests):
                self.generate(r, progress=progress, _sweep=(sweep_id, cell))
        return self.runs(sweep=sweep_id, sort="oldest")

    def plan_sweep(self, base: str | Request, axes: dict[str, list], *, name: str | None = None, **fields: Any) -> tuple[str, list[dict], list[Request]]:
        """Validate every cell and log the sweep; returns (sweep id, cells, requests) for the caller to run."""
        from explorer.conditioning import store_fields

        request = _as_request(base, store_fields(self, fields))  # a sweep's fixed media (image=...) are stored once
        if not axes or not all(isinstance(v, (list, tuple)) and v for v in axes.values()):
            raise RequestError(["axes: give each field a non-empty list of values, e.g. {'seed': [1, 2, 3]}"])
        names = list(axes)
        cells = [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]
        requests = [request.replace(**cell) for cell in cells]
        for r in requests:
            backends.get(r.backend).check(r)
            self._stored_audio(r)  # in the store before any cell runs: a worker elsewhere finds it there
        sweep_id = self.log.add_sweep(request, {k: list(v) for k, v in axes.items()}, author=self.author, name=name)
        return sweep_id, cells, requests

    def _source(self, source: Any) -> tuple[Request, str | None]:
        from explorer.recipes import Recipe

        if isinstance(source, Recipe):  # a gallery recipe: its request, and no parent (it is not in the log)
            return source.request, None
        if isinstance(source, Request):
            return source, source.parent
        if isinstance(source, Run):
            return source.request, source.id
        if isinstance(source, (str, Path)) and str(source).lower().endswith(".mp4"):
            recipe = read_recipe(source)
            request = recipe["request"] if isinstance(recipe.get("request"), dict) else {}
            if isinstance(request.get("audio"), dict):  # its track lies in the store the clip came from
                from explorer.audio import beside_clip

                beside_clip(source, request["audio"])
            return Request.from_dict({**request, "parent": self._known(request.get("parent"))}), self._known(recipe.get("run"))
        row = self.log.run(str(source))
        return Request.from_dict(row["request"]), row["id"]

    def _known(self, run_id: Any) -> str | None:
        """``run_id`` if this log holds that run, else None: a clip made in another log starts a new family here."""
        from explorer.log import LogError

        try:
            return self.log.resolve(run_id) if isinstance(run_id, str) else None
        except (LogError, RequestError):
            return None

    def gallery(self, path: str | os.PathLike | None = None) -> list:
        """The starter recipes (a list of :class:`explorer.recipes.Recipe`): ``lab.generate(r.request)`` or ``lab.fork(r, seed=7)``."""
        from explorer.recipes import load_recipes

        return load_recipes(path)

    # -- taste -----------------------------------------------------------------

    def rate(self, run: str | Run, score: int, *, tags: list[str] | tuple[str, ...] | str = (), note: str | None = None) -> str:
        """Give a run 1–5 stars (plus tags and a note); a new rating replaces your earlier one."""
        return self.log.rate(_id(run), score, author=self.author, tags=tags, note=note)

    def vote(self, winner: str | Run, loser: str | Run, *, tie: bool = False) -> str:
        """Record a pairwise preference (``tie=True`` when neither wins)."""
        return self.log.vote(_id(winner), _id(loser), author=self.author, tie=tie)

    def annotate(self, run: str | Run, text: str, *, frame: int = 0, end_frame: int | None = None, region: dict[str, float] | None = None) -> str:
        """A note on a frame (or frame range), optionally on a box ``{"x","y","w","h"}`` in fractions of the frame."""
        return self.log.annotate(_id(run), text, author=self.author, frame=frame, end_frame=end_frame, region=region)

    # -- reading -----------------------------------------------------------------

    def runs(self, **filters: Any) -> pd.DataFrame:
        """Runs as a DataFrame; filters: text, tag, author, backend, model, status, min_rating, parent, sweep, sort, limit.

        ``metrics=True`` adds a ``metric_<name>`` column per clip metric (:mod:`explorer.metrics`, latest version).
        ``live=True`` also lists live mode takes that were not kept (the ``live`` column marks every live take).
        """
        return queries.runs(self.log, **filters)

    def keep(self, run: str | Run) -> bool:
        """Keep a live mode take: listed, in the gallery and in review like any run from now on.

        True if it was a live take not kept yet; False for a run already listed (an ordinary run, or kept before).
        """
        return self.log.keep(_id(run))

    def metrics(self) -> pd.DataFrame:
        """Every measured run's clip metrics, one ``metric_<name>`` column each, indexed by run id."""
        from explorer.metrics import table

        return table(self.log)

    def backfill_metrics(self, *, force: bool = False, progress: bool = True) -> dict[str, Any]:
        """Measure the succeeded runs that lack a current metric, reading each clip back; idempotent.

        ``force=True`` measures every clip again (new rows; readers take the latest). Returns the counts:
        ``{"measured", "missing" (clip file gone), "failed", "seconds"}``.
        """
        from explorer.metrics import backfill

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(desc="metrics", unit="clip", leave=False, disable=None)

        def on_run(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.refresh()

        try:
            return backfill(self.log, force=force, on_run=on_run).to_dict()
        finally:
            if bar is not None:
                bar.close()

    def run(self, run_id: str) -> Run:
        row = self.log.run(run_id)
        return Run(row["id"], row["status"], Request.from_dict(row["request"]), Path(row["media"]) if row["media"] else None,
                   row["media_sha256"], row["error"], row["hint"], row["duration_s"])

    def ratings(self, run: str | Run | None = None, *, latest: bool = True) -> pd.DataFrame:
        return queries.ratings(self.log, None if run is None else _id(run), latest=latest)

    def votes(self) -> pd.DataFrame:
        return queries.votes(self.log)

    def annotations(self, run: str | Run | None = None) -> pd.DataFrame:
        return queries.annotations(self.log, None if run is None else _id(run))

    def tags(self, limit: int = 50) -> list[str]:
        """Tags in use, most used first."""
        return queries.tags(self.log, limit)

    def lineage(self, run: str | Run) -> pd.DataFrame:
        """Ancestors (depth < 0), the run (0) and descendants (depth > 0)."""
        return queries.lineage(self.log, _id(run))

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Any SQL over the log's tables (runs, media, ratings, votes, annotations, sweeps)."""
        return self.log.query(query, params)


def _changes(changes: dict[str, Any]) -> dict[str, Any]:
    """A fork's or variation's changes: every request field but ``parent``, which is the run they derive from."""
    if "parent" in changes:
        raise RequestError([f"parent: a fork's parent is the run it forks from; to choose another, generate with parent= (got {shown(changes['parent'])})"])
    return changes


def _id(run: str | Run) -> str:
    return run.id if isinstance(run, Run) else run


def _as_request(prompt: str | Request | None, fields: dict[str, Any]) -> Request:
    if isinstance(prompt, Request):
        return prompt.replace(**fields) if fields else prompt
    if prompt is not None:
        fields = {"prompt": prompt, **fields}
    if isinstance(fields.get("size"), str):
        from explorer.request import parse_size

        fields["width"], fields["height"] = parse_size(fields.pop("size"))
    return Request(**fields)


def _chain(*callbacks: Any) -> Callable[[Step], None] | None:
    active = [c for c in callbacks if c is not None]
    if not active:
        return None

    def on_step(step: Step) -> None:
        for callback in active:
            callback(step)

    return on_step


class _TqdmSteps:
    """A tqdm bar fed by step callbacks (tqdm.auto: a widget in notebooks, text in terminals)."""

    def __init__(self, request: Request):
        from tqdm.auto import tqdm

        # disable=None: no bar where stderr is not a terminal (logs, pipes), which it would flood; notebooks get theirs.
        self.bar = tqdm(total=request.steps, desc=f"{request.backend}: {request.prompt[:40]}", unit="step", leave=False, disable=None)

    def __call__(self, step: Step) -> None:
        self.bar.total = step.total
        self.bar.n = step.index
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


_measurer: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None  # (the process it was made in, the pool)
_measurer_lock = threading.Lock()


def _measure_beside(frames: np.ndarray) -> concurrent.futures.Future:
    """Start measuring a clip's metrics in a thread while it is encoded: OpenCV and the encoder both release the GIL,
    so on a machine with two cores or more the metrics add next to nothing to ``generate`` (bench/metrics_cost.py).
    On one core they are measured here, before the encoding."""
    global _measurer
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) < 2:  # one core: a thread adds only switching
        done: concurrent.futures.Future = concurrent.futures.Future()
        try:
            done.set_result(metrics.measure(frames))
        except Exception as exc:  # noqa: BLE001 - handed on as the thread would: metrics.measured() warns
            done.set_exception(exc)
        return done
    with _measurer_lock:
        # A forked child inherits the pool but not its thread: work handed to it would wait forever. One pool per process.
        if _measurer is None or _measurer[0] != os.getpid():
            _measurer = (os.getpid(), concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="explorer-metrics"))
    return _measurer[1].submit(lambda: metrics.measure(frames))  # looked up at call time: tests may replace it


def _progress_bar(request: Request) -> _TqdmSteps | None:
    try:
        return _TqdmSteps(request)
    except Exception:  # noqa: BLE001 - a missing terminal or widget front end must not stop a run
        return None


def _versions() -> dict[str, str]:
    import av
    import duckdb
    import numpy

    from explorer import __version__

    return {"explorer": __version__, "python": platform.python_version(), "numpy": numpy.__version__, "av": av.__version__,
            "duckdb": duckdb.__version__, "platform": sys.platform}

