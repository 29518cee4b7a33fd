"""The runs index (explorer/log/runs_index.py) answers pages and totals exactly as the log's own SQL does, on both homes.

Each check compares :func:`explorer.log.queries.runs` / ``count_runs`` (served
from the process-local mirror) with plain SQL over the log, right after
another process adds a run, rates one, or changes a run's status.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd

from explorer.log import queries
from explorer.log.runs_index import runs_index_for
from explorer.request import Request

SHOWN = ["id", "status", "author", "model", "prompt", "error", "duration_s", "media_sha256"]


def another_process(home, code: str) -> None:
    """Run ``code`` (with ``log`` open on the same log) in a separate Python process."""
    script = textwrap.dedent(f"""
        import explorer
        from explorer.request import Request
        lab = explorer.open({home.db!r}, storage={str(home.storage) if home.storage else None!r}, author="other")
        log = lab.log
    """) + textwrap.dedent(code) + "\nlog.close()\n"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def plain(log, *, sort="newest", limit=50, offset=0, **filters) -> pd.DataFrame:
    """The page as the log's SQL gives it (no index, no summary)."""
    where, params = queries._run_filters(**filters)
    return log.query(f"""
        WITH latest AS (SELECT * FROM ratings
                        QUALIFY row_number() OVER (PARTITION BY run_id, author ORDER BY created_at DESC, id DESC) = 1),
             s AS (SELECT run_id, avg(score) AS rating, count(*) AS ratings FROM latest GROUP BY run_id)
        SELECT r.*, s.rating, coalesce(s.ratings, 0) AS ratings FROM runs r LEFT JOIN s ON s.run_id = r.id
        {queries._where(where)} ORDER BY {queries.SORTS[sort]} LIMIT {limit} OFFSET {offset}""", params)


def plain_count(log, **filters) -> int:
    where, params = queries._run_filters(**filters)
    return int(log.query(f"SELECT count(*) AS n FROM runs r {queries._where(where)}", params).n[0])


def same_page(log, **args) -> None:
    page = queries.runs(log, **args)
    expected = plain(log, **args)
    assert list(page["id"]) == list(expected["id"])
    for column in SHOWN:
        assert page[column].tolist() == expected[column].tolist() or \
            page[column].fillna(-1).tolist() == expected[column].fillna(-1).tolist(), column
    assert page["ratings"].tolist() == expected["ratings"].tolist()
    assert page["rating"].fillna(-1).round(9).tolist() == expected["rating"].fillna(-1).round(9).tolist()
    filters = {k: v for k, v in args.items() if k not in ("sort", "limit", "offset")}
    assert queries.count_runs(log, **filters) == plain_count(log, **filters)


CASES = [dict(), dict(limit=3), dict(limit=2, offset=3), dict(sort="oldest", limit=4), dict(author="ada", limit=5),
         dict(status="running"), dict(status="failed"), dict(model="m2", sort="oldest", limit=2, offset=1), dict(author="nobody")]


def check_all(log) -> None:
    for args in CASES:
        same_page(log, **args)


def seed(log, n=8) -> list[str]:
    ids = []
    for i in range(n):
        ids.append(log.start_run(Request(prompt=f"clip {i}", backend="sketch", model=f"m{i % 3}"), author="ada" if i % 2 else "bea"))
        if i % 3 == 0:
            log.finish_run(ids[-1], "succeeded", duration_s=1.5)
    return ids


def test_pages_follow_another_process(home, lab):
    log = lab.log
    ids = seed(log)
    log.rate(ids[1], 4, author="ada")
    check_all(log)
    index = runs_index_for(log)
    builds = index.builds
    # a new run, a new rating, and a status change, each by another process
    another_process(home, "new = log.start_run(Request(prompt='from elsewhere', backend='sketch', model='m2'), author='ada')")
    check_all(log)
    assert queries.runs(log, limit=1)["prompt"].tolist() == ["from elsewhere"]
    another_process(home, f"log.rate({ids[2]!r}, 2, author='cy'); log.rate({ids[1]!r}, 5, author='cy')")
    check_all(log)
    assert queries.runs(log, ids=[ids[1]], limit=5)["ratings"].tolist() == [2]
    another_process(home, f"log.finish_run({ids[4]!r}, 'failed', error='boom', duration_s=2.0)")
    check_all(log)
    row = queries.runs(log, ids=[ids[4]], limit=5).iloc[0]
    assert (row["status"], row["error"]) == ("failed", "boom")
    assert queries.count_runs(log, status="failed") == 1
    another_process(home, f"log.finish_run({ids[5]!r}, 'succeeded', duration_s=3.0)")
    check_all(log)
    assert index.builds == builds  # every change folded in, never read again whole


