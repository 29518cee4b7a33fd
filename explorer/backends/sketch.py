"""The sketch backend: a procedural clip from the prompt's words, instantly, on the CPU, with no weights.

It is not a model. Words pick a palette, a shape family and a motion (see
:mod:`explorer.backends.sketch_scene`); the seed varies the details; the same
request gives the same pixels. It reports "steps" the way a diffusion backend
does (each step renders a share of the frames and sends a preview that
sharpens as the run goes on), so progress bars, previews, cancel and logging
are exercised end to end without a GPU. It is the embedded default and what
the tests, the demo and the tours run on.

Keyframes (:mod:`explorer.keyframes`) are honoured frame by frame: a keyframed
guidance is interpolated, and keyframed texts cross-fade the scenes of the
neighbouring keys by their eased weights (a key's frame shows its own scene).
A ``motion`` plan (:mod:`explorer.motion`) drags what lies in each painted
region along its path, frame by frame, and moves the camera.

Conditioning pictures (:mod:`explorer.conditioning`): ``image`` is the first
frame exactly, and the clip pushes slowly into it while it dissolves into the
prompt's scene (smoothly, over the clip, or its first half when there is a
``last_image`` too); ``last_image`` dissolves in the same way at the end and is
the last frame exactly. Pictures of another size are centre-cropped to the
clip's aspect and resized. ``video``, ``mask`` and ``reference_images`` are
refused by name (the diffusers pipelines that take them are named).

    >>> from explorer.backends.sketch import SketchBackend
    >>> from explorer.backends.base import RunControl
    >>> from explorer.request import Request
    >>> frames = SketchBackend().generate(Request(prompt="spiral galaxy", frames=4, width=64, height=64), RunControl())
    >>> frames.shape
    (4, 64, 64, 3)
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Callable

import numpy as np

from explorer.backends.base import Backend, Parameter, RunControl
from explorer.backends.sketch_scene import Scene
from explorer.keyframes import KEYFRAMABLE, at, blend, value_of
from explorer.request import Request

PREVIEW_SIDE = 128


class SketchBackend(Backend):
    name = "sketch"
    keyframable = frozenset(KEYFRAMABLE)
    conditionable = frozenset({"image", "last_image"})
    takes_motion = True

    def generate(self, request: Request, control: RunControl) -> np.ndarray:
        render = _keyframed(request) if request.keyframes else _still(request)
        if request.image or request.last_image:
            from explorer.backends.sketch_conditioning import with_pictures

            render = with_pictures(request, render)
        if request.motion:  # what lies in each painted region (of the picture too) is dragged along its path (explorer.motion)
            from explorer.motion import animate

            render = animate(request.motion, render, request.frames, request.width, request.height, request.seed)
        count, steps = request.frames, request.steps
        out = np.empty((count, request.height, request.width, 3), np.uint8)
        noise = _preview_noise(request)
        bounds = np.linspace(0, count, steps + 1).round().astype(int)
        pace = float(request.extra.get("pace", 0.0))
        for index in range(steps):
            if pace:
                time.sleep(pace)
            start, stop = bounds[index], bounds[index + 1]
            for i in range(start, stop):
                out[i] = render(i)
            latest = out[max(stop - 1, 0)] if stop > 0 and control.on_step is not None else None  # nobody watching: no preview
            control.step(index + 1, steps, _preview(latest, noise, 1 - (index + 1) / steps) if latest is not None else None)
        return out

    def parameters(self, model: str | None = None) -> list[Parameter]:
        return [Parameter("pace", "float", 0.0, 0.0, 10.0, help="seconds to wait per step: rehearse the UI at a real model's pace")]

    def check(self, request: Request) -> None:
        super().check(request)
        if request.image or request.last_image:
            from explorer.backends.sketch_conditioning import check

            check(request)
        pace = request.extra.get("pace", 0.0)
        if isinstance(pace, bool) or not isinstance(pace, (int, float)) or not 0 <= pace <= 10:
            from explorer.request import RequestError

            raise RequestError([f"extra.pace: must be a number of seconds from 0 to 10 (got {pace!r})"])

    def info(self, request: Request) -> dict[str, Any]:
        scene = Scene.from_prompt(request.prompt, request.seed, request.negative_prompt, request.guidance)
        info = {"device": "cpu", "kind": "procedural sketch (not a model)", "scene": scene.describe()}
        if request.keyframes:  # what each keyed text chose, so a reader sees the scenes the clip passes through
            info["keyframes"] = {name: {str(frame): Scene.from_prompt(**{**_scene_fields(request, frame), name: value_of(key)}).describe()
                                        for frame, key in track.items()}
                                 for name, track in request.keyframes.items() if KEYFRAMABLE[name] == "text"}
        return info


def _still(request: Request) -> Callable[[int], np.ndarray]:
    """Frame i of a request without keyframes: one scene."""
    scene = Scene.from_prompt(request.prompt, request.seed, request.negative_prompt, request.guidance)
    return lambda i: scene.render_frame(i / request.frames, request.width, request.height)


def _scene_fields(request: Request, frame: int) -> dict[str, Any]:
    """The scene's inputs at ``frame``, with a keyframed guidance interpolated (texts are blended by the caller)."""
    track = request.keyframes.get("guidance")
    return {"prompt": request.prompt, "negative_prompt": request.negative_prompt, "seed": request.seed,
            "guidance": at(track, frame) if track else request.guidance}


def _keyframed(request: Request) -> Callable[[int], np.ndarray]:
    """Frame i of a keyframed request: the scenes of the texts in force, cross-faded by their eased weights, each
    rendered at the same clip phase (so motion carries across the blend) with the guidance of that frame."""
    scenes: dict[tuple, Scene] = {}
    texts = [name for name in ("prompt", "negative_prompt") if name in request.keyframes]

    def mix(i: int) -> list[tuple[dict[str, Any], float]]:
        parts = [(_scene_fields(request, i), 1.0)]
        for name in texts:
            parts = [({**fields, name: text}, weight * share) for fields, weight in parts for text, share in blend(request.keyframes[name], i)]
        return parts

    def render(i: int) -> np.ndarray:
        acc = None
        for fields, weight in mix(i):
            key = tuple(sorted(fields.items()))
            if key not in scenes:
                if len(scenes) > 64:  # a guidance ramp makes a scene per frame: keep only the recent ones
                    scenes.clear()
                scenes[key] = Scene.from_prompt(**fields)
            frame = scenes[key].render_frame(i / request.frames, request.width, request.height)
            if weight >= 1.0:
                return frame
            acc = frame.astype(np.float32) * weight if acc is None else acc + frame.astype(np.float32) * weight
        return np.clip(np.rint(acc), 0, 255).astype(np.uint8)

    return render


def _preview_noise(request: Request) -> np.ndarray:
    # Seeded like the clip, so the previews of a rerun match too.
    digest = hashlib.sha256(f"{request.seed}:{request.prompt}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    stride = max(1, -(-max(request.width, request.height) // PREVIEW_SIDE))
    shape = (-(-request.height // stride), -(-request.width // stride), 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _preview(frame: np.ndarray, noise: np.ndarray, noise_share: float) -> np.ndarray:
    """A small copy of the latest frame under noise that fades as steps complete (like a denoising preview)."""
    stride = max(1, -(-max(frame.shape[:2]) // PREVIEW_SIDE))
    small = frame[::stride, ::stride]
    if noise_share <= 0:
        return np.ascontiguousarray(small)
    mixed = small.astype(np.float32) * (1 - noise_share) + noise[: small.shape[0], : small.shape[1]] * noise_share
    return mixed.astype(np.uint8)
