"""Pose DiT generation (issue 14 items 2, 4, 5): checkpoint round trip, seeds, segment stitching, exact in-painting,
the one-hot body box, and the trainer writing a loadable folder. Tiny random networks throughout."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from choreo.checkpoints import CheckpointError
from choreo.generators.pose_dit import (OVERLAP_FRAMES, PoseDiTInputError, PoseDiTModels, generate_pose_dit,
                                        load_pose_dit, normalised_to_onehot, onehot_to_normalised,
                                        parse_frame_ranges, save_pose_dit, segment_starts)
from choreo.music.features import MusicFeatures
from choreo.pose.onehot_image import OneHotConfig
from choreo.pose.reference import default_reference_pose
from models.pose_dit import PoseDiT, PoseDiTConfig
from models.pose_image_vae import PoseImageVAE, PoseImageVAEConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ONEHOT = OneHotConfig(num_bins=32, sigma_bins=1.5)
BOX = (-2.5, -2.75, 5.0)


def tiny_models(segment_frames: int = 32) -> PoseDiTModels:
    torch.manual_seed(0)
    autoencoder = PoseImageVAE(PoseImageVAEConfig(block_out_channels=(8, 8, 8, 8), scaling_factor=0.5)).eval()
    dit = PoseDiT(PoseDiTConfig(latent_channels=48, latent_bins=4, music_dim=5, hidden=32, num_layers=1,
                                num_heads=2, rope_axes=(4, 6, 6))).eval()
    return PoseDiTModels(autoencoder, dit, np.zeros(5, np.float32), np.ones(5, np.float32), 30.0, "edge_librosa",
                         segment_frames, ONEHOT, BOX)


def features(num_frames: int, seed: int = 0) -> MusicFeatures:
    values = np.random.default_rng(seed).standard_normal((num_frames, 5)).astype(np.float32)
    return MusicFeatures(values, 30.0, "edge_librosa", tuple(f"c{i}" for i in range(5)))


@pytest.fixture(scope="module")
def models():
    return tiny_models()


@pytest.fixture(scope="module")
def reference():
    return default_reference_pose(256, 384)


def test_body_frame_poses_survive_the_box_one_hot_round_trip_within_half_a_bin():
    rng = np.random.default_rng(1)
    poses = np.zeros((5, 60, 3), np.float32)
    poses[:, :18, 0] = rng.uniform(-2.0, 2.0, (5, 18))
    poses[:, :18, 1] = rng.uniform(-2.5, 2.0, (5, 18))
    poses[:, :18, 2] = 1.0
    image = normalised_to_onehot(poses, ONEHOT, BOX)
    assert image.shape == (36, 32, 5)
    back = onehot_to_normalised(image, ONEHOT, BOX)
    half_bin = 0.5 * BOX[2] / ONEHOT.num_bins
    assert np.abs(back[:, :18, :2] - poses[:, :18, :2]).max() <= half_bin + 1e-5
    assert (back[:, 18:, 2] == 0).all()


def test_segments_share_sixteen_frames_and_cover_the_song():
    assert segment_starts(100, 128) == [0]
    assert segment_starts(300, 128) == [0, 112, 224]
    with pytest.raises(PoseDiTInputError, match="cannot share"):
        segment_starts(300, OVERLAP_FRAMES)


def test_checkpoint_round_trip_loads_the_same_weights_once(tmp_path, models):
    folder = save_pose_dit(tmp_path / "tiny", models)
    loaded = load_pose_dit(folder)
    assert load_pose_dit(folder) is loaded  # one cached copy
    assert loaded.onehot == ONEHOT and loaded.body_box == BOX and loaded.segment_frames == 32
    assert loaded.autoencoder.config.scaling_factor == 0.5
    for name, value in models.dit.state_dict().items():
        assert torch.equal(loaded.dit.state_dict()[name], value), name
    metadata = json.loads((folder / "dit" / "config.json").read_text())["metadata"]
    assert metadata["music_extractor"] == "edge_librosa" and metadata["fps"] == 30.0


def test_a_folder_without_the_dit_is_refused_with_what_it_needs(tmp_path, models):
    folder = save_pose_dit(tmp_path / "broken", models)
    (folder / "dit" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="dit/model.safetensors is missing"):
        load_pose_dit(folder)


def test_same_seed_same_dance_other_seed_other_dance(models, reference):
    music = features(40)
    first = generate_pose_dit(models, music, reference, seed=3, num_inference_steps=3)
    again = generate_pose_dit(models, music, reference, seed=3, num_inference_steps=3)
    other = generate_pose_dit(models, music, reference, seed=4, num_inference_steps=3)
    assert first.num_frames == 40 and (first.canvas_width, first.canvas_height) == (256, 384)
    np.testing.assert_array_equal(first.keypoints_px, again.keypoints_px)
    assert not np.array_equal(first.keypoints_px, other.keypoints_px)
    assert (first.confidence[:, 18:] == 0).all() and "hand_left_keypoints_2d" in first.missing_parts


def test_long_song_goes_by_segments_and_reports_progress_to_the_end(models, reference):
    fractions = []
    seq = generate_pose_dit(models, features(70), reference, seed=0, num_inference_steps=2,
                            progress=fractions.append)
    assert seq.num_frames == 70 and len(segment_starts(70, 32)) == 4
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_interrupting_progress_stops_generation(models, reference):
    def interrupt(fraction):
        if fraction > 0.3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_pose_dit(models, features(70), reference, num_inference_steps=2, progress=interrupt)


def test_in_painting_keeps_the_kept_frames_exactly(models, reference):
    music = features(50)
    edited = generate_pose_dit(models, music, reference, seed=1, num_inference_steps=2)
    keep = np.zeros(50, bool)
    keep[[0, 1, 2, 20, 21, 45]] = True
    result = generate_pose_dit(models, music, reference, seed=2, num_inference_steps=2, keep=edited, keep_frames=keep)
    np.testing.assert_array_equal(result.keypoints_px[keep], edited.keypoints_px[keep])
    np.testing.assert_array_equal(result.confidence[keep], edited.confidence[keep])
    assert not np.array_equal(result.keypoints_px[~keep], edited.keypoints_px[~keep])


def test_joint_in_painting_copies_only_the_kept_joints(models, reference):
    music = features(24)
    edited = generate_pose_dit(models, music, reference, seed=1, num_inference_steps=2)
    result = generate_pose_dit(models, music, reference, seed=2, num_inference_steps=2, keep=edited,
                               keep_joints=[4, 7])
    np.testing.assert_array_equal(result.keypoints_px[:, [4, 7]], edited.keypoints_px[:, [4, 7]])
    assert not np.array_equal(result.keypoints_px[:, 0], edited.keypoints_px[:, 0])


def test_bad_inputs_say_what_to_do(models, reference):
    with pytest.raises(PoseDiTInputError, match="extract the features at 30 fps"):
        generate_pose_dit(models, MusicFeatures(np.zeros((10, 5), np.float32), 25.0, "edge_librosa", ()), reference)
    with pytest.raises(PoseDiTInputError, match="5-d music features"):
        generate_pose_dit(models, MusicFeatures(np.zeros((10, 7), np.float32), 30.0, "x", ()), reference)
    with pytest.raises(PoseDiTInputError, match="num_frames must be 1..10"):
        generate_pose_dit(models, features(10), reference, num_frames=11)
    with pytest.raises(PoseDiTInputError, match="pass keep="):
        generate_pose_dit(models, features(10), reference, keep_frames=[1])
    with pytest.raises(PoseDiTInputError, match="'N' or 'N-M'"):
        parse_frame_ranges("1-x")
    assert parse_frame_ranges(" 3, 0-1 ,3").tolist() == [0, 1, 3]


def test_a_sample_predicting_dit_is_read_as_the_clean_latents(monkeypatch, reference):
    """prediction="sample": the network's (guided) output is x0, so a network that always says Z ends at Z;
    read as noise, the same output would land elsewhere."""
    import choreo.generators.pose_dit as pose_dit

    base = tiny_models()
    clean = torch.randn(1, 48, 4, 4).clamp(-2, 2)
    decoded = []
    monkeypatch.setattr(pose_dit, "decode_poses", lambda models, latents, track: decoded.append(latents) or
                        np.zeros((1, 32, 60, 3), np.float32))
    for prediction in ("sample", "epsilon"):
        dit = PoseDiT(dataclasses.replace(base.dit.config, prediction=prediction)).eval()
        dit.forward = lambda noisy, *args, **kwargs: clean.expand(len(noisy), -1, -1, -1)
        models = dataclasses.replace(base, dit=dit)
        generate_pose_dit(models, features(32), reference, guidance_scale=3.0, num_inference_steps=4)
    assert torch.equal(decoded[0], clean)
    assert not torch.allclose(decoded[1], clean, atol=0.1)


def test_an_unknown_prediction_is_refused_in_code_and_in_a_checkpoint(tmp_path, models):
    with pytest.raises(ValueError, match="prediction"):
        PoseDiTConfig(prediction="velocity")
    folder = save_pose_dit(tmp_path / "edited", models)
    config_path = folder / "dit" / "config.json"
    document = json.loads(config_path.read_text())
    document["config"]["prediction"] = "velocity"
    config_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=r"config.json holds a PoseDiTConfig this version refuses: prediction"):
        load_pose_dit(folder)
