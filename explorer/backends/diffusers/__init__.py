"""The diffusers backend: any diffusers pipeline that makes frames, with live previews, cancel and honest failures.

    import explorer
    lab = explorer.open("team.duckdb")
    run = lab.generate("a corgi surfing", backend="diffusers", model="Lightricks/LTX-Video",
                       frames=49, width=704, height=480, steps=30, extra={"dtype": "bf16"})

``model`` is a local pipeline folder (``pipe.save_pretrained(folder)``) or a hub
id; the pipeline class comes from its ``model_index.json`` (or
``extra={"pipeline": "ClassName"}``). Text-to-video, image-to-video and
video-to-video pipelines get the request's fields mapped onto their call
(``num_frames``, ``height``, ``width``, ``num_inference_steps``,
``guidance_scale``…) plus any of their own parameters given in ``extra``
(``extra={"conditioning_scale": 0.8}``). Conditioning media are request fields
(``image=``, ``last_image=``, ``video=``, ``mask=``, ``reference_images=``),
mapped by :mod:`explorer.backends.diffusers.conditioning`. An image pipeline (no
``num_frames``) is animated: one batch of ``frames`` images whose starting
noise walks smoothly from the seed's noise to the next seed's and back, so the
clip loops.

Backend options, also in ``extra`` and recorded with the run: ``device``
("cuda", "cpu", "mps"), ``dtype`` ("bf16", "fp16", "fp32"), ``offload``
("model" or "sequential" CPU offload), ``vae_tiling`` and ``vae_slicing``
(booleans), ``lora`` (a path, or a list of ``{"path", "weight"}``),
``pipeline`` (class name), ``revision`` (hub), ``preview_rate`` (previews a
second, default 4), ``preview_vae`` (a tiny autoencoder folder for previews).

Keyframes (``keyframes={"prompt": {0: ..., 47: ...}}``) go to the pipelines that
take them, AnimateDiff's FreeNoise and LTX's long multi-prompt windows, and are
refused by name elsewhere (:mod:`explorer.backends.diffusers.keyframes`).
A ``motion`` plan becomes ``WanVACEPipeline``'s ``video`` and ``mask``, a
cut-and-drag control video, and is refused by name elsewhere
(:mod:`explorer.backends.diffusers.motion`).
"""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from explorer.backends.base import Backend, BackendError, Parameter, RunControl
from explorer.backends.diffusers import conditioning, keyframes, motion
from explorer.backends.diffusers.frames import check_picture, frames_from_output
from explorer.backends.diffusers.loading import (DTYPES, OFFLOAD, LoadOptions, ModelRef, PipelineCache, default_device,
                                                 default_dtype, free_memory, pipeline_class, resolve_model)
from explorer.backends.diffusers.previews import LatentLayout, Previewer, fit_projection
from explorer.request import Request, RequestError

# Backend options in `extra`: how to load and run, not what to draw.
OPTIONS = [
    Parameter("device", "str", None, help="cuda, cuda:N, mps or cpu (default: the best available)"),
    Parameter("dtype", "str", None, help="bf16, fp16 or fp32 (default: bf16/fp16 on a GPU, fp32 on the CPU)"),
    Parameter("offload", "str", None, help="'model' or 'sequential' CPU offload, for GPUs short of memory"),
    Parameter("vae_tiling", "bool", False, help="decode in tiles: large frames in less memory"),
    Parameter("vae_slicing", "bool", False, help="decode one frame at a time: less memory"),
    Parameter("lora", "json", None, help="LoRA adapter path, or a list of {path, weight}"),
    Parameter("pipeline", "str", None, help="pipeline class name, when the folder does not say"),
    Parameter("revision", "str", None, help="hub revision (branch, tag or commit)"),
    Parameter("preview_rate", "float", 4.0, 0, 60, help="live previews per second (0: none)"),
    Parameter("preview_vae", "str", None, help="tiny autoencoder folder used for previews"),
]
OPTION_NAMES = {p.name for p in OPTIONS}

