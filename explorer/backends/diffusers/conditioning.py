"""Conditioning media on diffusers pipelines: which pipelines take which fields, and the call arguments they become.

A pipeline takes a conditioning field when its call has a parameter of that name (``image`` for
``WanImageToVideoPipeline``, ``CogVideoXImageToVideoPipeline``, ``LTXImageToVideoPipeline``; ``last_image`` for
``WanImageToVideoPipeline``; ``video``, ``mask``, ``reference_images`` for ``WanVACEPipeline``) and it makes
frames (``num_frames``). ``LTXConditionPipeline`` is mapped: ``image``, ``last_image`` and ``video`` become
``conditions=[LTXVideoCondition(..., frame_index=k)]``, where k is the reference's ``at`` (default 0, and the last
frame for ``last_image``). Only LTXConditionPipeline places media at other frames: an ``at`` elsewhere is refused.

Everything is decided from the pipeline class and the folder's config files, before any weights load:

- a field the class does not take is refused by name, with the pipelines that take it;
- a pipeline whose call needs ``image`` (no default) refuses a request without one;
- ``WanImageToVideoPipeline`` with a CLIP image encoder is a first-last-frame model when its transformer has a
  ``pos_embed_seq_len`` (Wan2.1-FLF2V): it needs ``last_image``, and a plain image-to-video model refuses it.

The pictures go to the pipeline as PIL images (a clip as a list of them). ``video`` and ``mask`` are fitted to the
frames the pipeline makes (cut, or the last frame held); a one-picture ``mask`` is used for every frame; masks are
greys: white is generated, black is kept from ``video``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np

from explorer.conditioning import FIELDS, frame_at, frames_of, refuse, used
from explorer.request import Request, RequestError

LTX_CONDITION = "LTXConditionPipeline"
LTX_CONDITION_FIELDS = frozenset({"image", "last_image", "video"})


def takes(cls: type) -> frozenset[str]:
    """The conditioning fields a pipeline class takes (looked at, never instantiated)."""
    if cls.__name__ == LTX_CONDITION:
        return LTX_CONDITION_FIELDS
    signature = inspect.signature(cls.__call__).parameters
    if "num_frames" not in signature:  # an image pipeline, animated by a latent walk: it has no first frame to take
        return frozenset()
    return frozenset(name for name in FIELDS if name in signature)


def check(request: Request, cls: type, folder: str | None) -> None:
    """Refuse, naming each field, what ``cls`` (and the model in ``folder``) cannot take; before any weights load."""
    refuse(request, takes(cls), cls.__name__)
    problems = []
    signature = inspect.signature(cls.__call__).parameters
    needed = signature.get("image")
    if needed is not None and needed.default is inspect.Parameter.empty and not request.image and cls.__name__ != LTX_CONDITION:
        problems.append(f"image: {cls.__name__} needs a first picture: image= a path, a run's frame (run, -1) or an array")
    if cls.__name__ != LTX_CONDITION:
        for field in ("image", "last_image", "video", "mask"):
            ref = getattr(request, field)
            if ref and ref.get("at") is not None and ref["at"] != frame_at(field, {}, request.frames):
                problems.append(f"{field}: {cls.__name__} does not place media at a chosen frame (at={ref['at']}); "
                                f"{LTX_CONDITION} does")
    flf2v = _first_last_frame_model(cls, folder)
    if flf2v is True and request.image and not request.last_image:
        problems.append(f"last_image: this {cls.__name__} model is a first-last-frame model (its transformer has pos_embed_seq_len): "
                        "give last_image= too")
    elif flf2v is False and request.last_image:
        problems.append(f"last_image: this {cls.__name__} model takes a first frame only (no pos_embed_seq_len in its transformer, "
                        "as in Wan2.1-FLF2V); use a first-last-frame model, or drop last_image")
    if problems:
        raise RequestError(problems)


def _first_last_frame_model(cls: type, folder: str | None) -> bool | None:
    """For a Wan image-to-video folder with a CLIP image encoder: whether it is a first-last-frame model; else None."""
    if cls.__name__ != "WanImageToVideoPipeline" or not folder or not Path(folder).is_dir():
        return None
    try:
        index = json.loads((Path(folder) / "model_index.json").read_text())
        transformer = json.loads((Path(folder) / "transformer" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    encoder = index.get("image_encoder")
    if not isinstance(encoder, list) or None in encoder:  # Wan 2.2: no image encoder, first and last frames both optional
        return None
    return transformer.get("pos_embed_seq_len") is not None


def call_arguments(request: Request, pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the request's conditioning media as the pipeline's own arguments."""
    fields = used(request)
    if not fields:
        return kwargs
    kwargs = dict(kwargs)
    if type(pipe).__name__ == LTX_CONDITION:
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        conditions = []
        for field in ("image", "last_image", "video"):
            ref = getattr(request, field)
            if not ref:
                continue
            pictures = _pictures(frames_of(ref))
            index = frame_at(field, ref, request.frames)
            conditions.append(LTXVideoCondition(video=pictures, frame_index=index) if field == "video"
                              else LTXVideoCondition(image=pictures[0], frame_index=index))
        kwargs["conditions"] = conditions
        return kwargs
    count = _frames_made(pipe, request.frames)
    for field in fields:
        ref = getattr(request, field)
        if field in ("image", "last_image"):
            kwargs[field] = _pictures(frames_of(ref))[0]
        elif field == "reference_images":
            kwargs[field] = [_pictures(frames_of(item))[0] for item in ref]
        elif field == "video":
            kwargs[field] = _pictures(_fitted_length(frames_of(ref), count))
        elif field == "mask":
            kwargs[field] = [picture.convert("L") for picture in _pictures(_fitted_length(frames_of(ref), count))]
    return kwargs


def _frames_made(pipe: Any, frames: int) -> int:
    """The frames the pipeline will make for ``frames`` asked: Wan rounds to a multiple of its VAE's time factor, plus one."""
    factor = int(getattr(pipe, "vae_scale_factor_temporal", 1) or 1)
    return max(1, frames // factor * factor + 1) if factor > 1 and frames % factor != 1 else frames


def _fitted_length(frames: np.ndarray, count: int) -> np.ndarray:
    """``frames`` cut to ``count``, or lengthened by holding the last frame."""
    if len(frames) >= count:
        return frames[:count]
    return np.concatenate([frames, np.repeat(frames[-1:], count - len(frames), axis=0)])


def _pictures(frames: np.ndarray) -> list[Any]:
    from PIL import Image

    return [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]
