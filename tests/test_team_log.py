"""The team log (DuckLake on a real PostgreSQL) where it differs from a file log, crash recovery on both homes, log copy."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

import explorer
from explorer.log import Log, LogError, LogMissing, LogUnavailable
from explorer.log.clock import utcnow
from explorer import embeddings
from explorer.log.copy import copy_log
from explorer.log.lake import MARKER
from explorer.log.recovery import doctor, temp_prefix, this_host
from explorer.metrics import METRICS

FAST = dict(frames=4, width=32, height=32, steps=1, progress=False)


# -- addresses, folders and servers ------------------------------------------------------------------------------------

def test_a_password_in_the_url_is_refused_before_anything_connects(tmp_path):
    for url in ("postgresql://ada:s3cret@127.0.0.1:5432/team", "postgresql://ada@127.0.0.1/team?password=s3cret"):
        with pytest.raises(LogError, match="PGPASSWORD or ~/.pgpass") as caught:
            Log(url, storage=tmp_path)
        assert "s3cret" not in str(caught.value)


def test_shared_is_for_file_logs_only(tmp_path):
    with pytest.raises(LogError, match="shared: only a file log"):
        explorer.open("postgresql://ada@127.0.0.1:9/team", storage=tmp_path, shared=True)


def test_a_team_log_needs_its_storage_folder(postgres, tmp_path, monkeypatch):
    monkeypatch.delenv("EXPLORER_STORAGE", raising=False)
    url = postgres.new_database()
    with pytest.raises(LogError, match="^storage: a team log needs the shared folder"):
        Log(url)
    with pytest.raises(LogUnavailable, match="is not a folder; create it, or mount the team's shared folder"):
        Log(url, storage=tmp_path / "not-mounted")
    monkeypatch.setenv("EXPLORER_STORAGE", str(tmp_path))
    assert Log(url).storage == tmp_path.resolve()  # the environment variable, like EXPLORER_DB


def test_a_storage_folder_of_another_team_log_is_refused(postgres, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    # empty catalogs: copies of the template catalog would share its identity
    explorer.open(postgres.new_database(empty=True), storage=first).generate("a kite", **FAST)
    assert (first / MARKER).is_file()
    other = postgres.new_database(empty=True)
    explorer.open(other, storage=second).log.close()
    with pytest.raises(LogError, match="^storage: .* belongs to another team log"):
        Log(other, storage=first)


def test_an_unreachable_server_is_one_line_without_a_password(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "s3cret")
    from postgres import free_port

    with pytest.raises(LogUnavailable, match=r"^team log postgresql://ada@127.0.0.1:\d+/team: cannot attach the catalog") as caught:
        Log(f"postgresql://ada@127.0.0.1:{free_port()}/team", storage=tmp_path)
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


def test_an_empty_catalog_is_created_once_by_concurrent_first_openers(postgres, tmp_path):
    url = postgres.new_database(empty=True)
    with pytest.raises(LogMissing, match="holds no tables"):
        Log(url, storage=tmp_path, create=False)
    code = f"import explorer; lab = explorer.open({url!r}, storage={str(tmp_path)!r}, author='p'); print(lab.generate('a kite', frames=4, width=32, height=32, steps=1, progress=False).id)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-800:] for _, err in outs]
    log = Log(url, storage=tmp_path)
    assert log.query("SELECT count(*) AS n FROM schema_migrations").n[0] == len(explorer.log.migrations.MIGRATIONS)
    assert log.query("SELECT count(*) AS n FROM log_identity").n[0] == 1
    assert sorted(log.query("SELECT id FROM runs").id) == sorted(out.strip() for out, _ in outs)


# -- crash recovery, on both homes -------------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, sys, tempfile, time
    import explorer
    from explorer.log.recovery import temp_prefix
    db, storage = sys.argv[1], sys.argv[2] or None
    lab = explorer.open(db, storage=storage, author="crasher")
    # A complete clip whose run never finished, and an encode in flight: what a kill -9 leaves behind.
    import numpy as np
    lab.log.media.put(np.full((4, 32, 32, 3), 200, np.uint8), 8.0)
    lab.log.media.root.mkdir(parents=True, exist_ok=True)
    tempfile.mkstemp(dir=lab.log.media.root, prefix=temp_prefix(), suffix=".mp4")
    def step(s):
        if s.index == 1:
            print("generating", flush=True)
            time.sleep(600)  # killed here, mid-run
    lab.generate("a slow kite", frames=60, width=32, height=32, steps=30, progress=False, on_step=step)
""")


