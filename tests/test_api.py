"""The review REST API through the Jupyter server's own fixtures (pytest-jupyter): auth, authorship, validation, the spec."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from tornado.httpclient import HTTPClientError

import explorer
from explorer.server.api import api_handlers

pytest_plugins = ["pytest_jupyter.jupyter_server"]

SPEC = yaml.safe_load((Path(explorer.__file__).parent / "server" / "openapi.yaml").read_text())
NO_TOKEN = {"Authorization": ""}


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"explorer": True}}}


@pytest.fixture
def runs(jp_root_dir):
    lab = explorer.open(jp_root_dir / "explorer.duckdb", author="setup")  # the server's default log
    made = [lab.generate(p, seed=i, frames=6, width=64, height=48, steps=2, progress=False).id
            for i, p in enumerate(["sunset birds", "neon rain", "ocean waves", "neon city"])]
    lab.rate(made[0], 5, tags=["warm"])
    lab.log.close()
    return made


async def call(fetch, *parts, method="GET", body=None, **kwargs):
    """(status, JSON) for any outcome, 4xx included."""
    if body is not None:
        kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    try:
        response = await fetch(*parts, method=method, follow_redirects=False, **kwargs)
    except HTTPClientError as error:
        return error.code, _json(error.response.body if error.response is not None else b"")
    return response.code, _json(response.body)


def _json(body: bytes):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def test_the_spec_documents_exactly_the_routes():
    documented = {path for path in SPEC["paths"] if path.startswith("/api/")}
    served = {re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.split("/explorer", 1)[1]) for route, _ in api_handlers(lambda *p: "/explorer/" + "/".join(p))}
    assert documented == served
    for path, item in SPEC["paths"].items():
        if path.startswith("/api/"):
            handler = dict((re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", r.split("/explorer", 1)[1]), h) for r, h in api_handlers(lambda *p: "/explorer/" + "/".join(p)))[path]
            for method in item:
                assert hasattr(handler, method), f"{method.upper()} {path} documented but not served"


async def test_every_route_refuses_a_request_without_credentials(jp_fetch, runs):
    for path, item in SPEC["paths"].items():
        concrete = path.replace("{run_id}", runs[0]).replace("{name}.js", "clip_player.js").replace("{name}", "0" * 64 + ".mp4").lstrip("/")
        for method in item:
            status, _ = await call(jp_fetch, "explorer", *concrete.split("/"), method=method.upper(), headers=NO_TOKEN,
                                   body={} if method == "post" else None)
            assert status == 403, f"{method.upper()} {path} answered {status} without a token"


@pytest.fixture
def reviewer(jp_server_config):
    jp_server_config["ClipExplorer"] = {"author": "reviewer-ada"}
    return "reviewer-ada"


async def test_writes_are_made_as_the_server_user_whatever_the_body_says(reviewer, jp_fetch, runs, jp_root_dir):
    me = (await call(jp_fetch, "explorer", "api", "me"))[1]["author"]
    assert me == reviewer
    status, created = await call(jp_fetch, "explorer", "api", "ratings", method="POST",
                                 body={"run_id": runs[1][:6], "score": 4, "tags": ["Moody"], "note": "rain", "author": "mallory"})
    assert status == 201 and created["author"] == me != "mallory"
    status, _ = await call(jp_fetch, "explorer", "api", "votes", method="POST", body={"winner_id": runs[1], "loser_id": runs[2], "author": "mallory"})
    assert status == 201
    status, _ = await call(jp_fetch, "explorer", "api", "annotations", method="POST",
                           body={"run_id": runs[1], "text": "flicker", "frame": 2, "region": {"x": 0.1, "y": 0.1, "w": 0.5, "h": 0.5}, "author": "mallory"})
    assert status == 201
    status, detail = await call(jp_fetch, "explorer", "api", "runs", runs[1])
    assert status == 200 and detail["ratings_latest"][0]["author"] == me and detail["ratings_latest"][0]["tags"] == ["moody"]
    assert detail["votes"][0]["author"] == me and detail["annotations"][0]["author"] == me and detail["annotations"][0]["region"]["w"] == 0.5
    assert detail["my_rating"] == 4 and detail["sha256"] and detail["request"]["prompt"] == "neon rain"


@pytest.mark.parametrize("route, body, field", [
    ("ratings", {"run_id": "x", "score": 9}, "score"),
    ("ratings", {"run_id": "x", "score": "4"}, "score"),
    ("ratings", {"score": 3}, "run_id"),
    ("ratings", {"run_id": "x", "score": 3, "tags": "warm"}, "tags"),
    ("votes", {"winner_id": "a"}, "loser_id"),
    ("votes", {"winner_id": "a", "loser_id": "b", "tie": "maybe"}, "tie"),
    ("annotations", {"run_id": "x", "text": ""}, "text"),
    ("annotations", {"run_id": "x", "text": "hi", "region": {"x": 2, "y": 0, "w": 0.1, "h": 0.1}}, "region.x"),
    ("annotations", {"run_id": "x", "text": "hi", "frame": -1}, "frame"),
])
async def test_bad_bodies_get_400_naming_the_field_and_log_nothing(jp_fetch, runs, jp_root_dir, route, body, field):
    status, error = await call(jp_fetch, "explorer", "api", route, method="POST", body=body)
    assert status == 400 and error["error"].startswith(field), error


async def test_bad_json_unknown_runs_and_self_votes(jp_fetch, runs):
    assert (await call(jp_fetch, "explorer", "api", "ratings", method="POST", body="{not json"))[0] == 400
    assert (await call(jp_fetch, "explorer", "api", "ratings", method="POST", body="[1, 2]"))[0] == 400
    status, error = await call(jp_fetch, "explorer", "api", "ratings", method="POST", body={"run_id": "fffffff", "score": 3})
    assert status == 404 and "no run" in error["error"]
    status, error = await call(jp_fetch, "explorer", "api", "votes", method="POST", body={"winner_id": runs[0], "loser_id": runs[0]})
    assert status == 400 and "two different runs" in error["error"]
    assert (await call(jp_fetch, "explorer", "api", "runs", "fffffff"))[0] == 404


async def test_runs_filter_sort_and_page(jp_fetch, runs):
    status, page = await call(jp_fetch, "explorer", "api", "runs", params={"text": "neon", "limit": 1})
    assert status == 200 and page["total"] == 2 and len(page["items"]) == 1 and "neon" in page["items"][0]["prompt"]
    status, page = await call(jp_fetch, "explorer", "api", "runs", params={"sort": "rating", "limit": 2})
    assert page["items"][0]["id"] == runs[0] and page["items"][0]["rating"] == 5 and page["items"][0]["tags"] == ["warm"]
    status, page = await call(jp_fetch, "explorer", "api", "runs", params={"tag": "warm"})
    assert page["total"] == 1
    for bad in ({"limit": 0}, {"limit": "many"}, {"sort": "best"}, {"status": "done"}, {"min_rating": 9}, {"offset": -1}, {"min_rating": "nan"}):
        status, error = await call(jp_fetch, "explorer", "api", "runs", params=bad)
        assert status == 400 and error["error"].split(":")[0] in bad, (bad, error)


async def test_the_rate_queue_walks_unrated_clips(jp_fetch, runs):
    status, queue = await call(jp_fetch, "explorer", "api", "queue", "next")
    assert status == 200 and queue["remaining"] == 4 and queue["item"]["id"] == runs[0]
    await call(jp_fetch, "explorer", "api", "ratings", method="POST", body={"run_id": runs[0], "score": 3})
    queue = (await call(jp_fetch, "explorer", "api", "queue", "next"))[1]
    assert queue["remaining"] == 3 and queue["item"]["id"] == runs[1]
    skipped = (await call(jp_fetch, "explorer", "api", "queue", "next", params={"after": runs[1]}))[1]
    assert skipped["item"]["id"] == runs[2]


async def test_battle_pairs_are_blind(jp_fetch, runs):
    status, queue = await call(jp_fetch, "explorer", "api", "queue", "next", params={"mode": "battle"})
    assert status == 200 and len(queue["pair"]) == 2 and queue["pair"][0]["id"] != queue["pair"][1]["id"]
    assert all(side["prompt"] == "" and side["sha256"] for side in queue["pair"])
    assert (await call(jp_fetch, "explorer", "api", "queue", "next", params={"mode": "duel"}))[0] == 400


async def test_leaderboard_agreement_tags_and_changes(jp_fetch, runs):
    before = (await call(jp_fetch, "explorer", "api", "changes"))[1]["version"]
    for winner, loser in ((runs[0], runs[1]), (runs[0], runs[2]), (runs[3], runs[1])):
        await call(jp_fetch, "explorer", "api", "votes", method="POST", body={"winner_id": winner, "loser_id": loser})
    after = (await call(jp_fetch, "explorer", "api", "changes"))[1]["version"]
    assert before != after
    status, board = await call(jp_fetch, "explorer", "api", "leaderboard", params={"by": "prompt"})
    assert status == 200 and board["by"] == "prompt" and board["rows"][0]["key"] == "sunset birds"
    assert (await call(jp_fetch, "explorer", "api", "leaderboard", params={"by": "no_such_field"}))[0] == 400
    status, agreement = await call(jp_fetch, "explorer", "api", "agreement")
    assert status == 200 and agreement["votes"] == 3
    assert (await call(jp_fetch, "explorer", "api", "tags"))[1] == ["warm"]
