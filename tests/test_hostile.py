"""Hostile input, from tables: the CLI, the Python API and the REST API refuse it with one clear message, and the log keeps only what was valid.

Adding a case is one line in a table below. Each case names what it does, what it sends, the outcome (an exit
code, an exception class or an HTTP status) and a word the message must hold (the option or field at fault);
valid cases end in the rows they add. The rules, checked for every case:

- CLI: exit 2 (bad input) or 1 (the environment: a full disk, a read-only log), exactly one line on stderr
  holding the word, never a traceback. Cases run in-process (Typer's runner, fast); those named in
  ``REAL_PROCESSES`` also run as real subprocesses, with raw bytes in argv, to prove argv decoding and exit codes.
- Python: the exception (``RequestError``, or a documented ``LogError``/``ExportError``) names the field.
- REST: a 4xx (never a 5xx) whose JSON ``error`` names the field.
- Rows: a refused case adds nothing to any table; a valid one adds exactly its rows.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest

import explorer
from explorer.export import ExportError, export
from explorer.lab import Lab
from explorer.log import Log, LogError
from explorer.request import RequestError

TABLES = ("runs", "media", "ratings", "votes", "annotations", "sweeps")
BIG = 2**70
NOT_UTF8 = b"\xff"  # a byte no UTF-8 text holds; Python decodes argv with surrogateescape, so it arrives as "\udcff"


def deep(levels: int) -> list:
    """A list nested ``levels`` deep, built without recursion."""
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


def rows(**delta: int) -> dict[str, int]:
    return delta


class Cli(NamedTuple):
    what: str
    args: list            # str or bytes; {run}, {other}, {out} and {full} (a folder with a file in it) are filled in
    code: int             # 0 valid, 2 bad input, 1 the environment
    word: str | None      # the message must hold it (None for valid cases)
    rows: dict = {}       # what a valid case adds


class Py(NamedTuple):
    what: str
    call: Callable        # call(lab, run_id, other_id, tmp_folder)
    raises: type | None   # None: valid
    word: str | None
    rows: dict = {}


class Rest(NamedTuple):
    what: str
    method: str
    path: str             # under explorer/api/; {run} filled in
    body: Any             # a dict (sent as JSON), str or bytes (sent as is), or None
    status: int
    word: str | None      # in the JSON error
    rows: dict = {}


CLI_CASES = [
    # rate
    Cli("rate: --note not UTF-8", ["rate", "{run}", "3", "--note", NOT_UTF8], 2, "--note"),
    Cli("rate: --note with a byte not UTF-8 inside", ["rate", "{run}", "3", "--note", b"caf\xe9 au lait"], 2, "--note"),
    Cli("rate: --tag not UTF-8", ["rate", "{run}", "3", "--tag", b"a\xffb"], 2, "--tag"),
    Cli("rate: --note over the limit", ["rate", "{run}", "3", "--note", "n" * 10_001], 2, "--note"),
    Cli("rate: --note of 100 KB", ["rate", "{run}", "3", "--note", "n" * 100_000], 2, "--note"),
    Cli("rate: --tag over the limit", ["rate", "{run}", "3", "--tag", "t" * 101], 2, "--tag"),
    Cli("rate: 51 tags", ["rate", "{run}", "3", *[x for i in range(51) for x in ("--tag", f"t{i}")]], 2, "--tag"),
    Cli("rate: --tag with a line break", ["rate", "{run}", "3", "--tag", "a\nb"], 2, "--tag"),
    Cli("rate: --tag with a terminal escape", ["rate", "{run}", "3", "--tag", "\x1b[2J"], 2, "--tag"),
    Cli("rate: --author of 100 KB", ["rate", "{run}", "3", "--author", "a" * 100_000], 2, "--author"),
    Cli("rate: --author not UTF-8", ["rate", "{run}", "3", "--author", NOT_UTF8], 2, "--author"),
    Cli("rate: --author with a line break", ["rate", "{run}", "3", "--author", "ada\nroot"], 2, "--author"),
    Cli("rate: score 0", ["rate", "{run}", "0"], 2, "score"),
    Cli("rate: score 6", ["rate", "{run}", "6"], 2, "score"),
    Cli("rate: score 2**70", ["rate", "{run}", str(BIG)], 2, "score"),
    Cli("rate: score not a number", ["rate", "{run}", "five"], 2, "score"),
    Cli("rate: no score", ["rate", "{run}"], 2, "score"),
    Cli("rate: no such run", ["rate", "0000000000ff", "3"], 2, "no run"),
    Cli("rate: a run id of 1000 characters", ["rate", "a" * 1000, "3"], 2, "32 characters"),
    Cli("rate: a run id not UTF-8", ["rate", NOT_UTF8, "3"], 2, "UTF-8"),
    Cli("rate: a run id that is Rich markup", ["rate", "[/bold]", "3"], 2, "no run"),
    Cli("rate: an option that does not exist", ["rate", "{run}", "3", "--stars", "3"], 2, "--stars"),
    # annotate
    Cli("annotate: text not UTF-8", ["annotate", "{run}", NOT_UTF8], 2, "text"),
    Cli("annotate: text over the limit", ["annotate", "{run}", "x" * 10_001], 2, "text"),
    Cli("annotate: blank text", ["annotate", "{run}", "   "], 2, "text"),
    Cli("annotate: text with a terminal escape", ["annotate", "{run}", "look \x1b]0;pwned\x07 here"], 2, "text"),
    Cli("annotate: --frame -1", ["annotate", "{run}", "edge", "--frame", "-1"], 2, "--frame"),
    Cli("annotate: --frame past the clip", ["annotate", "{run}", "edge", "--frame", "99"], 2, "--frame"),
    Cli("annotate: --frame 2**70", ["annotate", "{run}", "edge", "--frame", str(BIG)], 2, "--frame"),
    Cli("annotate: --end-frame before --frame", ["annotate", "{run}", "edge", "--frame", "3", "--end-frame", "1"], 2, "--end-frame"),
    Cli("annotate: --author over the limit", ["annotate", "{run}", "edge", "--author", "a" * 201], 2, "--author"),
    # vote
    Cli("vote: a run against itself", ["vote", "{run}", "{run}"], 2, "two different"),
    Cli("vote: no such loser", ["vote", "{run}", "0000000000ff"], 2, "no run"),
    Cli("vote: --author not UTF-8", ["vote", "{run}", "{other}", "--author", NOT_UTF8], 2, "--author"),
    Cli("vote: --tie with a value", ["vote", "{run}", "{other}", "--tie", "yes"], 2, "yes"),
    # runs
    Cli("runs: --text not UTF-8", ["runs", "--text", NOT_UTF8], 2, "--text"),
    Cli("runs: --text longer than any prompt", ["runs", "--text", "x" * 4001], 2, "--text"),
    Cli("runs: --status bogus", ["runs", "--status", "bogus"], 2, "--status: must be one of running, succeeded"),
    Cli("runs: --min-rating nan", ["runs", "--min-rating", "nan"], 2, "--min-rating: must be a number between 0 and 5"),
    Cli("runs: --min-rating inf", ["runs", "--min-rating", "inf"], 2, "--min-rating"),
    Cli("runs: --min-rating 99", ["runs", "--min-rating", "99"], 2, "--min-rating: must be between 0 and 5"),
    Cli("runs: --min-rating -1", ["runs", "--min-rating", "-1"], 2, "--min-rating"),
    Cli("runs: --limit -1", ["runs", "--limit", "-1"], 2, "--limit: must be between 1 and"),
    Cli("runs: --limit 0", ["runs", "--limit", "0"], 2, "--limit"),
    Cli("runs: --limit 2**70", ["runs", "--limit", str(BIG)], 2, "--limit"),
    Cli("runs: --limit not a number", ["runs", "--limit", "many"], 2, "--limit"),
    Cli("runs: --sort sideways", ["runs", "--sort", "sideways"], 2, "--sort"),
    Cli("runs: --tag over the limit", ["runs", "--tag", "t" * 101], 2, "--tag"),
    Cli("runs: --author not UTF-8", ["runs", "--author", NOT_UTF8], 2, "--author"),
    Cli("runs: --backend over the limit", ["runs", "--backend", "b" * 101], 2, "--backend"),
    Cli("runs: an option that does not exist", ["runs", "--colour", "red"], 2, "--colour"),
    # generate
    Cli("generate: --param nested 5000 deep", ["generate", "kite", "--param", f"x={deep_json(5000)}"], 2, "--param x"),
    Cli("generate: --param nested 17 deep", ["generate", "kite", "--param", f"x={deep_json(17)}"], 2, "--param"),
    Cli("generate: --param of 70 KB", ["generate", "kite", "--param", "x=" + json.dumps("v" * 70_000)], 2, "--param"),
    Cli("generate: --param value not UTF-8", ["generate", "kite", "--param", b"x=\xff"], 2, "--param x"),
    Cli("generate: --param without a name", ["generate", "kite", "--param", "=3"], 2, "--param"),
    Cli("generate: --parent that is no run", ["generate", "kite", "--parent", "0000000000ff"], 2, "--parent: no run"),
    Cli("generate: --parent that is SQL", ["generate", "kite", "--parent", "'; DROP TABLE runs; --"], 2, "--parent"),
    Cli("generate: --parent not UTF-8", ["generate", "kite", "--parent", NOT_UTF8], 2, "--parent"),
    Cli("generate: --parent of 1000 characters", ["generate", "kite", "--parent", "a" * 1000], 2, "--parent"),
    Cli("generate: prompt not UTF-8", ["generate", b"kite \xff"], 2, "prompt"),
    Cli("generate: prompt over the limit", ["generate", "k" * 4001], 2, "prompt"),
    Cli("generate: prompt with a terminal escape", ["generate", "kite\x1b[31m"], 2, "prompt"),
    Cli("generate: --negative over the limit", ["generate", "kite", "--negative", "n" * 4001], 2, "--negative"),
    Cli("generate: --backend over the limit", ["generate", "kite", "--backend", "b" * 101], 2, "--backend"),
    Cli("generate: --model over the limit", ["generate", "kite", "--model", "m" * 1001], 2, "--model"),
    Cli("generate: --seed -1", ["generate", "kite", "--seed", "-1"], 2, "--seed"),
    Cli("generate: --seed 2**70", ["generate", "kite", "--seed", str(BIG)], 2, "--seed"),
    Cli("generate: --fps nan", ["generate", "kite", "--fps", "nan"], 2, "--fps"),
    Cli("generate: --guidance inf", ["generate", "kite", "--guidance", "inf"], 2, "--guidance"),
    Cli("generate: --frames 2**70", ["generate", "kite", "--frames", str(BIG)], 2, "--frames"),
    Cli("generate: --size too wide", ["generate", "kite", "--size", "4098x2"], 2, "width"),
    # fork
    Cli("fork: --set parent", ["fork", "{run}", "--set", "parent={other}"], 2, "--set parent"),
    Cli("fork: --set prompt not UTF-8", ["fork", "{run}", "--set", b"prompt=\xff"], 2, "--set prompt"),
    Cli("fork: --set seed 2**70", ["fork", "{run}", "--set", f"seed={BIG}"], 2, "--set seed"),
    Cli("fork: --set a field that does not exist", ["fork", "{run}", "--set", "colour=red"], 2, "colour"),
    Cli("fork: --set extra nested 5000 deep", ["fork", "{run}", "--set", f"extra={deep_json(5000)}"], 2, "--param extra"),
    Cli("fork: a run id not UTF-8", ["fork", NOT_UTF8], 2, "UTF-8"),
    # show, lineage
    Cli("show: no such run", ["show", "0000000000ff"], 2, "no run"),
    Cli("show: a run id of 33 characters", ["show", "a" * 33], 2, "32 characters"),
    Cli("lineage: a run id not UTF-8", ["lineage", b"\xfe\xff"], 2, "UTF-8"),
    # export
    Cli("export: --out /", ["export", "--out", "/"], 2, "--out"),
    Cli("export: --out a folder with other files", ["export", "--out", "{full}"], 2, "--force"),
    Cli("export: --out under /proc", ["export", "--out", "/proc/clip-explorer-export", "--force"], 2, "--out"),
    Cli("export: --out a file", ["export", "--out", "{full}/notes.txt"], 2, "--out"),
    Cli("export: --limit -1", ["export", "--out", "{out}", "--limit", "-1"], 2, "--limit"),
    Cli("export: --limit 2**70", ["export", "--out", "{out}", "--limit", str(BIG)], 2, "--limit"),
    Cli("export: --status bogus", ["export", "--out", "{out}", "--status", "bogus"], 2, "--status"),
    Cli("export: --min-rating 99", ["export", "--out", "{out}", "--min-rating", "99"], 2, "--min-rating"),
    Cli("export: --text not UTF-8", ["export", "--out", "{out}", "--text", NOT_UTF8], 2, "--text"),
    # --db that cannot be a log (a full disk and read-only mounts: tests/test_log.py, which mounts them)
    Cli("--db: a character device", ["runs", "--db", "/dev/null"], 1, "/dev/null is a character device, not a regular file"),
    Cli("--db: a new log under /proc", ["generate", "kite", "--db", "/proc/clip-explorer.duckdb"], 1, "/proc is a kernel file system"),
    Cli("--db: a new log under /sys", ["generate", "kite", "--db", "/sys/clip-explorer.duckdb"], 1, "/sys is a kernel file system"),
    Cli("--db: a kernel file", ["runs", "--db", "/proc/version"], 2, "/proc/version cannot be opened as a Clip Explorer log: it is not a DuckDB database"),
    Cli("--db: a text file", ["rate", "{run}", "3", "--db", "{full}/notes.txt"], 2, "it is not a DuckDB database"),
    Cli("--db: under a file", ["runs", "--db", "{full}/notes.txt/x.duckdb"], 2, "notes.txt is a file, not a folder"),
    Cli("--db: a folder", ["runs", "--db", "{full}"], 2, "is a folder"),
    # valid: at the limits, they go through, and add exactly their rows
    Cli("valid: rate with a note, 50 tags and an author at the limits",
        ["rate", "{run}", "4", "--note", "n" * 10_000, *[x for i in range(50) for x in ("--tag", f"{i:03d}" + "t" * 97)], "--author", "a" * 200],
        0, None, rows(ratings=1)),
    Cli("valid: rate with Rich markup in the note", ["rate", "{run}", "2", "--note", "[/bold] [red]not markup[/red]"], 0, None, rows(ratings=1)),
    Cli("valid: annotate at the limit", ["annotate", "{run}", "x" * 10_000, "--frame", "1"], 0, None, rows(annotations=1)),
    Cli("valid: vote", ["vote", "{run}", "{other}", "--tie"], 0, None, rows(votes=1)),
    Cli("valid: runs --text at the limit", ["runs", "--text", "x" * 4000], 0, None),
    Cli("valid: runs --min-rating 5 --limit 1", ["runs", "--min-rating", "5", "--limit", "1"], 0, None),
    Cli("valid: show a run with long notes", ["show", "{run}"], 0, None),
    Cli("valid: lineage", ["lineage", "{other}"], 0, None),
    Cli("valid: export into a new folder", ["export", "--out", "{out}/new"], 0, None),
    Cli("valid: export into an earlier export", ["export", "--out", "{out}/new"], 0, None),
    Cli("valid: export --force into a folder with other files", ["export", "--out", "{full}", "--force"], 0, None),
    Cli("valid: generate with --parent as a prefix", ["generate", "kite child", "--parent", "{run6}", "--frames", "4", "--size", "32x32", "--steps", "1"],
        0, None, rows(runs=1, media=1)),
]

# Also run as real processes: raw bytes in argv, the real exit code, the real stderr.
REAL_PROCESSES = {
    "rate: --note not UTF-8", "rate: --tag not UTF-8", "annotate: text not UTF-8", "runs: --text not UTF-8",
    "runs: --limit 2**70", "rate: --author of 100 KB", "export: --out /", "valid: show a run with long notes",
}


def _tie(value: Any) -> Callable:
    return lambda lab, run, other, tmp: lab.vote(run, other, tie=value)


PY_CASES = [
    # rate
    Py("rate: note over the limit", lambda lab, run, other, tmp: lab.rate(run, 3, note="n" * 10_001), RequestError, "note"),
    Py("rate: note with a lone surrogate", lambda lab, run, other, tmp: lab.rate(run, 3, note="caf\udce9"), RequestError, "note: is not valid UTF-8"),
    Py("rate: note with NUL", lambda lab, run, other, tmp: lab.rate(run, 3, note="a\x00b"), RequestError, "note"),
    Py("rate: note not text", lambda lab, run, other, tmp: lab.rate(run, 3, note=b"bytes"), RequestError, "note"),
    Py("rate: tag over the limit", lambda lab, run, other, tmp: lab.rate(run, 3, tags=["t" * 101]), RequestError, "tag"),
    Py("rate: tag of 10 MB", lambda lab, run, other, tmp: lab.rate(run, 3, tags=["t" * 10_000_000]), RequestError, "tag"),
    Py("rate: 51 tags", lambda lab, run, other, tmp: lab.rate(run, 3, tags=[f"t{i}" for i in range(51)]), RequestError, "tags"),
    Py("rate: tag with a lone surrogate", lambda lab, run, other, tmp: lab.rate(run, 3, tags=["\ud800"]), RequestError, "tag"),
    Py("rate: tag with a tab", lambda lab, run, other, tmp: lab.rate(run, 3, tags=["a\tb"]), RequestError, "tag"),
    Py("rate: tag not text", lambda lab, run, other, tmp: lab.rate(run, 3, tags=[5]), LogError, "tags"),
    Py("rate: empty tag", lambda lab, run, other, tmp: lab.rate(run, 3, tags=[" "]), LogError, "tags"),
    Py("rate: score True", lambda lab, run, other, tmp: lab.rate(run, True), LogError, "score"),
    Py("rate: score 2.5", lambda lab, run, other, tmp: lab.rate(run, 2.5), LogError, "score"),
    Py("rate: score 2**70", lambda lab, run, other, tmp: lab.rate(run, BIG), LogError, "score"),
    Py("rate: no such run", lambda lab, run, other, tmp: lab.rate("0000000000ff", 3), LogError, "no run"),
    Py("rate: a run id of 10 KB", lambda lab, run, other, tmp: lab.rate("a" * 10_000, 3), RequestError, "run_id"),
    Py("rate: a run id with a lone surrogate", lambda lab, run, other, tmp: lab.rate("\udcff", 3), RequestError, "run_id"),
    # vote
    Py("vote: tie 'yes'", _tie("yes"), RequestError, "tie"),
    Py("vote: tie 1", _tie(1), RequestError, "tie"),
    Py("vote: tie None", _tie(None), RequestError, "tie"),
    Py("vote: a run against itself", lambda lab, run, other, tmp: lab.vote(run, run), LogError, "two different"),
    # annotate
    Py("annotate: text None", lambda lab, run, other, tmp: lab.annotate(run, None), RequestError, "text"),
    Py("annotate: text over the limit", lambda lab, run, other, tmp: lab.annotate(run, "x" * 10_001), RequestError, "text"),
    Py("annotate: text with a lone surrogate", lambda lab, run, other, tmp: lab.annotate(run, "\udc80"), RequestError, "text"),
    Py("annotate: text with NUL", lambda lab, run, other, tmp: lab.annotate(run, "\x00"), RequestError, "text"),
    Py("annotate: frame True", lambda lab, run, other, tmp: lab.annotate(run, "edge", frame=True), LogError, "frame"),
    Py("annotate: frame 2**70", lambda lab, run, other, tmp: lab.annotate(run, "edge", frame=BIG), LogError, "frame"),
    Py("annotate: region with a boolean", lambda lab, run, other, tmp: lab.annotate(run, "edge", region={"x": True, "y": 0, "w": .1, "h": .1}),
       LogError, "region.x"),
    Py("annotate: region with nan", lambda lab, run, other, tmp: lab.annotate(run, "edge", region={"x": float("nan"), "y": 0, "w": .1, "h": .1}),
       LogError, "region.x"),
    # opening as someone
    Py("open: author of 100 KB", lambda lab, run, other, tmp: explorer.open(lab.log.path, author="a" * 100_000), RequestError, "author"),
    Py("open: author with a line break", lambda lab, run, other, tmp: explorer.open(lab.log.path, author="ada\nroot"), RequestError, "author"),
    Py("open: author with a lone surrogate", lambda lab, run, other, tmp: explorer.open(lab.log.path, author="\udcff"), RequestError, "author"),
    # generate, fork, variations, sweep
    Py("generate: prompt with a lone surrogate", lambda lab, run, other, tmp: lab.generate("kite \udcff", progress=False), RequestError, "prompt"),
    Py("generate: prompt over the limit", lambda lab, run, other, tmp: lab.generate("k" * 4001, progress=False), RequestError, "prompt"),
    Py("generate: negative prompt with NUL", lambda lab, run, other, tmp: lab.generate("kite", negative_prompt="\x00", progress=False),
       RequestError, "negative_prompt"),
    Py("generate: backend over the limit", lambda lab, run, other, tmp: lab.generate("kite", backend="b" * 101, progress=False), RequestError, "backend"),
    Py("generate: model over the limit", lambda lab, run, other, tmp: lab.generate("kite", model="m" * 1001, progress=False), RequestError, "model"),
    Py("generate: extra nested 17 deep", lambda lab, run, other, tmp: lab.generate("kite", extra={"x": deep(16)}, progress=False), RequestError, "extra"),
    Py("generate: extra nested 100000 deep", lambda lab, run, other, tmp: lab.generate("kite", extra={"x": deep(100_000)}, progress=False),
       RequestError, "extra"),
    Py("generate: extra of 70 KB", lambda lab, run, other, tmp: lab.generate("kite", extra={"x": "v" * 70_000}, progress=False), RequestError, "extra"),
    Py("generate: extra text with a lone surrogate", lambda lab, run, other, tmp: lab.generate("kite", extra={"x": ["\udcff"]}, progress=False),
       RequestError, "extra"),
    Py("generate: parent that is no run", lambda lab, run, other, tmp: lab.generate("kite", parent="0000000000ff", progress=False),
       RequestError, "parent: no run"),
    Py("generate: parent that is SQL", lambda lab, run, other, tmp: lab.generate("kite", parent="'; DROP TABLE runs; --", progress=False),
       RequestError, "parent"),
    Py("fork: parent=", lambda lab, run, other, tmp: lab.fork(run, parent=other, progress=False), RequestError, "parent"),
    Py("variations: parent=", lambda lab, run, other, tmp: lab.variations(run, n=1, parent=other, progress=False), RequestError, "parent"),
    Py("sweep: name over the limit", lambda lab, run, other, tmp: lab.sweep("kite", {"seed": [1]}, name="n" * 201, progress=False),
       RequestError, "name"),
    # reading
    Py("runs: status bogus", lambda lab, run, other, tmp: lab.runs(status="bogus"), RequestError, "status"),
    Py("runs: min_rating nan", lambda lab, run, other, tmp: lab.runs(min_rating=float("nan")), RequestError, "min_rating"),
    Py("runs: min_rating 99", lambda lab, run, other, tmp: lab.runs(min_rating=99), RequestError, "min_rating"),
    Py("runs: min_rating '3'", lambda lab, run, other, tmp: lab.runs(min_rating="3"), RequestError, "min_rating"),
    Py("runs: limit -1", lambda lab, run, other, tmp: lab.runs(limit=-1), RequestError, "limit"),
    Py("runs: limit 2**70", lambda lab, run, other, tmp: lab.runs(limit=BIG), RequestError, "limit"),
    Py("runs: limit True", lambda lab, run, other, tmp: lab.runs(limit=True), RequestError, "limit"),
    Py("runs: offset -1", lambda lab, run, other, tmp: lab.runs(offset=-1), RequestError, "offset"),
    Py("runs: text with a lone surrogate", lambda lab, run, other, tmp: lab.runs(text="\udcff"), RequestError, "text"),
    Py("runs: tag over the limit", lambda lab, run, other, tmp: lab.runs(tag="t" * 101), RequestError, "tag"),
    Py("runs: sort sideways", lambda lab, run, other, tmp: lab.runs(sort="sideways"), LogError, "sort"),
    Py("tags: limit -1", lambda lab, run, other, tmp: lab.tags(limit=-1), RequestError, "limit"),
    # export
    Py("export: into /", lambda lab, run, other, tmp: export(lab, "/"), ExportError, "--out"),
    Py("export: under /proc", lambda lab, run, other, tmp: export(lab, "/proc/clip-explorer-export", force=True), ExportError, "--out"),
    Py("export: limit -1", lambda lab, run, other, tmp: export(lab, tmp / "export", limit=-1), RequestError, "limit"),
    # opening what cannot be a log (a full disk and read-only mounts: tests/test_log.py, which mounts them)
    Py("open: a named pipe", lambda lab, run, other, tmp: (os.mkfifo(tmp / "pipe.duckdb"), explorer.open(tmp / "pipe.duckdb")), LogError, "is a named pipe, not a regular file"),
    Py("open: a SQLite file", lambda lab, run, other, tmp: ((tmp / "app.db").write_bytes(b"SQLite format 3\0" + bytes(84)), explorer.open(tmp / "app.db")), LogError, "app.db is a SQLite database, not a Clip Explorer log"),
    Py("open: an empty file", lambda lab, run, other, tmp: ((tmp / "empty.duckdb").touch(), explorer.open(tmp / "empty.duckdb")), LogError, "empty.duckdb is an empty file"),
    Py("open: a character device", lambda lab, run, other, tmp: explorer.open("/dev/zero"), LogError, "/dev/zero is a character device"),
    Py("open: a new log under /proc", lambda lab, run, other, tmp: explorer.open("/proc/clip-explorer.duckdb"), LogError, "/proc is a kernel file system"),
    Py("open: a missing log, create=False", lambda lab, run, other, tmp: explorer.open(tmp / "typo.duckdb", create=False), LogError, "no Clip Explorer log at"),
    # valid
    Py("valid: rate at the limits", lambda lab, run, other, tmp: lab.rate(run, 5, tags=[f"{i:03d}" + "t" * 97 for i in range(50)], note="n" * 10_000),
       None, None, rows(ratings=1)),
    Py("valid: a note with line breaks and tabs", lambda lab, run, other, tmp: lab.rate(run, 4, note="line one\n\tline two\r\n"), None, None, rows(ratings=1)),
    Py("valid: annotate with a region", lambda lab, run, other, tmp: lab.annotate(run, "edge", frame=2, region={"x": 0, "y": 0, "w": 1, "h": 1}),
       None, None, rows(annotations=1)),
    Py("valid: vote, tie=True", _tie(True), None, None, rows(votes=1)),
    Py("valid: generate with a parent prefix and extra 16 deep",
       lambda lab, run, other, tmp: lab.generate("python child", parent=run[:6], extra={"pace": 0}, frames=4, width=32, height=32, steps=1, progress=False),
       None, None, rows(runs=1, media=1)),
]

REST_CASES = [
    # ratings
    Rest("rating: a tag of 10 MB", "POST", "ratings", {"run_id": "{run}", "score": 3, "tags": ["t" * 10_000_000]}, 413, "body"),
    Rest("rating: a body of 300 KB", "POST", "ratings", {"run_id": "{run}", "score": 3, "note": "n" * 300_000}, 413, "body"),
    Rest("rating: note over the limit", "POST", "ratings", {"run_id": "{run}", "score": 3, "note": "n" * 10_001}, 400, "note"),
    Rest("rating: note with a lone surrogate", "POST", "ratings", {"run_id": "{run}", "score": 3, "note": "\udc80"}, 400, "note"),
    Rest("rating: tag with a lone surrogate", "POST", "ratings", {"run_id": "{run}", "score": 3, "tags": ["\udc80"]}, 400, "tags"),
    Rest("rating: tag with NUL", "POST", "ratings", {"run_id": "{run}", "score": 3, "tags": ["a\u0000"]}, 400, "tags"),
    Rest("rating: tag over the limit", "POST", "ratings", {"run_id": "{run}", "score": 3, "tags": ["t" * 101]}, 400, "tags.0"),
    Rest("rating: 51 tags", "POST", "ratings", {"run_id": "{run}", "score": 3, "tags": [f"t{i}" for i in range(51)]}, 400, "tags"),
    Rest("rating: tags as text", "POST", "ratings", {"run_id": "{run}", "score": 3, "tags": "warm"}, 400, "tags"),
    Rest("rating: note as a number", "POST", "ratings", {"run_id": "{run}", "score": 3, "note": 5}, 400, "note"),
    Rest("rating: score as text", "POST", "ratings", {"run_id": "{run}", "score": "5"}, 400, "score"),
    Rest("rating: score true", "POST", "ratings", {"run_id": "{run}", "score": True}, 400, "score"),
    Rest("rating: score 4.5", "POST", "ratings", {"run_id": "{run}", "score": 4.5}, 400, "score"),
    Rest("rating: score 6", "POST", "ratings", {"run_id": "{run}", "score": 6}, 400, "score"),
    Rest("rating: score 2**70", "POST", "ratings", {"run_id": "{run}", "score": BIG}, 400, "score"),
    Rest("rating: no run id", "POST", "ratings", {"score": 3}, 400, "run_id"),
    Rest("rating: empty run id", "POST", "ratings", {"run_id": "", "score": 3}, 400, "run_id"),
    Rest("rating: run id of 33 characters", "POST", "ratings", {"run_id": "a" * 33, "score": 3}, 400, "run_id"),
    Rest("rating: run id with a lone surrogate", "POST", "ratings", {"run_id": "\udcff", "score": 3}, 400, "run_id"),
    Rest("rating: no such run", "POST", "ratings", {"run_id": "0000000000ff", "score": 3}, 404, "no run"),
    # any body
    Rest("body: not JSON", "POST", "ratings", "{run_id: ", 400, "body"),
    Rest("body: bytes that are not UTF-8", "POST", "ratings", b'{"run_id": "\xff", "score": 3}', 400, "body"),
    Rest("body: a list", "POST", "ratings", [1, 2], 400, "body"),
    Rest("body: nested 100000 deep", "POST", "ratings", deep_json(100_000), 400, "body"),
    Rest("body: nested 900 deep", "POST", "votes", deep_json(900), 400, "body"),
    Rest("body: an ignored field nested 20 deep", "POST", "ratings", {"run_id": "{run}", "score": 3, "x": deep(20)}, 400, "body"),
    Rest("body: region nested 5000 deep", "POST", "annotations", '{"run_id": "{run}", "text": "a", "region": ' + deep_json(5000) + "}", 400, "body"),
    # votes
    Rest("vote: tie 'yes'", "POST", "votes", {"winner_id": "{run}", "loser_id": "{other}", "tie": "yes"}, 400, "tie"),
    Rest("vote: tie 1", "POST", "votes", {"winner_id": "{run}", "loser_id": "{other}", "tie": 1}, 400, "tie"),
    Rest("vote: tie null", "POST", "votes", {"winner_id": "{run}", "loser_id": "{other}", "tie": None}, 400, "tie"),
    Rest("vote: a run against itself", "POST", "votes", {"winner_id": "{run}", "loser_id": "{run}"}, 400, "two different"),
    Rest("vote: no winner", "POST", "votes", {"loser_id": "{run}"}, 400, "winner_id"),
    Rest("vote: winner with a lone surrogate", "POST", "votes", {"winner_id": "\ud800", "loser_id": "{run}"}, 400, "winner_id"),
    # annotations
    Rest("annotation: empty text", "POST", "annotations", {"run_id": "{run}", "text": ""}, 400, "text"),
    Rest("annotation: blank text", "POST", "annotations", {"run_id": "{run}", "text": "   "}, 400, "text"),
    Rest("annotation: text over the limit", "POST", "annotations", {"run_id": "{run}", "text": "x" * 10_001}, 400, "text"),
    Rest("annotation: text with a lone surrogate", "POST", "annotations", {"run_id": "{run}", "text": "\udc80"}, 400, "text"),
    Rest("annotation: text with an escape", "POST", "annotations", {"run_id": "{run}", "text": "\u001b[2J"}, 400, "text"),
    Rest("annotation: frame -1", "POST", "annotations", {"run_id": "{run}", "text": "a", "frame": -1}, 400, "frame"),
    Rest("annotation: frame 1000", "POST", "annotations", {"run_id": "{run}", "text": "a", "frame": 1000}, 400, "frame"),
    Rest("annotation: frame as text", "POST", "annotations", {"run_id": "{run}", "text": "a", "frame": "3"}, 400, "frame"),
    Rest("annotation: frame past the clip", "POST", "annotations", {"run_id": "{run}", "text": "a", "frame": 50}, 400, "frame"),
    Rest("annotation: region outside the frame", "POST", "annotations", {"run_id": "{run}", "text": "a", "region": {"x": 2, "y": 0, "w": .1, "h": .1}},
         400, "region.x"),
    Rest("annotation: region as text", "POST", "annotations", {"run_id": "{run}", "text": "a", "region": {"x": "0.1", "y": 0, "w": .1, "h": .1}},
         400, "region.x"),
    # reading
    Rest("runs: limit -1", "GET", "runs?limit=-1", None, 400, "limit"),
    Rest("runs: limit 501", "GET", "runs?limit=501", None, 400, "limit"),
    Rest("runs: limit 2**70", "GET", f"runs?limit={BIG}", None, 400, "limit"),
    Rest("runs: offset -1", "GET", "runs?offset=-1", None, 400, "offset"),
    Rest("runs: min_rating nan", "GET", "runs?min_rating=nan", None, 400, "min_rating"),
    Rest("runs: min_rating 99", "GET", "runs?min_rating=99", None, 400, "min_rating"),
    Rest("runs: status bogus", "GET", "runs?status=bogus", None, 400, "status"),
    Rest("runs: sort sideways", "GET", "runs?sort=sideways", None, 400, "sort"),
    Rest("runs: text longer than any prompt", "GET", "runs?text=" + "x" * 4001, None, 400, "text"),
    Rest("runs: text not UTF-8", "GET", "runs?text=%ff", None, 400, "text"),
    Rest("runs: tag over the limit", "GET", "runs?tag=" + "t" * 101, None, 400, "tag"),
    Rest("runs: author over the limit", "GET", "runs?author=" + "a" * 201, None, 400, "author"),
    Rest("run: an id of 33 characters", "GET", "runs/" + "a" * 33, None, 400, "run_id"),
    Rest("run: no such run", "GET", "runs/0000000000ff", None, 404, "no run"),
    Rest("leaderboard: by of 101 characters", "GET", "leaderboard?by=" + "b" * 101, None, 400, "by"),
    Rest("leaderboard: by not a grouping", "GET", "leaderboard?by=colour", None, 400, "colour"),
    Rest("queue: after of 100 characters", "GET", "queue/next?after=" + "a" * 100, None, 400, "after"),
    Rest("queue: mode bogus", "GET", "queue/next?mode=bogus", None, 400, "mode"),
    # valid
    Rest("valid: a rating at the limits", "POST", "ratings",
         {"run_id": "{run}", "score": 4, "tags": [f"{i:03d}" + "t" * 97 for i in range(50)], "note": "n" * 10_000}, 201, None, rows(ratings=1)),
    Rest("valid: a vote", "POST", "votes", {"winner_id": "{run}", "loser_id": "{other}", "tie": False}, 201, None, rows(votes=1)),
    Rest("valid: an annotation at the limit", "POST", "annotations", {"run_id": "{run}", "text": "x" * 10_000, "frame": 3}, 201, None, rows(annotations=1)),
    Rest("valid: runs at the page limit", "GET", "runs?limit=500&text=" + "x" * 4000, None, 200, None),
]


# -- the log the cases run against ---------------------------------------------------------


def counts(log: Log) -> dict[str, int]:
    frame = log.query("SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES))
    return {t: int(frame[t][0]) for t in TABLES}


def expect(before: dict[str, int], delta: dict[str, int]) -> dict[str, int]:
    return {t: before[t] + delta.get(t, 0) for t in TABLES}


def _seed(path: Path) -> tuple[str, str]:
    """Two small runs (6 frames) in a new log, the first rated with a long note."""
    lab = explorer.open(path, author="setup")
    first, second = (lab.generate(p, seed=i, frames=6, width=32, height=32, steps=1, progress=False) for i, p in enumerate(["kite", "rain"]))
    lab.rate(first, 3, tags=["warm"], note="long " * 2000)
    lab.log.close()
    return first.id, second.id


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A log with two runs, used by every CLI and Python case; logs let go at once (no 0.5 s linger between cases)."""
    folder = tmp_path_factory.mktemp("hostile")
    run, other = _seed(folder / "hostile.duckdb")
    full = folder / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine, not an export's")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("explorer.lab.Log", functools.partial(Log, linger=0))
        patch.setenv("EXPLORER_DB", str(folder / "hostile.duckdb"))
        patch.setenv("EXPLORER_AUTHOR", "tester")
        patch.setenv("COLUMNS", "120")
        log = Log(folder / "hostile.duckdb", linger=0)
        yield {"log": log, "run": run, "other": other, "folder": folder, "full": full}
        log.close()


