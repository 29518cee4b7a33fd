"""The motion brush on diffusers: a "cut and drag" control video plus mask for ``WanVACEPipeline``; refused elsewhere.

A request's ``motion`` (:mod:`explorer.motion`) is rendered from a first frame
into the two call arguments VACE takes, ``video=`` and ``mask=`` (lists of
PIL images, one per frame the pipeline makes):

- ``video``: the first frame, then each region's pixels cut from it and
  dragged along their path (moved, scaled, wobbled) over the first frame with
  their first places filled in, the camera moving the whole picture;
- ``mask``: black (keep, follow this) on the whole first frame and on the
  dragged regions' pixels, white (generate) everywhere else, so the model
  draws the rest of the scene freely around the moving regions.

The first frame is the request's ``image`` field (conditioning media,
:mod:`explorer.conditioning`), fitted to the clip's size; VACE has no ``image``
argument, so on VACE with a plan the picture goes in as the control video's
first frame (kept by the mask). Without an image the sketch backend's first
frame of the prompt stands in (a fallback that keeps the plan's geometry
meaningful; give ``image=`` to steer from a real picture). Any other pipeline
refuses ``motion`` by name, from its class alone, before any weights load; so
does a VACE request that also brings its own ``video`` or ``mask``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from explorer.request import Request, RequestError

MOTION_PIPELINES = ("WanVACEPipeline",)
CONTROL_ARGUMENTS = ("video", "mask")


def takes_motion(cls: type) -> bool:
    """Whether a pipeline class (looked at, never instantiated) takes a motion plan: VACE and its subclasses."""
    return any(base.__name__ in MOTION_PIPELINES for base in getattr(cls, "__mro__", (cls,)))


def check(request: Request, cls: type) -> None:
    """Refuse ``motion`` on a pipeline that cannot take it, and a control video given twice; before any weights load."""
    if not request.motion:
        return
    if not takes_motion(cls):
        raise RequestError([f"motion: {cls.__name__} does not take a motion plan; pipelines that do: {', '.join(MOTION_PIPELINES)} "
                            "(as a cut-and-drag control video and mask), and the sketch backend"])
    clash = [name for name in CONTROL_ARGUMENTS if getattr(request, name)]
    if clash:
        raise RequestError([f"{name}: the motion plan makes {cls.__name__}'s {name}; give motion or {name}, not both" for name in clash])


def conditioning_view(request: Request, cls: type) -> Request:
    """``request`` as the conditioning-media mapping should see it: on a motion pipeline, ``image`` is the plan's first
    frame (rendered into ``video``), not an argument of its own, so it is left out there."""
    if request.motion and getattr(request, "image", None) and takes_motion(cls):
        return request.model_copy(update={"image": None})
    return request


def frames_made(request: Request, pipe: Any) -> int:
    """How many frames the pipeline will make for ``request.frames`` (Wan rounds to a multiple of its VAE's 4, plus 1)."""
    ratio = int(getattr(pipe, "vae_scale_factor_temporal", 1) or 1)
    frames = request.frames
    if ratio > 1 and frames % ratio != 1:
        frames = frames // ratio * ratio + 1
    return max(frames, 1)


NO_IMAGE = "sketch of the prompt (no image given)"


def first_frame_source(request: Request) -> str:
    """Where the plan's first frame comes from, in words (without reading it)."""
    if request.image:
        return f"image ({request.image.get('source') or request.image['sha256'][:12]})"
    return NO_IMAGE


def first_frame(request: Request) -> tuple[np.ndarray, str]:
    """The picture the motion starts from (H×W×3 uint8 at the request's size), and where it came from.

    The request's ``image`` (read from the media store of the run, fitted to the clip's size), else the sketch
    backend's first frame of the prompt.
    """
    if request.image:
        from explorer.conditioning import fitted, frames_of

        return np.ascontiguousarray(fitted(frames_of(request.image)[0], request.width, request.height)), first_frame_source(request)
    from explorer.backends.sketch_scene import Scene

    scene = Scene.from_prompt(request.prompt, request.seed, request.negative_prompt, request.guidance)
    return scene.render_frame(0.0, request.width, request.height), NO_IMAGE


def call_arguments(request: Request, pipe: Any, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``kwargs`` with the rendered ``video`` and ``mask``, and a record for the run (where the first frame came from, cost)."""
    if not request.motion:
        return kwargs, {}
    from PIL import Image

    from explorer.motion import render

    started = time.perf_counter()
    count = frames_made(request, pipe)
    picture, source = first_frame(request)
    video, dragged = render(request.motion, picture, count, (request.width, request.height), request.seed)
    keep = dragged > 0.5
    keep[0] = True  # the first frame is the picture: all of it is kept
    kwargs = {**kwargs, "video": [Image.fromarray(frame) for frame in video],
              "mask": [Image.fromarray(np.where(frame_keep, 0, 255).astype(np.uint8)) for frame_keep in keep]}
    if "num_frames" in kwargs:
        kwargs["num_frames"] = count
    return kwargs, {"motion_first_frame": source, "motion_render_s": time.perf_counter() - started, "motion_frames": count}


__all__ = ["MOTION_PIPELINES", "call_arguments", "check", "conditioning_view", "first_frame", "first_frame_source", "frames_made",
           "takes_motion"]
