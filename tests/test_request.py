"""Every request field is validated before any work, with a message naming the field and the allowed range."""

import pytest

from explorer.request import Request, RequestError, parse_size


def test_defaults_are_valid():
    r = Request(prompt="a kite")
    assert (r.frames, r.width, r.height, r.backend, r.seed) == (16, 256, 256, "sketch", 0)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("prompt", "", "prompt: String should have at least 1 character"),
        ("prompt", "   ", "prompt: must contain some text"),
        ("prompt", "x" * 4001, "prompt: must be at most 4000 characters (got 4001)"),
        ("negative_prompt", "x" * 4001, "negative_prompt: must be at most 4000 characters (got 4001)"),
        ("seed", -1, "seed: must be between 0 and 9223372036854775807 (got -1)"),
        ("seed", 2**63, "seed: must be between 0 and 9223372036854775807"),
        ("seed", 1.5, "seed: Input should be a valid integer"),
        ("frames", 0, "frames: must be between 1 and 1000 (got 0)"),
        ("frames", 1001, "frames: must be between 1 and 1000 (got 1001)"),
        ("fps", 0, "fps: must be between 1 and 120 (got 0)"),
        ("fps", 121, "fps: must be between 1 and 120"),
        ("fps", float("nan"), "fps: must be between 1 and 120 (got nan)"),
        ("width", 513, "width: must be even for H.264 video; use 512 or 514 (got 513)"),
        ("width", 0, "width: must be between 2 and 4096 (got 0)"),
        ("width", 4098, "width: must be between 2 and 4096"),
        ("height", 7, "height: must be even for H.264 video; use 6 or 8 (got 7)"),
        ("height", "tall", "height: Input should be a valid integer"),
        ("steps", 0, "steps: must be between 1 and 1000 (got 0)"),
        ("guidance", -0.5, "guidance: must be between 0 and 50 (got -0.5)"),
        ("guidance", 51, "guidance: must be between 0 and 50"),
        ("guidance", float("inf"), "guidance: must be"),
        ("backend", "", "backend: String should have at least 1 character"),
        ("extra", {"x": object()}, "extra: must hold only JSON values"),
        ("extra", "notadict", "extra: Input should be a valid dictionary"),
        ("parent", 5, "parent: Input should be a valid string"),
        ("colour", "red", "colour: is not a request field"),
    ],
)
def test_bad_field_is_named(field, value, expected):
    fields = {"prompt": "a kite", field: value}
    with pytest.raises(RequestError) as caught:
        Request(**fields)
    assert expected in str(caught.value)


def test_several_problems_reported_together():
    with pytest.raises(RequestError) as caught:
        Request(prompt="x", frames=0, width=3)
    assert len(caught.value.problems) == 2


def test_missing_prompt():
    with pytest.raises(RequestError, match="prompt: is required"):
        Request()


def test_replace_revalidates_and_keeps_other_fields():
    r = Request(prompt="a kite", seed=3, frames=12)
    assert r.replace(seed=4).frames == 12
    with pytest.raises(RequestError, match="frames"):
        r.replace(frames=-2)


def test_roundtrip_through_dict():
    r = Request(prompt="a kite", extra={"mood": "calm"}, parent="abc")
    assert Request.from_dict(r.to_dict()) == r


def test_request_is_immutable():
    r = Request(prompt="a kite")
    with pytest.raises(Exception):
        r.seed = 5


@pytest.mark.parametrize("text, expected", [("512x288", (512, 288)), ("64×48", (64, 48)), ("10X20", (10, 20))])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["512", "axb", "512x", "-2x4"])
def test_parse_size_rejects(text):
    with pytest.raises(RequestError, match="size: must look like WIDTHxHEIGHT"):
        parse_size(text)
