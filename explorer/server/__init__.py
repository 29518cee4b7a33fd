"""The jupyter_server extension: the review REST API, the media route and the widget code, under ``/explorer``.

Enabled by ``jupyter-config/server-config/explorer.json`` (installed with the
package). Every route sits behind the Jupyter server's own authentication.
"""

from __future__ import annotations

from typing import Any

from explorer.server.api import ReviewLog, api_handlers
from explorer.server.config import ClipExplorer
from explorer.server.media import MediaHandler
from explorer.server.static import WidgetCodeHandler

NAMESPACE = "explorer"


def _load_jupyter_server_extension(server_app: Any) -> None:
    from jupyter_server.utils import url_path_join

    config = ClipExplorer(parent=server_app)
    web_app = server_app.web_app
    web_app.settings["explorer_config"] = config
    web_app.settings["explorer_root"] = server_app.root_dir
    web_app.settings["explorer_log"] = ReviewLog(server_app.root_dir, config)
    base = web_app.settings["base_url"]
    handlers = [
        *api_handlers(lambda *parts: url_path_join(base, NAMESPACE, *parts)),
        (url_path_join(base, NAMESPACE, "media", r"(?P<name>[^/]+)"), MediaHandler),
        (url_path_join(base, NAMESPACE, "static", r"(?P<name>[a-z_]+)\.js"), WidgetCodeHandler),
    ]
    web_app.add_handlers(".*$", handlers)
    server_app.log.info("Clip Explorer: media route at %s", url_path_join(base, NAMESPACE, "media"))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "explorer.server"}]
