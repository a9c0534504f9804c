"""M2PEnc trainer: batches from the samples, a checkpoint inference loads, resume equals an uninterrupted run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from choreo.datasets.m2penc_data import CONFIG_FILE, M2PEncSample, save_sample
from choreo.training.train_m2penc import music_normaliser, sample_batch, train_m2penc
from choreo.training.train_xdancer import TrainSettings
from models.m2penc import M2PEncConfig

TINY = M2PEncConfig(channels=(4, 8), attention_layers=1, num_heads=2, num_keypoints=18, groups=2)


def _sample(seed: int, num_frames: int = 12, grid: int = 8) -> M2PEncSample:
    rng = np.random.default_rng(seed)
    return M2PEncSample(music=rng.normal(size=(num_frames, 5)).astype(np.float32),
                        guidance=rng.integers(0, 255, (num_frames, 10, grid, grid), dtype=np.uint8),
                        keypoints_cells=rng.uniform(0, grid - 1, (num_frames, 18, 2)).astype(np.float32),
                        confidence=np.ones((num_frames, 18), np.float32), fps=15.0)


@pytest.fixture()
def data_dir(tmp_path):
    for split, seeds in (("train", (0, 1)), ("test", (2,))):
        (tmp_path / split).mkdir()
        for seed in seeds:
            save_sample(_sample(seed), tmp_path / split / f"dance{seed}.npz")
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"extractor": "edge_librosa", "feature_fps": 30.0}))
    return tmp_path


def test_a_batch_holds_normalised_music_guidance_in_0_1_and_heatmaps():
    samples = [_sample(0), _sample(1)]
    mean, std = music_normaliser(samples)
    batch = sample_batch(samples, 3, 6, mean, std, np.random.default_rng(0))
    assert batch.music.shape == (3, 6, 5) and batch.guidance.shape == (3, 6, 10, 8, 8)
    assert batch.heatmaps.shape == (3, 6, 18, 8, 8) and batch.heatmaps.max() <= 1.0
    assert 0.0 <= batch.guidance.min() and batch.guidance.max() <= 1.0
    assert abs(float(np.concatenate([s.music for s in samples]).mean(0)[0] - mean[0])) < 1e-6


def _settings(steps: int) -> TrainSettings:
    return TrainSettings(steps=steps, batch_size=2, lr=3e-3, warmup_steps=1, save_every=2, log_every=1)


def test_training_writes_a_checkpoint_that_loads_and_resuming_matches_one_run(data_dir, tmp_path, one_torch_thread):
    from safetensors.torch import load_file

    from choreo.generators.m2penc import load_m2penc

    whole = tmp_path / "whole"
    losses = train_m2penc(data_dir, whole, _settings(4), TINY, clip_frames=6)
    assert {"total", "guidance_l1", "heatmap_mse", "test_total"} <= set(losses)
    split = tmp_path / "split"
    train_m2penc(data_dir, split, _settings(2), TINY, clip_frames=6)
    train_m2penc(data_dir, split, _settings(4), TINY, clip_frames=6)
    a, b = load_file(str(whole / "m2penc" / "model.safetensors")), load_file(str(split / "m2penc" / "model.safetensors"))
    assert all(np.allclose(a[key].numpy(), b[key].numpy(), atol=1e-6) for key in a)
    model = load_m2penc(whole / "m2penc")
    assert model.config.grid == 8 and model.config.music_dim == 5 and model.clip_frames == 6
    assert model.extractor == "edge_librosa" and model.music_std.shape == (5,)


def test_training_loss_drops_on_two_dances(data_dir, tmp_path, one_torch_thread):
    losses = [train_m2penc(data_dir, tmp_path / "run", _settings(steps), TINY, clip_frames=6)["total"]
              for steps in (1, 30)]
    assert losses[1] < losses[0]
