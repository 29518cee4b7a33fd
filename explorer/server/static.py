"""``GET /explorer/static/<widget>.js``: a widget's code, served once and cached, so notebooks need not carry it."""

from __future__ import annotations

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from explorer.widgets._base import bundle


class WidgetCodeHandler(JupyterHandler):
    def get_login_url(self) -> str:
        # No redirect to a login page (as APIHandler does): a media or code request without credentials is a 403.
        raise web.HTTPError(403)

    @web.authenticated
    def get(self, name: str) -> None:
        try:
            code = bundle(name)
        except FileNotFoundError:
            raise web.HTTPError(404, f"no widget named {name!r}") from None
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        # The loader asks with ?v=<version>: a new version is a new URL, so a long cache is safe.
        self.set_header("Cache-Control", "private, max-age=31536000" if self.get_query_argument("v", None) else "no-cache")
        self.finish(code)
