"""Per-run rating summaries kept current the way the standings are: folded in by ``rowid``, held in this process.

What :func:`explorer.log.queries.runs` shows beside each run — the mean of each
reviewer's latest stars, how many reviewers, the union of their tags, and the
asking reviewer's own latest stars — used to be computed from every rating in
the log whenever a query sorted or filtered by it (~5 s at 8M ratings), and
from a page's ratings through an index otherwise (~20 ms a page).

:class:`RatingSummary` keeps those figures in a small in-memory DuckDB of its
own (one per :class:`~explorer.log.Log` and process, :func:`summary_for`),
beside the log rather than in it, so the same code serves a file log and a
team log (DuckLake has no indexes and a file log's connection is leased and
closed between turns, so nothing can live in the log's own connection):

- the first use summarises every rating once (one aggregate: each
  (run, reviewer)'s latest row by ``created_at, id``, then per run);
- every later use reads the ratings rows added since (``rowid > mark``: rating
  rows are append-only and ``rowid`` only grows, on both homes) and recomputes
  the summary of just the runs they touch, from all of those runs' ratings.
  Recomputing a run from scratch rather than adjusting it keeps the result
  identical to the full query whatever order rows arrive in (a row with an
  earlier ``created_at`` than one already seen changes nothing), and makes a
  fold idempotent: the mark is read before the rows, so a row that lands in
  between is folded twice, harmlessly;
- a reviewer's own latest stars (``my_rating``) are kept only for reviewers
  who asked (first request: one pass over their rows), folded the same way.

Queries join the summary into the log's SQL as a registered Arrow table
(``run_summary``: ``run_id, rating, ratings, tags``), exported from the side
database once per change. A page that neither sorts nor filters by rating
joins only its own runs' rows (an index lookup in the side database); a sort
or filter by rating with no other filter is answered by the side database
alone (it keeps each rated run's ``created_at``, which never changes) and
only the page's runs are read from the log. Whether anything is new is asked
with ``count(*)`` (table metadata on both homes, ~0.5 ms; rows are never
deleted), so an unchanged log costs no scan. Runs rows are updated in place (status, heartbeat)
but a summary depends on ratings alone, so run updates need no fold.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import duckdb

from explorer.log.connection import CONNECT_CONFIG, records
from explorer.log.per_log import PerLog

if TYPE_CHECKING:  # imported where used: a CLI command that reads no summary pays for neither (~0.9 s together)
    import pandas as pd
    import pyarrow as pa

FULL_REFOLD_ROWS = 200_000  # more new rows than this: summarise everything again (one aggregate beats a long IN list)

# Each (run, reviewer)'s latest rating: the latest created_at, then the greatest id (the order queries.LATEST_RATINGS uses).
_LATEST = """
    SELECT run_id, author, arg_max(score, struct_pack(t := created_at, i := id)) AS score,
           arg_max(tags, struct_pack(t := created_at, i := id)) AS tags
    FROM ratings {where} GROUP BY run_id, author
"""
_PER_RUN = """
    SELECT run_id, avg(score) AS rating, count(*) AS ratings, list_sort(list_distinct(flatten(list(tags)))) AS tags
    FROM latest GROUP BY run_id
"""
# what the log computes: the per-run figures, with each run's created_at (for sorting by rating without the runs table)
_FROM_LOG = f"""
    WITH latest AS ({_LATEST}), per_run AS ({_PER_RUN})
    SELECT p.*, r.created_at FROM per_run p JOIN runs r ON r.id = p.run_id