def test_kill_9_mid_run_leaves_an_interrupted_run_and_doctor_fix_leaves_no_orphans(home, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CHILD, home.db, str(home.storage or "")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()  # a state, not a sleep: the run has started and made its first step
        assert line.strip() == "generating", child.stderr.read()[-2000:]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)

    lab = home.open("reader")  # any reader: opening is enough to see it
    (status, error) = lab.log.query("SELECT status, error FROM runs WHERE prompt = 'a slow kite'").iloc[0]
    assert status == "interrupted" and f"pid {child.pid}" in error and "is gone" in error
    assert lab.runs(status="running").empty and len(lab.runs(status="interrupted")) == 1

    root = lab.log.media.root
    found = doctor(lab.log)
    assert len(found.orphan_clips) == 3 and {p.suffix for p in found.orphan_clips} == {".mp4", ".jpg", ".webp"}
    assert found.temp_files == [] or all(p.name.startswith(".tmp-") for p in found.temp_files)  # opening removed this host's already
    assert not list(root.glob(".tmp-*"))
    fixed = doctor(lab.log, fix=True)
    assert fixed.fixed and len(fixed.orphan_clips) == 3
    assert doctor(lab.log).clean
    assert [p for p in root.rglob("*") if p.is_file()] == []  # the run made no clip; nothing else was ever referenced


def test_a_run_on_another_machine_is_interrupted_when_its_heartbeat_stops(home):
    lab = home.open()
    run_id = lab.log.start_run(explorer.Request(prompt="far away"), author="other")
    now = utcnow()
    lab.log.connection.transaction(lambda conn: conn.execute(
        "UPDATE runs SET host = 'gpu-box-2', pid = 4242, heartbeat_at = ? WHERE id = ?", [now - timedelta(seconds=30), run_id]))
    assert lab.log.recover() == []  # 30 s without a beat: still alive, perhaps
    lab.log.connection.transaction(lambda conn: conn.execute(
        "UPDATE runs SET heartbeat_at = ? WHERE id = ?", [now - timedelta(minutes=5), run_id]))
    assert lab.log.recover() == [run_id]
    # 300 s and however long the test took since it read the clock (a second or two on a busy machine)
    assert re.search(r"sent no heartbeat for 30\d s", lab.log.run(run_id)["error"])


def test_a_live_run_is_not_interrupted_and_its_files_are_kept(home):
    lab = home.open()
    run_id = lab.log.start_run(explorer.Request(prompt="still going"), author="me")  # this process: alive
    import numpy as np

    clip = lab.log.media.put(np.full((4, 32, 32, 3), 90, np.uint8), 8.0)  # stored, its run not finished yet
    assert lab.log.recover() == []
    found = doctor(lab.log, fix=True)
    assert found.orphan_clips == [] and found.kept_for_live_runs == 3 and clip.path.is_file()
    lab.log.finish_run(run_id, "succeeded", clip=clip)
    assert doctor(lab.log).clean and lab.log.run(run_id)["status"] == "succeeded"


def test_temp_files_of_this_machine_go_on_open_when_their_process_is_gone(home, tmp_path):
    lab = home.open()
    root = lab.log.media.root
    root.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    abandoned = root / f".tmp-{this_host().replace('-', '_')}-{dead}-abc.mp4"  # a pid that no longer exists
    mine = root / f"{temp_prefix()}xyz.mp4"  # this process is alive: its file may be an encode in flight
    abandoned.write_bytes(b"half a clip"), mine.write_bytes(b"half a clip")
    lab.log.close()
    lab = home.open()
    assert not abandoned.exists() and mine.exists()


# -- log copy ------------------------------------------------------------------------------------------------------------

