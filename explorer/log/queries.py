"""Read queries over the log: runs with filters, the latest ratings, lineage.

Ratings per run come from :mod:`explorer.log.summary`, prompt search goes through
:mod:`explorer.log.search` and pages of runs from :mod:`explorer.log.runs_index`
(all kept in this process, the same for a file log and a team log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from explorer.log.connection import records
from explorer.log.log import RUN_STATUSES, Log, LogError
from explorer.log.recovery import REAP_EVERY_S
from explorer.log.runs_index import MAX_PAGE_END, RunsIndex, runs_index_for
from explorer.log.search import search_for
from explorer.log.summary import RatingSummary, summary_for
from explorer.request import RequestError, check, check_text, shown

if TYPE_CHECKING:
    import pandas as pd

# The latest rating of each author on each run is the one that counts.
LATEST_RATINGS = """
    SELECT * FROM ratings
    QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1
"""

RUN_COLUMNS = """
    r.id, r.created_at, r.author, r.status, r.backend, r.model, r.prompt, r.negative_prompt, r.seed, r.frames, r.fps,
    r.width, r.height, r.steps, r.guidance, r.parent_id, r.sweep_id, r.duration_s, r.error, r.hint, r.media_sha256, r.live, r.kept_at
"""

# A run every listing and review shows: not a live mode take, unless kept (migration 0007, explorer.live).
VISIBLE = "(r.live IS NOT TRUE OR r.kept_at IS NOT NULL)"

SORTS = {
    "newest": "r.created_at DESC, r.id",
    "oldest": "r.created_at ASC, r.id",
    "rating": "rating DESC NULLS LAST, r.created_at DESC",
}


def runs(log: Log, *, text: str | None = None, tag: str | None = None, author: str | None = None, backend: str | None = None,
         model: str | None = None, status: str | None = None, min_rating: float | None = None, parent: str | None = None,
         sweep: str | None = None, ids: list[str] | None = None, sort: str = "newest", limit: int | None = None, offset: int = 0,
         me: str | None = None, as_records: bool = False, metrics: bool = False, live: bool = False) -> pd.DataFrame | list[dict]:
    """Runs with their mean latest rating, rating count and tags (and ``me``'s latest stars), filtered and sorted.

    Live mode's takes that were not kept (:mod:`explorer.live`) are left out unless ``live=True``; the ``live`` and
    ``kept_at`` columns say which runs are live takes and when one was kept.

    ``metrics=True`` adds one ``metric_<name>`` column per clip metric, the latest version of each, read for the
    page's runs only (:mod:`explorer.metrics`; off by default: one more query).

    A DataFrame, or with ``as_records`` a list of dicts (what the CLI prints: no pandas import, ~0.6 s).

    The rating figures come from this process's per-run summary of the log
    (:mod:`explorer.log.summary`), ``text`` is matched through the prompt index
    (:mod:`explorer.log.search`), with the results of ``prompt ILIKE '%text%'``,
    and the runs themselves from the runs index (:mod:`explorer.log.runs_index`),
    all three kept in this process. One "what changed?" look (a team log's
    snapshot id; a file log's file stats, no statement) brings the runs index up
    to date; the summary and the prompt index look at the log only when it
    changed. The page's run ids are found first — by the summary alone for a sort
    or filter by rating, by the prompt index alone for a search sorted newest
    first, by the runs index otherwise — and the page is assembled in this
    process. A page with no ``limit`` (or past ``runs_index.MAX_PAGE_END``), or a
    rating filter or sort combined with other filters, is one query on the log
    with the whole summary joined in, as before.
    """
    if sort not in SORTS:
        raise LogError(f"sort: must be one of {', '.join(SORTS)} (got {shown(sort)})")
    check_filters(text=text, tag=tag, author=author, backend=backend, model=model, status=status, min_rating=min_rating,
                  parent=parent, sweep=sweep, limit=limit, offset=offset, live=live)
    index = _fresh_index(log)  # also: a run whose process died is listed as interrupted, not running
    run_filters = dict(author=author, backend=backend, model=model, status=status, parent=parent, sweep=sweep, ids=ids,
                       live=_live_filter(live, index))
    summary = _fresh_summary(log, index)
    by_rating = tag is not None or min_rating is not None or sort == "rating"
    found = _found(log, text, index)
    only = not any(v is not None for v in run_filters.values())  # no filter on the runs table itself
    page_ids = None
    if by_rating and only and text is None:
        page_ids, rated = summary.ordered(tag=tag, min_rating=min_rating, sort=sort, limit=limit, offset=offset)
        if sort == "rating" and tag is None and min_rating is None and (limit is None or offset + limit > rated):
            page_ids = None  # the page reaches the unrated runs: the whole query below
    elif not by_rating and only and found is not None and sort == "newest":
        page_ids = found[offset:None if limit is None else offset + limit]  # the prompt index's order is the page's
    elif not by_rating and index is not None and _pageable(limit, offset) and (text is None or found is not None):
        page_ids, _ = index.select(run_filters, found=found, sort=sort, offset=offset, limit=limit)  # in this process
    if page_ids is not None and index is not None and index.holds(page_ids):
        # every row from the runs index, the figures from the summary: no log statement at all
        return _with_metrics(log, _with_media(log, _page(index, summary, page_ids, me, as_records), me), metrics)
    where, params = _where_runs(text, found, run_filters)
    page = f"{'LIMIT ' + str(int(limit)) if limit is not None else ''} OFFSET {int(offset)}"
    # Lock order: the summary's lock, then the log's session, never the other way round (requests run on several
    # threads: the summary folds under its lock while reading the log). So the summary is never asked inside a session.
    if page_ids is not None or not by_rating:
        with log.connection.session() as conn:
            if page_ids is not None:  # read just the page's runs; the summaries are joined in this process
                rows = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.id IN ({_marks(page_ids)})", page_ids).to_arrow_table()
            else:  # the page from the runs table, in one statement (each costs a catalog round trip on a team log)
                rows = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs r {_where(where)} ORDER BY {SORTS[sort]} {page}", params).to_arrow_table()
        order = page_ids if page_ids is not None else rows.column("id").to_pylist()
        return _with_metrics(log, _with_media(log, summary.decorate(rows, order, me, as_records=as_records), me), metrics)
    # a rating filter or sort with other filters: the whole summary joined into the log's query
    tables = {"run_summary": summary.table(), **({"my_ratings": summary.mine(me)} if me else {})}
    where, params = list(where), list(params)
    for clause, value in _rating_filters(tag, min_rating):
        where.append(clause)
        params.append(value)
    sql = f"""SELECT {RUN_COLUMNS}, s.rating, coalesce(s.ratings, 0) AS ratings, coalesce(s.tags, []::VARCHAR[]) AS tags
                     {", mine.score AS my_rating" if me else ""}
              FROM runs r LEFT JOIN run_summary s ON s.run_id = r.id {"LEFT JOIN my_ratings mine ON mine.run_id = r.id" if me else ""}
              {_where(where)} ORDER BY {SORTS[sort]} {page}"""
    with log.connection.session() as conn:
        for name, table in tables.items():
            conn.register(name, table)
        try:
            result = conn.execute(sql, params)
            frame = records(result) if as_records else result.df()
        finally:
            for name in tables:
                conn.unregister(name)
    return _with_metrics(log, _with_media(log, frame, me), metrics)


def _with_metrics(log: Log, frame: pd.DataFrame | list[dict], wanted: bool) -> pd.DataFrame | list[dict]:
    """``frame`` with a ``metric_<name>`` column per clip metric (None where a run has none), when ``wanted``."""
    if not wanted:
        return frame
    from explorer.metrics import METRICS, latest

    ids = [row["id"] for row in frame] if isinstance(frame, list) else list(frame["id"])
    values = latest(log, ids)
    names = list(METRICS) + sorted({n for v in values.values() for n in v} - set(METRICS))
    if isinstance(frame, list):
        for row in frame:
            row.update({f"metric_{n}": values.get(row["id"], {}).get(n) for n in names})
        return frame
    for n in names:
        frame[f"metric_{n}"] = [values.get(i, {}).get(n) for i in ids]
        frame[f"metric_{n}"] = frame[f"metric_{n}"].astype("float64")
    return frame


def count_runs(log: Log, **filters: Any) -> int:
    """How many runs match (the same filters as :func:`runs`)."""
    tag, min_rating, text = filters.pop("tag", None), filters.pop("min_rating", None), filters.pop("text", None)
    filters.pop("sort", None), filters.pop("limit", None), filters.pop("offset", None), filters.pop("me", None), filters.pop("metrics", None)
    live = filters.pop("live", False)
    check_filters(**{k: v for k, v in filters.items() if k != "ids"}, text=text, tag=tag, min_rating=min_rating, live=live)
    index = _fresh_index(log)
    filters["live"] = _live_filter(live, index)
    only = not any(v is not None for v in filters.values())
    found = _found(log, text, index)
    if tag is None and min_rating is None:
        if only and found is not None:
            return len(found)
        if index is not None and (text is None or found is not None):
            return index.select(filters, found=found, sort="newest", offset=0, limit=0)[1]
        where, params = _where_runs(text, found, filters)
        return int(log.query(f"SELECT count(*) AS n FROM runs r {_where(where)}", params).n[0])
    summary = _fresh_summary(log, index)
    if only and text is None:
        return summary.ordered(tag=tag, min_rating=min_rating, sort="newest", limit=0, offset=0)[1]
    where, params = _where_runs(text, found, filters)
    for clause, value in _rating_filters(tag, min_rating):
        where.append(clause)
        params.append(value)
    table = summary.table()  # before the session: see the lock order in runs()
    with log.connection.session() as conn:
        conn.register("run_summary", table)
        try:
            return int(conn.execute(f"SELECT count(*) FROM runs r JOIN run_summary s ON s.run_id = r.id {_where(where)}", params).fetchone()[0])
        finally:
            conn.unregister("run_summary")


def _live_filter(live: bool, index: RunsIndex | None) -> bool | None:
    """The runs filter for unkept live takes: False (leave them out), or None (no filter: asked for, or the log has none)."""
    if live:
        return None
    return False if index is None or index.hidden() else None  # none hidden: the fast paths that filter nothing stay open


def _found(log: Log, text: str | None, index: RunsIndex | None = None) -> list[str] | None:
    """The runs whose prompt holds ``text``, newest first, from the prompt index; None: no text, or one to scan for."""
    if text is None:
        return None
    search = search_for(log)
    # the prompt index takes in new runs only: with the runs index current, no new run since its last look means no statement
    if index is None or _seen(index, "search", index.inserts):
        search.refresh()
    return search.matching(text)


def _fresh_index(log: Log) -> RunsIndex | None:
    """The runs index of ``log``, current (one "what changed?" look), after reaping runs that look dead; None for a log-like stand-in."""
    if not isinstance(log, Log):
        log.recover(every=REAP_EVERY_S)
        return None
    index = runs_index_for(log)
    index.refresh()
    # A running run's process looks gone (the mirror is current, so this is as fresh as a scan of the log): reap now, as
    # every reader would, rather than at most every REAP_EVERY_S. Nothing looks gone: no scan of the runs' statuses at all.
    if index.suspects() and log.recover():
        index.refresh()
    return index


def _fresh_summary(log: Log, index: RunsIndex | None) -> RatingSummary:
    """The rating summary of ``log``, folded up to date only when the runs index saw the log change (its own look costs a statement)."""
    summary = summary_for(log)
    if index is None or _seen(index, "summary", index.changes):
        summary.refresh()
    return summary


def _seen(index: RunsIndex, who: str, version: int) -> bool:
    """Whether ``who`` must look again: ``version`` moved since it last looked (and note that it now has)."""
    seen = index.__dict__.setdefault("_seen_by", {})
    if seen.get(who) == version:
        return False
    seen[who] = version
    return True


def _pageable(limit: int | None, offset: int) -> bool:
    return limit is not None and offset + limit <= MAX_PAGE_END


def _page(index: RunsIndex, summary: RatingSummary, page_ids: list[str], me: str | None, as_records: bool) -> pd.DataFrame | list[dict]:
    """The page's runs (from the runs index) with their rating figures and ``me``'s stars (from the summary), in order."""
    rows = index.rows(page_ids)
    figures, mine = summary.figures(page_ids, me)
    for row in rows:
        rating, count, tags = figures.get(row["id"], (None, 0, []))
        row["rating"], row["ratings"], row["tags"] = rating, count, tags
        if me is not None:
            row["my_rating"] = mine.get(row["id"])
    if as_records:
        return rows
    return summary.frame(rows, index.schema(), me is not None)


def _where_runs(text: str | None, found: list[str] | None, filters: dict) -> tuple[list[str], list]:
    """The run filters as SQL: ``text`` as the index's matches when it has them, else ``ILIKE`` on every prompt."""
    where, params = _run_filters(text=text if found is None else None, **filters)
    if found is not None:
        where.append("r.id IN (SELECT unnest(?))")
        params.append(found)
    return where, params


def _rating_filters(tag: str | None, min_rating: float | None) -> list[tuple[str, Any]]:
    return [(clause, value) for clause, value in (("list_contains(s.tags, ?)", tag.strip().lower() if tag else None),
                                                   ("s.rating >= ?", min_rating)) if value is not None]


def _marks(values: list) -> str:
    """``?, ?, …``: an IN list of constants is an index lookup on a file log (``IN (SELECT unnest(?))`` scans)."""
    return ", ".join("?" * len(values)) if values else "NULL"


def check_filters(*, text=None, tag=None, author=None, backend=None, model=None, status=None, min_rating=None, parent=None,
                  sweep=None, limit=None, offset=None, live=False) -> None:
    """Raise :class:`RequestError` naming a filter outside :mod:`explorer.limits` (a filter is no longer than what it matches)."""
    if not isinstance(live, bool):
        raise RequestError([f"live: must be True or False (got {shown(live)})"])
    for name, value, like in (("text", text, "prompt"), ("sweep", sweep, "run_id")):
        if value is not None:
            check_text(name, value, like=like)
    check(tag=tag, author=author, backend=backend, model=model, parent=parent, min_rating=min_rating, limit=limit, offset=offset)
    if status is not None and status not in RUN_STATUSES:
        raise RequestError([f"status: must be one of {', '.join(RUN_STATUSES)} (got {shown(status)})"])


def _run_filters(*, text=None, author=None, backend=None, model=None, status=None, parent=None, sweep=None, ids=None,
                 live=None) -> tuple[list[str], list]:
    where, params = ([VISIBLE] if live is False else []), []
    for clause, value in (
        ("r.prompt ILIKE '%' || ? || '%'", text),
        ("r.author = ?", author),
        ("r.backend = ?", backend),
        ("r.model = ?", model),
        ("r.status = ?", status),
        ("r.parent_id = ?", parent),
        ("r.sweep_id = ?", sweep),
        ("r.id IN (SELECT unnest(?))", list(ids) if ids is not None else None),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    return where, params


def _where(clauses: list[str]) -> str:
    return "WHERE " + " AND ".join(clauses) if clauses else ""


def _with_media(log: Log, frame: pd.DataFrame | list[dict], me: str | None) -> pd.DataFrame | list[dict]:
    if isinstance(frame, list):
        for row in frame:
            row["media"] = str(log.media.path(row["media_sha256"])) if row["media_sha256"] else None
            if me:
                row.setdefault("my_rating", None)
        return frame
    frame["media"] = [str(log.media.path(h)) if isinstance(h, str) else None for h in frame["media_sha256"]]
    if me and "my_rating" not in frame:
        frame["my_rating"] = None
    return frame


def ratings(log: Log, run_id: str | None = None, *, latest: bool = True, as_records: bool = False) -> pd.DataFrame | list[dict]:
    """Rating rows (only each author's latest per run unless ``latest=False``)."""
    source = f"({LATEST_RATINGS})" if latest else "ratings"
    where, params = "", []
    if run_id is not None:
        where, params = "WHERE run_id = ?", [log.resolve(run_id)]
    return (log.records if as_records else log.query)(f"SELECT * FROM {source} {where} ORDER BY created_at", params)


def votes(log: Log) -> pd.DataFrame:
    return log.query("SELECT * FROM votes ORDER BY created_at")


def annotations(log: Log, run_id: str | None = None) -> pd.DataFrame:
    where, params = "", []
    if run_id is not None:
        where, params = "WHERE run_id = ?", [log.resolve(run_id)]
    return log.query(f"SELECT * FROM annotations {where} ORDER BY frame, created_at", params)


def lineage(log: Log, run_id: str, *, as_records: bool = False) -> pd.DataFrame | list[dict]:
    """The run, its ancestors (negative depth) and descendants (positive depth)."""
    run_id = log.resolve(run_id)
    sql = """
        WITH RECURSIVE
        up(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM runs WHERE id = ?
            UNION ALL
            SELECT r.id, r.parent_id, up.depth - 1 FROM runs r JOIN up ON r.id = up.parent_id WHERE up.depth > -100
        ),
        down(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM runs WHERE id = ?
            UNION ALL
            SELECT r.id, r.parent_id, down.depth + 1 FROM runs r JOIN down ON r.parent_id = down.id WHERE down.depth < 100
        ),
        family AS (SELECT * FROM up UNION SELECT * FROM down)
        SELECT f.depth, r.id, r.parent_id, r.status, r.prompt, r.seed, r.width, r.height, r.backend, r.model, r.created_at, r.media_sha256
        FROM family f JOIN runs r ON r.id = f.id
        ORDER BY f.depth, r.created_at
    """
    return (log.records if as_records else log.query)(sql, [run_id, run_id])


def summary(log: Log) -> dict[str, Any]:
    """Counts per table and per run status: a quick look at a log."""
    counts = log.query(
        """SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM ratings) AS ratings,
                  (SELECT count(*) FROM votes) AS votes, (SELECT count(*) FROM annotations) AS annotations"""
    ).iloc[0].to_dict()
    statuses = log.query("SELECT status, count(*) AS n FROM runs GROUP BY status")
    return {**{k: int(v) for k, v in counts.items()}, "by_status": dict(zip(statuses["status"], statuses["n"].astype(int)))}


def tags(log: Log, limit: int = 50) -> list[str]:
    """Tags already used in the log (each author's latest ratings), most used first: suggestions for the next one."""
    check(limit=limit)
    frame = log.query(f"SELECT tag, count(*) AS n FROM (SELECT unnest(tags) AS tag FROM ({LATEST_RATINGS})) GROUP BY tag ORDER BY n DESC, tag LIMIT ?", [limit])
    return list(frame.tag)
