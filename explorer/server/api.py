"""The review REST API (``/explorer/api/…``), documented in ``openapi.yaml`` beside this file.

Every route is a jupyter_server ``APIHandler``: authenticated (403 without
credentials), XSRF-checked for cookie writes, JSON in and out. Writes are made
as the server's authenticated user; an ``author`` in a body is ignored. Bodies
and query arguments are held to :mod:`explorer.limits` (the same limits as the
Python API and the CLI) before anything reaches the log: a bad one gets a 400
whose ``error`` names the field, a body over ``BODY_BYTES`` a 413. DuckDB work
runs on a thread, so one slow query never stalls the server.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from pathlib import Path
from typing import Annotated, Any, Callable

import pandas as pd
from jupyter_server.base.handlers import APIHandler
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from tornado import web

from explorer.lab import Lab
from explorer.limits import BODY_BYTES, RANGES, TAGS, TEXT, depth_problem, text_problem
from explorer.log import Log, LogBusy, LogError, LogMissing, LogUnavailable
from explorer.log import queries
from explorer.request import RequestError, shown
from explorer.review.taste import QUEUE_WAIT, order_by_taste, taste_model
from explorer.server.config import allowed_log

RUN_FIELDS = ["id", "created_at", "author", "status", "backend", "model", "prompt", "negative_prompt", "seed", "frames", "fps", "width",
              "height", "steps", "guidance", "parent_id", "sweep_id", "duration_s", "error", "rating", "ratings", "tags", "my_rating"]


def _text(field: str, *, required: bool = False) -> Any:
    """A string held to the limits of ``field`` (length, valid Unicode, control characters), as a pydantic type."""

    def check(value: str) -> str:
        problem = text_problem(field, value) or ("must not be empty" if required and not value.strip() else None)
        if problem:
            raise ValueError(problem)
        return value

    return Annotated[str, AfterValidator(check)]


def _whole(field: str, **extra: Any) -> Any:
    low, high = RANGES[field]
    return Field(ge=low, le=high, **extra)


# Strict: JSON true/false for booleans, numbers for numbers; "yes" is not true and "3" is not 3.
BODY = ConfigDict(extra="ignore", strict=True)  # extra: e.g. an "author" the client made up: ignored, never used


class RatingIn(BaseModel):
    model_config = BODY
    run_id: _text("run_id", required=True)
    score: int = _whole("score")
    tags: list[_text("tag")] = Field(default_factory=list, max_length=TAGS)
    note: _text("note") | None = None


class VoteIn(BaseModel):
    model_config = BODY
    winner_id: _text("run_id", required=True)
    loser_id: _text("run_id", required=True)
    tie: bool = False


class Region(BaseModel):
    model_config = ConfigDict(strict=True)
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(ge=0, le=1)
    h: float = Field(ge=0, le=1)


class AnnotationIn(BaseModel):
    model_config = BODY
    run_id: _text("run_id", required=True)
    text: _text("text", required=True)
    frame: int = _whole("frame", default=0)
    end_frame: int | None = _whole("end_frame", default=None)
    region: Region | None = None


class ReviewLog:
    """The server's log, shared by every request (the lease makes it safe to share the file).

    The server never creates it: until the file exists (a kernel or ``explorer demo`` makes it),
    :meth:`get` raises :class:`LogMissing`, reads answer empty and writes a 404 saying so. Each
    request looks again, so a log made later is picked up without a restart.
    """

    def __init__(self, root_dir: str, config: Any):
        self.target = allowed_log(root_dir, config, None)  # a file, or a team log's URL
        self.storage = config.storage or None
        self._log: Log | None = None
        self._lock = threading.Lock()

    def get(self) -> Log:
        with self._lock:
            if self._log is None:
                # LogMissing until the log exists (a file log: until the file does); nothing is written
                self._log = Log(self.target, storage=self.storage, create=False)
            return self._log


NO_LOG_YET = "make clips first: `explorer demo` in a terminal, or `lab.generate(...)` in a notebook"
_WRITE = object()  # work(): no empty answer, a missing log is a 404


class ExplorerAPIHandler(APIHandler):
    """Shared plumbing: the user's lab, JSON bodies, errors as JSON with the right status."""

    @property
    def author(self) -> str:
        """The authenticated user's name; on a personal server (token or password login), the server owner's."""
        from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider

        if type(self.identity_provider) in (IdentityProvider, PasswordIdentityProvider):
            # These providers know no names: each browser gets a random anonymous id. The person who started
            # the server is the one reviewing, so writes carry their name (ClipExplorer.author).
            return self.settings["explorer_config"].author
        user = self.current_user
        return getattr(user, "username", None) or getattr(user, "name", None) or str(user)

    def lab(self) -> Lab:
        return Lab.on(self.settings["explorer_log"].get(), self.author)

    async def work(self, fn: Callable[[], Any], empty: Any = _WRITE) -> Any:
        """Run log work on a thread; turn the user's errors into 4xx with a message.

        ``empty``: the answer when the log does not exist yet (a read); without it (a write) that is a 404.
        """
        try:
            return await asyncio.get_running_loop().run_in_executor(None, fn)
        except LogMissing as exc:
            if empty is not _WRITE:
                return empty
            raise web.HTTPError(404, f"{exc} yet; {NO_LOG_YET}") from None
        except (LogBusy, LogUnavailable) as exc:
            raise web.HTTPError(503, str(exc)) from None
        except (LogError, RequestError) as exc:
            message = str(exc)
            raise web.HTTPError(404 if "no run" in message else 400, message) from None

    def body(self, model: type[BaseModel]) -> Any:
        size = len(self.request.body or b"")
        if size > BODY_BYTES:
            raise web.HTTPError(413, f"body: must be at most {BODY_BYTES} bytes (got {size})")
        try:
            data = json.loads(self.request.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPError(400, "body: not valid JSON") from None
        except RecursionError:  # the decoder recurses per level
            raise web.HTTPError(400, "body: nested too deeply") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "body: expected a JSON object")
        problem = depth_problem(data)
        if problem:
            raise web.HTTPError(400, f"body: {problem}")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {_message(e)}" for e in exc.errors()]
            raise web.HTTPError(400, "; ".join(problems)) from None

    def check(self, fn: Callable[[], Any]) -> None:
        """Run a validation that raises RequestError; a 400 naming the field if it does (before any log work)."""
        try:
            fn()
        except (RequestError, LogError) as exc:
            raise web.HTTPError(400, str(exc)) from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        reason = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], web.HTTPError) and exc_info[1].log_message:
            reason = exc_info[1].log_message
        self.finish(json.dumps({"error": reason}))

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=_json_default, allow_nan=False))

    def query_args(self, names: dict[str, type]) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for name, kind in names.items():
            value = self.get_query_argument(name, None)
            if value is None or value == "":
                continue
            try:
                args[name] = kind(value)
            except ValueError:
                raise web.HTTPError(400, f"{name}: expected {kind.__name__} (got {shown(value)})") from None
            if kind in (int, float) and not math.isfinite(args[name]):
                raise web.HTTPError(400, f"{name}: expected a finite number (got {shown(value)})")
        return args


class MeHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        self.reply({"author": self.author, "log": str(self.settings["explorer_log"].target)})


class LogHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        review_log, author = self.settings["explorer_log"], self.author
        target = review_log.target
        where = {"path": str(target), "name": target.rsplit("/", 1)[-1] if isinstance(target, str) else target.name}

        def fetch() -> dict:
            row = review_log.get().query(
                f"""SELECT (SELECT count(*) FROM runs r WHERE {queries.VISIBLE}) AS runs,
                          (SELECT count(*) FROM runs r WHERE status = 'succeeded' AND media_sha256 IS NOT NULL AND {queries.VISIBLE}) AS clips,
                          (SELECT count(*) FROM ratings) AS ratings, (SELECT count(*) FROM votes) AS votes,
                          (SELECT count(*) FROM runs r WHERE r.status = 'succeeded' AND r.media_sha256 IS NOT NULL AND {queries.VISIBLE}
                             AND NOT EXISTS (SELECT 1 FROM ratings x WHERE x.run_id = r.id AND x.author = ?)) AS unrated""",
                [author]).iloc[0]
            return {**where, "exists": True, **{k: int(v) for k, v in row.items()}}

        empty = {**where, "exists": False, "runs": 0, "clips": 0, "ratings": 0, "votes": 0, "unrated": 0}
        self.reply(await self.work(fetch, empty))


