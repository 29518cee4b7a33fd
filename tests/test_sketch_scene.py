"""Tests for the sketch backend's procedural scene generator (real numpy, small sizes, fast)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import numpy as np
import pytest

from explorer.backends.sketch_scene import MOTION_WORDS, PALETTE_WORDS, PALETTES, SHAPE_WORDS, Scene

def clip(prompt, seed=0, frames=6, w=48, h=40, **kw):
    return Scene.from_prompt(prompt, seed, **kw).render_clip(frames, w, h)


# --------------------------------------------------------------------------- determinism


def test_same_arguments_give_identical_bytes():
    a = clip("sunset birds flying", seed=7, negative_prompt="rain", guidance=9.0)
    b = clip("sunset birds flying", seed=7, negative_prompt="rain", guidance=9.0)
    assert a.tobytes() == b.tobytes()
    assert Scene.from_prompt("x y", 3) == Scene.from_prompt("x y", 3)
    assert hash(Scene.from_prompt("x y", 3)) == hash(Scene.from_prompt("x y", 3))


def test_seed_changes_pixels_but_not_word_choices():
    s1, s2 = Scene.from_prompt("neon city rain", 1), Scene.from_prompt("neon city rain", 2)
    for key in ("palette", "shape", "motion"):
        assert s1.describe()[key] == s2.describe()[key]
    assert not np.array_equal(s1.render_clip(3, 40, 30), s2.render_clip(3, 40, 30))


def test_clip_frames_equal_render_frame_at_i_over_frames():
    scene = Scene.from_prompt("spiral galaxy stars", 5)
    frames = scene.render_clip(5, 33, 21)
    for i in range(5):
        assert np.array_equal(frames[i], scene.render_frame(i / 5, 33, 21))


def test_frames_move():
    frames = clip("ocean waves", frames=4)
    assert not np.array_equal(frames[0], frames[2])


def test_hash_choice_is_stable_across_processes():
    """Choices and pixels must not depend on Python's salted hash(): compare with a fresh process."""
    import explorer.backends.sketch_scene as mod

    code = (
        "import hashlib, importlib.util, json, sys;"
        "spec = importlib.util.spec_from_file_location('sketch_scene', sys.argv[1]);"
        "m = importlib.util.module_from_spec(spec); sys.modules['sketch_scene'] = m; spec.loader.exec_module(m);"
        "s = m.Scene.from_prompt('a quiet afternoon of nothing', 4);"
        "print(json.dumps([s.describe(), hashlib.sha256(s.render_frame(0.3, 24, 16).tobytes()).hexdigest()]))"
    )
    salt = "12345" if os.environ.get("PYTHONHASHSEED") != "12345" else "54321"
    env = dict(os.environ, PYTHONHASHSEED=salt)
    out = subprocess.run([sys.executable, "-c", code, mod.__file__], env=env, check=True, capture_output=True, text=True)
    s = Scene.from_prompt("a quiet afternoon of nothing", 4)
    here = [json.loads(json.dumps(s.describe())), hashlib.sha256(s.render_frame(0.3, 24, 16).tobytes()).hexdigest()]
    assert json.loads(out.stdout) == here


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize(
    "prompt, palette, shape, motion",
    [
        ("sunset birds flying", ("sunset", "sunset"), ("chevron", "birds"), ("flying", "birds")),
        ("Neon CITY, rain!", ("neon", "neon"), ("square", "city"), ("rain", "rain")),
        ("spiral galaxy stars", ("night", "galaxy"), ("star", "stars"), ("spiral", "spiral")),
        ("forest mountains zoom", ("forest", "forest"), ("triangle", "mountains"), ("zoom", "zoom")),
        ("candy bubbles bounce", ("candy", "candy"), ("circle", "bubbles"), ("bounce", "bounce")),
        ("fire portal orbit", ("fire", "fire"), ("ring", "portal"), ("orbit", "orbit")),
        ("pulsing heart of lava boxes", ("fire", "lava"), ("square", "boxes"), ("pulse", "pulsing")),
        ("snow falling on ice", ("snow", "snow"), None, ("fall", "snow")),
        ("ocean", ("ocean", "ocean"), None, ("wave", "ocean")),
        ("desert drift", ("desert", "desert"), None, ("drift", "drift")),
        ("a vortex in the night sky", ("night", "night"), None, ("spiral", "vortex")),
    ],
)
def test_words_pick_palette_shape_motion(prompt, palette, shape, motion):
    d = Scene.from_prompt(prompt, 0).describe()
    assert (d["palette"], d["palette_from"]) == palette
    if shape is not None:
        assert (d["shape"], d["shape_from"]) == shape
    assert (d["motion"], d["motion_from"]) == motion
    json.dumps(d)
    assert d["objects"] >= 1


