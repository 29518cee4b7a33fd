"""Where a test's log lives (the ``home`` fixture in conftest.py): a file, or a team log on the test PostgreSQL."""

from __future__ import annotations

import explorer


class Home:
    """Where a test's log lives: a file (a person's log) or a team log (PostgreSQL + a shared folder)."""

    def __init__(self, kind: str, tmp_path, postgres=None):
        self.kind = kind
        if kind == "file":
            self.db, self.storage = str(tmp_path / "log.duckdb"), None
        else:
            self.storage = tmp_path / "shared"
            self.storage.mkdir()
            self.db = postgres.new_database()

    def open(self, author: str = "tester", **kwargs):
        return explorer.open(self.db, storage=self.storage, author=author, **kwargs)

    @property
    def args(self) -> list[str]:
        """The CLI's options for this log."""
        return ["--db", self.db, *(["--storage", str(self.storage)] if self.storage else [])]

    def server_config(self) -> dict:
        """A Jupyter server's config (pytest-jupyter's ``jp_server_config``) with Clip Explorer on this log: a file
        home uses the server's default log in its root folder, a team home is configured with its database."""
        config = {"ServerApp": {"jpserver_extensions": {"explorer": True}}, "ClipExplorer": {}}
        if self.kind == "team":
            config["ClipExplorer"] = {"db": self.db, "storage": str(self.storage)}
        return config

    def __repr__(self) -> str:
        return f"<{self.kind} log {self.db}>"