def _fill(arg: Any, world: dict, out: Path) -> Any:
    if isinstance(arg, bytes):
        return arg
    return arg.format(run=world["run"], run6=world["run"][:6], other=world["other"], out=out, full=world["full"]) if "{" in arg else arg


def _check_cli(case: Cli, code: int, stderr: str) -> None:
    if case.code == 0:
        assert code == 0, f"exit {code}: {stderr}"
        return
    lines = stderr.strip().splitlines()
    assert code == case.code, f"exit {code} (wanted {case.code}): {stderr[-2000:]}"
    assert "Traceback" not in stderr
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {stderr[:2000]}"
    assert case.word in lines[0], f"{case.word!r} not in {lines[0][:500]!r}"
    assert len(lines[0]) < 1000, "the message repeats what it was given"


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.what for c in CLI_CASES])
def test_cli(case: Cli, world, tmp_path):
    from typer.testing import CliRunner

    from explorer.cli import app

    args = [os.fsdecode(a) if isinstance(a, bytes) else a for a in (_fill(a, world, tmp_path) for a in case.args)]
    before = counts(world["log"])
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    _check_cli(case, result.exit_code, result.stderr)
    assert counts(world["log"]) == expect(before, case.rows)


@pytest.mark.parametrize("case", [c for c in CLI_CASES if c.what in REAL_PROCESSES], ids=sorted(REAL_PROCESSES, key=[c.what for c in CLI_CASES].index))
def test_cli_as_a_real_process(case: Cli, world, tmp_path):
    args = [_fill(a, world, tmp_path) for a in case.args]
    env = {**os.environ, "EXPLORER_DB": str(world["log"].path), "EXPLORER_AUTHOR": "tester", "PYTHONIOENCODING": ""}
    before = counts(world["log"])
    world["log"].connection.release()
    done = subprocess.run([sys.executable, "-m", "explorer.cli", *args], capture_output=True, env=env, timeout=60)
    _check_cli(case, done.returncode, done.stderr.decode("utf-8", "replace"))
    assert counts(world["log"]) == expect(before, case.rows)


