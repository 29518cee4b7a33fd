"""Every CLI command on a log whose prompts, notes, tags and authors sit at the limits, against the same log with short text.

Builds two logs with the same shape (runs in a fork chain, each rated by several
reviewers with 50 tags, annotated, voted on): one with short text, one with
every text at its limit (`explorer/limits.py`). Then times each command as a
real subprocess (`python -m explorer.cli …`, what a user waits for), the two
logs interleaved, and prints the median of each with the ratio. `explorer
backends` opens no log; the floors under every command are timed apart:
starting Python (`python -c pass`) and importing what a command on a log
needs before it does anything (`import explorer.cli, explorer.lab`: Typer,
Rich, pandas, DuckDB, PyAV, pydantic).

    python bench/cli_at_limits.py [--runs 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, median  # noqa: E402

import explorer  # noqa: E402
from explorer.limits import TAGS, TEXT  # noqa: E402

REVIEWERS = 4


def text(field: str, at_limits: bool, i: int = 0) -> str:
    """A text for ``field``: at its limit, or short; distinct per ``i``."""
    head = f"{field} {i} "
    return (head + "x" * TEXT[field])[: TEXT[field]] if at_limits else head.strip()


def build(path: Path, runs: int, at_limits: bool) -> list[str]:
    ids = []
    for r in range(REVIEWERS):
        lab = explorer.open(path, author=text("author", at_limits, r))
        if r == 0:
            for i in range(runs):
                made = lab.generate(text("prompt", at_limits, i), negative_prompt=text("negative_prompt", at_limits, i), seed=i,
                                    parent=ids[-1] if ids else None, frames=4, width=32, height=32, steps=1, progress=False)
                ids.append(made.id)
        tags = [text("tag", at_limits, t) for t in range(TAGS if at_limits else 3)]
        for i, run in enumerate(ids):
            lab.rate(run, 1 + (i + r) % 5, tags=tags, note=text("note", at_limits, i))
            lab.annotate(run, text("text", at_limits, i), frame=i % 4)
            if i:  # reviewers disagree on every other pair: a pure chain of wins has no Bradley–Terry fit (see bench/README.md)
                lab.vote(*((run, ids[i - 1]) if (i + r) % 2 else (ids[i - 1], run)))
        lab.log.close()
    return ids


def commands(db: Path, ids: list[str], at_limits: bool, out: Path) -> dict[str, list[str]]:
    middle = ids[len(ids) // 2]
    author = ["--author", text("author", at_limits, 9)]
    tags = [x for t in range(TAGS if at_limits else 3) for x in ("--tag", text("tag", at_limits, t))]
    return {
        "backends (opens no log)": ["backends"],
        "runs": ["runs", "--db", str(db)],
        "runs --json": ["runs", "--db", str(db), "--json"],
        "runs --text … --min-rating 1": ["runs", "--db", str(db), "--text", text("prompt", at_limits, 1)[:TEXT["prompt"]], "--min-rating", "1"],
        "show": ["show", middle, "--db", str(db)],
        "show --json": ["show", middle, "--db", str(db), "--json"],
        "rate (note, tags, author)": ["rate", middle, "4", "--note", text("note", at_limits, 99), *tags, *author, "--db", str(db)],
        "vote": ["vote", ids[0], ids[-1], *author, "--db", str(db)],
        "annotate": ["annotate", middle, text("text", at_limits, 99), "--frame", "1", *author, "--db", str(db)],
        "lineage": ["lineage", middle, "--db", str(db)],
        "export": ["export", "--out", str(out), "--db", str(db)],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[tuple[str, ...], list[float]] = {}  # CPU seconds (user + system) of each command's process: what other jobs on the machine inflate least


def timed(args: list[str]) -> float:
    env = {**os.environ, "COLUMNS": "120"}
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "explorer.cli", *args], capture_output=True, env=env, timeout=300)
    elapsed = time.perf_counter() - started
    CPU.setdefault(tuple(args), []).append(_children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"explorer {' '.join(a[:40] for a in args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


def timed_code(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


FLOORS = {"starting Python (python -c pass)": "pass", "+ imports of a command on a log": "import explorer.cli, explorer.lab"}


def in_process(args: list[str]) -> float:
    """The command's own work: the same call through Typer's runner, in this (already warm) interpreter."""
    from typer.testing import CliRunner

    from explorer.cli import app

    started = time.perf_counter()
    result = CliRunner().invoke(app, args)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"explorer {' '.join(a[:40] for a in args)} exited {result.exit_code}: {result.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs in each log (a fork chain)")
    parser.add_argument("--repeat", type=int, default=3, help="times each command runs on each log (median shown)")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cli-at-limits-"))
    print(machine())
    logs = {}
    for at_limits in (False, True):
        db = folder / ("limits.duckdb" if at_limits else "short.duckdb")
        started = time.perf_counter()
        ids = build(db, options.runs, at_limits)
        logs[at_limits] = commands(db, ids, at_limits, folder / f"export-{at_limits}")
        print(f"built {db.name}: {options.runs} runs × {REVIEWERS} ratings, notes, votes in {time.perf_counter() - started:.1f} s, "
              f"{db.stat().st_size / 1e6:.1f} MB")
    times: dict[tuple[str, bool], list[float]] = {}
    work: dict[tuple[str, bool], list[float]] = {}
    floors: dict[str, list[float]] = {}
    load_before = os.getloadavg()[0]  # other jobs on the machine move every figure: say how busy it was
    for _ in range(options.repeat):
        for name, code in FLOORS.items():
            floors.setdefault(name, []).append(timed_code(code))
        for name in logs[False]:
            for at_limits in (False, True):  # interleaved: the machine's mood hits both alike
                times.setdefault((name, at_limits), []).append(timed(logs[at_limits][name]))
                work.setdefault((name, at_limits), []).append(in_process(logs[at_limits][name]))
    floor = median(floors["+ imports of a command on a log"])
    print(f"load average (1 min): {load_before:.2f} before the commands, {os.getloadavg()[0]:.2f} after")
    print(f"\n{'':32} {'as a process (what a user waits for)':^38} | {'in-process (the work alone)':^38} | process CPU")
    print(f"{'command':32} {'short text':>11} {'at limits':>11} {'ratio':>7}    | {'short text':>11} {'at limits':>11} {'ratio':>7}    | at limits")
    for name in FLOORS:
        print(f"{name:32} {median(floors[name]):22.2f}s")
    for name in logs[False]:
        short, full = median(times[(name, False)]), median(times[(name, True)])
        w_short, w_full = median(work[(name, False)]), median(work[(name, True)])
        cpu = median(CPU[tuple(logs[True][name])])
        print(f"{name:32} {short:10.2f}s {full:10.2f}s {full / short:6.2f}×    | {w_short:10.3f}s {w_full:10.3f}s {w_full / w_short:6.2f}×    | {cpu:8.2f}s")
    worst = max(logs[True], key=lambda name: median(times[(name, True)]))
    print(f"\nslowest at the limits: {worst}, {median(times[(worst, True)]):.2f} s (target: under 2 s); "
          f"starting Python and a log command's imports take {floor:.2f} s of it")


if __name__ == "__main__":
    main()
