"""Real FFmpeg (PyAV) encoding, the recipe inside the MP4, and the content-addressed store."""

import hashlib
import io
import json
import platform
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from explorer import media
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


# -- the same frames give the same file, in every process and on every CPU ---------------------------------------

# Run in a fresh interpreter: optionally restrict FFmpeg to a CPU's SIMD level (as if on another machine: FFmpeg
# picks its conversion kernels from av_get_cpu_flags()), then store two clips and print their hashes.
_PUT_IN_A_FRESH_PROCESS = r"""
import ctypes, sys
import numpy as np
import av
mask, root = int(sys.argv[1]), sys.argv[2]
if mask != -1:
    with open("/proc/self/maps") as maps:
        libavutil = next(line.split()[-1] for line in maps if "libavutil" in line)
    avutil = ctypes.CDLL(libavutil)
    avutil.av_force_cpu_flags(0x80000000 | (avutil.av_get_cpu_flags() & mask))  # AV_CPU_FLAG_FORCE: exactly these
from explorer.media import MediaStore
noise = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)  # the size issue 8 reported
t, y, x = np.ogrid[:12, :66, :130]
ramp = np.stack(np.broadcast_arrays((x * 2 + t * 9) % 256, (y * 3) % 256, (x + y + t * 17) % 256), -1).astype(np.uint8)
store = MediaStore(root)
recipe = {"run": "r1", "request": {"prompt": "kite", "seed": 4}}
print(store.put(noise, fps=8, recipe=recipe).sha256, store.put(ramp, fps=12, recipe=recipe).sha256)
"""

# FFmpeg's x86 CPU flags (libavutil/cpu.h): SSE2-only, SSSE3-only and AVX2-level machines; -1 leaves the CPU alone.
_SSE2 = 0x1 | 0x2 | 0x8 | 0x10
_SSSE3 = _SSE2 | 0x40 | 0x80
_AVX2 = _SSSE3 | 0x100 | 0x200 | 0x4000 | 0x8000 | 0x10000
_MACHINES = [-1, 0, _SSE2, _SSSE3, _AVX2] if platform.machine().lower() in ("x86_64", "amd64") else [-1, 0, -1, -1]


