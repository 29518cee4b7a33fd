"""(d) Encoding quality against size: x264 CRF vs KB, mean absolute error and PSNR, on short sketch clips.

Encodes the same sketch clips (24 frames 320×192 and 48 frames 512×288, four prompts each) with
``explorer.media.write_mp4`` at each CRF, decodes them with ``read_frames`` and compares every pixel with the
frames that went in. Then the same for the companions: the poster JPEG and the looping WebP thumbnail.

    python bench/encode_quality.py [--crf 14 16 18 20 23 26] [--prompts 4]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import machine
from explorer import media
from explorer.backends.sketch_scene import Scene

PROMPTS = ["neon city rain", "sunset birds flying", "ocean waves", "forest mountains zoom", "candy bubbles bounce", "spiral galaxy stars"]
CLIPS = [(24, 320, 192, 12), (48, 512, 288, 24)]  # frames, width, height, fps


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def clips(count: int) -> list[tuple[str, int, np.ndarray]]:
    return [(f"{frames}x{width}x{height}", fps, Scene.from_prompt(prompt, 1).render_clip(frames, width, height))
            for frames, width, height, fps in CLIPS for prompt in PROMPTS[:count]]


def video_table(sources, crfs: list[int], folder: Path) -> None:
    print("\nMP4 (H.264 veryfast, yuv420p BT.709): mean over the prompts")
    print(f"{'clip':>12} {'CRF':>4} {'KB':>7} {'KB/s':>6} {'mean |err|':>10} {'PSNR dB':>8} {'encode ms':>9}")
    for shape in dict.fromkeys(name for name, _, _ in sources):
        group = [(fps, frames) for name, fps, frames in sources if name == shape]
        for crf in crfs:
            kb, kbps, err, db, ms = [], [], [], [], []
            for fps, frames in group:
                path = folder / "clip.mp4"
                start = time.perf_counter()
                media.write_mp4(path, frames, fps, crf=crf)
                ms.append((time.perf_counter() - start) * 1000)
                decoded = media.read_frames(path)
                kb.append(path.stat().st_size / 1024)
                kbps.append(kb[-1] / (len(frames) / fps))
                err.append(float(np.abs(decoded.astype(np.int16) - frames).mean()))
                db.append(psnr(decoded, frames))
            chosen = media.crf_for(len(group[0][1]), group[0][0])
            mark = "  <- what the store uses" if crf == chosen else "  (the old default)" if crf == 23 else ""
            print(f"{shape:>12} {crf:>4} {np.mean(kb):7.1f} {np.mean(kbps):6.1f} {np.mean(err):10.2f} {np.mean(db):8.1f} {np.median(ms):9.1f}{mark}")


def companion_table(sources) -> None:
    print("\nPoster (the middle frame, JPEG) and thumbnail (8 frames, WebP, longest side 160): mean over the prompts")
    print(f"{'clip':>12} {'what':>36} {'KB':>6} {'PSNR dB':>8} {'ms':>6}")
    for shape in dict.fromkeys(name for name, _, _ in sources):
        group = [(fps, frames) for name, fps, frames in sources if name == shape]
        for quality, subsampling in ((85, 2), (media.POSTER_QUALITY, 0)):
            kb, db, ms = [], [], []
            for _, frames in group:
                frame = frames[len(frames) // 2]
                start = time.perf_counter()
                data = media.jpeg_from_frame(frame, quality, subsampling=subsampling)
                ms.append((time.perf_counter() - start) * 1000)
                kb.append(len(data) / 1024)
                db.append(psnr(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), frame))
            what = f"poster q{quality} {'4:4:4' if subsampling == 0 else '4:2:0'}"
            print(f"{shape:>12} {what:>36} {np.mean(kb):6.1f} {np.mean(db):8.1f} {np.median(ms):6.1f}")
        for what, make in (("old thumb: box /N, q70 m0", _old_thumbnail), (f"thumb q{media.THUMB_QUALITY}", media.thumbnail_from_frames)):
            kb, db, ms = [], [], []
            for fps, frames in group:
                start = time.perf_counter()
                data = make(frames, fps)
                ms.append((time.perf_counter() - start) * 1000)
                kb.append(len(data) / 1024)
                db.append(_thumb_psnr(data, frames))
            size = Image.open(io.BytesIO(data)).size
            print(f"{shape:>12} {f'{what} {size[0]}x{size[1]}':>36} {np.mean(kb):6.1f} {np.mean(db):8.1f} {np.median(ms):6.1f}")


def _old_thumbnail(frames: np.ndarray, fps: float) -> bytes:
    """The thumbnail before issue 8: box-filtered by a whole factor, WebP quality 70, method 0."""
    count, height, width, _ = frames.shape
    factor = max(1, -(-max(height, width) // media.THUMB_SIDE))
    images = [Image.fromarray(frames[i]).reduce(factor) for i in media.thumbnail_picks(count)]
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", save_all=True, append_images=images[1:], duration=100, loop=0, quality=70, method=0)
    return buffer.getvalue()


def _thumb_psnr(data: bytes, frames: np.ndarray) -> float:
    """PSNR of the decoded thumbnail against a full (no shortcut) Lanczos resize of the same frames."""
    image = Image.open(io.BytesIO(data))
    picks = media.thumbnail_picks(len(frames))
    scores = []
    for k, index in enumerate(picks):
        image.seek(k)
        reference = np.asarray(Image.fromarray(frames[index]).resize(image.size, Image.Resampling.LANCZOS))
        scores.append(psnr(np.asarray(image.convert("RGB")), reference))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crf", type=int, nargs="+", default=[14, 16, 18, 20, 23, 26])
    parser.add_argument("--prompts", type=int, default=4)
    args = parser.parse_args()
    sources = clips(args.prompts)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        video_table(sources, args.crf, Path(folder))
    companion_table(sources)


if __name__ == "__main__":
    main()
