"""Our `generate` against a bare `pipe(...)` on the same tiny pipeline, seed and steps, previews on.

Three timings alternate in one run (median of --repeat):
  bare      pipe(prompt=..., num_frames=..., generator=...) and nothing else
  backend   DiffusersBackend.generate: argument mapping, step callback, previews (4/s), frame normalisation
  lab       lab.generate: the backend plus validation, MP4 + poster + thumbnail, and the log rows
Target on this CPU: backend/bare <= 1.05. On a GPU with a real model the target is
overhead <= 3 % or 100 ms per clip (see the README).

    python bench/diffusers_overhead.py [--frames 16] [--size 128] [--steps 4] [--repeat 5] [--preview-rate 4]
    python bench/diffusers_overhead.py --model FOLDER_OR_HUB_ID --device cuda --dtype bf16 --size 512 --steps 25
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

import torch  # noqa: E402

from common import machine, median  # noqa: E402
import explorer  # noqa: E402
from explorer import backends  # noqa: E402
from explorer.backends.base import RunControl  # noqa: E402
from explorer.backends.diffusers import DiffusersBackend  # noqa: E402
from explorer.request import Request  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="pipeline folder or hub id (default: a tiny AnimateDiff built here)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--preview-rate", type=float, default=4.0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            import tiny_pipelines

            model = str(tiny_pipelines.build_text_to_video(Path(folder) / "tiny", "animatediff"))
        extra = {"preview_rate": args.preview_rate, **({"device": args.device} if args.device else {}), **({"dtype": args.dtype} if args.dtype else {})}
        request = Request(prompt="a corgi surfing a wave at sunset", seed=1, frames=args.frames, width=args.size, height=args.size,
                          steps=args.steps, guidance=args.guidance, backend="diffusers", model=model, extra=extra)
        backend = DiffusersBackend()
        backends.register("diffusers", lambda: backend)
        lab = explorer.open(Path(folder) / "bench.duckdb", author="bench")
        backend.generate(request, RunControl())  # load + warm up (and fit the preview projection)
        pipe = backend.cache.get(backend.cache.keys()[0])[0]
        device = backend.cache.keys()[0].device

        def bare() -> None:
            pipe(prompt=request.prompt, num_frames=request.frames, height=request.height, width=request.width,
                 num_inference_steps=request.steps, guidance_scale=request.guidance,
                 generator=torch.Generator("cpu" if device == "mps" else device).manual_seed(request.seed), output_type="np")

        def ours() -> None:
            backend.generate(request, RunControl(on_step=lambda step: None))

        def whole() -> None:
            lab.generate(request, progress=False, on_step=lambda step: None).raise_for_status()

        timings: dict[str, list[float]] = {"bare": [], "backend": [], "lab": []}
        previews = []
        for _ in range(args.repeat):
            for name, call in (("bare", bare), ("backend", ours), ("lab", whole)):
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t = time.perf_counter()
                call()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                timings[name].append(time.perf_counter() - t)
                if name == "backend":
                    previews.append((backend.last_run["preview_s"], backend.last_run["previews"]))
        base = median(timings["bare"])
        print(f"machine: {machine()}, torch {torch.__version__}, device {device}")
        print(f"model: {model if args.model else 'tiny AnimateDiff (random weights)'}; {args.frames} frames {args.size}x{args.size}, "
              f"{args.steps} steps, guidance {args.guidance}, previews {args.preview_rate}/s; median of {args.repeat}")
        for name in ("bare", "backend", "lab"):
            value = median(timings[name])
            print(f"  {name:8} {value * 1000:8.1f} ms   {value / base:5.3f}x   (+{(value - base) * 1000:6.1f} ms)")
        seconds, count = previews[-1]
        print(f"  previews: {count} per clip, {seconds * 1000:.2f} ms in total ({seconds / base * 100:.2f} % of the bare call)")
        print("  target: backend/bare <= 1.05 on this CPU; on a GPU, overhead <= 3 % or 100 ms per clip")


if __name__ == "__main__":
    main()
