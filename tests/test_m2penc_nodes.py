"""M2PEnc nodes, loaded the way ComfyUI loads the pack: tooltips, the loader's choices, four IMAGE batches."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

DEMO = REPO_ROOT / "assets" / "checkpoints" / "m2penc" / "demo"


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.m2penc_nodes")


@pytest.fixture()
def tiny_checkpoint(pack, nodes, tmp_path, monkeypatch, one_torch_thread):
    """A tiny encoder in ComfyUI/models/choreo/m2penc/tiny (the user folder, redirected to tmp_path)."""
    checkpoints = importlib.import_module(f"{pack.__name__}.choreo.checkpoints")
    m2penc = importlib.import_module(f"{pack.__name__}.models.m2penc")
    config = m2penc.M2PEncConfig(music_dim=35, grid=8, channels=(4, 8), attention_layers=1, num_heads=2, groups=2)
    monkeypatch.setattr(nodes.comfy_bridge, "choreo_models_directory", lambda family: tmp_path / family)
    torch.manual_seed(0)
    checkpoints.save_checkpoint(tmp_path / "m2penc" / "tiny", m2penc.M2PEnc(config), config,
                                extra={"music_mean": torch.zeros(35), "music_std": torch.ones(35)},
                                metadata={"extractor": "edge_librosa", "feature_fps": 30.0, "clip_frames": 6})
    return "tiny"


def test_nodes_document_every_input_and_output(nodes):
    for cls in (nodes.ChoreoLoadM2PEnc, nodes.ChoreoM2PEncEncode):
        spec = cls.INPUT_TYPES()
        for name, entry in {**spec["required"], **spec.get("optional", {})}.items():
            assert entry[1].get("tooltip"), f"{cls.__name__}.{name}"
        assert len(cls.DESCRIPTION) > 40 and len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)
        assert cls.CATEGORY.startswith("Choreo/")


def test_outputs_are_named_like_render_body_passes_so_they_plug_into_champ_render(pack, nodes):
    body_nodes = importlib.import_module(f"{pack.__name__}.nodes.body_nodes")
    assert nodes.ChoreoM2PEncEncode.RETURN_NAMES[:4] == body_nodes.ChoreoRenderBodyPasses.RETURN_NAMES[:4]
    assert nodes.ChoreoM2PEncEncode.RETURN_TYPES[:4] == ("IMAGE",) * 4


def test_a_missing_checkpoint_fails_validation_with_the_folder_to_use(nodes, tiny_checkpoint):
    message = nodes.ChoreoLoadM2PEnc.VALIDATE_INPUTS("nowhere")
    assert isinstance(message, str) and "m2penc" in message
    assert nodes.ChoreoLoadM2PEnc.VALIDATE_INPUTS(tiny_checkpoint) is True


def test_encode_from_audio_gives_four_batches_and_a_pose_on_the_frame_clock(nodes, tiny_checkpoint):
    (model,) = nodes.ChoreoLoadM2PEnc().load(tiny_checkpoint)
    sample_rate = 22050
    clicks = np.zeros(sample_rate, np.float32)  # 1 s of clicks at 120 BPM
    clicks[::sample_rate // 2] = 1.0
    audio = {"waveform": torch.from_numpy(clicks)[None, None], "sample_rate": sample_rate}
    *passes, pose, fps = nodes.ChoreoM2PEncEncode().encode(model, 64, 96, 30.0, 0, 2, 1.0, audio=audio)
    assert fps == 30.0 and len(passes) == 4
    for images in passes:
        assert images.shape == (30, 96, 64, 3) and images.dtype == torch.float32
        assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert float(passes[0][:, :16].abs().max()) == 0.0  # the square maps sit between black bands
    assert pose.keypoints_px.shape == (30, 136, 2) and pose.canvas_height == 96


def test_encode_without_music_says_what_to_connect(nodes, tiny_checkpoint):
    (model,) = nodes.ChoreoLoadM2PEnc().load(tiny_checkpoint)
    with pytest.raises(ValueError, match="audio"):
        nodes.ChoreoM2PEncEncode().encode(model, 64, 64, 30.0, 0, 2, 1.0)


def test_encode_refuses_batches_over_the_memory_limit(pack, nodes, tiny_checkpoint):
    frame_range = importlib.import_module(f"{pack.__name__}.choreo.render.frame_range")
    features = importlib.import_module(f"{pack.__name__}.choreo.music.features")
    music = features.MusicFeatures(np.zeros((60, 35), np.float32), 30.0, "edge_librosa", tuple(map(str, range(35))))
    (model,) = nodes.ChoreoLoadM2PEnc().load(tiny_checkpoint)
    with pytest.raises(frame_range.BatchTooLargeError, match="GiB"):
        nodes.ChoreoM2PEncEncode().encode(model, 4096, 4096, 30.0, 0, 2, 0.1, music_features=music)


@pytest.mark.skipif(not (DEMO / "model.safetensors").is_file(), reason="demo checkpoint not built")
def test_the_bundled_demo_is_offered_and_loads(nodes):
    assert "bundled/demo" in nodes.ChoreoLoadM2PEnc.INPUT_TYPES()["required"]["checkpoint"][0]
    (model,) = nodes.ChoreoLoadM2PEnc().load("bundled/demo")
    assert model.fps == 15.0 and model.config.grid == 32
