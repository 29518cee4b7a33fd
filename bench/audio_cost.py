"""What sound costs: muxing an AAC track into a clip, checking a sound file in a request, and each audio curve.

Encodes the same sketch clips with and without a track (``MediaStore.put``: MP4 + poster + thumbnail + hash),
interleaved, median of ``--repeat``; then times ``Request(audio=path)`` (probe + SHA-256), librosa's first use in a
process (imports, numba compiling), and each curve kind (cold: decoded and analysed; warm: cached), on a 30 s click
track and a 60 s noisy one.

    python bench/audio_cost.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from common import load, machine, median
from explorer import audio
from explorer.backends.sketch_scene import Scene
from explorer.media import MediaStore
from explorer.request import Request

CLIPS = [(48, 256, 256, 8), (48, 512, 288, 24), (240, 256, 256, 24)]  # frames, width, height, fps


def write_wav(path: Path, seconds: float, rate: int = 44_100, noise: bool = False) -> Path:
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.1, int(seconds * rate)).astype(np.float32) if noise else np.zeros(int(seconds * rate), np.float32)
    for t in np.arange(0.5, seconds, 0.5):
        y[int(t * rate):int(t * rate) + 400] += np.hanning(400) * 0.8
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    print(machine())
    print(f"load average: {load()}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        track = write_wav(root / "track.wav", 30.0)
        long_track = write_wav(root / "long.wav", 60.0, noise=True)
        store = MediaStore(root / "media")

        print("\nMuxing: MediaStore.put with and without a track (median of", args.repeat, "interleaved)")
        print("| clip | silent | with sound | ratio | + KB |")
        print("| --- | --- | --- | --- | --- |")
        for frames, width, height, fps in CLIPS:
            clip = Scene.from_prompt("neon city rain", 1).render_clip(frames, width, height)
            silent, voiced = [], []
            for i in range(args.repeat):
                silent.append(timed(lambda: store.put(clip, fps, {"run": f"s{i}"})))
                voiced.append(timed(lambda: store.put(clip, fps, {"run": f"v{i}"}, audio=track)))
            plain = store.put(clip, fps, {"run": "size"})
            loud = store.put(clip, fps, {"run": "size"}, audio=track)
            print(f"| {frames} frames {width}×{height} at {fps} fps ({frames / fps:g} s) | {median(silent) * 1000:.0f} ms "
                  f"| {median(voiced) * 1000:.0f} ms | {median(voiced) / median(silent):.2f}× | {(loud.bytes - plain.bytes) / 1024:.1f} |")

        print("\nChecking a sound file in a request (probe + SHA-256), median of", args.repeat)
        for path in (track, long_track):
            size = path.stat().st_size / 2**20
            spent = median([timed(lambda: Request(prompt="a kite", audio=path)) for _ in range(args.repeat)])
            print(f"  {path.name} ({size:.1f} MB): {spent * 1000:.1f} ms")

        imported = timed(lambda: __import__("librosa"))  # lazy: its submodules load, and numba compiles, on first use
        import librosa

        y = np.random.default_rng(0).normal(0, 0.1, 22_050).astype(np.float32)
        onset = timed(lambda: librosa.onset.onset_strength(y=y, sr=22_050, hop_length=audio.HOP))
        beats = timed(lambda: librosa.beat.beat_track(y=y, sr=22_050, hop_length=audio.HOP))
        rms = timed(lambda: librosa.feature.rms(y=y, hop_length=audio.HOP))
        print(f"\nlibrosa, once per process: import {imported:.2f} s; first onset strength {onset:.2f} s, first beat track {beats:.2f} s, "
              f"first RMS {rms:.2f} s (submodule imports and numba compiling)")
        print("\nCurves, cold (decode + analysis) and warm (cached): one per frame")
        print("| sound | clip | kind | cold | warm |")
        print("| --- | --- | --- | --- | --- |")
        for path in (track, long_track):
            for frames, fps in ((48, 8), (1000, 24)):
                for kind in audio.KINDS:
                    curve = audio.curve(path, kind, low=3, high=9)
                    cold = timed(lambda: Request(prompt="a kite", frames=frames, fps=fps, keyframes={"guidance": curve}))
                    warm = timed(lambda: Request(prompt="a kite", frames=frames, fps=fps, keyframes={"guidance": curve}))
                    print(f"| {path.name} | {frames} frames at {fps} fps ({frames / fps:.1f} s) | {kind} | {cold * 1000:.0f} ms | {warm * 1000:.1f} ms |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