# Call arguments that the request's own fields (or we) fill in; not offered as extra parameters.
MAPPED = {"prompt", "negative_prompt", "num_frames", "height", "width", "num_inference_steps", "guidance_scale", "generator",
          "output_type", "return_dict", "callback_on_step_end", "callback_on_step_end_tensor_inputs", "callback", "callback_steps",
          "latents", "prompt_embeds", "negative_prompt_embeds", "num_images_per_prompt", "num_videos_per_prompt", "frame_rate",
          "self", "kwargs", "cross_attention_kwargs", "attention_kwargs", "joint_attention_kwargs",
          # conditioning media: request fields (explorer.conditioning), mapped by .conditioning
          "image", "last_image", "video", "mask", "reference_images", "conditions", "frame_index"}
# Pipeline parameters that are request fields now: extra.<name> is refused with a pointer to the field.
CONDITIONING_PARAMETERS = {"image": "image", "last_image": "last_image", "video": "video", "mask": "mask",
                           "reference_images": "reference_images", "conditions": "image / video with {'media': ..., 'at': frame}",
                           "frame_index": "{'media': ..., 'at': frame}"}


class DiffusersBackend(Backend):
    """Runs diffusers pipelines; keeps up to ``max_pipelines`` loaded (``EXPLORER_MAX_PIPELINES``, default 1)."""

    name = "diffusers"
    conditionable = None  # decided per pipeline class, in check (explorer.backends.diffusers.conditioning)
    takes_motion = True  # on WanVACEPipeline only; check() refuses it by name elsewhere

    def __init__(self, max_pipelines: int | None = None):
        try:
            import diffusers  # noqa: F401 - fail early with the install line
            import torch  # noqa: F401
        except ImportError as exc:
            raise RequestError([f"backend: 'diffusers' needs torch and diffusers: pip install 'clip-explorer[diffusers]' ({exc})"]) from None
        self.cache = PipelineCache(int(max_pipelines or os.environ.get("EXPLORER_MAX_PIPELINES", 1)))
        self.projections: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self._models: dict[tuple[str, str | None], ModelRef] = {}
        self._tiny_vaes: dict[str, Any] = {}
        self.last_run: dict[str, Any] = {}

    # -- what the pipeline accepts ---------------------------------------------

    def parameters(self, model: str | None = None, pipeline: str | None = None) -> list[Parameter]:
        """The backend options plus the loaded pipeline's own call parameters (name, type, default)."""
        if not model:
            return list(OPTIONS)
        cls = pipeline_class(self._model(model, None), pipeline)
        found = []
        for name, param in inspect.signature(cls.__call__).parameters.items():
            if name in MAPPED or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            default = None if param.default is inspect.Parameter.empty else param.default
            found.append(Parameter(name, _type_name(param.annotation, default), default if _jsonable(default) else None))
        return [*OPTIONS, *found]

    def check(self, request: Request) -> None:
        ref = self._model(request.model, request.extra.get("revision"))
        options = self._load_options(request, ref)  # validates device, dtype, offload, lora
        if request.keyframes:  # refused by name from the class alone, before any weights load
            keyframes.check(request, pipeline_class(ref, options.pipeline))
        moved = [f"extra.{name}: conditioning media are request fields: give {CONDITIONING_PARAMETERS[name]}= a path, a run's frame "
                 "(run, -1) or an array (stored in the log's media store and recorded with the run)"
                 for name in request.extra if name in CONDITIONING_PARAMETERS]
        if moved:
            raise RequestError(moved)
        if request.motion:  # likewise: WanVACEPipeline takes it, every other class is refused by name
            motion.check(request, pipeline_class(ref, options.pipeline))
        cls = pipeline_class(ref, options.pipeline)  # with motion on VACE, image is the plan's first frame, not VACE's
        conditioning.check(motion.conditioning_view(request, cls), cls, ref.source if ref.kind == "folder" else None)
        accepted = {p.name for p in self.parameters(request.model, options.pipeline)}
        unknown = sorted(set(request.extra) - accepted)
        if unknown:
            raise RequestError([f"extra.{name}: not a parameter of {ref.class_name or 'this pipeline'} or of the diffusers backend "
                                f"(accepted: {', '.join(sorted(accepted))})" for name in unknown])
        missing = [f"extra.{name}: conditioning file {value} does not exist" for name, value in request.extra.items()
                   if _media_parameter(name) and isinstance(value, str) and not Path(value).expanduser().is_file()]
        if missing:
            raise RequestError(missing)

    def _model(self, model: str | None, revision: str | None) -> ModelRef:
        key = (model or "", revision)
        if key not in self._models or self._models[key].kind == "folder":
            self._models[key] = resolve_model(model, revision)  # folders re-checked every run: they change on disk
        return self._models[key]

    def _load_options(self, request: Request, ref: ModelRef) -> LoadOptions:
        extra = request.extra
        device = extra.get("device") or default_device()
        dtype = extra.get("dtype") or default_dtype(device)
        problems = []
        if dtype not in DTYPES:
            problems.append(f"extra.dtype: must be one of {', '.join(DTYPES)} (got {dtype!r})")
        if extra.get("offload") not in OFFLOAD:
            problems.append(f"extra.offload: must be 'model', 'sequential' or absent (got {extra.get('offload')!r})")
        if not isinstance(device, str) or device.split(":")[0] not in ("cuda", "cpu", "mps", "xpu"):
            problems.append(f"extra.device: must be cuda, cuda:N, mps, xpu or cpu (got {device!r})")
        elif device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                problems.append("extra.device: cuda was asked for but torch sees no CUDA GPU here (install a CUDA build of torch, or use cpu)")
        lora = _lora_list(extra.get("lora"), problems)
        if problems:
            raise RequestError(problems)
        return LoadOptions(ref, extra.get("pipeline"), device, dtype, extra.get("offload"), bool(extra.get("vae_tiling")),
                           bool(extra.get("vae_slicing")), lora)

    # -- a run ------------------------------------------------------------------

    def generate(self, request: Request, control: RunControl) -> np.ndarray:
        import torch

        ref = self._model(request.model, request.extra.get("revision"))
        options = self._load_options(request, ref)
        pipe, cached, load_s = self.cache.get(options)
        signature = inspect.signature(type(pipe).__call__).parameters
        video = "num_frames" in signature
        kwargs = keyframes.call_arguments(request, pipe, self._call_arguments(request, signature, video, pipe, options))
        kwargs = conditioning.call_arguments(motion.conditioning_view(request, type(pipe)), pipe, kwargs)
        kwargs, motion_record = motion.call_arguments(request, pipe, kwargs)
        layout = LatentLayout(pipe, request.height, request.width)
        previewer = Previewer(layout, self.projections, float(request.extra.get("preview_rate", 4.0)), self._tiny_vae(request, options))

        # The window pipeline hands over the whole clip's starting latents as "latents", not the window being denoised.
        windowed = keyframes.mechanism(type(pipe)) == "windows"

        def on_step_end(pipeline: Any, index: int, timestep: Any, tensors: dict) -> dict:
            latents = None if windowed else tensors.get("latents")
            total = getattr(pipeline, "num_timesteps", None) or request.steps
            final = index + 1 >= total
            control.step(index + 1, total, previewer(latents, final=final) if latents is not None else None)
            # Nothing is changed, so nothing goes back: a pipeline that sets "latents" from the callback's output
            # (LTXI2VLongMultiPromptPipeline puts it into its packed window latents) must keep its own.
            return {}

        if "callback_on_step_end" in signature:
            kwargs["callback_on_step_end"] = on_step_end
            kwargs["callback_on_step_end_tensor_inputs"] = ["latents"]
        started = time.perf_counter()
        free_noise = keyframes.enable(request, pipe)
        try:
            with torch.inference_mode():
                output = pipe(**kwargs)
        except torch.cuda.OutOfMemoryError as exc:
            raise self._out_of_memory(exc, request, options) from None
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise self._out_of_memory(exc, request, options) from None
            raise
        finally:
            if free_noise:  # the cached pipeline goes back as it was, for runs without keyframes
                keyframes.disable(pipe)
        frames = frames_from_output(output)
        if windowed and len(frames) > request.frames:  # fused windows come back whole (33 frames asked, 45 made): cut the tail
            frames = frames[: request.frames]
        check_picture(frames)
        if previewer.last_latents is not None and (layout.class_name, layout.channels) not in self.projections:
            fitted = fit_projection(layout, previewer.last_latents, frames)
            if fitted is not None:
                self.projections[(layout.class_name, fitted[0].shape[0])] = fitted
        self.last_run = {"cache_hit": cached, "load_s": load_s, "pipeline_s": time.perf_counter() - started,
                         "preview_s": previewer.seconds, "previews": previewer.count, **motion_record}
        return frames

    def _call_arguments(self, request: Request, signature: Any, video: bool, pipe: Any, options: LoadOptions) -> dict[str, Any]:
        import torch

        generator_device = "cpu" if options.offload or options.device == "mps" else options.device
        generator = torch.Generator(generator_device).manual_seed(request.seed)
        wanted = {"prompt": request.prompt, "negative_prompt": request.negative_prompt or None, "height": request.height,
                  "width": request.width, "num_inference_steps": request.steps, "guidance_scale": request.guidance,
                  "generator": generator, "output_type": "np", "frame_rate": request.fps}
        if video:
            wanted["num_frames"] = request.frames
        kwargs = {k: v for k, v in wanted.items() if k in signature and v is not None}
        for name, value in request.extra.items():
            if name not in OPTION_NAMES:
                kwargs[name] = _load_media_argument(value) if _media_parameter(name) else value
        if not video and request.frames > 1:
            kwargs.update(_latent_walk(pipe, request, generator_device, signature))
        return kwargs

    def _tiny_vae(self, request: Request, options: LoadOptions) -> Any:
        folder = request.extra.get("preview_vae")
        if not folder:
            return None
        if folder not in self._tiny_vaes:
            import torch
            from diffusers import AutoencoderTiny

            from explorer.backends.diffusers.loading import _dtype_keyword

            vae = AutoencoderTiny.from_pretrained(folder, **{_dtype_keyword(): getattr(torch, DTYPES[options.dtype])})
            self._tiny_vaes[folder] = vae.to("cpu" if options.offload else options.device).eval()
        return self._tiny_vaes[folder]

    def _out_of_memory(self, exc: BaseException, request: Request, options: LoadOptions) -> BackendError:
        free_memory()
        tips = []
        if not options.offload:
            tips.append("extra={'offload': 'model'} (model CPU offload)")
        if not options.vae_tiling:
            tips.append("extra={'vae_tiling': True}")
        tips.append(f"fewer frames or a lower resolution (now {request.frames} frames at {request.width}x{request.height})")
        if options.dtype == "fp32":
            tips.append("dtype bf16 or fp16")
        return BackendError(f"out of memory on {options.device}: {str(exc).splitlines()[0][:200]}", hint="try " + "; or ".join(tips))

    def hint(self, error: BaseException) -> str | None:
        hint = getattr(error, "hint", None)
        if hint:
            return hint
        text = str(error)
        if "must be divisible by" in text or "have to be divisible by" in text:
            return "this pipeline needs width and height in multiples of its VAE factor (often 8, 16 or 32)"
        return None

    def info(self, request: Request) -> dict[str, Any]:
        import diffusers
        import torch

        ref = self._model(request.model, request.extra.get("revision"))
        options = self._load_options(request, ref)
        pipe, cached, load_s = self.cache.get(options)
        scheduler = getattr(pipe, "scheduler", None)
        versions = {"torch": torch.__version__, "diffusers": diffusers.__version__}
        try:
            import transformers

            versions["transformers"] = transformers.__version__
        except ImportError:
            pass
        found = {
            "device": options.device, "dtype": options.dtype, "model": ref.to_dict(), "pipeline": type(pipe).__name__,
            "scheduler": type(scheduler).__name__ if scheduler is not None else None,
            "scheduler_config": {k: v for k, v in dict(getattr(scheduler, "config", {})).items() if _jsonable(v)},
            "offload": options.offload, "vae_tiling": options.vae_tiling, "vae_slicing": options.vae_slicing,
            "adapters": [{"path": p, "weight": w} for p, w in options.lora], "versions": versions,
            "cache_hit": cached, "load_s": load_s,
        }
        if request.motion:  # where the control video starts from, so a reader knows what the regions were cut from
            found["motion"] = {"arguments": list(motion.CONTROL_ARGUMENTS), "first_frame": motion.first_frame_source(request)}
        return found

    def unload(self, model: str | None = None) -> int:
        """Free cached pipelines (all, or one model's); returns how many were dropped."""
        return self.cache.unload(model)