def _fill(lab):
    a = lab.generate("a red kite", seed=1, **FAST)
    b = lab.generate("a blue kite", seed=2, parent=a.id, **FAST)
    lab.sweep("a kite", {"seed": [3, 4]}, **{k: v for k, v in FAST.items() if k != "progress"}, progress=False)
    lab.rate(a.id, 4, tags=["windy"], note="good line")
    lab.rate(b.id, 2)
    lab.vote(a.id, b.id)
    lab.annotate(b.id, "string snaps", frame=2, region={"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2})
    embeddings.store(lab.log, a.id, "tiny-clip", [0.6, 0.8])


def _contents(lab) -> dict:
    out = {}
    for table, order in (("runs", "id"), ("media", "sha256"), ("ratings", "id"), ("votes", "id"), ("annotations", "id"), ("sweeps", "id"),
                         ("metrics", "run_id, name"), ("embeddings", "run_id")):
        frame = lab.log.query(f"SELECT * FROM {table} ORDER BY {order}")
        out[table] = frame.astype(str).values.tolist()
    return out


def test_log_copy_moves_everything_from_a_file_to_a_team_log_and_back(postgres, tmp_path):
    source = explorer.open(tmp_path / "mine.duckdb", author="ada")
    _fill(source)
    (tmp_path / "shared").mkdir()
    team = explorer.open(postgres.new_database(), storage=tmp_path / "shared", author="ada")
    counts = copy_log(source.log, team.log)
    assert counts == {"sweeps": 1, "runs": 4, "media": 4, "ratings": 2, "votes": 1, "annotations": 1, "metrics": 4 * len(METRICS), "embeddings": 1, "clips": 4}
    assert _contents(team) == _contents(source)
    for sha in team.log.query("SELECT sha256 FROM media").sha256:
        assert team.log.media.verify(sha)  # the bytes arrived whole
    with pytest.raises(LogError, match="already holds 4 run"):
        copy_log(source.log, team.log)

    back = explorer.open(tmp_path / "back.duckdb", author="ada")
    copy_log(team.log, back.log)
    assert _contents(back) == _contents(source)


# -- the CLI -----------------------------------------------------------------------------------------------------------

def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "explorer.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_the_cli_copies_a_log_to_a_team_log_and_doctor_reports_and_fixes(postgres, tmp_path):
    source = explorer.open(tmp_path / "mine.duckdb", author="ada")
    _fill(source)
    source.log.close()
    shared = tmp_path / "shared"
    shared.mkdir()
    url = postgres.new_database()
    done = _cli("log", "copy", str(tmp_path / "mine.duckdb"), url, "--storage", str(shared))
    assert done.returncode == 0 and "4 runs" in done.stdout and "4 clips" in done.stdout, done.stderr
    listed = _cli("runs", "--json", "--db", url, env={"EXPLORER_STORAGE": str(shared)})  # the folder from the environment
    assert done.returncode == 0 and len(json.loads(listed.stdout)) == 4, listed.stderr

    (shared / "media" / "ab").mkdir(exist_ok=True)  # a clip of the copy may live there already
    stray = shared / "media" / "ab" / ("ab" + "0" * 62 + ".mp4")  # a clip no run points to
    stray.write_bytes(b"not referenced")
    found = _cli("doctor", "--db", url, "--storage", str(shared))
    assert found.returncode == 1 and "clips no run points to, found: 1" in found.stdout and "--fix" in found.stdout
    fixed = _cli("doctor", "--fix", "--db", url, "--storage", str(shared), "--json")
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["orphan_clips"] == [str(stray)]
    assert not stray.exists() and _cli("doctor", "--db", url, "--storage", str(shared)).returncode == 0

    again = _cli("log", "copy", str(tmp_path / "mine.duckdb"), url, "--storage", str(shared))
    assert again.returncode == 2 and again.stderr.startswith("error: log copy:") and "already holds 4 run" in again.stderr
    missing = _cli("runs", "--db", url)
    assert missing.returncode == 2 and "storage: a team log needs the shared folder" in missing.stderr and "Traceback" not in missing.stderr
