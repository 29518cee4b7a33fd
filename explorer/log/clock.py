"""Times in the log: naive UTC timestamps (DuckDB TIMESTAMP), the same on every machine."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
