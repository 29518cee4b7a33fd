"""The README's demo: a fresh log whose runs table lists its clips, an MP4 per clip."""

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
    # a second demo starts fresh rather than piling up
    subprocess.run([sys.executable, "-m", "explorer.cli", "demo", "--db", str(db)], check=True, capture_output=True, timeout=300)
    assert len(explorer.open(db).runs()) == 8
