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
def jp_server_config(home):
    """Every API test runs twice: on the server's default file log, and on a team log it is configured with."""
    return home.server_config()


def open_server_log(home, jp_root_dir, author):
    """The log the server reads: its default file under the root, or the team log it was given."""
    return home.open(author) if home.kind == "team" else explorer.open(jp_root_dir / "explorer.duckdb", author=author)


@pytest.fixture
def runs(home, jp_root_dir):
    lab = open_server_log(home, jp_root_dir, "setup")
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


def test_the_spec_states_the_limits_the_server_applies():
    from explorer.limits import BODY_BYTES, JSON_DEPTH, RANGES, TAGS, TEXT

    schemas = SPEC["components"]["schemas"]
    rating, vote, note = (schemas[name]["properties"] for name in ("RatingIn", "VoteIn", "AnnotationIn"))
    assert rating["note"]["maxLength"] == TEXT["note"] and note["text"]["maxLength"] == TEXT["text"]
    assert (rating["tags"]["maxItems"], rating["tags"]["items"]["maxLength"]) == (TAGS, TEXT["tag"])
    for field in (rating["run_id"], vote["winner_id"], vote["loser_id"], note["run_id"]):
        assert field["maxLength"] == TEXT["run_id"]
    assert (rating["score"]["minimum"], rating["score"]["maximum"]) == RANGES["score"]
    for name in ("frame", "end_frame"):
        assert (note[name]["minimum"], note[name]["maximum"]) == RANGES[name]
    params = {p["name"]: p["schema"] for p in SPEC["paths"]["/api/runs"]["get"]["parameters"]}
    for name, field in (("text", "prompt"), ("tag", "tag"), ("author", "author"), ("backend", "backend"), ("model", "model")):
        assert params[name]["maxLength"] == TEXT[field], name
    for name, limit in (("min_rating", "min_rating"), ("limit", "page"), ("offset", "offset")):
        assert (params[name]["minimum"], params[name]["maximum"]) == RANGES[limit], name
    assert f"{{1,{TEXT['run_id']}}}" in SPEC["components"]["parameters"]["RunId"]["schema"]["pattern"]
    assert f"at most {BODY_BYTES} bytes" in SPEC["info"]["description"] and f"at most {JSON_DEPTH} levels" in SPEC["info"]["description"]


async def test_every_route_refuses_a_request_without_credentials(jp_fetch, runs):
    for path, item in SPEC["paths"].items():
        concrete = path.replace("{run_id}", runs[0]).replace("{name}.js", "clip_player.js").replace("{name}", "0" * 64 + ".mp4").lstrip("/")
        for method in item:
            status, _ = await call(jp_fetch, "explorer", *concrete.split("/"), method=method.upper(), headers=NO_TOKEN,
                                   body={} if method == "post" else None)
            assert status == 403, f"{method.upper()} {path} answered {status} without a token"


@pytest.fixture
def reviewer(jp_server_config):
    jp_server_config["ClipExplorer"]["author"] = "reviewer-ada"
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


async def test_the_rate_queue_puts_the_best_predicted_clip_first_once_the_taste_model_is_ready(jp_fetch, home, jp_root_dir):
    import itertools

    lab = open_server_log(home, jp_root_dir, "setup")
    cells = [(p, s) for p in ("slow drift", "fast zoom", "a still lake") for s in (1, 2, 3)][:7]
    made = [lab.generate(p, seed=s, frames=6, width=64, height=48, steps=2, fps=6, progress=False) for p, s in cells]
    motion = lab.metrics()["metric_motion"]
    for a, b in itertools.combinations(made, 2):  # 21 votes: the model is ready
        lab.vote(*((a, b) if motion[a.id] > motion[b.id] else (b, a)))
    lab.log.close()
    status, taste = await call(jp_fetch, "explorer", "api", "taste")  # fits now; the queue then finds the model current
    assert status == 200 and taste["votes"] == 21 and taste["ready"] and taste["weights"]["motion"] > 0
    queue = (await call(jp_fetch, "explorer", "api", "queue", "next"))[1]
    assert queue["remaining"] == 7 and queue["item"]["id"] == motion[[r.id for r in made]].idxmax()


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


