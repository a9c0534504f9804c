"""The M2PEnc/CHAMP workflows: guidance wired to CHAMP Render in order, song cut to the video, and both run.

CHAMP at full size needs its public weights and a GPU; here the graphs are checked link by link, the guidance half
runs on the CPU at a small size, and the whole graph runs through the pack on tiny random CHAMP weights written in
CHAMP's official layout (a few seconds on the CPU).
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
from models.champ import GUIDANCE_TYPES
from test_champ_nodes import install_tiny_champ
from test_champ_renderer import SIDE_PX
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


def _record(monkeypatch, cls, results: dict, key: str) -> None:
    """Keep what the node class returns in ``results[key]`` while the prompt runs."""
    original = getattr(cls, cls.FUNCTION)

    def keep(self, **kwargs):
        results[key] = original(self, **kwargs)
        return results[key]

    monkeypatch.setattr(cls, cls.FUNCTION, keep)


def _prompt(name: str, with_m2penc, monkeypatch, tmp_path, **small) -> tuple[dict, dict, dict]:
    """The workflow as an API prompt with the guidance node at ``small`` sizes, its fake inputs, and the song."""
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    shutil.copyfile(REPO_ROOT / "assets" / "demo_character_pose.json", input_dir / "choreo_demo_character_pose.json")
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(input_dir))
    workflow = _load(name)
    prompt = to_api_prompt(workflow, node_definitions(with_m2penc))
    prompt[str(_only(workflow, GUIDANCE_NODES[name])["id"])]["inputs"].update(small)
    song = {"waveform": torch.from_numpy(click_track(tempo_bpm=110.0, duration_s=4.0, sample_rate=22050))[None, None],
            "sample_rate": 22050}
    import cv2

    character = cv2.cvtColor(cv2.imread(str(REPO_ROOT / "assets" / "demo_character.png")), cv2.COLOR_BGR2RGB)
    picture = torch.from_numpy(cv2.resize(character, (64, 64), interpolation=cv2.INTER_AREA))[None] / 255.0
    fake_nodes = {"LoadAudio": lambda audio: (song,),
                  "LoadImage": lambda image, **_: (picture, torch.zeros(1, 64, 64))}
    return prompt, fake_nodes, song


def _run_guidance_half(name: str, with_m2penc, monkeypatch, tmp_path, **small) -> tuple:
    prompt, fake_nodes, _ = _prompt(name, with_m2penc, monkeypatch, tmp_path, **small)
    results = {}
    _record(monkeypatch, with_m2penc.NODE_CLASS_MAPPINGS[GUIDANCE_NODES[name]], results, "out")
    guidance_id = next(key for key, entry in prompt.items() if entry["class_type"] == GUIDANCE_NODES[name])
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


def _trim_audio(audio: dict, start_index: float, duration: float) -> tuple[dict]:
    """ComfyUI's TrimAudioDuration for a start >= 0: ``duration`` seconds from ``start_index``."""
    rate = audio["sample_rate"]
    start = round(start_index * rate)
    return ({"waveform": audio["waveform"][..., start:start + round(duration * rate)], "sample_rate": rate},)


@pytest.mark.parametrize("name", [
    pytest.param(M2PENC_CHAMP, marks=pytest.mark.skipif(not (DEMO / "model.safetensors").is_file(),
                                                        reason="demo checkpoint not built")),
    BODY_CHAMP])
def test_the_whole_workflow_renders_a_champ_video_on_tiny_weights(name, with_m2penc, monkeypatch, tmp_path,
                                                                   one_torch_thread):
    if name == BODY_CHAMP:
        pytest.importorskip("anny")
    champ_nodes = importlib.import_module(with_m2penc.NODE_CLASS_MAPPINGS["ChoreoLoadCHAMP"].__module__)
    assert champ_nodes.comfy_bridge.folder_paths is None  # outside ComfyUI: models_user/ in the working folder
    install_tiny_champ(tmp_path / "models_user", tmp_path / "scratch", guidance_types=GUIDANCE_TYPES)
    monkeypatch.chdir(tmp_path)
    frames = 6
    prompt, fake_nodes, song = _prompt(name, with_m2penc, monkeypatch, tmp_path, width=64, height=64,
                                       frame_count=frames)
    by_type = {entry["class_type"]: entry["inputs"] for entry in prompt.values()}
    by_type["ChoreoLoadCHAMP"].update(champ="champ", base_model="sd15", vae="vae-mse", image_encoder="clip-image",
                                      dtype="fp32")
    by_type["ChoreoCHAMPRender"].update(width=SIDE_PX, height=SIDE_PX, steps=2, cfg=2.0, segment_frames=4,
                                        overlap_frames=1)  # two segments: the second continues the first
    by_type["TrimAudioDuration"].update(duration=frames / 30.0)  # the workflow's rule: frame_count / 30 s
    results, made = {}, {}
    _record(monkeypatch, with_m2penc.NODE_CLASS_MAPPINGS[GUIDANCE_NODES[name]], results, "guidance")
    _record(monkeypatch, champ_nodes.ChoreoCHAMPRender, results, "render")
    fake_nodes.update(PreviewImage=lambda images: (), TrimAudioDuration=_trim_audio,
                      CreateVideo=lambda **inputs: made.update(inputs) or ("video",),
                      SaveVideo=lambda video, **_: made.update(saved=video) or ())
    run_prompt(prompt, with_m2penc, fake_nodes)

    (video,) = results["render"]
    assert video.shape == (frames, SIDE_PX, SIDE_PX, 3) and video.dtype == torch.float32
    assert bool(torch.isfinite(video).all()) and 0.0 <= float(video.min()) and float(video.max()) <= 1.0
    assert float(video.std()) > 0  # a picture, not a flat frame
    fps = results["guidance"][FPS_SLOT[GUIDANCE_NODES[name]]]
    assert fps == 30.0 and made["fps"] == fps and made["images"] is video and made["saved"] == "video"
    samples = round(frames / fps * song["sample_rate"])  # the song cut to the video's length
    assert made["audio"]["sample_rate"] == song["sample_rate"]
    assert torch.equal(made["audio"]["waveform"], song["waveform"][..., :samples])
