"""The diffusers backend through the real diffusers code, on tiny pipelines built here, saved and loaded back by path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from explorer import backends  # noqa: E402
from explorer.backends.base import BackendError, RunControl  # noqa: E402
from explorer.backends.diffusers import DiffusersBackend  # noqa: E402
from explorer.backends.diffusers.frames import frames_from_output  # noqa: E402
from explorer.request import Request, RequestError  # noqa: E402
import tiny_pipelines  # noqa: E402 - a helper module beside the tests


@pytest.fixture
def home(tmp_path):
    """These tests are about the diffusers backend, not where the log lives: a file log only (test_log, test_runs and test_api cover both homes)."""
    from homes import Home

    return Home("file", tmp_path)




@pytest.fixture(scope="session")
def t2v_folder(tmp_path_factory):
    return tiny_pipelines.build_text_to_video(tmp_path_factory.mktemp("animatediff") / "pipe", "animatediff")


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    return tiny_pipelines.build_image_pipeline(tmp_path_factory.mktemp("sd") / "pipe")


@pytest.fixture(scope="session")
def i2v_folder(tmp_path_factory):
    return tiny_pipelines.build_image_to_video(tmp_path_factory.mktemp("ltx-i2v") / "pipe")


@pytest.fixture
def backend():
    """A fresh backend registered as 'diffusers', so each test sees its own cache."""
    fresh = DiffusersBackend()
    backends.register("diffusers", lambda: fresh)
    yield fresh
    backends.register("diffusers", DiffusersBackend)


def t2v(folder, **fields):
    return dict(backend="diffusers", model=str(folder), frames=8, width=64, height=64, steps=3, guidance=1.0, **fields)


# -- frames normalisation (unit) ------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda f: f,                                                         # (T, H, W, 3) float in [0, 1]
        lambda f: f[None],                                                   # (1, T, H, W, 3)
        lambda f: (f * 255).round().astype(np.uint8),                        # uint8
        lambda f: torch.from_numpy(f).permute(0, 3, 1, 2)[None] * 2 - 1,     # (1, T, 3, H, W) in [-1, 1]
        lambda f: torch.from_numpy(f).permute(0, 3, 1, 2).half(),            # (T, 3, H, W) fp16 in [0, 1]
        lambda f: [[_pil(x) for x in f]],                                    # nested PIL lists
        lambda f: type("Out", (), {"frames": f[None]})(),                    # an output object
    ],
)
def test_frames_normalise_to_uint8_thwc(make):
    frames = np.random.default_rng(0).random((3, 8, 10, 3), dtype=np.float32)
    out = frames_from_output(make(frames))
    assert out.dtype == np.uint8 and out.shape == (3, 8, 10, 3)
    assert np.abs(out.astype(int) - np.round(frames * 255)).max() <= 2


def test_frames_normalise_single_image_and_reject_nonsense():
    assert frames_from_output(np.zeros((8, 10, 3), np.float32) + 0.5).shape == (1, 8, 10, 3)
    with pytest.raises(BackendError, match="NaN frames"):
        frames_from_output(np.full((2, 4, 4, 3), np.nan, np.float32))
    with pytest.raises(BackendError, match="not frames"):
        frames_from_output(object())


def _pil(frame):
    from PIL import Image

    return Image.fromarray((frame * 255).round().astype(np.uint8))


# -- the real pipeline ------------------------------------------------------------------------


def test_text_to_video_generates_logs_and_reuses_the_cache(lab, backend, t2v_folder):
    first = lab.generate("a corgi surfing", seed=1, progress=False, **t2v(t2v_folder))
    assert first.status == "succeeded", first.error
    row = lab.log.run(first.id)
    info = row["backend_info"]
    assert info["pipeline"] == "AnimateDiffPipeline" and info["device"] == "cpu" and info["dtype"] == "fp32"
    assert info["model"]["kind"] == "folder" and len(info["model"]["fingerprint"]) == 16
    assert info["scheduler"] and info["scheduler_config"] and info["versions"]["diffusers"]
    assert info["cache_hit"] is False
    second = lab.generate("a corgi surfing at dusk", seed=2, progress=False, **t2v(t2v_folder))
    assert second.ok and lab.log.run(second.id)["backend_info"]["cache_hit"] is True
    assert backend.cache.loads == 1  # the second call did not reload
    from explorer.media import read_frames

    assert read_frames(first.media).shape == (8, 64, 64, 3)


def test_previews_arrive_during_the_run_and_get_real_colours(lab, backend, t2v_folder):
    steps = []
    lab.generate("a kite", progress=False, on_step=steps.append, **t2v(t2v_folder, extra={"preview_rate": 1000}))
    assert [s.index for s in steps] == [1, 2, 3] and {s.total for s in steps} == {3}
    previews = [s.preview for s in steps if s.preview is not None]
    assert len(previews) == 3 and all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in previews)
    assert previews[0].shape[:2] == (32, 32)  # latent resolution: no VAE decode
    assert ("AnimateDiffPipeline", 4) in backend.projections  # fitted from the finished run
    assert backend.last_run["preview_s"] < backend.last_run["pipeline_s"]


@pytest.mark.parametrize("family, frames, size, extra", [("ltx", 9, 32, {"max_sequence_length": 16}), ("wan", 9, 32, {"max_sequence_length": 16})])
def test_other_text_to_video_families_and_their_latent_layouts(lab, backend, tmp_path, family, frames, size, extra):
    folder = tiny_pipelines.build_text_to_video(tmp_path / family, family)
    steps = []
    run = lab.generate("a kite", backend="diffusers", model=str(folder), frames=frames, width=size, height=size, steps=2, guidance=1.0,
                       extra={**extra, "preview_rate": 1000}, on_step=steps.append, progress=False)
    assert run.ok, run.error
    previews = [s.preview for s in steps]
    assert len(previews) == 2 and all(p is not None and p.ndim == 3 and p.shape[2] == 3 for p in previews)
    assert len(backend.projections) == 1  # the packed (LTX) or channels-first (Wan) latents were understood


def test_previews_are_throttled(lab, backend, t2v_folder):
    steps = []
    lab.generate("a kite", progress=False, on_step=steps.append, **t2v(t2v_folder, extra={"preview_rate": 0.001}))
    assert [s.preview is not None for s in steps] == [True, False, True]  # the first, then only the final step


def test_cancel_mid_run_keeps_the_pipeline_usable(lab, backend, t2v_folder):
    reference = backend.generate(Request(prompt="a kite", seed=5, **t2v(t2v_folder)), RunControl())
    control = RunControl()

    def stop_at_two(step):
        if step.index == 2:
            control.cancel()

    run = lab.generate("a kite", seed=5, control=control, on_step=stop_at_two, progress=False, **t2v(t2v_folder, extra={}))
    assert run.status == "cancelled" and lab.log.run(run.id)["status"] == "cancelled"
    again = backend.generate(Request(prompt="a kite", seed=5, **t2v(t2v_folder)), RunControl())
    assert np.array_equal(reference, again) and backend.cache.loads == 1


def test_same_seed_same_frames_and_rerun_of_a_logged_run(lab, backend, t2v_folder):
    request = Request(prompt="a red kite", seed=11, **t2v(t2v_folder))
    first = backend.generate(request, RunControl())
    assert np.array_equal(first, backend.generate(request, RunControl()))
    assert not np.array_equal(first, backend.generate(request.replace(seed=12), RunControl()))
    logged = lab.generate(request, progress=False)
    rerun = lab.rerun(logged.id, progress=False)
    assert rerun.ok and rerun.request == logged.request


def test_unknown_parameter_is_rejected_by_name_before_any_work(lab, backend, t2v_folder):
    with pytest.raises(RequestError, match="extra.strenght: not a parameter of AnimateDiffPipeline"):
        lab.generate("a kite", progress=False, **t2v(t2v_folder, extra={"strenght": 0.5}))
    with pytest.raises(RequestError, match="extra.dtype: must be one of fp32, fp16, bf16"):
        lab.generate("a kite", progress=False, **t2v(t2v_folder, extra={"dtype": "fp8"}))
    assert len(lab.runs()) == 0 and backend.cache.loads == 0


def test_parameters_come_from_the_pipeline_signature(backend, t2v_folder, i2v_folder):
    names = {p.name: p for p in backend.parameters(str(t2v_folder))}
    assert {"dtype", "offload", "lora"} <= set(names)  # backend options
    assert "eta" in names and names["eta"].type == "float" and names["eta"].default == 0.0
    assert "prompt" not in names and "generator" not in names  # filled from the request
    i2v = {p.name: p for p in backend.parameters(str(i2v_folder))}
    assert "image" not in i2v and "decode_timestep" in i2v  # image is a request field now (explorer.conditioning)


def test_out_of_memory_is_logged_with_a_hint_and_the_kernel_goes_on(lab, backend, t2v_folder, monkeypatch):
    assert lab.generate("warm up", progress=False, **t2v(t2v_folder)).ok
    pipe = backend.cache.get(backend.cache.keys()[0])[0]

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(pipe.unet, "forward", oom)
    with pytest.warns(RuntimeWarning, match="out of memory"):
        run = lab.generate("too big", progress=False, **t2v(t2v_folder))
    row = lab.log.run(run.id)
    assert row["status"] == "failed" and "out of memory on cpu" in row["error"]
    assert "offload" in row["hint"] and "vae_tiling" in row["hint"] and "8 frames at 64x64" in row["hint"]
    monkeypatch.undo()
    assert lab.generate("fits", progress=False, **t2v(t2v_folder)).ok


@pytest.mark.parametrize("value, reason", [(float("nan"), "NaN frames"), (-1.0, "all-black frames")])
def test_nan_or_black_frames_fail_with_the_reason(lab, backend, t2v_folder, monkeypatch, value, reason):
    assert lab.generate("warm up", progress=False, **t2v(t2v_folder)).ok
    pipe = backend.cache.get(backend.cache.keys()[0])[0]
    real_decode = pipe.vae.decode

    def broken(*args, **kwargs):
        out = real_decode(*args, **kwargs)
        out.sample.fill_(value)
        return out

    monkeypatch.setattr(pipe.vae, "decode", broken)
    with pytest.warns(RuntimeWarning, match=reason):
        run = lab.generate("broken vae", progress=False, **t2v(t2v_folder))
    assert run.status == "failed" and reason in run.error and "fp32" in run.hint


def test_missing_or_incomplete_model_folders_name_what_is_missing(lab, backend, t2v_folder, tmp_path):
    with pytest.raises(RequestError, match="model: folder /nowhere/model does not exist"):
        lab.generate("a kite", progress=False, **t2v("/nowhere/model"))
    broken = tmp_path / "broken"
    shutil.copytree(t2v_folder, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(RequestError, match="is incomplete: missing unet/"):
        lab.generate("a kite", progress=False, **t2v(broken))
    (broken / "model_index.json").unlink()
    with pytest.raises(RequestError, match="has no model_index.json"):
        lab.generate("a kite", progress=False, **t2v(broken))
    with pytest.raises(RequestError, match="needs model="):
        lab.generate("a kite", backend="diffusers", progress=False)
    assert len(lab.runs()) == 0


def test_a_hub_id_that_is_not_cached_is_a_clear_error_offline(lab, backend):
    with pytest.raises(RequestError, match="model: cannot load 'nobody/no-such-model' from the hub cache or the hub"):
        lab.generate("a kite", backend="diffusers", model="nobody/no-such-model", progress=False)


def test_lora_adapter_with_a_weight_changes_frames_and_is_recorded(lab, backend, image_folder, tmp_path):
    lora = tiny_pipelines.build_lora(tmp_path / "lora", image_folder)
    fields = dict(backend="diffusers", model=str(image_folder), frames=2, width=32, height=32, steps=2, guidance=1.0)
    plain = backend.generate(Request(prompt="a lighthouse", **fields), RunControl())
    styled_request = Request(prompt="a lighthouse", **fields, extra={"lora": [{"path": str(lora), "weight": 0.8}]})
    styled = backend.generate(styled_request, RunControl())
    assert np.abs(plain.astype(int) - styled).max() > 0
    run = lab.generate(styled_request, progress=False)
    assert lab.log.run(run.id)["backend_info"]["adapters"] == [{"path": str(lora), "weight": 0.8}]
    with pytest.raises(RequestError, match="extra.lora: adapter /no/lora does not exist"):
        lab.generate("x", progress=False, **{**fields, "extra": {"lora": "/no/lora"}})


def test_cache_cap_and_unload(backend, t2v_folder, image_folder):
    backend.generate(Request(prompt="a", **t2v(t2v_folder)), RunControl())
    backend.generate(Request(prompt="a", backend="diffusers", model=str(image_folder), frames=2, width=32, height=32, steps=2), RunControl())
    assert len(backend.cache.keys()) == 1 and backend.cache.loads == 2  # the cap (1) evicted the first
    assert backend.unload() == 1 and backend.cache.keys() == []


def test_an_image_pipeline_is_animated_over_a_seed_walk(lab, backend, image_folder):
    run = lab.generate("a lighthouse", backend="diffusers", model=str(image_folder), frames=6, width=32, height=32, steps=2,
                       guidance=1.0, progress=False)
    assert run.ok, run.error
    frames = backend.generate(run.request, RunControl())
    assert frames.shape == (6, 32, 32, 3)
    assert not np.array_equal(frames[0], frames[3])  # it moves


def test_image_to_video_takes_a_conditioning_image(lab, backend, i2v_folder, tmp_path):
    from PIL import Image

    image = tmp_path / "first.png"
    Image.new("RGB", (32, 32), (200, 40, 40)).save(image)
    run = lab.generate("a red square melts", backend="diffusers", model=str(i2v_folder), frames=9, width=32, height=32, steps=2,
                       guidance=1.0, image=str(image), extra={"max_sequence_length": 16}, progress=False)
    assert run.ok, run.error
    assert lab.log.run(run.id)["request"]["image"]["source"] == "file first.png"
    with pytest.raises(RequestError, match="image: no such file .*nope.png"):
        lab.generate("x", backend="diffusers", model=str(i2v_folder), frames=9, width=32, height=32, steps=2,
                     image=str(tmp_path / "nope.png"), progress=False)
    with pytest.raises(RequestError, match=r"extra.image: conditioning media are request fields: give image= a path"):
        lab.generate("x", backend="diffusers", model=str(i2v_folder), frames=9, width=32, height=32, steps=2,
                     extra={"image": str(image)}, progress=False)


def test_cli_generates_with_a_model_folder(t2v_folder, tmp_path):
    db = tmp_path / "cli.duckdb"
    result = subprocess.run([sys.executable, "-m", "explorer.cli", "generate", "a corgi", "--backend", "diffusers", "--model", str(t2v_folder),
                             "--frames", "8", "--size", "64x64", "--steps", "2", "--guidance", "1", "--db", str(db), "--json"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "succeeded" and run["backend"] == "diffusers" and run["model"] == str(t2v_folder)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_with_fp16_and_offload(lab, backend, t2v_folder):
    for extra in ({"device": "cuda", "dtype": "fp16"}, {"device": "cuda", "dtype": "fp16", "offload": "model", "vae_tiling": True}):
        run = lab.generate("a kite", progress=False, **t2v(t2v_folder, extra=extra))
        assert run.ok, run.error
        assert lab.log.run(run.id)["backend_info"]["device"] == "cuda"
    request = Request(prompt="a kite", seed=3, **t2v(t2v_folder, extra={"device": "cuda"}))
    assert np.array_equal(backend.generate(request, RunControl()), backend.generate(request, RunControl()))
