"""(a) What a clip costs beyond encoding it: validate, encode 16×512×512, poster, thumbnail, hash, log row.

Both sides encode the same frames with the same x264 preset and CRF (the one the
store picks for this clip); ours also pays for what makes its bytes the same on
every CPU (bit-exact RGB → YUV, x264 on its SSE2 kernels). They alternate in one
run so machine noise hits both alike. Target: ratio ≤ 1.2×.

    python bench/bookkeeping.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from common import machine, median
from explorer import media
from explorer.backends.sketch_scene import Scene
from explorer.log import Log
from explorer.request import Request


def bare_encode(frames: np.ndarray, path: Path) -> None:
    """What anyone would write: PyAV, libx264, same preset and CRF, no bookkeeping."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"preset": media.PRESET, "crf": str(media.crf_for(len(frames), 8)), "threads": "1"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def ours(frames: np.ndarray, log: Log, fields: dict) -> None:
    request = Request(**fields)                           # validate
    run_id = log.start_run(request, author="bench")      # log row (running)
    clip = log.media.put(frames, request.fps, {"run": run_id, "request": request.to_dict()})  # encode, hash, poster, thumb
    log.finish_run(run_id, "succeeded", clip=clip, duration_s=0.0)  # log row (outcome) + media row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    fields = dict(prompt="neon city rain", seed=1, frames=16, width=512, height=512, fps=8)
    frames = Scene.from_prompt(fields["prompt"], fields["seed"]).render_clip(16, 512, 512)
    with tempfile.TemporaryDirectory() as folder:
        log = Log(Path(folder) / "bench.duckdb")
        ours(frames, log, fields)  # warm up both paths
        bare_encode(frames, Path(folder) / "warm.mp4")
        bare_times, our_times = [], []
        for i in range(args.repeat):
            t = time.perf_counter()
            bare_encode(frames, Path(folder) / f"bare{i}.mp4")
            bare_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            ours(frames, log, {**fields, "seed": i + 2})
            our_times.append(time.perf_counter() - t)
        log.close()
    bare, mine = median(bare_times), median(our_times)
    print(f"machine: {machine()}")
    print(f"16 frames 512x512, median of {args.repeat}, alternating")
    print(f"  bare PyAV encode          {bare * 1000:7.1f} ms")
    print(f"  explorer bookkeeping      {mine * 1000:7.1f} ms  (validate + encode + poster + thumbnail + sha256 + log rows)")
    print(f"  ratio                     {mine / bare:7.2f}x   (target <= 1.2x)")


if __name__ == "__main__":
    main()
