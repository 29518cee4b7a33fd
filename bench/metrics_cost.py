"""Clip metrics (explorer.metrics): their cost per clip, and lab.generate with and without them. Target: <= 5 % slower.

Sketch backend, 256×256, 24 frames. The cost of measuring one clip, on one core; then lab.generate with and without
metrics, alternating in one run (these machines are noisy), on one core (the worst case: the measuring thread cannot
overlap the encoder) and on every core. Also: what optical flow at full size would cost.

    python bench/metrics_cost.py [--rounds 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import load, machine, pin_to_one_core

import explorer
from explorer import metrics
from explorer.backends.base import RunControl
from explorer.backends.sketch import SketchBackend
from explorer.request import Request

PROMPTS = ["slow drift", "fast zoom tunnel", "neon city rain", "sunset birds flying", "spiral galaxy stars", "ocean waves"]
FIELDS = dict(frames=24, width=256, height=256, steps=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=16)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin_to_one_core()
    print(f"machine: {machine()}, opencv {metrics._cv2().__version__} (pinned to one core); load {load()}")

    clips = [SketchBackend().generate(Request(prompt=p, **FIELDS), RunControl()) for p in PROMPTS]
    metrics.measure(clips[0])  # OpenCV's first call
    per_clip = {p: statistics.median(_timed(lambda c=c: metrics.measure(c)) for _ in range(5)) for p, c in zip(PROMPTS, clips)}
    print(f"measure(), 256x256 x 24 frames: median {statistics.median(per_clip.values()) * 1000:.1f} ms per clip "
          f"(slowest {max(per_clip.values()) * 1000:.1f} ms, {max(per_clip, key=per_clip.get)!r})")

    full = metrics.FLOW_SIDE
    try:
        metrics.FLOW_SIDE = 256
        at_full = [statistics.median(_timed(lambda c=c: metrics.measure(c)) for _ in range(3)) for c in clips]
        motion_full = [metrics.measure(c)["motion"] for c in clips]
    finally:
        metrics.FLOW_SIDE = full
    motion_small = [metrics.measure(c)["motion"] for c in clips]
    print(f"  with flow at full size (256 px) instead of {full} px: {statistics.median(at_full) * 1000:.1f} ms per clip; "
          f"motion's rank order of the {len(clips)} clips {'the same' if _order(motion_full) == _order(motion_small) else 'differs'}")

    with tempfile.TemporaryDirectory() as folder:
        lab = explorer.open(Path(folder) / "bench.duckdb", author="bench")
        for p in PROMPTS[:2]:
            lab.generate(p, progress=False, **FIELDS)  # warm: the log's first writes, the encoder, the measuring thread
        run = lab.runs(limit=1).id[0]
        values = metrics.measure(clips[0])
        store = statistics.median(_timed(lambda: metrics.store(lab.log, run, values)) for _ in range(10))
        print(f"  the metrics rows' write: {store * 1000:.1f} ms per clip")
        # Metrics are measured in a thread while the clip is encoded: on one core that overlap buys nothing (the
        # worst case), on two or more it hides most of the cost. Both, alternating with and without in each round.
        _every_thread_on(cores[:1])
        _side_by_side(lab, args.rounds, "one core")
        if len(cores) > 1:
            _every_thread_on(cores)
            _side_by_side(lab, args.rounds, f"{len(cores)} cores")
        lab.log.close()


def _every_thread_on(cores: list[int]) -> None:
    """Affinity is per thread on Linux: move the measuring thread too, not only this one."""
    for task in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(task), cores)


def _side_by_side(lab, rounds: int, where: str) -> None:
    with_m, without = [], []
    for i in range(rounds):
        prompt = PROMPTS[i % len(PROMPTS)]
        for on in ((True, False) if i % 2 == 0 else (False, True)):  # alternate which goes first
            lab.compute_metrics = on
            seconds = _timed(lambda p=prompt, s=i: lab.generate(p, seed=s, progress=False, **FIELDS))
            (with_m if on else without).append(seconds)
    a, b = statistics.median(with_m), statistics.median(without)
    ratios = sorted(x / y for x, y in zip(with_m, without))  # each round's pair: the same prompt and seed
    low, high = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
    print(f"lab.generate on {where}, {rounds} rounds each, alternating: with metrics {a * 1000:.0f} ms, without {b * 1000:.0f} ms "
          f"median ({(a / b - 1) * 100:+.1f} %); the rounds' ratios: median {(statistics.median(ratios) - 1) * 100:+.1f} %, "
          f"quartiles {(low - 1) * 100:+.1f} … {(high - 1) * 100:+.1f} %   (target <= +5 %)")


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _order(values: list[float]) -> list[int]:
    return sorted(range(len(values)), key=values.__getitem__)


if __name__ == "__main__":
    main()
