"""The atlas at 10k clips: the layout in Python, the payload's size, and the first draw and a hover in Chromium.

Builds (in a temporary folder) a file log of --clips succeeded runs with seven metrics each (three clusters of
prompts, so the picture has structure), stars on a third of them and --votes votes, through Arrow bulk inserts.
Then times, in this process:

  atlas(lab, colour_by)   the query, PCA layout and colours (stars, bt, taste) that lab.ui.atlas() runs
  lab.ui.atlas()          the widget: the same plus its traits (what a notebook cell waits for)
  payload                 the JSON the browser gets (ids + x + y + colour arrays), bytes

and, in headless Chromium (/usr/bin/chromium, no JupyterLab: the widget's real bundle on a stand-in model holding
that payload), the first render (parse + grid + draw) and the canvas draw alone, then a hover hit-test per
pointer move (the grid lookup). Figures, not assertions; see bench/README.md.

    python bench/atlas_render.py [--clips 10000] [--votes 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load, machine, median

METRICS = {"motion": (2.0, 1.5), "flicker": (3.0, 1.0), "sharpness": (400.0, 200.0), "exposure": (0.45, 0.1),
           "clipped": (0.02, 0.01), "colourfulness": (50.0, 20.0)}


def build(folder: Path, clips: int, votes: int, seed: int = 0):
    import explorer

    rng = np.random.default_rng(seed)
    lab = explorer.open(folder / "atlas.duckdb", author="bench")
    ids = np.array([f"{i:012x}" for i in range(clips)])
    cluster = rng.integers(0, 3, clips)
    created = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(clips) * 7, unit="s")
    lab.log.bulk_insert("runs", pd.DataFrame({
        "id": ids, "created_at": created, "finished_at": created, "author": rng.choice(["ada", "bea", "cy"], clips),
        "status": "succeeded", "backend": "sketch", "model": None, "prompt": np.array(["still pond", "slow drift", "fast zoom"])[cluster],
        "negative_prompt": "", "seed": np.arange(clips), "frames": 24, "fps": 8.0, "width": 256, "height": 256, "steps": 1,
        "guidance": 0.0, "parent_id": None, "request": "{}", "duration_s": 1.0, "media_sha256": [f"{i:064x}" for i in range(clips)],
    }))
    rows = []
    for k, (name, (mean, sd)) in enumerate(METRICS.items()):
        shift = (cluster - 1) * sd * (1.5 if k % 2 == 0 else -1.0)  # the clusters differ along every metric
        rows.append(pd.DataFrame({"run_id": ids, "name": name, "version": 1, "value": mean + shift + rng.normal(0, sd / 2, clips),
                                  "created_at": created}))
    metrics = pd.concat(rows, ignore_index=True)

    def write(conn) -> None:  # the metrics table has no bulk import of its own (runs write it row by row)
        conn.register("_atlas_metrics", metrics)
        try:
            conn.execute("INSERT INTO metrics BY NAME SELECT * FROM _atlas_metrics")
        finally:
            conn.unregister("_atlas_metrics")

    lab.log.connection.transaction(write)
    rated = rng.choice(clips, clips // 3, replace=False)
    lab.log.bulk_insert("ratings", pd.DataFrame({
        "id": [f"r{i:011x}" for i in range(len(rated))], "run_id": ids[rated], "author": "ada",
        "created_at": pd.Timestamp("2026-02-01") + pd.to_timedelta(np.arange(len(rated)), unit="ms"),
        "score": rng.integers(1, 6, len(rated)).astype("int32"), "tags": [["bench"]] * len(rated), "note": None}))
    a, b = rng.integers(0, clips, votes), rng.integers(0, clips, votes)
    keep = a != b
    lab.log.bulk_insert("votes", pd.DataFrame({
        "id": [f"v{i:011x}" for i in range(int(keep.sum()))], "winner_id": ids[a[keep]], "loser_id": ids[b[keep]], "tie": False,
        "author": "bea", "created_at": pd.Timestamp("2026-03-01") + pd.to_timedelta(np.arange(int(keep.sum())), unit="ms")}))
    return lab


def timed(work, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - start)
    return median(times), out


BROWSER_JS = """
async ({code, points, legend}) => {
  const mod = await import(URL.createObjectURL(new Blob([code], {type: "text/javascript"})));
  const state = {points, legend, options: {colour_by: [["stars", "mean stars"]]}, text: "", tag: "", author: "", backend: "",
    model: "", min_rating: 0, colour_by: "stars", selected: [], comparing: {}, battle: {}, message: "", unmeasured: 0,
    unmeasured_ids: [], log_path: ""};
  const model = {get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes() {}, on() {}, off() {}, send() {}};
  const el = document.createElement("div");
  document.body.append(el);
  const t0 = performance.now();
  mod.default.render({model, el});
  const firstRender = performance.now() - t0;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));  // until the frame is on screen
  const painted = performance.now() - t0;
  const root = el.querySelector(".cx-atlas");
  const canvas = root.querySelector(".cx-a-canvas");
  const box = canvas.getBoundingClientRect();
  const moves = 2000, t1 = performance.now();
  for (let i = 0; i < moves; i++) {
    canvas.dispatchEvent(new PointerEvent("pointermove", {clientX: box.left + (i * 37) % box.width, clientY: box.top + (i * 53) % box.height, bubbles: true}));
  }
  const hover = (performance.now() - t1) / moves;
  return {firstRender, painted, draw: Number(root.dataset.drawMs), points: Number(root.dataset.points), hover};
}
"""


def in_browser(payload: dict, legend: dict, repeat: int) -> dict | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from lab import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        return None
    from explorer.widgets._base import bundle

    code = bundle("atlas")
    runs = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_content("<!doctype html><html><body></body></html>")
            runs.append(page.evaluate(BROWSER_JS, {"code": code, "points": payload, "legend": legend}))
            page.close()
        browser.close()
    return {key: median([r[key] for r in runs]) for key in runs[0]}


def main() -> None:
    from explorer.atlas import atlas

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--votes", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}; load {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        lab = build(Path(tmp), args.clips, args.votes)
        print(f"built {args.clips:,} runs with metrics, {args.clips // 3:,} stars, ~{args.votes:,} votes in {time.perf_counter() - start:.1f} s")
        atlas(lab, "stars")  # first use: the log's summary and scikit-learn's import, paid once per process
        for colour_by in ("stars", "bt", "taste"):
            seconds, data = timed(lambda colour_by=colour_by: atlas(lab, colour_by), args.repeat)
            print(f"atlas(lab, {colour_by!r:7}) {len(data.ids):,} clips placed: {seconds * 1000:8.1f} ms median of {args.repeat}"
                  f"{' (the taste model refits when the log changed; here it did not)' if colour_by == 'taste' else ''}")
        seconds, widget = timed(lambda: lab.ui.atlas(), args.repeat)
        print(f"lab.ui.atlas()         widget with its traits:      {seconds * 1000:8.1f} ms median of {args.repeat}")
        payload = json.dumps(widget.points, separators=(",", ":"))
        per_clip = [{"id": i, "x": x, "y": y, "colour": c} for i, x, y, c in zip(*(widget.points[k] for k in ("ids", "x", "y", "colour")))]
        print(f"payload                {len(payload) / 1e3:8.1f} kB as arrays ({len(payload) / args.clips:.1f} B per clip); "
              f"one dict per clip would be {len(json.dumps(per_clip, separators=(',', ':'))) / 1e3:.1f} kB")
        browser = in_browser(widget.points, widget.legend, args.repeat)
        if browser is None:
            print("browser: skipped (no playwright or /usr/bin/chromium)")
        else:
            print(f"browser first render   {browser['points']:,.0f} points: {browser['firstRender']:6.1f} ms to render(), "
                  f"{browser['painted']:6.1f} ms until painted; canvas draw alone {browser['draw']:.1f} ms")
            print(f"browser hover          {browser['hover'] * 1000:6.1f} µs per pointer move (grid hit-test + ring redraw)")
        lab.log.close()


if __name__ == "__main__":
    main()
