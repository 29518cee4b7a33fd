"""``GET /explorer/media/<sha256>.mp4`` (and ``.poster.jpg``, ``.thumb.webp``): clips by content hash, with Range.

The file is looked up only inside the media folder of an allowed log (see
``config.allowed_log``); the name must be a SHA-256 plus a known suffix, and
the resolved path (symlinks followed) must still be inside that folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from jupyter_server.base.handlers import AuthenticatedFileHandler
from tornado import web

from explorer.log import media_folder_for
from explorer.server.config import LogNotAllowed, allowed_log

NAME_RE = re.compile(r"^(?P<sha>[0-9a-f]{64})(?P<suffix>\.mp4|\.poster\.jpg|\.thumb\.webp)$")


class MediaHandler(AuthenticatedFileHandler):
    """Serves stored media; tornado's StaticFileHandler brings Range requests, ETags and caching headers."""

    def initialize(self, path: str = "/", default_filename: str | None = None) -> None:
        super().initialize(path=path, default_filename=default_filename)

    @web.authenticated
    def head(self, name: str) -> object:
        return self._serve(name, include_body=False)

    @web.authenticated
    def get(self, name: str, include_body: bool = True) -> object:
        return self._serve(name, include_body=include_body)

    def get_login_url(self) -> str:
        # No redirect to a login page (as APIHandler does): a media or code request without credentials is a 403.
        raise web.HTTPError(403)

    def _serve(self, name: str, include_body: bool) -> object:
        match = NAME_RE.match(name)
        if not match:
            raise web.HTTPError(404, "not a media name: expected <sha256>.mp4, .poster.jpg or .thumb.webp")
        try:
            log = allowed_log(self.settings["explorer_root"], self.settings["explorer_config"], self.get_query_argument("log", None))
        except LogNotAllowed as exc:
            raise web.HTTPError(403, str(exc)) from None
        config = self.settings["explorer_config"]
        store = Path(config.storage) / "media" if isinstance(log, str) else media_folder_for(log)  # a team log: its shared folder
        if not store.is_dir():
            raise web.HTTPError(404, "this log has no media folder")
        self.root = str(store.resolve())
        relative = f"{match['sha'][:2]}/{name}"
        return AuthenticatedFileHandler.get(self, relative, include_body=include_body)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        # tornado compares un-resolved paths; resolve symlinks so a link inside the store cannot reach outside it.
        real_root, real_path = os.path.realpath(root), os.path.realpath(absolute_path)
        if not real_path.startswith(real_root + os.sep):
            raise web.HTTPError(403, "outside the media store")
        if not Path(real_path).is_file():
            raise web.HTTPError(404, "no such clip in this log's media store")
        return web.StaticFileHandler.validate_absolute_path(self, root, absolute_path)

    def get_content_type(self) -> str:
        for suffix, kind in ((".mp4", "video/mp4"), (".jpg", "image/jpeg"), (".webp", "image/webp")):
            if self.absolute_path.endswith(suffix):
                return kind
        return "application/octet-stream"

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        return Path(abspath).name.split(".")[0]  # the name is already the content hash
