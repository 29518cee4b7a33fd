"""(c) Sketch backend speed: frames per second at 256×256 (and 512×512) on one core. Target: >= 60 at 256×256.

    python bench/sketch_fps.py [--frames 96]
"""

from __future__ import annotations

import argparse
import time

from common import machine, pin_to_one_core
from explorer.backends.base import RunControl
from explorer.backends.sketch import SketchBackend
from explorer.request import Request

PROMPTS = ["sunset birds flying", "neon city rain", "ocean waves", "spiral galaxy stars", "forest mountains zoom", "candy bubbles bounce"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=96)
    args = parser.parse_args()
    pin_to_one_core()
    print(f"machine: {machine()} (pinned to one core)")
    backend = SketchBackend()
    for size in (256, 512):
        rates = []
        for prompt in PROMPTS:
            request = Request(prompt=prompt, frames=args.frames, width=size, height=size, steps=8)
            t = time.perf_counter()
            backend.generate(request, RunControl())  # the whole backend path, previews included
            rates.append(args.frames / (time.perf_counter() - t))
        print(f"{size}x{size}: {sum(rates) / len(rates):6.0f} fps mean, {min(rates):6.0f} fps slowest prompt ({PROMPTS[rates.index(min(rates))]!r})"
              + ("   (target >= 60)" if size == 256 else ""))


if __name__ == "__main__":
    main()