BY_LENGTH = 100  # a grouping: a field name, or extra.<name>
RUN_FILTERS = {"text": str, "tag": str, "author": str, "backend": str, "model": str, "status": str, "min_rating": float,
               "sort": str, "limit": int, "offset": int}


class RunsHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        args = self.query_args(RUN_FILTERS)
        limit, offset = args.pop("limit", 50), args.pop("offset", 0)
        low, high = RANGES["page"]
        if not low <= limit <= high:  # a page, not a whole listing: tighter than limits.RANGES["limit"]
            raise web.HTTPError(400, f"limit: must be between {low} and {high} (got {limit})")
        self.check(lambda: queries.check_filters(**{k: v for k, v in args.items() if k != "sort"}, offset=offset))
        if args.get("sort", "newest") not in queries.SORTS:
            raise web.HTTPError(400, f"sort: must be one of {', '.join(queries.SORTS)} (got {shown(args['sort'])})")
        author = self.author

        def fetch() -> dict:
            log = self.settings["explorer_log"].get()
            page = queries.runs(log, **args, limit=limit, offset=offset, me=author)
            total = queries.count_runs(log, **{k: v for k, v in args.items() if k != "sort"})
            return {"total": total, "limit": limit, "offset": offset, "items": run_rows(page)}

        self.reply(await self.work(fetch, {"total": 0, "limit": limit, "offset": offset, "items": []}))


class RunHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        author = self.author

        def fetch() -> dict:
            lab = self.lab()
            full = lab.log.resolve(run_id)
            row = lab.log.run(full)
            summary = run_rows(queries.runs(lab.log, me=author, ids=[full], live=True))  # a live take too, when asked by id
            votes = lab.sql("SELECT * FROM votes WHERE winner_id = ? OR loser_id = ? ORDER BY created_at", [full, full])
            return {**(summary[0] if summary else {}), "request": row["request"], "sha256": row["media_sha256"],
                    "ratings_latest": records(lab.ratings(full)), "votes": records(votes),
                    "annotations": records(lab.annotations(full)), "lineage": records(lab.lineage(full))}

        self.reply(await self.work(fetch))


