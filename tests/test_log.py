"""The DuckDB log: reviewer rows, filters, migrations, and files that are not our log."""

import json

import duckdb
import pytest

import explorer
from explorer.log import Log, LogError
from explorer.log.migrations import MIGRATIONS, applied, migrate
from explorer.request import Request


@pytest.fixture
def two_runs(lab, small):
    return lab.generate("sunset birds", seed=1, progress=False, **small), lab.generate("neon rain", seed=2, progress=False, **small)


def test_a_changed_rating_is_a_new_row_and_the_latest_counts(lab, two_runs):
    run, _ = two_runs
    lab.rate(run, 2, tags=["Dull"])
    lab.rate(run, 5, tags=["warm", "warm ", "Golden"], note="much better on second look")
    all_rows = lab.ratings(run, latest=False)
    assert list(all_rows.score) == [2, 5]  # nothing updated in place
    latest = lab.ratings(run)
    assert list(latest.score) == [5] and list(latest.tags[0]) == ["warm", "golden"]
    row = lab.runs(text="sunset").iloc[0]
    assert row.rating == 5 and row.ratings == 1 and list(row.tags) == ["golden", "warm"]


def test_ratings_from_several_authors_average(lab, two_runs, tmp_path):
    run, _ = two_runs
    lab.rate(run, 4)
    other = explorer.open(lab.log.path, author="bea")
    other.rate(run.id, 2)
    row = lab.runs(text="sunset").iloc[0]
    assert row.rating == 3 and row.ratings == 2
    assert set(lab.ratings(run).author) == {"tester", "bea"}


@pytest.mark.parametrize("score", [0, 6, 3.5, "4", True, None])
def test_bad_scores_are_refused(lab, two_runs, score):
    with pytest.raises(LogError, match="score: must be a whole number from 1 to 5"):
        lab.rate(two_runs[0], score)
    assert len(lab.ratings(latest=False)) == 0


def test_unknown_or_ambiguous_run_ids(lab):
    request = Request(prompt="x")
    lab.log.start_run(request, author="t", run_id="abc111")
    lab.log.start_run(request, author="t", run_id="abc222")
    with pytest.raises(LogError, match="'abc' matches several runs"):
        lab.log.resolve("abc")
    assert lab.log.resolve("abc1") == "abc111"
    with pytest.raises(LogError, match="no run 'zzzz'"):
        lab.rate("zzzz", 3)


def test_run_ids_resolve_by_unique_prefix(lab, two_runs):
    run = two_runs[0]
    assert lab.log.resolve(run.id[:8]) == run.id


def test_votes(lab, two_runs):
    a, b = two_runs
    lab.vote(a, b)
    lab.vote(b.id[:7], a.id[:7], tie=True)
    votes = lab.votes()
    assert list(zip(votes.winner_id, votes.loser_id, votes.tie)) == [(a.id, b.id, False), (b.id, a.id, True)]
    with pytest.raises(LogError, match="two different runs"):
        lab.vote(a, a)


