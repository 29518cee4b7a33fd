"""Sound: audio= stored by hash and muxed into the clip as AAC; curves from the audio (librosa) driving keyframes.

Test sounds are made here: clicks at known times in a WAV (the `wave` module), a rising tone as FLAC (PyAV).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import explorer
from explorer import limits
from explorer.audio import AAC_FRAME, AAC_RATE, SUFFIX, beat_times
from explorer.media import read_frames, read_recipe, write_mp4
from explorer.request import Request, RequestError

RATE = 22_050
CLICKS = np.arange(0.5, 6.0, 0.5)  # 120 beats a minute, the first half a second in
CLIP = dict(frames=24, fps=8, width=64, height=48, steps=2, seed=3)


def write_clicks(path: Path, seconds: float = 6.0, times=CLICKS) -> Path:
    """A mono 16-bit WAV, silent but for a short, loud burst at each of ``times``."""
    y = np.zeros(int(seconds * RATE), np.float32)
    burst = np.hanning(220) * np.sin(np.arange(220) * 0.7) * 0.9
    for t in times:
        start = int(t * RATE)
        y[start:start + len(burst)] += burst[: len(y) - start]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def write_rising_tone(path: Path, seconds: float = 4.0) -> Path:
    """A 440 Hz tone from near silence to full scale, as FLAC (a format that is not WAV)."""
    rate = 44_100
    t = np.arange(int(seconds * rate)) / rate
    y = (np.sin(2 * np.pi * 440 * t) * np.geomspace(0.001, 0.9, len(t))).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=rate)
        stream.codec_context.layout = "mono"
        stream.codec_context.format = "s16"
        samples = (y * 32767).astype(np.int16)[None, :]
        for start in range(0, samples.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 4096]), format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture
def clicks(tmp_path):
    return write_clicks(tmp_path / "clicks.wav")


@pytest.fixture
def file_lab(tmp_path):
    lab = explorer.open(tmp_path / "lab.duckdb", author="tester")
    yield lab
    lab.log.close()


def audio_of(path) -> tuple[str, float, int]:
    """(codec, seconds of decoded sound, channels) of an MP4's audio track."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec, channels = stream.codec_context.name, stream.codec_context.channels
        samples = sum(frame.samples for frame in container.decode(stream))
    return codec, samples / AAC_RATE, channels


def streams_of(path) -> list[str]:
    with av.open(str(path)) as container:
        return [stream.type for stream in container.streams]


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- the track in the clip ------------------------------------------------------------------------------------


@pytest.mark.parametrize("frames, fps", [(24, 8), (37, 24), (5, 30)])
def test_the_clip_carries_the_sound_as_aac_trimmed_to_its_duration(file_lab, clicks, frames, fps):
    run = file_lab.generate("neon city rain", progress=False, audio=clicks, **{**CLIP, "frames": frames, "fps": fps}).raise_for_status()
    assert streams_of(run.media) == ["video", "audio"]
    codec, seconds, channels = audio_of(run.media)
    assert codec == "aac" and channels == 2
    assert abs(seconds - frames / fps) <= max(1 / fps, AAC_FRAME / AAC_RATE)
    # the video is the clip it would be without sound
    silent = file_lab.generate("neon city rain", progress=False, **{**CLIP, "frames": frames, "fps": fps})
    assert np.array_equal(read_frames(run.media), read_frames(silent.media))


def test_a_short_sound_is_padded_with_silence_to_the_clip(file_lab, tmp_path):
    short = write_clicks(tmp_path / "short.wav", seconds=1.0, times=[0.25])
    run = file_lab.generate("a kite", progress=False, audio=short, **CLIP)  # 3 s of clip, 1 s of sound
    _, seconds, _ = audio_of(run.media)
    assert abs(seconds - 3.0) <= AAC_FRAME / AAC_RATE


def test_any_format_ffmpeg_reads(file_lab, tmp_path):
    tone = write_rising_tone(tmp_path / "tone.flac")
    run = file_lab.generate("a kite", progress=False, audio=tone, **CLIP)
    assert audio_of(run.media)[0] == "aac" and run.request.audio["name"] == "tone.flac"


def test_a_silent_clip_is_what_it_was_before_sound(file_lab, tmp_path):
    request = Request(prompt="a kite", **CLIP)
    assert "audio" not in request.to_dict() and request.audio is None
    run = file_lab.generate(request, progress=False)
    assert streams_of(run.media) == ["video"]
    assert "audio" not in read_recipe(run.media)["request"]
    # the same arguments as before the audio parameter existed, the same bytes
    frames = read_frames(run.media)
    write_mp4(tmp_path / "a.mp4", frames, 8, {"request": request.to_dict()})
    write_mp4(tmp_path / "b.mp4", frames, 8, {"request": request.to_dict()}, audio=None)
    assert sha(tmp_path / "a.mp4") == sha(tmp_path / "b.mp4")


