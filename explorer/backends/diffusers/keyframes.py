"""Keyframes on diffusers pipelines: which pipelines take which keyframed fields, and the call arguments they become.

Two mechanisms exist in diffusers, and each is used where the pipeline class has it:

- **FreeNoise** (the AnimateDiff pipelines: ``enable_free_noise``): ``prompt`` and
  ``negative_prompt`` keyframes become ``prompt={frame: text}``; FreeNoise
  interpolates the text embeddings between keys, here with each key's ease
  (step, linear or smooth) through its ``prompt_interpolation_callback``.
  FreeNoise is enabled for the run and disabled after it (the pipeline stays
  cached for runs without keyframes).
- **Prompt windows** (``LTXI2VLongMultiPromptPipeline``: ``prompt_segments``):
  the clip is made in overlapping temporal windows, one prompt each; a window
  gets the keyframed prompt in force at its middle frame (texts cannot be mixed
  inside a window, so an ease only moves the switch between windows).

Everything else refuses keyframes by name before the pipeline is loaded, and no
pipeline takes ``guidance`` per frame (a keyframed guidance runs on the sketch
backend only).
"""

from __future__ import annotations

import inspect
from typing import Any

from explorer.keyframes import ease, ease_of, nearest, value_of
from explorer.request import Request, RequestError

FREENOISE_PIPELINES = ("AnimateDiffPipeline", "AnimateDiffVideoToVideoPipeline", "AnimateDiffControlNetPipeline",
                       "AnimateDiffVideoToVideoControlNetPipeline", "AnimateDiffPAGPipeline")
WINDOW_PIPELINES = ("LTXI2VLongMultiPromptPipeline",)
FREENOISE_FIELDS = ("prompt", "negative_prompt")
WINDOW_FIELDS = ("prompt",)
WHO_CAN = (f"keyframed prompt and negative_prompt: {', '.join(FREENOISE_PIPELINES)} (FreeNoise); "
           f"keyframed prompt: {', '.join(WINDOW_PIPELINES)} (prompt windows)")


def mechanism(cls: type) -> str | None:
    """'freenoise', 'windows' or None for a pipeline class (looked at, never instantiated)."""
    if callable(getattr(cls, "enable_free_noise", None)):
        return "freenoise"
    if "prompt_segments" in inspect.signature(cls.__call__).parameters:
        return "windows"
    return None


def check(request: Request, cls: type) -> None:
    """Refuse, naming each field, the keyframes ``cls`` cannot take; before any weights are loaded."""
    if not request.keyframes:
        return
    kind = mechanism(cls)
    fields = FREENOISE_FIELDS if kind == "freenoise" else WINDOW_FIELDS if kind == "windows" else ()
    problems = []
    for name in request.keyframes:
        if name in fields:
            continue
        if name == "guidance":
            problems.append("keyframes.guidance: no diffusers pipeline takes a guidance per frame (the sketch backend does); "
                            f"diffusers pipelines that take keyframes: {WHO_CAN}")
        else:
            problems.append(f"keyframes.{name}: {cls.__name__} does not take keyframes for {name}; pipelines that do: {WHO_CAN}")
    if problems:
        raise RequestError(problems)


def call_arguments(request: Request, pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the keyframed fields mapped for ``pipe`` (FreeNoise must be enabled by :func:`enable`)."""
    keys = request.keyframes
    if not keys:
        return kwargs
    kind = mechanism(type(pipe))
    if kind == "freenoise":
        for name in FREENOISE_FIELDS:
            if name in keys:
                frames = {int(f): value_of(k) for f, k in keys[name].items()}
                if 0 not in frames:  # the first key holds from the start (FreeNoise needs a prompt at frame 0)
                    frames = {0: frames[min(frames)], **frames}
                kwargs[name] = dict(sorted(frames.items()))
    elif kind == "windows" and "prompt" in keys:
        kwargs = {**kwargs, "prompt_segments": windows(request, pipe, kwargs)}
    return kwargs


def windows(request: Request, pipe: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """One prompt segment per temporal window of ``LTXI2VLongMultiPromptPipeline``: the prompt in force at its middle."""
    from diffusers.pipelines.ltx.pipeline_ltx_i2v_long_multi_prompt import split_into_temporal_windows

    defaults = inspect.signature(type(pipe).__call__).parameters
    tile = int(kwargs.get("temporal_tile_size", defaults["temporal_tile_size"].default))
    overlap = int(kwargs.get("temporal_overlap", defaults["temporal_overlap"].default))
    ratio = int(getattr(pipe, "vae_temporal_compression_ratio", 8))
    latent_frames = (request.frames - 1) // ratio + 1
    spans = split_into_temporal_windows(latent_frames, max(1, tile // ratio), max(0, overlap // ratio), ratio)
    track = request.keyframes["prompt"]
    return [{"start_window": w, "end_window": w, "text": nearest(track, min(request.frames - 1, (start + end - 1) / 2 * ratio))}
            for w, (start, end) in enumerate(spans)]


def enable(request: Request, pipe: Any) -> bool:
    """Turn FreeNoise on for a keyframed run on an AnimateDiff pipeline; True when the caller must :func:`disable` it."""
    if not request.keyframes or mechanism(type(pipe)) != "freenoise":
        return False
    longest = int(pipe.motion_adapter.config.motion_max_seq_length)
    # FreeNoise calls back for prompt, then negative_prompt, without saying which: a frame keyed in both takes the prompt's ease.
    eases = [{int(f): ease_of(k) for f, k in request.keyframes[name].items()} for name in FREENOISE_FIELDS if name in request.keyframes]

    def interpolate(start: int, end: int, start_tensor: Any, end_tensor: Any) -> Any:
        """The embeddings from key ``start`` to key ``end`` (inclusive), shaped by the ease of the key at ``start``."""
        import torch

        kind = next((track[start] for track in eases if start in track), "linear")
        count = end - start + 1
        weights = [ease(kind, i / (count - 1)) if count > 1 else 0.0 for i in range(count)]
        return torch.cat([(1 - w) * start_tensor + w * end_tensor for w in weights])

    pipe.enable_free_noise(context_length=min(longest, request.frames), context_stride=4, prompt_interpolation_callback=interpolate)
    return True


def disable(pipe: Any) -> None:
    pipe.disable_free_noise()
