"""What every Clip Explorer widget shares: a tiny loader as its ESM, clip metadata as state, media by hash.

Notebooks stay small because a widget's saved state holds only a ~0.7 KB loader
and clip metadata: the widget's code comes from the server extension
(``/explorer/static/<name>.js``, one cached file per widget kind) and clips
from its media route by content hash. Where there is no such server (VS Code,
a plain Jupyter server without the extension), the loader asks the kernel for
the code, and the player asks the kernel for the clip's bytes, both as binary
custom messages that are never saved.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from explorer.conditioning import thumbs
from explorer.media import MediaError

if TYPE_CHECKING:
    from explorer.lab import Lab

HERE = Path(__file__).parent
SUFFIXES = {"mp4": ".mp4", "poster": ".poster.jpg", "thumb": ".thumb.webp"}


def bundle(name: str) -> str:
    """A widget's code as served: the shared helpers, then the widget's own .js, with its .css injected once."""
    if not name.replace("_", "").isalpha() or not (HERE / f"{name}.js").is_file():
        raise FileNotFoundError(name)
    css = "\n".join(p.read_text() for p in (HERE / "_shared.css", HERE / f"{name}.css") if p.is_file())
    return "\n".join([
        (HERE / "_shared.js").read_text(),
        f"injectStyle({json.dumps(name)}, {json.dumps(css)});",
        (HERE / f"{name}.js").read_text(),
    ])


def bundle_version() -> str:
    """Changes whenever any widget file changes, so browsers fetch fresh code after an upgrade or an edit."""
    from explorer import __version__

    stamp = max(p.stat().st_mtime_ns for p in HERE.iterdir() if p.suffix in (".js", ".css"))
    return f"{__version__}-{stamp:x}"


class ExplorerWidget(anywidget.AnyWidget):
    """Base class: set ``_module`` to the stem of the widget's .js file."""

    _esm = HERE / "_loader.js"
    _module = traitlets.Unicode("").tag(sync=True)
    _version = traitlets.Unicode("").tag(sync=True)
    log_path = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lab: Lab, **kwargs: Any):
        self._lab = lab
        super().__init__(_version=bundle_version(), log_path=lab.log.location, **kwargs)
        self.on_msg(self._on_custom)

    def _on_custom(self, _widget: Any, content: dict, buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "esm":
            self.send({"type": "esm", "code": bundle(self._module)})
        elif kind == "media":
            self._send_media(content)
        else:
            self.on_message(content, buffers)

    def on_message(self, content: dict, buffers: list) -> None:
        """Widget-specific messages from the browser (override)."""

    def _guard(self, fn: Any, *args: Any) -> None:
        """Run a browser-triggered action; an error is shown in the widget's ``message``, never raised into the comm."""
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - the kernel must stay up whatever a click sends
            self.message = f"Error: {type(exc).__name__}: {exc}"

    def _send_media(self, content: dict) -> None:
        sha, kind = content.get("sha256", ""), content.get("kind", "mp4")
        try:
            path = self._lab.log.media.path(sha, SUFFIXES[kind])
            data = path.read_bytes()
        except (KeyError, MediaError, OSError) as exc:
            self.send({"type": "media", "sha256": sha, "kind": kind, "error": str(exc)})
            return
        self.send({"type": "media", "sha256": sha, "kind": kind}, buffers=[data])

    def _clip(self, run_id: str) -> dict[str, Any]:
        return clip_info(self._lab, run_id)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle_ = super()._repr_mimebundle_(**kwargs)
        data = bundle_[0] if isinstance(bundle_, tuple) else bundle_
        fallback = self._fallback_html()
        if fallback and isinstance(data, dict):
            data["text/html"] = fallback  # shown where widgets cannot render (HTML export, GitHub)
        return bundle_

    def _fallback_html(self) -> str | None:
        return None


def clip_info(lab: Lab, run_id: str) -> dict[str, Any]:
    """A run as the widgets see it: what to show and where its media is; no bytes."""
    row = lab.log.run(run_id)
    request = row["request"]
    return {
        "id": row["id"], "status": row["status"], "sha256": row["media_sha256"], "prompt": request["prompt"],
        "negative_prompt": request.get("negative_prompt", ""), "seed": request["seed"], "frames": request["frames"],
        "fps": request["fps"], "width": request["width"], "height": request["height"], "steps": request["steps"],
        "guidance": request["guidance"], "backend": request["backend"], "model": request.get("model"), "parent": request.get("parent"),
        "author": row["author"], "created_at": str(row["created_at"]), "error": row.get("error"),
        "conditioning": thumbs(request),  # the pictures and clips it started from (explorer.conditioning)
        "audio": request.get("audio"),  # {"sha256", "name"} when the clip has sound (explorer.audio), else None
    }


def video_html(lab: Lab, sha256: str | None, *, width: int = 256) -> str | None:
    """A plain <video> pointing at the clip file by a path relative to the working folder (no base64)."""
    if not sha256:
        return None
    source, poster = (_relative(lab.log.media.path(sha256, suffix)) for suffix in (".mp4", ".poster.jpg"))
    return (f'<video src="{html.escape(source)}" poster="{html.escape(poster)}" width="{width}" controls loop muted playsinline '
            f'title="Clip Explorer clip {sha256[:12]}"></video>')


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
