"""The editor's HTTP routes, served by a real aiohttp server exactly as registered inside ComfyUI."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import sys

import numpy as np
import pytest
import torch
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from conftest import REPO_ROOT, load_pack
from edit_synthetic import synthetic_dance

PACK = load_pack()
routes_module = importlib.import_module(f"{PACK.__name__}.nodes.editor_routes")
editor_nodes = importlib.import_module(f"{PACK.__name__}.nodes.editor_nodes")
editor_cache = importlib.import_module(f"{PACK.__name__}.nodes.editor_cache")
analysis_module = importlib.import_module(f"{PACK.__name__}.choreo.music.analysis")
fingerprint = importlib.import_module(f"{PACK.__name__}.choreo.edit").fingerprint


def synthetic_music(num_frames: int, fps: float = 30.0):
    duration_s = num_frames / fps
    beats = np.arange(0.0, duration_s, 0.5)
    return analysis_module.MusicAnalysis(
        duration_s, fps, 120.0, np.full(num_frames, 120.0, np.float32), beats, beats[::4], 4,
        np.arange(len(beats)) % 4, np.zeros(num_frames, np.float32), np.linspace(0, 1, num_frames, dtype=np.float32),
        (analysis_module.Section(0.0, duration_s / 2, "A"), analysis_module.Section(duration_s / 2, duration_s, "B")))


def run_editor_node(node_id: str, num_frames: int = 60):
    pose = synthetic_dance(num_frames)
    audio = {"waveform": torch.sin(torch.linspace(0, 2000, 22050 * 2))[None, None], "sample_rate": 22050}
    image = torch.rand(1, 96, 64, 3)
    editor_nodes.ChoreoPoseKeyframeEditor().edit(pose, "{}", 6, music=synthetic_music(num_frames),
                                                 reference_image=image, audio=audio, unique_id=node_id)
    return pose


def serve(tmp_path, scenario):
    """Run ``scenario(client)`` against an app with the routes registered on a fresh RouteTableDef."""
    async def main():
        routes = web.RouteTableDef()
        routes_module.register(routes, tmp_path / "user_poses", REPO_ROOT / "assets" / "poses")
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app)) as client:
            return await scenario(client)
    return asyncio.run(main())


@pytest.fixture(autouse=True)
def empty_cache():
    editor_cache.clear()
    yield
    editor_cache.clear()


def test_the_editor_route_is_404_until_the_node_has_run(tmp_path):
    async def scenario(client):
        response = await client.get("/choreo/editor/7")
        return response.status, await response.json()
    status, body = serve(tmp_path, scenario)
    assert status == 404 and "Run the workflow once" in body["error"]


def test_after_a_run_the_editor_gets_the_dance_music_and_media(tmp_path):
    pose = run_editor_node("12:5")

    async def scenario(client):
        response = await client.get("/choreo/editor/12:5")
        body = await response.json()
        audio = await client.get(body["audio_url"])
        image = await client.get(body["image_url"])
        return response.status, body, audio.status, audio.content_type, await audio.read(), image.content_type
    status, body, audio_status, audio_type, wav, image_type = serve(tmp_path, scenario)
    assert status == 200 and body["node_id"] == "12:5" and body["num_frames"] == 60 and body["fps"] == 30.0
    assert (body["canvas_width"], body["canvas_height"]) == (512, 768)
    keypoints = np.frombuffer(base64.b64decode(body["keypoints"]), "<f4").reshape(60, 136, 3)
    np.testing.assert_array_equal(keypoints[..., :2], pose.keypoints_px)
    np.testing.assert_array_equal(keypoints[..., 2], pose.confidence)
    assert body["fingerprint"] == fingerprint(pose) and body["blend_frames"] == 6
    music = body["music"]
    assert music["beats_per_bar"] == 4 and music["beat_times_s"][:3] == [0.0, 0.5, 1.0]
    assert music["sections"][1]["label"] == "B" and 0 < len(music["waveform_peaks"]) <= 2000
    assert max(music["waveform_peaks"]) == 1.0
    assert audio_status == 200 and audio_type == "audio/wav" and wav[:4] == b"RIFF"
    assert image_type == "image/jpeg"


@pytest.mark.parametrize("node_id", ["abc", "1;2", "1.2", "1:", "-1", "9" * 70])
def test_node_ids_that_are_not_ids_are_refused(tmp_path, node_id):
    async def scenario(client):
        response = await client.get(f"/choreo/editor/{node_id}")
        return response.status, await response.json()
    status, body = serve(tmp_path, scenario)
    assert status == 400 and "not a node id" in body["error"]


def test_poses_are_listed_loaded_and_saved(tmp_path):
    keypoints = [[float(i), float(2 * i), 1.0] for i in range(136)]

    async def scenario(client):
        saved = await client.post("/choreo/poses", json={"name": "my pose", "canvas_width": 512,
                                                          "canvas_height": 768, "keypoints": keypoints})
        listing = await (await client.get("/choreo/poses")).json()
        loaded = await (await client.get("/choreo/poses/my pose")).json()
        starter = await (await client.get("/choreo/poses/arms_up")).json()
        missing = await client.get("/choreo/poses/ghost")
        return saved.status, await saved.json(), listing, loaded, starter, missing.status
    saved_status, saved, listing, loaded, starter, missing_status = serve(tmp_path, scenario)
    assert saved_status == 200 and saved == {"saved": "my pose"}
    assert {"name": "my pose", "source": "user", "frames": 1} in listing["poses"]
    assert {"name": "arms_up", "source": "starter", "frames": 1} in listing["poses"]
    assert loaded["keypoints"] == keypoints and loaded["canvas_width"] == 512
    assert len(starter["keypoints"]) == 136 and missing_status == 404


@pytest.mark.parametrize("name", ["../../etc/passwd", "/tmp/evil", "..\\..\\evil", "a.json"])
def test_path_traversal_names_are_refused_and_nothing_is_written(tmp_path, name):
    async def scenario(client):
        response = await client.post("/choreo/poses", json={"name": name, "canvas_width": 512, "canvas_height": 768,
                                                            "keypoints": [[0, 0, 1]] * 136})
        fetched = await client.get("/choreo/poses/" + name.replace("/", "%2F"))
        return response.status, await response.json(), fetched.status
    status, body, fetch_status = serve(tmp_path, scenario)
    assert status == 400 and "not allowed" in body["error"] and "Nothing was saved" in body["error"]
    assert fetch_status in (400, 404)
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_malformed_json_is_refused_without_losing_stored_poses(tmp_path):
    async def scenario(client):
        body = {"name": "keep", "canvas_width": 512, "canvas_height": 768, "keypoints": [[1, 2, 1]] * 136}
        first = await client.post("/choreo/poses", json=body)
        broken = await client.post("/choreo/poses", data=b'{"name": "keep", "keypoints": [[1, 2',
                                   headers={"Content-Type": "application/json"})
        wrong_shape = await client.post("/choreo/poses", json={**body, "keypoints": [[1, 2]], "overwrite": True})
        loaded = await (await client.get("/choreo/poses/keep")).json()
        return first.status, broken.status, await broken.json(), wrong_shape.status, loaded
    first, broken, broken_body, wrong_shape, loaded = serve(tmp_path, scenario)
    assert first == 200 and broken == 400 and "not valid JSON" in broken_body["error"] and wrong_shape == 400
    assert loaded["keypoints"] == [[1, 2, 1]] * 136


def test_overwrite_protection_for_user_and_starter_poses(tmp_path):
    async def scenario(client):
        body = {"name": "wave", "canvas_width": 512, "canvas_height": 768, "keypoints": [[1, 2, 1]] * 136}
        statuses = [(await client.post("/choreo/poses", json=body)).status]
        again = await client.post("/choreo/poses", json={**body, "keypoints": [[5, 5, 1]] * 136})
        statuses.append(again.status)
        statuses.append((await client.post("/choreo/poses", json={**body, "keypoints": [[5, 5, 1]] * 136,
                                                                  "overwrite": True})).status)
        starter = await client.post("/choreo/poses", json={**body, "name": "t_pose", "overwrite": True})
        statuses.append(starter.status)
        loaded = await (await client.get("/choreo/poses/wave")).json()
        return statuses, (await again.json())["error"], loaded
    statuses, message, loaded = serve(tmp_path, scenario)
    assert statuses == [200, 409, 200, 409] and "overwrite" in message
    assert loaded["keypoints"][0] == [5, 5, 1]
    assert json.loads((REPO_ROOT / "assets" / "poses" / "t_pose.json").read_text())["name"] == "t_pose"


def test_inside_comfyui_the_routes_go_on_the_prompt_server(monkeypatch, tmp_path):
    routes = web.RouteTableDef()
    server = type(sys)("server")
    server.PromptServer = type("PromptServer", (), {"instance": type("Instance", (), {"routes": routes})()})
    monkeypatch.setitem(sys.modules, "server", server)
    monkeypatch.setenv("CHOREO_OUTPUT_DIR", str(tmp_path))
    routes_module.register_with_comfyui()
    paths = {(route.method, route.path) for route in routes}
    assert {("GET", "/choreo/editor/{node_id}"), ("GET", "/choreo/editor/{node_id}/audio"),
            ("GET", "/choreo/editor/{node_id}/image"), ("GET", "/choreo/poses"), ("GET", "/choreo/poses/{name}"),
            ("POST", "/choreo/poses")} <= paths
