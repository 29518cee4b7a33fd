"""Keyframes: validation, easing, the sketch backend's blend, the round trip through the log, the clip file, fork and the CLI, and diffusers."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from explorer import limits
from explorer.backends.base import RunControl
from explorer.backends.sketch import SketchBackend
from explorer.keyframes import EASES, at, blend, ease, nearest, normalise
from explorer.media import read_frames, read_recipe
from explorer.request import Request, RequestError

FOREST, FIRE = "a quiet forest", "the forest on fire"
CLIP = dict(frames=12, width=64, height=48, steps=2, fps=6, seed=3)
KEYS = {"prompt": {0: FOREST, 11: {"value": FIRE, "ease": "smooth"}}, "guidance": {0: 3.0, 11: 9.0}}


@pytest.fixture
def home(tmp_path):
    """A file log: where the log lives is covered by test_log and test_runs."""
    from homes import Home

    return Home("file", tmp_path)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keyframes, expected",
    [
        ({"colour": {0: "red"}}, "keyframes.colour: not keyframable (keyframable: guidance, negative_prompt, prompt)"),
        ({"seed": {0: 1}}, "keyframes.seed: not keyframable"),
        ({"prompt": {}}, "keyframes.prompt: must be a non-empty object of frame -> value"),
        ({"prompt": "a forest"}, "keyframes.prompt: must be a non-empty object"),
        ({"prompt": {12: "a"}}, "keyframes.prompt.12: frame must be between 0 and 11 (the clip has 12 frames) (got 12)"),
        ({"prompt": {-1: "a"}}, "keyframes.prompt.-1: frame must be between 0 and 11"),
        ({"prompt": {"x": "a"}}, "keyframes.prompt.x: a frame must be a whole number from 0 to 11 (got 'x')"),
        ({"prompt": {1.5: "a"}}, "keyframes.prompt.1.5: a frame must be a whole number"),
        ({"prompt": {0: "a", "0": "b"}}, "keyframes.prompt.0: frame 0 is keyed twice"),
        ({"prompt": {0: "  "}}, "keyframes.prompt.0: must contain some text"),
        ({"prompt": {0: 5}}, "keyframes.prompt.0: must be text (got int)"),
        ({"prompt": {0: "x" * 4001}}, "keyframes.prompt.0: must be at most 4000 characters (got 4001)"),
        ({"prompt": {0: "a\x1b[2Jb"}}, "keyframes.prompt.0: must not hold control characters"),
        ({"negative_prompt": {0: "caf\udce9"}}, "keyframes.negative_prompt.0: is not valid UTF-8 text"),
        ({"guidance": {0: 51}}, "keyframes.guidance.0: must be between 0 and 50 (got 51)"),
        ({"guidance": {0: float("nan")}}, "keyframes.guidance.0: must be a number between 0 and 50 (got nan)"),
        ({"guidance": {0: "high"}}, "keyframes.guidance.0: must be a number between 0 and 50"),
        ({"guidance": {0: True}}, "keyframes.guidance.0: must be a number"),
        ({"guidance": {0: {"value": 3, "ease": "bouncy"}}}, "keyframes.guidance.0: ease must be one of step, linear, smooth (got 'bouncy')"),
        ({"guidance": {0: {"value": 3, "speed": 2}}}, "keyframes.guidance.0: a key is a value or"),
        ({"guidance": {0: {"ease": "step"}}}, "keyframes.guidance.0: a key is a value or"),
        ({"prompt": {str(i): "a" for i in range(limits.KEYFRAMES + 1)}}, f"keyframes.prompt: at most {limits.KEYFRAMES} keys (got {limits.KEYFRAMES + 1})"),
        ({"guidance": {str(i): 1 for i in range(limits.KEYFRAMES_PER_FRAME + 1)}},
         f"keyframes.guidance: at most {limits.KEYFRAMES_PER_FRAME} keys (got {limits.KEYFRAMES_PER_FRAME + 1})"),
        ([{"prompt": "a"}], "keyframes: must be an object of field -> {frame: value} (got list)"),
        ({"prompt": {0: [[[[["deep"]]]]]}}, "keyframes: must not nest lists and objects more than 4 levels deep"),
    ],
)
def test_bad_keyframes_are_named(keyframes, expected):
    with pytest.raises(RequestError) as caught:
        Request(prompt="a kite", frames=12, keyframes=keyframes)
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once_beside_other_fields():
    with pytest.raises(RequestError) as caught:
        Request(prompt="a kite", frames=8, width=3, keyframes={"prompt": {0: "", 9: "b"}, "guidance": {0: 99}, "fps": {0: 1}})
    assert caught.value.problems == [
        "width: must be even for H.264 video; use 2 or 4 (got 3)",
        "keyframes.prompt.0: must contain some text",
        "keyframes.prompt.9: frame must be between 0 and 7 (the clip has 8 frames) (got 9)",
        "keyframes.guidance.0: must be between 0 and 50 (got 99)",
        "keyframes.fps: not keyframable (keyframable: guidance, negative_prompt, prompt)",
    ]


def test_the_canonical_form_is_compact_and_round_trips_through_json():
    request = Request(prompt="a kite", frames=48, keyframes={"guidance": {"47": 9, "0": {"value": 3, "ease": "linear"}},
                                                             "prompt": {"0": FOREST, 47: {"value": FIRE, "ease": "smooth"}}})
    assert request.keyframes == {"guidance": {0: 3.0, 47: 9.0}, "prompt": {0: FOREST, 47: {"value": FIRE, "ease": "smooth"}}}
    as_json = json.loads(json.dumps(request.to_dict()))
    assert as_json["keyframes"]["prompt"] == {"0": FOREST, "47": {"value": FIRE, "ease": "smooth"}}
    assert Request.from_dict(as_json) == request
    assert Request(prompt="a kite").keyframes == {} and "keyframes" in Request(prompt="a kite").to_dict()
    with pytest.raises(RequestError, match="keyframes.prompt.47: frame must be between 0 and 23"):
        request.replace(frames=24)  # a shorter clip no longer holds the key


# -- easing -------------------------------------------------------------------------------------


def test_easing_math():
    assert [ease("step", u) for u in (0, 0.5, 0.999, 1)] == [0, 0, 0, 1]
    assert [ease("linear", u) for u in (0, 0.25, 1)] == [0, 0.25, 1]
    assert [ease("smooth", u) for u in (0, 0.25, 0.5, 0.75, 1)] == [0, 0.15625, 0.5, 0.84375, 1]
    assert ease("linear", -1) == 0 and ease("smooth", 2) == 1  # clamped
    track = normalise({"guidance": {4: {"value": 2, "ease": "step"}, 8: 6, 12: {"value": 10, "ease": "smooth"}, 16: 2}})["guidance"]
    assert [at(track, f) for f in (0, 4, 6, 7.99, 8)] == [2, 2, 2, 2, 6]    # held before the first key; step holds until the next
    assert [at(track, f) for f in (9, 10, 12)] == [7, 8, 10]                 # linear
    assert at(track, 13) == pytest.approx(10 - 8 * 0.15625) and at(track, 14) == pytest.approx(6)  # smooth
    assert at(track, 16) == 2 and at(track, 99) == 2                         # held after the last
    assert sorted(EASES) == ["linear", "smooth", "step"]


def test_texts_blend_with_weights_that_sum_to_one():
    track = normalise({"prompt": {0: "a", 10: "b", 20: {"value": "c", "ease": "step"}, 30: "d"}})["prompt"]
    assert blend(track, 0) == [("a", 1.0)] and blend(track, 10) == [("b", 1.0)] and blend(track, 35) == [("d", 1.0)]
    assert blend(track, 4) == [("a", 0.6), ("b", 0.4)]
    assert blend(track, 25) == [("c", 1.0)]  # step: c holds until 30
    assert nearest(track, 4) == "a" and nearest(track, 6) == "b"


# -- the sketch backend ----------------------------------------------------------------------------


def _clip(prompt, **fields):
    return SketchBackend().generate(Request(prompt=prompt, **{**CLIP, **fields}), RunControl())


def _distance(a, b):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_sketch_a_keyframed_prompt_starts_on_the_first_scene_and_ends_on_the_second():
    keyed = _clip(FOREST, keyframes={"prompt": {0: FOREST, 11: FIRE}})
    forest, fire = _clip(FOREST), _clip(FIRE)
    assert _distance(keyed[0], forest[0]) < _distance(keyed[0], fire[0])
    assert _distance(keyed[-1], fire[-1]) < _distance(keyed[-1], forest[-1])
    assert np.array_equal(keyed[0], forest[0]) and np.array_equal(keyed[-1], fire[-1])  # a key's frame shows its own scene
    middle = keyed[6]  # in between: a cross-fade, unlike either
    assert _distance(middle, forest[6]) > 0 and _distance(middle, fire[6]) > 0


def test_sketch_keyframed_guidance_and_eases():
    ramp = _clip(FOREST, keyframes={"guidance": {0: 0.0, 11: 50.0}})
    assert np.array_equal(ramp[0], _clip(FOREST, guidance=0.0)[0]) and np.array_equal(ramp[-1], _clip(FOREST, guidance=50.0)[-1])
    stepped = _clip(FOREST, keyframes={"prompt": {0: {"value": FOREST, "ease": "step"}, 11: FIRE}})
    assert np.array_equal(stepped[10], _clip(FOREST)[10])  # a step holds the first scene until the next key
    smooth = _clip(FOREST, keyframes={"prompt": {0: {"value": FOREST, "ease": "smooth"}, 11: FIRE}})
    linear = _clip(FOREST, keyframes={"prompt": {0: FOREST, 11: FIRE}})
    forest = _clip(FOREST)
    assert _distance(smooth[2], forest[2]) < _distance(linear[2], forest[2])  # smooth leaves the first scene later
    info = SketchBackend().info(Request(prompt=FOREST, **CLIP, keyframes=KEYS))
    assert set(info["keyframes"]["prompt"]) == {"0", "11"} and info["keyframes"]["prompt"]["0"]["palette"] == "forest"


# -- logged, in the clip, forked --------------------------------------------------------------------


def test_keyframes_are_logged_carried_in_the_clip_and_survive_fork(lab, tmp_path):
    run = lab.generate(FOREST, keyframes=KEYS, progress=False, **CLIP).raise_for_status()
    assert lab.run(run.id).request.keyframes == run.request.keyframes == normalise(KEYS, 12)
    assert lab.log.run(run.id)["request"]["keyframes"]["prompt"]["11"] == {"value": FIRE, "ease": "smooth"}
    recipe = read_recipe(run.media)
    assert Request.from_dict(recipe["request"]).keyframes == run.request.keyframes
    child = lab.fork(run, seed=4, progress=False).raise_for_status()
    assert child.request.keyframes == run.request.keyframes and child.request.parent == run.id
    from_file = lab.fork(run.media, progress=False).raise_for_status()
    assert from_file.request.keyframes == run.request.keyframes
    assert np.array_equal(read_frames(from_file.media), read_frames(run.media))  # the recipe makes the same clip
    changed = lab.fork(run, keyframes={"prompt": {0: FIRE, 11: FOREST}}, progress=False).raise_for_status()
    assert changed.request.keyframes == {"prompt": {0: FIRE, 11: FOREST}}
    with pytest.raises(RequestError, match="keyframes.prompt.11: frame must be between 0 and 5"):
        lab.fork(run, frames=6, progress=False)
    assert lab.runs().shape[0] == 4  # the refused fork logged nothing


def test_a_backend_that_does_not_know_keyframes_refuses_them(lab, monkeypatch):
    from explorer import backends
    from explorer.backends.base import Backend

    class Plain(Backend):
        name = "plain"

        def generate(self, request, control):
            return np.zeros((request.frames, request.height, request.width, 3), np.uint8)

    monkeypatch.setattr(backends, "_registered", {**backends._registered, "plain": Plain})
    monkeypatch.setattr(backends, "_instances", dict(backends._instances))
    assert lab.generate("a kite", backend="plain", progress=False, **CLIP).ok
    with pytest.raises(RequestError, match=r"keyframes.prompt: backend 'plain' does not take keyframes for prompt \(it takes: none\)"):
        lab.generate("a kite", backend="plain", keyframes={"prompt": {0: FIRE}}, progress=False, **CLIP)


# -- the CLI ---------------------------------------------------------------------------------------------


def explorer(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "explorer.cli", *map(str, args)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "200"})
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def test_cli_generate_with_keyframes_then_fork(tmp_path):
    db = tmp_path / "cli.duckdb"
    keys = json.dumps({"prompt": {"0": FOREST, "11": {"value": FIRE, "ease": "smooth"}}, "guidance": {"0": 3, "11": 9}})
    small = ["--frames", 12, "--size", "64x48", "--steps", 2, "--db", db]
    run = json.loads(explorer("generate", FOREST, *small, "--keyframes", keys, "--json").stdout)
    assert run["keyframes"] == {"prompt": {"0": FOREST, "11": {"value": FIRE, "ease": "smooth"}}, "guidance": {"0": 3.0, "11": 9.0}}
    text = explorer("generate", FOREST, *small, "--keyframes", keys).stdout
    assert "keyframes: prompt@0,11 guidance@0,11" in text
    child = json.loads(explorer("fork", run["media"], "--set", "seed=5", "--db", db, "--json").stdout)
    assert child["keyframes"] == run["keyframes"] and child["seed"] == 5
    changed = json.loads(explorer("fork", run["id"], "--set", 'keyframes={"guidance": {"0": 1, "11": 2}}', "--db", db, "--json").stdout)
    assert changed["keyframes"] == {"guidance": {"0": 1.0, "11": 2.0}}

    bad = explorer("generate", FOREST, *small, "--keyframes", '{"prompt": {"0": "", "12": "b"}, "guidance": {"0": 99}}', check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--keyframes prompt.0: must contain some text" in bad.stderr
    assert "--keyframes prompt.12: frame must be between 0 and 11" in bad.stderr and "--keyframes guidance.0: must be between 0 and 50" in bad.stderr
    broken = explorer("generate", FOREST, *small, "--keyframes", "{nope", check=False)
    assert broken.returncode == 2 and "--keyframes: must be a JSON object" in broken.stderr
    refused = explorer("fork", run["id"], "--set", "frames=6", "--db", db, check=False)
    assert refused.returncode == 2 and "--set keyframes.prompt.11: frame must be between 0 and 5" in refused.stderr
    assert "--keyframes" in explorer("generate", "--help").stdout


# -- diffusers ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny pipelines saved to folders: AnimateDiff (FreeNoise), LTX text-to-video, and LTX's long multi-prompt pipeline."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import tiny_pipelines
    from diffusers import LTXI2VLongMultiPromptPipeline

    root = tmp_path_factory.mktemp("keyframes")
    long = LTXI2VLongMultiPromptPipeline(**tiny_pipelines._ltx_components())
    return {"animatediff": tiny_pipelines.build_text_to_video(root / "animatediff", "animatediff"),
            "ltx": tiny_pipelines.build_text_to_video(root / "ltx", "ltx"),
            "sd": tiny_pipelines.build_image_pipeline(root / "sd"),
            "long": tiny_pipelines._save(long, root / "long")}


@pytest.fixture
def diffusers_backend(tiny):
    from explorer import backends
    from explorer.backends.diffusers import DiffusersBackend

    fresh = DiffusersBackend()
    backends.register("diffusers", lambda: fresh)
    yield fresh
    backends.register("diffusers", DiffusersBackend)


def _diffusers(folder, **fields):
    return {**dict(backend="diffusers", model=str(folder), frames=8, width=64, height=64, steps=2, guidance=1.0), **fields}


def test_diffusers_refuses_keyframes_by_name_before_loading_anything(lab, diffusers_backend, tiny, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("weights were loaded for a request that should have been refused")

    monkeypatch.setattr(diffusers_backend.cache, "get", no_loading)
    for family in ("ltx", "sd"):
        with pytest.raises(RequestError) as caught:
            lab.generate("a kite", keyframes={"prompt": {0: FOREST, 7: FIRE}}, progress=False, **_diffusers(tiny[family], width=32, height=32))
        message = str(caught.value)
        assert message.startswith("keyframes.prompt: ") and "does not take keyframes for prompt" in message
        assert "AnimateDiffPipeline" in message and "LTXI2VLongMultiPromptPipeline" in message
    with pytest.raises(RequestError) as caught:  # a FreeNoise pipeline takes prompts, but no pipeline takes a guidance per frame
        lab.generate("a kite", keyframes={"prompt": {0: FOREST}, "guidance": {0: 1.0, 7: 3.0}}, progress=False, **_diffusers(tiny["animatediff"]))
    assert caught.value.problems[0].startswith("keyframes.guidance: no diffusers pipeline takes a guidance per frame")
    with pytest.raises(RequestError, match="keyframes.negative_prompt: LTXI2VLongMultiPromptPipeline does not take keyframes"):
        lab.generate("a kite", keyframes={"negative_prompt": {0: "blur"}}, progress=False, **_diffusers(tiny["long"], width=32, height=32))
    assert lab.runs().shape[0] == 0  # refused requests are not runs


def test_freenoise_takes_a_keyframed_prompt_with_its_ease(lab, diffusers_backend, tiny, monkeypatch):
    from diffusers import AnimateDiffPipeline

    seen = []
    original = AnimateDiffPipeline._encode_prompt_free_noise

    @functools.wraps(original)
    def spy(self, prompt, num_frames, *args, **kwargs):
        embeds = original(self, prompt, num_frames, *args, **kwargs)
        seen.append((dict(prompt), num_frames, embeds[0].clone()))
        return embeds

    monkeypatch.setattr(AnimateDiffPipeline, "_encode_prompt_free_noise", spy)
    keys = {"prompt": {2: {"value": FOREST, "ease": "smooth"}, 7: FIRE}}
    run = lab.generate("a forest", keyframes=keys, progress=False, **_diffusers(tiny["animatediff"])).raise_for_status()
    assert read_frames(run.media).shape == (8, 64, 64, 3)
    (prompt, frames, embeds), = seen
    assert prompt == {0: FOREST, 2: FOREST, 7: FIRE} and frames == 8  # the first key holds from frame 0
    assert embeds.shape[0] == 8
    forest, fire = embeds[2], embeds[7]
    for frame in (3, 4, 5):  # between the keys the embeddings follow the smooth ease, not FreeNoise's straight line
        w = ease("smooth", (frame - 2) / 5)
        assert np.allclose(embeds[frame].numpy(), ((1 - w) * forest + w * fire).numpy(), atol=1e-5)
    assert np.allclose(embeds[0].numpy(), forest.numpy())
    (pipe,) = diffusers_backend.cache._pipes.values()
    assert not pipe.free_noise_enabled  # the cached pipeline goes back as it was
    plain = lab.generate("a forest", progress=False, **_diffusers(tiny["animatediff"])).raise_for_status()
    assert len(seen) == 1 and plain.ok  # a run without keyframes does not go through FreeNoise


def test_long_multi_prompt_windows_get_the_prompt_in_force(diffusers_backend, tiny, monkeypatch):
    from diffusers import LTXI2VLongMultiPromptPipeline

    calls = []

    class Stop(Exception):
        pass

    @functools.wraps(LTXI2VLongMultiPromptPipeline.__call__)
    def capture(self, **kwargs):
        calls.append(kwargs)
        raise Stop

    monkeypatch.setattr(LTXI2VLongMultiPromptPipeline, "__call__", capture)
    request = Request(prompt="a kite", **_diffusers(tiny["long"], frames=33, width=32, height=32,
                                                     extra={"temporal_tile_size": 16, "temporal_overlap": 8},
                                                     keyframes={"prompt": {0: {"value": FOREST, "ease": "step"}, 20: FIRE}}))
    diffusers_backend.check(request)
    with pytest.raises(Stop):
        diffusers_backend.generate(request, RunControl())
    (kwargs,) = calls
    # 33 frames at the tiny VAE's 4x temporal compression: 9 latent frames; windows of 4 with overlap 2: [0,4) [2,6) [4,8) [6,9),
    # whose middles are frames 6, 14, 22 and 28; the step holds the forest until frame 20
    assert kwargs["prompt_segments"] == [{"start_window": w, "end_window": w, "text": text}
                                         for w, text in enumerate([FOREST, FOREST, FIRE, FIRE])]


def test_long_multi_prompt_makes_a_keyframed_clip_end_to_end(lab, diffusers_backend, tiny, monkeypatch):
    from diffusers import LTXI2VLongMultiPromptPipeline

    texts = []
    original = LTXI2VLongMultiPromptPipeline.encode_prompt

    @functools.wraps(original)
    def spy(self, prompt, *args, **kwargs):
        texts.append(prompt[0] if isinstance(prompt, list) else prompt)
        return original(self, prompt, *args, **kwargs)

    monkeypatch.setattr(LTXI2VLongMultiPromptPipeline, "encode_prompt", spy)
    keys = {"prompt": {0: {"value": FOREST, "ease": "step"}, 12: FIRE}}
    run = lab.generate("a kite", keyframes=keys, progress=False,
                       **_diffusers(tiny["long"], frames=17, width=32, height=32, extra={"temporal_tile_size": 8, "temporal_overlap": 4}))
    run.raise_for_status()
    # the window pipeline returns its fused windows whole (more frames than asked); the clip keeps the frames the request asked for
    assert read_frames(run.media).shape == (17, 32, 32, 3)
    # 17 frames: 5 latent frames, windows of 2 overlapping by 1: one prompt encoded per window, the forest first, the fire last
    assert len(texts) >= 2 and texts[0] == FOREST and texts[-1] == FIRE and set(texts) == {FOREST, FIRE}
    assert lab.run(run.id).request.keyframes == Request(prompt="x", frames=17, keyframes=keys).keyframes  # logged as asked
