"""Several processes share one log file: no write is lost, nobody fails on a busy file, readers see whole runs."""

import multiprocessing as mp
import time

import explorer
from explorer.log import Log

WRITERS = 8
RATINGS_EACH = 25


def _write_ratings(path, author, run_ids, start):
    start.wait()
    lab = explorer.open(path, author=author)
    for i in range(RATINGS_EACH):
        lab.rate(run_ids[i % len(run_ids)], 1 + i % 5, tags=[author], note=f"{author}-{i}")
    lab.log.close()


def _generate_runs(path, author, count, start):
    start.wait()
    lab = explorer.open(path, author=author)
    for i in range(count):
        lab.generate(f"{author} kite {i}", seed=i, frames=4, width=32, height=32, steps=2, progress=False).raise_for_status()
    lab.log.close()


def test_eight_processes_rating_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.duckdb"
    lab = explorer.open(path, author="setup")
    run_ids = [lab.generate(f"clip {i}", seed=i, frames=4, width=32, height=32, steps=1, progress=False).id for i in range(4)]
    lab.log.close()

    ctx = mp.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_write_ratings, args=(path, f"writer{w}", run_ids, start)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=240)
    assert [w.exitcode for w in workers] == [0] * WRITERS

    log = Log(path)
    counts = log.query("SELECT author, count(*) AS n, count(DISTINCT note) AS notes FROM ratings GROUP BY author ORDER BY author")
    assert list(counts.author) == [f"writer{w}" for w in range(WRITERS)]
    assert list(counts.n) == [RATINGS_EACH] * WRITERS and list(counts.notes) == [RATINGS_EACH] * WRITERS


def test_runs_from_several_processes_while_a_reader_polls(tmp_path):
    path = tmp_path / "shared.duckdb"
    Log(path).close()
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_generate_runs, args=(path, f"artist{w}", 5, start)) for w in range(3)]
    for worker in workers:
        worker.start()
    reader = Log(path, linger=0)
    start.set()
    seen = []
    while any(w.is_alive() for w in workers):
        # A run is either 'running' with no media, or finished with all of its fields: never half of each.
        frame = reader.query("SELECT status, media_sha256, finished_at FROM runs")
        finished = frame[frame.status != "running"]
        assert finished.finished_at.notna().all() and finished.media_sha256.notna().all()
        assert frame[frame.status == "running"].media_sha256.isna().all()
        seen.append(len(frame))
        time.sleep(0.05)
    assert [w.exitcode for w in [*workers]] == [0, 0, 0]
    assert seen == sorted(seen)  # rows only ever appear
    final = reader.query("SELECT author, count(*) AS n FROM runs WHERE status = 'succeeded' GROUP BY author ORDER BY author")
    assert list(final.n) == [5, 5, 5]


def test_an_idle_lab_lets_another_process_write(tmp_path):
    path = tmp_path / "shared.duckdb"
    lab = explorer.open(path, author="kernel")  # stays open, like a notebook kernel
    run = lab.generate("kite", frames=4, width=32, height=32, steps=1, progress=False)
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    start.set()
    other = ctx.Process(target=_write_ratings, args=(path, "cli", [run.id], start))
    began = time.monotonic()
    other.start()
    other.join(timeout=60)
    assert other.exitcode == 0
    assert time.monotonic() - began < 30
    assert len(lab.ratings(run, latest=False)) == RATINGS_EACH  # and the kernel's lab can read them back


def _hold_lock(lock_path, held, done):
    import fcntl
    import os

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    held.set()
    done.wait(60)
    os.close(fd)


def test_a_rejected_open_never_removes_a_lock_another_process_holds(tmp_path):
    import duckdb
    import pytest

    from explorer.log import LogBusy, LogError

    path = tmp_path / "sales.duckdb"  # another application's database: every open of it is rejected
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE orders (id INTEGER)")
    conn.close()
    ctx = mp.get_context("spawn")
    held, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(f"{path}.lock", held, done))
    holder.start()
    try:
        assert held.wait(60)
        with pytest.raises(LogBusy):
            Log(path, timeout=0.3)
        assert (tmp_path / "sales.duckdb.lock").exists()  # still there: it is the holder's
    finally:
        done.set()
        holder.join(60)
    with pytest.raises(LogError, match="not a Clip Explorer log"):
        Log(path)
    assert (tmp_path / "sales.duckdb.lock").exists()  # not made by that open, so not its to remove
    (tmp_path / "sales.duckdb.lock").unlink()
    with pytest.raises(LogError, match="not a Clip Explorer log"):
        Log(path)
    assert not (tmp_path / "sales.duckdb.lock").exists()  # the one it made is gone again
