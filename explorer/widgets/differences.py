"""What tells clips apart: a short label per run naming only the fields that differ, and a caption of what they share.

Compare, lineage and the gallery's compare label clips with this, so two clips that differ only in guidance read
"guidance 3" and "guidance 9", not "seed 1" twice::

    >>> from explorer.widgets.differences import describe_differences
    >>> d = describe_differences([{"prompt": "a red fox", "guidance": 3.0}, {"prompt": "a red fox neon", "guidance": 9.0}])
    >>> d["labels"]
    ['−neon · guidance 3', '+neon · guidance 9']
    >>> d["shared"]
    'shared words “a red fox”'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# The order fields are named in: what people change most first.
FIELDS = ("prompt", "negative_prompt", "seed", "guidance", "steps", "size", "frames", "fps", "backend", "model")
TEXT_CHARS = 40  # a quoted prompt in a label is cut here
MAX_WORD_CHANGES = 3  # more added/removed words than this and the label quotes the prompt instead

_WORD = re.compile(r"[\w'’-]+")


def describe_differences(requests: Sequence[Mapping[str, Any] | Any]) -> dict[str, Any]:
    """``{"labels": [one string per request], "shared": "what every request has in common"}``.

    ``requests`` are request dicts (as logged) or :class:`~explorer.request.Request` objects. A label names
    only the fields whose values differ across the set, in :data:`FIELDS` order, then backend parameters
    (``extra``) by name; a prompt that differs shows the words it adds (``+neon``) or lacks (``−rain``)
    against the words every other prompt has, or the prompt itself, quoted, when most of it differs.
    ``parent`` is never named (lineage draws it). A label is ``""`` when nothing differs.
    """
    rows = [_as_dict(r) for r in requests]
    labels: list[list[str]] = [[] for _ in rows]
    shared: list[str] = []
    if not rows:
        return {"labels": [], "shared": ""}
    for name in FIELDS:
        values = [_value(row, name) for row in rows]
        if _all_equal(values):
            part = _shared_part(name, values[0])
            if part:
                shared.append(part)
            continue
        if name in ("prompt", "negative_prompt"):
            for i, part in enumerate(_text_parts(name, values)):
                if part:
                    labels[i].append(part)
            common = _common_words(values)
            if common and name == "prompt":
                shared.append(f"shared words “{_cut(common)}”")
            continue
        for i, value in enumerate(values):
            labels[i].append(_field_part(name, value))
    # Controls beyond the plain fields (keyframes, and whatever else a request grows): named when they differ.
    controls = sorted({key for row in rows for key in row} - {*FIELDS, "width", "height", "extra", "parent"})
    for name in controls:
        values = [row.get(name) for row in rows]
        if _all_equal(values):
            if not _empty(values[0]):
                shared.append(_control_part(name, values[0]))
            continue
        for i, value in enumerate(values):
            labels[i].append(_control_part(name, value))
    extras = sorted({key for row in rows for key in (row.get("extra") or {})})
    for key in extras:
        values = [(row.get("extra") or {}).get(key) for row in rows]
        if _all_equal(values):
            shared.append(f"{key} {_fmt(values[0])}")
        else:
            for i, value in enumerate(values):
                labels[i].append(f"{key} {'default' if value is None else _fmt(value)}")
    return {"labels": [" · ".join(parts) for parts in labels], "shared": " · ".join(shared)}


def run_requests(lab: Any, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The logged request of each run (for :func:`describe_differences`)."""
    return [lab.log.run(run_id)["request"] for run_id in run_ids]


def labelled_clips(lab: Any, ids: Sequence[str], clip: Any) -> dict[str, Any]:
    """What an in-widget compare shows: ``clip(id)`` for each of 2 to 9 runs, labelled by what differs; ``{}`` for none."""
    if not ids:
        return {}
    if not 2 <= len(ids) <= 9:
        raise ValueError(f"select 2 to 9 clips to compare (got {len(ids)})")
    clips = [clip(i) for i in ids]
    differences = describe_differences(run_requests(lab, [c["id"] for c in clips]))
    return {"clips": [{**c, "label": label} for c, label in zip(clips, differences["labels"])], "shared": differences["shared"]}


