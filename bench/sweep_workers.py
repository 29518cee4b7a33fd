"""A sweep in the kernel against the same sweep on 1 and 2 Ray workers, side by side, and what the first cell waits for.

    python bench/sweep_workers.py [--cells 16] [--pace 0.1,0.25] [--steps 8] [--rounds 2] [--no-diffusers] [--home file|team]

The sweep: ``--cells`` sketch cells (a seed axis), each ``--steps`` steps of ``--pace`` seconds (``extra.pace``:
a slow model rehearsed, so a cell is mostly waiting, as a GPU-bound one is for the CPU), into a file log (or, with
``--home team``, a team log on a throwaway PostgreSQL). Each pace
given is compared in turn (0.8 s and 2 s cells by default: what each cell costs beyond itself is fixed, so its share
depends on the cell's length).

1. *In the kernel*: the cells one after another in this process, as ``lab.sweep(…)`` makes them (measured once
   before Ray starts, and then in every round with Ray idle beside it, the same conditions as the workers).
2. Ray starts (``ray.init``: a local cluster of 2 CPUs) — twice: as installed, then with Ray's processes not
   importing ``rfc3987_syntax`` (see tests/test_sweep_workers.py, ``ray_process_env``), the cluster kept for the rest;
   two workers start (``Workers.start``: actor processes; each opens a team log, or checks a file log is there: the
   kernel writes a file log's rows); one cell — the first cell's latency.
3. *On 1 worker* and *on 2 workers*: the same sweep with the workers already up (``max_workers=1`` uses one of them).
   Rounds alternate (kernel, 1, 2, kernel, 1, 2…) and each figure is the median of the rounds: this machine is shared.

Figures: seconds per sweep; a cell's own time (its run's ``duration_s``: generate and encode) and the rest, per cell
and worker (handing the cell out and its answer back, the log writes: by the kernel on a file log); speed-up at 2
workers over the kernel (target >= 1.8x); overhead per cell on 1 worker over the kernel, ``(T1 - Tkernel) / cells``
(target <= 100 ms); and the first cell on a fresh diffusers worker (torch import, the tiny pipeline's load from its
folder, the cell), unless ``--no-diffusers``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tiny diffusers pipeline

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import load, machine  # noqa: E402
import explorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--pace", default="0.1,0.25", help="seconds per step; several (comma-separated) are compared in turn")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-diffusers", action="store_true", help="skip the first cell on a diffusers worker")
    parser.add_argument("--home", choices=["file", "team"], default="file",
                        help="the log: a file, or a team log on a throwaway PostgreSQL (tests/postgres.py)")
    args = parser.parse_args()
    paces = [float(p) for p in args.pace.split(",")]

    print(f"# sweep_workers: {args.cells} sketch cells x {args.steps} steps, pace {args.pace} s a step, {args.home} log, {args.rounds} rounds")
    print(f"# {machine()}")
    print(f"# load before: {load()}")
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    postgres = None
    if args.home == "team":
        from postgres import PostgresServer

        postgres = PostgresServer().start()
        (folder / "shared").mkdir()
        lab = explorer.open(postgres.new_database(empty=True), storage=folder / "shared", author="bench")
    else:
        lab = explorer.open(folder / "bench.duckdb", author="bench")
    try:
        _bench(args, paces, lab, folder)
    finally:
        if postgres is not None:
            from explorer.workers import shutdown

            shutdown()
            postgres.stop()


def _bench(args, paces: list[float], lab, folder: Path) -> None:
    seeds = iter(range(1, 10**6))

    def base(pace: float) -> dict:
        return dict(frames=8, width=64, height=48, fps=8, steps=args.steps, extra={"pace": pace})

    def plan(pace: float) -> tuple:
        return lab.plan_sweep("forest at dusk", {"seed": [next(seeds) for _ in range(args.cells)]}, **base(pace))

    def in_kernel(pace: float) -> float:
        sweep_id, cells, requests = plan(pace)
        started = time.perf_counter()
        for cell, request in zip(cells, requests):  # what lab.sweep does with workers=None
            lab.generate(request, progress=False, _sweep=(sweep_id, cell))
        return time.perf_counter() - started

    print(f"kernel, before Ray (pace {paces[0]}): {in_kernel(paces[0]):.2f} s")

    # -- first cell: Ray start, worker start, then a cell -----------------------------------------------------------
    import ray

    from explorer.workers import connect

    ray_start = _ray_start(plain=True)  # as installed: what a user's first sweep pays
    ray.shutdown()
    ray_start_stub = _ray_start(plain=False, folder=folder)  # this cluster stays for the rest
    two = connect(lab, "ray", max_workers=2)
    started = time.perf_counter()
    infos = two.start()
    workers_up = time.perf_counter() - started
    first = two.run(*lab.plan_sweep("forest at dusk", {"seed": [0]}, **base(paces[0])), progress=False)
    first_cell = first.timings["first_cell_s"]
    one = connect(lab, "ray", max_workers=1)

    for pace in paces:
        _compare(args, pace, lambda: in_kernel(pace), lambda: plan(pace), {"1 worker": one, "2 workers": two}, lab)

    print()
    print("first cell (sketch), from nothing:")
    plain = f"{ray_start:.2f} s" if ray_start is not None else "failed (the raylet gave up on its agent: see bench/README.md)"
    print(f"  Ray start (ray.init, local, 2 CPUs): {plain} as installed; {ray_start_stub:.2f} s with Ray's processes not "
          "importing rfc3987_syntax (tests/test_sweep_workers.py: ray_process_env)")
    each = ", ".join(f"{i['up_s']:.2f} s" for i in infos)
    opens = ", ".join(f"{i['open_s']:.2f} s" for i in infos)
    print(f"  2 workers up (actor processes; each opens a team log, or checks a file log is there): {workers_up:.2f} s "
          f"(each: {each}; imports and log {opens})")
    print(f"  first cell on an up worker: {first_cell:.2f} s (a cell is ~{args.steps * paces[0]:.1f} s of pace)")
    print(f"  total to the first cell: {(ray_start or float('nan')) + workers_up + first_cell:.2f} s as installed, "
          f"{ray_start_stub + workers_up + first_cell:.2f} s without rfc3987_syntax")
    if not args.no_diffusers:
        _diffusers_first_cell(lab, folder)
    print()
    print(f"# load after: {load()}")
    ray.shutdown()


def _compare(args, pace: float, in_kernel, plan, workers: dict, lab) -> None:
    """Kernel, 1 worker, 2 workers, in alternating rounds, at one pace; the medians side by side."""
    times: dict[str, list[float]] = {"kernel": [], **{label: [] for label in workers}}
    own: dict[str, list[float]] = {label: [] for label in times}
    for _ in range(args.rounds):
        times["kernel"].append(in_kernel())
        own["kernel"].append(statistics.median(_cell_seconds(lab, _last_sweep(lab))))
        for label, pool in workers.items():
            sweep = plan()
            started = time.perf_counter()
            report = pool.run(*sweep, progress=False)
            times[label].append(time.perf_counter() - started)
            assert report.ok, report.counts
            own[label].append(statistics.median(_cell_seconds(lab, sweep[0])))
    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    print(f"pace {pace} s a step ({args.steps * pace:.1f} s of pace a cell):")
    print()
    print("| where | sweep (median) | rounds | speed-up vs kernel | a cell's own time (median) | the rest, per cell |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, runs in times.items():
        share = 1 if label == "kernel" else int(label.split()[0])
        rest = med[label] * share / args.cells - statistics.median(own[label])  # each worker's time per cell beyond the cell itself
        print(f"| {label} | {med[label]:.2f} s | {', '.join(f'{t:.2f}' for t in runs)} | {med['kernel'] / med[label]:.2f}x "
              f"| {statistics.median(own[label]) * 1000:.0f} ms | {rest * 1000:.0f} ms |")
    print()
    print(f"speed-up at 2 workers: {med['kernel'] / med['2 workers']:.2f}x over the kernel (target >= 1.8x), "
          f"{med['1 worker'] / med['2 workers']:.2f}x over 1 worker")
    print(f"overhead per cell on 1 worker over the kernel: {(med['1 worker'] - med['kernel']) / args.cells * 1000:+.0f} ms (target <= 100 ms)")


def _last_sweep(lab) -> str:
    return str(lab.sql("SELECT id FROM sweeps ORDER BY created_at DESC LIMIT 1").id[0])


def _ray_start(*, plain: bool, folder: Path | None = None) -> float | None:
    """Seconds for ``ray.init`` to start a local cluster; None if Ray gave up (its raylet waits 15 s for its agent)."""
    import ray

    saved = os.environ.copy()
    if not plain:
        from test_sweep_workers import ray_process_env

        stub = folder / "stub"
        stub.mkdir(exist_ok=True)
        os.environ.update(ray_process_env(stub))
    started = time.perf_counter()
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    except Exception as exc:  # noqa: BLE001 - "The current node timed out during startup" is a bare Exception
        if not plain:
            raise
        print(f"# Ray did not start as installed: {str(exc)[:120]}")
        ray.shutdown()
        return None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return time.perf_counter() - started


def _cell_seconds(lab, sweep_id: str) -> list[float]:
    """Each cell's own duration as logged (from its run's start to its clip written), for one sweep."""
    return list(lab.sql("SELECT duration_s FROM runs WHERE sweep_id = ? AND status = 'succeeded'", [sweep_id]).duration_s)


def _diffusers_first_cell(lab, folder: Path) -> None:
    """A fresh worker making 2 cells with the tiny pipeline: the first pays torch's import and the load, the second neither."""
    try:
        import tiny_pipelines
    except ImportError as exc:
        print(f"first cell (diffusers): skipped ({exc})")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = tiny_pipelines.build_text_to_video(folder / "pipe", "animatediff")
    from explorer.workers import connect, shutdown

    shutdown()  # fresh workers: nothing imported, nothing loaded
    workers = connect(lab, "ray", max_workers=1)
    started = time.perf_counter()
    info = workers.start()[0]
    up = time.perf_counter() - started
    plan = lab.plan_sweep("a kite", {"seed": [1, 2]}, backend="diffusers", model=str(pipe), frames=8, width=64, height=64, steps=2,
                          guidance=1.0, fps=8)
    report = workers.run(*plan, progress=False)
    rows = lab.sql("SELECT duration_s, backend_info FROM runs WHERE sweep_id = ? ORDER BY created_at", [plan[0]])
    import json

    loads = [json.loads(b).get("load_s") for b in rows.backend_info]
    print("first cell (tiny diffusers pipeline on a fresh worker, Ray already up):")
    print(f"  worker up: {up:.2f} s (imports and log {info['open_s']:.2f} s)")
    print(f"  first cell: {report.timings['first_cell_s']:.2f} s, of which pipeline load {loads[0]:.2f} s "
          f"(the rest: importing torch and diffusers on the worker, 2 steps, encoding)")
    print(f"  second cell, same worker: {rows.duration_s[1]:.2f} s (pipeline found loaded: load {loads[1] or 0:.2f} s)")


if __name__ == "__main__":
    main()
