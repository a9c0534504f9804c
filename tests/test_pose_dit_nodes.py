"""Pose DiT nodes through the pack as ComfyUI loads it: user folders are listed, a model loads and generates,
in-painting keeps the listed frames, and the bundled demo dances when present."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from conftest import REPO_ROOT

DEMO = REPO_ROOT / "assets" / "checkpoints" / "pose_dit" / "demo"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pnodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.pose_dit_nodes")


@pytest.fixture
def user_model(pack, tmp_path, monkeypatch):
    """A tiny random model saved as ComfyUI/models/choreo/pose_dit/tiny (./models_user outside ComfyUI)."""
    import torch

    monkeypatch.chdir(tmp_path)
    generator = importlib.import_module(f"{pack.__name__}.choreo.generators.pose_dit")
    onehot = importlib.import_module(f"{pack.__name__}.choreo.pose.onehot_image").OneHotConfig(num_bins=32)
    vae = importlib.import_module(f"{pack.__name__}.models.pose_image_vae")
    dit = importlib.import_module(f"{pack.__name__}.models.pose_dit")
    torch.manual_seed(0)
    models = generator.PoseDiTModels(
        vae.PoseImageVAE(vae.PoseImageVAEConfig(block_out_channels=(8, 8, 8, 8))).eval(),
        dit.PoseDiT(dit.PoseDiTConfig(latent_channels=48, latent_bins=4, hidden=32, num_layers=1, num_heads=2,
                                      rope_axes=(4, 6, 6))).eval(),
        np.zeros(35, np.float32), np.ones(35, np.float32), 30.0, "edge_librosa", 32, onehot, generator.DEFAULT_BODY_BOX)
    generator.save_pose_dit(tmp_path / "models_user" / "choreo" / "pose_dit" / "tiny", models)
    return "tiny"


def test_nodes_document_every_input(pnodes):
    for cls in (pnodes.ChoreoLoadPoseDiT, pnodes.ChoreoPoseDiTGenerate):
        spec = cls.INPUT_TYPES()
        for name, entry in {**spec["required"], **spec.get("optional", {})}.items():
            assert entry[1].get("tooltip"), f"{cls.__name__}.{name}"
        assert len(cls.DESCRIPTION) > 40 and len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)
        assert cls.CATEGORY.startswith("Choreo/")


def test_user_folder_is_listed_loaded_and_generates_with_kept_frames(pnodes, click_song, user_model):
    features, music, reference = click_song
    names = pnodes.ChoreoLoadPoseDiT.INPUT_TYPES()["required"]["checkpoint"][0]
    assert names[0] == pnodes.DEMO_NAME and user_model in names
    assert pnodes.ChoreoLoadPoseDiT.VALIDATE_INPUTS(user_model) is True
    assert "was not found" in pnodes.ChoreoLoadPoseDiT.VALIDATE_INPUTS("nope")
    (model,) = pnodes.ChoreoLoadPoseDiT().load(user_model)
    generate = pnodes.ChoreoPoseDiTGenerate()
    (pose,) = generate.generate(model, features, reference, seed=1, cfg=2.0, steps=2, length_frames=0, music=music)
    assert pose.num_frames == min(music.num_frames, features.num_frames) and pose.fps == 30.0
    assert (pose.canvas_width, pose.canvas_height) == (256, 384)
    (short,) = generate.generate(model, features, reference, seed=1, cfg=2.0, steps=2, length_frames=20)
    assert short.num_frames == 20
    (kept,) = generate.generate(model, features, reference, seed=2, cfg=2.0, steps=2, length_frames=40,
                                keep_pose=pose, keep_frames="0-4, 30")
    frames = [0, 1, 2, 3, 4, 30]
    np.testing.assert_array_equal(kept.keypoints_px[frames], pose.keypoints_px[frames])


@pytest.mark.skipif(not (DEMO / "dit" / "model.safetensors").is_file(), reason="demo checkpoint not built")
def test_bundled_demo_dances_two_seconds(pnodes, click_song, click_song_features):
    _, music, reference = click_song
    (model,) = pnodes.ChoreoLoadPoseDiT().load(pnodes.DEMO_NAME)
    features = click_song_features(model.music_extractor)
    (pose,) = pnodes.ChoreoPoseDiTGenerate().generate(model, features, reference, seed=0, cfg=2.0, steps=10,
                                                      length_frames=0, music=music)
    body = pose.keypoints_px[:, :18]
    assert np.isfinite(body).all() and pose.confidence[:, :18].mean() > 0.5
    assert np.linalg.norm(np.diff(body, axis=0), axis=-1).mean() > 0.1  # it moves
