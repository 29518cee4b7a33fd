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


def test_ratings_from_several_authors_average(lab, two_runs, home):
    run, _ = two_runs
    lab.rate(run, 4)
    other = home.open(author="bea")
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
    with pytest.raises(LogError, match="is a DuckDB database of another application, not a Clip Explorer log \\(it holds tables orders\\)"):
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


# -- paths that cannot hold a log, and disks that cannot take one (issue 9) -------------------------------------
# Read-only and full disks are real (tests/faults.py): root ignores permission bits, so they are a tmpfs mounted
# read-only or filled up, `chattr +i`, or the `nobody` user; each test skips where the machine cannot make it.

import errno  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from faults import as_nobody, fill, immutable, open_folder, remount_readonly, tmpfs  # noqa: E402

from explorer.log import LogMissing, LogUnavailable  # noqa: E402


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_read_only_mount_is_named_for_an_existing_log_and_a_new_one(tmp_path):
    with tmpfs(tmp_path / "mnt") as mnt:
        Log(mnt / "team.duckdb").close()
        remount_readonly(mnt)
        with pytest.raises(LogUnavailable, match=f"{mnt / 'team.duckdb'} is on a read-only file system"):
            Log(mnt / "team.duckdb")
        with pytest.raises(LogUnavailable, match=f"cannot create a log at {mnt / 'new.duckdb'}: {mnt} is on a read-only file system"):
            Log(mnt / "new.duckdb")
        assert _files(mnt) == ["team.duckdb", "team.duckdb.lock"]


