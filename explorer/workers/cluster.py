"""What ``workers=`` names, the Ray cluster it reaches, and whether the log can be shared with the machines in it.

- ``"ray"``: the cluster this process is connected to; if none, ``ray.init()``, which joins ``RAY_ADDRESS`` when
  set, else the cluster last started with ``ray start`` on this machine, else starts a local one (kept for later
  sweeps of this process).
- ``"ray://HOST:PORT"``: a Ray client connection to a cluster's head (``ray start --head`` listens for clients on
  10001 by default).

A file log is a file on this machine: a worker on another machine would write another file of the same name (or
fail), so a file log is refused, before anything is logged, when the cluster has a node on another machine, or when
this process reaches the cluster as a client and is not one of its machines. A team log works from everywhere.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from explorer.log.recovery import this_host
from explorer.request import RequestError, shown
from explorer.workers import WorkersUnavailable

if TYPE_CHECKING:
    from explorer.log import Log

CLIENT_ADDRESS = re.compile(r"^ray://[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
MAX_WORKERS = 1024
CLIENT_ATTEMPTS = 3  # a ray:// connection the head fails to set up is asked for again, up to this many times in all

_connected: str | None = None  # the ray:// address this module connected to (it may reuse its own connection)


@dataclass(frozen=True)
class Target:
    """A checked ``workers=`` value: ``address`` None for "the connected cluster or a local one", else ``ray://…``."""

    address: str | None = None

    def __str__(self) -> str:
        return self.address or "ray"


def check_workers(workers: Any, max_workers: Any = None) -> Target:
    """``workers`` and ``max_workers`` as a :class:`Target`, or a :class:`RequestError` naming the bad one."""
    problems = []
    target = None
    if workers == "ray":
        target = Target()
    elif isinstance(workers, str) and CLIENT_ADDRESS.match(workers):
        target = Target(workers)
    else:
        problems.append(f"workers: expected 'ray' or 'ray://HOST:PORT' (or none, to run the cells in the kernel) (got {shown(workers)})")
    if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= MAX_WORKERS):
        problems.append(f"max_workers: must be a whole number from 1 to {MAX_WORKERS} (got {shown(max_workers)})")
    if problems:
        raise RequestError(problems)
    return target  # type: ignore[return-value]  # set whenever problems is empty


@dataclass
class Node:
    host: str
    address: str
    cpus: float
    gpus: float


@dataclass
class Cluster:
    """The Ray cluster a sweep runs on: its machines and devices, and how this process reaches it."""

    target: Target
    nodes: list[Node]
    client: bool
    connect_s: float
    devices: dict[str, float] = field(default_factory=dict)
    session: str | None = None  # this process's Ray job: workers of an earlier connection (ray.shutdown, ray.init) are not reused

    @property
    def gpus(self) -> int:
        return int(self.devices.get("GPU", 0))

    @property
    def cpus(self) -> int:
        return int(self.devices.get("CPU", 0))

    @property
    def other_hosts(self) -> list[str]:
        """Machines of the cluster that are not this one (by host name, as the log records it)."""
        return sorted({n.host for n in self.nodes if n.host != this_host()})

    @property
    def reaches_other_machines(self) -> bool:
        return bool(self.other_hosts) or (self.client and this_host() not in {n.host for n in self.nodes})

    def check_log(self, log: Log) -> None:
        """Refuse a file log when workers may run on another machine: say so before anything runs or is logged."""
        if log.is_team or not self.reaches_other_machines:
            return
        where = ", ".join(self.other_hosts) or "the cluster's machines"
        raise RequestError([
            f"workers: the Ray cluster at {self.target} has workers on other machines ({where}), and a file log "
            f"({log.location}) cannot be shared with other machines: each would write its own file. Use a team log "
            "(explorer.open('postgresql://USER@HOST:PORT/DB', storage=SHARED_FOLDER); README: \"The team log\"), or "
            "run the sweep on a one-machine Ray cluster (workers='ray' with no RAY_ADDRESS starts one here)"])

    def describe(self) -> str:
        kind = f"{self.gpus} GPU" if self.gpus else f"{self.cpus} CPU"
        machines = len({n.host for n in self.nodes})
        return f"Ray {self.target} ({machines} machine{'s' if machines != 1 else ''}, {kind})"


def open_cluster(target: Target) -> Cluster:
    """Connect to (or start) the cluster ``target`` names, and read its machines and devices."""
    global _connected
    import time

    try:
        import ray
    except ImportError as exc:
        raise WorkersUnavailable(f"workers: Ray is not installed here: pip install 'clip-explorer[ray]' ({exc})") from None
    started = time.perf_counter()
    if ray.is_initialized():
        if target.address is not None and target.address != _connected:
            raise WorkersUnavailable(f"workers: this process is already connected to a Ray cluster, not to {target.address}; "
                                     "use workers='ray' for that one, or call ray.shutdown() first")
    else:
        try:
            if target.address is None:
                # No address: RAY_ADDRESS, else a `ray start` cluster on this machine, else a new local one (kept for the next sweep).
                ray.init(include_dashboard=False, logging_level=logging.WARNING)
            else:
                for attempt in range(CLIENT_ATTEMPTS):
                    try:
                        ray.init(target.address, logging_level=logging.WARNING)
                        break
                    except ConnectionError as exc:
                        # The head's client server starts a server per client, and on a busy head that one can miss its own
                        # start-up deadline ("Initialization failure from server"): transient, so ask again.
                        if "initialization failure" not in str(exc).lower() or attempt + 1 == CLIENT_ATTEMPTS:
                            raise
                        ray.shutdown()  # whatever the failed attempt left connected
                _connected = target.address
        except Exception as exc:  # noqa: BLE001 - whatever Ray raises (ConnectionError, grpc errors, timeouts): one line
            hint = ""
            if target.address is not None and os.environ.get("RAY_AUTH_MODE") != "token":
                # Measured with Ray 2.60: `ray start` turns token authentication on, and a client sends its token only
                # when told to; without it the head drops the call and the client reports a timeout.
                hint = ("; if the head uses token authentication (`ray start` turns it on), set RAY_AUTH_MODE=token here, "
                        "with the head's token in RAY_AUTH_TOKEN or ~/.ray/auth_token")
            raise WorkersUnavailable(f"workers: cannot reach Ray at {target} ({type(exc).__name__}: {_first_line(exc)}){hint}") from None
    nodes = [Node(n.get("NodeManagerHostname", ""), n.get("NodeManagerAddress", ""), n.get("Resources", {}).get("CPU", 0),
                  n.get("Resources", {}).get("GPU", 0)) for n in ray.nodes() if n.get("Alive")]
    devices = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
    try:
        context = ray.get_runtime_context()
        session = f"{context.get_job_id()}@{context.get_node_id()}"  # a job id repeats in a new cluster; its node ids do not
    except Exception:  # noqa: BLE001 - no job id to tell connections apart: the pool's liveness check still catches stale workers
        session = None
    return Cluster(target, nodes, client=ray.util.client.ray.is_connected(), connect_s=time.perf_counter() - started, devices=devices,
                   session=session)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