"""


class RatingSummary:
    """One log's per-run rating summary, in this process; thread-safe."""

    def __init__(self, log: Any):
        self.log = log
        self._lock = threading.RLock()
        self._db = duckdb.connect(config=CONNECT_CONFIG)  # in memory, this process only
        self._db.execute("SET enable_progress_bar = false")
        self._db.execute("SET threads = 1")  # small queries: on a busy machine a second thread costs more in waiting than it gives
        self._mark: int | None = None  # the greatest ratings rowid folded in; None before the first use
        self._count = -1  # ratings rows in the log at the last look
        self._authors: set[str] = set()  # reviewers whose own latest stars are kept
        self._arrow: pa.Table | None = None  # the summary as Arrow, for registering; None after a change
        self.folds = 0  # how many times new rows were folded in (tests and benchmarks read it)

    # -- reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Fold in the ratings added since the last call (the first call summarises them all)."""
        with self._lock:
            if self._mark is None:
                self._summarise_all()
            else:
                self._fold()

    def table(self) -> pa.Table:
        """The summary of every rated run (``run_id, rating, ratings, tags``) as Arrow, current as of the last refresh."""
        with self._lock:
            if self._arrow is None:
                self._arrow = self._db.execute("SELECT run_id, rating, ratings, tags FROM summary").to_arrow_table()
            return self._arrow

    def rows(self, run_ids: list[str]) -> pa.Table:
        """The summary rows of ``run_ids`` (those with ratings), as Arrow: what a page of runs joins."""
        with self._lock:
            return self._db.execute(f"SELECT run_id, rating, ratings, tags FROM summary WHERE run_id IN ({_marks(run_ids)})",
                                    run_ids).to_arrow_table()

    def ordered(self, *, tag: str | None, min_rating: float | None, sort: str, limit: int | None, offset: int) -> tuple[list[str], int]:
        """Run ids of rated runs filtered by ``tag``/``min_rating``, one page in ``sort`` order (as queries.SORTS); and how many match."""
        where, params = _rating_filters(tag, min_rating)
        page = f"{'LIMIT ' + str(int(limit)) if limit is not None else ''} OFFSET {int(offset)}"
        with self._lock:
            ids = [i for (i,) in self._db.execute(f"SELECT run_id FROM summary {where} ORDER BY {_ORDER[sort]} {page}", params).fetchall()]
            total = self._db.execute(f"SELECT count(*) FROM summary {where}", params).fetchone()[0]
        return ids, int(total)

    def decorate(self, rows: pa.Table, run_ids: list[str], me: str | None, *, as_records: bool = False) -> pd.DataFrame | list[dict]:
        """``rows`` (runs) in the order of ``run_ids``, with each run's rating, ratings, tags (and ``me``'s stars: my_rating).

        A DataFrame, or with ``as_records`` a list of dicts (no pandas import: what the CLI prints).
        """
        import pyarrow as pa

        with self._lock:
            tables = {"page_rows": rows, "page_summary": self.rows(run_ids),  # index lookups: a join would scan the summary
                      "page_order": pa.table({"run_id": pa.array(run_ids, pa.string()), "pos": pa.array(range(len(run_ids)), pa.int64())})}
            if me is not None:
                tables["page_mine"] = self.mine(me, run_ids)
            for name, table in tables.items():
                self._db.register(name, table)
            try:
                result = self._db.execute(
                    f"""SELECT r.*, s.rating, coalesce(s.ratings, 0) AS ratings, coalesce(s.tags, []::VARCHAR[]) AS tags
                               {", m.score AS my_rating" if me else ""}
                        FROM page_order o JOIN page_rows r ON r.id = o.run_id LEFT JOIN page_summary s ON s.run_id = r.id
                        {"LEFT JOIN page_mine m ON m.run_id = r.id" if me else ""} ORDER BY o.pos""")
                return records(result) if as_records else result.df()
            finally:
                for name in tables:
                    self._db.unregister(name)

    def figures(self, run_ids: list[str], me: str | None) -> tuple[dict[str, tuple], dict[str, int]]:
        """``{run_id: (rating, ratings, tags)}`` of the rated ones among ``run_ids``, and ``{run_id: me's stars}``.

        Python values, for a page assembled in this process (queries._page): one statement of index lookups, no Arrow registration.
        """
        with self._lock:
            if not run_ids:
                return {}, {}
            if me is not None:
                self._load_author(me)
            # one statement: the summaries, then (by run_id alone, the index; the author is checked here: a second
            # condition in SQL makes DuckDB scan instead) every kept reviewer's stars on these runs
            marks = _marks(run_ids)
            found = self._db.execute(
                f"""SELECT run_id, rating, ratings, tags, NULL AS author, NULL AS score FROM summary WHERE run_id IN ({marks})
                    {f"UNION ALL SELECT run_id, NULL, NULL, NULL, author, score FROM mine WHERE run_id IN ({marks})" if me is not None else ""}""",
                run_ids * (2 if me is not None else 1)).fetchall()
            figures = {run_id: (rating, count, tags) for run_id, rating, count, tags, author, _ in found if author is None}
            mine = {run_id: score for run_id, _, _, _, author, score in found if author is not None and author == me}
            return figures, mine

    def frame(self, rows: list[dict], schema: pa.Schema, mine: bool) -> pd.DataFrame:
        """``rows`` (the shown run columns of ``schema``, then rating, ratings, tags, my_rating) as the DataFrame the log's query gives."""
        import pyarrow as pa

        fields = [*schema, pa.field("rating", pa.float64()), pa.field("ratings", pa.int64()), pa.field("tags", pa.list_(pa.string()))]
        if mine:
            fields.append(pa.field("my_rating", pa.int32()))
        return pandas_like_duckdb(pa.Table.from_pylist(rows, schema=pa.schema(fields)))

    def mine(self, me: str, run_ids: list[str] | None = None) -> pa.Table:
        """``me``'s latest stars per run (``run_id, score``) as Arrow, for ``run_ids`` only if given."""
        with self._lock:
            self._load_author(me)
            if run_ids is None:
                return self._db.execute("SELECT run_id, score FROM mine WHERE author = ?", [me]).to_arrow_table()
            return self._db.execute(f"SELECT run_id, score FROM mine WHERE author = ? AND run_id IN ({_marks(run_ids)})",
                                    [me, *run_ids]).to_arrow_table()

    # -- folding ------------------------------------------------------------------------------------

    def _log_arrow(self, sql: str, params: list | None = None) -> pa.Table:
        with self.log.connection.session() as conn:
            return conn.execute(sql, params or []).to_arrow_table()

    def _log_mark(self) -> int:
        return int(self._log_arrow("SELECT coalesce(max(rowid), -1) AS m FROM ratings").column("m")[0].as_py())

    def _summarise_all(self) -> None:
        mark = self._log_mark()  # before the rows: a row added meanwhile is folded again next time (idempotent)
        self._count = self._log_count()
        per_run = self._log_arrow(_FROM_LOG.format(where=""))
        self._db.execute("CREATE OR REPLACE TABLE summary AS SELECT * FROM per_run")
        self._db.execute("CREATE INDEX summary_run ON summary (run_id)")  # a page's rows by lookup, not a scan
        del per_run
        self._db.execute("CREATE OR REPLACE TABLE mine (author VARCHAR, run_id VARCHAR, score INTEGER)")
        self._db.execute("CREATE INDEX mine_run ON mine (run_id)")
        self._mark, self._arrow = mark, None
        authors, self._authors = self._authors, set()
        for author in sorted(authors):
            self._load_author(author)

    def _log_count(self) -> int:
        return int(self._log_arrow("SELECT count(*) AS n FROM ratings").column("n")[0].as_py())

    def _fold(self) -> None:
        count = self._log_count()  # from the table's metadata (~0.5 ms): rows are never deleted, so no change in count, no new rows
        if count == self._count:
            return
        new = self._log_arrow("SELECT run_id FROM ratings WHERE rowid > ?", [self._mark])
        self._count = count
        if new.num_rows == 0:
            return
        if new.num_rows > FULL_REFOLD_ROWS:
            self._summarise_all()
            self.folds += 1
            return
        mark = self._log_mark()
        touched = sorted(set(new.column("run_id").to_pylist()))
        latest = self._log_arrow(_LATEST.format(where="WHERE run_id IN (SELECT unnest(?))"), [touched])
        created = self._log_arrow("SELECT id AS run_id, created_at FROM runs WHERE id IN (SELECT unnest(?))", [touched])
        db = self._db
        db.execute("BEGIN TRANSACTION")
        try:
            db.execute("DELETE FROM summary WHERE run_id IN (SELECT unnest(?))", [touched])
            db.execute(f"INSERT INTO summary SELECT p.*, c.created_at FROM ({_PER_RUN}) p JOIN created c ON c.run_id = p.run_id")
            if self._authors:
                db.execute("DELETE FROM mine WHERE run_id IN (SELECT unnest(?))", [touched])
                db.execute("INSERT INTO mine SELECT author, run_id, score FROM latest WHERE author IN (SELECT unnest(?))",
                           [sorted(self._authors)])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        del latest
        self._mark, self._arrow = max(self._mark, mark), None
        self.folds += 1

    def _load_author(self, author: str) -> None:
        """Start keeping ``author``'s own latest stars (one pass over their ratings; later folds keep them current)."""
        if author in self._authors:
            return
        if self._mark is None:
            self._summarise_all()
        rows = self._log_arrow("""SELECT run_id, arg_max(score, struct_pack(t := created_at, i := id)) AS score
                                  FROM ratings WHERE author = ? GROUP BY run_id""", [author])
        self._db.execute("INSERT INTO mine SELECT ?, run_id, score FROM rows", [author])
        self._authors.add(author)
        # rows added since the mark are folded next refresh: recomputing a touched run rewrites this author's row too


