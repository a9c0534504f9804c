"""X-Dancer trainers: both stages run, resume exactly, fine-tune from a trained model, and learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from choreo.checkpoints import load_metadata
from choreo.datasets.pose_dataset import Clip, DatasetWriter
from choreo.generators.xdancer import generate_xdancer_motion, load_xdancer
from choreo.music.features import MusicFeatures
from choreo.pose.reference import default_reference_pose
from choreo.training.train_xdancer import (TrainSettings, TrainingError, finetune, generation_window, main,
                                           sample_windows, train_gpt, train_tokenizer)
from models.motion_gpt import MotionGPTConfig
from models.pose_vqvae import PoseVQVAEConfig

TOKENIZER = PoseVQVAEConfig(codebook_size=16, hidden=8, decoder_hidden=32, decoder_layers=1)
GPT = MotionGPTConfig(codebook_size=16, n_layer=1, n_head=2, n_embd=32, block_frames=8, music_dim=4,
                      num_music_context_tokens=2, motion_context_frames=2, dropout=0.0)
CONSTANT_LR = dict(warmup_steps=1, min_lr_fraction=1.0, log_every=1, save_every=2)


def write_dataset(folder, clips=3, frames=40, seed=0):
    """Clips of a body swinging its arms in time with a 4-d 'music' signal (no audio analysis needed)."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(folder, segment_frames=24, stride_frames=8)
    for index in range(clips):
        phase = np.arange(frames) / 5.0 + rng.uniform(0, 6)
        poses = np.zeros((frames, 60, 3), np.float32)
        poses[:, :, 0] = np.linspace(-1, 1, 60)[None] + 0.3 * np.sin(phase)[:, None] * (np.arange(60) % 2)
        poses[:, :, 1] = np.linspace(-2, 2, 60)[None]
        poses[:, :, 2] = 1.0
        music = np.stack([np.sin(phase), np.cos(phase), np.sin(2 * phase), rng.normal(size=frames)], 1)
        writer.add(Clip(f"clip{index}", "test", poses, music.astype(np.float32)))
    return writer.close()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("xdancer_data"))


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_two_stages_write_a_model_that_generates(data, tmp_path):
    (tmp_path / "tok.json").write_text(json.dumps({"codebook_size": 16, "hidden": 8, "decoder_hidden": 32,
                                                   "decoder_layers": 1}))
    assert main(["tokenizer", "--data", str(data), "--out", str(tmp_path / "model"), "--steps", "2",
                 "--batch-size", "16", "--config", str(tmp_path / "tok.json")]) == 0
    losses = train_gpt(data, tmp_path / "model", TrainSettings(steps=2, batch_size=2, lr=1e-3), GPT)
    assert np.isfinite(losses["total"])
    log = [json.loads(line) for line in (tmp_path / "model" / "training" / "gpt" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    metadata = load_metadata(tmp_path / "model" / "gpt")
    assert metadata["trained_steps"] == 2 and metadata["fps"] == 30.0 and metadata["window"] == 8
    models = load_xdancer(tmp_path / "model")
    features = MusicFeatures(np.random.default_rng(1).normal(size=(12, 4)).astype(np.float32), 30.0,
                             "edge_librosa", ("a", "b", "c", "d"))
    window, overlap = generation_window(GPT.block_frames)
    reference = default_reference_pose(160, 240)
    pose, tokens = generate_xdancer_motion(models, features, reference, seed=3, window=window, overlap=overlap)
    assert pose.num_frames == 12 and tokens.shape == (12, 5, 6) and (pose.canvas_width, pose.canvas_height) == (160, 240)


@pytest.mark.parametrize("stage", ["tokenizer", "gpt"])
def test_resuming_after_two_steps_ends_where_four_straight_steps_end(data, tmp_path, stage):
    def run(out, steps):
        settings = TrainSettings(steps=steps, batch_size=4 if stage == "gpt" else 16, lr=3e-3, **CONSTANT_LR)
        if stage == "tokenizer":
            return train_tokenizer(data, out, settings, TOKENIZER)
        return train_gpt(data, out, settings, GPT, tokenizer_dir=tmp_path / "tok" / "tokenizer")

    train_tokenizer(data, tmp_path / "tok", TrainSettings(steps=1, batch_size=16, lr=1e-3), TOKENIZER)
    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 2)
    resumed = run(tmp_path / "resumed", 4)
    assert resumed == straight
    a, b = weights(tmp_path / "straight" / stage), weights(tmp_path / "resumed" / stage)
    assert all(torch.equal(a[key], b[key]) for key in a)
    state = json.loads((tmp_path / "resumed" / "training" / stage / "state.json").read_text())
    assert state["step"] == 4


def test_finetune_starts_from_the_trained_model_and_keeps_its_tokenizer(data, tmp_path):
    base = tmp_path / "base"
    train_tokenizer(data, base, TrainSettings(steps=2, batch_size=16, lr=1e-3), TOKENIZER)
    train_gpt(data, base, TrainSettings(steps=2, batch_size=2, lr=1e-3), GPT)
    style = write_dataset(tmp_path / "style", clips=1, seed=5)
    finetune(base, style, tmp_path / "tuned", TrainSettings(steps=2, batch_size=2, lr=1e-6, warmup_steps=1))
    assert (base / "tokenizer" / "model.safetensors").read_bytes() == \
        (tmp_path / "tuned" / "tokenizer" / "model.safetensors").read_bytes()
    before, after = weights(base / "gpt"), weights(tmp_path / "tuned" / "gpt")
    assert max(float((before[key] - after[key]).abs().max()) for key in before) < 1e-4
    assert torch.equal(before["extra.music_mean"], after["extra.music_mean"])
    assert not all(torch.equal(before[key], after[key]) for key in before)


def test_gpt_overfits_a_tiny_dataset(tmp_path):
    data = write_dataset(tmp_path / "one", clips=1, frames=24)
    train_tokenizer(data, tmp_path / "m", TrainSettings(steps=20, batch_size=24, lr=3e-3, warmup_steps=1),
                    TOKENIZER)
    first = train_gpt(data, tmp_path / "m", TrainSettings(steps=1, batch_size=4, lr=3e-3, warmup_steps=1), GPT,
                      state_dir=tmp_path / "s1")
    last = train_gpt(data, tmp_path / "m2", TrainSettings(steps=40, batch_size=4, lr=3e-3, warmup_steps=1,
                                                          min_lr_fraction=1.0), GPT,
                     tokenizer_dir=tmp_path / "m" / "tokenizer")
    assert last["total"] < 0.35 * first["total"]


def test_window_sampler_places_context_like_a_long_generation():
    tokens = np.arange(40)[None, :, None].repeat(2, 0).repeat(3, 2)
    music = np.zeros((2, 40, 1), np.float32)
    idx, feats, context = sample_windows(np.random.default_rng(0), tokens, music, 16, 8, 2, True, overlap=2)
    starts = idx[:, 0, 0]
    assert np.all(starts >= 6) and np.all(idx[:, -1, 0] == starts + 7)
    assert np.all(context[:, 0, 0] == starts - 6) and np.all(context[:, 1, 0] == starts + 1)
    with pytest.raises(TrainingError, match="segment-frames"):
        sample_windows(np.random.default_rng(0), tokens[:, :10], music[:, :10], 1, 8, 2, True, overlap=2)
