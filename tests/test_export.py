"""The static review page: files, relative URLs, embedded data, filters, escaping, and a real browser from file://."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from explorer.export import ExportError, export, export_page

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "artifacts" / "screenshots" / "export-page.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--allow-file-access-from-files"]
EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> neon </script><!-- rain'
PROMPTS = ["sunset birds flying", "neon city rain", "spiral galaxy of stars", "ocean waves of bubbles", "forest fireflies drifting"]


@pytest.fixture
def log(lab):
    """Six clips on two models, rated, voted on and annotated (one with a hostile prompt)."""
    small = dict(frames=6, width=64, height=48, steps=2, progress=False)
    runs = [lab.generate(p, seed=i, model="sketch-a" if i % 2 else "sketch-b", **small) for i, p in enumerate(PROMPTS)]
    evil = lab.generate(EVIL, seed=9, model="sketch-b", **small)
    for i, run in enumerate(runs):
        lab.rate(run, 1 + i % 5, tags=["warm"] if i < 2 else ["moody"], note="fine")
    lab.rate(evil, 3, tags=["<b>tag</b>"])
    lab.vote(runs[1], runs[0])
    lab.vote(runs[3], runs[2])
    lab.vote(runs[2], runs[1], tie=True)
    lab.annotate(runs[0], "the bird clips the edge", frame=3)
    lab.annotate(runs[0], "</script><script>window.__pwned=3</script>", frame=4)
    lab.annotate(evil, "nice & <em>loud</em>", frame=1)
    return lab


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.tags, self.data_json = [], [], None
        self._in_data = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self.urls += [attrs[a] for a in ("src", "href", "poster", "action") if attrs.get(a)]
        self._in_data = tag == "script" and attrs.get("type") == "application/json"

    def handle_data(self, data):
        if self._in_data:
            self.data_json = (self.data_json or "") + data

    def handle_endtag(self, tag):
        self._in_data = False


def _parse(index: Path) -> tuple[_Collect, dict]:
    parser = _Collect()
    parser.feed(index.read_text(encoding="utf-8"))
    return parser, json.loads(parser.data_json)


def _relative(url: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|/|\\)", url, re.I)


def test_export_writes_a_self_contained_folder(log, tmp_path):
    summary = export(log, tmp_path / "site")
    index = summary.index
    assert index == tmp_path / "site" / "index.html" and index.is_file()
    assert summary.clips == 6 and summary.media_files == 12 and summary.missing == 0 and summary.leaderboard in ("simple", "bradley-terry")
    assert summary.linked + summary.copied == 12
    shas = {r.media_sha256 for r in log.runs().itertuples()}
    for sha in shas:
        assert (tmp_path / "site" / "media" / f"{sha}.mp4").read_bytes() == log.log.media.path(sha).read_bytes()
        assert (tmp_path / "site" / "media" / f"{sha}.poster.jpg").is_file()
    assert summary.bytes == index.stat().st_size + sum(p.stat().st_size for p in (tmp_path / "site" / "media").iterdir())

    parser, data = _parse(index)
    # Nothing fetched from anywhere but beside the page: no stylesheet or script files, only relative media URLs
    # (in the markup, and in the data the page's script turns into tiles).
    urls = parser.urls + [c[k] for c in data["clips"] for k in ("video", "poster")]
    assert len(urls) >= 12 and all(_relative(u) for u in urls)
    assert not [t for t, a in parser.tags if t == "link" or (t == "script" and a.get("src"))]
    assert data["log"] == Path(log.log.location).name and len(data["clips"]) == 6  # the file, or the team log's database
    for clip in data["clips"]:
        assert clip["video"] == f"media/{clip['sha256']}.mp4" and clip["poster"] == f"media/{clip['sha256']}.poster.jpg"
        assert (tmp_path / "site" / clip["video"]).is_file()
    text = json.dumps(data)
    assert str(tmp_path) not in text and "file:" not in text  # no absolute paths leak into the page
    by_prompt = {c["prompt"]: c for c in data["clips"]}
    first = by_prompt[PROMPTS[0]]
    assert (first["rating"], first["ratings"], first["tags"], first["notes_count"], first["seed"]) == (1.0, 1, ["warm"], 2, 0)
    assert first["model"] == "sketch-b" and first["author"] == "tester"
    board = {row["key"]: row for row in data["leaderboard"]["rows"]}
    assert set(board) == {"sketch-a", "sketch-b"} and board["sketch-a"]["votes"] == 3  # 2 wins and a tie over sketch-b


def test_filters_reduce_the_clips(log, tmp_path):
    def clips(**filters):
        return len(_parse(export_page(log, tmp_path / "f", **filters))[1]["clips"])

    assert clips() == 6
    assert clips(text="neon") == 2
    assert clips(tag="moody") == 3
    assert clips(min_rating=4) == 2
    assert clips(limit=2) == 2
    assert clips(author="nobody") == 0
    assert clips(status="failed") == 0
    assert clips(backend="sketch", text="galaxy") == 1
    # A narrower export of the same folder removes the media the page no longer shows.
    assert len(list((tmp_path / "f" / "media").iterdir())) == 2
    with pytest.raises(ExportError, match=r"by: .*colour"):
        export(log, tmp_path / "x", by="colour")
    with pytest.raises(ExportError, match="colour: not an export filter"):
        export(log, tmp_path / "x", colour="red")


def test_simple_leaderboard_when_the_review_module_is_missing(log, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "explorer.review.leaderboard", None)  # import fails: the export's own leaderboard
    summary = export(log, tmp_path / "site")
    assert summary.leaderboard == "simple"
    board = {row["key"]: row for row in _parse(summary.index)[1]["leaderboard"]["rows"]}
    a, b = board["sketch-a"], board["sketch-b"]
    assert (a["wins"], a["losses"], a["ties"], a["votes"], a["win_rate"]) == (2, 0, 1, 3, pytest.approx(2.5 / 3))
    assert b["win_rate"] == pytest.approx(0.5 / 3) and 0 <= b["ci_low"] <= b["win_rate"] <= b["ci_high"] <= 1
    assert (a["runs"], a["ratings"], a["mean_rating"]) == (2, 2, 3.0) and a["rating_ci_low"] <= 3.0 <= a["rating_ci_high"]
    assert "Pairwise win rate" in summary.index.read_text()
    with pytest.raises(ExportError, match="by: must be one of"):
        export(log, tmp_path / "x", by="colour")


def test_user_text_cannot_inject_html(log, tmp_path):
    index = export_page(log, tmp_path / "site")
    page = index.read_text(encoding="utf-8")
    for raw in ("<script>window.__pwned", "<img src=x", "</script><script>", "<em>loud", "<b>tag", "<!-- rain"):
        assert raw not in page
    parser, data = _parse(index)
    assert [t for t, _ in parser.tags].count("script") == 2  # the data and the page's own script; nothing injected
    assert not [t for t, a in parser.tags if t == "img"]
    assert EVIL in {c["prompt"] for c in data["clips"]}  # escaped in the page, intact in the data


def test_cli_export(log, tmp_path, home):
    log.log.close()
    env = {**os.environ}
    env.pop("EXPLORER_DB", None)
    done = subprocess.run([sys.executable, "-m", "explorer.cli", "export", *home.args, "--out", str(tmp_path / "cli"),
                           "--text", "neon", "--by", "backend"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 2 clip(s)" in done.stdout and (tmp_path / "cli" / "index.html").as_uri() in done.stdout
    bad = subprocess.run([sys.executable, "-m", "explorer.cli", "export", *home.args, "--out", str(tmp_path / "cli"),
                          "--by", "colour"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "by:" in bad.stderr and "colour" in bad.stderr


def _sync_playwright():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright (Python) is not installed"
    if reason is None and not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(reason)
    return sync_playwright


def test_page_works_from_disk_in_a_real_browser(log, tmp_path):
    sync_playwright = _sync_playwright()
    index = export_page(log, tmp_path / "site")
    problems, dialogs = [], []
    # Launched and closed inside the test: a sync Playwright loop left open breaks pytest-jupyter's asyncio tests.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(index.as_uri())
            page.wait_for_selector(".tile")
            tiles = page.locator(".tile:visible")
            assert tiles.count() == 6
            assert page.locator("#shown").text_content() == "6 of 6 clips"

            # Click a clip: it plays (decoded frames, time moving), looping and muted.
            tiles.first.locator(".media").click()
            video = tiles.first.locator("video")
            page.wait_for_function("v => v.readyState >= 2 && v.currentTime > 0", arg=video.element_handle())
            t0 = video.evaluate("v => v.currentTime")
            page.wait_for_function("([v, t]) => v.currentTime !== t", arg=[video.element_handle(), t0])
            assert video.evaluate("v => [v.loop, v.muted, v.paused]") == [True, True, False]

            # The hostile prompt is shown as text, and nothing it carried ran.
            assert page.evaluate("window.__pwned") is None and not dialogs
            assert page.get_by_text("<script>window.__pwned=1</script>", exact=False).count() == 1

            # The leaderboard chart has a bar (and whiskers) per group, and a table.
            assert page.locator("#leaderboard svg rect.bar").count() >= 2
            assert page.locator("#leaderboard svg .ci-whisker").count() >= 2
            assert page.locator("#leaderboard table tbody tr").count() == 2

            page.wait_for_timeout(300)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # Filter and sort in plain JS.
            page.fill("#filter", "neon")
            assert page.locator(".tile:visible").count() == 2
            page.fill("#filter", "warm galaxy")
            assert page.locator(".tile:visible").count() == 0 and page.locator(".none:visible").count() == 1
            page.fill("#filter", "moody")
            assert page.locator(".tile:visible").count() == 3
            page.fill("#filter", "")
            page.select_option("#sort", "rating")
            first = page.locator(".tile").evaluate_all(
                "ts => ts.filter(t => !t.hidden).sort((a, b) => a.style.order - b.style.order)[0].querySelector('.prompt').textContent")
            assert first == PROMPTS[4]  # 5 stars
            # Everything the page loaded came from its own folder.
            loaded = page.evaluate("[...document.querySelectorAll('video')].flatMap(v => [v.src, v.poster])")
            assert loaded and all(u.startswith((tmp_path / "site").as_uri() + "/media/") for u in loaded), loaded
            assert not problems, problems
        finally:
            browser.close()


def test_the_default_grouping_shows_the_votes_of_a_one_model_log(lab, tmp_path):
    small = dict(frames=4, width=32, height=32, steps=1, progress=False)
    takes = [lab.generate("a red fox", seed=s, **small).id for s in range(3)]
    lab.vote(takes[0], takes[1])
    lab.vote(takes[0], takes[2])
    parser, data = _parse(export(lab, tmp_path / "auto").index)  # the CLI's default too: by="auto"
    board = data["leaderboard"]
    assert (board["by"], board["requested"], board["note"]) == ("run", "auto", "")
    assert sum(row["votes"] for row in board["rows"]) == 4 and board["rows"][0]["key"] == f"a red fox · seed 0 · {takes[0][:8]}"
    page = (tmp_path / "auto" / "index.html").read_text()
    assert "by clip (chosen automatically)" in page
    # grouped by model, the one row has no votes between groups, and the page says where the votes went
    _, data = _parse(export(lab, tmp_path / "model", by="model").index)
    assert [row["votes"] for row in data["leaderboard"]["rows"]] == [0]
    note = "2 of 2 votes compare clips of the same model; group by clip (run) or by a field that differs to see them."
    assert data["leaderboard"]["note"] == note and note in (tmp_path / "model" / "index.html").read_text()


def test_the_page_shows_what_a_kept_clip_cost_per_model(log, tmp_path):
    summary = export(log, tmp_path / "site", by="model")
    _, data = _parse(summary.index)
    board = {row["key"]: row for row in data["leaderboard"]["rows"]}
    seconds = log.runs().groupby("model")["duration_s"].sum()
    # sketch-a: one clip won its only battle, one was starred 4 and won; sketch-b: one clip starred 5, the rest lost or got 1-3
    assert board["sketch-a"]["kept"] == 2 and board["sketch-b"]["kept"] == 1
    for model in ("sketch-a", "sketch-b"):
        assert board[model]["device_s"] == pytest.approx(seconds[model])
        assert board[model]["s_per_kept"] == pytest.approx(seconds[model] / board[model]["kept"])
    page = summary.index.read_text(encoding="utf-8")
    assert "Device-seconds per kept clip" in page and "device-s per kept clip" in page and "2 kept of 2" in page and "1 kept of 4" in page


def test_the_page_says_which_metric_predicts_the_votes(lab, tmp_path):
    import itertools

    runs = [lab.generate(p, seed=s, frames=6, width=64, height=48, steps=2, fps=6, progress=False)
            for p in ("slow drift", "fast zoom") for s in (1, 2)]
    motion = lab.metrics()["metric_motion"]
    for a, b in itertools.combinations(runs, 2):
        lab.vote(*((a, b) if motion[a.id] > motion[b.id] else (b, a)))
    page = export(lab, tmp_path / "site").index.read_text(encoding="utf-8")
    assert 'id="taste"' in page and "Which measurement predicts our taste" in page
    assert "motion ↑" in page and "taste model: held out" in page and "<title>taste model</title>" in page
    assert "61%–74%" in page and "learnt from 6 votes" in page