def test_annotations(lab, two_runs):
    run = two_runs[0]
    lab.annotate(run, "the bird clips the edge", frame=3, end_frame=5, region={"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4})
    notes = lab.annotations(run)
    assert notes.frame[0] == 3 and notes.time_s[0] == pytest.approx(3 / run.request.fps)
    assert json.loads(notes.region[0]) == {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}
    for kwargs, message in [
        (dict(frame=99), "frame: must be a frame number from 0 to 5"),
        (dict(frame=3, end_frame=2), "end_frame: must not come before frame 3"),
        (dict(region={"x": 0.9, "y": 0, "w": 0.5, "h": 0.1}), "reaches outside the frame"),
        (dict(region={"x": -1, "y": 0, "w": 0.5, "h": 0.1}), "region.x: must be between 0 and 1"),
        (dict(region={"x": 0}), "keys x, y, w, h"),
    ]:
        with pytest.raises(LogError, match=message):
            lab.annotate(run, "note", **kwargs)
    with pytest.raises(LogError, match="needs some text"):
        lab.annotate(run, "  ")
    assert len(lab.annotations()) == 1


def test_run_filters_and_sorts(lab, small):
    a = lab.generate("sunset birds", seed=1, progress=False, **small)
    b = lab.generate("neon rain", seed=2, progress=False, **small)
    c = lab.generate("neon sunset", seed=3, progress=False, **small)
    lab.rate(a, 5, tags=["warm"])
    lab.rate(b, 2, tags=["cold"])
    lab.rate(c, 4, tags=["warm"])
    assert list(lab.runs().id) == [c.id, b.id, a.id]
    assert list(lab.runs(sort="rating").id) == [a.id, c.id, b.id]
    assert set(lab.runs(text="SUNSET").id) == {a.id, c.id}
    assert set(lab.runs(tag="warm").id) == {a.id, c.id}
    assert set(lab.runs(min_rating=4).id) == {a.id, c.id}
    assert list(lab.runs(text="neon", min_rating=3).id) == [c.id]
    assert len(lab.runs(author="nobody")) == 0 and len(lab.runs(backend="sketch")) == 3
    assert list(lab.runs(limit=1, offset=1).id) == [b.id]
    with pytest.raises(LogError, match="sort: must be one of"):
        lab.runs(sort="best")


def test_migration_from_an_older_schema_keeps_every_row(tmp_path):
    path = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, upto="0001_initial")  # a log as the first release wrote it
    conn.execute("""INSERT INTO runs (id, created_at, author, status, backend, prompt, seed, frames, fps, width, height, request)
                    VALUES ('oldrun000001', now()::TIMESTAMP, 'ada', 'succeeded', 'sketch', 'old kite', 1, 8, 8, 64, 64, '{"prompt": "old kite"}')""")
    conn.execute("INSERT INTO ratings VALUES ('rt1', 'oldrun000001', 'ada', now()::TIMESTAMP, 4, ['old'], 'kept?')")
    conn.execute("INSERT INTO votes VALUES ('v1', 'oldrun000001', 'x', false, 'ada', now()::TIMESTAMP)")
    conn.execute("INSERT INTO annotations VALUES ('a1', 'oldrun000001', 'ada', now()::TIMESTAMP, 2, NULL, 0.25, NULL, NULL, 'hi')")
    conn.close()

    log = Log(path)
    with log.connection.session() as conn:
        assert applied(conn) == [name for name, _ in MIGRATIONS]
    assert log.query("SELECT prompt FROM runs").prompt.tolist() == ["old kite"]
    assert log.query("SELECT note FROM ratings").note.tolist() == ["kept?"]
    assert len(log.query("SELECT * FROM votes")) == 1 and len(log.query("SELECT * FROM annotations")) == 1
    assert log.query("SELECT sweep_id FROM runs").sweep_id.isna().all()  # the new column exists, empty for old rows
    log.close()
    Log(path).close()  # opening again applies nothing twice


def test_a_file_that_is_not_duckdb_gives_a_clear_error(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(LogError, match="cannot be opened as a Clip Explorer log: it is not a DuckDB database"):
        explorer.open(path)
    assert path.read_text().startswith("these are my notes")  # the file is left alone


def test_a_foreign_duckdb_database_is_refused(tmp_path):
    path = tmp_path / "sales.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE orders (id INTEGER)")
    conn.close()
    with pytest.raises(LogError, match="is a DuckDB database but not a Clip Explorer log \\(it holds tables orders\\)"):
        explorer.open(path)


def test_a_log_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "future.duckdb"
    Log(path).close()
    conn = duckdb.connect(str(path))
    conn.execute("INSERT INTO schema_migrations VALUES ('0999_from_the_future', now()::TIMESTAMP)")
    conn.close()
    with pytest.raises(LogError, match="written by a newer Clip Explorer"):
        Log(path)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(LogError, match="is a folder"):
        explorer.open(tmp_path)
