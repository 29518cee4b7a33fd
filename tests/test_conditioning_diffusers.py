"""Conditioning media on diffusers pipelines, through the real diffusers code, on tiny pipelines built here and loaded back by path."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("ftfy")  # the Wan image-to-video and VACE pipelines clean prompts with it

import tiny_pipelines  # noqa: E402 - a helper module beside the tests
from explorer.request import RequestError  # noqa: E402

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


# -- through the lab and the diffusers backend -------------------------------------------------------------


@pytest.fixture
def home(tmp_path):
    """A file log: where the log lives is covered by test_log and test_runs."""
    from homes import Home

    return Home("file", tmp_path)


@pytest.fixture
def backend():
    """A fresh backend registered as 'diffusers', so each test sees its own cache (and its load count)."""
    from explorer import backends
    from explorer.backends.diffusers import DiffusersBackend

    fresh = DiffusersBackend()
    backends.register("diffusers", lambda: fresh)
    yield fresh
    backends.register("diffusers", DiffusersBackend)


@pytest.fixture(scope="session")
def wan_t2v(tmp_path_factory):
    return tiny_pipelines.build_text_to_video(tmp_path_factory.mktemp("wan") / "pipe", "wan")


def tiny(folder, **fields):
    return dict(backend="diffusers", model=str(folder), frames=9, width=32, height=32, steps=2, guidance=1.0,
                extra={"max_sequence_length": 16}, progress=False, **fields)


def _array(seed: int, count: int | None = None):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, ((count,) if count else ()) + (32, 32, 3), dtype=np.uint8)


def test_each_pipeline_runs_with_the_media_it_takes(home, backend, folders):
    from explorer.media import read_frames

    lab = home.open()
    source = lab.generate("a sketch to follow", frames=9, width=32, height=32, steps=2, progress=False)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255  # generate the middle, keep the rest of the video
    runs = {
        "wan_i2v": lab.generate("a kite rises", **tiny(folders["wan_i2v"], image=(source, -1))),
        "wan_flf2v": lab.generate("a kite rises", **tiny(folders["wan_flf2v"], image=_array(1), last_image=_array(2))),
        "wan_vace": lab.generate("a kite rises", **tiny(folders["wan_vace"], video=source, mask=mask, reference_images=[_array(3)])),
        "ltx_condition": lab.generate("a kite rises", **tiny(folders["ltx_condition"], image=_array(1), video={"media": source, "at": 4},
                                                           last_image=_array(2))),
    }
    for family, run in runs.items():
        assert run.ok, (family, run.error)
        assert read_frames(run.media).shape == (9, 32, 32, 3)
        logged = lab.run(run.id).request
        assert logged == run.request, family  # the references are logged with the run
    assert runs["wan_vace"].request.video["sha256"] == source.sha256
    assert runs["ltx_condition"].request.video["at"] == 4
    # the media reach the pipeline: the same run without them differs, and the same request again is the same clip
    vace_again = lab.rerun(runs["wan_vace"])
    np.testing.assert_array_equal(read_frames(vace_again.media), read_frames(runs["wan_vace"].media))
    without = lab.generate("a kite rises", **tiny(folders["wan_vace"], video=source, mask=mask))
    assert np.abs(read_frames(without.media).astype(int) - read_frames(runs["wan_vace"].media)).max() > 2


def test_a_fork_keeps_the_media_and_a_change_of_picture_changes_the_clip(home, backend, folders):
    from explorer.media import read_frames

    lab = home.open()
    run = lab.generate("a kite rises", **tiny(folders["ltx_condition"], image=_array(1)))
    same = lab.fork(run)
    other = lab.fork(run, image=_array(2))
    assert same.request.image == run.request.image and other.request.image != run.request.image
    np.testing.assert_array_equal(read_frames(same.media), read_frames(run.media))
    assert np.abs(read_frames(other.media).astype(int) - read_frames(run.media)).max() > 2


@pytest.mark.parametrize(
    "family, fields, expected",
    [
        ("wan", {"image": "PICTURE"}, "image: WanPipeline does not take image (it takes: none); image is taken by: sketch; "
                                      "diffusers WanImageToVideoPipeline"),
        ("wan_i2v", {"image": "PICTURE", "video": "CLIP"}, "video: WanImageToVideoPipeline does not take video (it takes: image, "
                                                          "last_image); video is taken by: diffusers WanVACEPipeline, LTXConditionPipeline"),
        ("wan_i2v", {}, "image: WanImageToVideoPipeline needs a first picture"),
        ("wan_i2v", {"image": "PICTURE", "last_image": "PICTURE"}, "last_image: this WanImageToVideoPipeline model takes a first frame only"),
        ("wan_i2v", {"image": {"media": "PICTURE", "at": 3}}, "image: WanImageToVideoPipeline does not place media at a chosen frame (at=3); "
                                                              "LTXConditionPipeline does"),
        ("wan_flf2v", {"image": "PICTURE"}, "last_image: this WanImageToVideoPipeline model is a first-last-frame model"),
        ("wan_vace", {"image": "PICTURE", "video": "CLIP"}, "image: WanVACEPipeline does not take image (it takes: video, mask, "
                                                           "reference_images)"),
        ("ltx_condition", {"mask": "PICTURE", "reference_images": ["PICTURE"]},
         "mask: LTXConditionPipeline does not take mask (it takes: image, last_image, video); mask is taken by: diffusers WanVACEPipeline"),
        ("ltx_condition", {"extra": {"image": "first.png", "max_sequence_length": 16}},
         "extra.image: conditioning media are request fields: give image= a path"),
    ],
)
def test_a_pipeline_refuses_what_it_does_not_take_before_loading(home, backend, folders, wan_t2v, family, fields, expected):
    lab = home.open()
    folder = wan_t2v if family == "wan" else folders[family]
    swap = {"PICTURE": _array(1), "CLIP": _array(2, count=9)}

    def real(value):
        if isinstance(value, str):
            return swap.get(value, value)
        if isinstance(value, dict):
            return {k: real(v) for k, v in value.items()}
        if isinstance(value, list):
            return [real(v) for v in value]
        return value

    arguments = tiny(folder, **{k: v for k, v in real(fields).items() if k != "extra"})
    arguments["extra"] = real(fields.get("extra", arguments["extra"]))
    with pytest.raises(RequestError) as caught:
        lab.generate("a kite", **arguments)
    assert expected in str(caught.value)
    assert backend.cache.loads == 0  # refused from the class and config files alone
    assert len(lab.runs()) == 0


def test_a_missing_frame_is_named_for_diffusers_too(home, backend, folders):
    lab = home.open()
    source = lab.generate("a sketch", frames=9, width=32, height=32, steps=2, progress=False)
    with pytest.raises(RequestError, match=rf"image: frame 9 is outside run {source.id} \(its 9 frames are 0 to 8"):
        lab.generate("a kite", **tiny(folders["wan_i2v"], image=(source, 9)))
    assert backend.cache.loads == 0
