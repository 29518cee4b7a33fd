"""The demo behind `explorer demo`: a few sketch clips, a fork, variations and ratings in a fresh log."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

PROMPTS = [
    ("sunset birds flying over the sea", 1),
    ("neon city in the rain", 2),
    ("spiral galaxy of stars", 3),
    ("forest mountains, slow zoom", 4),
    ("candy bubbles bounce", 5),
]


def run_demo(db: Path, *, fresh: bool = True, console: Console | None = None) -> Path:
    """Generate the demo clips into ``db`` and print where to look; returns the log's path."""
    import explorer
    from explorer.log import media_folder_for

    console = console or Console()
    db = Path(db)
    if fresh:
        _remove_log(db)
    lab = explorer.open(db, author="demo")
    console.print(f"[bold]Clip Explorer demo[/bold]: sketch backend (procedural, CPU, no model) into {db}")
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
    lab.vote(made[0], made[4])
    lab.annotate(made[1], "the rain streaks read well here", frame=12)

    runs = lab.runs()
    console.print()
    console.print(f"[bold]{len(runs)} runs logged[/bold] in {db.resolve()}", soft_wrap=True)
    console.print(f"clips (MP4, H.264; open one in a browser): {media_folder_for(db.resolve())}/", soft_wrap=True)
    console.print(f"  e.g. {made[0].media}", soft_wrap=True)
    console.print("next (after `source .venv/bin/activate`):")
    for line in (f"explorer runs --db {db}", f"explorer show {made[0].id} --db {db}", f"explorer fork {made[0].id} --set seed=9 --db {db}"):
        console.print(f"  {line}", soft_wrap=True, highlight=False)
    return db


def _remove_log(db: Path) -> None:
    from explorer.log import media_folder_for
    import shutil

    for suffix in ("", ".wal", ".lock", ".wait"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(media_folder_for(db.resolve()), ignore_errors=True)
