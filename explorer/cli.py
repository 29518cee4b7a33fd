"""`explorer …`: generate, list, rate, vote, show and fork clips from the shell (Typer + Rich).

Every command takes `--db` (else `EXPLORER_DB`, else `explorer.duckdb` in
the working folder). Exit codes: 0 done, 1 the run failed or was cancelled or
the environment stopped the work (a full disk, a read-only log, a busy log),
2 bad input (one line on stderr naming the option).
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.console import Console
from rich.text import Text

from explorer.limits import JSON_DEPTH, RANGES

try:
    from typer._click.exceptions import ClickException  # Typer 0.2x carries its own copy of Click
except ImportError:  # pragma: no cover - an older Typer on Click itself
    from click.exceptions import ClickException

# Imports cost every command time before it does anything (issue 9: a command on a log should answer in under 2 s),
# so what only some commands need is imported inside them: pandas, DuckDB and PyAV with the log (explorer.lab),
# pydantic with a request, Rich's tables and progress bars where they are drawn, Typer's Rich help and error
# formatting (typer.rich_utils, which pulls in a Markdown parser) only when there is help or an error to show.


def _one_line_errors() -> None:
    """Have Typer print Click's errors with :func:`_usage_error`; Typer imports ``typer.rich_utils`` only to show one."""
    import typer.rich_utils

    typer.rich_utils.rich_format_error = _usage_error


class _Commands(typer.core.TyperGroup):
    """The command group, which puts :func:`_usage_error` in place just before Typer formats a Click error."""

    def make_context(self, *args: Any, **kwargs: Any):  # the group's own options (`explorer --bogus`)
        try:
            return super().make_context(*args, **kwargs)
        except ClickException:
            _one_line_errors()
            raise

    def invoke(self, ctx):  # a command's arguments and options, and what its callback raises
        try:
            return super().invoke(ctx)
        except ClickException:
            _one_line_errors()
            raise


app = typer.Typer(cls=_Commands, help=__doc__, no_args_is_help=True, add_completion=False, rich_markup_mode="markdown")


def _flag_type(self, ctx):
    """On/off flags take no value, so --help shows no type for them (Typer 0.2x prints `<bool>`)."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type
out = Console()
err = Console(stderr=True)

DbOption = typer.Option(None, "--db", envvar="EXPLORER_DB", show_default=False,
                        help="Log: a file (default: EXPLORER_DB, else ./explorer.duckdb) or a team log, postgresql://USER@HOST:PORT/DB "
                             "(password in PGPASSWORD or ~/.pgpass, never in the URL).")
StorageOption = typer.Option(None, "--storage", envvar="EXPLORER_STORAGE", show_default=False,
                             help="A team log's shared folder, as mounted here (default: EXPLORER_STORAGE).")
AuthorOption = typer.Option(None, "--author", help="Who is acting (default: EXPLORER_AUTHOR, JupyterHub user or login name).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
# The filters `runs` and `export` share.
TextOption = typer.Option(None, help="Only prompts containing this text.")
TagOption = typer.Option(None, help="Only runs carrying this tag.")
AuthorFilterOption = typer.Option(None, "--author", help="Only runs by this author.")
BackendFilterOption = typer.Option(None, help="Only this backend.")
MinRatingOption = typer.Option(None, help="Only runs whose mean rating is at least this (0–5).")
STATUSES = "succeeded, failed, cancelled or running"


def _range(name: str) -> str:
    low, high = RANGES[name]
    return "–".join(str(int(v)) if float(v).is_integer() else str(v) for v in (low, high))


def say(text: str, *, console: Console = out, style: str | None = None) -> None:
    """Print text that may hold user input as it is: no markup (a note may say "[/b]"), no highlighting, no wrapping.

    Rich's highlighter and wrapper cost time that grows with the square of a line's length; plain output stays linear.
    """
    console.print(Text(text, style=style or ""), soft_wrap=True, highlight=False)


def _print_json(text: str) -> None:
    """JSON on stdout: coloured for a person at a terminal, plain (and fast: no highlighting pass) for a pipe or a big answer."""
    if out.is_terminal and len(text) < 100_000:
        out.print_json(text)
    else:
        sys.stdout.write(json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n")


def fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr, ``error: …``; the caller raises what this returns (exit 2: bad input, 1: the environment)."""
    err.print(Text("error: ", style="red") + Text(message), soft_wrap=True, highlight=False)
    return typer.Exit(code)


# The option a field of the Python API is given by, for messages: `min_rating: …` reads `--min-rating: …` (arguments keep their names).
OPTIONS = {
    "author": "--author", "note": "--note", "tag": "--tag", "tags": "--tag", "text": "--text", "status": "--status",
    "min_rating": "--min-rating", "limit": "--limit", "sort": "--sort", "backend": "--backend", "model": "--model",
    "parent": "--parent", "frame": "--frame", "end_frame": "--end-frame", "negative_prompt": "--negative", "seed": "--seed", "frames": "--frames", "fps": "--fps",
    "steps": "--steps", "guidance": "--guidance", "extra": "--param", "keyframes": "--keyframes",
    "image": "--image", "last_image": "--last-image", "video": "--video", "mask": "--mask", "reference_images": "--reference",
    "motion": "--motion", "audio": "--audio", "audio_curve": "--audio-curve",
}
REQUEST_FIELDS = ("prompt", "negative_prompt", "seed", "frames", "fps", "width", "height", "steps", "guidance", "backend", "model", "extra", "parent",
                  "keyframes", "motion", "audio")


def _name_options(message: str, options: dict[str, str]) -> str:
    """Rewrite each ``field: …`` of a message from the Python API as the option the user typed."""
    parts = []
    for part in message.split("; "):
        field, sep, rest = part.partition(": ")
        head, dot, tail = field.partition(".")  # extra.strength: …
        name = options.get(head) if sep and head.isidentifier() else None
        if name and dot:
            name += f"{'.' if ' ' in name else ' '}{tail}"  # --param strength, --set extra.strength
        parts.append(f"{name}: {rest}" if name else part)
    return "; ".join(parts)