def pandas_like_duckdb(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame with the dtypes DuckDB's ``.df()`` gives it (measured: ~2 ms for a page, DuckDB's own ~7 ms).

    Where the two differ: an integer column with a NULL becomes pandas' nullable ``Int32``/``Int64`` (Arrow: float64),
    and a text column holding only NULLs an ``object`` column of None (Arrow: ``str`` of NaN).
    """
    import pandas as pd
    import pyarrow as pa

    frame = table.to_pandas()
    for field, column in zip(table.schema, table.columns):
        if column.null_count == 0:
            continue
        if pa.types.is_integer(field.type):
            frame[field.name] = pd.array(column.to_pylist(), dtype=f"Int{field.type.bit_width}")
        elif pa.types.is_string(field.type) and column.null_count == len(column):
            frame[field.name] = pd.Series([None] * len(column), dtype=object, index=frame.index)
    return frame


def _marks(values: list) -> str:
    """``?, ?, …`` for an IN list of constants (an index lookup; ``IN (SELECT unnest(?))`` scans the table)."""
    return ", ".join("?" * len(values)) if values else "NULL"


def _rating_filters(tag: str | None, min_rating: float | None) -> tuple[str, list]:
    where, params = [], []
    for clause, value in (("list_contains(tags, ?)", tag.strip().lower() if tag else None), ("rating >= ?", min_rating)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(where) if where else ""), params


_ORDER = {"newest": "created_at DESC, run_id", "oldest": "created_at ASC, run_id", "rating": "rating DESC, created_at DESC"}

_summaries: PerLog[RatingSummary] = PerLog(RatingSummary)


def summary_for(log: Any) -> RatingSummary:
    """The rating summary of ``log`` in this process (made on first use, dropped with the log)."""
    return _summaries.get(log)
