"""Procedural scenes for the offline "sketch" backend: prompt + seed -> a short looping clip, numpy only.

This is a sketch, not a model: it reads a few words of the prompt and draws
gradients and soft shapes that move.  It exists so the explorer works offline
and in tests, instantly, on a CPU, and so that two different prompts give two
clips a person can tell apart.

Vocabulary
----------
The prompt is lowercased and split on anything that is not a letter; a simple
plural rule ("birds" -> "bird", "skies" -> "sky", "boxes" -> "box") is applied
when the word itself is not in a table.  Four tables, all plain module-level
dicts that map a word to a choice (add a word by adding a key):

``PALETTE_WORDS``  word -> palette name (a key of ``PALETTES``), e.g.
    "sunset", "ocean"/"sea"/"water", "forest"/"jungle", "neon"/"cyber",
    "night"/"moon"/"space"/"galaxy", "fire"/"lava", "desert"/"sand",
    "snow"/"ice"/"winter", "candy"/"pastel", "mono"/"noir", "autumn", "sky".
``COLOR_WORDS``    colour word -> RGB tint ("red", "blue", "gold", ...).  A
    colour word tints the palette; when no palette word is present it also
    picks the palette named in ``COLOR_PALETTES`` ("red" -> fire, ...).
``SHAPE_WORDS``    word -> shape: circle (sun, ball, bubble, planet), square
    (city, building, box, pixel), triangle (mountain, tree), star (star,
    sparkle), ring (ring, portal), line (line, streak, rain, laser), chevron
    (bird, wing).
``MOTION_WORDS``   word -> motion: flying (fly, bird: drift across and up with a
    gentle bob), rain (storm: slanted streaks falling), fall (snow, leaf:
    things falling and swaying), spiral (swirl, vortex, galaxy), zoom (scale out
    from the centre), orbit, wave (ocean: sinusoidal rows), bounce, pulse
    (heart, breathing), drift (the slow default).

In each category the first prompt word (in prompt order) found in the table
chooses, and ``describe()`` reports that word.  A choice any of whose words
appears in the negative prompt is never made: the next matching word is used,
or else the hash choice.  When no word chooses, the choice is made from a
stable hash (blake2b) of the whole normalised prompt, so unknown words still
give different clips for different prompts.

The seed only varies details: object count within a range, positions, sizes,
phases, the background gradient angle and a slight hue jitter.  ``guidance``
(0..50, default 7.5) sets how strongly the palette shows: low is washed-out
and grey, high is saturated.

Every motion is periodic in the clip phase ``t`` in [0, 1) with a whole number
of cycles, so ``render_clip`` loops seamlessly.  Rendering is vectorised numpy
in float32; each object is drawn only inside its bounding box.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = [
    "COLOR_PALETTES",
    "COLOR_WORDS",
    "MOTIONS",
    "MOTION_WORDS",
    "PALETTES",
    "PALETTE_WORDS",
    "SHAPES",
    "SHAPE_WORDS",
    "Scene",
]


def _hex(h: str) -> tuple[float, float, float]:
    h = h.lstrip("#")
    return (int(h[0:2], 16) / 255.0, int(h[2:4], 16) / 255.0, int(h[4:6], 16) / 255.0)


# name -> top / bottom gradient colours, a glow colour and strength, object colours, neon-style halo.
PALETTES: dict[str, dict] = {
    "sunset": dict(top="#2b1b4a", bottom="#ff8a5c", glow="#ffd27a", glow_strength=0.55, halo=0.0,
                   fg=["#ffd166", "#ff6f59", "#f4a261", "#ef476f", "#3d1e4a", "#2a1638"]),
    "ocean": dict(top="#03396c", bottom="#4f9cc9", glow="#bfe8ff", glow_strength=0.25, halo=0.0,
                  fg=["#b3cde0", "#ffffff", "#00b4d8", "#90e0ef", "#0077b6", "#caf0f8"]),
    "forest": dict(top="#0b2e1a", bottom="#6a9a48", glow="#e9f5b0", glow_strength=0.25, halo=0.0,
                   fg=["#a7c957", "#6a994e", "#2d5a27", "#f2e8cf", "#bc4749", "#1b3a1f"]),
    "neon": dict(top="#0d0221", bottom="#2e1060", glow="#ff2a6d", glow_strength=0.30, halo=0.45,
                 fg=["#ff2a6d", "#05d9e8", "#d1f7ff", "#f9c80e", "#b14aed"]),
    "night": dict(top="#000814", bottom="#0a2a5c", glow="#cfe3ff", glow_strength=0.30, halo=0.35,
                  fg=["#ffd60a", "#ffffff", "#a2d2ff", "#cdb4db", "#ffc300"]),
    "fire": dict(top="#1a0000", bottom="#8f2400", glow="#ffb000", glow_strength=0.45, halo=0.4,
                 fg=["#ff4800", "#ff9e00", "#ffd000", "#e01e00", "#fff3b0"]),
    "desert": dict(top="#f6d9a8", bottom="#c9793f", glow="#fff6d8", glow_strength=0.22, halo=0.0,
                   fg=["#e76f51", "#8d5524", "#fff1c1", "#2a9d8f", "#b5651d"]),
    "snow": dict(top="#a9cbe8", bottom="#f4f9ff", glow="#ffffff", glow_strength=0.12, halo=0.0,
                 fg=["#ffffff", "#7fb2d6", "#5a8db8", "#e0fbfc", "#3d6d99"]),
    "candy": dict(top="#ffc6d9", bottom="#bfe0ff", glow="#fff5c0", glow_strength=0.14, halo=0.0,
                  fg=["#ff6f9f", "#ffafcc", "#7ab8ff", "#b28dff", "#fff07a", "#6fe3c8"]),
    "noir": dict(top="#0c0c0c", bottom="#454545", glow="#ffffff", glow_strength=0.18, halo=0.0,
                 fg=["#f0f0f0", "#b0b0b0", "#7a7a7a", "#d8d8d8", "#202020"]),
    "autumn": dict(top="#3b1f0e", bottom="#c8692a", glow="#ffcf7a", glow_strength=0.35, halo=0.0,
                   fg=["#e85d04", "#ffba08", "#9d0208", "#f48c06", "#6a3d1f"]),
    "sky": dict(top="#3a86d6", bottom="#cfeaff", glow="#fffbe0", glow_strength=0.45, halo=0.0,
                fg=["#ffffff", "#f1f7ff", "#ffd166", "#9ec9f0", "#2f5d8a"]),
}

PALETTE_WORDS: dict[str, str] = {
    "sunset": "sunset", "sunrise": "sunset", "dusk": "sunset", "dawn": "sunset", "evening": "sunset",
    "twilight": "sunset", "golden": "sunset",
    "ocean": "ocean", "sea": "ocean", "water": "ocean", "underwater": "ocean", "lake": "ocean",
    "river": "ocean", "beach": "ocean", "aqua": "ocean", "marine": "ocean", "fish": "ocean",
    "forest": "forest", "jungle": "forest", "wood": "forest", "woods": "forest", "grass": "forest",
    "meadow": "forest", "garden": "forest", "nature": "forest", "leafy": "forest", "moss": "forest",
    "neon": "neon", "cyber": "neon", "cyberpunk": "neon", "synthwave": "neon", "disco": "neon",
    "laser": "neon", "arcade": "neon", "vaporwave": "neon", "club": "neon", "glow": "neon",
    "night": "night", "moon": "night", "space": "night", "galaxy": "night", "cosmos": "night",
    "cosmic": "night", "midnight": "night", "nebula": "night", "universe": "night", "dark": "night",
    "fire": "fire", "lava": "fire", "flame": "fire", "volcano": "fire", "inferno": "fire",
    "ember": "fire", "hell": "fire", "burning": "fire", "magma": "fire",
    "desert": "desert", "sand": "desert", "dune": "desert", "sahara": "desert", "savanna": "desert",
    "canyon": "desert", "egypt": "desert",
    "snow": "snow", "ice": "snow", "winter": "snow", "frost": "snow", "frozen": "snow",
    "arctic": "snow", "glacier": "snow", "snowy": "snow", "blizzard": "snow",
    "candy": "candy", "pastel": "candy", "sweet": "candy", "cute": "candy", "kawaii": "candy",
    "bubblegum": "candy", "unicorn": "candy", "dream": "candy",
    "mono": "noir", "noir": "noir", "monochrome": "noir", "grayscale": "noir", "greyscale": "noir",
    "film": "noir", "vintage": "noir", "shadow": "noir",
    "autumn": "autumn", "fall": "autumn", "harvest": "autumn", "pumpkin": "autumn", "rust": "autumn",
    "sky": "sky", "day": "sky", "daylight": "sky", "cloud": "sky", "cloudy": "sky", "morning": "sky",
    "summer": "sky", "sunny": "sky",
}

COLOR_WORDS: dict[str, str] = {
    "red": "#e63946", "crimson": "#c1121f", "scarlet": "#ff2400", "orange": "#f77f00",
    "yellow": "#ffd60a", "gold": "#ffc300", "green": "#2dc653", "emerald": "#10b981",
    "lime": "#a3e635", "teal": "#14b8a6", "cyan": "#22d3ee", "turquoise": "#40e0d0",
    "blue": "#1e6fff", "navy": "#1d3557", "azure": "#3a9bff", "purple": "#8e44ad",
    "violet": "#8b5cf6", "magenta": "#ff00aa", "pink": "#ff77b7", "brown": "#8b5a2b",
    "white": "#f5f5f5", "silver": "#c0c0c0", "grey": "#8a8a8a", "gray": "#8a8a8a",
    "black": "#1a1a1a",
}

# colour word -> palette, used only when no palette word chose.
COLOR_PALETTES: dict[str, str] = {
    "red": "fire", "crimson": "fire", "scarlet": "fire", "orange": "autumn", "yellow": "desert",
    "gold": "desert", "green": "forest", "emerald": "forest", "lime": "forest", "teal": "ocean",
    "cyan": "ocean", "turquoise": "ocean", "blue": "ocean", "navy": "night", "azure": "sky",
    "purple": "neon", "violet": "neon", "magenta": "neon", "pink": "candy", "brown": "desert",
    "white": "snow", "silver": "snow", "grey": "noir", "gray": "noir", "black": "noir",
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring", "line", "chevron")

SHAPE_WORDS: dict[str, str] = {
    "circle": "circle", "sun": "circle", "ball": "circle", "bubble": "circle", "planet": "circle",
    "orb": "circle", "dot": "circle", "bokeh": "circle", "balloon": "circle", "moon": "circle",
    "sphere": "circle", "coin": "circle", "cell": "circle", "eye": "circle", "drop": "circle",
    "square": "square", "city": "square", "building": "square", "box": "square", "pixel": "square",
    "cube": "square", "block": "square", "tower": "square", "skyscraper": "square", "brick": "square",
    "window": "square", "house": "square", "robot": "square", "crate": "square", "tile": "square",
    "triangle": "triangle", "mountain": "triangle", "tree": "triangle", "pyramid": "triangle",
    "peak": "triangle", "pine": "triangle", "tent": "triangle", "hill": "triangle", "shark": "triangle",
    "star": "star", "sparkle": "star", "twinkle": "star", "glitter": "star", "firework": "star",
    "snowflake": "star", "flower": "star", "starry": "star",
    "ring": "ring", "portal": "ring", "halo": "ring", "donut": "ring", "hoop": "ring",
    "wheel": "ring", "ripple": "ring", "loop": "ring",
    "line": "line", "streak": "line", "stripe": "line", "beam": "line", "ray": "line",
    "rain": "line", "comet": "line", "meteor": "line", "needle": "line", "light": "line",
    "laser": "line", "grid": "line",
    "chevron": "chevron", "bird": "chevron", "wing": "chevron", "seagull": "chevron",
    "gull": "chevron", "bat": "chevron", "dove": "chevron", "crow": "chevron", "flock": "chevron",
    "butterfly": "chevron", "arrow": "chevron",
}

MOTIONS: tuple[str, ...] = ("drift", "flying", "rain", "fall", "spiral", "zoom", "orbit", "wave", "bounce", "pulse")

MOTION_WORDS: dict[str, str] = {
    "drift": "drift", "float": "drift", "floating": "drift", "calm": "drift", "still": "drift",
    "slow": "drift", "peaceful": "drift", "gentle": "drift",
    "flying": "flying", "fly": "flying", "flight": "flying", "bird": "flying", "soar": "flying",
    "soaring": "flying", "glide": "flying", "gliding": "flying", "migration": "flying",
    "wing": "flying", "flock": "flying", "seagull": "flying", "gull": "flying", "bat": "flying",
    "rain": "rain", "raining": "rain", "rainy": "rain", "storm": "rain", "stormy": "rain",
    "downpour": "rain", "drizzle": "rain", "thunder": "rain", "shower": "rain",
    "falling": "fall", "snow": "fall", "snowfall": "fall", "snowing": "fall", "snowflake": "fall", "leaf": "fall",
    "confetti": "fall", "drop": "fall", "dropping": "fall", "descend": "fall",
    "spiral": "spiral", "swirl": "spiral", "vortex": "spiral", "galaxy": "spiral", "whirl": "spiral",
    "whirlpool": "spiral", "tornado": "spiral", "twist": "spiral", "hypnotic": "spiral",
    "zoom": "zoom", "zooming": "zoom", "tunnel": "zoom", "warp": "zoom", "hyperspace": "zoom",
    "dive": "zoom", "rush": "zoom", "approach": "zoom", "explode": "zoom", "explosion": "zoom",
    "orbit": "orbit", "orbiting": "orbit", "planet": "orbit", "solar": "orbit", "circling": "orbit",
    "revolve": "orbit", "atom": "orbit", "rotate": "orbit", "rotating": "orbit", "spin": "orbit",
    "wave": "wave", "waves": "wave", "ocean": "wave", "sea": "wave", "surf": "wave",
    "ripple": "wave", "tide": "wave", "undulate": "wave", "flow": "wave", "flowing": "wave",
    "bounce": "bounce", "bouncing": "bounce", "bouncy": "bounce", "jump": "bounce",
    "jumping": "bounce", "hop": "bounce", "ball": "bounce", "dance": "bounce", "dancing": "bounce",
    "pulse": "pulse", "pulsing": "pulse", "heart": "pulse", "heartbeat": "pulse",
    "breathing": "pulse", "breathe": "pulse", "beat": "pulse", "throb": "pulse", "glowing": "pulse",
}

# (min, max) objects for each motion, inclusive.
_COUNTS: dict[str, tuple[int, int]] = {
    "drift": (6, 10), "flying": (6, 11), "rain": (5, 9), "fall": (14, 24), "spiral": (18, 30),
    "zoom": (14, 22), "orbit": (4, 7), "wave": (15, 24), "bounce": (7, 11), "pulse": (5, 9),
}
# (min, max) object radius as a fraction of min(width, height).
_SIZES: dict[str, tuple[float, float]] = {
    "circle": (0.04, 0.10), "square": (0.05, 0.11), "triangle": (0.06, 0.13), "star": (0.03, 0.065),
    "ring": (0.05, 0.10), "line": (0.05, 0.12), "chevron": (0.035, 0.065),
}
_TWO_PI = 2.0 * math.pi
_WORD = re.compile(r"[a-z]+")
_GUIDANCE_MAX = 50.0


class Sprite(NamedTuple):
    """One object's seed-drawn parameters (positions are frame fractions or motion phases)."""

    shape: str
    x: float          # 0..1: base x, or the horizontal phase for motions that wrap
    y: float          # 0..1: base y, or the vertical phase
    size: float       # radius as a fraction of min(width, height)
    aspect: float     # width / height stretch for squares and triangles
    angle: float      # base rotation, radians
    spin: int         # whole turns per clip
    k: int            # whole motion cycles per clip
    phase: float      # 0..1
    phase2: float     # 0..1
    color: tuple[float, float, float]
    opacity: float
    row: int