def test_an_immutable_log_or_folder_is_refused_when_opened(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    Log(folder / "team.duckdb").close()
    with immutable(folder / "team.duckdb"):
        with pytest.raises(LogUnavailable, match=f"{folder / 'team.duckdb'} is read-only"):
            Log(folder / "team.duckdb")
    with immutable(folder):  # the file is writable, but DuckDB's write-ahead log beside it cannot be made
        with pytest.raises(LogUnavailable, match=f"its folder {folder} is read-only"):
            Log(folder / "team.duckdb")


def test_a_read_only_file_or_folder_for_an_unprivileged_user():
    def try_to_open(path):
        def work():
            try:
                Log(path).close()
                return "opened"
            except LogError as exc:
                return f"{type(exc).__name__}: {exc}"
        return work

    with open_folder() as folder:
        Log(folder / "team.duckdb").close()
        (folder / "team.duckdb").chmod(0o444)
        assert as_nobody(try_to_open(folder / "team.duckdb")) == f"LogUnavailable: {folder / 'team.duckdb'} is read-only; a log must be writable (check its permissions)"
        (folder / "team.duckdb").chmod(0o666)
        folder.chmod(0o555)  # the file is writable, its folder is not
        try:
            assert as_nobody(try_to_open(folder / "team.duckdb")).startswith(f"LogUnavailable: {folder / 'team.duckdb'} cannot be written: its folder {folder} is read-only")
            assert as_nobody(try_to_open(folder / "new.duckdb")) == f"LogUnavailable: cannot create a log at {folder / 'new.duckdb'}: {folder} is not writable (permission denied)"
        finally:
            folder.chmod(0o777)
        assert _files(folder) == ["team.duckdb", "team.duckdb.lock"]


@pytest.mark.parametrize("path, message", [
    ("/proc/x.duckdb", "cannot create a log at /proc/x.duckdb: /proc is a kernel file system, not storage"),
    ("/proc/self/x.duckdb", "cannot create a log at /proc/[0-9]+/x.duckdb: /proc/[0-9]+ is in /proc, a kernel file system, not storage"),
    ("/sys/x.duckdb", "cannot create a log at /sys/x.duckdb: /sys is a kernel file system, not storage"),
    ("/proc/version", "/proc/version cannot be opened as a Clip Explorer log: it is not a DuckDB database"),
    ("/dev/null", "/dev/null is a character device, not a regular file"),
])
def test_kernel_file_systems_are_refused(path, message):
    with pytest.raises(LogError, match=message.replace("(", "\\(")):
        Log(path)
    assert not os.path.exists(path + ".lock")


def test_a_named_pipe_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.duckdb"
    os.mkfifo(fifo)
    # In a child: opening a FIFO for reading blocks until a writer comes, which is how this used to hang.
    code = f"from explorer.log import Log\nLog({str(fifo)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert f"LogUnavailable: {fifo} is a named pipe, not a regular file" in result.stderr
    assert _files(tmp_path) == ["pipe.duckdb"]


def test_a_sqlite_file_is_named_and_never_asks_for_an_extension(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    began = time.monotonic()
    with pytest.raises(LogError, match=f"^{path} is a SQLite database, not a Clip Explorer log"):
        Log(path)
    assert time.monotonic() - began < 0.5  # no download attempt
    assert _files(tmp_path) == ["app.db"]


@pytest.mark.parametrize("head, kind", [
    (b"PAR1\0\0\0\0", "a Parquet file"),
    (b"PK\x03\x04\0\0\0\0", "a ZIP archive"),
    (b"\x1f\x8b\x08\0\0\0\0\0", "a gzip file"),
    (b"\0\0\0\x20ftypisom", "an MP4 video"),
    (b"", "an empty file"),
])
def test_other_known_formats_are_named(tmp_path, head, kind):
    path = tmp_path / "x.duckdb"
    path.write_bytes(head + b"\0" * (64 if head else 0))
    with pytest.raises(LogError, match=f"^{path} is {kind}, not a Clip Explorer log"):
        Log(path)
    assert _files(tmp_path) == ["x.duckdb"]


def test_the_log_never_loads_or_installs_extensions(lab):
    settings = lab.log.query("SELECT current_setting('autoinstall_known_extensions') AS i, current_setting('autoload_known_extensions') AS l")
    assert (bool(settings.i[0]), bool(settings.l[0])) == (False, False)


@pytest.mark.parametrize("table", [
    "CREATE TABLE schema_migrations (name VARCHAR, applied_at TIMESTAMP); INSERT INTO schema_migrations VALUES ('20240101_users', now()::TIMESTAMP)",
    "CREATE TABLE schema_migrations (version BIGINT); INSERT INTO schema_migrations VALUES (20240101120000)",  # Rails, Alembic-like
])
def test_another_applications_migrations_are_not_a_newer_clip_explorer(tmp_path, table):
    path = tmp_path / "app.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(table)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.close()
    with pytest.raises(LogError, match=f"^{path} is a DuckDB database of another application, not a Clip Explorer log"):
        Log(path)
    assert _files(tmp_path) == ["app.duckdb"]  # and no lock file left beside it


def test_a_rejected_path_leaves_no_lock_file(tmp_path):
    foreign = tmp_path / "sales.duckdb"
    conn = duckdb.connect(str(foreign))
    conn.execute("CREATE TABLE orders (id INTEGER)")
    conn.close()
    (tmp_path / "notes.duckdb").write_text("notes\n")
    for path in (foreign, tmp_path / "notes.duckdb", tmp_path / "missing.duckdb"):
        with pytest.raises(LogError):
            Log(path, create=path.exists())
    assert _files(tmp_path) == ["notes.duckdb", "sales.duckdb"]


def test_a_full_disk_refuses_a_write_whole_and_keeps_every_acknowledged_row(tmp_path):
    with tmpfs(tmp_path / "mnt", size="2m") as mnt:
        log = Log(mnt / "team.duckdb")
        fill(mnt)
        written = 0
        with pytest.raises(LogUnavailable, match=f"^log {mnt / 'team.duckdb'}: the disk is full .*; nothing was written"):
            for i in range(500):
                log.start_run(Request(prompt=f"kite {i} " + "x" * 1000), author="ada")
                written += 1
        try:  # and again: the disk is full, or the write fits now (the failed one freed room); never a broken connection
            log.start_run(Request(prompt="one more"), author="ada")
            written += 1
        except LogUnavailable as exc:
            assert "the disk is full" in str(exc)
        log.close()
        (mnt / "filler").unlink()
        log = Log(mnt / "team.duckdb")
        assert log.query("SELECT count(*) AS n FROM runs").n[0] == written
        log.start_run(Request(prompt="after"), author="ada")  # usable once there is room
        log.close()


def test_a_new_log_on_a_full_disk_leaves_nothing_behind(tmp_path):
    with tmpfs(tmp_path / "mnt", size="1m") as mnt:
        fill(mnt)
        with pytest.raises(LogUnavailable, match=f"{mnt / 'team.duckdb'}.*the disk is full"):
            Log(mnt / "team.duckdb")
        assert _files(mnt) == ["filler"]


def test_the_file_size_limit_is_reported_like_a_full_disk(tmp_path):
    # RLIMIT_FSIZE binds root too and needs no mount: the same fault, on any machine.
    path = tmp_path / "team.duckdb"
    Log(path).close()
    code = f"""
import resource
from explorer.log import Log, LogUnavailable
from explorer.request import Request
log = Log({str(path)!r})
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
written = 0
try:
    for i in range(500):
        log.start_run(Request(prompt="x" * 1000), author="ada")
        written += 1
except LogUnavailable as exc:
    print(written, exc)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    written, message = result.stdout.strip().split(" ", 1)
    assert message.startswith(f"log {path}: the file size limit is reached")
    log = Log(path)
    assert log.query("SELECT count(*) AS n FROM runs").n[0] == int(written)
    log.close()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "explorer.cli", *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", "EXPLORER_AUTHOR": "ada"})


def test_the_cli_says_a_full_disk_or_a_read_only_mount_in_one_line_and_exits_1(tmp_path):
    with tmpfs(tmp_path / "mnt", size="2m") as mnt:
        db = mnt / "team.duckdb"
        lab = explorer.open(db)
        run = lab.generate("kite", frames=4, width=32, height=32, steps=1, progress=False)
        lab.log.close()
        fill(mnt)
        result = _cli("annotate", run.id, "x" * 9000, "--db", db)  # more than a WAL page's slack
        assert (result.returncode, result.stderr.count("\n")) == (1, 1), result.stderr
        assert result.stderr.startswith(f"error: log {db}: the disk is full (") and "Traceback" not in result.stderr
        (mnt / "filler").unlink()
        remount_readonly(mnt)
        result = _cli("runs", "--db", db)
        assert (result.returncode, result.stderr) == (1, f"error: {db} is on a read-only file system; a log must be writable (copy it to a writable folder)\n")
