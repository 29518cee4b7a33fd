"""The README's demo: clips in the log everything else reads by default, an MP4 per clip, nothing ever deleted."""

import os
import subprocess
import sys

import av

import explorer


def test_demo_leaves_a_log_and_playable_clips(tmp_path):
    db = tmp_path / "demo" / "explorer.duckdb"
    result = subprocess.run([sys.executable, "-m", "explorer.cli", "demo", "--db", str(db)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "runs logged" in result.stdout and "explorer runs --db" in result.stdout
    lab = explorer.open(db)
    runs = lab.runs()
    assert len(runs) == 8 and set(runs.status) == {"succeeded"}
    for media in runs.media:
        with av.open(media) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p" and stream.frames == 24
    assert runs.ratings.sum() == 5 and len(lab.votes()) == 1
    # the demo writes into the shared default log, so a second demo keeps everything and makes nothing again
    mine = lab.generate("my own take", frames=4, width=64, height=64, progress=False)
    again = subprocess.run([sys.executable, "-m", "explorer.cli", "demo", "--db", str(db)], check=True, capture_output=True, text=True, timeout=300)
    assert "already in" in again.stdout
    assert len(explorer.open(db).runs()) == 9 and mine.id in set(explorer.open(db).runs().id)


def test_demo_uses_the_default_log(tmp_path):
    """No --db: the demo writes ./explorer.duckdb (or EXPLORER_DB), the log `explorer lab`, the tours and the panel read."""
    env = {k: v for k, v in os.environ.items() if k != "EXPLORER_DB"}
    result = subprocess.run([sys.executable, "-m", "explorer.cli", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(explorer.open(tmp_path / "explorer.duckdb").runs()) == 8
    assert "explorer lab" in result.stdout and "--db" not in result.stdout  # the next steps need no paths