# --------------------------------------------------------------------------- words


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _lookup(table: dict[str, str], word: str) -> str | None:
    if word in table:
        return table[word]
    stem = _stem(word)
    return table.get(stem)


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _choose(table: dict[str, str], options: tuple[str, ...], tokens: list[str], banned: set[str],
            category: str, norm_prompt: str, allowed_hash: tuple[str, ...] | None = None) -> tuple[str, str | None]:
    """First prompt word in ``table`` whose choice is not banned, else a stable hash choice."""
    for word in tokens:
        choice = _lookup(table, word)
        if choice is not None and choice not in banned:
            return choice, word
    pool = [o for o in (allowed_hash or options) if o not in banned] or [o for o in options if o not in banned]
    if not pool:  # everything banned: ignore the ban rather than fail
        pool = list(allowed_hash or options)
    return pool[_stable_hash(category + "|" + norm_prompt) % len(pool)], None


def _banned(table: dict[str, str], neg_tokens: list[str]) -> set[str]:
    out = set()
    for word in neg_tokens:
        choice = _lookup(table, word)
        if choice is not None:
            out.add(choice)
    return out


# --------------------------------------------------------------------------- colour


def _guidance_curve(guidance: float) -> tuple[float, float]:
    """(saturation gain, wash-out amount): both move monotonically with guidance."""
    g = min(max(guidance, 0.0), _GUIDANCE_MAX)
    sat = 0.12 + 1.06 * (1.0 - math.exp(-g / 6.0))      # 0.12 .. ~1.18
    wash = 0.5 * math.exp(-g / 4.0)                       # 0.5 .. ~0
    return sat, wash


