"""The demo behind `explorer demo`: a few sketch clips, a fork, variations and ratings in a fresh log."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

AUTHOR = "demo"
PROMPTS = [
    ("sunset birds flying over the sea", 1),
    ("neon city in the rain", 2),
    ("spiral galaxy of stars", 3),
    ("forest mountains, slow zoom", 4),
    ("candy bubbles bounce", 5),
]


def run_demo(db: Path, *, console: Console | None = None) -> Path:
    """Generate the demo clips into ``db`` (once per log) and print where to look; returns the log's path.

    The demo writes into the log everything else uses by default (the tours, ``explorer lab`` and its
    review panel), so it never deletes anything: when the log already holds the demo's clips it says so.
    """
    import explorer
    from explorer.log import media_folder_for

    console = console or Console()
    db = Path(db).resolve()
    lab = explorer.open(db, author=AUTHOR)
    already = lab.runs(author=AUTHOR, status="succeeded", limit=None)
    if len(already):
        console.print(f"[bold]Clip Explorer demo[/bold]: the demo's {len(already)} clips are already in {db}; nothing to make.", soft_wrap=True)
        _next_steps(console, db, already.id.iloc[-1])
        return db
    console.print(f"[bold]Clip Explorer demo[/bold]: sketch backend (procedural, CPU, no model) into {db}", soft_wrap=True)
    made = []
    for prompt, seed in PROMPTS:
        run = lab.generate(prompt, seed=seed, frames=24, fps=12, width=320, height=192, progress=False).raise_for_status()
        made.append(run)
        console.print(f"  [green]✓[/green] {run.id}  {prompt!r:36} {run.duration_s * 1000:5.0f} ms")
    fork = lab.fork(made[0], prompt="sunset birds flying over the sea, neon", progress=False).raise_for_status()
    console.print(f"  [green]✓[/green] {fork.id}  fork of {made[0].id} with 'neon' added")
    for variation in lab.variations(made[1], n=2, progress=False):
        console.print(f"  [green]✓[/green] {variation.id}  variation of {made[1].id}, seed {variation.request.seed}")
    for run, score, tags in zip(made, (5, 4, 3, 4, 2), (["warm"], ["moody", "rain"], ["cosmic"], ["calm"], ["playful"])):
        lab.rate(run, score, tags=tags)
    lab.vote(made[0], fork)
    lab.annotate(made[1], "the rain streaks read well here", frame=12)

    console.print()
    console.print(f"[bold]{len(lab.runs(limit=None))} runs logged[/bold] in {db}", soft_wrap=True)
    console.print(f"clips (MP4, H.264; open one in a browser): {media_folder_for(db)}/", soft_wrap=True)
    console.print(f"  e.g. {made[0].media}", soft_wrap=True)
    _next_steps(console, db, made[0].id)
    return db


def _next_steps(console: Console, db: Path, run_id: str) -> None:
    """The commands to try next; `--db` only when the log is not the one they would find by themselves."""
    from explorer.log import default_db_path

    db_flag = "" if default_db_path().resolve() == db else f" --db {db}"
    console.print("next (after `source .venv/bin/activate`, or prefix each with .venv/bin/):")
    for line in (f"explorer runs{db_flag}", f"explorer show {run_id}{db_flag}", f"explorer fork {run_id} --set seed=9{db_flag}",
                 f"explorer lab{db_flag}        # JupyterLab: the tours and the review panel, on this log"):
        console.print(f"  {line}", soft_wrap=True, highlight=False)
