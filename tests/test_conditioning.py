"""Conditioning media: paths, runs, frames and arrays stored once by hash; refusals naming the field; the sketch
backend's first and last pictures; lab.extend; fork, the recipe in the clip and another process keep the pictures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.conditioning import FIELDS, Frame, frames_of
from explorer.media import read_frames, read_recipe
from explorer.request import Request, RequestError

CLIP = dict(frames=12, width=64, height=48, steps=2, fps=6, seed=3)


@pytest.fixture
def home(tmp_path):
    """A file log: where the log lives is covered by test_log and test_runs."""
    from homes import Home

    return Home("file", tmp_path)


def picture(seed: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A picture with structure (a gradient and a bright square), so resizing and matching mean something."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    out = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), np.full_like(x, rng.integers(0, 256))], -1)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    out[top : top + height // 4, left : left + width // 4] = rng.integers(0, 256, 3)
    return out.astype(np.uint8)


def media_files(lab) -> list[Path]:
    return sorted(p for p in lab.log.media.root.rglob("*") if p.is_file())


# -- the request holds references ---------------------------------------------------------------


def test_a_request_holds_references_not_raw_media():
    with pytest.raises(RequestError, match=r"^image: a request holds stored media references; give a path, a run"):
        Request(prompt="a kite", image="first.png")
    with pytest.raises(RequestError) as caught:
        Request(prompt="a kite", frames=4, last_image={"sha256": "ab" * 32, "file": "png", "width": 8, "height": 8, "frames": 1, "at": 4},
                reference_images=[{"sha256": "x"}])
    problems = caught.value.problems
    assert "last_image: at must be a frame from 0 to 3 (the clip has 4 frames) (got 4)" in problems
    assert any(p.startswith("reference_images[0]: sha256 must be 64 lowercase hex digits") for p in problems)
    ok = Request(prompt="a kite", image={"sha256": "ab" * 32, "file": "png", "width": 8, "height": 6, "frames": 1})
    assert ok.image["source"] == "" and Request.from_dict(ok.to_dict()) == ok


# -- storing: paths, runs, frames, arrays ----------------------------------------------------------


def test_paths_runs_frames_and_arrays_are_stored_once_by_hash(home, tmp_path):
    lab = home.open()
    source = lab.generate("neon city rain", progress=False, **CLIP)
    pixels = picture(1)
    path = tmp_path / "first.png"
    Image.fromarray(pixels).save(path)
    before = set(media_files(lab))

    from_path = lab.generate("a kite", image=str(path), progress=False, **CLIP)
    from_array = lab.generate("a kite", image=pixels, seed=4, progress=False, **{k: v for k, v in CLIP.items() if k != "seed"})
    assert from_path.ok and from_array.ok
    # the same pixels from a file and from an array: one stored picture (PNG + thumbnail), one reference
    assert from_path.request.image["sha256"] == from_array.request.image["sha256"]
    assert from_path.request.image["source"] == "file first.png" and from_array.request.image["source"] == "array"
    sha = from_path.request.image["sha256"]
    stored = lab.log.media.path(sha, ".png")
    assert stored.is_file() and lab.log.media.path(sha, ".thumb.webp").is_file()
    new_pictures = [p for p in set(media_files(lab)) - before if p.suffix == ".png"]
    assert new_pictures == [stored]
    np.testing.assert_array_equal(frames_of(from_path.request.image, lab.log.media)[0], pixels)  # lossless
    as_floats = lab.generate("a kite", image=pixels / 255.0, progress=False, **CLIP)  # floats in [0, 1]: the same picture
    assert as_floats.request.image["sha256"] == sha

    last = lab.generate("a kite", image=(source, -1), progress=False, **CLIP)
    also_last = lab.generate("a kite", image=lab.frame(source, 11), progress=False, **CLIP)
    assert last.request.image["sha256"] == also_last.request.image["sha256"]
    assert last.request.image["source"] == f"frame 11 of run {source.id}"
    np.testing.assert_array_equal(frames_of(last.request.image, lab.log.media)[0], read_frames(source.media)[-1])


def test_a_clip_is_a_reference_to_the_run_or_a_stored_mp4(home, tmp_path):
    from explorer.conditioning import store_fields

    lab = home.open()
    source = lab.generate("neon city rain", progress=False, **CLIP)
    fields = store_fields(lab, {"video": source, "mask": np.zeros((48, 64), np.uint8),
                                "reference_images": [picture(1), (source, 0)]})
    assert fields["video"] == {"sha256": source.sha256, "file": "mp4", "width": 64, "height": 48, "frames": 12, "source": f"run {source.id}"}
    assert fields["mask"]["file"] == "png" and fields["mask"]["frames"] == 1
    assert [ref["source"] for ref in fields["reference_images"]] == ["array", f"frame 0 of run {source.id}"]
    clip = store_fields(lab, {"video": read_frames(source.media)[:6]})["video"]
    assert clip["file"] == "mp4" and clip["frames"] == 6 and lab.log.media.path(clip["sha256"]).is_file()
    assert {"video": {"media": source, "at": 4}} and store_fields(lab, {"video": {"media": source, "at": 4}})["video"]["at"] == 4


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"image": "missing.png"}, "image: no such file missing.png"),
        ({"image": np.zeros((48, 64, 4), np.uint8)}, "image: must be an array of shape H×W×3 (got shape (48, 64, 4))"),
        ({"image": np.zeros((2, 48, 64, 3), np.uint8)}, "image: takes one picture, not 2 frames"),
        ({"last_image": np.full((48, 64, 3), 2.0, np.float32)}, "last_image: must be a uint8 array (0-255) or floats from 0 to 1 (got float32 from 2 to 2)"),
        ({"last_image": np.zeros((48, 64, 3), np.int64)}, "last_image: must be a uint8 array (0-255) or floats from 0 to 1 (got int64)"),
        ({"video": np.zeros((4, 47, 64, 3), np.uint8)}, "video: a clip needs an even width and height"),
        ({"mask": np.zeros((5,), np.uint8)}, "mask: must be an array of shape H×W, H×W×3, T×H×W or T×H×W×3"),
        ({"image": ("RUN", 12)}, "image: frame 12 is outside run RUN (its 12 frames are 0 to 11, or -12 to -1)"),
        ({"image": ("RUN", -13)}, "image: frame -13 is outside run RUN"),
        ({"image": "RUN"}, "image: no such file RUN"),
        ({"image": "RUNOBJ"}, "image: takes one picture, not a clip; choose a frame: (run, 0) or lab.frame(run, -1)"),
        ({"reference_images": [picture(1), 7]}, "reference_images[1]: must be a path, a run, a frame (run, 12), an array"),
        ({"image": {"media": "x.png", "at": -1}}, "image: at must be a frame of the new clip"),
        ({"image": {"media": picture(1), "at": 20}}, "image: at must be a frame from 0 to 11 (the clip has 12 frames) (got 20)"),
        ({"video": {"sha256": "cd" * 32, "file": "mp4", "width": 8, "height": 8, "frames": 3}}, "video: media cdcdcdcdcdcd… (no source) is not in this log's media store"),
        ({"image": "NOTPIC"}, "image: notes.png is not a picture Pillow can read"),
    ],
)
def test_bad_media_are_refused_naming_the_field_before_anything_runs(home, tmp_path, fields, expected):
    lab = home.open()
    source = lab.generate("neon city rain", progress=False, **CLIP)
    (tmp_path / "notes.png").write_text("not a picture")
    swap = {"RUN": source.id, "RUNOBJ": source, "NOTPIC": str(tmp_path / "notes.png")}

    def real(value):
        if isinstance(value, str):
            return swap.get(value, value)
        if isinstance(value, tuple):
            return tuple(real(v) for v in value)
        return value

    fields = {name: real(value) for name, value in fields.items()}
    with pytest.raises(RequestError) as caught:
        if {"video", "mask", "reference_images"} & set(fields):  # the sketch refuses these whatever they hold: check what reads them
            from explorer.conditioning import store_fields

            store_fields(lab, fields)
        else:
            lab.generate("a kite", progress=False, **CLIP, **fields)
    assert expected.replace("RUN", source.id) in str(caught.value)
    assert len(lab.runs()) == 1  # nothing was logged


def test_lab_frame_refuses_a_frame_outside_the_clip(home):
    lab = home.open()
    source = lab.generate("neon city rain", progress=False, **CLIP)
    assert lab.frame(source, -1) == Frame(source, -1)
    with pytest.raises(RequestError, match=rf"frame: 12 is outside run {source.id}'s clip \(its 12 frames are 0 to 11"):
        lab.frame(source, 12)


# -- the sketch backend ------------------------------------------------------------------------------


def test_sketch_refuses_what_it_cannot_use_by_name(home):
    lab = home.open()
    source = lab.generate("neon city rain", progress=False, **CLIP)
    before = media_files(lab)
    with pytest.raises(RequestError, match=r"^video: backend 'sketch' does not take video"):
        lab.generate("a kite", video=np.zeros((8, 48, 64, 3), np.uint8), progress=False, **CLIP)
    with pytest.raises(RequestError, match=r"^mask: backend 'sketch' does not take mask"):
        lab.fork(source, mask=np.zeros((48, 64), np.uint8))
    assert media_files(lab) == before  # refused before anything was stored
    with pytest.raises(RequestError) as caught:
        lab.generate("a kite", video=source, reference_images=[(source, 0)], progress=False, **CLIP)
    assert caught.value.problems == [
        "video: backend 'sketch' does not take video (it takes: image, last_image); video is taken by: diffusers WanVACEPipeline, LTXConditionPipeline",
        "reference_images: backend 'sketch' does not take reference_images (it takes: image, last_image); reference_images is taken by: diffusers WanVACEPipeline",
    ]


def test_sketch_starts_on_image_and_ends_on_last_image(home):
    lab = home.open()
    first, last = picture(1), picture(2)
    run = lab.generate("a forest at dawn", image=first, last_image=last, progress=False, **CLIP)
    plain = lab.generate("a forest at dawn", progress=False, **CLIP)
    frames, scene = read_frames(run.media), read_frames(plain.media)
    assert np.abs(frames[0].astype(int) - first).mean() < 6  # only H.264 (4:2:0 colour) between them
    assert np.abs(frames[-1].astype(int) - last).mean() < 6
    assert np.abs(frames[6].astype(int) - scene[6]).mean() < 6  # the middle is the prompt's scene
    assert np.abs(frames[0].astype(int) - scene[0]).mean() > 20


def test_pictures_of_another_size_are_cropped_and_resized(home):
    lab = home.open()
    wide = np.zeros((40, 120, 3), np.uint8)
    wide[:, 40:80] = 255  # a white band in the middle third, which a centre crop to 4:3 keeps
    run = lab.generate("a kite", image=wide, progress=False, **CLIP)
    first = read_frames(run.media)[0].astype(int)
    assert first[:, 20:44].mean() > 200 and first[:, :8].mean() < 40 and first[:, -8:].mean() < 40


def test_extend_continues_from_the_last_frame(home):
    lab = home.open()
    source = lab.generate("neon city rain", progress=False, **CLIP)
    more = lab.extend(source, prompt="a forest at dawn")
    assert more.ok and more.request.parent == source.id and more.request.seed == source.request.seed
    assert more.request.image["source"] == f"frame 11 of run {source.id}"
    before, after = read_frames(source.media), read_frames(more.media)
    assert np.abs(after[0].astype(int) - before[-1]).mean() < 6
    assert np.abs(after[-1].astype(int) - before[-1]).mean() > 10  # and then it goes somewhere else
    again = lab.extend(more, progress=False)  # an extension of an extension starts from its own last frame
    assert again.request.image["source"] == f"frame 11 of run {more.id}"
    with pytest.raises(RequestError, match="parent: a fork's parent is the run it forks from"):
        lab.extend(source, parent=source.id)


def test_extend_by_id_drops_what_was_aligned_to_the_old_clip(home):
    lab = home.open()
    source = lab.generate("neon city rain", last_image=picture(2), progress=False, **CLIP)
    more = lab.extend(source.id, progress=False)
    assert more.request.last_image is None and more.request.image["source"] == f"frame 11 of run {source.id}"


# -- logged, forkable, in the clip's recipe, in another process ---------------------------------------------


def test_fork_and_the_recipe_in_the_clip_keep_the_conditioning(home, tmp_path):
    lab = home.open()
    run = lab.generate("a forest at dawn", image=picture(1), last_image=picture(2), progress=False, **CLIP)
    logged = lab.run(run.id).request
    assert logged.image == run.request.image and logged.last_image == run.request.last_image
    fork = lab.fork(run, seed=9)
    assert fork.request.image == run.request.image and fork.request.parent == run.id
    recipe = read_recipe(run.media)
    assert recipe["request"]["image"] == run.request.image
    from_file = lab.fork(str(run.media))
    assert from_file.request.image == run.request.image and from_file.request.parent == run.id
    np.testing.assert_array_equal(read_frames(from_file.media), read_frames(run.media))  # same request, same pictures

    (tmp_path / "elsewhere").mkdir()
    other = home.__class__("file", tmp_path / "elsewhere").open()
    with pytest.raises(RequestError, match=r"image: media [0-9a-f]{12}… \(array\) is not in this log's media store"):
        other.fork(str(run.media))


def test_same_request_same_pictures_in_another_process(home, tmp_path):
    lab = home.open()
    run = lab.generate("a forest at dawn", image=picture(1), progress=False, **CLIP)
    script = (
        "import explorer, json, sys, numpy as np\n"
        "from explorer.media import read_frames\n"
        "lab = explorer.open(sys.argv[1], author='other')\n"
        "again = lab.rerun(sys.argv[2], progress=False)\n"
        "print(json.dumps({'ok': again.ok, 'sha': again.sha256, 'image': again.request.image}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    lab.log.close()
    done = subprocess.run([sys.executable, "-c", script, home.db, run.id], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["image"] == run.request.image
    reopened = home.open()
    np.testing.assert_array_equal(read_frames(reopened.log.media.path(result["sha"])), read_frames(run.media))


def test_every_field_is_a_request_field():
    assert set(FIELDS) <= set(Request.model_fields)


# -- shown in the widgets ------------------------------------------------------------------------------------


def test_the_gallery_and_the_player_carry_the_thumbnails(home):
    lab = home.open()
    source = lab.generate("neon city rain", progress=False, **CLIP)
    more = lab.extend(source, last_image=picture(2))
    gallery = lab.ui.gallery()
    items = {item["id"]: item for item in gallery.page_items}
    assert "conditioning" not in items[source.id]
    media = items[more.id]["conditioning"]
    assert [m["field"] for m in media] == ["image", "last_image"]
    assert media[0] == {"field": "image", "sha256": more.request.image["sha256"], "source": f"frame 11 of run {source.id}", "frames": 1}
    for m in media:  # what the tiles load: the thumbnail beside the stored picture
        assert lab.log.media.path(m["sha256"], ".thumb.webp").is_file()
    gallery.show(more)
    assert gallery.detail["conditioning"] == media
    assert lab.ui.player(more).clip["conditioning"] == media


# -- the command line ------------------------------------------------------------------------------------------


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "explorer.cli", *map(str, args)], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_the_cli_takes_media_files_and_run_frames_and_extends(home, tmp_path):
    Image.fromarray(picture(2)).save(tmp_path / "last.png")
    size = ["--frames", 8, "--size", "64x48", "--steps", 2]
    first = _cli("generate", "neon city rain", *size, *home.args, "--json")
    assert first.returncode == 0, first.stderr
    source = json.loads(first.stdout)["id"]
    made = _cli("generate", "a kite", *size, "--image", f"{source}@-1", "--last-image", tmp_path / "last.png", *home.args, "--json")
    assert made.returncode == 0, made.stderr
    request = json.loads(made.stdout)
    assert request["image"]["source"] == f"frame 7 of run {source}" and request["last_image"]["source"] == "file last.png"
    extended = _cli("extend", source[:6], "--set", "prompt=a forest at dawn", *home.args)
    assert extended.returncode == 0, extended.stderr
    assert f"conditioning: image: frame 7 of run {source}" in extended.stdout
    wider = json.loads(_cli("extend", source, "--set", "size=96x48", *home.args, "--json").stdout)  # size= as fork takes it
    assert (wider["width"], wider["height"]) == (96, 48)
    forked = _cli("fork", source, "--set", f"image={source}@0", *home.args, "--json")
    assert json.loads(forked.stdout)["image"]["source"] == f"frame 0 of run {source}"
    bad = _cli("generate", "a kite", *size, "--image", f"{source}@8", *home.args)
    assert bad.returncode == 2 and f"error: --image: frame 8 is outside run {source} (its 8 frames are 0 to 7" in bad.stderr
    missing = _cli("generate", "a kite", *size, "--last-image", tmp_path / "nope.png", *home.args)
    assert missing.returncode == 2 and "error: --last-image: no such file" in missing.stderr
    refused = _cli("generate", "a kite", *size, "--mask", tmp_path / "last.png", *home.args)
    assert refused.returncode == 2 and "error: --mask: backend 'sketch' does not take mask" in refused.stderr


def test_sketch_refuses_a_picture_at_another_frame_and_a_sweep_keeps_its_picture(home):
    lab = home.open()
    with pytest.raises(RequestError, match=r"^image: backend 'sketch' puts image on frame 0, not at a chosen frame \(at=3\)"):
        lab.generate("a kite", image={"media": picture(1), "at": 3}, progress=False, **CLIP)
    assert lab.generate("a kite", image={"media": picture(1), "at": 0}, progress=False, **CLIP).ok
    runs = lab.sweep("a kite", {"seed": [1, 2]}, image=picture(1), frames=6, width=64, height=48, steps=2, progress=False)
    from explorer.conditioning import store_fields

    expected = store_fields(lab, {"image": picture(1)})["image"]["sha256"]
    assert len(runs) == 2 and {lab.run(i).request.image["sha256"] for i in runs["id"]} == {expected}