def _grade(rgb: np.ndarray, sat: float, wash: float, hue: float, tint: np.ndarray | None, tint_amt: float) -> np.ndarray:
    """Hue-rotate, tint, saturate and wash out colours (N×3 float64 in 0..1)."""
    c = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    if hue:
        # Rodrigues rotation about the grey axis.
        k = np.full(3, 1.0 / math.sqrt(3.0))
        cos, sin = math.cos(hue), math.sin(hue)
        c = c * cos + np.cross(k, c) * sin + np.outer(c @ k, k) * (1.0 - cos)
    if tint is not None:
        lum = c @ np.array([0.299, 0.587, 0.114])
        c = c * (1.0 - tint_amt) + tint_amt * np.clip(tint[None, :] * (0.35 + 1.1 * lum[:, None]), 0, 1)
    lum = (c @ np.array([0.299, 0.587, 0.114]))[:, None]
    c = lum + sat * (c - lum)
    c = c * (1.0 - wash) + 0.68 * wash
    return np.clip(c, 0.0, 1.0)


# --------------------------------------------------------------------------- scene


@dataclass(frozen=True)
class Scene:
    """What to draw: chosen by the prompt's words, detailed by the seed.  Build with ``Scene.from_prompt``."""

    palette: str
    shape: str
    motion: str
    palette_from: str | None = None
    shape_from: str | None = None
    motion_from: str | None = None
    tint: str | None = None
    tint_from: str | None = None
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    guidance: float = 7.5
    top: tuple[float, float, float] = (0.0, 0.0, 0.0)
    bottom: tuple[float, float, float] = (0.0, 0.0, 0.0)
    glow: tuple[float, float, float] = (1.0, 1.0, 1.0)
    glow_strength: float = 0.3
    glow_xy: tuple[float, float] = (0.5, 0.3)
    halo: float = 0.0
    bg_angle: float = 1.5707963
    vignette: float = 0.3
    sprites: tuple[Sprite, ...] = field(default=())
    streaks: tuple[Sprite, ...] = field(default=())

    # ----------------------------------------------------------------- build

    @classmethod
    def from_prompt(cls, prompt: str, seed: int, negative_prompt: str = "", guidance: float = 7.5) -> "Scene":
        prompt = prompt or ""
        negative_prompt = negative_prompt or ""
        guidance = float(guidance)
        if not math.isfinite(guidance):
            raise ValueError(f"guidance must be a finite number, got {guidance!r}")
        guidance = min(max(guidance, 0.0), _GUIDANCE_MAX)
        seed = int(seed)
        tokens = _tokens(prompt)
        neg = _tokens(negative_prompt)
        norm = " ".join(tokens)

        # --- words choose
        pal_banned = _banned(PALETTE_WORDS, neg) | _banned(COLOR_PALETTES, neg)
        tint_banned = {w for w in neg if w in COLOR_WORDS}
        tint, tint_from = None, None
        for word in tokens:
            if word in COLOR_WORDS and word not in tint_banned and COLOR_WORDS[word] not in {COLOR_WORDS[b] for b in tint_banned}:
                tint, tint_from = word, word
                break
        palette, palette_from = None, None
        for word in tokens:
            choice = _lookup(PALETTE_WORDS, word)
            if choice is not None and choice not in pal_banned:
                palette, palette_from = choice, word
                break
        if palette is None and tint is not None and COLOR_PALETTES[tint] not in pal_banned:
            palette, palette_from = COLOR_PALETTES[tint], tint
        if palette is None:
            palette, palette_from = _choose({}, tuple(PALETTES), [], pal_banned, "palette", norm)
        shape, shape_from = _choose(SHAPE_WORDS, SHAPES, tokens, _banned(SHAPE_WORDS, neg), "shape", norm,
                                    allowed_hash=("circle", "square", "triangle", "star", "ring"))
        motion, motion_from = _choose(MOTION_WORDS, MOTIONS, tokens, _banned(MOTION_WORDS, neg), "motion", norm)

        # --- seed details
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _stable_hash(norm), _stable_hash(" ".join(neg))])
        spec = PALETTES[palette]
        sat, wash = _guidance_curve(guidance)
        hue = float(rng.uniform(-0.12, 0.12))
        tint_rgb = np.array(_hex(COLOR_WORDS[tint])) if tint else None
        # a colour word that picked the palette itself needs no extra tint
        tint_fg = 0.0 if tint is None else (0.18 if palette_from == tint else 0.42)
        tint_bg = 0.0 if tint is None else (0.10 if palette_from == tint else 0.28)
        bg = _grade([_hex(spec["top"]), _hex(spec["bottom"]), _hex(spec["glow"])], sat, wash, hue, tint_rgb, tint_bg)
        fg = _grade([_hex(h) for h in spec["fg"]], sat, wash, hue, tint_rgb, tint_fg)

        sprites = _make_sprites(rng, shape, motion, fg, bg)
        streaks: tuple[Sprite, ...] = ()
        if motion == "rain" and shape != "line":
            streaks = _make_streaks(rng, fg, int(rng.integers(28, 45)))
        elif motion == "rain":
            sprites = _make_streaks(rng, fg, int(rng.integers(36, 56)))

        return cls(
            palette=palette, shape=shape, motion=motion,
            palette_from=palette_from, shape_from=shape_from, motion_from=motion_from,
            tint=tint, tint_from=tint_from,
            prompt=prompt, negative_prompt=negative_prompt, seed=seed, guidance=guidance,
            top=tuple(map(float, bg[0])), bottom=tuple(map(float, bg[1])), glow=tuple(map(float, bg[2])),
            glow_strength=float(spec["glow_strength"]) * (0.4 + 0.6 * min(sat, 1.0)),
            glow_xy=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.15, 0.5))),
            halo=float(spec["halo"]),
            bg_angle=float(math.pi / 2 + rng.uniform(-0.6, 0.6)),
            vignette=float(rng.uniform(0.22, 0.38)),
            sprites=sprites, streaks=streaks,
        )

    def describe(self) -> dict:
        """JSON-able account of what the words chose (``*_from`` is None where the prompt hash chose)."""
        return {
            "palette": self.palette, "palette_from": self.palette_from,
            "shape": self.shape, "shape_from": self.shape_from,
            "motion": self.motion, "motion_from": self.motion_from,
            "tint": self.tint, "tint_from": self.tint_from,
            "objects": len(self.sprites), "streaks": len(self.streaks),
            "seed": self.seed, "guidance": self.guidance,
        }

    # ----------------------------------------------------------------- render

    def render_frame(self, t: float, width: int, height: int) -> np.ndarray:
        """One frame at clip phase ``t`` (0 <= t < 1) as a height×width×3 uint8 array."""
        ctx = _Context(self, int(width), int(height))
        out = np.empty((ctx.h, ctx.w, 3), dtype=np.uint8)
        ctx.frame(float(t), out)
        return out

    def render_clip(self, frames: int, width: int, height: int) -> np.ndarray:
        """``frames`` frames (frame i at t = i / frames) as a C-contiguous T×H×W×3 uint8 array."""
        frames = int(frames)
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        ctx = _Context(self, int(width), int(height))
        out = np.empty((frames, ctx.h, ctx.w, 3), dtype=np.uint8)
        for i in range(frames):
            ctx.frame(i / frames, out[i])
        return out


