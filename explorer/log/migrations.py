"""The log's schema, as named forward migrations applied in order on open.

Each migration is recorded in ``schema_migrations`` with the time it ran. A
migration is never edited once released: change the schema by appending a
new one. A database written by an older version opens in a newer one with
every row kept.

DuckDB cannot ALTER a table that has an explicit index, so the first tables
kept none beyond primary keys; 0003 indexes the reviewer tables by run for
point lookups, and a migration that alters them must drop those indexes first.
"""

from __future__ import annotations

import re
import uuid

import duckdb

from explorer.log.clock import utcnow

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE runs (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,          -- UTC
            finished_at TIMESTAMP,
            author VARCHAR NOT NULL,
            status VARCHAR NOT NULL,                -- running | succeeded | failed | cancelled
            backend VARCHAR NOT NULL,
            model VARCHAR,
            prompt VARCHAR NOT NULL,
            negative_prompt VARCHAR,
            seed BIGINT,
            frames INTEGER,
            fps DOUBLE,
            width INTEGER,
            height INTEGER,
            steps INTEGER,
            guidance DOUBLE,
            parent_id VARCHAR,
            request JSON NOT NULL,                  -- the full validated request
            error VARCHAR,
            hint VARCHAR,
            duration_s DOUBLE,                      -- wall time of the whole run
            timings JSON,                           -- generate / encode / log seconds
            device VARCHAR,
            versions JSON,
            backend_info JSON,
            media_sha256 VARCHAR
        );
        CREATE TABLE media (
            sha256 VARCHAR PRIMARY KEY,
            path VARCHAR NOT NULL,                  -- relative to the media folder
            poster VARCHAR NOT NULL,
            thumb VARCHAR NOT NULL,
            bytes BIGINT NOT NULL,
            frames INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            fps DOUBLE NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE ratings (
            id VARCHAR PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            author VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
            tags VARCHAR[] NOT NULL,
            note VARCHAR
        );
        CREATE TABLE votes (
            id VARCHAR PRIMARY KEY,
            winner_id VARCHAR NOT NULL,             -- for a tie: the left clip
            loser_id VARCHAR NOT NULL,
            tie BOOLEAN NOT NULL,
            author VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE annotations (
            id VARCHAR PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            author VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            frame INTEGER NOT NULL,
            end_frame INTEGER,
            time_s DOUBLE NOT NULL,
            end_time_s DOUBLE,
            region JSON,                            -- {"x","y","w","h"} as fractions of the frame
            text VARCHAR NOT NULL
        );
        """,
    ),
    (
        "0002_sweeps",
        """
        CREATE TABLE sweeps (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            author VARCHAR NOT NULL,
            name VARCHAR,
            base_request JSON NOT NULL,
            axes JSON NOT NULL                      -- {"field": [values, ...], ...} in grid order
        );
        ALTER TABLE runs ADD COLUMN sweep_id VARCHAR;
        ALTER TABLE runs ADD COLUMN sweep_cell JSON;  -- this run's value on each axis
        """,
    ),
]

MIGRATIONS.append((
    "0003_review_indexes",
    # Point lookups of a page's or a run's ratings, votes and notes stay fast on logs of millions of rows.
    # Note: DuckDB cannot ALTER a table with an index; a later migration changing these tables drops them first.
    """
    CREATE INDEX ratings_run ON ratings (run_id);
    CREATE INDEX votes_winner ON votes (winner_id);
    CREATE INDEX votes_loser ON votes (loser_id);
    CREATE INDEX annotations_run ON annotations (run_id);
    """,
))

MIGRATIONS.append((
    "0004_log_identity",
    # A random id per log, written once: a team log's storage folder names it, so a wrong folder is caught on open.
    "CREATE TABLE log_identity (id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);",
))

MIGRATIONS.append((
    "0005_run_whereabouts",
    # Where a run runs and that it still does: a run whose process is gone is shown as interrupted (explorer.log.recovery).
    """
    ALTER TABLE runs ADD COLUMN host VARCHAR;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMP;
    """,
))

MIGRATIONS.append((
    "0006_metrics",
    # Cheap per-clip measurements (explorer.metrics), append-only: a new formula is a new version, readers take the latest.
    # Indexed by run; a migration that alters this table must drop the index first (see above).
    """
    CREATE TABLE metrics (
        run_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        value DOUBLE,                           -- NULL: not finite for this clip
        created_at TIMESTAMP NOT NULL
    );
    CREATE INDEX metrics_run ON metrics (run_id);
    """,
))

MIGRATIONS.append((
    "0007_live_takes",
    # Live mode's takes (explorer.live): ``live`` marks a run made while the Generate panel's live switch was on; such a
    # run is hidden from listings and review until kept (``kept_at``, set once by ``lab.keep``). Hidden means
    # ``live AND kept_at IS NULL`` (queries.VISIBLE); NULL ``live`` (every older run) is an ordinary run.
    """
    ALTER TABLE runs ADD COLUMN live BOOLEAN;
    ALTER TABLE runs ADD COLUMN kept_at TIMESTAMP;
    """,
))

MIGRATIONS.append((
    "0008_embeddings",
    # CLIP embeddings of clips where a CLIP model is configured (explorer.embeddings): append-only like metrics, one
    # vector per run, model and version; readers take the latest of one model.
    """
    CREATE TABLE embeddings (
        run_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,                 -- what EXPLORER_CLIP_MODEL named: a hub id or a folder
        version INTEGER NOT NULL,
        vector FLOAT[] NOT NULL,
        created_at TIMESTAMP NOT NULL
    );
    CREATE INDEX embeddings_run ON embeddings (run_id);
    """,
))

LATEST = MIGRATIONS[-1][0]


def for_lake(sql: str) -> list[str]:
    """A migration's statements as a DuckLake catalog takes them: no keys, checks or indexes.

    DuckLake has none of these (the log never relied on them to reject a row: every write is checked before it
    is made), so one list of migrations serves both homes. Statements are split on ``;`` (none quotes one).
    """
    kept = []
    for statement in (part.strip() for part in sql.split(";")):
        if not statement or statement.upper().startswith("CREATE INDEX"):
            continue
        statement = re.sub(r"\s+PRIMARY KEY", "", statement)
        kept.append(_without_checks(statement))
    return kept


def _without_checks(statement: str) -> str:
    """``statement`` with every ``CHECK (…)`` clause removed (balanced parentheses)."""
    while (match := re.search(r"\s+CHECK\s*\(", statement)) is not None:
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(statement[end], 0)
            end += 1
        statement = statement[:match.start()] + statement[end:]
    return statement


def applied(conn: duckdb.DuckDBPyConnection) -> list[str]:
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = 'main' "
        "AND table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return []
    return [name for (name,) in conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]


def migrate(conn: duckdb.DuckDBPyConnection, upto: str | None = None, *, lake: bool = False) -> list[str]:
    """Apply the migrations not yet recorded (up to ``upto``, inclusive), each in its own transaction; return their names.

    On a team log (``lake``) two processes may migrate at once: the loser's commit conflicts, the caller retries, and
    the migrations the winner applied are then skipped (``applied`` is read inside each transaction).
    """
    ran = []
    for name, sql in MIGRATIONS:
        conn.execute("BEGIN TRANSACTION")
        try:
            if name not in applied(conn):
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
                for statement in for_lake(sql) if lake else [sql]:
                    conn.execute(statement)
                if name == "0004_log_identity":
                    conn.execute("INSERT INTO log_identity VALUES (?, ?)", [uuid.uuid4().hex, utcnow()])
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, utcnow()])
                ran.append(name)
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except duckdb.Error:
                pass  # a failed COMMIT has ended the transaction already
            raise
        if name == upto:
            break
    return ran
