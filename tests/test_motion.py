"""The motion brush's field: validation, the control-video renderer, the sketch backend measured with optical flow,
the round trip through the log, the clip file and fork, and diffusers (WanVACE takes it, the others refuse it)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from explorer.backends.base import RunControl
from explorer.backends.sketch import SketchBackend
from explorer.media import read_frames, read_recipe
from explorer.motion import (MAX_POINTS, MAX_REGIONS, Plan, describe, normalise, progress, region_mask, region_transform,
                             render)
from explorer.request import Request, RequestError

SQUARE = [[0.3, 0.3], [0.65, 0.3], [0.65, 0.65], [0.3, 0.65]]
CALM = "a still city of squares"  # the sketch's slow 'drift': little motion of its own, many edges for the flow to follow
SIDE, FRAMES = 128, 12
CLIP = dict(frames=FRAMES, width=SIDE, height=SIDE, steps=2, fps=6, seed=1)


def region(points=SQUARE, **amounts):
    return {"region": points, **amounts}


@pytest.fixture
def home(tmp_path):
    """A file log: where the log lives is covered by test_log and test_runs."""
    from homes import Home

    return Home("file", tmp_path)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "motion, expected",
    [
        (7, 'motion: must be a list of regions or {"regions": [...], "camera": {...}} (got int)'),
        ({"regions": [], "speed": 1}, "motion: 'speed': not a motion key (keys: regions, camera)"),
        ({"regions": "left"}, "motion.regions: must be a list of regions (got str)"),
        ([region()] * (MAX_REGIONS + 1), f"motion.regions: at most {MAX_REGIONS} regions (got {MAX_REGIONS + 1})"),
        (["sky"], "motion.regions[0]: must be an object with region, horizontal, vertical, proximity, ambient (got str)"),
        ([{"horizontal": 0.3}], "motion.regions[0].region: is required: a polygon of [x, y] points in [0, 1]"),
        ([region([[0, 0], [1, 1]])], "motion.regions[0].region: must be a list of 3 to 256 [x, y] points (got 2 points)"),
        ([region([[0.1, 0.1]] * (MAX_POINTS + 1))], "motion.regions[0].region: must be a list of 3 to 256 [x, y] points (got 257 points)"),
        ([region("square")], "motion.regions[0].region: must be a list of 3 to 256 [x, y] points (got str)"),
        ([region([[0, 0], [1.5, 0], [1, 1]])], "motion.regions[0].region[1]: a point is [x, y] with x and y from 0 to 1 (got [1.5, 0])"),
        ([region([[0, 0], [1, 0], [0.5]])], "motion.regions[0].region[2]: a point is [x, y]"),
        ([region([[0, 0], [1, 0], [float("nan"), 1]])], "motion.regions[0].region[2]: a point is [x, y]"),
        ([region([[0, 0], [True, 0], [1, 1]])], "motion.regions[0].region[1]: a point is [x, y]"),
        ([region([[0, 0], [0.5, 0.5], [1, 1]])], "motion.regions[0].region: the polygon encloses 0 of the frame; it must enclose at least 0.0001"),
        ([region(horizontal=1.5)], "motion.regions[0].horizontal: must be a number from -1 to 1 (got 1.5)"),
        ([region(vertical="up")], "motion.regions[0].vertical: must be a number from -1 to 1 (got 'up')"),
        ([region(proximity=float("inf"))], "motion.regions[0].proximity: must be a number from -1 to 1 (got inf)"),
        ([region(ambient=-0.1)], "motion.regions[0].ambient: must be a number from 0 to 1 (got -0.1)"),
        ([region(ambient=True)], "motion.regions[0].ambient: must be a number from 0 to 1 (got True)"),
        ([region(speed=2)], "motion.regions[0].speed: not a region setting (settings: horizontal, vertical, proximity, ambient)"),
        ({"camera": {"pan_x": 2}}, "motion.camera.pan_x: must be a number from -1 to 1 (got 2)"),
        ({"camera": {"tilt": 0.1}}, "motion.camera.tilt: not a camera setting (settings: pan_x, pan_y, zoom)"),
        ({"camera": [0.1, 0, 0]}, "motion.camera: must be an object of pan_x, pan_y, zoom (got list)"),
        ([region([[[[[[0.1]]]]], [0, 1], [1, 1]])], "motion: must not nest lists and objects more than 5 levels deep"),
    ],
)
def test_bad_motion_is_named(motion, expected):
    with pytest.raises(RequestError) as caught:
        Request(prompt="a kite", motion=motion)
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once_beside_other_fields():
    with pytest.raises(RequestError) as caught:
        Request(prompt="a kite", width=3, motion={"regions": [region(horizontal=2), region([[0, 0]], ambient=2)], "camera": {"zoom": -3}})
    assert caught.value.problems == [
        "width: must be even for H.264 video; use 2 or 4 (got 3)",
        "motion.regions[0].horizontal: must be a number from -1 to 1 (got 2)",
        "motion.regions[1].region: must be a list of 3 to 256 [x, y] points (got 1 points)",
        "motion.regions[1].ambient: must be a number from 0 to 1 (got 2)",
        "motion.camera.zoom: must be a number from -1 to 1 (got -3)",
    ]


def test_the_bare_list_and_the_whole_form_are_one_canonical_value_that_round_trips_through_json():
    issue_example = [{"region": [[0.1, 0.2], [0.5, 0.2], [0.3, 0.7]], "horizontal": 0.3, "vertical": 0.0, "proximity": 0.0, "ambient": 0.1}]
    bare = Request(prompt="a kite", motion=issue_example)
    whole = Request(prompt="a kite", motion={"regions": [{"region": [(0.1, 0.2), (0.5, 0.2), (0.3, 0.7)], "horizontal": 0.3, "ambient": 0.1}],
                                             "camera": {}})
    assert bare == whole
    assert bare.motion == {"regions": [{"region": [[0.1, 0.2], [0.5, 0.2], [0.3, 0.7]], "horizontal": 0.3, "vertical": 0.0,
                                        "proximity": 0.0, "ambient": 0.1}], "camera": {"pan_x": 0.0, "pan_y": 0.0, "zoom": 0.0}}
    assert Request.from_dict(json.loads(json.dumps(bare.to_dict()))) == bare
    assert Request(prompt="a kite").motion == {} == Request(prompt="a kite", motion=[]).motion == Request(prompt="a kite", motion=None).motion
    assert Request(prompt="a kite", motion={"camera": {"zoom": 0.5}}).motion == {"regions": [], "camera": {"pan_x": 0.0, "pan_y": 0.0, "zoom": 0.5}}
    assert describe(bare.motion) == "1 region (→0.3 ambient 0.1)" and describe({}) == "none"


# -- the renderer: a pure function of (motion, first frame, frames, size) -------------------------------


def _textured(width, height, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(coarse, 8, 0), 8, 1)  # 8-pixel blocks: easy to follow, exact to compare


def test_render_drags_a_region_by_exactly_its_path_and_masks_it():
    picture = _textured(160, 96)
    # a rectangle of 32x32 pixels, moved right by 40 % of 160 = 64 px and up by 25 % of 96 = 24 px over 9 frames
    rect = [[0.2, 0.5], [0.4, 0.5], [0.4, 0.5 + 32 / 96], [0.2, 0.5 + 32 / 96]]
    video, mask = render([region(rect, horizontal=0.4, vertical=0.25)], picture, 9)
    assert video.shape == (9, 96, 160, 3) and video.dtype == np.uint8 and mask.shape == (9, 96, 160)
    assert np.array_equal(video[0], picture)  # the first frame is the picture itself
    source = picture[48:80, 32:64]
    assert np.array_equal(video[-1][24:56, 96:128], source)  # at the last frame it has travelled the whole path
    assert np.array_equal(video[4][36:68, 64:96], source)    # halfway, half of it: (32, 12) px
    assert mask[-1][24:56, 96:128].min() == 1.0 and mask[-1][:20].max() == 0.0 and mask[-1][:, :90].max() == 0.0
    hole = video[-1][50:78, 34:62].astype(np.float32)  # where it was: filled from around it, not a copy left behind
    assert np.abs(hole - source[2:30, 2:30]).mean() > 20
    again, _ = render([region(rect, horizontal=0.4, vertical=0.25)], picture, 9)
    assert np.array_equal(again, video)


def test_render_proximity_scales_the_region_about_its_centre_and_the_camera_moves_everything():
    picture = _textured(128, 128, seed=2)
    video, mask = render([region(SQUARE, proximity=1.0)], picture, 5)
    area = [float((m > 0.5).sum()) for m in mask]
    assert area[0] == pytest.approx((0.35 * 128) ** 2, rel=0.1) and area[-1] == pytest.approx(4 * area[0], rel=0.05)  # 2 ** 1 per side
    assert all(a < b for a, b in zip(area, area[1:]))
    panned, pan_mask = render({"camera": {"pan_x": 0.25}}, picture, 5)  # the camera pans right: the scene slides left 32 px
    assert np.array_equal(panned[-1][:, :96], picture[:, 32:]) and pan_mask.max() == 0.0
    zoomed, _ = render({"camera": {"zoom": 1.0}}, picture, 3)  # zoom in: the centre quarter fills the frame
    import cv2

    assert np.abs(zoomed[-1].astype(np.float32) - cv2.resize(picture[32:96, 32:96], (128, 128), interpolation=cv2.INTER_LINEAR)).mean() < 8


def test_render_accepts_float_frames_and_resizes_to_the_size_asked():
    picture = _textured(64, 64).astype(np.float32) / 255.0
    video, mask = render([region(horizontal=0.1)], picture, 3, size=(32, 48))
    assert video.shape == (3, 48, 32, 3) and mask.shape == (3, 48, 32)


def test_ambient_wobbles_inside_the_region_and_nowhere_else():
    picture = _textured(128, 128, seed=3)
    video, _ = render([region(SQUARE, ambient=1.0)], picture, 9, seed=5)
    assert np.array_equal(video[0], picture)
    inside, outside = region_mask(region(SQUARE), 128, 128) > 0.99, region_mask(region(SQUARE), 128, 128) == 0
    grown = np.zeros_like(outside)
    grown[24:104, 24:104] = True  # the wobble (up to 2 x 3 % of 128 px) may spill past the edge
    changes = np.abs(video[1:].astype(np.int16) - video[:-1].astype(np.int16)).sum(-1)
    assert changes[:, inside].mean() > 10 and changes[:, outside & ~grown].max() == 0
    other_seed, _ = render([region(SQUARE, ambient=1.0)], picture, 9, seed=6)
    assert not np.array_equal(other_seed, video)


# -- the sketch backend, measured with optical flow ---------------------------------------------------------


def _sketch(motion, prompt=CALM, **fields):
    request = Request(prompt=prompt, **{**CLIP, **fields}, motion=motion)
    return request, SketchBackend().generate(request, RunControl())


def _flows(frames):
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 21, 3, 5, 1.2, 0) for a, b in zip(grey, grey[1:])]


def _inside_and_outside(request, frames):
    """Mean flow (x, y) over the moving region's pixels at each frame, and over the pixels well away from it."""
    import cv2

    plan = Plan(request.motion, request.frames, request.width, request.height)
    inside, outside = [], []
    for index, flow in enumerate(_flows(frames)):
        matrix = region_transform(plan.regions[0], progress(index, request.frames), request.width, request.height)
        where = cv2.warpAffine(plan.masks[0], matrix, (request.width, request.height)) > 0.99
        away = cv2.dilate(where.astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
        inside.append(flow[where].mean(0))
        outside.append(flow[away].mean(0))
    return np.mean(inside, 0), np.mean(outside, 0)


def test_sketch_a_region_moved_right_moves_right():
    request, frames = _sketch([region(horizontal=0.5)])
    inside, outside = _inside_and_outside(request, frames)
    step = 0.5 * SIDE / (FRAMES - 1)  # 5.8 px a frame
    assert inside[0] > 0.6 * step and inside[0] > outside[0] + 0.5 * step and abs(inside[1]) < 0.2 * step
    assert abs(outside[0]) < 0.1 * step  # the rest of the scene keeps to its own slow drift


def test_sketch_a_region_moved_up_moves_up_and_left_moves_left():
    request, frames = _sketch([region(vertical=0.5)])
    inside, outside = _inside_and_outside(request, frames)
    step = 0.5 * SIDE / (FRAMES - 1)
    assert inside[1] < -0.6 * step and inside[1] < outside[1] - 0.5 * step and abs(inside[0]) < 0.2 * step
    request, frames = _sketch([region(horizontal=-0.5)])
    inside, outside = _inside_and_outside(request, frames)
    assert inside[0] < -0.6 * step and inside[0] < outside[0] - 0.5 * step


def _outward(request, frames):
    """Mean flow along the direction away from the region's centre, over its pixels (px a frame; > 0: it grows)."""
    import cv2

    plan = Plan(request.motion, FRAMES, SIDE, SIDE)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    centre = (0.3 + 0.65) / 2 * SIDE
    radial = np.stack([xs - centre, ys - centre], -1)
    radial /= np.maximum(np.linalg.norm(radial, axis=-1, keepdims=True), 1.0)
    outward = []
    for index, flow in enumerate(_flows(frames)):
        matrix = region_transform(plan.regions[0], progress(index, FRAMES), SIDE, SIDE)
        where = cv2.warpAffine(plan.masks[0], matrix, (SIDE, SIDE)) > 0.99
        outward.append(float((flow * radial).sum(-1)[where].mean()))
    return float(np.mean(outward))


def test_sketch_a_region_coming_closer_grows_and_one_going_away_shrinks():
    assert _outward(*_sketch([region(proximity=1.0)])) > 0.5
    assert _outward(*_sketch([region(proximity=-1.0)])) < -0.3


def test_sketch_camera_pan_and_zoom_move_the_whole_frame():
    request, frames = _sketch({"camera": {"pan_x": 0.4}})
    step = 0.4 * SIDE / (FRAMES - 1)  # 4.7 px a frame; Farneback sees less of it on the sketch's soft gradients
    mean = np.mean([f[16:-16, 16:-16].reshape(-1, 2).mean(0) for f in _flows(frames)], 0)
    assert mean[0] < -0.35 * step and abs(mean[1]) < 0.1 * step  # the camera pans right: the scene slides left
    request, frames = _sketch({"camera": {"pan_y": 0.4}})
    mean = np.mean([f[16:-16, 16:-16].reshape(-1, 2).mean(0) for f in _flows(frames)], 0)
    assert mean[1] > 0.35 * step and abs(mean[0]) < 0.1 * step  # it tilts up: the scene slides down

    def spread(frames):  # how much faster the right third moves right than the left third (> 0: the picture grows)
        flows = _flows(frames)
        return np.mean([f[32:96, 88:120, 0].mean() - f[32:96, 8:40, 0].mean() for f in flows])

    zoomed, still = spread(_sketch({"camera": {"zoom": 0.8}})[1]), spread(_sketch([])[1])
    assert zoomed > 0.8 and zoomed > still + 0.8 and spread(_sketch({"camera": {"zoom": -0.8}})[1]) < still - 0.3  # out: it shrinks (reflected edges blur the flow)


def test_sketch_motion_is_the_same_in_another_process():
    motion = {"regions": [region(horizontal=0.3, ambient=0.5), region([[0.7, 0.1], [0.9, 0.1], [0.8, 0.3]], vertical=-0.2, proximity=0.5)],
              "camera": {"zoom": 0.2}}
    _, here = _sketch(motion)
    code = ("import hashlib, json, sys; from explorer.backends.sketch import SketchBackend; from explorer.backends.base import RunControl;"
            "from explorer.request import Request; r = Request(**json.loads(sys.argv[1]));"
            "print(hashlib.sha256(SketchBackend().generate(r, RunControl()).tobytes()).hexdigest())")
    request = Request(prompt=CALM, **CLIP, motion=motion)
    there = subprocess.run([sys.executable, "-c", code, json.dumps(request.to_dict())], capture_output=True, text=True, check=True,
                           env={**os.environ}).stdout.strip()
    assert there == hashlib.sha256(here.tobytes()).hexdigest()
    assert not np.array_equal(here, _sketch([])[1])


def test_sketch_motion_drags_the_image_too(lab):
    picture = _textured(SIDE, SIDE, seed=7)
    moved = lab.generate(CALM, image=picture, motion=[region(horizontal=0.5)], progress=False, **CLIP).raise_for_status()
    still = lab.generate(CALM, image=picture, progress=False, **CLIP).raise_for_status()
    from explorer.conditioning import current_store

    token = current_store.set(lab.log.media)
    try:
        frames = SketchBackend().generate(moved.request, RunControl())
        plain = SketchBackend().generate(still.request, RunControl())
    finally:
        current_store.reset(token)
    assert np.array_equal(frames[0], picture) and np.array_equal(plain[0], picture)  # the image is the first frame, unmoved
    inside, outside = _inside_and_outside(moved.request, frames)
    assert inside[0] > 2.0 and inside[0] > outside[0] + 1.5  # its region then moves right


# -- logged, in the clip, forked --------------------------------------------------------------------


def test_motion_is_logged_carried_in_the_clip_and_survives_fork(lab):
    motion = [region(horizontal=0.3, ambient=0.1)]
    run = lab.generate(CALM, motion=motion, progress=False, **CLIP).raise_for_status()
    assert lab.run(run.id).request.motion == run.request.motion == normalise(motion)
    assert lab.log.run(run.id)["request"]["motion"]["regions"][0]["horizontal"] == 0.3
    assert Request.from_dict(read_recipe(run.media)["request"]).motion == run.request.motion
    child = lab.fork(run, seed=4, progress=False).raise_for_status()
    assert child.request.motion == run.request.motion and child.request.parent == run.id
    from_file = lab.fork(run.media, progress=False).raise_for_status()
    assert np.array_equal(read_frames(from_file.media), read_frames(run.media))  # the recipe makes the same clip
    changed = lab.fork(run, motion={"camera": {"pan_x": 0.2}}, progress=False).raise_for_status()
    assert changed.request.motion["regions"] == [] and changed.request.motion["camera"]["pan_x"] == 0.2
    still = lab.fork(run, motion=[], progress=False).raise_for_status()
    assert still.request.motion == {} and not np.array_equal(read_frames(still.media), read_frames(run.media))
    with pytest.raises(RequestError, match=r"motion.regions\[0\].horizontal: must be a number from -1 to 1"):
        lab.fork(run, motion=[region(horizontal=9)], progress=False)
    assert lab.runs().shape[0] == 5  # the refused fork logged nothing


def test_a_backend_that_does_not_know_motion_refuses_it(lab, monkeypatch):
    from explorer import backends
    from explorer.backends.base import Backend

    class Plain(Backend):
        name = "plain"

        def generate(self, request, control):
            return np.zeros((request.frames, request.height, request.width, 3), np.uint8)

    monkeypatch.setattr(backends, "_registered", {**backends._registered, "plain": Plain})
    monkeypatch.setattr(backends, "_instances", dict(backends._instances))
    with pytest.raises(RequestError, match="motion: backend 'plain' does not take a motion plan"):
        lab.generate("a kite", backend="plain", motion=[region(horizontal=0.2)], progress=False, **CLIP)
    assert lab.runs().shape[0] == 0


# -- the CLI ---------------------------------------------------------------------------------------------


def explorer(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "explorer.cli", *map(str, args)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "200"})
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def test_cli_generate_with_motion_then_fork(tmp_path):
    db = tmp_path / "cli.duckdb"
    motion = json.dumps([region(horizontal=0.3, ambient=0.2)])
    small = ["--frames", 8, "--size", "64x48", "--steps", 1, "--db", db]
    run = json.loads(explorer("generate", CALM, *small, "--motion", motion, "--json").stdout)
    assert run["motion"] == normalise(json.loads(motion))
    assert "motion: 1 region (→0.3 ambient 0.2)" in explorer("generate", CALM, *small, "--motion", motion).stdout
    child = json.loads(explorer("fork", run["media"], "--set", "seed=5", "--db", db, "--json").stdout)
    assert child["motion"] == run["motion"] and child["seed"] == 5
    camera = json.loads(explorer("fork", run["id"], "--set", 'motion={"camera": {"zoom": 0.3}}', "--db", db, "--json").stdout)
    assert camera["motion"] == {"regions": [], "camera": {"pan_x": 0.0, "pan_y": 0.0, "zoom": 0.3}}
    bad = explorer("generate", CALM, *small, "--motion", json.dumps([region([[0.1, 0.1]], horizontal=3)]), check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--motion regions[0].region: must be a list of 3 to 256 [x, y] points (got 1 points)" in bad.stderr
    assert "--motion regions[0].horizontal: must be a number from -1 to 1 (got 3)" in bad.stderr
    broken = explorer("generate", CALM, *small, "--motion", "[{", check=False)
    assert broken.returncode == 2 and "--motion: must be JSON" in broken.stderr
    refused = explorer("fork", run["id"], "--set", 'motion=[{"region": [[0, 0], [1, 0], [1, 1]], "vertical": 5}]', "--db", db, check=False)
    assert refused.returncode == 2 and "--set motion.regions[0].vertical: must be a number from -1 to 1 (got 5)" in refused.stderr
    assert "--motion" in explorer("generate", "--help").stdout


# -- diffusers ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny pipelines saved to folders: Wan VACE (takes motion), Wan text-to-video and LTX (refuse it)."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("ftfy")  # Wan VACE cleans prompts with it
    import tiny_pipelines

    root = tmp_path_factory.mktemp("motion")
    return {"vace": tiny_pipelines.build_conditioning(root / "vace", "wan_vace"),
            "wan": tiny_pipelines.build_text_to_video(root / "wan", "wan"),
            "ltx": tiny_pipelines.build_text_to_video(root / "ltx", "ltx")}


@pytest.fixture
def diffusers_backend(tiny):
    from explorer import backends
    from explorer.backends.diffusers import DiffusersBackend

    fresh = DiffusersBackend()
    backends.register("diffusers", lambda: fresh)
    yield fresh
    backends.register("diffusers", DiffusersBackend)


def _diffusers(folder, **fields):
    return {**dict(backend="diffusers", model=str(folder), frames=9, width=32, height=32, steps=2, guidance=1.0, seed=2,
                   extra={"max_sequence_length": 16}), **fields}


def test_diffusers_refuses_motion_by_name_before_loading_anything(lab, diffusers_backend, tiny, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("weights were loaded for a request that should have been refused")

    monkeypatch.setattr(diffusers_backend.cache, "get", no_loading)
    for family, name in (("wan", "WanPipeline"), ("ltx", "LTXPipeline")):
        extra = {"max_sequence_length": 16} if family == "wan" else {}
        with pytest.raises(RequestError) as caught:
            lab.generate("a kite", motion=[region(horizontal=0.3)], progress=False, **_diffusers(tiny[family], extra=extra))
        assert caught.value.problems == [f"motion: {name} does not take a motion plan; pipelines that do: WanVACEPipeline "
                                         "(as a cut-and-drag control video and mask), and the sketch backend"]
    with pytest.raises(RequestError) as caught:
        lab.generate("a kite", motion=[region(horizontal=0.3)], video=np.zeros((9, 32, 32, 3), np.uint8), mask=np.zeros((32, 32), np.uint8),
                     progress=False, **_diffusers(tiny["vace"]))
    assert caught.value.problems == ["video: the motion plan makes WanVACEPipeline's video; give motion or video, not both",
                                     "mask: the motion plan makes WanVACEPipeline's mask; give motion or mask, not both"]
    assert lab.runs().shape[0] == 0  # refused requests are not runs


def test_wan_vace_gets_the_cut_and_drag_video_and_mask(lab, diffusers_backend, tiny, monkeypatch):
    from diffusers import WanVACEPipeline

    seen = []
    original = WanVACEPipeline.__call__

    @functools.wraps(original)
    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WanVACEPipeline, "__call__", spy)
    motion = [region(horizontal=0.4)]
    run = lab.generate("a calm desert of boxes", motion=motion, progress=False, **_diffusers(tiny["vace"], frames=8)).raise_for_status()
    assert read_frames(run.media).shape == (9, 32, 32, 3)  # Wan makes 4k + 1 frames; the control video has as many
    (kwargs,) = seen
    video = np.stack([np.asarray(frame) for frame in kwargs["video"]])
    mask = np.stack([np.asarray(frame) for frame in kwargs["mask"]])
    assert kwargs["num_frames"] == 9 and video.shape == (9, 32, 32, 3) and mask.shape == (9, 32, 32)
    from explorer.backends.diffusers.motion import first_frame

    picture, source = first_frame(run.request)
    assert source == "sketch of the prompt (no image given)"
    expected_video, expected_mask = render(run.request.motion, picture, 9, (32, 32), run.request.seed)
    assert np.array_equal(video, expected_video) and np.array_equal(video[0], picture)
    assert (mask[0] == 0).all()  # the whole first frame is kept
    assert np.array_equal(mask[1:] == 0, expected_mask[1:] > 0.5)  # then: keep (follow) the dragged region, generate the rest
    assert (mask[-1] == 0).sum() == pytest.approx((0.35 * 32) ** 2, rel=0.35) and mask[-1][:, :12].min() == 255
    logged = lab.log.run(run.id)
    assert logged["request"]["motion"] == run.request.motion
    assert logged["backend_info"]["motion"] == {"arguments": ["video", "mask"], "first_frame": source}  # the run says what it was cut from
    assert diffusers_backend.last_run["motion_first_frame"] == source and diffusers_backend.last_run["motion_render_s"] > 0
    plain = lab.generate("a calm desert of boxes", progress=False, **_diffusers(tiny["vace"], frames=8)).raise_for_status()
    assert "video" not in seen[-1] and not np.array_equal(read_frames(plain.media), read_frames(run.media))  # the plan reached the model
    again = lab.fork(run, progress=False).raise_for_status()
    assert np.array_equal(read_frames(again.media), read_frames(run.media))  # same request, same pictures


def _distance(a, b):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# -- the widget (the browser test drives it in JupyterLab: tests/browser/test_motion_brush.py) -----------------------------


def test_motion_brush_paints_on_a_runs_first_frame_and_generates_a_child_with_the_motion(lab):
    from explorer.widgets.motion_brush import MotionBrush

    run = lab.generate(CALM, progress=False, **{**CLIP, "width": 96, "height": 64}).raise_for_status()
    brush = lab.ui.motion_brush(run)
    assert isinstance(brush, MotionBrush) and brush.source == f"the first frame of run {run.id}"
    assert np.array_equal(brush.frame, read_frames(run.media)[0]) and brush.aspect == 1.5
    assert brush.picture.startswith("data:image/jpeg;base64,") and brush.motion == {}
    brush.regions = [{"region": SQUARE, "horizontal": 0.4, "vertical": 0, "proximity": 0, "ambient": 0},
                     {"region": [[0.7, 0.1], [0.9, 0.1], [0.8, 0.3]], "vertical": 0.2, "ambient": 0.3}]
    brush.camera = {"pan_x": 0.0, "pan_y": 0.0, "zoom": 0.25}
    assert brush.motion == normalise({"regions": brush.regions, "camera": brush.camera})
    brush.on_message({"type": "generate"}, [])
    take = brush.wait(60)
    assert take.ok and take.request.motion == brush.motion and take.request.parent == run.id
    assert take.request.replace(motion={}, parent=None, image=None) == run.request  # the run's request, with the motion added
    assert take.request.image["source"] == f"frame 0 of run {run.id}"  # and the frame painted on as its image
    assert brush.clip["id"] == take.id and brush.error == "" and "done" in brush.message
    # it starts on the frame painted on (up to H.264: the encoder's rate control sees the rest of the clip too)
    assert _distance(read_frames(take.media)[0], read_frames(run.media)[0]) < 1.5
    assert not np.array_equal(read_frames(take.media)[-1], read_frames(run.media)[-1])


def test_motion_brush_on_a_picture_and_its_errors(lab, tmp_path):
    from PIL import Image

    picture = _textured(80, 48)
    path = tmp_path / "frame.png"
    Image.fromarray(picture).save(path)
    brush = lab.ui.motion_brush(str(path), prompt="a red kite", frames=6, steps=1)
    assert brush.source == "the picture frame.png" and np.array_equal(brush.frame, picture)
    assert brush.request().width == 80 and brush.request().height == 48 and brush.request().prompt == "a red kite"
    brush.motion = [region(horizontal=-0.2)]  # set from Python: validated, drawn in the browser
    assert brush.regions[0]["horizontal"] == -0.2 and brush.camera == {"pan_x": 0.0, "pan_y": 0.0, "zoom": 0.0}
    with pytest.raises(RequestError, match=r"motion.regions\[0\].horizontal"):
        brush.motion = [region(horizontal=3)]
    assert lab.ui.motion_brush(picture[:47, :79]).request().width == 78  # an odd picture: the clip's size made even
    brush.regions = [{"region": [[0.1, 0.1], [0.2, 0.2]], "horizontal": 0.1}]  # what a broken browser could send
    assert brush.generate() is None and brush.error.startswith("motion.regions[0].region: must be a list of 3 to 256")
    assert lab.runs().shape[0] == 0  # refused before anything ran; the kernel is fine
    with pytest.raises(RequestError, match="image_or_run: must be a run, a run id, an image path"):
        lab.ui.motion_brush(42)


def test_wan_vace_starts_the_plan_from_the_image_field(lab, diffusers_backend, tiny, monkeypatch):
    from diffusers import WanVACEPipeline

    seen = []
    original = WanVACEPipeline.__call__

    @functools.wraps(original)
    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WanVACEPipeline, "__call__", spy)
    picture = _textured(64, 64, seed=4)  # twice the clip's size: fitted to it
    run = lab.generate("a kite", image=picture, motion=[region(vertical=0.5)], progress=False, **_diffusers(tiny["vace"])).raise_for_status()
    (kwargs,) = seen
    assert "image" not in kwargs  # VACE has no image argument: the picture is the control video's first frame
    video = np.stack([np.asarray(frame) for frame in kwargs["video"]])
    from explorer.conditioning import fitted

    first = fitted(picture, 32, 32)
    assert np.array_equal(video[0], first)
    expected, _ = render(run.request.motion, first, 9, (32, 32), run.request.seed)
    assert np.array_equal(video, expected)
    source = lab.log.run(run.id)["backend_info"]["motion"]["first_frame"]
    assert source == f"image ({run.request.image.get('source') or run.request.image['sha256'][:12]})"
    forked = lab.fork(run, progress=False).raise_for_status()  # the picture comes back from the media store
    assert np.array_equal(read_frames(forked.media), read_frames(run.media))
