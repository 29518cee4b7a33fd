"""The CLIP metrics (explorer.metrics_clip) on a tiny random-weight CLIP built from a config and saved to a folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_metrics import cli

import explorer
from explorer.metrics_clip import measure_clip

pytest.importorskip("transformers")


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-symbol table, which CLIP's byte-level BPE vocabulary is written in."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    shifted, n = keep[:], 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            shifted.append(256 + n)
            n += 1
    return [chr(c) for c in shifted]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    folder = tmp_path_factory.mktemp("tiny-clip")
    symbols = _byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")  # no merges: every character is a token
    tokenizer = CLIPTokenizer(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))
    n = len(vocab)
    config = CLIPConfig(
        text_config=dict(vocab_size=n, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=64, bos_token_id=n - 2, eos_token_id=n - 1, pad_token_id=n - 1),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8),
        projection_dim=8)
    CLIPModel(config).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return str(folder)


def test_clip_metrics_on_a_tiny_model(tiny_clip):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 48, 64, 3), dtype=np.uint8)
    values = measure_clip(frames, "a red kite over the sea", tiny_clip)
    assert set(values) == {"clip_text", "clip_consistency"} and -1 <= values["clip_text"] <= 1
    held = measure_clip(np.repeat(frames[:1], 6, axis=0), "a red kite", tiny_clip)
    assert held["clip_consistency"] == pytest.approx(1.0, abs=1e-5)
    assert values["clip_consistency"] < held["clip_consistency"]
    assert measure_clip(frames, "kite") == {}  # no EXPLORER_CLIP_MODEL: nothing


def test_a_run_gets_clip_metrics_where_a_model_is_configured(tiny_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CLIP_MODEL", tiny_clip)
    lab = explorer.open(tmp_path / "clip.duckdb", author="ada")
    run = lab.generate("fast zoom", progress=False, frames=6, width=64, height=48, steps=2)
    row = lab.runs(metrics=True).iloc[0]
    assert run.ok and -1 <= row["metric_clip_text"] <= 1 and 0 < row["metric_clip_consistency"] <= 1 + 1e-6
    lab.log.close()


def test_a_run_and_an_older_one_get_their_embedding_where_a_model_is_configured(tiny_clip, tmp_path, monkeypatch):
    from explorer import embeddings

    lab = explorer.open(tmp_path / "embed.duckdb", author="ada")
    small = dict(frames=6, width=64, height=48, steps=2)
    old = lab.generate("slow drift", progress=False, **small)  # before a model was configured: metrics, no embedding
    assert len(lab.sql("SELECT * FROM embeddings")) == 0
    monkeypatch.setenv("EXPLORER_CLIP_MODEL", tiny_clip)
    new = lab.generate("fast zoom", progress=False, **small)
    stored = embeddings.vectors(lab.log)
    assert list(stored.index) == [new.id] and stored.shape[1] == 8  # the tiny model's projection_dim
    assert np.linalg.norm(stored.iloc[0]) == pytest.approx(1.0, abs=1e-5)
    assert embeddings.main_model(lab.log) == tiny_clip
    assert lab.backfill_metrics(progress=False)["measured"] == 1  # the older run lacks only its embedding
    assert sorted(embeddings.vectors(lab.log).index) == sorted([old.id, new.id])
    assert lab.backfill_metrics(progress=False)["measured"] == 0
    lab.log.close()
    shown = json.loads(cli("metrics", "--db", tmp_path / "embed.duckdb", "--json").stdout)
    assert shown["clip_model"] == tiny_clip and shown["embedded"] == {tiny_clip: 2} and shown["runs_to_measure"] == 0