@contextmanager
def _errors(**names: str) -> Iterator[None]:
    """Turn the errors users cause into one clear line, never a traceback: exit 2 for bad input, 1 for the environment.

    ``names`` overrides :data:`OPTIONS` for this command (e.g. ``text="TEXT"`` where text is an argument).
    """
    from explorer.log import LogBusy, LogError, LogUnavailable
    from explorer.media import MediaError
    from explorer.request import RequestError

    try:
        yield
    except (LogUnavailable, LogBusy) as exc:
        raise fail(str(exc), 1) from None
    except (RequestError, LogError, MediaError) as exc:
        raise fail(_name_options(str(exc), {**OPTIONS, **names})) from None


def _usage_error(error: Exception) -> None:
    """Click's errors (a missing argument, `--limit abc`) as one line too, instead of usage text in a box."""
    if error.__class__.__name__ == "NoArgsIsHelpError":  # the help was printed: nothing is wrong
        return
    ctx = getattr(error, "ctx", None)
    fail(error.format_message() + (f" (see: {ctx.command_path} --help)" if ctx is not None else ""))


def _lab(db: Optional[str], storage: Optional[Path] = None, author: Optional[str] = None, *, create: bool = False):
    """The log for a command; only commands that make runs (``create=True``) may start a new one."""
    import explorer

    return explorer.open(db, storage=storage, author=author, create=create)


def _parse_params(params: list[str]) -> dict[str, Any]:
    from explorer.request import RequestError

    extra = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RequestError([f"--param: expected NAME=VALUE (got {item!r})"])
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
        except RecursionError:  # json recurses per level: a value thousands of levels deep never reaches the request's check
            raise RequestError([f"--param {key}: must not nest lists and objects more than {JSON_DEPTH} levels deep"]) from None
    return extra


def _audio_curves(specs: list[str], audio: Optional[str]) -> dict[str, Any]:
    """``--audio-curve guidance=onset:3:9`` -> {"guidance": AudioCurve} over the --audio file; exit 2 naming the option."""
    from explorer.audio import curve
    from explorer.request import RequestError

    if not audio:
        raise RequestError(["--audio-curve: needs --audio, the sound file the curve comes from"])
    curves = {}
    for spec in specs:
        field, _, rest = spec.partition("=")
        kind, *bounds = rest.split(":")
        try:
            low, high = (float(bounds[0]), float(bounds[1])) if len(bounds) == 2 else (0.0, 1.0) if not bounds else (None, None)
        except ValueError:
            low = high = None
        if not field or not kind or low is None:
            raise RequestError([f"--audio-curve: must look like FIELD=KIND or FIELD=KIND:LOW:HIGH, e.g. guidance=onset:3:9 (got {spec!r})"])
        try:
            curves[field.strip()] = curve(audio, kind.strip(), low=low, high=high)
        except ImportError as exc:  # librosa is an extra: say how to get it, exit 1 (the environment)
            raise fail(str(exc), 1) from None
    return curves


def _parse_keyframes(text: Optional[str]) -> Any:
    """``--keyframes JSON`` as a value for the request (which checks it); not JSON: exit 2 naming the option."""
    from explorer.request import RequestError

    if text is None:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError([f"--keyframes: must be a JSON object, e.g. '{{\"prompt\": {{\"0\": \"a\", \"15\": \"b\"}}}}' ({exc})"]) from None
    except RecursionError:
        raise RequestError([f"--keyframes: must not nest lists and objects more than {JSON_DEPTH} levels deep"]) from None


def _parse_motion(text: Optional[str]) -> Any:
    """``--motion JSON`` (a list of regions, or {"regions", "camera"}) for the request, which checks it; not JSON: exit 2."""
    from explorer.request import RequestError

    if text is None:
        return {}
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RequestError([f"--motion: must be JSON, e.g. '[{{\"region\": [[0.1, 0.1], [0.5, 0.1], [0.3, 0.6]], \"horizontal\": 0.3}}]' ({type(exc).__name__})"]) from None


