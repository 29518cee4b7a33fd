"""Sweeps on Ray workers, with real Ray: a local cluster for the module (ray.init), a head started with `ray start` for ray://.

Workers make cells for a file log (this machine: the kernel writes the rows they hand back) and for a team log
(PostgreSQL: each worker writes its own); the tiny diffusers pipeline is loaded once
per worker; Cancel stops every worker; a worker killed mid-cell has its cell run again elsewhere, and nothing stays
`running`; a failing cell fails alone. Every wait is for a state, with a generous ceiling (these machines are loaded).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

import explorer
from explorer.backends.base import RunControl
from explorer.request import RequestError
from explorer.workers import WorkersUnavailable, connect  # imports no Ray: the tests without Ray run without it installed
from explorer.workers.cluster import Cluster, Node, Target, check_workers

CEILING = 240  # seconds: a state these tests wait for arrives in seconds; the ceiling only stops a hung test
SMALL = dict(frames=4, width=32, height=32, steps=2, fps=4)


def ray_process_env(folder) -> dict[str, str]:
    """The environment Ray's own processes start with in these tests: this one, less the import of ``rfc3987_syntax``.

    Every Ray process imports jsonschema, whose format checkers import ``rfc3987_syntax`` when it is installed (Jupyter
    brings it, through jsonschema[format-nongpl]); that module builds an Earley grammar at import: 5.3 s of CPU
    measured here, in each of Ray's agents and workers. Ray's raylet gives its dashboard agent a fixed 15 s to start
    (ray-project/ray#65983), so on a loaded 2-core machine Ray could not start at all ("The current node timed out
    during startup"). A module of that name that raises ImportError, first on PYTHONPATH, makes jsonschema skip the
    IRI format (it expects that library to be optional); nothing of ours or Ray's checks IRIs. README: "Ray start".
    """
    stub = folder / "rfc3987_syntax.py"
    stub.write_text('raise ImportError("left out of Ray\'s processes by tests/test_sweep_workers.py (ray_process_env)")\n')
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), *([path] if path else [])])}


def wait_for(what: str, predicate, ceiling: float = CEILING, every: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``ceiling`` seconds."""
    deadline = time.monotonic() + ceiling
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"waited {ceiling:.0f} s for {what}")


def rows(lab, sweep_id: str) -> list[dict]:
    frame = lab.sql("SELECT id, status, error, hint, host, pid, device, sweep_cell, backend_info, created_at FROM runs "
                    "WHERE sweep_id = ? ORDER BY created_at", [sweep_id])
    out = frame.to_dict("records")
    for row in out:
        row["cell"] = json.loads(row["sweep_cell"])
        row["worker"] = (json.loads(row["backend_info"]) or {}).get("worker") if isinstance(row["backend_info"], str) else None
    return out


def running(lab, sweep_id: str, **cell) -> list[dict]:
    return [r for r in rows(lab, sweep_id) if r["status"] == "running" and all(r["cell"].get(k) == v for k, v in cell.items())]


