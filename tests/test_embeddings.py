"""CLIP embeddings (explorer.embeddings) as features: stored per run on both homes, reduced to a few components, learnt
by the taste model (which projects new clips on the components it was fitted on) and placed by the atlas.

The vectors here are made up (a real CLIP on a CPU is slow, and the tiny random one in test_metrics_clip.py says
nothing about taste): what is tested is what the log, the taste model and the atlas do with them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from test_metrics import SMALL

from explorer import embeddings
from explorer.atlas import atlas
from explorer.review import taste_model
from explorer.review.taste import predicted_taste

DIMS = 32


def _embedded_runs(lab, n, seed=0):
    """``n`` real sketch runs, each with a made-up unit embedding; the taste direction the simulated team follows."""
    rng = np.random.default_rng(seed)
    runs = [lab.generate("a still lake", seed=s, progress=False, **SMALL) for s in range(n)]
    vectors = rng.normal(size=(n, DIMS))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for run, vector in zip(runs, vectors):
        embeddings.store(lab.log, run.id, "tiny-clip", vector)
    return runs, vectors


def test_stored_per_run_and_read_back_in_order(lab):
    runs, vectors = _embedded_runs(lab, 3)
    embeddings.store(lab.log, runs[0].id, "other-model", np.ones(4))
    assert embeddings.main_model(lab.log) == "tiny-clip"  # the model that embedded the most runs
    stored = embeddings.vectors(lab.log)
    assert stored.shape == (3, DIMS)
    np.testing.assert_allclose(stored.loc[runs[1].id].to_numpy(), vectors[1], atol=1e-6)  # FLOAT[]: single precision
    assert list(embeddings.vectors(lab.log, "other-model").index) == [runs[0].id]
    assert list(embeddings.vectors(lab.log, ids=[runs[2].id]).index) == [runs[2].id]
    with pytest.raises(ValueError, match=f"embedding of run {runs[0].id}"):
        embeddings.store(lab.log, runs[0].id, "tiny-clip", np.array([np.nan, 1.0]))
    assert len(lab.sql("SELECT * FROM embeddings")) == 4  # the refused one was not written


def test_components_are_the_same_in_another_process(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(40, DIMS)))
    here = embeddings.reduce(frame).apply(frame).to_numpy()
    np.save(tmp_path / "v.npy", frame.to_numpy())
    code = ("import numpy as np, pandas as pd; from explorer import embeddings; v = pd.DataFrame(np.load('v.npy')); "
            "np.save('c.npy', embeddings.reduce(v).apply(v).to_numpy())")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    assert here.shape == (40, embeddings.COMPONENTS)
    np.testing.assert_array_equal(here, np.load(tmp_path / "c.npy"))


def test_the_taste_model_learns_a_taste_that_lives_in_the_embeddings(lab):
    runs, vectors = _embedded_runs(lab, 16)
    # the team prefers one direction of the embedding space, which no cheap metric measures (the clips are alike)
    liked = vectors @ np.linalg.svd(vectors - vectors.mean(0))[2][0]
    for a, b in itertools.combinations(range(len(runs)), 2):
        lab.vote(*((runs[a], runs[b]) if liked[a] > liked[b] else (runs[b], runs[a])))
    model = taste_model(lab)
    assert model.embedding is not None and model.embedding.model == "tiny-clip"
    pcs = [f for f in model.features if f.startswith("clip_pc")]
    assert pcs and model.weights.abs().idxmax() in pcs
    assert model.accuracy > 0.85 and "CLIP embedding components" in model.describe()
    assert model.to_dict()["embedding_model"] == "tiny-clip"

    # a clip embedded after the fit is projected on the fitted components: the same clip and vector, the same score
    best, worst = int(np.argmax(liked)), int(np.argmin(liked))
    new = lab.generate("a still lake", seed=best, progress=False, **SMALL)
    embeddings.store(lab.log, new.id, "tiny-clip", vectors[best])
    scores = predicted_taste(lab, [runs[best].id, new.id, runs[worst].id])
    assert taste_model(lab) is not model  # an embedding was added: refitted
    assert scores.iloc[1] == pytest.approx(scores.iloc[0], abs=1e-9) and scores.iloc[1] > scores.iloc[2] + 1


def test_without_embeddings_the_model_is_metrics_only(lab):
    runs = [lab.generate(p, seed=1, progress=False, **SMALL) for p in ("slow drift", "fast zoom", "a still lake")]
    lab.vote(runs[0], runs[1])
    model = taste_model(lab)
    assert model.embedding is None and not any(f.startswith("clip_pc") for f in model.features)
    assert "CLIP" not in model.describe()


def test_the_atlas_places_by_the_embeddings_too(lab):
    runs, vectors = _embedded_runs(lab, 12, seed=1)
    data = atlas(lab)
    assert {f"clip_pc{i}" for i in range(1, 9)} <= set(data.features)
    assert sorted(data.ids) == sorted(r.id for r in runs) and not data.unmeasured