def test_own_runs_and_status_show_at_once(lab):
    log = lab.log
    seed(log, 3)
    assert len(queries.runs(log, limit=50)) == 3
    new = log.start_run(Request(prompt="mine", backend="sketch"), author="ada")
    assert queries.runs(log, limit=50)["id"].tolist()[0] == new
    assert queries.count_runs(log, status="running") == plain_count(log, status="running")
    log.finish_run(new, "cancelled")
    assert queries.runs(log, ids=[new], limit=1)["status"].tolist() == ["cancelled"]
    check_all(log)


def test_unchanged_log_costs_no_rebuild_and_no_fold(lab):
    log = lab.log
    seed(log, 4)
    queries.runs(log, limit=10)
    index = runs_index_for(log)
    changes = index.changes
    for _ in range(3):
        queries.runs(log, limit=10)
        queries.count_runs(log)
    assert index.changes == changes  # the "what changed?" look found nothing: nothing read


def test_a_run_whose_process_died_is_listed_interrupted(home, lab):
    """Another process starts a run and dies without finishing it: the next page shows it interrupted, not running."""
    log = lab.log
    seed(log, 2)
    queries.runs(log, limit=10)
    another_process(home, "import os; log.start_run(Request(prompt='dies', backend='sketch'), author='other'); os._exit(0)")
    page = queries.runs(log, limit=10)
    row = page[page.prompt == "dies"].iloc[0]
    assert row["status"] == "interrupted"
    assert queries.count_runs(log, status="running") == plain_count(log, status="running")
    check_all(log)


def test_tail_merged_past_its_limit_and_ties_ordered_by_id(home, lab, monkeypatch):
    import explorer.log.runs_index as runs_index

    monkeypatch.setattr(runs_index, "REBUILD_TAIL", 3)
    log = lab.log
    # runs created at the same instant: ties are broken by id, ascending, in both sorts
    at = pd.Timestamp("2026-01-01 12:00:00")
    log.bulk_insert("runs", pd.DataFrame({
        "id": ["t3", "t1", "t2", "u1"], "created_at": [at, at, at, at - pd.Timedelta(seconds=1)], "author": "ada", "status": "succeeded",
        "backend": "sketch", "model": "m", "prompt": "tie", "negative_prompt": "", "seed": 1, "frames": 8, "fps": 8.0, "width": 64,
        "height": 64, "steps": 1, "guidance": 1.0, "request": "{}"}))
    check_all(log)
    index = runs_index_for(log)
    builds = index.builds
    for i in range(4):
        log.start_run(Request(prompt=f"tail {i}", backend="sketch"), author="bea")
        check_all(log)
    assert index.builds > builds  # the tail reached its limit: read whole again
    same_page(log, sort="oldest", limit=10)


def test_search_pages_from_the_index(home, lab):
    log = lab.log
    seed(log, 5)
    another_process(home, "log.start_run(Request(prompt='clip from elsewhere', backend='sketch'), author='other')")
    for args in (dict(text="clip", limit=3), dict(text="clip", author="other", limit=5), dict(text="clip", sort="oldest", limit=2, offset=1)):
        page = queries.runs(log, **args)
        where = "WHERE prompt ILIKE '%' || ? || '%'" + (" AND author = ?" if "author" in args else "")
        order = queries.SORTS[args.get("sort", "newest")].replace("r.", "")
        expected = log.query(f"SELECT id FROM runs {where} ORDER BY {order} LIMIT {args['limit']} OFFSET {args.get('offset', 0)}",
                             [args["text"], *([args["author"]] if "author" in args else [])])
        assert list(page["id"]) == list(expected["id"])


def test_a_page_has_the_log_querys_columns_and_dtypes(lab):
    """The page assembled in process is the DataFrame the log's own query gives (no limit: the log answers)."""
    log = lab.log
    ids = seed(log, 6)
    log.rate(ids[1], 4, author="tester", tags=["x"])
    log.finish_run(ids[2], "failed", error="boom")
    for me in (None, "tester", "nobody"):
        fast, slow = queries.runs(log, limit=50, me=me), queries.runs(log, me=me)
        assert list(fast.columns) == list(slow.columns)
        assert fast.dtypes.astype(str).to_dict() == slow.dtypes.astype(str).to_dict()
        pd.testing.assert_frame_equal(fast, slow)
        assert queries.runs(log, limit=50, me=me, as_records=True) == queries.runs(log, me=me, as_records=True)
