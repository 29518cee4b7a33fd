"""Gallery: the log as pages of thumbnails; filter, sort, open one to play and rate, select several to compare."""

from __future__ import annotations

import math
from typing import Any

import traitlets

from explorer.conditioning import thumbs_of_runs
from explorer.widgets._base import ExplorerWidget
from explorer.widgets.differences import labelled_clips

FILTERS = ("text", "tag", "author", "backend", "model", "min_rating", "sort")
PROMPT_CHARS = 60  # tiles show a short prompt (whole in the tooltip-free detail pane); keeps saved state small


def _clean(value: Any) -> Any:
    """DataFrame cells as JSON-friendly Python values (NaN/NA -> None, numpy -> int/float/list)."""
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if not isinstance(value, (list, tuple, dict)) and pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


class Gallery(ExplorerWidget):
    """``lab.ui.gallery(text=, tag=, author=, backend=, model=, min_rating=, sort=, page_size=)``.

    Filtering and paging run here: set any filter trait (or ``page``) and ``page_items`` follows.
    ``selected`` holds the ticked run ids; "Compare selected" shows them in the gallery on one clock, like
    ``lab.ui.compare`` (see ``comparing``), and :meth:`compare` opens them in ``lab.ui.compare``.
    """

    _module = traitlets.Unicode("gallery").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    tag = traitlets.Unicode("").tag(sync=True)
    author = traitlets.Unicode("").tag(sync=True)
    backend = traitlets.Unicode("").tag(sync=True)
    model = traitlets.Unicode("").tag(sync=True)
    min_rating = traitlets.Int(0).tag(sync=True)  # 0 = any
    sort = traitlets.Unicode("newest").tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)  # 0-based
    page_size = traitlets.Int(12).tag(sync=True)
    page_items = traitlets.List().tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)  # the opened clip ({} when closed)
    comparing = traitlets.Dict().tag(sync=True)  # {"clips": [clip + "label": what differs], "shared": …} ({} when closed)
    options = traitlets.Dict().tag(sync=True)  # choices for the filter bar: tags, authors, backends, models
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lab: Any, *, page_size: int = 12, **filters: Any):
        unknown = set(filters) - set(FILTERS) - {"page"}
        if unknown:
            raise TypeError(f"gallery: unknown filter(s) {', '.join(sorted(unknown))}; use {', '.join(FILTERS)}")
        filters = {k: ("" if v is None else v) for k, v in filters.items()}
        self._quiet = True
        super().__init__(lab, page_size=max(1, min(int(page_size), 48)), **filters)
        self._quiet = False
        self._guard(self.refresh)

    # -- queries -------------------------------------------------------------------

    def _filters(self) -> dict[str, Any]:
        f: dict[str, Any] = {"status": "succeeded", "sort": self.sort if self.sort in ("newest", "oldest", "rating") else "newest"}
        for key in ("text", "tag", "author", "backend", "model"):
            value = getattr(self, key).strip()
            if value:
                f[key] = value
        if self.min_rating > 0:
            f["min_rating"] = self.min_rating
        return f

    def refresh(self) -> None:
        """Run the query for the current filters and page; update ``page_items``, ``total``, ``options``."""
        runs = self._lab.runs(**self._filters())
        runs = runs[runs["media_sha256"].notna()]
        total = len(runs)
        pages = max(1, math.ceil(total / self.page_size))
        page = min(max(0, self.page), pages - 1)
        rows = runs.iloc[page * self.page_size:(page + 1) * self.page_size]
        items = [self._item(row) for row in rows.to_dict("records")]
        media = thumbs_of_runs(self._lab, [item["id"] for item in items])  # conditioning pictures, shown on the tiles
        items = [{**item, "conditioning": media[item["id"]]} if item["id"] in media else item for item in items]
        self._quiet = True
        try:
            with self.hold_sync():
                self.page, self.total, self.page_items = page, total, items
                self.options = self._options()
                if self.detail.get("id"):
                    self.detail = self._detail(self.detail["id"])
                self.message = ""
        finally:
            self._quiet = False

    def _item(self, row: dict[str, Any]) -> dict[str, Any]:
        prompt = row["prompt"] or ""
        rating = _clean(row.get("rating"))
        return {
            "id": row["id"], "sha256": row["media_sha256"],
            "prompt": prompt if len(prompt) <= PROMPT_CHARS else prompt[:PROMPT_CHARS - 1] + "…",
            "seed": int(row["seed"]), "fps": _clean(row["fps"]), "frames": int(row["frames"]),
            "width": int(row["width"]), "height": int(row["height"]),
            "rating": None if rating is None else round(float(rating), 2), "ratings": int(_clean(row.get("ratings")) or 0),
            "tags": list(_clean(row.get("tags")) or []),
        }

    def _detail(self, run_id: str) -> dict[str, Any]:
        clip = self._clip(run_id)
        latest = self._lab.ratings(clip["id"])  # each author's latest rating
        mine = latest[latest["author"] == self._lab.author]
        tags = sorted({t for ts in latest["tags"] for t in (_clean(ts) or [])})
        from explorer.metrics import latest as latest_metrics

        measured = latest_metrics(self._lab.log, [clip["id"]]).get(clip["id"], {})
        return {**clip, "rating": round(float(latest["score"].mean()), 2) if len(latest) else None, "ratings": len(latest),
                "my_rating": int(mine["score"].iloc[-1]) if len(mine) else 0, "tags": tags,
                "metrics": {name: float(f"{value:.3g}") for name, value in measured.items() if value is not None}}

    def _options(self) -> dict[str, list[str]]:
        distinct = self._lab.sql("SELECT list(DISTINCT author) AS a, list(DISTINCT backend) AS b, list(DISTINCT model) AS m FROM runs")
        pick = lambda col: sorted(v for v in (_clean(distinct[col].iloc[0]) or []) if v)  # noqa: E731
        return {"tags": self._lab.tags(), "authors": pick("a"), "backends": pick("b"), "models": pick("m")}

    @traitlets.observe(*FILTERS, "page", "page_size")
    def _on_filter(self, change: dict) -> None:
        if self._quiet:
            return
        if change["name"] != "page":
            self._quiet = True
            self.page = 0  # a new filter starts at the first page
            self._quiet = False
        self._guard(self.refresh)

    # -- actions ---------------------------------------------------------------------

    def show(self, run: Any) -> None:
        """Show a run in the detail pane (player and stars)."""
        self.detail = self._detail(getattr(run, "id", run))

    def rate(self, run: Any, score: int) -> str:
        """Rate a run 1–5 (as ``lab.author``) and refresh the page so its stars show it."""
        rating_id = self._lab.rate(getattr(run, "id", run), int(score))
        self.refresh()
        self.message = f"Rated {getattr(run, 'id', run)} {int(score)}★"
        return rating_id

    def show_compare(self, ids: list[str] | None = None) -> None:
        """Compare ``ids`` (default: the ticked clips) inside the gallery, labelled by what differs; ``[]`` closes it."""
        self.comparing = labelled_clips(self._lab, list(self.selected if ids is None else ids), self._clip)

    def compare(self, **kwargs: Any) -> Any:
        """``lab.ui.compare(selected)``: the ticked clips in the Compare widget."""
        if len(self.selected) < 2:
            raise ValueError("select at least two clips to compare")
        return self._lab.ui.compare(list(self.selected), **kwargs)

    # -- from the browser ---------------------------------------------------------------

    def on_message(self, content: dict, buffers: list) -> None:
        kind = content.get("type")
        if kind == "query":
            self._guard(self._query, content)
        elif kind == "open":
            self._guard(lambda: self.show(content["id"]) if content.get("id") else setattr(self, "detail", {}))
        elif kind == "rate":
            self._guard(self.rate, content["id"], content["score"])
        elif kind == "compare":
            self._guard(self.show_compare, content.get("ids"))

    def _query(self, content: dict) -> None:
        self._quiet = True
        try:
            for key in ("text", "tag", "author", "backend", "model", "sort"):
                if key in content:
                    setattr(self, key, str(content[key] or ""))
            if "min_rating" in content:
                self.min_rating = int(content["min_rating"] or 0)
            self.page = int(content.get("page", 0) or 0)
        finally:
            self._quiet = False
        self.refresh()

    def _fallback_html(self) -> str | None:
        return f"<p>Clip Explorer gallery: {self.total} clips (open in JupyterLab to browse).</p>"
