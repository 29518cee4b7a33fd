"""The per-run rating summary and the prompt index stay exact as another process adds rows (file log and team log).

Each check compares :func:`explorer.log.queries.runs` with the plain SQL it
replaces (every rating summarised, ``prompt ILIKE``), on both homes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import explorer
from explorer.log import queries
from explorer.log.search import PromptSearch, search_for
from explorer.log.summary import summary_for
from explorer.request import Request

PROMPTS = ["Kites over the Café", "a kiteboard at dawn", "neon ocean, night", "ocean neon", "日本語のテキスト 猫", "50% off_sale",
           "İstanbul at dusk", "NEON-OCEAN storm", "plain field"]


def seed(lab, prompts=PROMPTS):
    log = lab.log
    ids = [log.start_run(Request(prompt=p, backend="sketch"), author="ada") for p in prompts]
    return ids


def reference(log, text=None):
    """What runs() returned before the summary and the index: every rating summarised, ILIKE on every prompt."""
    where, params = ("WHERE r.prompt ILIKE '%' || ? || '%'", [text]) if text is not None else ("", [])
    return log.query(f"""
        WITH latest AS (SELECT * FROM ratings
                        QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1),
             s AS (SELECT run_id, avg(score) AS rating, count(*) AS ratings, list_sort(list_distinct(flatten(list(tags)))) AS tags
                   FROM latest GROUP BY run_id)
        SELECT r.id, s.rating, coalesce(s.ratings, 0) AS ratings, coalesce(s.tags, []::VARCHAR[]) AS tags
        FROM runs r LEFT JOIN s ON s.run_id = r.id {where} ORDER BY r.created_at DESC, r.id""", params)


def same(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(frame["id"]) == list(expected["id"])
    assert list(frame["ratings"]) == list(expected["ratings"])
    assert [list(t) for t in frame["tags"]] == [list(t) for t in expected["tags"]]
    assert frame["rating"].fillna(-1).round(9).tolist() == expected["rating"].fillna(-1).round(9).tolist()


def another_process(home, code: str) -> None:
    """Run ``code`` (with ``lab`` open on the same log) in a separate Python process."""
    script = textwrap.dedent(f"""
        import explorer
        from explorer.request import Request
        lab = explorer.open({home.db!r}, storage={str(home.storage) if home.storage else None!r}, author="other")
        log = lab.log
    """) + textwrap.dedent(code) + "\nlog.close()\n"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_summary_follows_ratings_from_another_process(home, lab):
    ids = seed(lab)
    log = lab.log
    log.rate(ids[0], 4, author="ada", tags=["kite"])
    same(queries.runs(log), reference(log))  # the summary is made here, at its first use
    folds = summary_for(log).folds
    # another process: a second reviewer, a changed rating (the latest counts), a new run rated at once
    another_process(home, f"""
        log.rate({ids[0]!r}, 2, author="bea", tags=["Blurry"])
        log.rate({ids[0]!r}, 5, author="ada", tags=["sharp"])
        log.rate({ids[2]!r}, 3, author="bea")
        new = log.start_run(Request(prompt="a new kite", backend="sketch"), author="other")
        log.rate(new, 1, author="bea", tags=["kite"])
    """)
    page = queries.runs(log, me="ada")
    same(page, reference(log))
    assert summary_for(log).folds == folds + 1  # folded in, not summarised again
    row = page.set_index("id").loc[ids[0]]
    assert row["rating"] == pytest.approx(3.5) and row["ratings"] == 2 and list(row["tags"]) == ["blurry", "sharp"]
    assert row["my_rating"] == 5
    # sorts and filters by rating, through the summary alone and joined with other filters
    expected = reference(log).dropna(subset=["rating"])
    by_rating = queries.runs(log, sort="rating")
    assert list(by_rating["rating"].dropna()) == sorted(expected["rating"], reverse=True)
    assert len(by_rating) == len(reference(log))  # unrated runs follow
    assert set(queries.runs(log, min_rating=3)["id"]) == set(expected[expected.rating >= 3]["id"])
    assert queries.count_runs(log, min_rating=3) == int((expected.rating >= 3).sum())
    assert set(queries.runs(log, tag="kite")["id"]) == {i for i, t in zip(expected["id"], expected["tags"]) if "kite" in list(t)}
    assert queries.count_runs(log, tag="kite", author="other") == 1
    assert list(queries.runs(log, min_rating=1, author="ada", sort="oldest")["id"]) == [ids[0], ids[2]]


@pytest.mark.parametrize("text", ["kite", "KITE", "neon ocean", "neon-ocean", "ocean neon", "neon oc", "café", "cafe", "テキスト", "猫",
                                  "50%", "off_s", "f_s", "istanbul", "İstanbul", "at d", "x", "e", "-", " ", "%", "a new"])
def test_search_matches_ilike_as_runs_are_added_by_another_process(home, lab, text):
    log = lab.log
    seed(lab)
    assert list(queries.runs(log, text=text)["id"]) == list(reference(log, text)["id"])
    builds = search_for(log).builds
    another_process(home, """
        for p in ["a new kite", "Neon Ocean again", "café 猫"]:
            log.start_run(Request(prompt=p, backend="sketch"), author="other")
    """)
    expected = reference(log, text)
    assert list(queries.runs(log, text=text)["id"]) == list(expected["id"])  # new runs: searched in the tail
    assert search_for(log).builds == builds  # not rebuilt for three runs
    assert queries.count_runs(log, text=text) == len(expected)
    assert list(queries.runs(log, text=text, sort="oldest", author="other")["id"]) == list(
        reversed([i for i in expected["id"] if log.run(i)["author"] == "other"]))


def test_kite_finds_kites_and_kiteboard(lab):
    seed(lab)
    found = set(queries.runs(lab.log, text="kite")["prompt"])
    assert found == {"Kites over the Café", "a kiteboard at dawn"}
    assert set(queries.runs(lab.log, text="neon ocean")["prompt"]) == {"neon ocean, night"}  # a phrase, not two words anywhere


def test_index_rebuilt_past_its_tail(home, lab, monkeypatch):
    import explorer.log.search as search_module

    monkeypatch.setattr(search_module, "REBUILD_TAIL", 3)
    log = lab.log
    seed(lab)
    search = PromptSearch(log)
    search.refresh()
    assert search.builds == 1
    for prompt in ["kite one", "kite two", "kite three"]:
        log.start_run(Request(prompt=prompt, backend="sketch"), author="ada")
    search.refresh()
    assert search.builds == 2  # the tail reached 3 runs: merged into the index
    found = search.matching("kite")
    assert set(found) == set(reference(log, "kite")["id"])
    assert found == list(reference(log, "kite")["id"])  # newest first


def test_requests_on_several_threads_never_deadlock(lab):
    """The server answers requests on a thread pool: pages, one run's row and ratings at once must all finish.

    (The summary folds under its lock while reading the log, so nothing may ask it while holding the log's session.)
    """
    import threading
    import time

    ids = [lab.log.start_run(Request(prompt=f"kite {i}"), author="setup") for i in range(3)]
    lab.rate(ids[0], 2)
    errors = []

    def pages():
        try:
            for i in range(8):
                queries.runs(lab.log, me="ada", ids=[ids[i % 3]])
                queries.runs(lab.log, me="ada", sort="rating", author="setup")
                queries.count_runs(lab.log, min_rating=1, author="setup")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def ratings():
        try:
            for i in range(8):
                lab.rate(ids[i % 3], 1 + i % 5)
                queries.runs(lab.log, me="ada", limit=50)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=f, daemon=True) for f in (pages, ratings, pages)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 90  # a state (every thread done) with a ceiling, not a sleep
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not [t for t in threads if t.is_alive()], "a request thread is stuck (lock order)"
    assert errors == []
    assert queries.runs(lab.log, ids=[ids[1]]).ratings.tolist() == [1]
