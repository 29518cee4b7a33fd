"""Conditioning media: what storing a picture or a clip costs, and what the sketch backend's pictures add.

    python bench/conditioning.py [--repeat 7]

Figures, each the median of ``--repeat`` runs on one core, 512×288:
- a picture from an array: PNG + thumbnail + SHA-256 (new), and again (already stored: hashed, not rewritten);
- a frame of a run: decode its 48-frame clip (first time) then store the frame;
- a 48-frame clip from an array: the store's MP4 + poster + thumbnail;
- a run's whole clip as ``video=``: a reference, nothing copied;
- the sketch backend, 48 frames: plain, with ``image``, with ``image`` and ``last_image`` (frames a second);
- ``lab.extend(run)`` against ``lab.fork(run)``, end to end (store, generate, encode, log, metrics).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from common import load, machine, median, ms, pin_to_one_core

import explorer
from explorer import conditioning
from explorer.backends.base import RunControl
from explorer.backends.sketch import SketchBackend

SIZE = dict(width=512, height=288)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    pin_to_one_core()
    print(f"machine: {machine()} (pinned to one core); load average {load()}")
    folder = Path(tempfile.mkdtemp(prefix="bench-conditioning-"))
    lab = explorer.open(folder / "bench.duckdb", author="bench")
    lab.compute_metrics = False
    source = lab.generate("neon city rain", frames=48, steps=4, progress=False, **SIZE)
    rng = np.random.default_rng(0)

    fresh = iter(rng.integers(0, 256, (args.repeat, 288, 512, 3), dtype=np.uint8))
    new_picture = timed(lambda: conditioning.store_fields(lab, {"image": next(fresh)}), args.repeat)
    same = rng.integers(0, 256, (288, 512, 3), dtype=np.uint8)
    conditioning.store_fields(lab, {"image": same})
    stored_picture = timed(lambda: conditioning.store_fields(lab, {"image": same}), args.repeat)
    conditioning._DECODED.clear()
    t = time.perf_counter()
    conditioning.store_fields(lab, {"image": (source, -1)})
    first_frame = time.perf_counter() - t
    frame_again = timed(lambda: conditioning.store_fields(lab, {"image": (source, 10)}), args.repeat)
    clips = iter(rng.integers(0, 256, (args.repeat, 48, 288, 512, 3), dtype=np.uint8) // 4 * 4)
    new_clip = timed(lambda: conditioning.store_fields(lab, {"video": next(clips)}), args.repeat)
    run_clip = timed(lambda: conditioning.store_fields(lab, {"video": source}), args.repeat)
    print(f"store a new picture (array, PNG + thumbnail):      {ms(new_picture)}")
    print(f"the same picture again (hashed, not rewritten):     {ms(stored_picture)}")
    print(f"a frame of a run, first (decode 48 frames + store): {ms(first_frame)}; another frame of it: {ms(frame_again)}")
    print(f"a new 48-frame clip (array -> MP4, poster, thumb):  {ms(new_clip)}")
    print(f"a run's clip as video= (a reference):               {ms(run_clip)}")

    backend = SketchBackend()
    image = conditioning.store_fields(lab, {"image": (source, -1), "last_image": (source, 0)})
    request = source.request.replace(parent=None)
    token = conditioning.current_store.set(lab.log.media)
    try:
        for label, changes in (("plain", {}), ("image", {"image": image["image"]}), ("image + last_image", image)):
            r = request.replace(**changes)
            seconds = timed(lambda: backend.generate(r, RunControl()), args.repeat)
            print(f"sketch 48 frames 512x288, {label:19s} {48 / seconds:6.0f} fps ({ms(seconds)})")
    finally:
        conditioning.current_store.reset(token)

    forked = timed(lambda: lab.fork(source, progress=False), args.repeat)
    extended = timed(lambda: lab.extend(source, progress=False), args.repeat)
    print(f"lab.fork(run) {ms(forked)}; lab.extend(run) {ms(extended)} ({extended / forked:.2f}x)")


if __name__ == "__main__":
    main()
