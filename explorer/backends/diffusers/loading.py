"""Finding, checking, loading and caching diffusers pipelines (torch and diffusers are imported lazily)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from explorer.request import RequestError

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
OFFLOAD = (None, "model", "sequential")


@dataclass(frozen=True)
class ModelRef:
    """A model as the run records it: a local folder (with a fingerprint) or a hub id (with a revision)."""

    source: str  # the folder path or hub id as given
    kind: str  # "folder" | "hub"
    class_name: str | None  # from model_index.json
    fingerprint: str | None = None  # folders: hash of configs, file names and sizes
    revision: str | None = None  # hub: the revision asked for

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "pipeline": self.class_name, "fingerprint": self.fingerprint, "revision": self.revision}


def looks_like_path(model: str) -> bool:
    """Folders exist, or start with . / ~; hub ids look like 'org/name' (exactly one slash)."""
    return Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or model.count("/") != 1


def resolve_model(model: str | None, revision: str | None = None) -> ModelRef:
    """Check a model reference before any work; a missing or incomplete folder names what is missing."""
    if not model:
        raise RequestError(["model: the diffusers backend needs model= (a local pipeline folder or a hub id such as 'org/name')"])
    if looks_like_path(model):
        folder = Path(model).expanduser()
        if not folder.exists():
            raise RequestError([f"model: folder {model} does not exist (and it is not a hub id of the form org/name)"])
        if not folder.is_dir():
            raise RequestError([f"model: {model} is a file; give the pipeline folder (the one holding model_index.json)"])
        index_path = folder / "model_index.json"
        if not index_path.is_file():
            raise RequestError([f"model: {model} has no model_index.json, so it is not a diffusers pipeline folder (save one with pipe.save_pretrained(folder))"])
        try:
            index = json.loads(index_path.read_text())
        except json.JSONDecodeError as exc:
            raise RequestError([f"model: {index_path} is not valid JSON ({exc})"]) from None
        missing = []
        for name, spec in index.items():
            if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
                continue
            sub = folder / name
            if not sub.is_dir():
                missing.append(f"{name}/")
            elif not any(sub.iterdir()):
                missing.append(f"{name}/ (empty)")
        if missing:
            raise RequestError([f"model: {model} is incomplete: missing {', '.join(missing)} (listed in model_index.json)"])
        return ModelRef(str(folder.resolve()), "folder", index.get("_class_name"), fingerprint=folder_fingerprint(folder))
    return ModelRef(model, "hub", _hub_class_name(model, revision), revision=revision or "main")


def _hub_class_name(model: str, revision: str | None) -> str | None:
    try:
        from diffusers import DiffusionPipeline

        config = DiffusionPipeline.load_config(model, revision=revision)
        return config.get("_class_name")
    except Exception as exc:  # noqa: BLE001 - any hub or cache failure becomes a message naming the model
        raise RequestError([f"model: cannot load {model!r} from the hub cache or the hub ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                            "no local folder has that name either; download it first (huggingface-cli download) or give a local folder"]) from None


def folder_fingerprint(folder: Path) -> str:
    """A cheap identity for a model folder: its config files' bytes plus every file's name and size."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        digest.update(f"{relative}:{path.stat().st_size}\n".encode())
        if path.suffix in (".json", ".txt"):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pipeline_class(ref: ModelRef, explicit: str | None = None) -> type:
    import diffusers

    name = explicit or ref.class_name
    if not name:
        raise RequestError([f"model: {ref.source} does not name its pipeline class; pass extra={{'pipeline': 'ClassName'}}"])
    cls = getattr(diffusers, name, None)
    if cls is None:
        raise RequestError([f"pipeline: diffusers {diffusers.__version__} has no pipeline class {name!r} (upgrade diffusers?)"])
    return cls


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_dtype(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp16" if device == "mps" else "fp32"


@dataclass(frozen=True)
class LoadOptions:
    """Everything that changes what a loaded pipeline is; the cache key."""

    model: ModelRef
    pipeline: str | None
    device: str
    dtype: str
    offload: str | None
    vae_tiling: bool
    vae_slicing: bool
    lora: tuple[tuple[str, float], ...]


def load_pipeline(options: LoadOptions) -> Any:
    import torch

    cls = pipeline_class(options.model, options.pipeline)
    kwargs: dict[str, Any] = {_dtype_keyword(): getattr(torch, DTYPES[options.dtype])}
    if options.model.kind == "hub":
        kwargs["revision"] = options.model.revision
    pipe = cls.from_pretrained(options.model.source, **kwargs)
    for index, (path, weight) in enumerate(options.lora):
        pipe.load_lora_weights(path, adapter_name=f"lora{index}")
    if options.lora:
        pipe.set_adapters([f"lora{i}" for i in range(len(options.lora))], adapter_weights=[w for _, w in options.lora])
    if options.offload == "model":
        pipe.enable_model_cpu_offload(device=options.device)
    elif options.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=options.device)
    else:
        pipe.to(options.device)
    vae = getattr(pipe, "vae", None)
    if options.vae_tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if options.vae_slicing and vae is not None and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)  # our own progress reporting replaces diffusers' bars
    return pipe


def _dtype_keyword() -> str:
    """diffusers 0.42 renamed ``torch_dtype`` to ``dtype`` (the old name warns); older releases know only the old one."""
    import diffusers

    major, minor = (int(part) for part in diffusers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (0, 42) else "torch_dtype"


class PipelineCache:
    """Loaded pipelines, newest use last; at most ``capacity`` stay resident (the oldest is unloaded)."""

    def __init__(self, capacity: int = 1):
        self.capacity = max(1, capacity)
        self._pipes: OrderedDict[LoadOptions, Any] = OrderedDict()
        self._lock = threading.RLock()
        self.loads = 0

    def get(self, options: LoadOptions, loader: Callable[[LoadOptions], Any] = load_pipeline) -> tuple[Any, bool, float]:
        """The pipeline for ``options``, whether it came from the cache, and the seconds spent loading."""
        with self._lock:
            if options in self._pipes:
                self._pipes.move_to_end(options)
                return self._pipes[options], True, 0.0
            while len(self._pipes) >= self.capacity:
                self._evict(next(iter(self._pipes)))
            started = time.perf_counter()
            pipe = loader(options)
            self.loads += 1
            self._pipes[options] = pipe
            return pipe, False, time.perf_counter() - started

    def unload(self, model: str | None = None) -> int:
        """Drop cached pipelines (all, or those of one model folder / hub id); returns how many."""
        with self._lock:
            doomed = [key for key in self._pipes if model is None or key.model.source in (model, str(Path(model).expanduser().resolve()))]
            for key in doomed:
                self._evict(key)
            return len(doomed)

    def keys(self) -> list[LoadOptions]:
        with self._lock:
            return list(self._pipes)

    def _evict(self, key: LoadOptions) -> None:
        self._pipes.pop(key, None)
        free_memory()


def free_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is present whenever a pipeline was loaded
        pass