def _run_with_progress(lab, action, *, quiet: bool):
    """Call ``action(on_step)`` with a Rich progress bar on stderr (stdout stays clean for --json)."""
    if quiet:
        return action(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("generating", total=None)

        def on_step(step):
            progress.update(task, completed=step.index, total=step.total)

        return action(on_step)


def _print_run(run, as_json: bool) -> None:
    if as_json:
        _print_json(json.dumps(run.to_dict()))
        return
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(run.status, "white")
    r = run.request
    line = Text(run.status, style=colour) + Text(f" run {run.id}  {r.prompt!r}  seed={r.seed} {r.size} {r.frames}f@{r.fps:g}fps")
    out.print(line, soft_wrap=True, highlight=False)
    if r.keyframes:
        from explorer.keyframes import describe

        say(f"  keyframes: {describe(r.keyframes)}")
    from explorer.conditioning import describe as describe_media, used

    if used(r):
        say(f"  conditioning: {describe_media(r)}")
    if r.motion:
        from explorer.motion import describe as describe_motion

        say(f"  motion: {describe_motion(r.motion)}")
    if r.audio:
        say(f"  audio: {r.audio['name']} ({r.audio['sha256'][:12]})")
    if run.ok:
        say(f"  clip: {run.media}")
    if run.error:
        say(f"  error: {run.error}")
    if run.hint:
        say(f"  hint: {run.hint}")


def _finish(run, as_json: bool) -> None:
    _print_run(run, as_json)
    if not run.ok:
        raise typer.Exit(1)


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="What the clip shows."),
    backend: str = typer.Option("sketch", help="Backend name (see `explorer backends`)."),
    model: Optional[str] = typer.Option(None, help="Model id or folder, for backends that load one."),
    seed: int = typer.Option(0, help=f"Random seed ({_range('seed')}); same seed, same frames."),
    frames: int = typer.Option(16, help=f"Number of frames ({_range('frames')})."),
    fps: float = typer.Option(8.0, help=f"Frames per second ({_range('fps')})."),
    size: str = typer.Option("256x256", help="WIDTHxHEIGHT, both even (H.264 needs it)."),
    steps: int = typer.Option(8, help=f"Denoising steps ({_range('steps')})."),
    guidance: float = typer.Option(7.5, help=f"Guidance scale ({_range('guidance')})."),
    negative: str = typer.Option("", "--negative", help="Negative prompt: what the clip should avoid."),
    param: list[str] = typer.Option([], "--param", help="Backend parameter NAME=VALUE (JSON values allowed); repeatable."),
    parent: Optional[str] = typer.Option(None, help="Run id this one derives from."),
    keyframes: Optional[str] = typer.Option(None, "--keyframes", show_default=False,
                                            help="Values that change over the clip, as JSON: FIELD -> {FRAME: VALUE or {\"value\": V, \"ease\": step|linear|smooth}}, "
                                                 "e.g. '{\"prompt\": {\"0\": \"a quiet forest\", \"47\": \"the forest on fire\"}, \"guidance\": {\"0\": 3, \"47\": 9}}'. "
                                                 "Keyframable: prompt, negative_prompt, guidance."),
    image: Optional[str] = typer.Option(None, "--image", show_default=False, help="The picture the clip starts from: a picture file or RUN@FRAME (e.g. 3f9a2c@-1: a run's last frame)."),
    last_image: Optional[str] = typer.Option(None, "--last-image", show_default=False, help="The picture the clip ends on: a picture file or RUN@FRAME."),
    video: Optional[str] = typer.Option(None, "--video", show_default=False, help="A clip to follow: a video file or a run id."),
    mask: Optional[str] = typer.Option(None, "--mask", show_default=False, help="Where to generate (white) and keep --video (black): a picture, a video file or a run id."),
    reference: list[str] = typer.Option([], "--reference", help="A picture to take after (file or RUN@FRAME); repeatable."),
    motion: Optional[str] = typer.Option(None, "--motion", show_default=False,
                                         help="The motion brush, as JSON: up to 5 regions, each {\"region\": [[x, y], ...] in 0..1, \"horizontal\", "
                                              "\"vertical\", \"proximity\" (-1..1), \"ambient\" (0..1)}, or {\"regions\": [...], \"camera\": "
                                              "{\"pan_x\", \"pan_y\", \"zoom\"}}."),
    audio: Optional[str] = typer.Option(None, "--audio", show_default=False,
                                        help="A sound file (any format FFmpeg reads): stored with the run and muxed into the clip as AAC, trimmed to it."),
    audio_curve: list[str] = typer.Option([], "--audio-curve", show_default=False,
                                          help="FIELD=KIND[:LOW:HIGH]: a keyframed number from the --audio file, one value per frame; "
                                               "KIND is onset, beats or loudness, e.g. guidance=onset:3:9 (needs pip install clip-explorer[audio]); repeatable."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    author: Optional[str] = AuthorOption,
    as_json: bool = JsonOption,
) -> None:
    """Generate one clip, log the run and print where the clip is."""
    from explorer.request import parse_size

    with _errors():
        width, height = parse_size(size)
        fields = dict(prompt=prompt, backend=backend, model=model, seed=seed, frames=frames, fps=fps, width=width, height=height,
                      steps=steps, guidance=guidance, negative_prompt=negative, extra=_parse_params(param), parent=parent,
                      keyframes=_parse_keyframes(keyframes), motion=_parse_motion(motion), audio=audio)
        if audio_curve:
            fields["keyframes"] = {**(fields["keyframes"] or {}), **_audio_curves(audio_curve, audio)}
        from explorer.request import Request

        request = Request(**fields)
        lab = _lab(db, storage, author, create=True)
        media = _media_options(image=image, last_image=last_image, video=video, mask=mask, reference_images=reference)
        run = _generate(lab, lambda on_step: lab.generate(request, progress=False, on_step=on_step, **media), as_json)
    _finish(run, as_json)


def _media_options(**given: Any) -> dict[str, Any]:
    """The conditioning options that were given, read by explorer.conditioning.from_text (the lab stores them)."""
    from explorer.conditioning import from_text

    media = {name: [from_text(v) for v in value] if isinstance(value, list) else from_text(value)
             for name, value in given.items() if value}
    return media


def _media_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """``--set image=3f9a2c@-1``: conditioning fields given as text read like --image (other values as they are)."""
    from explorer.conditioning import FIELDS, from_text

    return {k: from_text(v) if k in FIELDS and isinstance(v, str) else v for k, v in changes.items()}