class RatingsHandler(ExplorerAPIHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.body(RatingIn)
        rating_id = await self.work(lambda: self.lab().rate(body.run_id, body.score, tags=body.tags, note=body.note))
        self.reply({"id": rating_id, "author": self.author}, 201)


class VotesHandler(ExplorerAPIHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.body(VoteIn)
        vote_id = await self.work(lambda: self.lab().vote(body.winner_id, body.loser_id, tie=body.tie))
        self.reply({"id": vote_id, "author": self.author}, 201)


class AnnotationsHandler(ExplorerAPIHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.body(AnnotationIn)
        region = body.region.model_dump() if body.region else None
        note_id = await self.work(lambda: self.lab().annotate(body.run_id, body.text, frame=body.frame, end_frame=body.end_frame, region=region))
        self.reply({"id": note_id, "author": self.author}, 201)


class QueueHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        mode = self.get_query_argument("mode", "rate")
        after = self.get_query_argument("after", None)
        if mode not in ("rate", "battle"):
            raise web.HTTPError(400, f"mode: must be rate or battle (got {shown(mode)})")
        if after is not None:  # a run id, or two with a comma
            problem = text_problem("after", after, limit=2 * TEXT["run_id"] + 1)
            if problem:
                raise web.HTTPError(400, f"after: {problem}")
        author = self.author

        def fetch() -> dict:
            lab = self.lab()
            if mode == "battle":
                return _battle(lab, author, after)
            unrated = lab.sql(
                f"""SELECT r.id FROM runs r WHERE r.status = 'succeeded' AND r.media_sha256 IS NOT NULL AND {queries.VISIBLE}
                   AND NOT EXISTS (SELECT 1 FROM ratings x WHERE x.run_id = r.id AND x.author = ?)
                   ORDER BY r.created_at, r.id""", [author]).id.tolist()
            if not unrated:
                return {"item": None, "pair": None, "remaining": 0}
            unrated = order_by_taste(lab, unrated, wait=QUEUE_WAIT)  # best-predicted first once the taste model is ready
            # Move past the one just left (e.g. skipped with j): it goes to the back of the queue, and still counts.
            first = unrated.index(after) + 1 if after in unrated else 0
            item = unrated[first % len(unrated)]
            return {"item": run_rows(queries.runs(lab.log, me=author, ids=[item]))[0], "pair": None, "remaining": len(unrated)}

        self.reply(await self.work(fetch, {"item": None, "pair": None, "remaining": 0}))


def _battle(lab: Lab, author: str, after: str | None) -> dict:
    """A blind pair of takes of one idea, never one this reviewer has judged, nor the one just left (``after=a,b``)."""
    from explorer.review.pairs import next_pair

    mine = lab.sql("SELECT DISTINCT winner_id, loser_id FROM votes WHERE author = ?", [author])
    judged = {frozenset(p) for p in zip(mine["winner_id"], mine["loser_id"])}
    left = frozenset((after or "").split(",")) if after and after.count(",") == 1 else None
    pair = next_pair(lab, exclude=judged | ({left} if left else set()))
    if pair is None and left:  # the pair just skipped is the only one left: offer it again rather than nothing
        pair = next_pair(lab, exclude=judged)
    if pair is None:
        return {"item": None, "pair": None, "remaining": 0, "related": None, "reason": None}
    rows = {r["id"]: r for r in run_rows(queries.runs(lab.log, me=author, ids=list(pair)))}
    return {"item": None, "pair": [_blind(rows[i]) for i in pair], "remaining": None, "related": pair.related, "reason": pair.reason}


class LeaderboardHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        by = self.get_query_argument("by", "auto")
        problem = text_problem("by", by, limit=BY_LENGTH)
        if problem:
            raise web.HTTPError(400, f"by: {problem}")

        def fetch() -> dict:
            from explorer.review.leaderboard import leaderboard
            from explorer.review.standings import COLUMN_KEYS, AutoGrouping, Standings, run_table

            log = self.settings["explorer_log"].get()
            cache = self.settings.setdefault("explorer_standings", {})
            if cache.get("log") is not log:  # a log that appeared (or was reopened) since: start afresh
                cache.clear()
                cache["log"] = log
            grouping = cache.setdefault("auto", AutoGrouping(log)).choose() if by == "auto" else by
            try:
                if grouping in COLUMN_KEYS:  # kept up to date incrementally: fast on big logs
                    board = cache.setdefault(grouping, Standings(log, grouping)).table()
                elif grouping == "run":  # bounded: the most-voted clips
                    board = run_table(log)
                else:
                    board = leaderboard(self.lab(), by=grouping)
            except ValueError as exc:
                raise RequestError([str(exc)]) from None
            return {"by": grouping, "requested": by, "rows": records(board), "votes": _vote_counts(board), "note": board.attrs.get("note", "")}

        empty = {"by": "model" if by == "auto" else by, "requested": by, "rows": [], "votes": {"total": 0, "within": 0, "outside": 0}, "note": ""}
        self.reply(await self.work(fetch, empty))


def _vote_counts(board: pd.DataFrame) -> dict[str, int]:
    return {k: int(board.attrs.get(f"votes_{k}", 0)) for k in ("total", "within", "outside")}


class AgreementHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        def fetch() -> dict:
            from explorer.review.leaderboard import agreement_report

            return agreement_report(self.lab())

        self.reply(await self.work(fetch, {"star_alpha": None, "reviewers": [], "ratings": 0, "votes": 0}))


class TasteHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        self.reply(await self.work(lambda: taste_model(self.lab()).to_dict(), {"votes": 0, "star_pairs": 0, "ready": False}))


class MetricAgreementHandler(ExplorerAPIHandler):
    """Which measurement predicts the team's taste; the taste model waited on for at most QUEUE_WAIT (then "fitting")."""

    @web.authenticated
    async def get(self) -> None:
        from explorer.review.metric_agreement import REFERENCE
        from explorer.review.taste_report import taste_report

        empty = {"metrics": [], "reviewers": {}, "reference": dict(REFERENCE), "votes": 0,
                 "taste": {"votes": 0, "star_pairs": 0, "ready": False, "fitting": False, "fitted": False}}
        self.reply(await self.work(lambda: taste_report(self.lab(), wait=QUEUE_WAIT), empty))


class TagsHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        self.reply(await self.work(lambda: self.lab().tags(), []))


class ChangesHandler(ExplorerAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        def fetch() -> dict:
            row = self.lab().sql(
                """SELECT (SELECT count(*) FROM runs) AS runs, (SELECT max(coalesce(finished_at, created_at)) FROM runs) AS run_t,
                          (SELECT max(kept_at) FROM runs) AS kept_t,
                          (SELECT count(*) FROM ratings) AS ratings, (SELECT count(*) FROM votes) AS votes,
                          (SELECT count(*) FROM annotations) AS notes""").iloc[0]
            return {"version": "-".join(str(v) for v in row.tolist())}

        self.reply(await self.work(fetch, {"version": "no-log"}))


def _message(error: dict) -> str:
    """Pydantic's message, without its "Value error, " prefix (our checks' text), and never a whole huge input."""
    message = error["msg"].removeprefix("Value error, ")
    return message if error["type"] not in ("int_type", "bool_type", "float_type", "string_type") else f"{message} (got {shown(error.get('input'))})"


def run_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Runs as JSON-safe dicts in the API's shape (``sha256`` for the media hash)."""
    rows = []
    for row in records(frame):
        item = {key: row.get(key) for key in RUN_FIELDS if key in row}
        item["sha256"] = row.get("media_sha256")
        item["tags"] = list(item.get("tags") or [])
        item["ratings"] = int(item.get("ratings") or 0)
        rows.append(item)
    return rows


def _blind(run: dict[str, Any]) -> dict[str, Any]:
    """What a blind battle may show: the clip, not who or what made it."""
    return {k: run[k] for k in ("id", "sha256", "frames", "fps", "width", "height", "status", "created_at", "author", "backend", "prompt")
            if k in run} | {"prompt": "", "author": "", "backend": ""}


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-safe records: NaN/NA → None, timestamps → ISO text, arrays → lists, JSON text → values."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
                value = value.tolist()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif value is pd.NA or value is pd.NaT or (not isinstance(value, (list, dict, str)) and _isna(value)):
                value = None
            elif isinstance(value, pd.Timestamp):
                value = value.isoformat()
            elif key in ("region", "request") and isinstance(value, str):
                value = json.loads(value)
            clean[key] = value
        out.append(clean)
    return out


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def api_handlers(prefix: Callable[..., str]) -> list[tuple[str, type]]:
    return [
        (prefix("api", "me"), MeHandler),
        (prefix("api", "log"), LogHandler),
        (prefix("api", "runs"), RunsHandler),
        (prefix("api", "runs", r"(?P<run_id>[^/]+)"), RunHandler),
        (prefix("api", "ratings"), RatingsHandler),
        (prefix("api", "votes"), VotesHandler),
        (prefix("api", "annotations"), AnnotationsHandler),
        (prefix("api", "queue", "next"), QueueHandler),
        (prefix("api", "leaderboard"), LeaderboardHandler),
        (prefix("api", "agreement"), AgreementHandler),
        (prefix("api", "taste"), TasteHandler),
        (prefix("api", "metric-agreement"), MetricAgreementHandler),
        (prefix("api", "tags"), TagsHandler),
        (prefix("api", "changes"), ChangesHandler),
    ]