# -- the log the server reads, and a log that does not exist yet ----------------------------------


async def test_a_missing_log_reads_empty_refuses_writes_and_is_never_created(reviewer, jp_fetch, jp_root_dir, home):
    if home.kind == "team":
        pytest.skip("a file log that does not exist yet; an empty team catalog is tested in test_team_log.py")
    path = jp_root_dir / "explorer.duckdb"
    status, log = await call(jp_fetch, "explorer", "api", "log")
    assert status == 200 and log == {"path": str(path.resolve()), "name": "explorer.duckdb", "exists": False,
                                     "runs": 0, "clips": 0, "ratings": 0, "votes": 0, "unrated": 0}
    empty = {("runs",): {"total": 0, "limit": 50, "offset": 0, "items": []}, ("tags",): [],
             ("queue", "next"): {"item": None, "pair": None, "remaining": 0},
             ("agreement",): {"star_alpha": None, "reviewers": [], "ratings": 0, "votes": 0},
             ("taste",): {"votes": 0, "star_pairs": 0, "ready": False}}
    for route, answer in empty.items():
        assert await call(jp_fetch, "explorer", "api", *route) == (200, answer), route
    status, battle = await call(jp_fetch, "explorer", "api", "queue", "next", params={"mode": "battle"})
    assert status == 200 and battle["pair"] is None
    status, board = await call(jp_fetch, "explorer", "api", "leaderboard")
    assert status == 200 and board["rows"] == [] and board["requested"] == "auto"
    assert (await call(jp_fetch, "explorer", "api", "changes"))[1] == {"version": "no-log"}
    for route, body in (("ratings", {"run_id": "abc", "score": 3}), ("votes", {"winner_id": "a", "loser_id": "b"}),
                        ("annotations", {"run_id": "abc", "text": "hi"})):
        status, error = await call(jp_fetch, "explorer", "api", route, method="POST", body=body)
        assert status == 404 and error["error"].startswith(f"no Clip Explorer log at {path.resolve()} yet; make clips first"), error
    assert (await call(jp_fetch, "explorer", "api", "runs", "abc"))[0] == 404
    assert not [p.name for p in jp_root_dir.iterdir() if p.name.startswith("explorer")]  # nothing created, not even a lock

    # a kernel makes the log later: the server picks it up on the next request, no restart
    lab = explorer.open(path, author="kernel")
    made = [lab.generate(f"a red fox {i}", seed=i, frames=4, width=32, height=32, steps=1, progress=False).id for i in range(2)]
    lab.rate(made[0], 4)
    lab.log.close()
    status, log = await call(jp_fetch, "explorer", "api", "log")
    assert status == 200 and log["exists"] and (log["runs"], log["clips"], log["ratings"], log["votes"], log["unrated"]) == (2, 2, 1, 0, 2)
    assert (await call(jp_fetch, "explorer", "api", "changes"))[1]["version"] != "no-log"
    assert (await call(jp_fetch, "explorer", "api", "ratings", method="POST", body={"run_id": made[0], "score": 5}))[0] == 201
    status, log = await call(jp_fetch, "explorer", "api", "log")
    assert (log["ratings"], log["unrated"]) == (2, 1)  # mine now; the kernel's rating was not mine


