"""The server extension through the Jupyter server's own test fixtures: auth, Range, and nothing served from outside the store."""

from __future__ import annotations

import hashlib
import os

import pytest
from tornado.httpclient import HTTPClientError

import explorer

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NO_TOKEN = {"Authorization": ""}


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"explorer": True}}}


@pytest.fixture
def clip(jp_root_dir):
    lab = explorer.open(jp_root_dir / "team.duckdb", author="ada")
    run = lab.generate("neon rain", frames=8, width=64, height=48, steps=2, progress=False)
    lab.log.close()
    return {"sha": run.sha256, "path": run.media, "log": str(jp_root_dir / "team.duckdb")}


async def status_of(fetch, *parts, **kwargs) -> int:
    try:
        response = await fetch(*parts, follow_redirects=False, **kwargs)
    except HTTPClientError as error:
        return error.code
    return response.code


async def test_media_by_hash_with_token(jp_fetch, clip):
    response = await jp_fetch("explorer", "media", f"{clip['sha']}.mp4", params={"log": clip["log"]})
    assert response.code == 200 and response.headers["Content-Type"] == "video/mp4"
    assert response.body == clip["path"].read_bytes()
    poster = await jp_fetch("explorer", "media", f"{clip['sha']}.poster.jpg", params={"log": "team.duckdb"})  # relative to the root
    assert poster.headers["Content-Type"] == "image/jpeg" and poster.body[:3] == b"\xff\xd8\xff"
    thumb = await jp_fetch("explorer", "media", f"{clip['sha']}.thumb.webp", params={"log": clip["log"]})
    assert thumb.headers["Content-Type"] == "image/webp"


async def test_range_requests_return_206_with_the_right_bytes(jp_fetch, clip):
    data = clip["path"].read_bytes()
    response = await jp_fetch("explorer", "media", f"{clip['sha']}.mp4", params={"log": clip["log"]}, headers={"Range": "bytes=100-199"})
    assert response.code == 206 and response.body == data[100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = await jp_fetch("explorer", "media", f"{clip['sha']}.mp4", params={"log": clip["log"]}, headers={"Range": "bytes=-50"})
    assert tail.code == 206 and tail.body == data[-50:]


async def test_every_route_needs_authentication(jp_fetch, clip):
    assert await status_of(jp_fetch, "explorer", "media", f"{clip['sha']}.mp4", params={"log": clip["log"]}, headers=NO_TOKEN) == 403
    assert await status_of(jp_fetch, "explorer", "static", "clip_player.js", headers=NO_TOKEN) == 403


@pytest.mark.parametrize("name", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "0" * 64 + ".exe", "abc.mp4", "0" * 64 + ".mp4"])
async def test_bad_or_unknown_names_are_404(jp_fetch, clip, name):
    assert await status_of(jp_fetch, "explorer", "media", name, params={"log": clip["log"]}) == 404


async def test_logs_outside_the_root_are_refused(jp_fetch, clip, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "other.duckdb"
    assert await status_of(jp_fetch, "explorer", "media", f"{clip['sha']}.mp4", params={"log": str(outside)}) == 403
    assert await status_of(jp_fetch, "explorer", "media", f"{clip['sha']}.mp4", params={"log": "../../etc/passwd"}) == 403


async def test_symlinks_out_of_the_store_are_refused(jp_fetch, clip, jp_root_dir, tmp_path_factory):
    secret = tmp_path_factory.mktemp("secret") / "secret.txt"
    secret.write_text("not for the browser")
    fake = hashlib.sha256(b"fake").hexdigest()
    link = jp_root_dir / "team-media" / fake[:2] / f"{fake}.mp4"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, link)
    assert await status_of(jp_fetch, "explorer", "media", f"{fake}.mp4", params={"log": clip["log"]}) == 403


async def test_widget_code_is_served(jp_fetch):
    response = await jp_fetch("explorer", "static", "clip_player.js", params={"v": "1"})
    body = response.body.decode()
    assert response.code == 200 and "javascript" in response.headers["Content-Type"]
    assert "function createPlayer" in body and "export default" in body and "max-age" in response.headers["Cache-Control"]
    assert await status_of(jp_fetch, "explorer", "static", "no_such_widget.js") == 404
