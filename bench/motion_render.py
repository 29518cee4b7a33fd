"""The cost of the motion brush: rendering a motion plan into a control video against a tiny pipeline's run, side by side.

In one run, alternating (median of --repeat):
  render    explorer.backends.diffusers.motion.call_arguments: the first frame, the cut-and-drag video and mask
            (explorer.motion.render) and their PIL images, for the frames the pipeline makes
  pipeline  DiffusersBackend.generate of the same request on a tiny WanVACEPipeline (random weights, built here),
            which includes the render
Target: render <= 5 % of the pipeline's run. Also printed: the sketch backend with and without the same plan.

    python bench/motion_render.py [--frames 17] [--size 64] [--steps 4] [--repeat 5]
    python bench/motion_render.py --model FOLDER_OR_HUB_ID --device cuda --dtype bf16 --size 480 --frames 49 --steps 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import load, machine, median  # noqa: E402
from explorer.backends.base import RunControl  # noqa: E402
from explorer.backends.sketch import SketchBackend  # noqa: E402
from explorer.request import Request  # noqa: E402

# Two regions (one drifting right and coming closer, one rising with ambient wobble) and a slow camera zoom.
PLAN = {"regions": [{"region": [[0.1, 0.5], [0.45, 0.45], [0.5, 0.9], [0.15, 0.95]], "horizontal": 0.3, "proximity": 0.4},
                    {"region": [[0.6, 0.1], [0.9, 0.15], [0.85, 0.4], [0.55, 0.35]], "vertical": 0.2, "ambient": 0.5}],
        "camera": {"zoom": 0.2, "pan_x": 0.05}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="WanVACEPipeline folder or hub id (default: a tiny one built here)")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    args = parser.parse_args()

    import torch

    from explorer.backends.diffusers import DiffusersBackend
    from explorer.backends.diffusers import motion as diffusers_motion

    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            import tiny_pipelines

            model = str(tiny_pipelines.build_conditioning(Path(folder) / "vace", "wan_vace"))
        extra = {"preview_rate": 0, **({"max_sequence_length": 16} if args.model is None else {}),
                 **({"device": args.device} if args.device else {}), **({"dtype": args.dtype} if args.dtype else {})}
        request = Request(prompt="a calm desert of boxes", seed=1, frames=args.frames, width=args.size, height=args.size,
                          steps=args.steps, guidance=1.0, backend="diffusers", model=model, extra=extra, motion=PLAN)
        backend = DiffusersBackend()
        backend.check(request)
        backend.generate(request, RunControl())  # load and warm up
        pipe = backend.cache.get(backend.cache.keys()[0])[0]
        device = backend.cache.keys()[0].device

        def render() -> None:
            diffusers_motion.call_arguments(request, pipe, {"num_frames": request.frames})

        def pipeline() -> None:
            backend.generate(request, RunControl())

        timings: dict[str, list[float]] = {"render": [], "pipeline": []}
        for _ in range(args.repeat):
            for name, call in (("render", render), ("pipeline", pipeline)):
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                started = time.perf_counter()
                call()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                timings[name].append(time.perf_counter() - started)

        sketch = SketchBackend()
        still_request = Request(prompt="a calm desert of boxes", seed=1, frames=48, width=256, height=256, steps=4)
        moved_request = still_request.replace(motion=PLAN)
        sketch_times: dict[str, list[float]] = {"still": [], "moved": []}
        for _ in range(args.repeat):
            for name, item in (("still", still_request), ("moved", moved_request)):
                started = time.perf_counter()
                sketch.generate(item, RunControl())
                sketch_times[name].append(time.perf_counter() - started)

    # A real Wan VACE clip's size (832x480, 81 frames): the render alone, for scale against a real model's minutes.
    from explorer.motion import render as render_plan

    first = SketchBackend().generate(Request(prompt="a calm desert of boxes", frames=1, width=832, height=480, steps=1), RunControl())[0]
    started = time.perf_counter()
    render_plan(PLAN, first, 81, (832, 480), 1)
    full_size = time.perf_counter() - started

    made = diffusers_motion.frames_made(request, pipe)
    rendered, run = median(timings["render"]), median(timings["pipeline"])
    print(f"machine: {machine()}, torch {torch.__version__}, device {device}; load average {load()}")
    print(f"model: {model if args.model else 'tiny WanVACEPipeline (random weights)'}; {args.frames} frames asked ({made} made) "
          f"{args.size}x{args.size}, {args.steps} steps; 2 regions + camera; median of {args.repeat}")
    print(f"  render    {rendered * 1000:8.1f} ms   ({rendered / made * 1000:.2f} ms a frame)")
    print(f"  pipeline  {run * 1000:8.1f} ms   (the whole run, render included)")
    print(f"  render / pipeline: {rendered / run * 100:.2f} %   target <= 5 %")
    print(f"  render alone at Wan VACE's own size, 81 frames 832x480: {full_size * 1000:.0f} ms ({full_size / 81 * 1000:.1f} ms a frame)")
    still, moved = median(sketch_times["still"]), median(sketch_times["moved"])
    print(f"  sketch 48 frames 256x256: {still * 1000:.1f} ms still, {moved * 1000:.1f} ms with the plan "
          f"({48 / still:.0f} vs {48 / moved:.0f} fps)")


if __name__ == "__main__":
    main()
