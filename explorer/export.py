"""Export a static review page: a folder that opens from disk (file://) in any browser, no server.

    >>> import explorer, tempfile, os
    >>> from explorer.export import export_page
    >>> folder = tempfile.mkdtemp()
    >>> lab = explorer.open(os.path.join(folder, "lab.duckdb"), author="ada")
    >>> _ = lab.generate("neon city rain", frames=4, width=64, height=48, progress=False)
    >>> export_page(lab, os.path.join(folder, "review")).name
    'index.html'

The folder holds ``index.html`` (CSS, JavaScript and the data inline; the data
as JSON in a ``<script type="application/json">``) and ``media/<sha256>.mp4``
plus ``.poster.jpg`` for every clip, hard-linked from the log's media folder
where it is on the same file system, copied otherwise. Every URL in the page is
relative, so the folder can be zipped, mailed or put on any static host.

User text (prompts, tags, notes, authors) is escaped on the way in: the data
is JSON with ``<``, ``>`` and ``&`` written as ``\\u003c`` and friends, the page
puts text into the document only through ``textContent``, and a
Content-Security-Policy allows only the page's own script (by hash).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import html
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from explorer.media import SHA256_RE

if TYPE_CHECKING:
    from explorer.lab import Lab

TEMPLATE = Path(__file__).with_name("export_page.html")
FILTERS = ("text", "tag", "author", "backend", "model", "min_rating", "status", "limit")
GROUPINGS = ("model", "backend", "author", "prompt", "seed", "sweep_id")
MAX_NOTES = 50
_STALE_RE = re.compile(r"^[0-9a-f]{64}\.(mp4|poster\.jpg)$")


class ExportError(ValueError):
    """An export that cannot be written as asked (a bad option or output folder); the message says which.

    ``environment`` is true when the place, not the request, is at fault (a full disk, a read-only folder).
    """

    def __init__(self, message: str, *, environment: bool = False):
        super().__init__(message)
        self.environment = environment


# What the disk or the folder's permissions cause, as opposed to a bad --out (a path under /proc, a file).
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}
GENERATOR = '<meta name="generator" content="Clip Explorer'  # in every page written: marks a folder as an export


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export` wrote."""

    index: Path            # the page: open it in a browser
    out_dir: Path
    clips: int             # tiles on the page
    bytes: int             # index.html plus media files, on disk
    media_files: int       # MP4s and posters in media/
    linked: int            # of those, hard links to the log's media folder
    copied: int
    missing: int           # clips whose MP4 is not in the log's media folder (shown as "missing")
    leaderboard: str       # "bradley-terry" (explorer.review.leaderboard) or "simple" (mean rating and win rate here)

    @property
    def url(self) -> str:
        return self.index.resolve().as_uri()


def export_page(lab: Lab, out_dir: str | os.PathLike, **filters: Any) -> Path:
    """Write the review page for the runs matching ``filters`` into ``out_dir``; returns the path of its ``index.html``.

    Filters as :meth:`Lab.runs` (``text``, ``tag``, ``author``, ``backend``, ``model``, ``min_rating``,
    ``status`` — default ``"succeeded"`` — and ``limit``), plus ``by`` for the leaderboard's grouping
    (default ``"auto"``: the first of model, backend, guidance, steps, … prompt under which most votes compare
    different groups, else each clip on its own; see :func:`explorer.review.leaderboard.leaderboard`). The page
    names the grouping used and says how many votes compare clips of one group. The leaderboard is
    :func:`explorer.review.leaderboard.leaderboard` (Bradley–Terry) where that module exists, else
    :func:`simple_leaderboard`; it covers the whole log, not only the exported clips.
    """
    return export(lab, out_dir, **filters).index


