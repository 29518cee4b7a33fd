"""The limits on what anyone can write into a log: one table for the Python API, the CLI and the REST API.

Every text, count and number a user sends is checked against this table before
anything is written, wherever it comes from (a keyword, a shell option, a JSON
body), and the REST API's OpenAPI document states the same figures (a test
compares them). A value outside them is refused with a message naming the
field; the checks here only describe the problem, the caller raises::

    >>> from explorer.limits import TEXT, text_problem
    >>> TEXT["tag"]
    100
    >>> text_problem("tag", "warm") is None
    True
    >>> text_problem("tag", "w" * 101)
    'must be at most 100 characters (got 101)'
    >>> text_problem("note", "caf\\udce9")     # what Python makes of the byte 0xe9 in a Latin-1 shell
    'is not valid UTF-8 text: holds the byte 0xe9 at character 4'

Why these figures: a prompt fits any model's text encoder several times over;
a note or an annotation is a paragraph, not a document; tags are labels. They
keep every answer the review panel polls small (a 10 MB tag once made every
poll 10 MB) and every CLI command fast.
"""

from __future__ import annotations

import math
import numbers
import re
from types import MappingProxyType
from typing import Any, Mapping

# Text, in characters (code points), by field name.
TEXT: Mapping[str, int] = MappingProxyType({
    "prompt": 4000,
    "negative_prompt": 4000,
    "note": 10_000,          # a rating's note
    "text": 10_000,          # an annotation's text
    "tag": 100,              # each tag of a rating
    "author": 200,
    "backend": 100,
    "model": 1000,           # a hub id or a folder path
    "parent": 32,            # a run id (or a unique prefix of one)
    "run_id": 32,
    "name": 200,             # a sweep's name
    "audio": 1000,           # a sound file's path (a request's `audio`, `audio_curve`) or a stored track's name
})
# Fields that may hold line breaks and tabs (with the strings inside backend parameters); every other text is one line.
MULTILINE = frozenset({"prompt", "negative_prompt", "note", "text", "extra"})

# Whole numbers and ranges, inclusive.
MAX_ROWS = 1_000_000_000
RANGES: Mapping[str, tuple[float, float]] = MappingProxyType({
    # a generation request
    "seed": (0, 2**63 - 1),
    "frames": (1, 1000),
    "fps": (1, 120),
    "width": (2, 4096),
    "height": (2, 4096),
    "steps": (1, 1000),
    "guidance": (0.0, 50.0),
    # reviewing
    "score": (1, 5),
    "frame": (0, 999),       # and below the run's frames
    "end_frame": (0, 999),
    "min_rating": (0, 5),
    # reading
    "limit": (1, MAX_ROWS),  # rows from runs / export
    "page": (1, 500),        # rows in one REST page (its `limit`)
    "offset": (0, MAX_ROWS),
})

# Of those, the ones that need not be whole numbers.
FRACTIONAL = frozenset({"fps", "guidance", "min_rating"})

TAGS = 50                    # tags on one rating
KEYFRAMES = 64               # keys per keyframed text field of a request (explorer.keyframes)
# Keys per keyframed number field: one per frame, what an audio curve (explorer.audio) stores.
KEYFRAMES_PER_FRAME = int(RANGES["frames"][1])
AUDIO_BYTES = 512 * 2**20    # a request's sound file (`audio`, `audio_curve`): an hour of CD-quality WAV fits
JSON_DEPTH = 16              # nesting of backend parameters (`extra`, `--param`) and REST bodies
EXTRA_BYTES = 64 * 1024      # backend parameters, as JSON
BODY_BYTES = 256 * 1024      # one REST request body

# C0/C1 control characters: never in a single-line field (they can rewrite a terminal); NUL nowhere.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(field: str, value: Any, *, limit: int | None = None) -> str | None:
    """What is wrong with ``value`` as the text field ``field``, or None.

    Text must be a ``str`` of at most ``TEXT[field]`` characters (or ``limit``),
    valid Unicode (no lone surrogates: Python turns bytes that are not UTF-8 in
    a command line into those) and free of control characters other than line
    breaks and tabs in the fields of :data:`MULTILINE`.
    """
    if not isinstance(value, str):
        return f"must be text (got {type(value).__name__})"
    most = limit if limit is not None else TEXT[field]
    if len(value) > most:
        return f"must be at most {most} characters (got {len(value)})"
    bad = _SURROGATE.search(value)
    if bad:
        code = ord(bad.group())
        what = f"the byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"a lone surrogate U+{code:04X}"
        return f"is not valid UTF-8 text: holds {what} at character {bad.start() + 1}"
    bad = (_CONTROL_MULTILINE if field in MULTILINE else _CONTROL).search(value)
    if bad:
        return f"must not hold control characters (U+{ord(bad.group()):04X} at character {bad.start() + 1})"
    return None


def range_problem(field: str, value: Any) -> str | None:
    """What is wrong with ``value`` as the number ``field`` (see :data:`RANGES`), or None.

    >>> range_problem("limit", -1)
    'must be between 1 and 1000000000 (got -1)'
    >>> range_problem("min_rating", float("nan"))
    'must be a number between 0 and 5 (got nan)'
    """
    low, high = RANGES[field]
    whole = field not in FRACTIONAL
    # numbers.Integral and Real: numpy's integers and floats are fine too; bool is not a number here.
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (whole and not isinstance(value, numbers.Integral)):
        kind = "a whole number" if whole else "a number"
        return f"must be {kind} between {fmt(low)} and {fmt(high)} (got {value!r})"
    if not whole and not math.isfinite(value):
        return f"must be a number between {fmt(low)} and {fmt(high)} (got {value!r})"
    if not low <= value <= high:
        return f"must be between {fmt(low)} and {fmt(high)} (got {value!r})"
    return None


def depth_problem(value: Any, *, most: int = JSON_DEPTH) -> str | None:
    """'nested too deeply' when lists and dicts inside ``value`` go more than ``most`` levels down (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > most:
                return f"must not nest lists and objects more than {most} levels deep"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def fmt(number: float) -> str:
    """A limit as people write it: 5, not 5.0."""
    return str(int(number)) if float(number).is_integer() else str(number)