def test_same_sound_same_bytes_in_another_process(tmp_path, clicks):
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    write_mp4(tmp_path / "here.mp4", frames, 8, {"run": "r"}, audio=clicks)
    code = ("import numpy as np, sys; from explorer.media import write_mp4; "
            "write_mp4(sys.argv[1], np.zeros((8, 32, 32, 3), np.uint8), 8, {'run': 'r'}, audio=sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there.mp4"), str(clicks)], check=True, timeout=120)
    assert sha(tmp_path / "here.mp4") == sha(tmp_path / "there.mp4")


# -- stored by hash, recorded with the run, found again -----------------------------------------------------------


def test_the_sound_is_stored_by_hash_and_survives_fork_rerun_and_the_recipe(lab, tmp_path, clicks):
    digest = sha(clicks)
    run = lab.generate("a kite", progress=False, audio=str(clicks), **CLIP).raise_for_status()
    assert run.request.audio == {"sha256": digest, "name": "clicks.wav"}
    stored = lab.log.media.path(digest, SUFFIX)
    assert stored.read_bytes() == clicks.read_bytes()
    assert lab.run(run.id).request.audio == run.request.audio  # logged with the run
    assert read_recipe(run.media)["request"]["audio"] == run.request.audio  # and in the clip file
    clicks.unlink()  # from here on only the store has it

    child = lab.fork(run, seed=4, progress=False).raise_for_status()
    assert child.request.audio == run.request.audio and audio_of(child.media)[0] == "aac"
    again = lab.rerun(run, progress=False)
    assert again.request.audio == run.request.audio and streams_of(again.media) == ["video", "audio"]
    from_file = lab.fork(str(run.media), progress=False).raise_for_status()
    assert from_file.request.audio == run.request.audio and from_file.request.parent == run.id
    hushed = lab.fork(run, audio=None, progress=False)  # a fork can drop the sound
    assert hushed.request.audio is None and streams_of(hushed.media) == ["video"]


def test_a_clip_file_brings_its_sound_into_another_log(tmp_path, clicks):
    first = explorer.open(tmp_path / "first.duckdb")
    run = first.generate("a kite", progress=False, audio=clicks, **CLIP)
    first.log.close()
    clicks.unlink()
    other = explorer.open(tmp_path / "other.duckdb")
    child = other.fork(str(run.media), seed=9, progress=False).raise_for_status()
    assert child.request.audio == run.request.audio and child.request.parent is None  # a new family here
    assert other.log.media.path(run.request.audio["sha256"], SUFFIX).is_file()  # copied into this log's store
    other.log.close()


def test_a_stored_track_no_store_holds_is_refused_before_any_work(file_lab):
    ref = {"sha256": "ab" * 32, "name": "lost.wav"}
    with pytest.raises(RequestError, match=r"^audio: track abababababab… \(lost.wav\) is not in this log's media store"):
        file_lab.generate("a kite", progress=False, audio=ref, **CLIP)
    assert file_lab.runs().empty


# -- bad input ------------------------------------------------------------------------------------------


def test_bad_sound_files_are_named_before_any_work(file_lab, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a sound at all\n" * 50)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk")
    video_only = tmp_path / "silent.mp4"
    write_mp4(video_only, np.zeros((4, 32, 32, 3), np.uint8), 8)
    cases = {
        tmp_path / "missing.wav": "no such file",
        broken: "not a sound file FFmpeg can read",
        text: "has no audio stream (FFmpeg reads it as tty)",  # FFmpeg takes text for ANSI art: a video
        video_only: "has no audio stream (FFmpeg reads it as mov,mp4",
        tmp_path: "not a file",
    }
    for path, expected in cases.items():
        with pytest.raises(RequestError) as caught:
            file_lab.generate("a kite", progress=False, audio=path, **CLIP)
        assert str(caught.value).startswith("audio: ") and expected in str(caught.value), str(caught.value)
    with pytest.raises(RequestError, match=r"^audio: must be the path of a sound file \(got int\)"):
        Request(prompt="a kite", audio=3)
    with pytest.raises(RequestError, match=r"^audio: must be a path or a stored track"):
        Request(prompt="a kite", audio={"sha256": "nope"})
    assert file_lab.runs().empty