def test_every_real_process_case_is_in_the_table():
    assert REAL_PROCESSES <= {c.what for c in CLI_CASES}


@pytest.mark.parametrize("case", PY_CASES, ids=[c.what for c in PY_CASES])
def test_python(case: Py, world, tmp_path):
    lab = Lab.on(world["log"], "tester")
    before = counts(world["log"])
    if case.raises is None:
        case.call(lab, world["run"], world["other"], tmp_path)
    else:
        with pytest.raises(case.raises) as caught:
            case.call(lab, world["run"], world["other"], tmp_path)
        assert case.word in str(caught.value), str(caught.value)[:500]
        assert len(str(caught.value)) < 1000, "the message repeats what it was given"
    assert counts(world["log"]) == expect(before, case.rows)


# -- REST: one server for the whole table (a server per case would cost a second each) ----------------------------

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config():
    # The log named outright: the CLI cases' EXPLORER_DB may still be set.
    return {"ServerApp": {"jpserver_extensions": {"explorer": True}}, "ClipExplorer": {"db": "explorer.duckdb", "author": "reviewer"}}


async def test_rest(http_server_client, jp_base_url, jp_auth_header, jp_root_dir):
    run, other = _seed(jp_root_dir / "explorer.duckdb")
    log = Log(jp_root_dir / "explorer.duckdb", linger=0)
    before = counts(log)
    log.connection.release()
    failures, wanted = [], {}
    for case in REST_CASES:
        body = case.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.replace("{run}", run).replace("{other}", other)
        # The query goes as written (jp_fetch would encode "%ff" again).
        url = f"{jp_base_url}explorer/api/{case.path.replace('{run}', run)}"
        response = await http_server_client.fetch(url, method=case.method, body=body, headers=jp_auth_header, raise_error=False,
                                                  request_timeout=60)
        text = response.body.decode("utf-8", "replace")
        try:
            message = json.loads(text).get("error", "") if case.word else ""
        except (ValueError, AttributeError):
            message = text
        if response.code != case.status or (case.word and case.word not in message):
            failures.append(f"{case.what}: {response.code} {message[:300]!r} (wanted {case.status} naming {case.word!r})")
        for table, n in case.rows.items():
            wanted[table] = wanted.get(table, 0) + n
    assert not failures, "\n".join(failures)
    assert counts(log) == expect(before, wanted)
    log.close()


def test_there_are_at_least_100_cases():
    assert len(CLI_CASES) + len(PY_CASES) + len(REST_CASES) >= 100