async def test_skipping_in_the_rate_queue_keeps_the_count(jp_fetch, runs):
    queue = (await call(jp_fetch, "explorer", "api", "queue", "next"))[1]
    assert queue["remaining"] == 4
    # what the panel asks while a clip is on screen (j, or a poll refreshing the count): the count stays 4
    for on_screen in runs:
        skipped = (await call(jp_fetch, "explorer", "api", "queue", "next", params={"after": on_screen}))[1]
        assert skipped["remaining"] == 4, on_screen
    await call(jp_fetch, "explorer", "api", "ratings", method="POST", body={"run_id": runs[0], "score": 3})
    after = (await call(jp_fetch, "explorer", "api", "queue", "next", params={"after": runs[1]}))[1]
    assert after["remaining"] == 3 and after["item"]["id"] == runs[2]
    for run_id in runs[2:]:
        await call(jp_fetch, "explorer", "api", "ratings", method="POST", body={"run_id": run_id, "score": 3})
    last = (await call(jp_fetch, "explorer", "api", "queue", "next", params={"after": runs[1]}))[1]
    assert last["remaining"] == 1 and last["item"]["id"] == runs[1]  # skipping the last one left shows it again


@pytest.fixture
def takes(home, jp_root_dir):
    """Two takes of one idea beside two unrelated clips."""
    lab = open_server_log(home, jp_root_dir, "setup")
    fast = dict(frames=4, width=32, height=32, steps=1, progress=False)
    foxes = [lab.generate("A red fox", seed=0, **fast).id, lab.generate("a red fox.", seed=1, **fast).id]
    loners = [lab.generate(p, **fast).id for p in ("a galaxy", "candy bubbles")]
    lab.log.close()
    return foxes, loners


async def test_battles_pair_takes_of_one_idea_then_say_a_pair_is_unrelated(jp_fetch, takes):
    foxes, loners = takes
    for _ in range(5):
        status, battle = await call(jp_fetch, "explorer", "api", "queue", "next", params={"mode": "battle"})
        assert status == 200 and {s["id"] for s in battle["pair"]} == set(foxes)
        assert battle["related"] is True and battle["reason"] == "same prompt"
    # skipped: not offered again at once (but it is the only related pair, so the next one says it is unrelated)
    skip = await call(jp_fetch, "explorer", "api", "queue", "next", params={"mode": "battle", "after": ",".join(foxes)})
    assert skip[1]["related"] is False and {s["id"] for s in skip[1]["pair"]} != set(foxes)
    await call(jp_fetch, "explorer", "api", "votes", method="POST", body={"winner_id": foxes[0], "loser_id": foxes[1]})
    status, battle = await call(jp_fetch, "explorer", "api", "queue", "next", params={"mode": "battle"})
    assert battle["related"] is False and battle["reason"] == "no more takes of the same idea; this pair is unrelated"
    assert {s["id"] for s in battle["pair"]} != set(foxes)  # a pair I judged is not offered again
    assert all(side["prompt"] == "" for side in battle["pair"])


async def test_leaderboard_defaults_to_a_grouping_that_shows_the_votes(jp_fetch, runs):
    for winner, loser in ((runs[0], runs[1]), (runs[0], runs[2]), (runs[3], runs[1])):
        await call(jp_fetch, "explorer", "api", "votes", method="POST", body={"winner_id": winner, "loser_id": loser})
    status, board = await call(jp_fetch, "explorer", "api", "leaderboard")
    assert status == 200 and board["requested"] == "auto" and board["by"] == "prompt"  # one model: the prompts differ
    assert board["rows"][0]["key"] == "sunset birds" and sum(r["votes"] for r in board["rows"]) == 6 and board["note"] == ""
    status, board = await call(jp_fetch, "explorer", "api", "leaderboard", params={"by": "model"})
    assert [r["votes"] for r in board["rows"]] == [0] and board["votes"] == {"total": 3, "within": 3, "outside": 0}
    assert board["note"].startswith("3 of 3 votes compare clips of the same model")
    status, board = await call(jp_fetch, "explorer", "api", "leaderboard", params={"by": "run"})
    assert status == 200 and board["rows"][0]["key"] == runs[0] and board["rows"][0]["label"].startswith("sunset birds · seed 0")
