"""Real FFmpeg (PyAV) encoding, the recipe inside the MP4, and the content-addressed store."""

import hashlib
import json

import av
import numpy as np
import pytest

from explorer.media import MediaError, MediaStore, mp4_from_frames, read_frames, read_recipe


def gradient_clip(count=8, height=48, width=64):
    t = np.arange(count)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    channels = np.broadcast_arrays((x * 4 + t * 8) % 256, (y * 5 + t * 0) % 256, (x + y + t * 16) % 256)
    frames = np.stack(channels, axis=-1)
    return frames.astype(np.uint8)


def test_mp4_is_browser_playable_h264(tmp_path):
    frames = gradient_clip()
    data = mp4_from_frames(frames, fps=8)
    path = tmp_path / "c.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 8
    # faststart: the index (moov) comes before the media data (mdat), so playback starts at once
    assert data.index(b"moov") < data.index(b"mdat")
    decoded = read_frames(path)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < 12  # lossy, but the same picture


def test_recipe_travels_inside_the_file(tmp_path):
    store = MediaStore(tmp_path / "media")
    recipe = {"run": "abc123", "request": {"prompt": "kite", "seed": 4}}
    clip = store.put(gradient_clip(), fps=8, recipe=recipe)
    assert read_recipe(clip.path) == recipe


def test_foreign_video_has_no_recipe(tmp_path):
    path = tmp_path / "other.mp4"
    path.write_bytes(mp4_from_frames(gradient_clip(), fps=8))
    with pytest.raises(MediaError, match="carries no Clip Explorer recipe"):
        read_recipe(path)
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(MediaError, match="not a video file"):
        read_recipe(junk)
    with pytest.raises(MediaError, match="no such file"):
        read_recipe(tmp_path / "missing.mp4")


def test_store_names_files_by_hash_with_poster_and_thumbnail(tmp_path):
    store = MediaStore(tmp_path / "media")
    clip = store.put(gradient_clip(), fps=8, recipe={"run": "r", "request": {}})
    assert clip.path.name == f"{clip.sha256}.mp4"
    assert hashlib.sha256(clip.path.read_bytes()).hexdigest() == clip.sha256
    assert clip.poster.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG
    thumb = clip.thumb.read_bytes()
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
    assert store.verify(clip.sha256)
    assert not list((tmp_path / "media").rglob(".tmp-*"))  # atomic writes leave no temp files


def test_verify_detects_a_changed_file(tmp_path):
    store = MediaStore(tmp_path / "media")
    clip = store.put(gradient_clip(), fps=8)
    clip.path.write_bytes(b"tampered")
    assert not store.verify(clip.sha256)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "ABC", "a" * 63, "g" * 64, ""])
def test_store_refuses_anything_but_a_hash(tmp_path, name):
    with pytest.raises(MediaError, match="not a media hash"):
        MediaStore(tmp_path).path(name)


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((4, 47, 64, 3), np.uint8), "even width and height, got 64x47"),
        (np.zeros((4, 48, 64, 3), np.float32), "must be uint8"),
        (np.zeros((48, 64, 3), np.uint8), "shape \\(T, H, W, 3\\)"),
        (np.zeros((0, 48, 64, 3), np.uint8), "empty"),
        ([[0]], "numpy array"),
    ],
)
def test_bad_frames_are_refused(frames, message, tmp_path):
    with pytest.raises(MediaError, match=message):
        MediaStore(tmp_path).put(frames, fps=8)
