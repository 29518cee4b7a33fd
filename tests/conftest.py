"""Shared fixtures: a fresh log per test, real DuckDB, real PyAV."""

from __future__ import annotations

import os

# No model hub here (and tests never send traffic off this machine): huggingface_hub reads this at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

import explorer  # noqa: E402
from homes import Home  # noqa: E402

# Helper modules, imported by tests, not collected themselves (not even for doctests).
collect_ignore = ["conftest.py", "tiny_pipelines.py", "faults.py", "homes.py", "postgres.py", "browser/conftest.py", "browser/lab.py"]


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server for the session (tests/postgres.py); each team log gets its own database in it."""
    from postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["file", "team"])
def home(request, tmp_path):
    """Each test that asks for it runs twice: on a file log and on a team log (same tests, not a copy)."""
    return Home(request.param, tmp_path, request.getfixturevalue("postgres") if request.param == "team" else None)


@pytest.fixture
def lab(home):
    lab = home.open()
    yield lab
    lab.log.close()


@pytest.fixture
def small():
    """Request fields for a quick clip."""
    return dict(frames=6, width=64, height=48, steps=3, fps=6)
