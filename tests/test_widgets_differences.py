"""describe_differences: a clip is labelled by what sets it apart (guidance 3 vs 9, +neon), not by what all share;
and the widgets that show several clips (compare, lineage, the gallery's compare) use it."""

from __future__ import annotations

import pytest

from explorer.request import Request
from explorer.widgets.differences import describe_differences, number
from explorer.widgets.gallery import Gallery
from explorer.widgets.lineage import Lineage

FAST = dict(frames=4, width=64, height=48, steps=2, progress=False)


def req(**fields):
    return Request(**{"prompt": "a red fox", **fields}).to_dict()


def test_only_the_fields_that_differ_are_named():
    d = describe_differences([req(guidance=3.0), req(guidance=9.0)])
    assert d["labels"] == ["guidance 3", "guidance 9"]
    assert d["shared"].startswith("“a red fox”") and "seed 0" in d["shared"] and "256×256" in d["shared"]
    assert "guidance" not in d["shared"]


def test_several_fields_in_a_fixed_order():
    d = describe_differences([req(seed=1, steps=8, width=64), req(seed=2, steps=20, width=128)])
    assert d["labels"] == ["seed 1 · steps 8 · 64×256", "seed 2 · steps 20 · 128×256"]


def test_prompt_words_added_and_removed():
    d = describe_differences([req(prompt="a red fox"), req(prompt="a red fox, neon")])
    assert d["labels"] == ["−neon", "+neon"]
    assert d["shared"].startswith("shared words “a red fox”")
    d = describe_differences([req(prompt="city at night rain"), req(prompt="city at night neon")])
    assert d["labels"] == ["+rain −neon", "+neon −rain"]


def test_a_prompt_that_mostly_differs_is_quoted():
    d = describe_differences([req(prompt="a red fox"), req(prompt="a blue whale in deep water")])
    assert d["labels"] == ["“a red fox”", "“a blue whale in deep water”"]
    long = "word " * 30
    label = describe_differences([req(prompt=long), req(prompt="short")])["labels"][0]
    assert label.endswith("…”") and len(label) < 50


def test_three_prompts_against_what_the_others_share():
    d = describe_differences([req(prompt="a fox"), req(prompt="a fox neon"), req(prompt="a fox neon rain")])
    assert d["labels"] == ["−neon", "+neon", "+neon +rain"]


def test_negative_prompt_model_and_backend_parameters():
    d = describe_differences([req(negative_prompt="blurry", extra={"pace": 0.1}), req(extra={"pace": 0.25}, model="tiny")])
    assert d["labels"] == ["negative “blurry” · default model · pace 0.1", "no negative prompt · model tiny · pace 0.25"]
    assert "pace" not in d["shared"]


def test_numbers_are_compact():
    assert [number(v) for v in (3.0, 7.5, 0.1 + 0.2, 12.34567, 10**12, True, 42)] == ["3", "7.5", "0.3", "12.35", "1000000000000", "on", "42"]
    assert describe_differences([req(fps=8.0), req(fps=12.5)])["labels"] == ["fps 8", "fps 12.5"]


def test_identical_requests_and_single_runs_have_empty_labels():
    assert describe_differences([req(), req(parent="abc")])["labels"] == ["", ""]  # the parent is never named
    one = describe_differences([req(guidance=9.0)])
    assert one["labels"] == [""] and "guidance 9" in one["shared"]
    assert describe_differences([]) == {"labels": [], "shared": ""}
    with pytest.raises(TypeError):
        describe_differences(["not a request"])


def test_request_objects_work_too():
    assert describe_differences([Request(prompt="x", seed=1), Request(prompt="x", seed=5)])["labels"] == ["seed 1", "seed 5"]


# -- in the widgets -----------------------------------------------------------------------------------


def test_compare_labels_say_what_differs(lab):
    a = lab.generate("neon city in the rain", guidance=3.0, **FAST)
    b = lab.generate("neon city in the rain", guidance=9.0, **FAST)
    widget = lab.ui.compare([a, b])
    assert [c["label"] for c in widget.clips] == ["guidance 3", "guidance 9"]
    assert "“neon city in the rain”" in widget.shared and "seed 0" in widget.shared


def test_lineage_nodes_are_labelled_across_the_family(lab):
    root = lab.generate("a lighthouse", seed=1, **FAST)
    child = lab.fork(root, guidance=12.0, progress=False)
    grandchild = lab.fork(child, prompt="a lighthouse in fog", progress=False)
    w = Lineage(lab, child)
    labels = {n["id"]: n["label"] for n in w.nodes}
    assert labels == {root.id: "guidance 7.5", child.id: "guidance 12", grandchild.id: "+in +fog · guidance 12"}
    assert "seed 1" in w.shared


def test_gallery_compare_opens_in_the_gallery_with_labels(lab):
    a = lab.generate("a paper boat", seed=1, **FAST)
    b = lab.generate("a paper boat", seed=2, **FAST)
    g = Gallery(lab)
    g.selected = [a.id, b.id]
    g._on_custom(g, {"type": "compare", "ids": [a.id, b.id]}, [])
    assert [(c["id"], c["label"]) for c in g.comparing["clips"]] == [(a.id, "seed 1"), (b.id, "seed 2")]
    assert g.comparing["clips"][0]["sha256"] == a.sha256 and "“a paper boat”" in g.comparing["shared"]
    g._on_custom(g, {"type": "compare", "ids": [a.id]}, [])
    assert g.message.startswith("Error:")
    g._on_custom(g, {"type": "compare", "ids": []}, [])
    assert g.comparing == {}


def test_the_module_examples_run():
    import doctest

    from explorer.widgets import differences

    assert doctest.testmod(differences).failed == 0


def test_keyframes_are_named_when_they_tell_clips_apart():
    plain = Request(prompt="a forest", frames=48)
    keyed = plain.replace(keyframes={"prompt": {0: "a quiet forest", 47: {"value": "the forest on fire", "ease": "smooth"}},
                                     "guidance": {0: 3, 47: 9}})
    d = describe_differences([plain, keyed])
    assert d["labels"] == ["no keyframes", "keyframes prompt “a quiet forest”→“the forest on fire”, guidance 3→9"]
    same = describe_differences([keyed, keyed.replace(seed=5)])
    assert same["labels"] == ["seed 0", "seed 5"] and "keyframes prompt “a quiet forest”→“the forest on fire”" in same["shared"]
    assert "keyframes" not in describe_differences([plain, plain.replace(seed=2)])["shared"]  # none anywhere: nothing said