def test_bad_curves_are_named(file_lab, clicks, tmp_path):
    with pytest.raises(RequestError, match=r"audio_curve: kind must be one of onset, beats, loudness \(got 'tempo'\)"):
        file_lab.audio_curve(clicks, "tempo")
    with pytest.raises(RequestError, match=r"audio_curve: .*missing.wav: no such file"):
        file_lab.audio_curve(tmp_path / "missing.wav")
    with pytest.raises(RequestError, match=r"audio_curve.high: must be a finite number"):
        file_lab.audio_curve(clicks, high=float("nan"))
    onset = file_lab.audio_curve(clicks, "onset", low=3, high=90)
    with pytest.raises(RequestError, match=r"^keyframes.guidance: the audio curve's high must be between 0 and 50 \(got 90.0\)$"):
        Request(prompt="a kite", **CLIP, keyframes={"guidance": onset})
    with pytest.raises(RequestError, match=r"^keyframes.prompt: an audio curve drives numbers only \(number fields: guidance\)"):
        Request(prompt="a kite", **CLIP, keyframes={"prompt": file_lab.audio_curve(clicks)})


def test_without_librosa_the_error_says_how_to_get_it(file_lab, clicks, monkeypatch):
    monkeypatch.setitem(sys.modules, "librosa", None)  # import librosa now raises ImportError
    with pytest.raises(ImportError, match=r"pip install clip-explorer\[audio\]"):
        file_lab.audio_curve(clicks, "onset")


def test_import_explorer_does_not_import_librosa():
    code = "import sys, explorer, explorer.audio, explorer.cli; print('librosa' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.split() == ["False", "False"]


# -- curves -----------------------------------------------------------------------------------------------------


def test_beats_are_found_near_the_clicks(clicks):
    found = beat_times(clicks, 6.0)
    assert len(found) >= len(CLICKS) - 2
    for t in found:  # every beat is on a click (within a 24 fps frame) ...
        assert np.min(np.abs(CLICKS - t)) < 1 / 24, (t, found)
    hit = [np.min(np.abs(found - t)) < 1 / 24 for t in CLICKS]
    assert sum(hit) >= len(CLICKS) - 2  # ... and nearly every click is a beat
    curve = explorer.audio.curve(clicks, "beats").values(frames=144, fps=24)
    marked = np.flatnonzero(curve) / 24
    assert set(curve) <= {0.0, 1.0} and len(marked) == len(found)
    assert all(np.min(np.abs(CLICKS - t)) < 2 / 24 for t in marked)


def test_an_onset_curve_drives_guidance_and_is_stored_as_numbers(file_lab, clicks):
    curve = file_lab.audio_curve(clicks, "onset", low=3, high=9)
    run = file_lab.generate("neon city rain", progress=False, audio=clicks, keyframes={"guidance": curve}, **CLIP).raise_for_status()
    track = run.request.keyframes["guidance"]
    assert list(track) == list(range(CLIP["frames"])) and all(type(v) is float for v in track.values())
    assert min(track.values()) == 3.0 and max(track.values()) == 9.0
    loud = [frame for frame, value in track.items() if value > 6]
    assert loud and all(np.min(np.abs(CLICKS - frame / CLIP["fps"])) < 1 / CLIP["fps"] for frame in loud)  # peaks on clicks
    # numbers all the way: the log, the clip file and JSON hold them, and a fork needs neither librosa nor analysis
    logged = file_lab.run(run.id).request
    assert logged.keyframes == run.request.keyframes
    recipe = read_recipe(run.media)["request"]
    assert recipe["keyframes"]["guidance"] == {str(f): v for f, v in track.items()}
    assert Request.from_dict(json.loads(json.dumps(run.request.to_dict()))) == run.request
    # and it drives the clip: the frames differ from the same clip at a steady guidance
    steady = file_lab.generate("neon city rain", progress=False, **CLIP)
    assert not np.array_equal(read_frames(run.media), read_frames(steady.media))
    child = file_lab.fork(run, seed=5, progress=False)
    assert child.request.keyframes == run.request.keyframes


def test_a_curve_follows_the_clips_own_fps_and_frames(clicks):
    curve = explorer.audio.curve(clicks, "onset")
    for frames, fps in [(12, 4), (60, 24)]:
        keys = Request(prompt="a kite", frames=frames, fps=fps, keyframes={"guidance": curve}).keyframes["guidance"]
        assert len(keys) == frames
        first_click = min(frame for frame, value in keys.items() if value > 0.5)
        assert first_click == int(0.5 * fps)


def test_loudness_rises_with_a_rising_tone(tmp_path):
    tone = write_rising_tone(tmp_path / "tone.flac")
    values = explorer.audio.curve(tone, "loudness", low=0, high=10).values(frames=32, fps=8)
    assert values[0] == pytest.approx(0) and values[-1] == pytest.approx(10)
    assert np.all(np.diff(values) > -0.2)  # rising (within the wobble of a frame's window)


