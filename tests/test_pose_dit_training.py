"""Pose DiT trainer (issue 14 item 5): both stages write a folder the generator loads, resume exactly, and the
autoencoder's latents come out at unit scale."""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from choreo.datasets.pose_dataset import Clip, DatasetWriter
from choreo.generators.pose_dit import generate_pose_dit, load_pose_dit
from choreo.music.features import MusicFeatures
from choreo.pose.reference import default_reference_pose
from choreo.training.train_pose_dit import DataOptions, TrainSettings, train_autoencoder, train_dit
from models.pose_dit import PoseDiTConfig
from models.pose_image_vae import PoseImageVAEConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OPTIONS = DataOptions(every=1, num_bins=32, sigma_bins=1.5)
VAE = PoseImageVAEConfig(block_out_channels=(8, 8, 8, 8))
DIT = PoseDiTConfig(latent_channels=48, latent_bins=4, music_dim=4, hidden=32, num_layers=1, num_heads=2,
                    rope_axes=(4, 6, 6))
SETTINGS = dict(warmup_steps=1, min_lr_fraction=1.0, log_every=1, save_every=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two clips of a body swinging its arms with a 4-d 'music' signal, cut into 32-frame segments."""
    rng = np.random.default_rng(0)
    writer = DatasetWriter(tmp_path_factory.mktemp("pose_dit_data"), segment_frames=32, stride_frames=16)
    for index in range(2):
        phase = np.arange(64) / 5.0 + rng.uniform(0, 6)
        poses = np.zeros((64, 60, 3), np.float32)
        poses[:, :18, 0] = np.linspace(-1, 1, 18)[None] + 0.3 * np.sin(phase)[:, None] * (np.arange(18) % 2)
        poses[:, :18, 1] = np.linspace(-2, 1.4, 18)[None]
        poses[:, :18, 2] = 1.0
        music = np.stack([np.sin(phase), np.cos(phase), np.sin(2 * phase), rng.normal(size=64)], 1)
        writer.add(Clip(f"clip{index}", "test", poses, music.astype(np.float32)))
    return writer.close()


def test_both_stages_write_a_model_that_generates_and_resume_to_the_same_weights(data, tmp_path):
    out = tmp_path / "model"
    train_autoencoder(data, out, TrainSettings(steps=2, batch_size=16, lr=1e-3, **SETTINGS), VAE, OPTIONS)
    losses = train_dit(data, out, TrainSettings(steps=2, batch_size=4, lr=1e-3, **SETTINGS), DIT, OPTIONS)
    assert np.isfinite(losses["total"])
    models = load_pose_dit(out)
    assert models.onehot.num_bins == 32 and models.segment_frames == 32 and models.music_extractor == "edge_librosa"
    assert models.autoencoder.config.scaling_factor != 1.0
    music = MusicFeatures(np.zeros((20, 4), np.float32), 30.0, "edge_librosa", ("a", "b", "c", "d"))
    assert generate_pose_dit(models, music, default_reference_pose(64, 96), num_inference_steps=2).num_frames == 20

    # two more steps on the same folders == four steps straight
    train_dit(data, out, TrainSettings(steps=4, batch_size=4, lr=1e-3, **SETTINGS), DIT, OPTIONS)
    straight = tmp_path / "straight"
    train_autoencoder(data, straight, TrainSettings(steps=2, batch_size=16, lr=1e-3, **SETTINGS), VAE, OPTIONS)
    train_dit(data, straight, TrainSettings(steps=4, batch_size=4, lr=1e-3, **SETTINGS), DIT, OPTIONS)
    resumed, whole = load_file(str(out / "dit" / "model.safetensors")), load_file(str(straight / "dit" /
                                                                                    "model.safetensors"))
    for name, value in whole.items():
        assert torch.allclose(resumed[name], value, atol=1e-6), name


def test_a_clean_latent_predicting_dit_trains_saves_its_objective_and_generates(data, tmp_path):
    out = tmp_path / "sample"
    train_autoencoder(data, out, TrainSettings(steps=1, batch_size=16, lr=1e-3, **SETTINGS), VAE, OPTIONS)
    sample = dataclasses.replace(DIT, prediction="sample")
    losses = train_dit(data, out, TrainSettings(steps=2, batch_size=4, lr=1e-3, **SETTINGS), sample, OPTIONS)
    assert np.isfinite(losses["total"])
    models = load_pose_dit(out)
    assert models.dit.config.prediction == "sample"
    music = MusicFeatures(np.zeros((20, 4), np.float32), 30.0, "edge_librosa", ("a", "b", "c", "d"))
    assert generate_pose_dit(models, music, default_reference_pose(64, 96), num_inference_steps=2).num_frames == 20


def test_the_dit_stage_needs_the_autoencoder_first(data, tmp_path):
    from choreo.training.train_xdancer import TrainingError

    with pytest.raises(TrainingError, match="run the autoencoder stage first"):
        train_dit(data, tmp_path / "empty", TrainSettings(steps=1, batch_size=2, lr=1e-3), DIT, OPTIONS)


def test_the_raw_coordinate_ablation_trains_without_an_autoencoder_and_keeps_edited_frames(data, tmp_path):
    out = tmp_path / "coordinates"
    losses = train_dit(data, out, TrainSettings(steps=2, batch_size=4, lr=1e-3, **SETTINGS), DIT, OPTIONS,
                       representation="coordinates")
    assert np.isfinite(losses["total"]) and not (out / "autoencoder").exists()
    models = load_pose_dit(out)
    assert models.representation == "coordinates" and models.autoencoder is None
    assert models.coordinate_stats.shape == (2, 54)                    # x, y, confidence of 18 body points
    assert models.dit.config.latent_channels == 54 and models.dit.config.latent_bins == 8
    assert models.coordinate_stats[1, 2] == pytest.approx(1e-3)        # confidence is constant in the data: floored
    music = MusicFeatures(np.zeros((40, 4), np.float32), 30.0, "edge_librosa", ("a", "b", "c", "d"))
    reference = default_reference_pose(64, 96)
    first = generate_pose_dit(models, music, reference, num_inference_steps=2)
    edited = generate_pose_dit(models, music, reference, seed=1, num_inference_steps=2, keep=first,
                               keep_frames=np.arange(10, 20))
    assert np.array_equal(edited.keypoints_px[10:20, :18], first.keypoints_px[10:20, :18])
    assert not np.allclose(edited.keypoints_px[25:, :18], first.keypoints_px[25:, :18])


def test_an_unknown_representation_is_refused(data, tmp_path):
    from choreo.training.train_xdancer import TrainingError

    with pytest.raises(TrainingError, match="'onehot' or 'coordinates'"):
        train_dit(data, tmp_path / "x", TrainSettings(steps=1, batch_size=2, lr=1e-3), DIT, OPTIONS,
                  representation="heatmaps")


def test_a_coordinate_checkpoint_without_its_statistics_is_refused_by_name(data, tmp_path):
    from safetensors.torch import save_file

    from choreo.checkpoints import CheckpointError

    out = tmp_path / "broken"
    train_dit(data, out, TrainSettings(steps=1, batch_size=2, lr=1e-3, **SETTINGS), DIT, OPTIONS,
              representation="coordinates")
    weights = load_file(str(out / "dit" / "model.safetensors"))
    save_file({key: value for key, value in weights.items() if "coordinate_stats" not in key},
              str(out / "dit" / "model.safetensors"))
    with pytest.raises(CheckpointError, match="holds no coordinate_stats; retrain it"):
        load_pose_dit(out)