class Background:
    """A sweep on workers in a thread (the test's main thread watches the log and kills processes)."""

    def __init__(self, workers, sweep_id, cells, requests, **kwargs):
        self.report, self.error = None, None
        self.thread = threading.Thread(target=self._go, args=(workers, sweep_id, cells, requests), kwargs=kwargs, daemon=True)
        self.thread.start()

    def _go(self, workers, *args, **kwargs):
        try:
            self.report = workers.run(*args, progress=False, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def join(self, ceiling: float = CEILING):
        self.thread.join(ceiling)
        assert not self.thread.is_alive(), f"the sweep did not end within {ceiling} s"
        if self.error is not None:
            raise self.error
        return self.report


# -- without Ray running ---------------------------------------------------------------------------------------------

def test_an_in_kernel_sweep_imports_no_ray(tmp_path):
    code = textwrap.dedent(f"""
        import sys, explorer
        lab = explorer.open({str(tmp_path / 'log.duckdb')!r}, author="ada")
        runs = lab.sweep("forest", {{"seed": [1, 2]}}, frames=4, width=32, height=32, steps=1, progress=False)
        grid = lab.ui.sweep("forest", {{"seed": [3]}}, frames=4, width=32, height=32, steps=1)
        grid.wait(120)
        assert list(runs.status) == ["succeeded"] * 2 and grid.cells[0]["status"] == "succeeded", (runs.status, grid.cells)
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith(("ray.", "explorer.workers"))))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=CEILING)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_workers_values_are_checked_before_anything_runs():
    assert check_workers("ray") == Target()
    assert check_workers("ray://10.0.0.5:10001").address == "ray://10.0.0.5:10001"
    for bad in ("Ray", "ray://nowhere", "http://head:10001", 3, True):
        with pytest.raises(RequestError, match=r"^workers: expected 'ray' or 'ray://HOST:PORT' \(or none, to run the cells in the kernel\)"):
            check_workers(bad)
    for bad in (0, -1, 1.5, True, "2", 5000):
        with pytest.raises(RequestError, match="^max_workers: must be a whole number from 1 to 1024"):
            check_workers("ray", bad)


def test_a_file_log_is_refused_when_workers_may_be_on_other_machines(tmp_path, postgres):
    from explorer.log.recovery import this_host

    file_lab = explorer.open(tmp_path / "log.duckdb")
    here, there = Node(this_host(), "10.0.0.1", 8, 1), Node("gpu-node-7", "10.0.0.7", 64, 8)
    Cluster(Target(), [here], client=False, connect_s=0).check_log(file_lab.log)  # one machine: fine
    for cluster in (Cluster(Target(), [here, there], client=False, connect_s=0),
                    Cluster(Target("ray://head:10001"), [there], client=True, connect_s=0)):
        with pytest.raises(RequestError, match="a file log .* cannot be shared with other machines: each would write its own file") as caught:
            cluster.check_log(file_lab.log)
        assert "gpu-node-7" in str(caught.value) and "team log" in str(caught.value)
    (tmp_path / "shared").mkdir()
    team_lab = explorer.open(postgres.new_database(), storage=tmp_path / "shared")
    Cluster(Target(), [here, there], client=False, connect_s=0).check_log(team_lab.log)  # a team log: fine


# -- a Ray client (ray://) to a head started with `ray start` -----------------------------------------------------------

def _free_port() -> int:
    from postgres import free_port

    return free_port()


def test_a_sweep_through_the_ray_client(tmp_path):
    """`ray start --head` on 127.0.0.1 (its own temp folder, stopped after), then `explorer sweep … --workers ray://…`."""
    pytest.importorskip("ray")
    port, client_port = _free_port(), _free_port()
    temp = tempfile.mkdtemp(prefix="rh-", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    (tmp_path / "stub").mkdir()
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={port}", f"--ray-client-server-port={client_port}",
         "--num-cpus=2", "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", "--block"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=ray_process_env(tmp_path / "stub"))
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(head.stdout), daemon=True)  # drained, so the head never blocks on a full pipe
    reader.start()
    try:
        wait_for("the Ray head to start", lambda: any("Ray runtime started" in line for line in said) or head.poll() is not None)
        assert head.poll() is None, "".join(said)[-3000:]
        db = tmp_path / "log.duckdb"
        # `ray start` (Ray 2.60) turns token authentication on; a client sends the token (~/.ray/auth_token) only when told to
        client_env = {**os.environ, "RAY_AUTH_MODE": "token", "COLUMNS": "200"}
        done = subprocess.run([sys.executable, "-m", "explorer.cli", "sweep", "forest", "--axis", "seed=1,2,3", "--frames", "4", "--size", "32x32",
                               "--steps", "2", "--workers", f"ray://127.0.0.1:{client_port}", "--max-workers", "2", "--db", str(db), "--json"],
                              capture_output=True, text=True, timeout=CEILING, env=client_env)
        assert done.returncode == 0, done.stderr[-3000:]
        printed = json.loads(done.stdout)
        assert printed["counts"] == {"succeeded": 3} and all(c["worker"].startswith("w") for c in printed["cells"])
        lab = explorer.open(db)
        made = lab.sql("SELECT status, pid FROM runs")
        assert list(made.status) == ["succeeded"] * 3
        assert os.getpid() not in set(made.pid)  # made by the cluster's workers, not by the client process (nor this one)
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started when it is stopped
        try:
            head.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(30)
        wait_for("the head's processes to end", lambda: not _processes_under(temp), ceiling=120)
        shutil.rmtree(temp, ignore_errors=True)


def _processes_under(temp: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if temp.encode() in f.read():
                        found.append(pid)
            except OSError:
                pass
    return found


# -- a local Ray cluster for the rest of the module ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One local Ray for the module (~10 s to start here): two CPUs, so two CPU workers."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    # Ray's processes (started by ray.init, and the workers its raylet starts later) take the environment ray.init sees.
    saved = os.environ.copy()
    os.environ.update(ray_process_env(tmp_path_factory.mktemp("stub")))
    try:
        # address="local": a new cluster for these tests, never one found through RAY_ADDRESS or a `ray start` on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield
    import explorer.workers

    explorer.workers.shutdown()
    ray.shutdown()


@pytest.fixture
def workers_on(local_ray):
    """``workers_on(lab)``: the lab's workers on the local cluster, both started before the sweep (so both take cells)."""

    def make(lab, max_workers=2):
        workers = connect(lab, "ray", max_workers=max_workers)
        workers.start()
        return workers

    return make


def test_a_sketch_sweep_on_two_workers_logs_every_cell_from_its_worker(home, workers_on):
    lab = home.open(author="ada")
    workers = workers_on(lab)
    sweep_id, cells, requests = lab.plan_sweep("forest at dusk", {"seed": [1, 2, 3], "guidance": [3, 9]}, **SMALL, extra={"pace": 0.05})
    seen, progress = [], []
    report = workers.run(sweep_id, cells, requests, progress=False, on_cell=lambda i, info: seen.append((i, info["status"])),
                         on_progress=progress.append)
    assert report.counts == {"succeeded": 6} and report.ok
    made = rows(lab, sweep_id)
    assert [r["status"] for r in made] == ["succeeded"] * 6
    assert sorted(json.dumps(r["cell"]) for r in made) == sorted(json.dumps(c) for c in cells)
    pids = {r["pid"] for r in made}
    assert len(pids) == 2 and os.getpid() not in pids  # both workers made cells; the kernel made none
    for row in made:  # each run names the worker that made it: host and pid columns, device, and backend_info.worker
        assert row["worker"]["pid"] == row["pid"] and row["worker"]["host"] == row["host"] and row["device"] == "cpu"
        assert row["worker"]["name"] in {w["name"] for w in report.workers}
    assert {c["worker"].split(" · ")[0] for c in report.cells} == {w["name"] for w in report.workers}
    assert sorted(i for i, status in seen if status == "running") == list(range(6))
    assert progress[-1].done == 6 and progress[-1].total == 6 and progress[-1].busy == 0
    assert any(p.busy == 2 for p in progress)  # both at once
    # what the kernel reads back
    frame = lab.runs(sweep=sweep_id)
    assert len(frame) == 6 and set(frame.status) == {"succeeded"}
    clip = lab.run(made[0]["id"])
    assert clip.media.is_file()


def test_lab_sweep_on_workers_returns_the_runs_like_the_kernel(tmp_path, workers_on):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers_on(lab)
    runs = lab.sweep("forest", {"seed": [1, 2, 3]}, workers="ray", max_workers=2, progress=False, **SMALL)
    assert list(runs.status) == ["succeeded"] * 3 and sorted(runs.seed) == [1, 2, 3]
    assert os.getpid() not in set(lab.sql("SELECT pid FROM runs").pid)
    with pytest.raises(RequestError, match="^max_workers: only with workers="):
        lab.sweep("forest", {"seed": [1]}, max_workers=2, **SMALL)
    with pytest.raises(RequestError, match="^workers: expected 'ray'"):
        lab.sweep("forest", {"seed": [1]}, workers="dask", **SMALL)
    assert len(lab.sql("SELECT id FROM sweeps")) == 1  # the refused ones logged nothing


def test_the_sweep_command_on_workers(tmp_path, workers_on):
    from typer.testing import CliRunner

    from explorer.cli import app

    db = tmp_path / "log.duckdb"
    workers_on(explorer.open(db, author="ada"))

    def explorer_cli(*args):
        return CliRunner().invoke(app, ["sweep", "forest", *args, "--frames", "4", "--size", "32x32", "--steps", "2", "--db", str(db)])

    done = explorer_cli("--axis", "seed=1,2", "--axis", "guidance=3,9", "--workers", "ray", "--max-workers", "2")
    assert done.exit_code == 0, (done.stdout, done.stderr)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("succeeded") and " on w" in line for line in lines[:4])
    assert lines[-1].endswith("4 succeeded of 4 cells on Ray ray (1 machine, 2 CPU)")
    for args, message in [(("--axis", "seed=1", "--workers", "dask"), "error: --workers: expected 'ray' or 'ray://HOST:PORT'"),
                          (("--axis", "seed=1", "--workers", "ray", "--max-workers", "0"), "error: --max-workers: must be a whole number from 1"),
                          (("--axis", "seed=1,-5", "--workers", "ray"), "error: --axis seed: must be between 0 and"),
                          (("--axis", "seed", "--workers", "ray"), "error: --axis: expected NAME=V1,V2,… (got 'seed')")]:
        refused = explorer_cli(*args)
        assert refused.exit_code == 2 and refused.stderr.startswith(message) and refused.stderr.count("\n") == 1, refused.stderr
    # another cluster while this process is connected to one: the environment (1), one line
    elsewhere = explorer_cli("--axis", "seed=1", "--workers", f"ray://127.0.0.1:{_free_port()}")
    assert elsewhere.exit_code == 1 and elsewhere.stderr.startswith("error: --workers: this process is already connected to a Ray cluster")
    assert len(explorer.open(db).sql("SELECT id FROM sweeps")) == 1  # nothing refused was logged


def test_cancel_stops_every_worker_and_logs_each_cell_cancelled(tmp_path, workers_on):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    # 40 steps of 0.25 s: 10 s a cell, so a cell is surely still running when Cancel comes
    sweep_id, cells, requests = lab.plan_sweep("forest", {"seed": [1, 2, 3, 4, 5]}, **{**SMALL, "steps": 40}, extra={"pace": 0.25})
    control = RunControl()
    sweep = Background(workers, sweep_id, cells, requests, control=control)
    wait_for("both workers to be making a cell", lambda: len(running(lab, sweep_id)) == 2)
    asked = time.monotonic()
    control.cancel()
    report = sweep.join()
    stopped_in = time.monotonic() - asked
    made = rows(lab, sweep_id)
    assert report.cancelled and report.counts == {"cancelled": 5}
    assert [r["status"] for r in made] == ["cancelled"] * 5  # every cell has its row, none left running
    started = [r for r in made if "before it started" not in r["error"]]
    assert len(started) == 2 and all(r["error"].startswith("cancelled") and "step" in r["error"] for r in started)
    assert len({r["pid"] for r in started}) == 2
    assert stopped_in < 10 * 0.25 * 40  # at the next step, not at the end of the cell (loose: a loaded machine)


def test_a_kernel_interrupt_cancels_the_sweep_then_is_raised_again(tmp_path, workers_on):
    import _thread

    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    sweep_id, cells, requests = lab.plan_sweep("forest", {"seed": [1, 2, 3, 4]}, **{**SMALL, "steps": 40}, extra={"pace": 0.25})

    def interrupt_when_both_run() -> None:  # what the kernel's Interrupt does: KeyboardInterrupt in the main thread
        watcher = explorer.open(tmp_path / "log.duckdb")
        wait_for("both workers to be making a cell", lambda: len(running(watcher, sweep_id)) == 2)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_both_run, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        workers.run(sweep_id, cells, requests, progress=False)
    made = rows(lab, sweep_id)  # raised only after the workers logged their cells
    assert [r["status"] for r in made] == ["cancelled"] * 4
    assert sum("before it started" in r["error"] for r in made) == 2


def test_a_second_interrupt_stops_waiting_and_leaves_no_run_of_a_file_log_running(tmp_path, workers_on):
    """On a file log only the kernel writes the rows: when it stops waiting, it ends the runs it handed out."""
    import _thread

    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    # 3 s a step: a cancelled worker stops only at its next step, so the second interrupt surely comes first
    sweep_id, cells, requests = lab.plan_sweep("forest", {"seed": [1, 2, 3, 4]}, **{**SMALL, "steps": 4}, extra={"pace": 3.0})

    def interrupt_twice() -> None:
        watcher = explorer.open(tmp_path / "log.duckdb")
        wait_for("both workers to be making a cell", lambda: len(running(watcher, sweep_id)) == 2)
        _thread.interrupt_main()
        wait_for("the cells not started to be logged cancelled", lambda: len(
            [r for r in rows(watcher, sweep_id) if isinstance(r["error"], str) and "before it started" in r["error"]]) == 2)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_twice, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        workers.run(sweep_id, cells, requests, progress=False)
    made = rows(lab, sweep_id)
    assert sorted(r["status"] for r in made) == ["cancelled", "cancelled", "interrupted", "interrupted"]
    assert all("the kernel stopped waiting" in r["error"] for r in made if r["status"] == "interrupted")


def test_a_worker_killed_mid_cell_has_its_cell_run_again_on_another_worker(tmp_path, workers_on):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    sweep_id, cells, requests = lab.plan_sweep("forest", {"seed": [1, 2, 3]}, **{**SMALL, "steps": 20}, extra={"pace": 0.2})
    sweep = Background(workers, sweep_id, cells, requests)
    victim = wait_for("a cell running on a worker", lambda: running(lab, sweep_id, seed=1))[0]
    assert victim["pid"] != os.getpid()
    os.kill(victim["pid"], signal.SIGKILL)
    report = sweep.join()
    assert report.counts == {"succeeded": 3}
    made = rows(lab, sweep_id)
    assert not [r for r in made if r["status"] == "running"]
    first, again = [r for r in made if r["cell"] == {"seed": 1}]
    assert first["id"] == victim["id"] and first["status"] == "interrupted"
    assert "died while making this cell" in first["error"] and "run again on another worker" in first["error"]
    assert again["status"] == "succeeded" and again["pid"] != victim["pid"]
    assert [r["status"] for r in made if r["cell"] != {"seed": 1}] == ["succeeded", "succeeded"]
    assert report.cells[0]["attempts"] == 2


def test_a_killed_worker_of_a_file_log_leaves_no_running_run_and_no_temporary_clip(tmp_path, workers_on):
    """A file log: the kernel wrote the run `running` (the worker never opens the file), and ends it when the worker dies."""
    from explorer.log.recovery import TEMP_PREFIX

    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    sweep_id, cells, requests = lab.plan_sweep("forest", {"seed": [1, 2]}, **{**SMALL, "steps": 20}, extra={"pace": 0.2})
    sweep = Background(workers, sweep_id, cells, requests)
    victim = wait_for("seed 1 running on a worker", lambda: running(lab, sweep_id, seed=1))[0]
    assert victim["pid"] != os.getpid()  # logged by the kernel at hand-out, naming the worker's pid
    media = lab.log.media.root
    media.mkdir(exist_ok=True)
    # What a worker killed while encoding leaves: its temporary clip, named by its host and pid (explorer.media); and
    # one of a live process (this one), which must stay.
    host = victim["host"].replace("-", "_")
    dead_tmp = media / f"{TEMP_PREFIX}{host}-{victim['pid']}-abc.mp4"
    live_tmp = media / f"{TEMP_PREFIX}{host}-{os.getpid()}-abc.mp4"
    dead_tmp.write_bytes(b"half a clip")
    live_tmp.write_bytes(b"a clip being written")
    os.kill(victim["pid"], signal.SIGKILL)
    report = sweep.join()
    assert report.counts == {"succeeded": 2}
    made = rows(lab, sweep_id)
    assert not [r for r in made if r["status"] == "running"]
    first, again = [r for r in made if r["cell"] == {"seed": 1}]
    assert first["id"] == victim["id"] and first["status"] == "interrupted" and "died while making this cell" in first["error"]
    assert again["status"] == "succeeded"
    assert not dead_tmp.exists() and live_tmp.exists()
    live_tmp.unlink()


def test_on_a_file_log_the_kernel_writes_the_rows_the_kernel_path_would(tmp_path, workers_on):
    """The same request in the kernel and on a worker: the same run row (but for who and when), metrics and pictures."""
    from explorer.media import read_frames

    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab, max_workers=1)
    fields = dict(**SMALL, extra={"pace": 0.01})
    kernel = lab.generate("forest at dusk", seed=7, progress=False, **fields)
    sweep_id, cells, requests = lab.plan_sweep("forest at dusk", {"seed": [7]}, **fields)
    # This process holds the file for the whole sweep: a worker that needed it would wait (and fail after the log's timeout).
    with lab.log.connection.session():
        report = workers.run(sweep_id, cells, requests, progress=False)
    assert report.ok
    on_worker = report.cells[0]["run_id"]
    a, b = (lab.sql("SELECT * FROM runs WHERE id = ?", [run_id]).to_dict("records")[0] for run_id in (kernel.id, on_worker))
    different = {"id", "created_at", "finished_at", "heartbeat_at", "duration_s", "timings", "sweep_id", "sweep_cell", "pid",
                 "media_sha256", "backend_info"}  # the clip's hash: its recipe names its run
    assert {k: v for k, v in a.items() if k not in different} == {k: v for k, v in b.items() if k not in different}
    assert b["status"] == "succeeded" and b["sweep_id"] == sweep_id and json.loads(b["sweep_cell"]) == {"seed": 7}
    info_a, info_b = json.loads(a["backend_info"]), json.loads(b["backend_info"])
    assert info_b.pop("worker")["pid"] == b["pid"] != os.getpid()
    assert info_a == info_b
    assert set(json.loads(a["timings"])) == set(json.loads(b["timings"])) and b["duration_s"] > 0
    metrics = "SELECT name, version, value FROM metrics WHERE run_id = ? ORDER BY name"
    assert lab.sql(metrics, [kernel.id]).to_dict("records") == lab.sql(metrics, [on_worker]).to_dict("records") != []
    clip = lab.run(on_worker)
    assert (read_frames(clip.media) == read_frames(kernel.media)).all()  # same request, same pictures
    from explorer.media import read_recipe

    assert read_recipe(clip.media)["run"] == on_worker  # the recipe inside the MP4 names the run the kernel logged
    shown = lab.sql("SELECT m.frames, m.width, m.height, m.fps FROM media m JOIN runs r ON r.media_sha256 = m.sha256 WHERE r.id IN (?, ?)",
                    [kernel.id, on_worker])
    assert len(shown) == 2 and shown.iloc[0].tolist() == shown.iloc[1].tolist()