# --------------------------------------------------------------------------- seed -> sprites


def _make_sprites(rng: np.random.Generator, shape: str, motion: str, fg: np.ndarray, bg: np.ndarray) -> tuple[Sprite, ...]:
    lo, hi = _COUNTS[motion]
    n = int(rng.integers(lo, hi + 1))
    smin, smax = _SIZES[shape]
    rows = int(rng.integers(3, 5)) if motion == "wave" else 1
    bg_mid = (bg[0] + bg[1]) * 0.5
    out = []
    for i in range(n):
        depth = float(rng.uniform(0.0, 1.0))               # 0 far .. 1 near
        size = smin + (smax - smin) * (0.35 + 0.65 * depth) * float(rng.uniform(0.8, 1.2))
        col = fg[int(rng.integers(0, len(fg)))]
        col = col * float(rng.uniform(0.9, 1.08))
        col = col * (0.55 + 0.45 * depth) + bg_mid * (0.45 - 0.45 * depth)  # haze for far objects
        if shape == "square":
            aspect = float(rng.uniform(0.45, 1.1))
            angle = float(rng.normal(0.0, 0.04))
        elif shape == "triangle":
            aspect = float(rng.uniform(0.7, 1.5))
            angle = float(rng.normal(0.0, 0.06))
        else:
            aspect = 1.0
            angle = float(rng.uniform(-math.pi, math.pi))
        if motion in ("orbit",) and i == 0:
            size = smax * 2.0
            depth = 1.0
            col = fg[0]
        x, y = float(rng.uniform(0, 1)), float(rng.uniform(0, 1))
        if motion in ("spiral", "zoom"):
            x = (i + float(rng.uniform(0, 0.6))) / n        # evenly staggered phases so the flow is steady
        out.append(Sprite(
            shape=shape, x=x, y=y, size=float(size), aspect=aspect, angle=angle,
            spin=0 if shape in ("square", "triangle", "chevron") else int(rng.choice([-1, 1])) * int(rng.integers(0, 2)),
            k=int(rng.integers(1, 3)),
            phase=float(rng.uniform(0, 1)), phase2=float(rng.uniform(0, 1)),
            color=tuple(float(v) for v in np.clip(col, 0, 1)),
            opacity=float(rng.uniform(0.75, 1.0)) * (0.8 + 0.2 * depth),
            row=i % rows,
        ))
    if motion == "orbit":
        # the centre body first, orbiters after
        return tuple(out)
    out.sort(key=lambda s: s.size)                          # far (small) behind near (big)
    return tuple(out)


