"""The M2PEnc/CHAMP workflows: guidance wired to CHAMP Render in order, song cut to the video, the guidance half runs.

CHAMP itself needs its public weights and a GPU; here the graphs are checked link by link and everything upstream of
CHAMP Render runs on the CPU at a small size.
"""

from __future__ import annotations

import importlib
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, click_track
from test_workflows import WORKFLOW_DIR, node_definitions, run_prompt, to_api_prompt, widget_inputs

PASSES = ("depth", "normal", "semantic", "skeleton")
M2PENC_CHAMP = "Choreo - M2PEnc music to CHAMP video.json"
BODY_CHAMP = "Choreo - Your dance as body passes to CHAMP.json"
GUIDANCE_NODES = {M2PENC_CHAMP: "ChoreoM2PEncEncode", BODY_CHAMP: "ChoreoRenderBodyPasses"}
FPS_SLOT = {"ChoreoM2PEncEncode": 5, "ChoreoRenderBodyPasses": 4}  # the "fps" output of each
DEMO = REPO_ROOT / "assets" / "checkpoints" / "m2penc" / "demo"


@pytest.fixture(scope="module")
def with_m2penc(pack):
    """The pack's nodes plus the M2PEnc ones (whether or not nodes/__init__.py registers them yet)."""
    nodes = importlib.import_module(f"{pack.__name__}.nodes.m2penc_nodes")
    mapping = {**pack.NODE_CLASS_MAPPINGS, "ChoreoLoadM2PEnc": nodes.ChoreoLoadM2PEnc,
               "ChoreoM2PEncEncode": nodes.ChoreoM2PEncEncode}
    return SimpleNamespace(NODE_CLASS_MAPPINGS=mapping)


def _load(name: str) -> dict:
    return json.loads((WORKFLOW_DIR / name).read_text())


def _only(workflow: dict, node_type: str) -> dict:
    (node,) = [node for node in workflow["nodes"] if node["type"] == node_type]
    return node


def _sources(workflow: dict) -> dict:
    nodes = {node["id"]: node for node in workflow["nodes"]}
    return {(link[3], nodes[link[3]]["inputs"][link[4]]["name"]): (nodes[link[1]]["type"], link[2])
            for link in workflow["links"]}


@pytest.mark.parametrize("name", sorted(GUIDANCE_NODES))
def test_champ_render_takes_the_four_passes_in_order_and_the_video_their_clock(name):
    workflow = _load(name)
    sources, guidance = _sources(workflow), GUIDANCE_NODES[name]
    render, video = _only(workflow, "ChoreoCHAMPRender"), _only(workflow, "CreateVideo")
    for slot, name_ in enumerate(PASSES):
        assert sources[(render["id"], name_)] == (guidance, slot)
    assert sources[(video["id"], "images")] == ("ChoreoCHAMPRender", 0)
    assert sources[(video["id"], "fps")] == (guidance, FPS_SLOT[guidance])
    assert sources[(video["id"], "audio")] == ("TrimAudioDuration", 0)


def _frame_count(workflow: dict, guidance: str, definitions: dict) -> int:
    node = _only(workflow, guidance)
    names = [name for name, _ in widget_inputs(definitions[guidance])]
    return node["widgets_values"][names.index("frame_count")]


@pytest.mark.parametrize("name", sorted(GUIDANCE_NODES))
def test_the_song_is_cut_to_the_frames_rendered(name, with_m2penc):
    workflow = _load(name)
    frames = _frame_count(workflow, GUIDANCE_NODES[name], node_definitions(with_m2penc))
    assert frames > 0
    assert _only(workflow, "TrimAudioDuration")["widgets_values"] == [0.0, pytest.approx(frames / 30.0)]


def _upstream(prompt: dict, node_id: str) -> dict:
    needed, stack = set(), [node_id]
    while stack:
        current = stack.pop()
        if current not in needed:
            needed.add(current)
            stack += [value[0] for value in prompt[current]["inputs"].values() if isinstance(value, list)]
    return {key: value for key, value in prompt.items() if key in needed}


def _run_guidance_half(name: str, with_m2penc, monkeypatch, tmp_path, **small) -> tuple:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    shutil.copyfile(REPO_ROOT / "assets" / "demo_character_pose.json", input_dir / "choreo_demo_character_pose.json")
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(input_dir))
    workflow = _load(name)
    prompt = to_api_prompt(workflow, node_definitions(with_m2penc))
    guidance_id = str(_only(workflow, GUIDANCE_NODES[name])["id"])
    prompt[guidance_id]["inputs"].update(small)
    song = click_track(tempo_bpm=110.0, duration_s=4.0, sample_rate=22050)
    import cv2

    character = cv2.cvtColor(cv2.imread(str(REPO_ROOT / "assets" / "demo_character.png")), cv2.COLOR_BGR2RGB)
    picture = torch.from_numpy(cv2.resize(character, (64, 64), interpolation=cv2.INTER_AREA))[None] / 255.0
    fake_nodes = {"LoadAudio": lambda audio: ({"waveform": torch.from_numpy(song)[None, None], "sample_rate": 22050},),
                  "LoadImage": lambda image, **_: (picture, torch.zeros(1, 64, 64))}
    cls = with_m2penc.NODE_CLASS_MAPPINGS[GUIDANCE_NODES[name]]
    results, original = {}, getattr(cls, cls.FUNCTION)

    def keep(self, **kwargs):
        results["out"] = original(self, **kwargs)
        return results["out"]

    monkeypatch.setattr(cls, cls.FUNCTION, keep)
    run_prompt(_upstream(prompt, guidance_id), with_m2penc, fake_nodes)
    return results["out"]


@pytest.mark.skipif(not (DEMO / "model.safetensors").is_file(), reason="demo checkpoint not built")
def test_m2penc_half_of_the_workflow_encodes_the_song_into_four_passes(with_m2penc, monkeypatch, tmp_path,
                                                                       one_torch_thread):
    *passes, pose, fps = _run_guidance_half(M2PENC_CHAMP, with_m2penc, monkeypatch, tmp_path, width=64,
                                            height=64, frame_count=20)
    assert fps == 30.0 and all(images.shape == (20, 64, 64, 3) for images in passes)
    assert all(float(images.max()) > 0.1 for images in passes)  # a body, not black frames


def test_choreographer_half_of_the_workflow_renders_body_passes(with_m2penc, monkeypatch, tmp_path, one_torch_thread):
    pytest.importorskip("anny")
    depth, normal, semantic, skeleton, fps, next_start = _run_guidance_half(
        BODY_CHAMP, with_m2penc, monkeypatch, tmp_path, width=64, height=64, frame_count=4)
    assert fps == 30.0 and next_start == 4
    assert all(images.shape == (4, 64, 64, 3) for images in (depth, normal, semantic, skeleton))
    assert float(np.asarray(depth).max()) > 0.2
