"""Shared fixtures: a fresh log per test, real DuckDB, real PyAV."""

from __future__ import annotations

import os

# No model hub here (and tests never send traffic off this machine): huggingface_hub reads this at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

import explorer  # noqa: E402

# Helper modules, imported by tests, not collected themselves (not even for doctests).
collect_ignore = ["conftest.py", "tiny_pipelines.py", "browser/conftest.py", "browser/lab.py"]


@pytest.fixture
def lab(tmp_path):
    lab = explorer.open(tmp_path / "log.duckdb", author="tester")
    yield lab
    lab.log.close()


@pytest.fixture
def small():
    """Request fields for a quick clip."""
    return dict(frames=6, width=64, height=48, steps=3, fps=6)