def test_a_curve_may_key_every_frame_of_the_longest_clip(clicks):
    longest = int(limits.RANGES["frames"][1])
    keys = Request(prompt="a kite", frames=longest, fps=120, keyframes={"guidance": explorer.audio.curve(clicks)}).keyframes["guidance"]
    assert len(keys) == longest == limits.KEYFRAMES_PER_FRAME
    with pytest.raises(RequestError, match=rf"keyframes.prompt: at most {limits.KEYFRAMES} keys"):
        Request(prompt="a kite", frames=100, keyframes={"prompt": {i: "a" for i in range(limits.KEYFRAMES + 1)}})


# -- the CLI ----------------------------------------------------------------------------------------------------


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "explorer.cli", *map(str, args)], capture_output=True, text=True, timeout=180,
                            env={**os.environ, "COLUMNS": "200"})
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def test_cli_generate_with_audio_and_a_curve(tmp_path, clicks):
    db = tmp_path / "cli.duckdb"
    small = ["--frames", 16, "--size", "64x48", "--steps", 2, "--db", db]
    run = json.loads(cli("generate", "a kite", *small, "--audio", clicks, "--audio-curve", "guidance=onset:3:9", "--json").stdout)
    assert run["audio"] == {"sha256": sha(clicks), "name": "clicks.wav"}
    assert len(run["keyframes"]["guidance"]) == 16 and max(run["keyframes"]["guidance"].values()) == 9.0
    assert audio_of(run["media"])[0] == "aac"
    text = cli("fork", run["id"], "--set", "seed=2", "--db", db).stdout
    assert "audio: clicks.wav" in text and "keyframes: guidance@0..15" in text
    other = write_clicks(tmp_path / "other.wav", seconds=3.0, times=[1.0])
    swapped = json.loads(cli("fork", run["id"], "--set", f"audio={other}", "--db", db, "--json").stdout)
    assert swapped["audio"] == {"sha256": sha(other), "name": "other.wav"} and swapped["parent"] == run["id"]

    missing = cli("generate", "a kite", *small, "--audio", tmp_path / "nope.wav", check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "--audio: " in missing.stderr and "no such file" in missing.stderr
    lonely = cli("generate", "a kite", *small, "--audio-curve", "guidance=onset", check=False)
    assert lonely.returncode == 2 and "--audio-curve: needs --audio" in lonely.stderr
    garbled = cli("generate", "a kite", *small, "--audio", clicks, "--audio-curve", "guidance=onset:3", check=False)
    assert garbled.returncode == 2 and "--audio-curve: must look like FIELD=KIND" in garbled.stderr
    assert "--audio" in cli("generate", "--help").stdout


def test_log_copy_takes_the_sound_tracks_along(tmp_path, clicks):
    from explorer.log.copy import copy_log

    source = explorer.open(tmp_path / "source.duckdb")
    run = source.generate("a kite", progress=False, audio=clicks, **CLIP)
    source.generate("a boat", progress=False, **CLIP)
    target = explorer.open(tmp_path / "target.duckdb")
    copy_log(source.log, target.log)
    digest = run.request.audio["sha256"]
    assert target.log.media.path(digest, SUFFIX).read_bytes() == clicks.read_bytes()
    clicks.unlink()
    assert target.fork(run.id, seed=8, progress=False).ok  # the copy's store has the track
    source.log.close()
    target.log.close()


def test_the_export_page_marks_the_clips_with_sound(file_lab, tmp_path, clicks):
    from html.parser import HTMLParser

    from explorer.export import export

    loud = file_lab.generate("a kite", progress=False, audio=clicks, **CLIP)
    quiet = file_lab.generate("a boat", progress=False, **CLIP)
    summary = export(file_lab, tmp_path / "site")

    class Data(HTMLParser):
        text, inside = "", False

        def handle_starttag(self, tag, attrs):
            self.inside = tag == "script" and dict(attrs).get("type") == "application/json"

        def handle_data(self, data):
            self.text += data if self.inside else ""

        def handle_endtag(self, tag):
            self.inside = False

    parser = Data()
    parser.feed(summary.index.read_text(encoding="utf-8"))
    clips = {clip["id"]: clip for clip in json.loads(parser.text)["clips"]}
    assert clips[loud.id]["sound"] == "clicks.wav" and clips[quiet.id]["sound"] is None
    assert streams_of(tmp_path / "site" / clips[loud.id]["video"]) == ["video", "audio"]  # the page's copy has the track