def _make_streaks(rng: np.random.Generator, fg: np.ndarray, n: int) -> tuple[Sprite, ...]:
    bright = fg[int(np.argmax(fg.sum(axis=1)))]
    col = np.clip(bright * 0.5 + 0.5, 0, 1)
    slant = float(rng.uniform(0.12, 0.3)) * float(rng.choice([-1, 1]))
    out = []
    for _ in range(n):
        out.append(Sprite(
            shape="line", x=float(rng.uniform(-0.25, 1.25)), y=float(rng.uniform(0, 1)),
            size=float(rng.uniform(0.04, 0.09)), aspect=slant, angle=0.0, spin=0,
            k=int(rng.integers(2, 4)), phase=float(rng.uniform(0, 1)), phase2=0.0,
            color=tuple(float(v) for v in col), opacity=float(rng.uniform(0.35, 0.75)), row=0,
        ))
    return tuple(out)


# --------------------------------------------------------------------------- rendering


class _Arrays:
    """A sprite list as float arrays (one per field) for vectorised motion."""

    def __init__(self, sprites: tuple[Sprite, ...]):
        self.n = len(sprites)
        self.shape = [s.shape for s in sprites]
        f = lambda name: np.array([getattr(s, name) for s in sprites], dtype=np.float64)  # noqa: E731
        self.x, self.y, self.size, self.aspect = f("x"), f("y"), f("size"), f("aspect")
        self.angle, self.spin, self.k = f("angle"), f("spin"), f("k")
        self.phase, self.phase2, self.opacity, self.row = f("phase"), f("phase2"), f("opacity"), f("row")
        self.color = [np.array(s.color, dtype=np.float32) for s in sprites]
        self.sway = np.array([0.05 if s.shape in ("square", "triangle") else 0.25 for s in sprites])