@pytest.mark.skipif(sys.platform != "linux", reason="finds libavutil through /proc/self/maps")
def test_the_same_frames_encode_to_the_same_bytes_in_every_process_and_cpu_level(tmp_path):
    """Issue 8: identical frames stored by separate processes decoded to two different pictures (max diff 53).

    Each process here is a fresh interpreter; all but the first run FFmpeg restricted to a lower SIMD level
    (plain C, SSE2, SSSE3, AVX2), as on other machines, all at once on this one (so also under load).
    """
    processes = [subprocess.Popen([sys.executable, "-c", _PUT_IN_A_FRESH_PROCESS, str(mask), str(tmp_path / f"store{i}")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i, mask in enumerate(_MACHINES)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(out.split())
    for clip in range(2):
        files = [tmp_path / f"store{i}" / shas[clip][:2] / f"{shas[clip]}.mp4" for i, shas in enumerate(results)]
        digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
        assert digests == [shas[clip] for shas in results]  # each file is named by its bytes
        pictures = [read_frames(f) for f in files]
        differences = [int(np.abs(p.astype(int) - pictures[0]).max()) for p in pictures]
        assert len(set(digests)) == 1, f"clip {clip}: {len(set(digests))} different files, max pixel differences {differences}"
        assert differences == [0] * len(files)


def test_the_stream_states_its_colours_and_round_trips_them(tmp_path):
    """The stream's VUI states the matrix that made the YUV (BT.709, limited range), so players convert back with it."""
    path = tmp_path / "c.mp4"
    t, y, x = np.ogrid[:4, :64, :96]
    ramps = np.stack(np.broadcast_arrays(x * 2 + t, y * 3 + t, 200 - x - y + t), -1).astype(np.uint8)  # smooth, no wrap
    path.write_bytes(mp4_from_frames(ramps, fps=8))
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context
        # BT.709 matrix and primaries, sRGB transfer (what the frames are in), limited range
        assert (codec.colorspace, codec.color_primaries, codec.color_trc, codec.color_range) == (1, 1, 13, 1)
    assert np.abs(read_frames(path).astype(int) - ramps).mean() < 1.5
    greys = np.repeat(np.array([0, 16, 64, 128, 200, 235, 255], np.uint8), 16)[None, None, :, None].repeat(16, 1).repeat(3, 3)
    path.write_bytes(mp4_from_frames(greys, fps=8))
    assert np.abs(read_frames(path).astype(int) - greys).max() <= 1  # no colour cast, no range squeeze or stretch


def _cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return flag in next(line for line in cpuinfo if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64") or not _cpu_has("ssse3"),
                    reason="x86-64 with SSSE3: shows why x264 is pinned to SSE2")
def test_x264_runs_the_kernels_every_x86_64_cpu_has(monkeypatch):
    """x264's decisions depend on which SIMD kernels it runs (SSE2-only and SSSE3+ encodes differ), so the store pins
    the x86-64 baseline; the test above cannot emulate another CPU for x264, which reads its CPU itself."""
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    ours = mp4_from_frames(frames, fps=8)
    encodes = {}
    for level in ("SSE2", "SSSE3", "auto"):
        monkeypatch.setattr(media, "_X264_ASM", f"asm={level}")
        encodes[level] = mp4_from_frames(frames, fps=8)
    assert encodes["SSE2"] == ours
    assert encodes["SSSE3"] != ours and encodes["auto"] != ours  # what another (or this) CPU would have made


@pytest.mark.parametrize("width, height, expected", [(320, 192, (160, 96)), (512, 288, (160, 90)), (288, 512, (90, 160)),
                                                     (64, 48, (64, 48)), (1000, 2, (160, 1))])
def test_thumbnails_keep_the_clip_aspect_ratio(width, height, expected):
    assert media.thumbnail_size(width, height) == expected
    frames = gradient_clip(count=10, height=height, width=width)
    thumb = media.thumbnail_from_frames(frames, fps=10)
    image = Image.open(io.BytesIO(thumb))
    assert image.size == expected and image.n_frames == 8  # no bars: exactly the clip's shape, never enlarged
    poster = Image.open(io.BytesIO(media.poster_from_frames(frames)))
    assert poster.size == (width, height)



# -- a disk that fills while a clip is stored (issue 9) -----------------------------------------------------------

def _stored_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def test_a_failed_thumbnail_write_takes_the_poster_with_it(tmp_path, monkeypatch):
    writes = []

    def write_then_fail(path, data):
        writes.append(path.name)
        if path.name.endswith(".thumb.webp"):
            raise OSError(28, "No space left on device")
        real_write(path, data)

    real_write = media._write_atomic
    monkeypatch.setattr(media, "_write_atomic", write_then_fail)
    store = MediaStore(tmp_path / "media")
    with pytest.raises(OSError, match="No space left on device"):
        store.put(gradient_clip(), fps=8, recipe={"run": "r", "request": {}})
    assert writes[0].endswith(".poster.jpg")  # the poster was written first, then removed again
    assert _stored_files(tmp_path / "media") == []


def test_a_disk_that_fills_mid_clip_keeps_no_part_of_it(tmp_path):
    from faults import PAGE, fill, tmpfs

    frames, recipe = gradient_clip(), {"run": "r", "request": {}}
    sizes = MediaStore(tmp_path / "probe").put(frames, fps=8, recipe=recipe)
    pages = lambda path: -(-path.stat().st_size // PAGE)  # noqa: E731 - tmpfs spends whole pages
    mp4_and_poster = (pages(sizes.path) + pages(sizes.poster)) * PAGE  # the same bytes again: room for all but the thumbnail
    with tmpfs(tmp_path / "mnt", size="1m") as mnt:
        store = MediaStore(mnt / "media")
        (mnt / "media").mkdir()
        fill(mnt, leave=mp4_and_poster)
        with pytest.raises(OSError) as caught:
            store.put(frames, fps=8, recipe=recipe)
        assert caught.value.errno == 28  # ENOSPC, at the thumbnail
        assert _stored_files(mnt / "media") == []
        (mnt / "filler").unlink()
        clip = store.put(frames, fps=8, recipe=recipe)  # with room again, the whole clip
        assert _stored_files(mnt / "media") == sorted(str(p.relative_to(mnt / "media")) for p in (clip.path, clip.poster, clip.thumb))