def test_describe_matches_fields_and_counts():
    s = Scene.from_prompt("sunset sun birds", 3)
    d = s.describe()
    assert d["palette"] == s.palette and d["shape"] == s.shape == "circle" and d["shape_from"] == "sun"
    assert d["objects"] == len(s.sprites)


def test_colour_words_pick_a_palette_or_tint():
    d = Scene.from_prompt("red balls", 0).describe()
    assert (d["palette"], d["palette_from"], d["tint"]) == ("fire", "red", "red")
    d = Scene.from_prompt("blue forest", 0).describe()
    assert (d["palette"], d["tint"]) == ("forest", "blue")
    # the tint shows: a blue forest is bluer than a plain one
    plain, blue = clip("forest", seed=1), clip("blue forest", seed=1)
    assert blue[..., 2].mean() > plain[..., 2].mean() + 5


def test_unknown_words_choose_by_hash_and_vary():
    scenes = [Scene.from_prompt(f"qwerty {w} zork", 0) for w in "abcdefghijkl"]
    assert all(s.palette_from is None and s.shape_from is None and s.motion_from is None for s in scenes)
    assert len({(s.palette, s.shape, s.motion) for s in scenes}) >= 4


def test_tables_are_big_enough():
    assert len(set(PALETTE_WORDS.values())) >= 10 and set(PALETTE_WORDS.values()) <= set(PALETTES)
    assert len(set(SHAPE_WORDS.values())) >= 5
    assert len(set(MOTION_WORDS.values())) >= 7


# --------------------------------------------------------------------------- negative prompt


def test_negative_prompt_excludes_choices():
    d = Scene.from_prompt("sunset birds flying", 0, negative_prompt="sunset, birds").describe()
    assert d["palette"] != "sunset"
    assert d["shape"] != "chevron"
    assert d["motion"] == "flying" and d["motion_from"] == "flying" or d["motion"] != "flying"


def test_negative_prompt_excludes_whole_choice_and_falls_back_to_next_word():
    d = Scene.from_prompt("ocean forest", 0, negative_prompt="sea").describe()
    assert (d["palette"], d["palette_from"]) == ("forest", "forest")
    d = Scene.from_prompt("rain storm", 0, negative_prompt="storms").describe()
    assert d["motion"] != "rain" and d["motion_from"] is None
    d = Scene.from_prompt("a quiet afternoon", 0, negative_prompt="sunset ocean forest neon night").describe()
    assert d["palette"] not in {"sunset", "ocean", "forest", "neon", "night"}


# --------------------------------------------------------------------------- looks


def _mean_rgb(prompt):
    return np.mean([clip(prompt, seed=s, frames=2).reshape(-1, 3).mean(axis=0) for s in (0, 1, 2)], axis=0)


def test_palettes_give_distinct_mean_colours():
    sunset, ocean, forest = _mean_rgb("sunset"), _mean_rgb("ocean"), _mean_rgb("forest")
    assert sunset[0] > sunset[2] + 20          # warm
    assert ocean[2] > ocean[0] + 40            # blue
    assert forest[1] > forest[0] + 10 and forest[1] > forest[2] + 10  # green
    for a, b in ((sunset, ocean), (sunset, forest), (ocean, forest)):
        assert np.linalg.norm(a - b) > 40


