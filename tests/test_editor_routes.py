"""The editor's HTTP routes, served by a real aiohttp server exactly as registered inside ComfyUI."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import re
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


POSE_BODY = {"name": "p", "canvas_width": 512, "canvas_height": 768, "keypoints": [[1, 2, 1]] * 136}


def test_deeply_nested_json_is_a_400_with_a_clear_message_not_a_server_error(tmp_path):
    nested = b"[" * 100_000 + b"]" * 100_000

    async def scenario(client):
        response = await client.post("/choreo/poses", data=nested, headers={"Content-Type": "application/json"})
        inner = await client.post("/choreo/poses", json={**POSE_BODY, "keypoints": json.loads("[" * 500 + "]" * 500)})
        return response.status, await response.json(), inner.status
    status, body, inner_status = serve(tmp_path, scenario)
    assert status == 400 and "nests JSON" in body["error"] and "Nothing was saved" in body["error"]
    assert inner_status == 400
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_a_body_over_the_size_limit_is_refused_with_413_even_without_a_content_length(tmp_path, monkeypatch):
    monkeypatch.setattr(routes_module, "MAX_BODY_BYTES", 4096)

    async def chunks():
        for _ in range(8):
            yield b" " * 1024

    async def scenario(client):
        declared = await client.post("/choreo/poses", data=b" " * 5000 + json.dumps(POSE_BODY).encode())
        streamed = await client.post("/choreo/poses", data=chunks())  # chunked: no Content-Length
        small = await client.post("/choreo/poses", json={**POSE_BODY, "keypoints": [[1, 2, 1]] * 136})
        return declared.status, await declared.json(), streamed.status, small.status
    declared, body, streamed, small = serve(tmp_path, scenario)
    assert declared == 413 and "at most 4096" in body["error"] and streamed == 413
    assert small == 200


def test_the_user_library_holds_at_most_max_user_poses_but_existing_ones_can_be_overwritten(tmp_path, monkeypatch):
    monkeypatch.setattr(routes_module, "MAX_USER_POSES", 3)

    async def scenario(client):
        statuses = [(await client.post("/choreo/poses", json={**POSE_BODY, "name": f"p{i}"})).status
                    for i in range(3)]
        full = await client.post("/choreo/poses", json={**POSE_BODY, "name": "p3"})
        again = await client.post("/choreo/poses", json={**POSE_BODY, "name": "p1", "overwrite": True})
        return statuses, full.status, await full.json(), again.status
    statuses, full, body, again = serve(tmp_path, scenario)
    assert statuses == [200, 200, 200] and full == 400 and "library is full (3 of 3" in body["error"]
    assert again == 200 and len(list((tmp_path / "user_poses").glob("*.json"))) == 3


def test_a_pose_larger_than_max_pose_bytes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(routes_module, "MAX_POSE_BYTES", 20_000)

    async def scenario(client):
        move = await client.post("/choreo/poses", json={**POSE_BODY, "keypoints": [[[1.5, 2.5, 1]] * 136] * 10})
        one = await client.post("/choreo/poses", json={**POSE_BODY, "name": "one"})
        return move.status, await move.json(), one.status
    status, body, one = serve(tmp_path, scenario)
    assert status == 400 and "a library entry may take 20000" in body["error"] and one == 200


@pytest.mark.parametrize("name", ["CON", "con", "Prn", "aux", "NUL", "com1", "COM9", "lpt1", "LPT9", "nul.txt",
                                  "CON.json", "pose ", " pose", "pose.", "aux "])
def test_windows_reserved_names_and_trailing_spaces_or_dots_are_refused(tmp_path, name):
    async def scenario(client):
        response = await client.post("/choreo/poses", json={**POSE_BODY, "name": name})
        fetched = await client.get(f"/choreo/poses/{name}")
        return response.status, await response.json(), fetched.status
    status, body, fetched = serve(tmp_path, scenario)
    assert status == 400 and "not allowed" in body["error"] and fetched == 400
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


@pytest.mark.parametrize("name", ["console", "COM10", "lpt", "my con", "nullify"])
def test_names_that_merely_contain_a_device_name_are_allowed(tmp_path, name):
    async def scenario(client):
        return (await client.post("/choreo/poses", json={**POSE_BODY, "name": name})).status
    assert serve(tmp_path, scenario) == 200


def test_two_workflows_with_the_same_node_id_each_open_their_own_dance(tmp_path):
    first, second = synthetic_dance(40), synthetic_dance(50, seed=4)
    node = editor_nodes.ChoreoPoseKeyframeEditor()
    node.edit(first, "{}", 6, unique_id="5", extra_pnginfo={"workflow": {"id": "wf-a"}})
    node.edit(second, "{}", 6, unique_id="5", extra_pnginfo={"workflow": {"id": "wf-b"}},
              audio={"waveform": torch.zeros(1, 1, 4410), "sample_rate": 22050})

    async def scenario(client):
        a = await (await client.get("/choreo/editor/5?workflow=wf-a")).json()
        b = await (await client.get("/choreo/editor/5?workflow=wf-b")).json()
        other = await client.get("/choreo/editor/5?workflow=wf-c")
        bad = await client.get("/choreo/editor/5?workflow=../x")
        latest = await (await client.get("/choreo/editor/5")).json()
        audio = await client.get(b["audio_url"])
        return a, b, other.status, bad.status, latest, b["audio_url"], audio.status
    a, b, other, bad, latest, audio_url, audio_status = serve(tmp_path, scenario)
    assert a["num_frames"] == 40 and b["num_frames"] == 50 and a["workflow_id"] == "wf-a"
    assert other == 404 and bad == 400
    assert latest["num_frames"] == 50  # no workflow id: the node id's most recent run
    assert audio_url == "/choreo/editor/5/audio?workflow=wf-b" and audio_status == 200


def test_a_node_inside_a_subgraph_is_found_under_its_executed_id(tmp_path):
    node = editor_nodes.ChoreoPoseKeyframeEditor()
    out = node.edit(synthetic_dance(30), "{}", 6, unique_id="12:5", extra_pnginfo={"workflow": {"id": "wf-a"}})
    assert out["ui"]["choreo_editor"][0]["node_id"] == "12:5"
    assert out["ui"]["choreo_editor"][0]["workflow_id"] == "wf-a"

    async def scenario(client):
        inner = await client.get("/choreo/editor/12:5?workflow=wf-a")
        local = await client.get("/choreo/editor/5?workflow=wf-a")
        return inner.status, (await inner.json())["node_id"], local.status
    assert serve(tmp_path, scenario) == (200, "12:5", 404)
    assert editor_cache.lookup("12:5", "wf-a") is not None and editor_cache.lookup("5", "wf-a") is None


def js_rgb(text: str, name: str) -> list:
    """The RGB literal assigned to ``name`` in palette.js: one triple, or a list of triples."""
    literal = re.search(rf"export const {name} = (\[[^;]*\]);", text).group(1)
    return json.loads(re.sub(r",\s*\]", "]", literal))


def test_the_editor_and_the_music_preview_speak_one_colour_language():
    preview_module = importlib.import_module(f"{PACK.__name__}.choreo.music.preview")
    palette = (REPO_ROOT / "web" / "js" / "editor" / "palette.js").read_text()
    assert js_rgb(palette, "DOWNBEAT_RGB") == list(preview_module.DOWNBEAT_COLOUR)
    assert js_rgb(palette, "BEAT_RGB") == list(preview_module.BEAT_COLOUR)
    assert js_rgb(palette, "WAVEFORM_RGB") == list(preview_module.WAVEFORM_COLOUR)
    assert js_rgb(palette, "SECTION_RGB") == [list(c) for c in preview_module.SECTION_COLOURS]


def test_the_music_preview_draws_downbeats_and_beats_in_the_shared_colours():
    preview_module = importlib.import_module(f"{PACK.__name__}.choreo.music.preview")
    audio_module = importlib.import_module(f"{PACK.__name__}.choreo.music.audio")
    music = synthetic_music(120)  # 4 s, a beat every 0.5 s, a downbeat every 2 s
    audio = audio_module.Audio(np.zeros((1, 22050 * 4), np.float32), 22050)
    image = preview_module.draw_analysis_preview(audio, music, width=400, height=120)
    downbeat_x, beat_x = int(2.0 * 100), int(2.5 * 100)  # 100 px per second
    column = image[30:90, downbeat_x]
    assert (column == preview_module.DOWNBEAT_COLOUR).all(axis=-1).sum() > 40
    assert (image[:, beat_x] == preview_module.BEAT_COLOUR).all(axis=-1).sum() > 5
    assert not ((image == (255, 90, 70)).all(axis=-1)).any()  # the old red downbeats are gone
