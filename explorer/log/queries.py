"""Read queries over the log: runs with filters, the latest ratings, lineage."""

from __future__ import annotations

from typing import Any

import pandas as pd

from explorer.log.log import Log, LogError

# The latest rating of each author on each run is the one that counts.
LATEST_RATINGS = """
    SELECT * FROM ratings
    QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1
"""

RUN_COLUMNS = """
    r.id, r.created_at, r.author, r.status, r.backend, r.model, r.prompt, r.negative_prompt, r.seed, r.frames, r.fps,
    r.width, r.height, r.steps, r.guidance, r.parent_id, r.sweep_id, r.duration_s, r.error, r.hint, r.media_sha256
"""

SORTS = {
    "newest": "r.created_at DESC, r.id",
    "oldest": "r.created_at ASC, r.id",
    "rating": "rating DESC NULLS LAST, r.created_at DESC",
}


def runs(log: Log, *, text: str | None = None, tag: str | None = None, author: str | None = None, backend: str | None = None,
         model: str | None = None, status: str | None = None, min_rating: float | None = None, parent: str | None = None,
         sweep: str | None = None, sort: str = "newest", limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """Runs with their mean latest rating, rating count and tags, filtered and sorted."""
    if sort not in SORTS:
        raise LogError(f"sort: must be one of {', '.join(SORTS)} (got {sort!r})")
    where, params = [], []
    for clause, value in (
        ("r.prompt ILIKE '%' || ? || '%'", text),
        ("r.author = ?", author),
        ("r.backend = ?", backend),
        ("r.model = ?", model),
        ("r.status = ?", status),
        ("r.parent_id = ?", parent),
        ("r.sweep_id = ?", sweep),
        ("list_contains(s.tags, ?)", tag.strip().lower() if tag else None),
        ("s.rating >= ?", min_rating),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = f"""
        WITH latest AS ({LATEST_RATINGS}),
        s AS (
            SELECT run_id, avg(score) AS rating, count(*) AS ratings,
                   list_sort(list_distinct(flatten(list(tags)))) AS tags
            FROM latest GROUP BY run_id
        )
        SELECT {RUN_COLUMNS}, s.rating, coalesce(s.ratings, 0) AS ratings, coalesce(s.tags, []::VARCHAR[]) AS tags
        FROM runs r LEFT JOIN s ON s.run_id = r.id
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY {SORTS[sort]}
        {"LIMIT " + str(int(limit)) if limit is not None else ""} OFFSET {int(offset)}
    """
    frame = log.query(sql, params)
    frame["media"] = [str(log.media.path(h)) if isinstance(h, str) else None for h in frame["media_sha256"]]
    return frame


def ratings(log: Log, run_id: str | None = None, *, latest: bool = True) -> pd.DataFrame:
    """Rating rows (only each author's latest per run unless ``latest=False``)."""
    source = f"({LATEST_RATINGS})" if latest else "ratings"
    where, params = "", []
    if run_id is not None:
        where, params = "WHERE run_id = ?", [log.resolve(run_id)]
    return log.query(f"SELECT * FROM {source} {where} ORDER BY created_at", params)


def votes(log: Log) -> pd.DataFrame:
    return log.query("SELECT * FROM votes ORDER BY created_at")


def annotations(log: Log, run_id: str | None = None) -> pd.DataFrame:
    where, params = "", []
    if run_id is not None:
        where, params = "WHERE run_id = ?", [log.resolve(run_id)]
    return log.query(f"SELECT * FROM annotations {where} ORDER BY frame, created_at", params)


def lineage(log: Log, run_id: str) -> pd.DataFrame:
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
        SELECT f.depth, r.id, r.parent_id, r.status, r.prompt, r.seed, r.backend, r.model, r.created_at, r.media_sha256
        FROM family f JOIN runs r ON r.id = f.id
        ORDER BY f.depth, r.created_at
    """
    return log.query(sql, [run_id, run_id])


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
    frame = log.query(f"SELECT tag, count(*) AS n FROM (SELECT unnest(tags) AS tag FROM ({LATEST_RATINGS})) GROUP BY tag ORDER BY n DESC, tag LIMIT ?", [limit])
    return list(frame.tag)
