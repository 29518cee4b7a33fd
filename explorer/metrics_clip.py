"""CLIP metrics, where a CLIP model is configured (``EXPLORER_CLIP_MODEL``: a hub id or a folder), through ``transformers``.

``clip_text``         cosine similarity between the prompt's text embedding and each frame's image embedding, averaged.
``clip_consistency``  cosine similarity between consecutive frames' image embeddings, averaged (1: the look holds).

Each clip's embedding (the mean of those frames' normalised image embeddings, normalised again) is stored too
(:mod:`explorer.embeddings`): the taste model and the atlas use a few of its principal components as features.

The model is loaded once per process (on a GPU kernel it runs there; on a CPU it is slow: configure it where there
is one). Without ``EXPLORER_CLIP_MODEL`` nothing here runs and ``transformers`` is never imported.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np

ENV = "EXPLORER_CLIP_MODEL"
FRAMES = 8  # frames embedded per clip, evenly spread
VERSION = 1


def configured() -> str | None:
    return os.environ.get(ENV) or None


@lru_cache(maxsize=2)
def _load(name: str) -> tuple[Any, Any, str]:
    import torch
    from transformers import CLIPModel, CLIPProcessor

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = CLIPModel.from_pretrained(name).to(device).eval()
    return model, CLIPProcessor.from_pretrained(name), device


def measure_clip(frames: np.ndarray, prompt: str, name: str | None = None) -> dict[str, float]:
    """``{"clip_text", "clip_consistency"}`` for one clip; ``{}`` when no CLIP model is configured."""
    return measure_and_embed(frames, prompt, name)[0]


def measure_and_embed(frames: np.ndarray, prompt: str, name: str | None = None) -> tuple[dict[str, float], np.ndarray | None]:
    """:func:`measure_clip` and the clip's embedding (unit length), from one pass of the model; ``({}, None)`` without one."""
    name = name or configured()
    if not name:
        return {}, None
    import torch

    model, processor, device = _load(name)
    pick = np.unique(np.linspace(0, len(frames) - 1, min(FRAMES, len(frames))).round().astype(int))
    inputs = processor(text=[prompt], images=list(frames[pick]), return_tensors="pt", padding=True, truncation=True)
    inputs = {k: v.to(device) for k, v in inputs.items()}
    with torch.no_grad():
        out = model(**inputs)
    images = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)
    text = torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)
    alignment = float((images @ text.T).mean())
    consistency = float((images[1:] * images[:-1]).sum(-1).mean()) if len(images) > 1 else 1.0
    pooled = torch.nn.functional.normalize(images.mean(0), dim=-1).cpu().numpy().astype(np.float32)
    return {"clip_text": alignment, "clip_consistency": consistency}, pooled
