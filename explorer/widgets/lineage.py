"""Lineage: a run's ancestors and descendants as a small tree of thumbnails; click one to play it."""

from __future__ import annotations

import html
from typing import Any

import traitlets

from explorer.widgets._base import ExplorerWidget
from explorer.widgets.differences import describe_differences, run_requests

PROMPT_CHARS = 100


class Lineage(ExplorerWidget):
    """``lab.ui.lineage(run)``: ancestors above, the run highlighted, descendants below, one row per depth.

    ``nodes`` mirrors ``lab.lineage(run)`` (depth < 0 ancestors, 0 the run, > 0 descendants);
    ``playing`` is the id shown in the player pane (set it from Python to switch). Each node's ``label``
    says what differs across the family (``guidance 9``, ``+neon``); ``shared`` what they all have in common.
    """

    _module = traitlets.Unicode("lineage").tag(sync=True)
    run_id = traitlets.Unicode("").tag(sync=True)
    nodes = traitlets.List().tag(sync=True)
    playing = traitlets.Unicode("").tag(sync=True)
    clip = traitlets.Dict().tag(sync=True)  # the playing run as the player needs it
    shared = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lab: Any, run: Any, **kwargs: Any):
        super().__init__(lab, **kwargs)
        self.run_id = lab.log.resolve(getattr(run, "id", run))
        self.refresh()
        self.playing = self.run_id

    def refresh(self) -> None:
        """Read the family again from the log (after a fork or variations)."""
        frame = self._lab.lineage(self.run_id)
        nodes = []
        for row in frame.to_dict("records"):
            prompt = row["prompt"] or ""
            sha = row["media_sha256"]
            nodes.append({
                "depth": int(row["depth"]), "id": row["id"],
                "parent_id": row["parent_id"] if isinstance(row["parent_id"], str) else None,
                "sha256": sha if isinstance(sha, str) else None,
                "prompt": prompt if len(prompt) <= PROMPT_CHARS else prompt[:PROMPT_CHARS - 1] + "…",
                "seed": int(row["seed"]), "status": row["status"], "width": int(row["width"]), "height": int(row["height"]),
            })
        differences = describe_differences(run_requests(self._lab, [n["id"] for n in nodes]))
        self.nodes = [{**n, "label": label} for n, label in zip(nodes, differences["labels"])]
        self.shared = differences["shared"]

    @traitlets.observe("playing")
    def _on_playing(self, change: dict) -> None:
        try:
            self.clip = self._clip(change["new"]) if change["new"] else {}
            self.message = ""
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised into the kernel's comm handler
            self.message = f"Error: {type(exc).__name__}: {exc}"

    def on_message(self, content: dict, buffers: list) -> None:
        if content.get("type") == "play" and content.get("id"):
            self.playing = str(content["id"])

    def _fallback_html(self) -> str | None:
        items = "".join(f"<li>{'&nbsp;' * 4 * max(0, n['depth'] - min(m['depth'] for m in self.nodes))}"
                        f"{'<b>' if n['id'] == self.run_id else ''}{html.escape(n['id'])} · seed {n['seed']} · "
                        f"{html.escape(n['prompt'])}{'</b>' if n['id'] == self.run_id else ''}</li>" for n in self.nodes)
        return f"<ul style='list-style:none'>{items}</ul>"
