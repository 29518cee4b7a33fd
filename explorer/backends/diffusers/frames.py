"""Whatever a pipeline returns, as T×H×W×3 uint8 frames — and a check that they are a picture at all."""

from __future__ import annotations

from typing import Any

import numpy as np

from explorer.backends.base import BackendError


def frames_from_output(output: Any) -> np.ndarray:
    """Normalise a pipeline's output to a T×H×W×3 uint8 array.

    Accepts an output object with ``.frames`` or ``.images``; PIL images and
    (nested) lists of them; numpy arrays or torch tensors, float in [0, 1] (or
    [-1, 1] tensors), or uint8; channels last or first; with or without a batch
    axis (the first item of a batch is taken).
    """
    for attribute in ("frames", "images"):
        if hasattr(output, attribute):
            output = getattr(output, attribute)
            break
    if isinstance(output, tuple):
        output = output[0]
    array = _to_array(output)
    if array.ndim == 5:  # batch of videos: take the first
        array = array[0]
    if array.ndim == 3:  # one image
        array = array[None]
    if array.ndim != 4:
        raise BackendError(f"the pipeline returned frames of shape {array.shape}; expected (frames, height, width, 3)")
    if array.shape[-1] not in (1, 3, 4) and array.shape[1] in (1, 3, 4):
        array = np.moveaxis(array, 1, -1)  # channels first -> last
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] == 4:
        array = array[..., :3]
    if array.shape[-1] != 3:
        raise BackendError(f"the pipeline returned frames of shape {array.shape}; expected 3 colour channels")
    return _to_uint8(array)


def _to_array(output: Any) -> np.ndarray:
    if isinstance(output, np.ndarray):
        return output
    if hasattr(output, "detach") and hasattr(output, "cpu"):  # a torch tensor, without importing torch here
        tensor = output.detach().cpu()
        if str(tensor.dtype) in ("torch.bfloat16", "torch.float16"):
            tensor = tensor.float()
        array = tensor.numpy()
        # diffusers' "pt" output is in [0, 1]; raw decoder output is [-1, 1]
        if array.dtype.kind == "f" and np.nanmin(array) < -0.01:
            array = (array + 1) / 2
        return array
    if isinstance(output, (list, tuple)):
        if not output:
            raise BackendError("the pipeline returned no frames")
        if hasattr(output[0], "convert") and hasattr(output[0], "size"):  # PIL images
            return np.stack([np.asarray(image.convert("RGB")) for image in output])
        return np.stack([_to_array(item) for item in output])
    if hasattr(output, "convert") and hasattr(output, "size"):
        return np.asarray(output.convert("RGB"))[None]
    raise BackendError(f"the pipeline returned {type(output).__name__}, not frames")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    array = array.astype(np.float32, copy=False)
    if np.isnan(array).any():
        raise BackendError("the pipeline returned NaN frames",
                           hint="fp16 overflowed: use dtype='bf16' or 'fp32' (or a VAE with an fp16 fix), or fewer steps")
    if array.max(initial=0) > 1.5:  # already 0..255 floats
        array = array / 255.0
    return np.ascontiguousarray((np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8))


def check_picture(frames: np.ndarray) -> None:
    """Fail a run whose frames are all black (a silent fp16 or safety-checker failure)."""
    if int(frames.max(initial=0)) <= 2:
        raise BackendError("the pipeline returned all-black frames",
                           hint="often fp16 overflow in the VAE (use dtype='bf16' or 'fp32') or a safety checker blanking the output")