def test_a_cell_whose_worker_dies_twice_is_failed_with_the_reason_and_the_rest_go_on(tmp_path, workers_on):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    sweep_id, cells, requests = lab.plan_sweep("forest", {"seed": [1, 2]}, **{**SMALL, "steps": 20}, extra={"pace": 0.2})
    sweep = Background(workers, sweep_id, cells, requests)
    killed = []
    for attempt in (1, 2):
        victim = wait_for(f"attempt {attempt} of seed 1 to run", lambda: [r for r in running(lab, sweep_id, seed=1) if r["pid"] not in killed])[0]
        os.kill(victim["pid"], signal.SIGKILL)
        killed.append(victim["pid"])
    report = sweep.join()
    made = rows(lab, sweep_id)
    assert not [r for r in made if r["status"] == "running"]
    first, second = [r for r in made if r["cell"] == {"seed": 1}]
    assert first["status"] == "interrupted" and second["status"] == "failed"
    assert "died while making this cell" in second["error"] and "not tried again" in second["error"] and "ray logs" in second["hint"]
    assert [r["status"] for r in made if r["cell"] == {"seed": 2}] == ["succeeded"]
    assert report.counts == {"failed": 1, "succeeded": 1}


@pytest.fixture(scope="module")
def t2v_folder(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import tiny_pipelines

    return tiny_pipelines.build_text_to_video(tmp_path_factory.mktemp("animatediff") / "pipe", "animatediff")


def test_diffusers_workers_load_the_pipeline_once_each_and_a_failing_cell_fails_alone(tmp_path, workers_on, t2v_folder):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    # width 36 is not a multiple of the tiny VAE's 8: the pipeline raises on those cells, at run time
    base = dict(backend="diffusers", model=str(t2v_folder), frames=8, height=64, steps=2, guidance=1.0, fps=8)
    sweep_id, cells, requests = lab.plan_sweep("a kite", {"seed": [1, 2, 3], "width": [64, 36]}, **base)
    report = workers.run(sweep_id, cells, requests, progress=False)
    made = rows(lab, sweep_id)
    assert sorted((r["cell"]["width"], r["status"]) for r in made) == [(36, "failed")] * 3 + [(64, "succeeded")] * 3
    assert all("divisible by 8" in r["error"] for r in made if r["status"] == "failed")
    pids = {r["pid"] for r in made}
    assert len(pids) == 2  # failing cells did not take their workers down: no worker was replaced
    for pid in pids:  # the pipeline was loaded by the first cell each worker made, and found loaded after that
        mine = [json.loads(r["backend_info"]) for r in made if r["pid"] == pid]
        assert [i["cache_hit"] for i in mine].count(False) == 1, mine
    import ray

    stats = ray.get([w.actor.stats.remote() for w in _pool_workers()])
    assert sorted(s["pipeline_loads"]["diffusers"] for s in stats) == [1, 1]
    assert report.counts == {"failed": 3, "succeeded": 3}


def _pool_workers():
    from explorer.workers import pool

    return pool._current.workers


def test_workers_stay_up_between_sweeps_of_the_same_log(tmp_path, workers_on):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = workers_on(lab)
    first = workers.run(*lab.plan_sweep("forest", {"seed": [1, 2]}, **SMALL), progress=False)
    again = connect(lab, "ray", max_workers=2).run(*lab.plan_sweep("forest", {"seed": [3, 4]}, **SMALL), progress=False)
    assert {w["pid"] for w in first.workers} == {w["pid"] for w in again.workers}
    assert again.timings["worker_up_s"] is None  # nobody had to start


def test_a_worker_that_cannot_open_the_log_says_why(tmp_path, local_ray):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers = connect(lab, "ray", max_workers=1)
    plan = lab.plan_sweep("forest", {"seed": [1]}, **SMALL)
    moved = tmp_path / "elsewhere.duckdb"
    lab.log.close()
    os.replace(tmp_path / "log.duckdb", moved)  # the workers look for the log where the kernel had it: gone
    try:
        with pytest.raises(WorkersUnavailable, match="did not start: .*no Clip Explorer log at"):
            workers.start(timeout=CEILING)
    finally:
        os.replace(moved, tmp_path / "log.duckdb")
    assert plan[0]


def test_the_sweep_grid_fills_from_the_workers_and_names_each_cells_worker(tmp_path, workers_on):
    lab = explorer.open(tmp_path / "log.duckdb", author="ada")
    workers_on(lab)
    grid = lab.ui.sweep("forest", {"seed": [1, 2], "guidance": [3, 9]}, workers="ray", max_workers=2, **SMALL)
    grid.wait(CEILING)
    assert not grid.running
    assert [c["status"] for c in grid.cells] == ["succeeded"] * 4
    assert all(c["worker"].startswith("w") and " · " in c["worker"] for c in grid.cells)
    assert grid.progress["done"] == 4 and grid.progress["total"] == 4
    assert "4 of 4 cells" in grid.message
    again = lab.ui.sweep(None, None, sweep_id=grid.sweep_id)  # reopened from the log: the workers are still named
    assert sorted(c["worker"] for c in again.cells) == sorted(c["worker"] for c in grid.cells)
