"""The REST API against real `jupyter lab` processes: fuzzed from its OpenAPI document (no 5xx), and two servers, two reviewers, one log."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

import explorer

sys.path.insert(0, str(Path(__file__).parent / "browser"))
from lab import start_jupyter_server, stop_jupyter_server  # noqa: E402 - the browser harness starts servers the same way

SPEC_PATH = Path(explorer.__file__).parent / "server" / "openapi.yaml"


def _seed_log(root: Path, count: int = 4) -> list[str]:
    lab = explorer.open(root / "explorer.duckdb", author="setup")
    ids = [lab.generate(f"clip {i}", seed=i, frames=4, width=32, height=32, steps=1, progress=False).id for i in range(count)]
    lab.log.close()
    return ids


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("jupyterlab")
    folder = tmp_path_factory.mktemp("live")
    root = folder / "root"
    root.mkdir()
    ids = _seed_log(root)
    server = start_jupyter_server(folder, root=root)
    yield server, ids
    stop_jupyter_server(server)


def test_fuzzed_from_the_openapi_document_without_server_errors(server):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    live, ids = server
    schema = schemathesis.openapi.from_path(str(SPEC_PATH))
    headers = {"Authorization": f"token {live.token}"}
    failures = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def fuzz(case):
            nonlocal count
            count += 1
            response = case.call(base_url=f"{live.url}explorer", headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r} -> {response.status_code} {response.text[:200]}")

        fuzz()
    assert count > 100
    assert not failures, "\n".join(failures[:10])
    # the server is still up and the log still answers
    request = urllib.request.Request(f"{live.url}explorer/api/runs?limit=1", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["total"] >= len(ids)


def test_two_reviewers_on_two_servers_rating_at_once_lose_nothing(tmp_path):
    pytest.importorskip("jupyterlab")
    root = tmp_path / "shared"
    root.mkdir()
    ids = _seed_log(root, 6)
    servers = [start_jupyter_server(tmp_path / f"server{i}", root=root, extra_args=[f"--ClipExplorer.author=reviewer{i}"]) for i in range(2)]
    per_reviewer = 30
    errors = []

    def review(server, name):
        for i in range(per_reviewer):
            body = json.dumps({"run_id": ids[i % len(ids)], "score": 1 + i % 5, "note": f"{name}-{i}"}).encode()
            request = urllib.request.Request(f"{server.url}explorer/api/ratings", data=body, method="POST",
                                             headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    assert response.status == 201
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                errors.append(f"{name} #{i}: {exc}")

    try:
        threads = [threading.Thread(target=review, args=(s, f"reviewer{i}")) for i, s in enumerate(servers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        for server in servers:
            stop_jupyter_server(server)
    assert not errors, errors[:5]
    lab = explorer.open(root / "explorer.duckdb")
    counts = lab.sql("SELECT author, count(*) AS n, count(DISTINCT note) AS notes FROM ratings GROUP BY author ORDER BY author")
    assert counts.to_dict("list") == {"author": ["reviewer0", "reviewer1"], "n": [per_reviewer] * 2, "notes": [per_reviewer] * 2}
