"""Small helpers shared by the benchmarks: percentiles, one-core pinning, the machine's description."""

from __future__ import annotations

import os
import platform
import statistics


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def pin_to_one_core() -> None:
    """Run on a single core, so 'per core' figures mean what they say."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def machine() -> str:
    import duckdb
    import av
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"PyAV {av.__version__}, DuckDB {duckdb.__version__}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them (figures on a shared machine need them beside)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())
