"""The starter gallery: recipes load and validate, each makes a clip on the real sketch backend, CLI and fork work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.backends.sketch_scene import Scene
from explorer.recipes import PACKAGE_RECIPES, Recipe, RecipeError, load_recipes
from explorer.request import Request, RequestError


@pytest.fixture
def home(tmp_path):
    """These tests are about recipes, not where the log lives: a file log only (test_log, test_runs and test_api cover both homes)."""
    from homes import Home

    return Home("file", tmp_path)


REPO = Path(__file__).resolve().parents[1]
RECIPES = load_recipes()
FIELDS = {"name", "title", "idea", "prompt", "negative_prompt", "seed", "frames", "fps", "width", "height", "steps", "guidance", "backend"}


def test_a_dozen_recipes_load_with_unique_names_and_every_field():
    assert len(RECIPES) == 12
    names = [r.name for r in RECIPES]
    assert len(set(names)) == len(names)
    for recipe in RECIPES:
        assert set(recipe.to_dict()) == FIELDS
        assert recipe.backend == "sketch"
        assert recipe.title.strip() and recipe.idea.strip() and "\n" not in recipe.idea
        request = recipe.request
        assert isinstance(request, Request) and request.parent is None
        assert (request.prompt, request.seed, request.frames, request.width) == (recipe.prompt, recipe.seed, recipe.frames, recipe.width)


def test_the_repo_copy_and_the_package_copy_are_identical():
    assert (REPO / "gallery" / "recipes.json").read_bytes() == PACKAGE_RECIPES.read_bytes()
    assert [r.name for r in load_recipes(REPO / "gallery" / "recipes.json")] == [r.name for r in RECIPES]


def test_recipes_are_varied_on_the_sketch_backend():
    scenes = [Scene.from_prompt(r.prompt, r.seed, r.negative_prompt, r.guidance).describe() for r in RECIPES]
    # Each recipe's words choose (rather than the prompt hash), and together they cover the vocabulary.
    assert all(s["palette_from"] and s["motion_from"] and s["shape_from"] for s in scenes)
    assert len({s["palette"] for s in scenes}) >= 10
    assert len({s["motion"] for s in scenes}) >= 8
    assert len({s["shape"] for s in scenes}) >= 6


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_each_recipe_builds_a_clip(lab, recipe):
    run = lab.generate(recipe.request.replace(frames=4, width=64, height=48, steps=2), progress=False)
    assert run.ok, run.error
    assert run.media.is_file() and run.request.prompt == recipe.prompt


def test_one_recipe_builds_at_full_size(lab):
    recipe = RECIPES[0]
    run = lab.generate(recipe.request, progress=False).raise_for_status()
    row = lab.runs().iloc[0]
    assert (row.frames, row.width, row.height, row.fps) == (recipe.frames, recipe.width, recipe.height, recipe.fps)
    assert run.media.stat().st_size > 10_000


def test_gallery_fork_and_generate_through_the_lab(lab):
    recipes = lab.gallery()
    assert [r.name for r in recipes] == [r.name for r in RECIPES]
    assert "<table>" in recipes._repr_html_() and recipes[0].title in recipes._repr_html_()
    small = dict(frames=4, width=64, height=48, steps=2)
    child = lab.fork(recipes[1], seed=7, progress=False, **small).raise_for_status()
    assert child.request.seed == 7 and child.request.prompt == recipes[1].prompt and child.request.parent is None
    direct = lab.generate(recipes[2].request, progress=False, **small).raise_for_status()
    assert direct.request.prompt == recipes[2].prompt
    assert len(lab.runs()) == 2


def _write(tmp_path, items):
    path = tmp_path / "recipes.json"
    path.write_text(json.dumps({"version": 1, "recipes": items}))
    return path


def test_validation_names_the_recipe_and_the_field(tmp_path):
    good = RECIPES[0].to_dict()
    with pytest.raises(RecipeError, match=r"recipe 'sunset-flock': frames: must be between 1 and 1000"):
        load_recipes(_write(tmp_path, [{**good, "frames": 0}]))
    with pytest.raises(RecipeError, match=r"recipe 'sunset-flock': width: must be even"):
        load_recipes(_write(tmp_path, [{**good, "width": 385}]))
    with pytest.raises(RecipeError, match=r"recipe 'sunset-flock': seed: must be int"):
        load_recipes(_write(tmp_path, [{**good, "seed": "seven"}]))
    missing = {k: v for k, v in good.items() if k != "prompt"}
    with pytest.raises(RecipeError, match=r"recipe 'sunset-flock': prompt: is required"):
        load_recipes(_write(tmp_path, [missing]))
    with pytest.raises(RecipeError, match=r"recipe 'sunset-flock': colour: is not a recipe field"):
        load_recipes(_write(tmp_path, [{**good, "colour": "red"}]))
    with pytest.raises(RecipeError, match=r"recipe 'Bad Name': name: must be a slug"):
        load_recipes(_write(tmp_path, [{**good, "name": "Bad Name"}]))
    with pytest.raises(RecipeError, match=r"recipe 'sunset-flock': name: used twice \(#1 and #2"):
        load_recipes(_write(tmp_path, [good, good]))
    with pytest.raises(RecipeError, match=r"recipe #1 in recipes.json: name: is required"):
        load_recipes(_write(tmp_path, [{k: v for k, v in good.items() if k != "name"}]))
    with pytest.raises(RecipeError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("{")
        load_recipes(tmp_path / "broken.json")
    assert issubclass(RecipeError, RequestError)  # the CLI reports it as bad input (exit 2)
    assert Recipe.from_dict(good) == RECIPES[0]


def _cli(*args, cwd):
    env = {**os.environ, "EXPLORER_AUTHOR": "gallery-test", "COLUMNS": "200"}
    env.pop("EXPLORER_DB", None)
    return subprocess.run([sys.executable, "-m", "explorer.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_cli_lists_and_builds_the_gallery(tmp_path):
    listing = _cli("gallery", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    for recipe in RECIPES:
        assert recipe.name in listing.stdout
    as_json = _cli("gallery", "--json", cwd=tmp_path)
    assert [r["name"] for r in json.loads(as_json.stdout)] == [r.name for r in RECIPES]
    assert not list(tmp_path.iterdir())  # listing writes nothing

    small = [{**r.to_dict(), "frames": 4, "width": 64, "height": 48, "steps": 2} for r in RECIPES]
    recipes_file = _write(tmp_path, small)
    db = tmp_path / "gallery" / "gallery.duckdb"
    built = _cli("gallery", "--build", "--recipes", str(recipes_file), cwd=tmp_path)  # default --db: gallery/gallery.duckdb
    assert built.returncode == 0, built.stdout + built.stderr
    assert "12 clip(s) made" in built.stdout

    import explorer

    lab = explorer.open(db)
    try:
        runs = lab.runs()
        assert len(runs) == 12 and set(runs.status) == {"succeeded"} and set(runs.author) == {"gallery-test"}
        assert set(runs.prompt) == {r.prompt for r in RECIPES}
        assert lab.ratings().empty  # rates nothing
    finally:
        lab.log.close()

    again = _cli("gallery", "--build", "--recipes", str(recipes_file), "--db", str(db), cwd=tmp_path)
    assert again.returncode == 0 and "0 clip(s) made, 12 already there" in again.stdout

    bad = _write(tmp_path, [{**small[0], "fps": 0}])
    refused = _cli("gallery", "--recipes", str(bad), cwd=tmp_path)
    assert refused.returncode == 2 and "recipe 'sunset-flock': fps" in refused.stderr
