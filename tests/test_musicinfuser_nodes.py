"""MusicInfuser nodes through the pack, and its bundled workflow run end to end on tiny weights."""

from __future__ import annotations

import importlib
import json
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from conftest import REPO_ROOT, click_track  # noqa: E402
from test_musicinfuser_checkpoint import (official_checkpoint, tiny_pipeline_folder, tiny_wav2vec2_folder,  # noqa: E402
                                          write_official)
from test_workflows import (WORKFLOW_DIR, expected_widget_values, node_definitions, run_prompt,  # noqa: E402
                            to_api_prompt, widget_inputs)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
WORKFLOW = WORKFLOW_DIR / "Choreo - MusicInfuser music to video (Mochi).json"


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.musicinfuser_nodes")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The workflow's default file names, with tiny weights in them."""
    root = tmp_path_factory.mktemp("models")
    tiny_pipeline_folder(root / "mochi-1-preview")
    tiny_wav2vec2_folder(root / "wav2vec2-base-960h")
    write_official(root / "musicinfuser.safetensors", official_checkpoint())
    return root


def test_nodes_follow_the_pack_conventions(nodes):
    for cls in (nodes.ChoreoLoadMusicInfuser, nodes.ChoreoMusicInfuserGenerate):
        assert cls.__name__.startswith("Choreo") and cls.CATEGORY.startswith("Choreo/")
        assert len(cls.DESCRIPTION) > 80
        spec = cls.INPUT_TYPES()
        for name, entry in {**spec["required"], **spec.get("optional", {})}.items():
            assert len(entry) == 2 and entry[1].get("tooltip"), name
    generate = nodes.ChoreoMusicInfuserGenerate.INPUT_TYPES()["required"]
    assert generate["frames"][1]["default"] == 145 and generate["steps"][1]["default"] == 64
    assert generate["cfg"][1]["default"] == 6.0
    assert (generate["width"][1]["default"], generate["height"][1]["default"]) == (848, 480)
    assert nodes.ChoreoMusicInfuserGenerate.RETURN_TYPES == ("IMAGE", "AUDIO")


def test_validation_names_the_missing_file_and_its_folder(nodes, model_dir, monkeypatch):
    monkeypatch.chdir(model_dir)
    loader = nodes.ChoreoLoadMusicInfuser
    assert loader.VALIDATE_INPUTS("diffusers folder", "mochi-1-preview", "x", "musicinfuser.safetensors",
                                  "wav2vec2-base-960h") is True
    message = loader.VALIDATE_INPUTS("diffusers folder", "mochi-1-preview", "x", "missing.safetensors",
                                     "wav2vec2-base-960h")
    assert "missing.safetensors" in message and "ComfyUI/models/loras" in message
    message = loader.VALIDATE_INPUTS("diffusers folder", "no-mochi", "x", "musicinfuser.safetensors",
                                     "wav2vec2-base-960h")
    assert "no-mochi" in message and "models/diffusers" in message
    message = loader.VALIDATE_INPUTS("single file transformer", "mochi-1-preview", "dit.safetensors",
                                     "musicinfuser.safetensors", "wav2vec2-base-960h")
    assert "dit.safetensors" in message and "models/diffusion_models" in message


def test_workflow_is_a_valid_graph_with_a_model_files_note(nodes, pack):
    workflow = json.loads(WORKFLOW.read_text())
    mapping = {**pack.NODE_CLASS_MAPPINGS, "ChoreoLoadMusicInfuser": nodes.ChoreoLoadMusicInfuser,
               "ChoreoMusicInfuserGenerate": nodes.ChoreoMusicInfuserGenerate}
    definitions = node_definitions(types.SimpleNamespace(NODE_CLASS_MAPPINGS=mapping))
    for node in workflow["nodes"]:
        assert node["type"] in definitions, node["type"]
        assert len(node["widgets_values"]) == expected_widget_values(node["type"], definitions[node["type"]])
    for _, source, slot, target, target_slot, kind in workflow["links"]:
        source_node = next(node for node in workflow["nodes"] if node["id"] == source)
        assert definitions[source_node["type"]]["output"][slot] == kind
    note = next(node for node in workflow["nodes"] if node["type"] == "Note")["widgets_values"][0]
    for needed in ("Model files", "models/diffusers/mochi-1-preview", "models/loras/musicinfuser.safetensors",
                   "models/choreo/wav2vec2/wav2vec2-base-960h", "1.44 GB"):
        assert needed in note
    thumbnail = WORKFLOW.with_suffix(".jpg")
    assert thumbnail.is_file() and thumbnail.stat().st_size < 60_000


def test_workflow_runs_end_to_end_on_tiny_weights(nodes, pack, model_dir, monkeypatch):
    monkeypatch.chdir(model_dir)  # outside ComfyUI, the default folder and file names resolve from here
    workflow = json.loads(WORKFLOW.read_text())
    mapping = {**pack.NODE_CLASS_MAPPINGS, "ChoreoLoadMusicInfuser": nodes.ChoreoLoadMusicInfuser,
               "ChoreoMusicInfuserGenerate": nodes.ChoreoMusicInfuserGenerate}
    namespace = types.SimpleNamespace(NODE_CLASS_MAPPINGS=mapping)
    prompt = to_api_prompt(workflow, node_definitions(namespace))
    generate = next(entry for entry in prompt.values() if entry["class_type"] == "ChoreoMusicInfuserGenerate")
    loader = next(entry for entry in prompt.values() if entry["class_type"] == "ChoreoLoadMusicInfuser")
    generate["inputs"].update(frames=0, steps=2, width=32, height=32)  # tiny: the music's length, 2 steps
    loader["inputs"].update(dtype="fp32")
    song = click_track(tempo_bpm=120.0, duration_s=0.7, sample_rate=22050)
    made = {}

    def create_video(images, audio, fps, bit_depth):
        made.update(images=images, audio=audio, fps=fps)
        return ("video",)

    fake_nodes = {"LoadAudio": lambda audio: ({"waveform": torch.from_numpy(np.stack([song, song]))[None],
                                               "sample_rate": 22050},),
                  "CreateVideo": create_video, "SaveVideo": lambda **_: ()}
    run_prompt(prompt, namespace, fake_nodes)
    assert tuple(made["images"].shape) == (19, 32, 32, 3)  # 6k + 1 frames within 0.7 s at 30 fps
    assert made["fps"] == 30.0
    waveform = made["audio"]["waveform"]
    assert waveform.shape == (1, 2, round(19 / 30 * 22050))  # the music ends with the picture
    assert [name for name, _ in widget_inputs(node_definitions(namespace)["ChoreoMusicInfuserGenerate"])] == [
        "prompt", "seed", "frames", "steps", "cfg", "width", "height"]
