"""Every run is logged whatever its outcome; the sketch backend is deterministic; forks record their parent."""

import json

import numpy as np
import pytest

from explorer import backends
from explorer.backends.base import Backend, BackendError, RunControl
from explorer.backends.sketch import SketchBackend
from explorer.media import read_frames, read_recipe
from explorer.request import Request, RequestError


class FailsMidway(Backend):
    name = "fails-midway"

    def generate(self, request, control):
        control.step(1, 3)
        raise BackendError("ran out of memory at step 2", hint="lower the resolution")


class BadFrames(Backend):
    name = "bad-frames"

    def generate(self, request, control):
        control.step(1, 1)
        return np.zeros((request.frames, request.height, request.width, 3), np.float64)


@pytest.fixture(autouse=True)
def test_backends():
    backends.register("fails-midway", FailsMidway)
    backends.register("bad-frames", BadFrames)


def test_same_request_same_frames_other_seed_other_frames():
    backend = SketchBackend()
    request = Request(prompt="sunset birds flying", seed=7, frames=8, width=96, height=64)
    first = backend.generate(request, RunControl())
    second = backend.generate(request, RunControl())
    assert first.dtype == np.uint8 and first.shape == (8, 64, 96, 3)
    assert first.tobytes() == second.tobytes()
    other = backend.generate(request.replace(seed=8), RunControl())
    assert np.abs(other.astype(int) - first).mean() > 1


def test_different_prompts_look_different():
    backend = SketchBackend()
    clips = {p: backend.generate(Request(prompt=p, frames=4, width=64, height=64), RunControl()) for p in ("fiery lava", "icy snow winter")}
    means = [c.reshape(-1, 3).mean(axis=0) for c in clips.values()]
    assert np.abs(means[0] - means[1]).max() > 20


def test_success_is_logged_with_media(lab, small):
    run = lab.generate("neon city rain", seed=2, progress=False, **small)
    assert run.status == "succeeded" and run.media.is_file()
    row = lab.log.run(run.id)
    assert row["status"] == "succeeded" and row["author"] == "tester"
    assert row["media_sha256"] == run.sha256 and row["finished_at"] >= row["created_at"]
    assert row["request"]["prompt"] == "neon city rain" and row["versions"]["duckdb"]
    assert set(row["timings"]) == {"generate_s", "encode_s"}
    media = lab.sql("SELECT * FROM media WHERE sha256 = ?", [run.sha256])
    assert int(media.frames[0]) == small["frames"] and int(media.width[0]) == small["width"]
    assert read_recipe(run.media) == {"run": run.id, "request": run.request.to_dict()}
    assert read_frames(run.media).shape == (6, 48, 64, 3)


def test_failure_inside_backend_is_logged_with_hint(lab, small):
    with pytest.warns(RuntimeWarning, match="ran out of memory"):
        run = lab.generate("a kite", backend="fails-midway", progress=False, **small)
    assert run.status == "failed" and run.media is None
    row = lab.log.run(run.id)
    assert row["status"] == "failed"
    assert row["error"] == "BackendError: ran out of memory at step 2"
    assert row["hint"] == "lower the resolution"
    assert row["media_sha256"] is None
    assert lab.sql("SELECT count(*) AS n FROM media").n[0] == 0  # partial media is not kept
    with pytest.raises(RuntimeError, match="failed"):
        run.raise_for_status()
    # the lab is still usable after a failure
    assert lab.generate("a kite", progress=False, **small).ok


def test_frames_that_are_not_a_clip_fail_the_run(lab, small):
    with pytest.warns(RuntimeWarning):
        run = lab.generate("a kite", backend="bad-frames", progress=False, **small)
    assert run.status == "failed" and "uint8" in run.error


def test_cancel_mid_run_is_logged_as_cancelled(lab):
    control = RunControl()
    seen = []

    def on_step(step):
        seen.append(step.index)
        if step.index == 2:
            control.cancel()

    run = lab.generate("spiral", steps=6, frames=12, width=64, height=64, control=control, on_step=on_step, progress=False)
    assert run.status == "cancelled" and seen == [1, 2]
    row = lab.log.run(run.id)
    assert row["status"] == "cancelled" and "step 2 of 6" in row["error"] and row["media_sha256"] is None


