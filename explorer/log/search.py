"""Prompt search through DuckDB's full-text index, with exactly the results of ``prompt ILIKE '%text%'``.

What users rely on is a case-insensitive *substring* search: "kite" finds
"kites" and "kiteboard", "neon oc" finds "neon ocean" but not "ocean neon",
and ``%`` and ``_`` in the text are LIKE's wildcards. That is what
:func:`explorer.log.queries.runs` did with a scan of every prompt (~100 ms a
query at 1M runs, twice per panel request: the page and the total). Decision:
**keep those semantics exactly** — no stemming, no ranking, no word-only
matches — and use the full-text index only to find the few prompts that can
match, then apply the same ``ILIKE`` to them.

Why the index never misses a match: the index splits each lower-cased prompt
into words, a word being a maximal run of letters and digits (``\\p{L}\\p{N}``).
When ``prompt ILIKE '%text%'``, the lower-cased text lies inside the
lower-cased prompt, so each run of letters and digits in the text (a *piece*)
lies inside one word of the prompt. The candidates are therefore the prompts
with a word that contains the rarest piece (a scan of the index's dictionary
of distinct words, then its postings); the ``ILIKE`` on those is exact. Text
with no letter or digit (``"--"``) is scanned as before.

Where the index lives: DuckLake tables cannot hold one (``PRAGMA
create_fts_index`` on a lake table fails at commit) and a file log's
connection is leased and closed between turns, so :class:`PromptSearch`
keeps ``(rowid, id, prompt)`` of every run and the index over them in an
in-memory DuckDB of its own, one per log and process (:func:`search_for`),
the same way for both homes. Runs are never deleted and their prompts never
change (only status and timings are updated), so runs added since are found
by ``rowid > mark`` and kept in a small unindexed *tail*, searched by scan;
the index is rebuilt, tail included, when the tail passes
:data:`REBUILD_TAIL` rows (a rebuild costs about as much as the first build:
see bench/README.md).

The extension comes from the ``duckdb-extension-fts`` wheel and is loaded
from its file (autoload and autoinstall stay off: nothing is ever
downloaded). Without it, search falls back to the scan.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import duckdb

from explorer.log.connection import CONNECT_CONFIG
from explorer.log.per_log import PerLog

WORD = r"[\p{L}\p{N}]+"
NOT_WORD = r"[^\p{L}\p{N}]+"
REBUILD_TAIL = 50_000  # runs added since the index was built, searched by scan until there are this many
CACHED_SEARCHES = 16  # a panel request asks for the page and then the total: the second is free
MAX_IDS = 200_000  # more matches than this: the caller filters the log with ILIKE itself (a long id list costs more)


def fts_extension() -> Path | None:
    """The ``fts`` extension file from its wheel, for this DuckDB version (None if not installed)."""
    try:
        import duckdb_extension_fts
    except ImportError:
        return None
    path = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    return path if path.is_file() else None


class PromptSearch:
    """The prompts of one log's runs with a full-text index over them, in this process; thread-safe."""

    def __init__(self, log: Any):
        self.log = log
        self._lock = threading.RLock()
        extension = fts_extension()
        self.indexed = extension is not None
        self._db = duckdb.connect(config=CONNECT_CONFIG)
        self._db.execute("SET enable_progress_bar = false")
        self._db.execute("SET threads = 1")  # small queries: on a busy machine a second thread costs more in waiting than it gives
        if extension is not None:
            self._db.execute("LOAD '" + str(extension).replace("'", "''") + "'")
        self._mark: int | None = None  # the greatest runs rowid held (index + tail)
        self._tail_rows = 0  # rows in the tail table
        self._count = -1  # runs in the log at the last look
        self._cache: OrderedDict[tuple, list[str] | None] = OrderedDict()
        self.builds = 0  # index builds so far (tests and benchmarks read it)

    def refresh(self) -> None:
        """Take in runs added since the last call (the first call reads every prompt and builds the index)."""
        with self._lock:
            count = self._log_arrow("SELECT count(*) AS n FROM runs").column("n")[0].as_py()  # metadata: ~0.5 ms
            if count == self._count:
                return  # runs are never deleted: the same count, no new runs
            self._count = count
            if self._mark is None:
                rows = self._log_arrow("SELECT rowid AS rid, id, created_at, prompt FROM runs")
                self._db.execute("CREATE OR REPLACE TABLE docs AS SELECT rid, id, created_at, prompt FROM rows ORDER BY rid")
                self._db.execute("CREATE OR REPLACE TABLE tail (rid BIGINT, id VARCHAR, created_at TIMESTAMP, prompt VARCHAR)")
                self._tail_rows = 0
                self._mark = max(-1, self._db.execute("SELECT coalesce(max(rid), -1) FROM docs").fetchone()[0])
                self._build()
                return
            rows = self._log_arrow("SELECT rowid AS rid, id, created_at, prompt FROM runs WHERE rowid > ?", [self._mark])
            if rows.num_rows == 0:
                return
            self._db.execute("INSERT INTO tail SELECT rid, id, created_at, prompt FROM rows")
            self._tail_rows += rows.num_rows
            self._mark = max(self._mark, self._db.execute("SELECT max(rid) FROM tail").fetchone()[0])
            if self._db.execute("SELECT count(*) FROM tail").fetchone()[0] >= REBUILD_TAIL:
                self._db.execute("INSERT INTO docs SELECT * FROM tail ORDER BY rid")
                self._db.execute("DELETE FROM tail")
                self._tail_rows = 0
                self._build()

    def matching(self, text: str) -> list[str] | None:
        """Ids of the runs whose prompt is ``ILIKE '%' || text || '%'``, newest first, as of the last refresh.

        None: the index cannot narrow this text (no letter or digit in it, or too many candidates): scan the log instead.
        The indexed prompts' matches are cached until the next build; the tail is scanned on every call (it is small).
        """
        with self._lock:
            key = (text, self.builds)
            if key in self._cache:
                self._cache.move_to_end(key)
                indexed = self._cache[key]
            else:
                indexed = self._cache[key] = self._matching(text)
                while len(self._cache) > CACHED_SEARCHES:
                    self._cache.popitem(last=False)
            if indexed is None:
                return None
            tail = self._db.execute("SELECT created_at, id FROM tail WHERE prompt ILIKE '%' || ? || '%'", [text]).fetchall() \
                if self._tail_rows else []  # no tail (the common case): no statement
            if not tail:
                return [i for _, i in indexed]
            # newest first, then by id: the order of queries.SORTS["newest"]
            rows = sorted(sorted([*indexed, *tail], key=lambda row: row[1]), key=lambda row: row[0], reverse=True)  # stable
            return [i for _, i in rows]

    def _matching(self, text: str) -> list[tuple] | None:
        db = self._db
        pieces = db.execute(f"SELECT list_distinct(regexp_extract_all(lower(?), '{WORD}'))", [text]).fetchone()[0]
        if not pieces or not self.indexed:
            return None
        # each piece: the dictionary words containing it and their postings (none: no indexed prompt can match)
        found = db.execute(
            """SELECT p.piece, list(d.termid) FILTER (WHERE d.termid IS NOT NULL) AS terms, coalesce(sum(d.df), 0) AS n
               FROM (SELECT unnest(?) AS piece) p LEFT JOIN fts_main_docs.dict d ON contains(d.term, p.piece)
               GROUP BY p.piece ORDER BY n, p.piece""", [pieces]).fetchall()
        if found[0][2] > MAX_IDS:
            return None
        # candidates: prompts with a word holding each of the two rarest pieces (a third rarely narrows further)
        chosen = [terms or [] for _, terms, _ in found[:2]]
        candidates = " INTERSECT ".join("SELECT docid FROM fts_main_docs.terms WHERE termid IN (SELECT unnest(?))" for _ in chosen)
        return db.execute(
            f"""SELECT d.created_at, d.id FROM docs d JOIN fts_main_docs.docs k ON k.name = d.rid
                WHERE k.docid IN ({candidates}) AND d.prompt ILIKE '%' || ? || '%'
                ORDER BY d.created_at DESC, d.id""", [*chosen, text]).fetchall()

    def _build(self) -> None:
        self._cache.clear()
        if self.indexed:
            self._db.execute("RESET threads")  # the build is the one big job here
            # one word = a maximal run of letters and digits, lower-cased; no stemming, no stop words, accents kept
            self._db.execute(f"""PRAGMA create_fts_index('docs', 'rid', 'prompt', stemmer = 'none', stopwords = 'none',
                                 ignore = '{NOT_WORD}', strip_accents = 0, lower = 1, overwrite = 1)""")
            self._db.execute("SET threads = 1")
        self.builds += 1

    def _log_arrow(self, sql: str, params: list | None = None):
        with self.log.connection.session() as conn:
            return conn.execute(sql, params or []).to_arrow_table()


_searches: PerLog[PromptSearch] = PerLog(PromptSearch)


def search_for(log: Any) -> PromptSearch:
    """The prompt search of ``log`` in this process (made on first use, dropped with the log)."""
    return _searches.get(log)