@app.command()
def extend(
    source: str = typer.Argument(..., help="Run id (or unique prefix) to continue from its last frame."),
    set_: list[str] = typer.Option([], "--set", help="Field to change, NAME=VALUE, e.g. --set prompt='a forest at dawn'; repeatable."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    author: Optional[str] = AuthorOption,
    as_json: bool = JsonOption,
) -> None:
    """Continue a run: a fork that starts from its last frame (image = its last frame, parent = it)."""
    with _errors(**{field: f"--set {field}" for field in REQUEST_FIELDS}):
        changes = _set_changes(set_)
        lab = _lab(db, storage, author, create=False)
        changes = _media_changes(changes)
        run = _generate(lab, lambda on_step: lab.extend(source, progress=False, on_step=on_step, **changes), as_json)
    _finish(run, as_json)


def _set_changes(set_: list[str]) -> dict:
    """``--set NAME=VALUE`` options as request changes (``size=WxH`` as width and height)."""
    from explorer.request import parse_size

    changes = _parse_params(set_)
    if isinstance(changes.get("size"), str):
        changes["width"], changes["height"] = parse_size(changes.pop("size"))
    return changes


def _generate(lab, action, as_json: bool):
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the failure is printed below instead
            return _run_with_progress(lab, action, quiet=not err.is_terminal)
    except KeyboardInterrupt:
        err.print("[yellow]cancelled[/yellow] (logged as cancelled)")
        raise typer.Exit(130) from None


@app.command()
def fork(
    source: str = typer.Argument(..., help="Run id (or unique prefix) or an MP4 made by Clip Explorer."),
    set_: list[str] = typer.Option([], "--set", help="Field to change, NAME=VALUE, e.g. --set seed=7 --set prompt='blue kite'; repeatable."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    author: Optional[str] = AuthorOption,
    as_json: bool = JsonOption,
) -> None:
    """Run a logged run (or a clip file's recipe) again with some fields changed, recording the parent."""
    with _errors(**{field: f"--set {field}" for field in REQUEST_FIELDS}):
        changes = _set_changes(set_)
        # A clip file carries its recipe, so forking one may start a new log; a run id needs the log it is in.
        lab = _lab(db, storage, author, create=source.lower().endswith(".mp4"))
        changes = _media_changes(changes)
        run = _generate(lab, lambda on_step: lab.fork(source, progress=False, on_step=on_step, **changes), as_json)
    _finish(run, as_json)


@app.command()
def sweep(
    prompt: str = typer.Argument(..., help="What the clips show (an axis may change it: --axis prompt='[\"a kite\", \"a boat\"]')."),
    axis: list[str] = typer.Option([], "--axis", help="A field and its values, NAME=V1,V2,… (each value read as JSON, else text; "
                                   "a JSON list for values with commas); repeatable: one cell per combination. E.g. --axis seed=1,2,3 --axis guidance=3,9."),
    workers: Optional[str] = typer.Option(None, "--workers", show_default=False,
                                          help="Where the cells run: here, one after another (default); `ray`: on Ray workers, one per GPU "
                                               "(else per CPU) of the cluster in RAY_ADDRESS or started with `ray start` on this machine, else "
                                               "of a new local one; `ray://HOST:PORT`: through the Ray client. Workers on other machines need a team log."),
    max_workers: Optional[int] = typer.Option(None, "--max-workers", show_default=False, help="At most this many workers (with --workers)."),
    name: Optional[str] = typer.Option(None, help="A name for the sweep."),
    backend: str = typer.Option("sketch", help="Backend name (see `explorer backends`)."),
    model: Optional[str] = typer.Option(None, help="Model id or folder, for backends that load one (on workers: as each worker's machine sees it)."),
    seed: int = typer.Option(0, help=f"Random seed ({_range('seed')}), unless an axis sets it."),
    frames: int = typer.Option(16, help=f"Number of frames ({_range('frames')})."),
    fps: float = typer.Option(8.0, help=f"Frames per second ({_range('fps')})."),
    size: str = typer.Option("256x256", help="WIDTHxHEIGHT, both even (H.264 needs it)."),
    steps: int = typer.Option(8, help=f"Denoising steps ({_range('steps')})."),
    guidance: float = typer.Option(7.5, help=f"Guidance scale ({_range('guidance')})."),
    negative: str = typer.Option("", "--negative", help="Negative prompt: what the clips should avoid."),
    param: list[str] = typer.Option([], "--param", help="Backend parameter NAME=VALUE (JSON values allowed); repeatable."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    author: Optional[str] = AuthorOption,
    as_json: bool = JsonOption,
) -> None:
    """Generate a grid of clips, one per combination of the --axis values, log each run, and print the grid.

    Exit codes: 0 every cell succeeded; 1 a cell failed or was cancelled, or Ray could not be reached; 2 bad input.
    Ctrl-C cancels the sweep (every worker stops at its next step; each cell is logged cancelled).
    """
    from explorer.request import parse_size

    axes_names = {a.partition("=")[0]: f"--axis {a.partition('=')[0]}" for a in axis if a.partition("=")[0].isidentifier()}
    with _errors(**axes_names, workers="--workers", max_workers="--max-workers", axes="--axis"):
        axes = _parse_axes(axis)
        width, height = parse_size(size)
        fields = dict(backend=backend, model=model, seed=seed, frames=frames, fps=fps, width=width, height=height, steps=steps,
                      guidance=guidance, negative_prompt=negative, extra=_parse_params(param))
        lab = _lab(db, storage, author, create=True)
        pool = _workers(lab, workers, max_workers)
        sweep_id, cells, requests = lab.plan_sweep(prompt, axes, name=name, **fields)
        outcomes = _sweep_cells(lab, pool, sweep_id, cells, requests)
    _print_sweep(sweep_id, outcomes, pool, as_json)
    if any(o["status"] != "succeeded" for o in outcomes):
        raise typer.Exit(1)


def _parse_axes(items: list[str]) -> dict[str, list]:
    from explorer.request import RequestError

    if not items:
        raise RequestError(["--axis: give at least one, NAME=V1,V2 (e.g. --axis seed=1,2,3)"])
    axes: dict[str, list] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or not text:
            raise RequestError([f"--axis: expected NAME=V1,V2,… (got {item!r})"])
        if key in axes:
            raise RequestError([f"--axis {key}: given twice; list all its values in one --axis"])
        values = None
        if text.lstrip().startswith("["):
            try:
                values = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                raise RequestError([f"--axis {key}: not a JSON list: {text[:80]!r}"]) from None
        if values is None:
            values = [_axis_value(v) for v in text.split(",")]
        if not isinstance(values, list) or not values:
            raise RequestError([f"--axis {key}: give at least one value"])
        axes[key] = values
    return axes


def _axis_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text.strip()


def _workers(lab, workers: Optional[str], max_workers: Optional[int]):
    """The sweep's Ray workers (connected before the sweep is logged), or None to run the cells in this process."""
    if workers is None:
        if max_workers is not None:
            from explorer.request import RequestError

            raise RequestError(["--max-workers: only with --workers ray or ray://HOST:PORT"])
        return None
    from explorer.workers import WorkersUnavailable, connect

    try:
        return connect(lab, workers, max_workers=max_workers)
    except WorkersUnavailable as exc:
        raise fail(_name_options(str(exc), {"workers": "--workers"}), 1) from None


def _sweep_cells(lab, pool, sweep_id: str, cells: list[dict], requests: list) -> list[dict]:
    """Every cell's outcome ({cell, status, run_id, worker, error}), with a bar of cells on stderr where it is a terminal."""
    import warnings

    quiet = not err.is_terminal
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # failures are in the grid printed below
            if pool is not None:
                return _on_workers(pool, sweep_id, cells, requests, quiet)
            outcomes = []
            for cell, request in zip(cells, requests):
                run = _run_with_progress(lab, lambda on_step: lab.generate(request, progress=False, on_step=on_step, _sweep=(sweep_id, cell)), quiet=quiet)
                outcomes.append({"cell": cell, "status": run.status, "run_id": run.id, "worker": None, "error": run.error})
            return outcomes
    except KeyboardInterrupt:
        err.print(f"[yellow]cancelled[/yellow] sweep {sweep_id} (its cells logged as cancelled)")
        raise typer.Exit(130) from None


def _on_workers(pool, sweep_id: str, cells: list[dict], requests: list, quiet: bool) -> list[dict]:
    if quiet:
        return pool.run(sweep_id, cells, requests, progress=False).cells
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("cells · {task.fields[line]}"), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("sweep", total=len(cells), line="starting workers")

        def on_progress(p) -> None:
            progress.update(task, completed=p.done, line=" · ".join(p.line().split(" · ")[1:]))

        return pool.run(sweep_id, cells, requests, progress=False, on_progress=on_progress).cells


def _print_sweep(sweep_id: str, outcomes: list[dict], pool, as_json: bool) -> None:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    if as_json:
        _print_json(json.dumps({"sweep": sweep_id, "counts": counts,
                                "cells": [{k: o.get(k) for k in ("cell", "status", "run_id", "worker", "error")} for o in outcomes]}))
        return
    colours = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}
    for o in outcomes:
        line = Text(f"{o['status']:<10}", style=colours.get(o["status"], "white")) + Text(
            f" {o['run_id'] or '-':<12}  " + " ".join(f"{k}={json.dumps(v)}" for k, v in o["cell"].items()))
        if o.get("worker"):
            line += Text(f"  on {o['worker']}")
        out.print(line, soft_wrap=True, highlight=False)
        if o.get("error") and o["status"] != "succeeded":
            say(f"  error: {_cut(o['error'], 200)}")
    where = f" on {pool.cluster.describe()}" if pool is not None else ""
    say(f"sweep {sweep_id}: " + ", ".join(f"{n} {status}" for status, n in counts.items()) + f" of {len(outcomes)} cells{where}")


@app.command()
def runs(
    text: Optional[str] = TextOption,
    tag: Optional[str] = TagOption,
    author: Optional[str] = AuthorFilterOption,
    backend: Optional[str] = BackendFilterOption,
    status: Optional[str] = typer.Option(None, help=f"{STATUSES[0].upper()}{STATUSES[1:]}."),
    min_rating: Optional[float] = MinRatingOption,
    sort: str = typer.Option("newest", help="newest, oldest or rating."),
    limit: int = typer.Option(50, help=f"At most this many rows ({_range('limit')})."),
    live: bool = typer.Option(False, "--live", help="Also list live mode takes that were not kept (hidden otherwise)."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    as_json: bool = JsonOption,
) -> None:
    """List logged runs, newest first."""
    with _errors():
        lab = _lab(db, storage)
        from explorer.log import queries

        rows = queries.runs(lab.log, text=text, tag=tag, author=author, backend=backend, status=status, min_rating=min_rating,
                            sort=sort, limit=limit, as_records=True, live=live)
    if as_json:
        _print_json(json.dumps([_json_row(row, leave_out=("negative_prompt",)) for row in rows]))
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, expand=False)
    for name, width in (("id", 12), ("when (UTC)", 11), ("status", 9), ("rating", 7), ("prompt", 0), ("seed", 4), ("tags", 0), ("author", 0)):
        table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=width or None, max_width=None if width else 28)
    for row in rows:
        rating = f"{row['rating']:.1f} ({row['ratings']})" if row["ratings"] else ""
        # Text cells, cut to what the column shows: a prompt is user text (never markup), and measuring 4000 characters per cell is waste.
        cells = [row["id"], f"{row['created_at']:%m-%d %H:%M}", row["status"], rating, _cut(row["prompt"]), str(row["seed"]),
                 _cut(", ".join(row["tags"])), _cut(row["author"])]
        table.add_row(*(Text(cell) for cell in cells))
    out.print(table)
    say(f"{len(rows)} run(s) in {lab.log.location}")


def _json_row(row: dict, leave_out: tuple[str, ...] = ()) -> dict:
    """A row for ``--json``: times as ISO 8601 to the millisecond (as the API writes them)."""
    return {key: value.isoformat(timespec="milliseconds") if hasattr(value, "isoformat") else value
            for key, value in row.items() if key not in leave_out}


def _cut(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


@app.command()
def rate(
    run_id: str = typer.Argument(..., help="Run id or unique prefix."),
    score: int = typer.Argument(..., help="Stars, 1 to 5."),
    tag: list[str] = typer.Option([], "--tag", help="A tag; repeatable."),
    note: Optional[str] = typer.Option(None, help="A free-text note."),
    author: Optional[str] = AuthorOption,
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
) -> None:
    """Rate a run 1–5 stars (your latest rating counts)."""
    with _errors():
        lab = _lab(db, storage, author)
        lab.rate(run_id, score, tags=tag, note=note)
        say(f"rated {lab.log.resolve(run_id)} {'★' * score}{'☆' * (5 - score)} as {lab.author}")


@app.command()
def vote(
    winner_id: str = typer.Argument(..., help="The run that won."),
    loser_id: str = typer.Argument(..., help="The run that lost."),
    tie: bool = typer.Option(False, help="Neither won."),
    author: Optional[str] = AuthorOption,
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
) -> None:
    """Record a pairwise preference between two runs."""
    with _errors():
        lab = _lab(db, storage, author)
        lab.vote(winner_id, loser_id, tie=tie)
        say(f"vote recorded: {'tie between' if tie else 'winner'} {lab.log.resolve(winner_id)} {'and' if tie else 'over'} {lab.log.resolve(loser_id)}")


@app.command()
def annotate(
    run_id: str = typer.Argument(..., help="Run id or unique prefix."),
    text: str = typer.Argument(..., help="The note."),
    frame: int = typer.Option(0, help="Frame the note is about (0-based)."),
    end_frame: Optional[int] = typer.Option(None, help="Last frame, for a range."),
    author: Optional[str] = AuthorOption,
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
) -> None:
    """Attach a note to a frame (or frame range) of a run."""
    with _errors(text="text"):  # the argument, not runs' --text
        lab = _lab(db, storage, author)
        lab.annotate(run_id, text, frame=frame, end_frame=end_frame)
        say(f"note added to {lab.log.resolve(run_id)} at frame {frame}")


@app.command()
def show(
    target: str = typer.Argument(..., help="Run id (or prefix), or an MP4 made by Clip Explorer."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    as_json: bool = JsonOption,
) -> None:
    """Print a run (or the recipe inside a clip file): request, outcome, media, ratings."""
    with _errors():
        if target.lower().endswith(".mp4"):
            from explorer.media import read_recipe

            recipe = read_recipe(target)
            if as_json:
                _print_json(json.dumps(recipe))
            else:
                say(f"clip {target} from run {recipe.get('run')}")
                _print_fields(recipe["request"])
                say(f"fork it: explorer fork {target} --set seed=…")
            return
        lab = _lab(db, storage)
        from explorer.log import queries

        row = lab.log.run(target)
        ratings = [{key: r[key] for key in ("author", "score", "tags", "note", "created_at")}
                   for r in queries.ratings(lab.log, row["id"], as_records=True)]
        from explorer.metrics import latest

        measured = latest(lab.log, [row["id"]]).get(row["id"], {})
    if as_json:
        row["ratings"] = [_json_row(r) for r in ratings]
        row["metrics"] = measured
        _print_json(json.dumps(row, default=str))
        return
    say(f"run {row['id']} {row['status']} by {row['author']} at {row['created_at']:%Y-%m-%d %H:%M:%S} UTC")
    _print_fields(row["request"])
    _print_fields({key: row.get(key) for key in ("media", "media_sha256", "duration_s", "device", "error", "hint")})
    if measured:
        say("  metrics: " + "  ".join(f"{name} {value:.3g}" for name, value in measured.items() if value is not None))
    for r in ratings:
        say(f"  rated {'★' * r['score']} by {r['author']}" + (f" tags {', '.join(r['tags'])}" if r["tags"] else "") + (f": {r['note']}" if r["note"] else ""))


def _print_fields(fields: dict) -> None:
    """One `name: value` line per field that has a value: text as is, numbers rounded, structures as JSON."""
    for key, value in fields.items():
        if value is None or value == "" or value == {} or value == []:
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False, default=str)
        say(f"  {key}: {value}")


@app.command()
def lineage(run_id: str = typer.Argument(..., help="Run id or unique prefix."), db: Optional[str] = DbOption,
            storage: Optional[Path] = StorageOption) -> None:
    """Show a run's ancestors and descendants."""
    with _errors():
        from explorer.log import queries

        family = queries.lineage(_lab(db, storage).log, run_id, as_records=True)
    top = min(row["depth"] for row in family)
    for row in family:
        marker = "→" if row["depth"] == 0 else " "
        say(f"{marker} {'  ' * (row['depth'] - top)}{row['id']} {row['status']} seed={row['seed']} {row['prompt']!r}")


@app.command()
def backends() -> None:
    """List the installed backends."""
    from explorer import backends as registry

    for name in registry.available():
        out.print(name)


@app.command()
def demo(db: Optional[Path] = DbOption) -> None:
    """Make a handful of sketch clips, rate and fork a few, and say where to look (once per log; nothing is deleted)."""
    from explorer.demo import run_demo
    from explorer.log import default_db_path

    with _errors():
        run_demo(default_db_path(db), console=out)


@app.command()
def export(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write (index.html and media/); created if missing."),
    text: Optional[str] = TextOption,
    tag: Optional[str] = TagOption,
    author: Optional[str] = AuthorFilterOption,
    backend: Optional[str] = BackendFilterOption,
    min_rating: Optional[float] = MinRatingOption,
    status: str = typer.Option("succeeded", help=f"{STATUSES[0].upper()}{STATUSES[1:]}."),
    limit: Optional[int] = typer.Option(None, help=f"At most this many clips, newest first ({_range('limit')}; default: all)."),
    by: str = typer.Option("auto", help="Leaderboard grouping: auto (the first of model, backend, guidance, steps, …, prompt that most votes "
                                          "split; else each clip), model, backend, tag, run (each clip), or a request field."),
    force: bool = typer.Option(False, "--force", help="Write into a folder that holds other files (not an earlier export)."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
) -> None:
    """Write a static review page (leaderboard and clips) that opens from disk in any browser, no server.

    `--out` must be a new or empty folder, or an earlier export (re-exporting refreshes it); any other folder needs `--force`.
    """
    from explorer.export import ExportError
    from explorer.export import export as export_folder

    with _errors():
        try:
            lab = _lab(db, storage)
            summary = export_folder(lab, out_dir, text=text, tag=tag, author=author, backend=backend, min_rating=min_rating,
                                    status=status, limit=limit, by=by, force=force)
        except ExportError as exc:
            raise fail(_name_options(str(exc), OPTIONS), 1 if exc.environment else 2) from None
    media = f"{summary.media_files} media files ({summary.linked} hard-linked, {summary.copied} copied)"
    say(f"wrote {summary.clips} clip(s) ({summary.bytes / 1e6:.1f} MB) to {summary.out_dir}/: index.html + {media}")
    if summary.missing:
        say(f"{summary.missing} clip file(s) missing from {lab.log.media.root}: shown without video", style="yellow")
    say(f"open it: {summary.url}  (double-click index.html, or: python -m webbrowser {summary.index})")


@app.command()
def gallery(
    build: bool = typer.Option(False, "--build", help="Generate every recipe's clip on the sketch backend into the log (rates nothing)."),
    db: Path = typer.Option(Path("gallery/gallery.duckdb"), "--db", help="Log for --build."),
    recipes: Optional[Path] = typer.Option(None, "--recipes", help="A recipes JSON file (default: the starter gallery shipped with the package)."),
    author: Optional[str] = AuthorOption,
    as_json: bool = JsonOption,
) -> None:
    """List the starter gallery's recipes; --build makes each recipe's clip (recipes already in the log are skipped)."""
    from explorer.recipes import load_recipes

    with _errors():
        items = load_recipes(recipes)
        if not build:
            if as_json:
                _print_json(json.dumps([r.to_dict() for r in items]))
                return
            from rich import box
            from rich.table import Table

            table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True)
            for name in ("name", "idea", "prompt", "seed", "clip"):
                table.add_column(name, overflow="fold")
            for r in items:
                table.add_row(r.name, r.idea, r.prompt, str(r.seed), f"{r.frames}f@{r.fps:g}fps {r.width}x{r.height}")
            out.print(table)
            out.print(f"{len(items)} recipes. Remix one: lab.fork(lab.gallery()[0], seed=7); build them all: explorer gallery --build", highlight=False)
            return
        lab = _lab(db, None, author, create=True)
        done = _built(lab)
        made = []
        for r in items:
            request = r.request
            if _recipe_key(request.to_dict()) in done:
                say(f"skip  {r.name}: already in {lab.log.name}")
                continue
            run = _generate(lab, lambda on_step, request=request: lab.generate(request, progress=False, on_step=on_step), as_json=False)
            made.append(run)
            colour = "green" if run.ok else "red"
            out.print(Text(run.status, style=colour) + Text(f" {r.name}: run {run.id}" + (f"  {run.media}" if run.ok else f"  {run.error}")),
                      highlight=False, soft_wrap=True)
    failed = [run for run in made if not run.ok]
    out.print(f"{len(made)} clip(s) made, {len(items) - len(made)} already there, in {lab.log.location}", highlight=False, soft_wrap=True)
    out.print(f"look at them: explorer runs --db {db}   or   explorer export --db {db} --out DIR", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _recipe_key(request: dict) -> tuple:
    fields = ("prompt", "negative_prompt", "seed", "frames", "fps", "width", "height", "steps", "guidance", "backend")
    return tuple(request.get(name) if name not in ("fps", "guidance") else float(request.get(name)) for name in fields)


def _built(lab) -> set:
    """Requests already made (succeeded) in this log, for `gallery --build` to skip."""
    frame = lab.runs(status="succeeded")
    return {_recipe_key({**row, "negative_prompt": row.get("negative_prompt") or ""}) for row in frame.to_dict("records")}


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lab(
    ctx: typer.Context,
    notebook: Path = typer.Argument(Path("notebooks/quickstart.ipynb"), help="Notebook to open (default: the quickstart tour)."),
    port: int = typer.Option(8888, help="Port for JupyterLab (on 127.0.0.1)."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
) -> None:
    """Start JupyterLab on a notebook, with the tours, the kernels and the review panel all on one log.

    The server's root is the working folder; the log (`--db`, else `EXPLORER_DB`, else
    `./explorer.duckdb`) is handed to every kernel as `EXPLORER_DB` and to the review panel,
    so `explorer.open()` in a notebook finds the clips the demo made. Runs as root too (containers,
    rented GPU machines). Options it does not know go to `jupyter lab`.
    """
    import importlib.util
    import os

    from explorer.log import default_db_path

    if importlib.util.find_spec("jupyterlab") is None:
        err.print("[red]error:[/red] JupyterLab is not installed: pip install 'clip-explorer[lab]'")
        raise typer.Exit(2)
    extra = list(ctx.args)
    if str(notebook).startswith("-"):  # `explorer lab --no-browser`: an option for jupyter lab, not a notebook
        extra.insert(0, str(notebook))
        notebook = Path("notebooks/quickstart.ipynb")
    if not notebook.is_file():
        raise fail(f"no notebook at {notebook} (run from the repository root, or give a path)")
    root = Path.cwd().resolve()
    notebook = notebook.resolve()
    if root not in notebook.parents:
        root = notebook.parent  # JupyterLab can only open what lies under its root
    log = default_db_path(db)
    team = isinstance(log, str)  # a team log's URL; a file is resolved so kernels in other folders find it
    log = log if team else log.expanduser().resolve()
    os.environ["EXPLORER_DB"] = str(log)  # kernels inherit it: explorer.open() finds this log
    args = [sys.executable, "-m", "jupyterlab", str(notebook), f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", f"--ClipExplorer.db={log}"]
    if team:
        if storage is None:
            raise fail("--storage: a team log needs its shared folder (--storage or EXPLORER_STORAGE)")
        os.environ["EXPLORER_STORAGE"] = str(storage.expanduser().resolve())
        args.append(f"--ClipExplorer.storage={os.environ['EXPLORER_STORAGE']}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # root is the normal user in containers; Jupyter refuses it otherwise
    args += extra
    state = "" if team or log.exists() else " (not made yet: run `explorer demo`, or generate in a notebook)"
    out.print(f"starting JupyterLab in {root} on {notebook.relative_to(root)}; log {log}{state} (Ctrl+C to stop)", highlight=False, soft_wrap=True)
    os.execv(sys.executable, args)


@app.command()
def doctor(
    fix: bool = typer.Option(False, "--fix", help="Remove what it finds: abandoned temporary files and clips no run points to."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    as_json: bool = JsonOption,
) -> None:
    """Check a log after crashes: runs whose process is gone (marked interrupted), leftover files (removed with --fix).

    Files a run still in progress may claim are kept. Exit 0 when nothing is left over (or --fix removed it), 1 otherwise.
    """
    from explorer.log.recovery import doctor as checkup

    with _errors():
        lab = _lab(db, storage)
        found = checkup(lab.log, fix=fix)
    if as_json:
        _print_json(json.dumps(found.to_dict()))
    else:
        verb = "removed" if fix else "found"
        say(f"{lab.log.location}")
        say(f"  runs interrupted (their process is gone): {len(found.interrupted)}" + (f"  {' '.join(found.interrupted)}" if found.interrupted else ""))
        say(f"  temporary files {verb}: {len(found.temp_files)}")
        say(f"  clips no run points to, {verb}: {len(found.orphan_clips)}")
        if found.kept_for_live_runs:
            say(f"  kept: {found.kept_for_live_runs} file(s) a run still in progress may claim")
        if not fix and not found.clean:
            say("run `explorer doctor --fix` to remove them")
    if not fix and not found.clean:
        raise typer.Exit(1)


@app.command()
def metrics(
    backfill: bool = typer.Option(False, "--backfill", help="Measure the succeeded runs that have no current metrics yet, reading each clip back."),
    force: bool = typer.Option(False, "--force", help="With --backfill: measure every clip again (new rows; the latest counts)."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    as_json: bool = JsonOption,
) -> None:
    """Clip metrics (no model weights): motion, flicker, sharpness, exposure, clipped, colourfulness.

    New runs are measured as they finish. Without options, list the metrics and how many runs still lack them;
    with `--backfill`, measure those runs (idempotent: a second backfill measures nothing). Values are in
    `explorer show RUN` and `lab.runs(metrics=True)`. Exit 1 when a clip could not be read or measured.

    Where EXPLORER_CLIP_MODEL names a CLIP model (a hub id or a folder), clip_text and clip_consistency are added
    and each clip's embedding is stored (the taste model and the atlas use it); `--backfill` embeds older runs.
    """
    from explorer.metrics import METRICS, backfill as fill, to_measure
    from explorer.metrics_clip import configured

    if force and not backfill:
        raise fail("--force: only with --backfill")
    with _errors():
        lab = _lab(db, storage)
        if not backfill:
            todo = len(to_measure(lab.log))
            embedded = {row["model"]: row["n"] for row in lab.log.records(
                "SELECT model, count(DISTINCT run_id) AS n FROM embeddings GROUP BY model ORDER BY n DESC, model")}
            if as_json:
                _print_json(json.dumps({"metrics": [{"name": m.name, "version": m.version, "unit": m.unit, "description": m.description}
                                                    for m in METRICS.values()], "runs_to_measure": todo,
                                        "clip_model": configured(), "embedded": embedded}))
                return
            for m in METRICS.values():
                say(f"  {m.name} v{m.version}{f' ({m.unit})' if m.unit else ''}: {m.description}")
            say(f"CLIP model: {configured() or 'none (set EXPLORER_CLIP_MODEL to a hub id or a folder)'}; "
                + ("embedded: " + ", ".join(f"{n} run(s) by {model}" for model, n in embedded.items()) if embedded else "no clip embedded"))
            say(f"{todo} succeeded run(s) without current metrics" + (": run `explorer metrics --backfill`" if todo else ""))
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("measuring clips"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                      transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("clips", total=None)
            done = fill(lab.log, force=force, on_run=lambda n, total: bar.update(task, completed=n, total=total))
    if as_json:
        _print_json(json.dumps(done.to_dict()))
    else:
        say(f"measured {done.measured} clip(s) in {done.seconds:.1f} s" + (f"; {done.missing} clip file(s) missing" if done.missing else "")
            + (f"; {done.failed} could not be read" if done.failed else ""))
    if done.failed:
        raise typer.Exit(1)


@app.command()
def taste(
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Rank this sweep's succeeded cells by predicted taste, best first."),
    db: Optional[str] = DbOption,
    storage: Optional[Path] = StorageOption,
    as_json: bool = JsonOption,
) -> None:
    """The team's taste model: what it learnt from, how often it is right on votes it did not see, what it weighs.

    Learnt from every vote and star (a Bradley–Terry model over the clip metrics), refitted when they change. It
    orders the Rate queue and picks battle pairs once it has learnt from 20 comparisons; it never stands in for
    the team's ratings on the leaderboard. With `--sweep ID`, the sweep's cells ranked by predicted taste.
    """
    import pandas as pd

    from explorer.review.taste import rank_by_taste, taste_model

    with _errors(sweep="run_id"):
        lab = _lab(db, storage)
        model = taste_model(lab)
        ranked = None
        if sweep is not None:
            cells = lab.runs(sweep=sweep, status="succeeded")
            if not len(cells):
                raise fail(f"--sweep: no succeeded runs in sweep {sweep!r}")
            ranked = rank_by_taste(lab, list(cells["id"])).merge(cells[["id", "prompt", "seed"]], on="id")
    if as_json:
        body = model.to_dict()
        if ranked is not None:
            body["ranked"] = [{"id": r.id, "rank": None if pd.isna(r.rank) else int(r.rank), "taste": None if pd.isna(r.taste) else float(r.taste)}
                              for r in ranked.itertuples()]
        _print_json(json.dumps(body))
        return
    say(model.describe())
    for author, row in model.per_reviewer.items():
        say(f"  {author}: right on {row['accuracy']:.0%} of {row['votes']} held-out votes ({row['low']:.0%}–{row['high']:.0%})")
    if model.features:
        say("weighs (log-odds per standard deviation): " + ", ".join(f"{name} {weight:+.2f}" for name, weight in
                                                                       model.weights.sort_values(key=abs, ascending=False).items()))
    if ranked is not None:
        for r in ranked.itertuples():
            say(f"  {'—' if pd.isna(r.rank) else f'#{r.rank}'}  {r.id}  {'unmeasured' if pd.isna(r.taste) else f'{r.taste:+.2f}'}  "
                f"seed {r.seed}  {_cut(r.prompt, 50)}")


log_app = typer.Typer(help="Move a whole log between homes: a file and a team log.", no_args_is_help=True)
app.add_typer(log_app, name="log")


@log_app.command("copy")
def log_copy(
    source: str = typer.Argument(..., help="The log to copy: a .duckdb file or postgresql://USER@HOST:PORT/DB."),
    destination: str = typer.Argument(..., help="A new, empty log: a file path or a team log's URL."),
    source_storage: Optional[Path] = typer.Option(None, "--source-storage", help="SOURCE's shared folder, when it is a team log."),
    storage: Optional[Path] = typer.Option(None, "--storage", help="DESTINATION's shared folder, when it is a team log."),
) -> None:
    """Copy every run, rating, vote, note, sweep and clip from SOURCE into the empty DESTINATION; counts are checked.

    For example, from a person's file to the team's log, then point everyone at it:

        explorer log copy explorer.duckdb postgresql://ada@db.lab:5432/clips --storage /shared/clips
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    import explorer
    from explorer.log.copy import copy_log

    with _errors():
        src = explorer.open(source, storage=source_storage, create=False)
        dst = explorer.open(destination, storage=storage)
        with Progress(TextColumn("copying clips"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                      transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("clips", total=None)
            counts = copy_log(src.log, dst.log, on_file=lambda done, total: bar.update(task, completed=done, total=total))
    say(f"copied {src.log.location} → {dst.log.location}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


def main() -> None:  # pragma: no cover - console entry point (tests/test_cli.py runs it as a process)
    """``explorer``: run the command, then leave without tearing down every module it imported.

    Python's own exit finalises pandas, SciPy, PyAV and DuckDB module by module: ~0.4 s after a
    command that took ~1.5 s. Instead the exit handlers run (the log releases its connection,
    the libraries clean up), the output is flushed, and the process ends with the command's code.
    An unexpected exception still ends the normal way, with its traceback.
    """
    import atexit
    import os

    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    atexit._run_exitfuncs()  # undocumented, but it is what a normal exit runs first
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away (| head), or a closed stream
            code = code or 1
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