def test_guidance_is_monotone_in_saturation():
    sats = []
    for g in (0.0, 2.0, 5.0, 7.5, 15.0, 50.0):
        frames = clip("sunset sun", seed=3, frames=2, guidance=g).astype(np.int16)
        sats.append(float((frames.max(axis=-1) - frames.min(axis=-1)).mean()))
    assert all(b > a for a, b in zip(sats, sats[1:])), sats
    assert sats[-1] < 250                      # high guidance is saturated, not garbage
    with pytest.raises(ValueError):
        Scene.from_prompt("x", 0, guidance=float("nan"))


def _best_vertical_shift(frames, pairs=8, max_dy=16, max_dx=6):
    """Median over frame pairs of the vertical shift (px, down positive) that best maps one frame onto the next.

    The static part (per-pixel temporal median) is removed first; a small horizontal search lets slanted rain match.
    """
    f = frames.astype(np.float32).mean(axis=-1)
    f -= np.median(f, axis=0, keepdims=True)
    _, h, w = f.shape
    votes = []
    for a, b in list(zip(f[:-1], f[1:]))[:pairs]:
        core = b[max_dy:h - max_dy, max_dx:w - max_dx]
        errs = {
            (dy, dx): float(np.abs(core - a[max_dy - dy:h - max_dy - dy, max_dx - dx:w - max_dx - dx]).mean())
            for dy in range(-max_dy, max_dy + 1)
            for dx in range(-max_dx, max_dx + 1)
        }
        votes.append(min(errs, key=errs.get)[0])
    return float(np.median(votes))


def test_rain_falls_and_moves_more_than_drift_or_zoom():
    rain = clip("noir rain", seed=2, frames=32, w=96, h=96)
    drift = clip("noir drift lines", seed=2, frames=32, w=96, h=96)
    zoom = clip("noir zoom lines", seed=2, frames=32, w=96, h=96)
    assert Scene.from_prompt("noir rain", 2).shape == "line"
    assert _best_vertical_shift(rain) >= 4      # streaks go down, fast
    assert abs(_best_vertical_shift(drift)) <= 2
    assert abs(_best_vertical_shift(zoom)) <= 2

    def energy(c):  # mean frame-to-frame change
        return float(np.abs(np.diff(c.astype(np.float32), axis=0)).mean())

    assert energy(rain) > 2 * energy(drift)


def test_falling_snow_goes_down_and_birds_go_across():
    assert _best_vertical_shift(clip("snow falling", seed=2, frames=32, w=96, h=96)) >= 2
    assert abs(_best_vertical_shift(clip("sunset birds flying", seed=2, frames=32, w=96, h=96))) <= 2


# --------------------------------------------------------------------------- shapes and sizes


@pytest.mark.parametrize("w, h, frames", [(2, 2, 1), (17, 31, 3), (31, 17, 2), (640, 360, 1), (3, 200, 2), (300, 4, 2)])
def test_shapes_dtypes_contiguity(w, h, frames):
    for prompt in ("sunset birds flying", "neon city rain", "spiral galaxy stars", "fire portal orbit"):
        out = Scene.from_prompt(prompt, 1).render_clip(frames, w, h)
        assert out.shape == (frames, h, w, 3)
        assert out.dtype == np.uint8 and out.flags.c_contiguous
    frame = Scene.from_prompt("ocean", 1).render_frame(0.25, w, h)
    assert frame.shape == (h, w, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous


def test_every_shape_and_motion_renders_something():
    for shape_word in ("sun", "box", "tree", "star", "ring", "line", "bird"):
        for motion_word in ("drift", "fly", "rain", "snow", "spiral", "zoom", "orbit", "wave", "bounce", "pulse"):
            out = Scene.from_prompt(f"{shape_word} {motion_word}", 0).render_clip(2, 40, 30)
            assert out.std() > 2, (shape_word, motion_word)


def test_bad_frames_rejected():
    with pytest.raises(ValueError):
        Scene.from_prompt("x", 0).render_clip(0, 8, 8)