class _Context:
    """Per-(scene, size) precomputation: coordinate vectors, vignette, sprite arrays."""

    def __init__(self, scene: Scene, w: int, h: int):
        if not (1 <= w <= 16384 and 1 <= h <= 16384):
            raise ValueError(f"width and height must be in 1..16384, got {w}x{h}")
        self.scene, self.w, self.h = scene, w, h
        self.unit = float(min(w, h))
        self.xs = np.arange(w, dtype=np.float32) + np.float32(0.5)   # pixel centres
        self.ys = np.arange(h, dtype=np.float32) + np.float32(0.5)
        diag = math.hypot(w, h)
        self.xn = (self.xs - w / 2) * np.float32(1.4 / diag)
        self.yn = (self.ys - h / 2) * np.float32(1.4 / diag)
        vx = ((self.xs - w / 2) / np.float32(w / 2)) ** 2
        vy = ((self.ys - h / 2) / np.float32(h / 2)) ** 2
        vig = 1.0 - np.float32(scene.vignette * 0.5) * (vx[None, :] + vy[:, None])
        self.vig255 = (vig * np.float32(255.0)).astype(np.float32)[:, :, None]
        self.top = np.array(scene.top, dtype=np.float32)
        self.dcol = np.array(scene.bottom, dtype=np.float32) - self.top
        self.glow = np.array(scene.glow, dtype=np.float32) * np.float32(scene.glow_strength)
        self.sprites = _Arrays(scene.sprites)
        self.streaks = _Arrays(scene.streaks)
        self.img = np.empty((h, w, 3), dtype=np.float32)
        self.tmp = np.empty((h, w, 3), dtype=np.float32)

    # ----------------------------------------------------------------- frame

    def frame(self, t: float, out: np.ndarray) -> None:
        s = self.scene
        img = self.img
        c2 = math.cos(_TWO_PI * t)
        s2 = math.sin(_TWO_PI * t)
        pulse = 1.0 + (0.06 * max(0.0, math.sin(_TWO_PI * 2 * t)) ** 3 if s.motion == "pulse" else 0.0)

        # background: a linear gradient swaying slowly, plus a separable gaussian glow
        ang = s.bg_angle + 0.35 * s2
        g = (self.yn * np.float32(math.sin(ang)) + np.float32(0.5 + 0.08 * c2))[:, None] + \
            (self.xn * np.float32(math.cos(ang)))[None, :]
        np.clip(g, 0.0, 1.0, out=g)
        np.multiply(g[:, :, None], self.dcol, out=img)
        img += self.top
        gx = s.glow_xy[0] * self.w + 0.06 * self.unit * c2
        gy = s.glow_xy[1] * self.h + 0.04 * self.unit * s2
        sig = 0.38 * self.unit * pulse
        ex = np.exp(-(((self.xs - np.float32(gx)) / np.float32(sig)) ** 2))
        ey = np.exp(-(((self.ys - np.float32(gy)) / np.float32(sig)) ** 2))
        e = ey[:, None] * ex[None, :]
        np.multiply(e[:, :, None], self.glow * np.float32(pulse), out=self.tmp)
        img += self.tmp

        self._draw(self.sprites, s.motion, t)
        if self.streaks.n:
            self._draw(self.streaks, "rain", t, halo=0.0)

        np.multiply(img, self.vig255, out=img)
        np.minimum(img, np.float32(255.0), out=img)
        np.copyto(out, img, casting="unsafe")

    # ----------------------------------------------------------------- motion

    def _motion(self, a: _Arrays, motion: str, t: float):
        """Centre (px), radius (px), angle, opacity and wing lift for every sprite at phase t."""
        w, h, u = self.w, self.h, self.unit
        r = a.size * u
        ang = a.angle + _TWO_PI * a.spin * t
        op = a.opacity.copy()
        lift = np.full(a.n, 0.5)
        reach = r * 1.6 + 2.0                                   # how far off-frame to wrap
        mx, my = reach / w, reach / h

        def wrap(v, m):
            return -m + (1.0 + 2.0 * m) * (v % 1.0)

        if motion == "drift":
            x = a.x + 0.05 * u / w * np.sin(_TWO_PI * (t + a.phase))
            y = a.y + 0.04 * u / h * np.sin(_TWO_PI * (t + a.phase2))
            ang = a.angle + a.sway * np.sin(_TWO_PI * (t + a.phase))
        elif motion == "flying":
            p = (a.x + t) % 1.0
            x = wrap(p, mx)
            y = 0.15 + 0.7 * a.y + 0.3 * (0.5 - p) + 0.02 * u / h * np.sin(_TWO_PI * (3 * t + a.phase))
            lift = 0.45 + 0.4 * np.sin(_TWO_PI * ((3 + a.k) * t + a.phase2))
            ang = np.full(a.n, -0.25)
        elif motion == "rain":
            if a.shape and a.shape[0] == "line":
                p = (a.y + a.k * t) % 1.0
                y = wrap(p, my)
                x = a.x + a.aspect * (y - 0.5) * h / w
                ang = np.full(a.n, math.pi / 2) - np.arctan(a.aspect)
            else:                                               # things under the rain sway gently
                x = a.x + 0.02 * u / w * np.sin(_TWO_PI * (t + a.phase))
                y = a.y + 0.015 * u / h * np.sin(_TWO_PI * (2 * t + a.phase2))
                ang = a.angle
        elif motion == "fall":
            p = (a.y + a.k * t) % 1.0
            y = wrap(p, my)
            x = a.x + 0.04 * u / w * np.sin(_TWO_PI * (2 * t + a.phase))
        elif motion == "spiral":
            s = (a.x + t) % 1.0
            rmax = 0.5 * math.hypot(w, h) + r.max(initial=0.0) * 1.6
            rad = rmax * s ** 1.15
            arm = np.floor(a.phase * 3.0)
            th = _TWO_PI * (arm / 3.0 + 0.9 * s + t)
            x = (w / 2 + rad * np.cos(th)) / w
            y = (h / 2 + rad * np.sin(th)) / h
            r = r * (0.15 + 1.3 * s)
            op = op * np.minimum(1.0, s / 0.08)
        elif motion == "zoom":
            s = (a.x + t) % 1.0
            z = np.exp(math.log(0.12) + s * math.log(4.0 / 0.12))
            d = 0.08 + 0.45 * a.y
            th = _TWO_PI * a.phase
            x = 0.5 + d * z * np.cos(th) * u / w
            y = 0.5 + d * z * np.sin(th) * u / h
            r = r * z * 0.7
            op = op * np.clip(np.minimum(s / 0.15, (1.0 - s) / 0.12), 0.0, 1.0)
        elif motion == "orbit":
            th = _TWO_PI * (a.phase + a.k * t)
            rad = (0.14 + 0.3 * a.y) * u
            tilt = 0.5 + 0.2 * a.phase2
            x = (w / 2 + rad * np.cos(th)) / w
            y = (h / 2 + rad * tilt * np.sin(th)) / h
            r = r * (1.0 + 0.22 * np.sin(th))
            if a.n:                                              # centre body: still, breathing
                x[0], y[0] = 0.5, 0.5
                r[0] = a.size[0] * u * (1.0 + 0.04 * math.sin(_TWO_PI * t))
        elif motion == "wave":
            rows = max(1.0, a.row.max(initial=0.0) + 1.0)
            direction = np.where(a.row % 2 == 0, 1.0, -1.0)
            p = (a.x + direction * t) % 1.0
            x = wrap(p, mx)
            y = (a.row + 1.0) / (rows + 1.0) + 0.07 * u / h * np.sin(_TWO_PI * (2.0 * p - 2.0 * t + a.row / 3.0))
            ang = a.angle + 1.2 * a.sway * np.cos(_TWO_PI * (2.0 * p - 2.0 * t + a.row / 3.0))
        elif motion == "bounce":
            sgn = np.where(a.phase2 < 0.5, 1.0, -1.0)
            x = wrap((a.x + sgn * t) % 1.0, mx)
            hop = np.abs(np.sin(math.pi * ((a.k + 1) * t + a.phase)))
            floor = 1.0 - (r + 0.06 * u) / h
            y = floor - (0.25 + 0.45 * a.y) * hop
        elif motion == "pulse":
            beat = np.maximum(0.0, np.sin(_TWO_PI * (2 * t + 0.08 * a.phase))) ** 3
            x, y = a.x, a.y
            r = r * (0.8 + 0.45 * beat)
            op = op * (0.75 + 0.25 * beat)
        else:  # pragma: no cover - MOTIONS is closed
            raise ValueError(motion)
        return x * w, y * h, r, ang, op, lift

    # ----------------------------------------------------------------- drawing

    def _draw(self, a: _Arrays, motion: str, t: float, halo: float | None = None) -> None:
        if not a.n:
            return
        cx, cy, rad, ang, op, lift = self._motion(a, motion, t)
        order: list[int] | range = range(a.n)
        if motion == "orbit" and a.n > 1:                     # painter's order: far side, centre, near side
            depth = np.sin(_TWO_PI * (a.phase + a.k * t))
            rest = [int(i) + 1 for i in np.argsort(depth[1:], kind="stable")]
            order = [i for i in rest if depth[i] < 0] + [0] + [i for i in rest if depth[i] >= 0]
        halo = self.scene.halo if halo is None else halo
        img = self.img
        w, h = self.w, self.h
        for i in order:
            r = float(rad[i])
            o = float(op[i])
            if r <= 0.05 or o <= 0.004:
                continue
            shape = a.shape[i]
            asp = float(a.aspect[i])
            if shape == "line":
                length, width = r, max(0.45, 0.06 * r if motion != "rain" else 0.018 * r + 0.35)
                ext = length + width
            elif shape == "square":
                ext = r * max(asp, 1.0 / asp) * 1.45
            elif shape == "triangle":
                ext = r * max(asp, 1.0) * 1.25
            else:
                ext = r * 1.1
            aa = max(0.75, 0.035 * r)
            hw = r * 0.7 * halo if halo else 0.0
            ext += 2.0 * aa + hw + 1.0
            x, y = float(cx[i]), float(cy[i])
            x0, x1 = max(0, int(x - ext)), min(w, int(x + ext) + 1)
            y0, y1 = max(0, int(y - ext)), min(h, int(y + ext) + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            dx = self.xs[x0:x1] - np.float32(x)
            dy = self.ys[y0:y1] - np.float32(y)
            d, fade = _sdf(shape, dx, dy, r, asp, float(ang[i]), float(lift[i]), length if shape == "line" else 0.0,
                           width if shape == "line" else 0.0)
            alpha = np.float32(0.5) - d * np.float32(1.0 / aa)
            np.clip(alpha, 0.0, 1.0, out=alpha)
            if hw:
                hal = np.float32(1.0) - d * np.float32(1.0 / hw)
                np.clip(hal, 0.0, 1.0, out=hal)
                hal *= hal
                hal *= np.float32(halo)
                np.maximum(alpha, hal, out=alpha)
            if fade is not None:
                alpha *= fade
            alpha *= np.float32(o)
            region = img[y0:y1, x0:x1]
            diff = a.color[i] - region
            diff *= alpha[:, :, None]
            region += diff


def _sdf(shape: str, dx: np.ndarray, dy: np.ndarray, r: float, asp: float, ang: float, lift: float,
         length: float, width: float):
    """Signed distance in pixels (negative inside) over the box dy×dx, and an optional alpha fade."""
    f32 = np.float32
    if shape == "circle":
        return np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2) - f32(r), None
    if shape == "ring":
        d = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2) - f32(r)
        np.abs(d, out=d)
        d -= f32(0.16 * r)
        return d, None
    c, s = f32(math.cos(ang)), f32(math.sin(ang))
    u = dx[None, :] * c + dy[:, None] * s          # along the angle
    v = dy[:, None] * c - dx[None, :] * s          # across it (down when ang = 0)
    if shape == "square":
        np.abs(u, out=u)
        np.abs(v, out=v)
        u -= f32(r * asp)
        v -= f32(r / asp)
        return np.maximum(u, v), None
    if shape == "triangle":
        hw, top, base = r * asp, -1.15 * r, 0.75 * r
        ex, ey = hw, base - top
        n = math.hypot(ex, ey)
        d = (np.abs(u) * f32(ey / n) - (v - f32(top)) * f32(ex / n))
        return np.maximum(d, v - f32(base)), None
    if shape == "star":
        # iq's sdStar5, y up
        k1x, k1y = 0.809016994375, -0.587785252292
        px = np.abs(u)
        py = -v
        dd = np.maximum(px * f32(k1x) + py * f32(k1y), 0.0) * f32(2.0)
        px = px - dd * f32(k1x)
        py = py - dd * f32(k1y)
        dd = np.maximum(px * f32(-k1x) + py * f32(k1y), 0.0) * f32(2.0)
        px = px + dd * f32(k1x)
        py = py - dd * f32(k1y)
        px = np.abs(px)
        py = py - f32(r)
        rf = 0.45
        bax, bay = rf * -k1y, rf * k1x - 1.0
        bb = bax * bax + bay * bay
        hh = np.clip((px * f32(bax) + py * f32(bay)) * f32(1.0 / bb), 0.0, r)
        qx = px - hh * f32(bax)
        qy = py - hh * f32(bay)
        return np.sqrt(qx * qx + qy * qy) * np.sign(py * f32(bax) - px * f32(bay)), None
    if shape == "line":
        au = np.abs(u) - f32(length)
        np.maximum(au, 0.0, out=au)
        d = np.sqrt(au * au + v * v) - f32(width)
        fade = np.clip(u * f32(0.5 / length) + f32(0.6), 0.05, 1.0)
        return d, fade
    if shape == "chevron":
        # two wings from the body at the origin to (±r, -lift·r)
        bx, by = r, -lift * r
        bb = bx * bx + by * by
        px = np.abs(u)
        hh = np.clip((px * f32(bx) + v * f32(by)) * f32(1.0 / bb), 0.0, 1.0)
        qx = px - hh * f32(bx)
        qy = v - hh * f32(by)
        return np.sqrt(qx * qx + qy * qy) - f32(0.13 * r + 0.4), None
    raise ValueError(f"unknown shape {shape!r}")
