"""Server settings (``--ClipExplorer.db=…``) and which logs the server may read media for."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Bool, Unicode, default
from traitlets.config import Configurable


class ClipExplorer(Configurable):
    """Settings of the Clip Explorer server extension."""

    db = Unicode(os.environ.get("EXPLORER_DB", "explorer.duckdb"), config=True,
                 help="The log the review panel shows: a .duckdb file (relative paths are under the server's root folder) "
                      "or a team log, postgresql://USER@HOST:PORT/DB (password in PGPASSWORD or ~/.pgpass).")
    storage = Unicode(os.environ.get("EXPLORER_STORAGE", ""), config=True,
                      help="A team log's shared folder (its clips and data files), as mounted on this machine.")
    author = Unicode(config=True, help="Author of writes on a personal server (token or password login, where users have no names); "
                                        "default: EXPLORER_AUTHOR, else the JupyterHub user, else the server owner's login name. "
                                        "With a real identity provider (JupyterHub, OAuth) the authenticated user's name is used instead.")
    allow_outside_root = Bool(False, config=True,
                              help="Serve media of logs outside the server's root folder when a kernel asks for them.")


    @default("author")
    def _default_author(self) -> str:
        from explorer.log import default_author

        return default_author()


class LogNotAllowed(Exception):
    """A log path the server will not read from; the message says why."""


def allowed_log(root_dir: str, config: ClipExplorer, requested: str | None) -> Path | str:
    """The log to use: ``requested`` if it lies under the server root (or is the configured one), else the default.

    A team log (a URL) is allowed only as the configured one: its folder comes from the server's own settings.
    """
    from explorer.log.lake import is_team_address

    if is_team_address(config.db) or is_team_address(requested):
        if requested and requested != config.db:
            raise LogNotAllowed("this server serves media of its own team log only")
        return config.db
    root = Path(root_dir).expanduser().resolve()
    default = (root / config.db).resolve() if not Path(config.db).is_absolute() else Path(config.db).resolve()
    if not requested:
        return default
    path = Path(requested)
    path = (path if path.is_absolute() else root / path).resolve()
    if path.suffix != ".duckdb":
        raise LogNotAllowed("log must be a .duckdb file")
    if path != default and not config.allow_outside_root and root not in path.parents:
        raise LogNotAllowed("log is outside the server's root folder")
    return path
