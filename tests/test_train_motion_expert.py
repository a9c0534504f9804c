"""The Motion Expert trainer: a 2-step run writes a loadable checkpoint, and resuming continues it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from choreo.datasets.windows import WindowSet
from choreo.errors import ChoreoError
from choreo.training.train_motion_expert import TrainOptions, parse_args, train

TINY = dict(latent_dim=16, ff_dim=32, num_layers=1, num_heads=2, music_encoder_layers=1, d_state=4,
            window_frames=30, stride_frames=15, batch=2, log_every=1, save_every=1, ema_decay=0.9)


def write_windows(run):
    """A tiny cached window set, so the test does not synthesise songs."""
    rng = np.random.default_rng(0)
    motion = np.zeros((3, 30, 151), np.float32)
    motion[:, :, 7:] = np.tile([1.0, 0, 0, 0, 1, 0], 24)
    motion[:, :, 4:7] = rng.normal(0, 0.1, (3, 30, 3)) + [0, 0, 0.9]
    windows = WindowSet(motion, rng.random((3, 30, 35)).astype(np.float32), np.array([0, 1, 0]), 30.0, ("a",) * 3)
    run.mkdir(parents=True)
    np.savez(run / "windows.npz", motion=windows.motion, music=windows.music, genre=windows.genre,
             fps=np.float64(30.0), names=np.asarray(windows.names), genre_names=np.asarray(["x", "y"]))


@pytest.mark.parametrize("family", ["mace", "edge"])
def test_two_steps_then_resume_to_three(tmp_path, family):
    from choreo.generators.motion_expert import load_motion_expert

    run = tmp_path / family
    write_windows(run)
    train(TrainOptions(family=family, data="synthetic:1", out=str(run), steps=2, **TINY))
    state = json.loads((run / "training_state" / "state.json").read_text())
    assert state["step"] == 2
    checkpoint = train(TrainOptions(family=family, data="synthetic:1", out=str(run), steps=3, **TINY))
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3] and all(np.isfinite(e["total"]) for e in log)
    expert = load_motion_expert(checkpoint)
    assert expert.family == family and expert.metadata["steps"] == 3 and expert.genres == ("x", "y")
    assert expert.metadata["genres_seen"] == ["x", "y"]


def test_cli_refuses_to_overwrite_a_run_without_resume(tmp_path):
    (tmp_path / "training_state").mkdir()
    (tmp_path / "training_state" / "state.json").write_text("{}")
    with pytest.raises(SystemExit):
        parse_args(["--family", "mace", "--data", "synthetic", "--out", str(tmp_path)])


def test_half_precision_export_halves_the_weights_and_loads_back(tmp_path):
    import torch
    from safetensors.torch import load_file

    from choreo.generators.motion_expert import load_motion_expert

    run = tmp_path / "edge"
    write_windows(run)
    checkpoint = train(TrainOptions(family="edge", data="synthetic:1", out=str(run), steps=1,
                                    export=str(tmp_path / "export"), export_dtype="float16", **TINY))
    full, half = load_file(checkpoint / "model.safetensors"), load_file(tmp_path / "export" / "model.safetensors")
    assert full.keys() == half.keys()
    for key, value in half.items():
        expected = torch.float32 if "normalizer" in key else torch.float16
        assert value.dtype == expected, key
        torch.testing.assert_close(value.float(), full[key].half().float() if "normalizer" not in key else full[key])
    expert = load_motion_expert(tmp_path / "export")
    assert next(expert.network.parameters()).dtype == torch.float32
    with pytest.raises(ChoreoError, match="export-dtype"):
        train(TrainOptions(family="edge", data="synthetic:1", out=str(run), steps=1, export_dtype="int8", **TINY))


def test_beat_aware_extractor_trains_on_the_beat_phase_and_is_recorded(tmp_path):
    from choreo.generators.motion_expert import load_motion_expert

    run = tmp_path / "edge_beats"
    checkpoint = train(TrainOptions(family="edge", data="synthetic:1", out=str(run), steps=1, clip_seconds=4.0,
                                    extractor="edge_librosa_beats", **TINY))
    with np.load(run / "windows.npz") as windows:
        phase = windows["music"][..., 35:]           # sin/cos of beat and bar phase after EDGE's 35 columns
    assert phase.shape[-1] == 4
    np.testing.assert_allclose(phase[..., 0] ** 2 + phase[..., 1] ** 2, 1.0, atol=1e-4)
    expert = load_motion_expert(checkpoint)
    assert expert.config.music_dim == 39 and expert.metadata["extractor"] == "edge_librosa_beats"
    with pytest.raises(ChoreoError, match="extractor"):
        train(TrainOptions(family="edge", data="synthetic:1", out=str(tmp_path / "x"), steps=1, extractor="mfcc",
                           **TINY))


def test_features_of_the_wrong_extractor_name_the_one_the_model_needs(tmp_path):
    from choreo.generators.motion_expert import generate_dance, load_motion_expert
    from choreo.music.features import MusicFeatures

    run = tmp_path / "edge"
    write_windows(run)
    expert = load_motion_expert(train(TrainOptions(family="edge", data="synthetic:1", out=str(run), steps=1,
                                                   **TINY)))
    wrong = MusicFeatures(values=np.zeros((30, 39), np.float32), fps=30.0, extractor="edge_librosa_beats",
                          columns=tuple(f"c{i}" for i in range(39)))
    with pytest.raises(ChoreoError, match="'edge_librosa', the one it was trained with"):
        generate_dance(expert, wrong, num_frames=30)


@pytest.mark.parametrize("family", ["mace", "edge"])
def test_music_in_motion_tokens_is_parsed_as_a_flag_trained_and_loaded(tmp_path, family):
    from choreo.generators.motion_expert import load_motion_expert

    base = ["--family", family, "--data", "synthetic", "--out", str(tmp_path / "cli")]
    assert parse_args(base + ["--music-in-motion-tokens", "1"]).music_in_motion_tokens is True
    assert parse_args(base + ["--music-in-motion-tokens", "0"]).music_in_motion_tokens is False
    assert parse_args(base).music_in_motion_tokens is False
    with pytest.raises(SystemExit):
        parse_args(base + ["--music-in-motion-tokens", "maybe"])
    run = tmp_path / family
    write_windows(run)
    expert = load_motion_expert(train(TrainOptions(family=family, data="synthetic:1", out=str(run), steps=1,
                                                   music_in_motion_tokens=True, **TINY)))
    assert expert.config.music_in_motion_tokens and expert.network.music_to_motion is not None
