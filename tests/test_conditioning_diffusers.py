"""Conditioning media on diffusers pipelines, through the real diffusers code, on tiny pipelines built here and loaded back by path."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("ftfy")  # the Wan image-to-video and VACE pipelines clean prompts with it

import tiny_pipelines  # noqa: E402 - a helper module beside the tests

CALL = dict(prompt="a red kite", num_inference_steps=2, guidance_scale=1.0, height=32, width=32, num_frames=9,
            max_sequence_length=16, output_type="np")


@pytest.fixture(scope="session")
def folders(tmp_path_factory):
    """Every tiny conditioning pipeline, built once and saved: family -> folder."""
    return {family: tiny_pipelines.build_conditioning(tmp_path_factory.mktemp(family) / "pipe", family)
            for family in tiny_pipelines.CONDITIONING_FAMILIES}


def _picture(seed: int, size: int = 32):
    from PIL import Image

    return Image.fromarray((np.random.default_rng(seed).random((size, size, 3)) * 255).astype("uint8"))


def test_tiny_conditioning_pipelines_load_back_and_run_with_their_media(folders):
    from diffusers import DiffusionPipeline
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
    from PIL import Image

    first, last = _picture(1), _picture(2)
    clip = [_picture(10 + i) for i in range(9)]
    calls = {
        "wan_i2v": [dict(image=first)],
        "wan_flf2v": [dict(image=first, last_image=last)],
        "wan_vace": [dict(video=clip), dict(video=clip, mask=[Image.new("L", (32, 32), 255)] * 9), dict(reference_images=[first])],
        "ltx_condition": [dict(image=first), dict(conditions=[LTXVideoCondition(image=first, frame_index=0),
                                                              LTXVideoCondition(video=clip[:5], frame_index=4)])],
    }
    expected_class = {"wan_i2v": "WanImageToVideoPipeline", "wan_flf2v": "WanImageToVideoPipeline",
                      "wan_vace": "WanVACEPipeline", "ltx_condition": "LTXConditionPipeline"}
    for family, media in calls.items():
        pipe = DiffusionPipeline.from_pretrained(folders[family])
        assert type(pipe).__name__ == expected_class[family]
        outputs = []
        for arguments in media:
            frames = np.asarray(pipe(**CALL, generator=torch.Generator().manual_seed(0), **arguments).frames)
            assert frames.shape == (1, 9, 32, 32, 3), (family, list(arguments))
            assert np.isfinite(frames).all()
            outputs.append(frames)
        again = np.asarray(pipe(**CALL, generator=torch.Generator().manual_seed(0), **media[0]).frames)
        np.testing.assert_array_equal(again, outputs[0])  # same call, same seed: same frames


def test_the_media_changes_the_frames(folders):
    """The conditioning reaches the model: another picture (or a reference image) gives other frames, same seed."""
    from diffusers import DiffusionPipeline

    vace = DiffusionPipeline.from_pretrained(folders["wan_vace"])
    plain = np.asarray(vace(**CALL, generator=torch.Generator().manual_seed(0)).frames)
    referenced = np.asarray(vace(**CALL, generator=torch.Generator().manual_seed(0), reference_images=[_picture(1)]).frames)
    assert np.abs(plain - referenced).max() > 1e-3
    ltx = DiffusionPipeline.from_pretrained(folders["ltx_condition"])
    one = np.asarray(ltx(**CALL, generator=torch.Generator().manual_seed(0), image=_picture(1)).frames)
    two = np.asarray(ltx(**CALL, generator=torch.Generator().manual_seed(0), image=_picture(2)).frames)
    assert np.abs(one - two).max() > 1e-3
