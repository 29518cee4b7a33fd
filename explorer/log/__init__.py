"""The DuckDB log: schema and migrations, the shared connection, writes and review queries."""

from explorer.log.connection import LogBusy
from explorer.log.log import Log, LogError, LogMissing, LogUnavailable, default_author, default_db_path, media_folder_for

__all__ = ["Log", "LogBusy", "LogError", "LogMissing", "LogUnavailable", "default_author", "default_db_path", "media_folder_for"]
