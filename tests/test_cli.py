"""The `explorer` command as a user runs it: a real subprocess, a real log, real clips."""

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

EXPLORER = [sys.executable, "-m", "explorer.cli"]


def explorer(*args, cwd=None, env=None, check=True):
    result = subprocess.run([*EXPLORER, *map(str, args)], capture_output=True, text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
    return result


SMALL = ["--frames", 6, "--size", "64x48", "--steps", 2]


def test_generate_json_prints_the_run(tmp_path):
    db = tmp_path / "cli.duckdb"
    result = explorer("generate", "neon city rain", "--seed", 3, *SMALL, "--fps", 12, "--db", db, "--json")
    run = json.loads(result.stdout)
    for key in ("id", "status", "media", "sha256", "prompt", "seed", "frames", "fps", "width", "height", "backend"):
        assert key in run
    assert (run["status"], run["prompt"], run["seed"], run["frames"], run["fps"], run["width"], run["height"], run["backend"]) == (
        "succeeded", "neon city rain", 3, 6, 12, 64, 48, "sketch")
    with av.open(run["media"]) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert Path(run["media"]).name == run["sha256"] + ".mp4"


def test_invalid_request_exits_2_and_names_the_field(tmp_path):
    db = tmp_path / "cli.duckdb"
    result = explorer("generate", "kite", "--frames", 0, "--db", db, check=False)
    assert result.returncode == 2
    assert "frames: must be between 1 and 1000 (got 0)" in result.stderr
    assert "Traceback" not in result.stderr
    result = explorer("generate", "kite", "--size", "513x512", "--db", db, check=False)
    assert result.returncode == 2 and "width: must be even" in result.stderr
    result = explorer("generate", "kite", "--size", "big", "--db", db, check=False)
    assert result.returncode == 2 and "size: must look like WIDTHxHEIGHT" in result.stderr
    assert not db.exists()  # nothing logged: bad input fails before the log is opened


def test_db_falls_back_to_env_then_working_folder(tmp_path):
    env_db = tmp_path / "from-env.duckdb"
    explorer("generate", "kite", *SMALL, env={"EXPLORER_DB": str(env_db)})
    assert env_db.exists()
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "EXPLORER_DB"}
    subprocess.run([*EXPLORER, "generate", "kite", *map(str, SMALL)], cwd=workdir, env=env, check=True, capture_output=True, timeout=120)
    assert (workdir / "explorer.duckdb").exists() and (workdir / "explorer-media").is_dir()


def test_rate_vote_runs_show_and_fork(tmp_path):
    db = tmp_path / "cli.duckdb"
    a = json.loads(explorer("generate", "sunset birds flying", *SMALL, "--db", db, "--json").stdout)
    b = json.loads(explorer("generate", "ocean waves", *SMALL, "--db", db, "--json").stdout)
    explorer("rate", a["id"][:6], 5, "--tag", "warm", "--tag", "calm", "--note", "lovely", "--author", "ada", "--db", db)
    explorer("vote", a["id"], b["id"], "--author", "ada", "--db", db)
    explorer("annotate", a["id"], "birds clip the edge", "--frame", 2, "--db", db)
    rows = json.loads(explorer("runs", "--db", db, "--json").stdout)
    assert [r["id"] for r in rows] == [b["id"], a["id"]]
    assert rows[1]["rating"] == 5 and rows[1]["tags"] == ["calm", "warm"]
    shown = json.loads(explorer("show", a["id"], "--db", db, "--json").stdout)
    assert shown["request"]["prompt"] == "sunset birds flying" and shown["ratings"][0]["author"] == "ada"
    table = explorer("runs", "--db", db).stdout
    assert "sunset birds flying" in table and "2 run(s)" in table

    recipe = json.loads(explorer("show", a["media"], "--json").stdout)
    assert recipe["run"] == a["id"] and recipe["request"]["prompt"] == "sunset birds flying"
    forked = json.loads(explorer("fork", a["media"], "--set", "seed=9", "--set", "size=32x32", "--db", db, "--json").stdout)
    assert (forked["seed"], forked["width"], forked["parent"], forked["prompt"]) == (9, 32, a["id"], "sunset birds flying")
    tree = explorer("lineage", a["id"], "--db", db).stdout
    assert a["id"] in tree and forked["id"] in tree


def test_bad_ids_and_scores_are_clear_errors(tmp_path):
    db = tmp_path / "cli.duckdb"
    a = json.loads(explorer("generate", "kite", *SMALL, "--db", db, "--json").stdout)
    result = explorer("rate", a["id"], 7, "--db", db, check=False)
    assert result.returncode == 2 and "score: must be a whole number from 1 to 5" in result.stderr
    result = explorer("rate", "nosuchrun", 3, "--db", db, check=False)
    assert result.returncode == 2 and "no run 'nosuchrun'" in result.stderr
    notdb = tmp_path / "notes.duckdb"
    notdb.write_text("hello")
    result = explorer("runs", "--db", notdb, check=False)
    assert result.returncode == 2 and "not a DuckDB database" in result.stderr


def test_failed_run_exits_1(tmp_path):
    db = tmp_path / "cli.duckdb"
    # a backend parameter the sketch backend does not know is refused before any work
    result = explorer("generate", "kite", "--param", "strength=0.4", "--db", db, check=False)
    assert result.returncode == 2 and "--param strength: " in result.stderr


@pytest.mark.parametrize("command", [[], ["generate"], ["runs"], ["rate"], ["vote"], ["show"], ["fork"], ["demo"]])
def test_help_explains(command):
    result = explorer(*command, "--help")
    assert "Usage" in result.stdout and "--db" in result.stdout or command == []


@pytest.mark.parametrize("command", [["runs"], ["rate", "abc123", "4"], ["vote", "abc123", "def456"], ["annotate", "abc123", "note"],
                                     ["show", "abc123"], ["lineage", "abc123"], ["fork", "abc123", "--set", "seed=2"],
                                     ["export", "--out", "review"]])
def test_commands_that_need_a_log_refuse_a_missing_one(tmp_path, command):
    typo = tmp_path / "tema.duckdb"
    result = explorer(*command, "--db", typo, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no Clip Explorer log at {typo}" in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing may be created: no log, no lock, no media folder, no export"


def test_help_is_plain_text():
    """No reStructuredText markup, and on/off flags show no `<bool>` value."""
    for command in (["generate"], ["runs"], ["lab"], ["export"]):
        text = explorer(*command, "--help").stdout
        assert "``" not in text and "<bool>" not in text, text
    assert "--json" in explorer("runs", "--help").stdout


def test_show_prints_values_not_python_reprs(tmp_path):
    db = tmp_path / "cli.duckdb"
    run = json.loads(explorer("generate", "kite at dusk", *SMALL, "--guidance", 3.333333333, "--param", "pace=0", "--db", db, "--json").stdout)
    text = explorer("show", run["id"], "--db", db).stdout
    assert "prompt: kite at dusk" in text and "'kite at dusk'" not in text
    assert "guidance: 3.333\n" in text and "3.333333333" not in text
    assert 'extra: {"pace": 0}' in text