def test_keyboard_interrupt_is_logged_then_raised(lab, small):
    def interrupt(step):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lab.generate("a kite", on_step=interrupt, progress=False, **small)
    row = lab.runs().iloc[0]
    assert row.status == "cancelled" and "KeyboardInterrupt" in row.error


def test_invalid_request_runs_nothing_and_logs_nothing(lab):
    with pytest.raises(RequestError, match="frames"):
        lab.generate("a kite", frames=0)
    with pytest.raises(RequestError, match="backend: unknown backend 'nope'"):
        lab.generate("a kite", backend="nope")
    with pytest.raises(RequestError, match="extra.strength: not a parameter of backend 'sketch'"):
        lab.generate("a kite", extra={"strength": 0.5})
    assert len(lab.runs()) == 0


def test_previews_and_progress_arrive_each_step(lab):
    steps = []
    lab.generate("ocean waves", steps=4, frames=8, width=320, height=240, on_step=steps.append, progress=False)
    assert [s.index for s in steps] == [1, 2, 3, 4] and all(s.total == 4 for s in steps)
    assert all(s.preview is not None and s.preview.dtype == np.uint8 and max(s.preview.shape[:2]) <= 128 for s in steps)
    # noise fades as steps complete: the last preview is cleaner than the first
    roughness = [np.abs(np.diff(s.preview.astype(int), axis=1)).mean() for s in steps]
    assert roughness[-1] < roughness[0]


def test_fork_variations_and_lineage(lab, small):
    root = lab.generate("a red kite", seed=1, progress=False, **small)
    child = lab.fork(root, prompt="a blue kite", progress=False)
    grandchild = lab.fork(child.id[:6], seed=9, progress=False)
    variations = lab.variations(root, n=3, progress=False)
    assert child.request.parent == root.id and child.request.prompt == "a blue kite" and child.request.seed == 1
    assert grandchild.request.parent == child.id and grandchild.request.seed == 9
    assert [v.request.seed for v in variations] == [2, 3, 4] and {v.request.parent for v in variations} == {root.id}
    family = lab.lineage(child)
    assert family.set_index("id").depth.to_dict() == {root.id: -1, child.id: 0, grandchild.id: 1}
    assert len(lab.lineage(root)) == 1 + 1 + 1 + 3


def test_fork_from_a_clip_file_starts_from_its_recipe(lab, small, tmp_path):
    source = lab.generate("desert dunes", seed=5, progress=False, **small)
    travelled = tmp_path / "sent-by-a-friend.mp4"
    travelled.write_bytes(source.media.read_bytes())
    forked = lab.fork(travelled, seed=6, progress=False)
    assert forked.request.prompt == "desert dunes" and forked.request.frames == small["frames"]
    assert forked.request.parent == source.id and forked.request.seed == 6


def test_rerun_gives_identical_frames(lab, small):
    first = lab.generate("candy bubbles bounce", seed=11, progress=False, **small)
    again = lab.rerun(first, progress=False)
    assert np.array_equal(read_frames(first.media), read_frames(again.media))


def test_sweep_runs_every_cell_and_is_logged(lab, small):
    frame = lab.sweep("forest", {"seed": [1, 2], "guidance": [2.0, 9.0]}, name="grid", progress=False, **small)
    assert len(frame) == 4 and set(frame.status) == {"succeeded"}
    sweep = lab.sql("SELECT * FROM sweeps")
    assert sweep.name[0] == "grid" and json.loads(sweep["axes"][0]) == {"seed": [1, 2], "guidance": [2.0, 9.0]}
    cells = lab.sql("SELECT sweep_cell FROM runs ORDER BY created_at").sweep_cell.map(json.loads).tolist()
    assert cells == [{"seed": 1, "guidance": 2.0}, {"seed": 1, "guidance": 9.0}, {"seed": 2, "guidance": 2.0}, {"seed": 2, "guidance": 9.0}]


def test_sweep_validates_every_cell_before_running(lab, small):
    with pytest.raises(RequestError, match="frames"):
        lab.sweep("forest", {"frames": [4, 0]}, progress=False, width=64, height=64)
    assert len(lab.runs()) == 0
