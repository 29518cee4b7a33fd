"""Cheap live previews from latents: a linear latent-to-RGB projection, never a full VAE decode.

Each step's latents are sliced to one frame (the middle one), projected to RGB
with a C×3 matrix plus bias, and returned as a small uint8 image at latent
resolution. The matrix is *fitted per (pipeline class, latent channels)* by
least squares on the final latents and the decoded frames of the first
finished run, so previews of later runs show real colours for any model;
before that fit, the first three channels are shown as false colour. Where a
tiny autoencoder is given (``extra={"preview_vae": folder}``) it decodes the
frame instead. Throttled to ``rate`` previews a second.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

# Widely used community fit for Stable Diffusion 1.x/2.x latents (4 channels); a start until our own fit exists.
SD_LATENT_RGB = np.array([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]], np.float32)


class LatentLayout:
    """Where the frame and channel axes sit in a pipeline's latents, learnt from its shape."""

    def __init__(self, pipe: Any, height: int, width: int):
        vae = getattr(pipe, "vae", None)
        config = getattr(vae, "config", None)
        # Wan's VAE names its latent channels z_dim
        self.channels = int(getattr(config, "latent_channels", None) or getattr(config, "z_dim", None) or 0)
        self.class_name = type(pipe).__name__
        self.spatial = int(getattr(pipe, "vae_spatial_compression_ratio", 0) or getattr(pipe, "vae_scale_factor_spatial", 0)
                           or getattr(pipe, "vae_scale_factor", 8) or 8)
        self.height, self.width = height, width

    def frames(self, latents: Any) -> np.ndarray:
        """Latents as a float32 array of shape (frames, h, w, C)."""
        array = latents.detach().float().cpu().numpy() if hasattr(latents, "detach") else np.asarray(latents, np.float32)
        if array.ndim == 4:  # (B, C, h, w): an image pipeline; the batch is our frames
            return np.moveaxis(array, 1, -1)
        if array.ndim == 5:
            array = array[0]
            channels_first = array.shape[0] == self.channels and not self.class_name.startswith("CogVideoX")
            if channels_first:  # (C, F, h, w): AnimateDiff, Wan
                return np.moveaxis(array, 0, -1)
            return np.moveaxis(array, 1, -1)  # (F, C, h, w): CogVideoX
        if array.ndim == 3:  # (B, tokens, C): LTX packs patches of 1×1×1 into tokens
            tokens, channels = array.shape[1:]
            h, w = max(1, self.height // self.spatial), max(1, self.width // self.spatial)
            if tokens % (h * w) == 0:
                return array[0].reshape(tokens // (h * w), h, w, channels)
        raise ValueError(f"unrecognised latent shape {array.shape}")


class Previewer:
    """Turn a step's latents into a small RGB preview, at most ``rate`` times a second."""

    def __init__(self, layout: LatentLayout, projections: dict, rate: float = 4.0, tiny_vae: Any = None):
        self.layout = layout
        self.projections = projections
        self.interval = 1.0 / rate if rate > 0 else float("inf")
        self.tiny_vae = tiny_vae
        self._last = -float("inf")
        self.seconds = 0.0  # time spent making previews, for the overhead figure
        self.count = 0
        self.last_latents: Any = None

    def __call__(self, latents: Any, final: bool = False) -> np.ndarray | None:
        self.last_latents = latents
        now = time.perf_counter()
        if not final and now - self._last < self.interval:
            return None
        self._last = now
        try:
            image = self._render(latents)
        except Exception:  # noqa: BLE001 - a preview must never end a run
            image = None
        self.seconds += time.perf_counter() - now
        self.count += image is not None
        return image

    def _render(self, latents: Any) -> np.ndarray:
        if self.tiny_vae is not None:
            return self._decode_tiny(latents)
        frames = self.layout.frames(latents)
        frame = frames[len(frames) // 2]
        key = (self.layout.class_name, frame.shape[-1])
        projection = self.projections.get(key)
        if projection is not None:
            matrix, bias = projection
            rgb = frame @ matrix + bias
        elif frame.shape[-1] == 4:
            rgb = (frame @ SD_LATENT_RGB + 1) / 2
        else:
            rgb = frame[..., :3] if frame.shape[-1] >= 3 else np.repeat(frame[..., :1], 3, axis=-1)
            low, high = rgb.min(axis=(0, 1)), rgb.max(axis=(0, 1))
            rgb = (rgb - low) / np.maximum(high - low, 1e-6)
        return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)

    def _decode_tiny(self, latents: Any) -> np.ndarray:
        import torch

        frames = self.layout.frames(latents)
        frame = torch.from_numpy(np.ascontiguousarray(np.moveaxis(frames[len(frames) // 2], -1, 0)))[None]
        vae = self.tiny_vae
        with torch.no_grad():
            decoded = vae.decode(frame.to(vae.device, vae.dtype)).sample[0].float().cpu().numpy()
        return (np.clip(np.moveaxis(decoded, 0, -1) / 2 + 0.5, 0, 1) * 255).astype(np.uint8)


def fit_projection(layout: LatentLayout, latents: Any, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Least-squares C→RGB map from a run's final latents to its decoded frames (both subsampled)."""
    try:
        latent_frames = layout.frames(latents)
    except ValueError:
        return None
    count, h, w, channels = latent_frames.shape
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    targets = []
    for index in picks:
        frame = frames[index].astype(np.float32) / 255
        ys = (np.arange(h) + 0.5) * frame.shape[0] / h
        xs = (np.arange(w) + 0.5) * frame.shape[1] / w
        targets.append(frame[ys.astype(int)][:, xs.astype(int)])
    x = latent_frames.reshape(-1, channels)
    y = np.stack(targets).reshape(-1, 3)
    design = np.hstack([x, np.ones((len(x), 1), np.float32)])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return solution[:-1].astype(np.float32), solution[-1].astype(np.float32)
