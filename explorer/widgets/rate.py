"""Rater: a small player, 1–5 stars, tags (suggested from the log) and a note, each saved the moment it changes.

A rating row needs a score, so tags and a note typed before any stars wait (the widget says so) and go
into the log with the first score. Every save is a new row as ``lab.author``; the latest one counts.
"""

from __future__ import annotations

from typing import Any

import traitlets

from explorer.widgets._base import ExplorerWidget, video_html


class Rater(ExplorerWidget):
    """``lab.ui.rate(run, blind=False)``. Setting ``score``, ``tags`` or ``note`` from Python saves too.

    ``status`` says what happened last ("saved ✓", or what is still missing); ``error`` holds the log's
    message when a save was refused (the traits then go back to the last saved rating).
    """

    _module = traitlets.Unicode("rate").tag(sync=True)
    clip = traitlets.Dict().tag(sync=True)
    blind = traitlets.Bool(False).tag(sync=True)
    score = traitlets.Int(0).tag(sync=True)  # 0: not rated yet
    tags = traitlets.List(traitlets.Unicode()).tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    suggestions = traitlets.List(traitlets.Unicode()).tag(sync=True)
    others = traitlets.List(traitlets.Dict()).tag(sync=True)
    author = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    saves = traitlets.Int(0).tag(sync=True)  # rating rows written by this widget

    _quiet = True  # no saving while the widget fills itself in (or reverts)

    def __init__(self, lab: Any, run: Any, *, blind: bool = False, **kwargs: Any):
        super().__init__(lab, **kwargs)
        self._run_id = getattr(run, "id", run)
        self.clip = self._clip(self._run_id)
        self._run_id = self.clip["id"]
        self.blind = bool(blind)
        self.author = lab.author
        self._saved: dict[str, Any] = {"score": 0, "tags": [], "note": ""}
        mine = self._latest(mine=True)
        if mine:
            self._saved = {"score": int(mine["score"]), "tags": list(mine["tags"]), "note": mine["note"] or ""}
            self.score, self.tags, self.note = self._saved["score"], self._saved["tags"], self._saved["note"]
        else:
            self.status = "give 1–5 stars to rate this clip (keys 1–5 work too)"
        self._refresh()
        self._quiet = False

    # -- saving ---------------------------------------------------------------

    @traitlets.observe("score", "tags", "note")
    def _changed(self, change: dict) -> None:
        if not self._quiet:
            self._save()

    def on_message(self, content: dict, buffers: list) -> None:
        """``{"type": "rate", "score"?, "tags"?, "note"?}``: set several at once, saved as one row."""
        if not isinstance(content, dict) or content.get("type") != "rate":
            return
        try:
            self._quiet = True
            try:
                if "score" in content:
                    self.score = int(content["score"] or 0)
                if "tags" in content:
                    self.tags = [str(t) for t in content["tags"] or []]
                if "note" in content:
                    self.note = str(content["note"] or "")
            finally:
                self._quiet = False
            self._save()
        except Exception as exc:  # noqa: BLE001 - a bad message must never break the kernel
            self._fail(exc)

    def _save(self) -> None:
        try:
            if not self.score and self._saved["score"]:
                raise ValueError(f"score: a rating cannot be taken back, only changed: give 1–5 stars (it is {self._saved['score']})")
            if not self.score:
                waiting = [what for what, value in (("tags", self.tags), ("note", self.note.strip())) if value]
                self._say((f"not saved yet: give 1–5 stars to save the {' and '.join(waiting)}" if waiting
                               else "give 1–5 stars to rate this clip"))
                return
            self._lab.rate(self._run_id, self.score, tags=list(self.tags), note=self.note.strip() or None)
            self.saves += 1
            mine = self._latest(mine=True) or {}
            self._saved = {"score": self.score, "tags": list(mine.get("tags", self.tags)), "note": self.note.strip()}
            self._quiet = True
            try:  # show what the log kept (tags are trimmed and lower-cased)
                self.tags, self.note = self._saved["tags"], self._saved["note"]
            finally:
                self._quiet = False
            self._say(f"saved ✓ {'★' * self.score}{'☆' * (5 - self.score)} as {self._lab.author}")
            self._refresh()
        except Exception as exc:  # noqa: BLE001 - LogError and anything else: shown in the widget
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._quiet = True
        try:  # back to what the log holds
            self.score, self.tags, self.note = self._saved["score"], list(self._saved["tags"]), self._saved["note"]
        finally:
            self._quiet = False
        self._say("", f"not saved: {exc}")

    def _say(self, status: str, error: str = "") -> None:
        """Set the feedback line; cleared first so the same message twice still reaches the browser."""
        self.status, self.error = "", ""
        self.status, self.error = status, error

    # -- reading ----------------------------------------------------------------

    def _latest(self, *, mine: bool) -> dict[str, Any] | None:
        rows = [r for r in self._rows() if (r["author"] == self._lab.author) == mine]
        return rows[-1] if rows else None

    def _rows(self) -> list[dict[str, Any]]:
        frame = self._lab.ratings(self._run_id)
        rows = []
        for r in frame.to_dict("records"):
            tags = r.get("tags")
            rows.append({"author": str(r["author"]), "score": int(r["score"]), "tags": [str(t) for t in (tags if tags is not None else [])],
                         "note": None if r.get("note") is None or r.get("note") != r.get("note") else str(r["note"]),
                         "created_at": str(r["created_at"])[:19]})
        return rows

    def _refresh(self) -> None:
        try:
            self.suggestions = [str(t) for t in self._lab.tags()]
            self.others = [] if self.blind else [r for r in self._rows() if r["author"] != self._lab.author]
        except Exception as exc:  # noqa: BLE001
            self.error = f"could not read ratings: {exc}"

    @traitlets.observe("blind")
    def _blind_changed(self, change: dict) -> None:
        if not self._quiet:
            self._refresh()

    def _fallback_html(self) -> str | None:
        return video_html(self._lab, self.clip.get("sha256"), width=240)
