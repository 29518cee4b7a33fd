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

LATEST = MIGRATIONS[-1][0]


def applied(conn: duckdb.DuckDBPyConnection) -> list[str]:
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return []
    return [name for (name,) in conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]


def migrate(conn: duckdb.DuckDBPyConnection, upto: str | None = None) -> list[str]:
    """Apply the migrations not yet recorded (up to ``upto``, inclusive); return their names."""
    done = set(applied(conn))
    ran = []
    for name, sql in MIGRATIONS:
        if name not in done:
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, utcnow()])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            ran.append(name)
        if name == upto:
            break
    return ran
