"""The starter gallery: remixable recipes (a prompt, its parameters and a line on the idea) for the sketch backend.

    >>> from explorer.recipes import load_recipes
    >>> recipes = load_recipes()
    >>> recipes[0].name, recipes[0].request.backend
    ('sunset-flock', 'sketch')

A recipe is not a run: ``lab.generate(recipe.request)`` makes its clip, and
``lab.fork(recipe, seed=7)`` remixes it (no parent is recorded: a recipe is
not in the log). The recipes ship inside the package
(``explorer/gallery_recipes.json``, kept identical to ``gallery/recipes.json``
by a test); ``load_recipes(path)`` reads any file in the same format.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from explorer.request import Request, RequestError

PACKAGE_RECIPES = Path(__file__).with_name("gallery_recipes.json")
NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The request fields a recipe carries (everything else in a Request keeps its default).
REQUEST_FIELDS = ("prompt", "negative_prompt", "seed", "frames", "fps", "width", "height", "steps", "guidance", "backend")
_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "title": (str,), "idea": (str,), "prompt": (str,), "negative_prompt": (str,), "seed": (int,),
    "frames": (int,), "fps": (int, float), "width": (int,), "height": (int,), "steps": (int,), "guidance": (int, float),
    "backend": (str,),
}


class RecipeError(RequestError):
    """A recipe file or entry that cannot be used; the message names the recipe and the field."""


@dataclass(frozen=True)
class Recipe:
    """One gallery entry: a named, described request to start from."""

    name: str
    title: str
    idea: str
    prompt: str
    negative_prompt: str
    seed: int
    frames: int
    fps: float
    width: int
    height: int
    steps: int
    guidance: float
    backend: str = "sketch"

    @property
    def request(self) -> Request:
        """The request this recipe makes (validated; derive changes with ``.replace(...)``)."""
        return Request(**{f: getattr(self, f) for f in REQUEST_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "recipe") -> Recipe:
        """Build and validate a recipe; RecipeError names the recipe and every bad field."""
        if not isinstance(data, dict):
            raise RecipeError([f"{where}: must be an object with {', '.join(_TYPES)} (got {type(data).__name__})"])
        label = f"recipe {data['name']!r}" if isinstance(data.get("name"), str) and data["name"] else where
        known = {f.name for f in fields(cls)}
        problems = [f"{label}: {key}: is not a recipe field (fields: {', '.join(known)})" for key in data if key not in known]
        for key, types in _TYPES.items():
            if key not in data:
                if key != "backend":
                    problems.append(f"{label}: {key}: is required")
                continue
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, types):
                problems.append(f"{label}: {key}: must be {' or '.join(t.__name__ for t in types)} (got {value!r})")
        if isinstance(data.get("name"), str) and not NAME_RE.match(data["name"]):
            problems.append(f"{label}: name: must be a slug of lowercase letters, digits and dashes, e.g. 'neon-rain' (got {data['name']!r})")
        for key in ("title", "idea"):
            if isinstance(data.get(key), str) and not data[key].strip():
                problems.append(f"{label}: {key}: must contain some text")
        if problems:
            raise RecipeError(problems)
        recipe = cls(**{key: (float(v) if key in ("fps", "guidance") else v) for key, v in data.items()})
        try:
            recipe.request  # noqa: B018 - validates ranges, even sizes, prompt text
        except RequestError as exc:
            raise RecipeError([f"{label}: {problem}" for problem in exc.problems]) from None
        return recipe

    def _repr_html_(self) -> str:
        return RecipeList([self])._repr_html_()


class RecipeList(list):
    """A plain list of recipes that shows as a table in notebooks."""

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("name", "title", "idea", "prompt", "seed", "clip"))
        rows = []
        for r in self:
            cells = (r.name, r.title, r.idea, r.prompt, str(r.seed), f"{r.frames}f@{r.fps:g}fps {r.width}x{r.height}")
            rows.append("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in cells) + "</tr>")
        note = "<p><code>lab.generate(recipes[i].request)</code> makes one; <code>lab.fork(recipes[i], seed=7)</code> remixes it.</p>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def load_recipes(path: str | os.PathLike | None = None) -> RecipeList:
    """Recipes from ``path`` (default: the package's gallery), validated; RecipeError names the recipe and field.

    The file is JSON: ``{"version": 1, "recipes": [{...}, ...]}`` (a bare list also works).
    """
    source = Path(path) if path is not None else PACKAGE_RECIPES
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError([f"recipes: no such file {source}"]) from None
    except json.JSONDecodeError as exc:
        raise RecipeError([f"recipes: {source} is not valid JSON ({exc})"]) from None
    items = data.get("recipes") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise RecipeError([f"recipes: {source} must hold a list of recipes, or an object with a 'recipes' list"])
    recipes = RecipeList(Recipe.from_dict(item, where=f"recipe #{i + 1} in {source.name}") for i, item in enumerate(items))
    seen: dict[str, int] = {}
    for i, recipe in enumerate(recipes):
        if recipe.name in seen:
            raise RecipeError([f"recipe {recipe.name!r}: name: used twice (#{seen[recipe.name] + 1} and #{i + 1} in {source.name})"])
        seen[recipe.name] = i
    return recipes


def get_recipe(name: str, path: str | os.PathLike | None = None) -> Recipe:
    """One recipe by name."""
    recipes = load_recipes(path)
    for recipe in recipes:
        if recipe.name == name:
            return recipe
    raise RecipeError([f"recipe: no recipe named {name!r} (recipes: {', '.join(r.name for r in recipes)})"])