def export(lab: Lab, out_dir: str | os.PathLike, *, by: str = "auto", status: str | None = "succeeded", force: bool = False,
           **filters: Any) -> ExportSummary:
    """:func:`export_page`, returning an :class:`ExportSummary` (clips, bytes, …).

    ``out_dir`` must be missing, empty or an earlier export (its ``index.html`` says so); any other folder
    (``/``, a home folder, a project) is refused unless ``force=True``, so a slip of the finger writes nothing.
    """
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ExportError(f"{unknown[0]}: not an export filter (filters: {', '.join(FILTERS)}, by)")
    out = Path(out_dir).expanduser()
    try:
        _check_out(lab, out, force)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    filters = {k: v for k, v in filters.items() if v is not None}
    board, kind = _leaderboard(lab, by)  # first: a bad ``by`` or filter fails before anything is written
    runs = lab.runs(status=status, sort="newest", **filters)
    try:
        return _write(lab, out, runs, board, kind, by, {"status": status, **filters})
    except OSError as exc:
        raise _unwritable(out, exc) from None


def _check_out(lab: Lab, out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out: {out} is a file; give a folder (it is created if missing)")
    if out.resolve() == lab.log.media.root.resolve() or lab.log.media.root.resolve() in out.resolve().parents:
        raise ExportError(f"--out: {out} is inside the log's media folder; choose another folder")
    if force or not out.is_dir() or not any(out.iterdir()) or _is_export(out):
        return
    raise ExportError(f"--out: {out} is a folder with other files in it, not an earlier export; choose a new or empty folder "
                      "(or pass --force to write index.html and media/ there anyway)")


def _is_export(folder: Path) -> bool:
    """Whether ``folder`` holds a page an earlier export wrote (its index.html names Clip Explorer as the generator)."""
    index = folder / "index.html"
    try:
        with index.open("rb") as page:
            return GENERATOR.encode() in page.read(4096)
    except OSError:
        return False


def _unwritable(out: Path, exc: OSError) -> ExportError:
    return ExportError(f"--out: cannot write to {out}: {exc.strerror or exc}", environment=exc.errno in _ENVIRONMENT_ERRNOS)


def _write(lab: Lab, out: Path, runs: pd.DataFrame, board: pd.DataFrame, kind: str, by: str, filters: dict[str, Any]) -> ExportSummary:

    media_dir = out / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    notes = _notes(lab)
    voiced = _with_sound(lab)
    clips, wanted, linked, copied, missing = [], set(), 0, 0, 0
    for row in runs.itertuples(index=False):
        clip = _clip(row, notes.get(row.id, []))
        clip["sound"] = voiced.get(row.id)  # the track's name when the clip has sound (explorer.audio): click to hear it
        sha = row.media_sha256 if isinstance(row.media_sha256, str) and SHA256_RE.match(row.media_sha256) else None
        if sha:
            for suffix, key in ((".mp4", "video"), (".poster.jpg", "poster")):
                source = lab.log.media.path(sha, suffix)
                if not source.is_file():
                    missing += suffix == ".mp4"
                    continue
                name = f"{sha}{suffix}"
                how = _place(source, media_dir / name)
                linked += how == "linked"
                copied += how == "copied"
                wanted.add(name)
                clip[key] = f"media/{name}"
        clips.append(clip)
    for stale in media_dir.iterdir():  # clips of an earlier export of this folder that this one does not show
        if _STALE_RE.match(stale.name) and stale.name not in wanted and stale.is_file():
            stale.unlink()

    index = out / "index.html"
    index.write_text(_page(lab, clips, board, kind, by, filters), encoding="utf-8")
    size = index.stat().st_size + sum((media_dir / name).stat().st_size for name in wanted)
    return ExportSummary(index, out, len(clips), size, len(wanted), linked, copied, missing, kind)


# -- data ------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON-able: NaN and missing become None, numpy scalars become Python numbers."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in value]
    return value


def _clip(row: Any, notes: list[dict]) -> dict[str, Any]:
    rating = _clean(row.rating)
    return {
        "id": row.id, "status": row.status, "prompt": row.prompt, "negative_prompt": row.negative_prompt or "",
        "seed": _clean(row.seed), "backend": row.backend, "model": row.model if isinstance(row.model, str) else None,
        "author": row.author, "created_at": _clean(row.created_at), "frames": _clean(row.frames), "fps": _clean(row.fps),
        "width": _clean(row.width), "height": _clean(row.height), "steps": _clean(row.steps), "guidance": _clean(row.guidance),
        "parent": row.parent_id if isinstance(row.parent_id, str) else None, "sha256": row.media_sha256 if isinstance(row.media_sha256, str) else None,
        "rating": rating, "ratings": int(row.ratings), "tags": [str(t) for t in _clean(row.tags) or []],
        "notes_count": len(notes), "notes": notes[:MAX_NOTES], "video": None, "poster": None,
    }


def _with_sound(lab: Lab) -> dict[str, str]:
    """Run id -> the name of its sound, for the runs whose request has ``audio``."""
    frame = lab.sql("SELECT id, json_extract_string(request, '$.audio.name') AS name FROM runs "
                    "WHERE json_extract(request, '$.audio.sha256') IS NOT NULL")
    return {row.id: row.name or "sound" for row in frame.itertuples(index=False)}


def _notes(lab: Lab) -> dict[str, list[dict]]:
    frame = lab.sql("SELECT run_id, frame, author, text FROM annotations ORDER BY run_id, frame, created_at")
    notes: dict[str, list[dict]] = {}
    for row in frame.itertuples(index=False):
        notes.setdefault(row.run_id, []).append({"frame": int(row.frame), "author": row.author, "text": row.text})
    return notes


def _place(source: Path, target: Path) -> str:
    """Hard-link ``source`` to ``target`` (same file system), else copy; 'kept' when an identical file is already there."""
    if target.exists():
        try:
            if target.samefile(source) or target.stat().st_size == source.stat().st_size:
                return "kept"
        except OSError:
            pass
        target.unlink()
    try:
        os.link(source, target)
        return "linked"
    except OSError:
        shutil.copyfile(source, target)
        return "copied"


# -- leaderboard -------------------------------------------------------------------------


def _leaderboard(lab: Lab, by: str) -> tuple[pd.DataFrame, str]:
    """``explorer.review.leaderboard`` when installed (Bradley–Terry with bootstrap CIs), else a simple one here."""
    try:
        from explorer.review.leaderboard import leaderboard
    except ImportError:
        board = simple_leaderboard(lab, by="model" if by == "auto" else by)
        board.attrs.update(by="model" if by == "auto" else by, requested=by)
        return board, "simple"
    try:
        board = leaderboard(lab, by=by, bootstrap=200)
    except ValueError as exc:  # an unknown grouping
        raise ExportError(f"by: {exc}") from None
    board["key"] = list(board["label"]) if "label" in board else [_label(k) for k in board["key"]]
    return board, "bradley-terry"


def _label(key: Any) -> str:
    if isinstance(key, float) and key.is_integer():
        return f"{key:g}"
    return "(none)" if key is None else str(key)


def simple_leaderboard(lab: Lab, by: str = "model", bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per group: mean rating (bootstrap 95 % CI) and pairwise win rate (Wilson 95 % CI), over succeeded runs.

    ``by="model"`` groups runs without a model under their backend's name. Columns: key, win_rate, ci_low,
    ci_high, votes, wins, losses, ties, mean_rating, rating_ci_low, rating_ci_high, ratings, runs.
    """
    if by not in GROUPINGS:
        raise ExportError(f"by: must be one of {', '.join(GROUPINGS)} (got {by!r})")
    runs = lab.runs(status="succeeded")
    if runs.empty:
        return pd.DataFrame(columns=["key", "win_rate", "ci_low", "ci_high", "votes", "wins", "losses", "ties", "mean_rating",
                                     "rating_ci_low", "rating_ci_high", "ratings", "runs"])
    keys = {row_id: _key(row, by) for row_id, row in zip(runs["id"], runs.to_dict("records"))}
    ratings = lab.ratings()
    votes = lab.votes()
    rng = np.random.default_rng(seed)
    rows = []
    for key in sorted(set(keys.values())):
        ids = {i for i, k in keys.items() if k == key}
        scores = ratings.loc[ratings["run_id"].isin(ids), "score"].to_numpy(dtype=float)
        mean, low, high = (None, None, None)
        if len(scores):
            mean = float(scores.mean())
            if len(scores) > 1 and bootstrap:
                means = rng.choice(scores, size=(bootstrap, len(scores)), replace=True).mean(axis=1)
                low, high = (float(v) for v in np.percentile(means, [2.5, 97.5]))
            else:
                low, high = mean, mean
        wins = losses = ties = 0
        for winner, loser, tie in zip(votes["winner_id"], votes["loser_id"], votes["tie"]):
            a, b = keys.get(winner), keys.get(loser)
            if a == b or key not in (a, b):
                continue  # a vote within one group (or outside the log's succeeded runs) says nothing about the group
            if tie:
                ties += 1
            elif a == key:
                wins += 1
            else:
                losses += 1
        n = wins + losses + ties
        rate, wl, wh = (None, None, None) if not n else ((wins + 0.5 * ties) / n, *_wilson((wins + 0.5 * ties) / n, n))
        rows.append({"key": key, "win_rate": rate, "ci_low": wl, "ci_high": wh, "votes": n, "wins": wins, "losses": losses,
                     "ties": ties, "mean_rating": mean, "rating_ci_low": low, "rating_ci_high": high, "ratings": len(scores),
                     "runs": len(ids)})
    frame = pd.DataFrame(rows)
    return frame.sort_values(["win_rate", "mean_rating", "runs"], ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _key(row: dict, by: str) -> str:
    value = row.get(by)
    if by == "model" and not isinstance(value, str):
        value = row.get("backend")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "(none)"
    return str(value)


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# -- the page ------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _json_for_html(data: Any) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' that could close it or open a comment."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _num(value: Any) -> float | None:
    value = _clean(value)
    return value if isinstance(value, (int, float)) else None


def _page(lab: Lab, clips: list[dict], board: pd.DataFrame, kind: str, by: str, filters: dict[str, Any]) -> str:
    from explorer import __version__
    from explorer.log.queries import summary

    counts = summary(lab.log)
    now = datetime.now(timezone.utc)
    used = [f"{k.replace('_', ' ')}: {v}" for k, v in filters.items() if v is not None]
    filter_text = "filters — " + ", ".join(used) if used else "all runs"
    tiles = [("clips", len(clips)), ("runs", counts["runs"]), ("ratings", counts["ratings"]), ("votes", counts["votes"]),
             ("notes", counts["annotations"])]
    data = {
        "log": lab.log.name, "exported_at": now.isoformat(timespec="seconds"), "filters": {k: _clean(v) for k, v in filters.items()},
        "leaderboard": {"by": board.attrs.get("by", by), "requested": by, "note": board.attrs.get("note", ""), "kind": kind,
                        "rows": [{k: _clean(v) for k, v in row.items()} for row in board.to_dict("records")]},
        "counts": counts, "clips": clips,
    }
    template = TEMPLATE.read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", template, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    # Only the page's own script runs (by hash); media and posters come from beside the page; nothing is fetched elsewhere.
    csp = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src 'self' data: file:; "
           "media-src 'self' file:; base-uri 'none'; form-action 'none'")
    parts = {
        "CSP": _esc(csp),
        "VERSION": _esc(__version__),
        "TITLE": _esc(f"Clip review · {Path(lab.log.name).stem}"),
        "LOG": _esc(Path(lab.log.name).stem),
        "DATE": _esc(now.strftime("%Y-%m-%d %H:%M UTC")),
        "FILTERS": _esc(filter_text),
        "COUNTS": "".join(f'<div class="count"><b>{n}</b><span>{_esc(label)}</span></div>' for label, n in tiles),
        "BY": _esc(_by_text(board.attrs.get("by", by), by)),
        "LEADERBOARD": _leaderboard_html(board, kind),
        "TASTE": _taste_html(lab),
        "DATA": _json_for_html(data),
    }
    return re.sub(r"@@([A-Z]+)@@", lambda m: parts[m.group(1)], template)


def _by_text(used: str, requested: str) -> str:
    name = "clip" if used == "run" else used
    return f"{name} (chosen automatically)" if requested == "auto" else name


def _leaderboard_html(board: pd.DataFrame, kind: str) -> str:
    if board.empty:
        return '<p class="empty">No succeeded runs yet.</p>'
    note = board.attrs.get("note", "")
    if "label" in board:
        board = board.drop(columns=["label"])
    rows = board.to_dict("records")
    strength = "bt_score" if kind == "bradley-terry" else "win_rate"
    charts = []
    rated = [r for r in rows if _num(r.get("mean_rating")) is not None]
    if rated:
        charts.append(_chart("Mean rating · 95% CI", [(r["key"], _num(r["mean_rating"]), _num(r.get("rating_ci_low")), _num(r.get("rating_ci_high")),
                                                      f"{int(r.get('ratings') or 0)} rated") for r in rated], (0.0, 5.0), "{:.2f}", "bar"))
    voted = [r for r in rows if _num(r.get(strength)) is not None and (r.get("votes") or 0) > 0]
    if voted:
        title = "Bradley–Terry score · 95% CI" if strength == "bt_score" else "Pairwise win rate · 95% CI"
        values = [v for r in voted for v in (_num(r[strength]), _num(r.get("ci_low")), _num(r.get("ci_high"))) if v is not None]
        domain = (0.0, 1.0) if strength == "win_rate" else (min(0.0, min(values)), max(0.0, max(values)) or 1.0)
        fmt = "{:.0%}" if strength == "win_rate" else "{:.2f}"
        charts.append(_chart(title, [(r["key"], _num(r[strength]), _num(r.get("ci_low")), _num(r.get("ci_high")),
                                      f"{int(r.get('votes') or 0)} votes") for r in voted], domain, fmt, "bar alt"))
    kept = [r for r in rows if _num(r.get("s_per_kept")) is not None]
    if kept:  # what a keeper costs: the groups that make them cheaply are worth another look
        most = max(_num(r["s_per_kept"]) for r in kept) or 1.0
        charts.append(_chart("Device-seconds per kept clip", [(r["key"], _num(r["s_per_kept"]), None, None,
                                                              f"{int(r.get('kept') or 0)} kept of {int(r.get('runs') or 0)}") for r in kept],
                             (0.0, most), "{:.1f} s", "bar"))
    if not charts:
        charts.append('<p class="empty">No ratings or votes yet: rate clips (explorer rate) or battle them (lab.ui.pairwise()).</p>')

    head = ["<th>" + _esc("key") + "</th>"]
    columns = []
    if strength in board.columns:
        columns.append((strength, "BT score" if strength == "bt_score" else "win rate", "ci_low", "ci_high", "{:.0%}" if strength == "win_rate" else "{:.2f}"))
    columns.append(("votes", "votes", None, None, "{:d}"))
    columns.append(("mean_rating", "mean rating", "rating_ci_low", "rating_ci_high", "{:.2f}"))
    columns.extend([("ratings", "ratings", None, None, "{:d}"), ("runs", "runs", None, None, "{:d}")])
    if "s_per_kept" in board.columns:
        columns.extend([("kept", "kept", None, None, "{:d}"), ("s_per_kept", "device-s per kept clip", None, None, "{:.1f}")])
    head += [f"<th>{_esc(label)}</th>" for _, label, *_ in columns]
    body = []
    for r in rows:
        cells = [f"<td>{_esc(r['key'])}</td>"]
        for name, _, low, high, fmt in columns:
            value = _clean(r.get(name))
            if value is None:
                cells.append("<td>–</td>")
                continue
            text = fmt.format(int(value)) if fmt == "{:d}" else fmt.format(value)
            lo, hi = (_num(r.get(low)), _num(r.get(high))) if low else (None, None)
            ci = f' <span class="ci">[{fmt.format(lo)}, {fmt.format(hi)}]</span>' if lo is not None and hi is not None else ""
            cells.append(f"<td>{_esc(text)}{ci}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = f'<p class="note-small vote-note">{_esc(note)}</p>' if note else ""
    if kind != "bradley-terry":
        note += ('<p class="note-small">Simple leaderboard: mean of each rating (bootstrap CI) and '
                 'pairwise win rate, ties counting half (Wilson CI).</p>')
    return (f'<div class="charts">{"".join(charts)}</div>'
            f'<table class="lb"><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table>{note}')


def _taste_html(lab: Lab) -> str:
    """Which metric predicts the team's votes, and the team's own taste model, beside what learned reward models reach."""
    try:
        from explorer.review.metric_agreement import REFERENCE, metric_agreement
        from explorer.review.taste import taste_model
    except ImportError:  # the review module is optional here, as for the leaderboard
        return ""
    table = metric_agreement(lab, bootstrap=500)
    scored = table.dropna(subset=["accuracy"]) if len(table) else table
    if not len(scored):
        return ""
    rows = [(f"{r.metric} {'↑' if r.direction == 'higher' else '↓'}", float(r.accuracy), float(r.low), float(r.high), f"{int(r.votes)} votes")
            for r in scored.itertuples()]
    model = taste_model(lab)
    if model.accuracy is not None:
        rows.insert(0, ("taste model", model.accuracy, model.low, model.high, f"{model.held_out} votes"))
    reference = (f"For reference: {REFERENCE['name']} agree with human pairwise preferences "
                 f"{REFERENCE['low']:.0%}–{REFERENCE['high']:.0%} of the time ({REFERENCE['source']}). 50 % is chance.")
    return ('<section class="board" id="taste"><h2>Which measurement predicts our taste <small>pairwise accuracy against the '
            'team\'s votes · 95% CI · ↑ more wins, ↓ less wins · taste model: held out</small></h2>'
            f'<div class="charts">{_chart("Agreement with the votes", rows, (0.0, 1.0), "{:.0%}", "bar alt")}</div>'
            f'<p class="note-small">{_esc(model.describe())}</p><p class="note-small">{_esc(reference)}</p></section>')


def _chart(title: str, rows: list[tuple[str, float, float | None, float | None, str]], domain: tuple[float, float], fmt: str,
           bar_class: str) -> str:
    """Horizontal bars with CI whiskers, as inline SVG (labels escaped)."""
    label_w, plot_w, value_w, row_h, top = 130, 260, 120, 26, 6
    width, height = label_w + plot_w + value_w, top + row_h * len(rows) + 18
    lo, hi = domain
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return label_w + plot_w * (min(max(v, lo), hi) - lo) / span

    base = x(max(lo, 0.0) if lo <= 0.0 <= hi else lo)
    parts = [f'<svg class="lb-chart" role="img" aria-label="{_esc(title)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<line class="axis" x1="{base:.1f}" y1="{top}" x2="{base:.1f}" y2="{height - 16}"/>']
    for i, (key, value, low, high, note) in enumerate(rows):
        y = top + i * row_h
        mid = y + row_h / 2
        label = key if len(key) <= 18 else key[:17] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{mid + 4:.1f}" text-anchor="end"><title>{_esc(key)}</title>{_esc(label)}</text>')
        left, right = sorted((base, x(value)))
        parts.append(f'<rect class="{bar_class}" x="{left:.1f}" y="{y + 5}" width="{max(right - left, 1.5):.1f}" height="{row_h - 10}" rx="3">'
                     f'<title>{_esc(key)}: {_esc(fmt.format(value))}</title></rect>')
        if low is not None and high is not None:
            a, b = x(low), x(high)
            parts.append(f'<g class="ci-whisker"><line class="whisker" x1="{a:.1f}" y1="{mid:.1f}" x2="{b:.1f}" y2="{mid:.1f}"/>'
                         f'<line class="whisker" x1="{a:.1f}" y1="{mid - 5:.1f}" x2="{a:.1f}" y2="{mid + 5:.1f}"/>'
                         f'<line class="whisker" x1="{b:.1f}" y1="{mid - 5:.1f}" x2="{b:.1f}" y2="{mid + 5:.1f}"/></g>')
        parts.append(f'<text x="{label_w + plot_w + 8}" y="{mid + 4:.1f}">{_esc(fmt.format(value))}'
                     f' <tspan class="dim">{_esc(note)}</tspan></text>')
    for tick in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text class="dim" x="{x(tick):.1f}" y="{height - 3}" text-anchor="middle">{_esc(fmt.format(tick))}</text>')
    parts.append("</svg>")
    return f'<figure class="chart" style="margin:0"><h3>{_esc(title)}</h3>{"".join(parts)}</figure>'