def _latent_walk(pipe: Any, request: Request, device: str, signature: Any) -> dict[str, Any]:
    """Starting noise for an image pipeline's frames: a looping walk between this seed's noise and the next seed's."""
    import torch

    if "latents" not in signature or "num_images_per_prompt" not in signature:
        raise BackendError(f"{type(pipe).__name__} makes images but cannot be animated (no latents / num_images_per_prompt arguments)")
    channels = int(getattr(getattr(pipe, "unet", None) or getattr(pipe, "transformer", None), "config").in_channels)
    factor = int(getattr(pipe, "vae_scale_factor", 8))
    shape = (1, channels, request.height // factor, request.width // factor)
    first = torch.randn(shape, generator=torch.Generator(device).manual_seed(request.seed), device=device)
    second = torch.randn(shape, generator=torch.Generator(device).manual_seed((request.seed + 1) % (2**63 - 1)), device=device)
    weights = (1 - np.cos(2 * np.pi * np.arange(request.frames) / request.frames)) / 2
    latents = torch.cat([_slerp(first, second, float(w)) for w in weights])
    dtype = getattr(pipe, "dtype", torch.float32)
    return {"latents": latents.to(dtype), "num_images_per_prompt": request.frames}


def _slerp(a: Any, b: Any, t: float) -> Any:
    import torch

    dot = torch.sum(a * b) / (a.norm() * b.norm())
    omega = torch.arccos(torch.clamp(dot, -1.0, 1.0))
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def _lora_list(value: Any, problems: list[str]) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, dict)) else value
    adapters = []
    for item in items if isinstance(items, list) else [items]:
        path, weight = (item, 1.0) if isinstance(item, str) else (item.get("path"), item.get("weight", 1.0)) if isinstance(item, dict) else (None, None)
        if not isinstance(path, str) or not isinstance(weight, (int, float)):
            problems.append(f"extra.lora: each adapter is a path or {{'path': ..., 'weight': number}} (got {item!r})")
            continue
        if not Path(path).expanduser().exists() and path.count("/") != 1:
            problems.append(f"extra.lora: adapter {path} does not exist")
            continue
        adapters.append((path, float(weight)))
    return tuple(adapters)


def _media_parameter(name: str) -> bool:
    # Other pictures a pipeline may take in extra (the conditioning fields are request fields: explorer.conditioning).
    return name in ("mask_image", "control_image")


def _load_media_argument(value: Any) -> Any:
    """A path in a request becomes the PIL image (or list of frames) the pipeline expects."""
    if not isinstance(value, str):
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise BackendError(f"conditioning file {value} does not exist")
    if path.suffix.lower() in (".mp4", ".webm", ".mov", ".mkv", ".gif"):
        from PIL import Image

        from explorer.media import read_frames

        return [Image.fromarray(frame) for frame in read_frames(path)]
    from PIL import Image

    return Image.open(path).convert("RGB")


def _type_name(annotation: Any, default: Any) -> str:
    text = str(annotation)
    if "Image" in text or "PipelineImageInput" in text:
        return "image"
    if "video" in text.lower():
        return "video"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if annotation is kind or isinstance(default, kind):
            return name
    return "json"


def _jsonable(value: Any) -> bool:
    import json

    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False