def number(value: Any) -> str:
    """A number as short as it can be without lying: 3.0 → "3", 7.25 → "7.25", 0.30000000000000004 → "0.3"."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".4g")
    return str(value)


# -- parts ---------------------------------------------------------------------------------------


def _as_dict(request: Any) -> dict[str, Any]:
    if isinstance(request, Mapping):
        return dict(request)
    if hasattr(request, "to_dict"):
        return request.to_dict()
    raise TypeError(f"describe_differences: give request dicts or Requests (got {type(request).__name__})")


def _value(row: Mapping[str, Any], name: str) -> Any:
    if name == "size":
        width, height = row.get("width"), row.get("height")
        return None if width is None and height is None else (width, height)
    value = row.get(name)
    return "" if name == "negative_prompt" and value is None else value


def _all_equal(values: list[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True, default=str)
    return all(json.dumps(v, sort_keys=True, default=str) == first for v in values[1:])


def _shared_part(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""  # no negative prompt, no model: nothing worth saying
    if name == "prompt":
        return f"“{_cut(value, 80)}”"
    if name == "negative_prompt":
        return f"negative “{_cut(value)}”"
    return _field_part(name, value)


def _field_part(name: str, value: Any) -> str:
    if name == "size":
        width, height = value or (None, None)
        return f"{number(width) if width is not None else '?'}×{number(height) if height is not None else '?'}"
    if name in ("backend",):
        return str(value)
    if name == "model":
        return "default model" if value in (None, "") else f"model {_cut(str(value))}"
    return f"{name} {'?' if value is None else _fmt(value)}"


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _control_part(name: str, value: Any) -> str:
    """``keyframes prompt “a forest”→“fire” · guidance 3→9``; ``no keyframes``; other controls by name and short value."""
    words = name.replace("_", " ")
    if _empty(value):
        return f"no {words}"
    if name == "keyframes" and isinstance(value, Mapping):
        tracks = []
        for field, keys in value.items():
            ends = [key.get("value") if isinstance(key, Mapping) else key for key in (keys or {}).values()]
            shown = [f"“{_cut(v, 20)}”" if isinstance(v, str) else _fmt(v) for v in (ends[:1] + ends[-1:] if len(ends) > 1 else ends)]
            tracks.append(f"{field.replace('_', ' ')} {'→'.join(shown)}")
        return "keyframes " + ", ".join(tracks)
    return f"{words} {_fmt(value)}"


def _fmt(value: Any) -> str:
    if isinstance(value, (int, float, bool)):
        return number(value)
    if isinstance(value, str):
        return _cut(value)
    return _cut(json.dumps(value, separators=(",", ":"), default=str))


def _cut(text: str, limit: int = TEXT_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _words(text: str) -> list[str]:
    """The text's words in order, once each (compared without case; shown as written)."""
    seen: dict[str, str] = {}
    for word in _WORD.findall(text or ""):
        seen.setdefault(word.lower(), word)
    return list(seen.values())


def _common_words(texts: list[Any]) -> str:
    sets = [{w.lower() for w in _words(t or "")} for t in texts]
    common = set.intersection(*sets) if sets else set()
    return " ".join(w for w in _words(texts[0] or "") if w.lower() in common)


def _text_parts(name: str, texts: list[Any]) -> list[str]:
    """For each text: the words it adds (+) or lacks (−) against the words all the others share."""
    prefix = "negative " if name == "negative_prompt" else ""
    texts = [t or "" for t in texts]
    keys = [{w.lower() for w in _words(t)} for t in texts]
    same_words = all(k == keys[0] for k in keys)  # only order, case or punctuation differ: quote them
    parts = []
    for i, text in enumerate(texts):
        others = [j for j in range(len(texts)) if j != i]
        common = set.intersection(*(keys[j] for j in others))
        added = [w for w in _words(text) if w.lower() not in common]
        removed = [w for w in _words(texts[others[0]]) if w.lower() in common - keys[i]]
        changes = len(added) + len(removed)
        if not text.strip():
            parts.append(f"no {name.replace('_', ' ')}")
        elif same_words or changes > MAX_WORD_CHANGES or changes > len(keys[i] & common):
            parts.append(f"{prefix}“{_cut(text)}”")
        else:  # no changes: this is the text the others add to or take from; their labels say how
            parts.append(prefix + " ".join([*(f"+{w}" for w in added), *(f"−{w}" for w in removed)]) if changes else "")
    return parts
