"""Beat-phase music features: exact phase on known beats, EDGE's columns kept, the analysis passed through the
core, the dance engine and the Music Features node."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile

from choreo.datasets.dance_engine import EngineConfig, build_dances
from choreo.datasets.pose_dataset import load_dataset
from choreo.errors import ChoreoError
from choreo.music.analysis import MusicAnalysis, Section
from choreo.music.analyze import analyze_music
from choreo.music.audio import Audio
from choreo.music.features import (EDGE_COLUMNS, EXTRACTORS, PHASE_COLUMNS, beat_phase_features,
                                   extract_music_features)
from conftest import click_track

FPS = 40.0  # a 0.5 s beat is 20 frames, so quarter and half beats fall on whole frames


def analysis_with(beats_s, downbeats_s, beats_per_bar=4, duration_s=4.0, fps=FPS, tempo_bpm=120.0) -> MusicAnalysis:
    """A hand-made analysis: only the beats, downbeats and meter matter to the phase."""
    frames = int(round(duration_s * fps))
    beats = np.asarray(beats_s, np.float64)
    downbeats = np.asarray(downbeats_s, np.float64)
    beat_in_bar = np.zeros(len(beats), np.int64)
    return MusicAnalysis(duration_s=duration_s, fps=fps, tempo_bpm=tempo_bpm,
                         tempo_curve_bpm=np.full(frames, tempo_bpm, np.float32), beat_times_s=beats,
                         downbeat_times_s=downbeats, beats_per_bar=beats_per_bar, beat_in_bar=beat_in_bar,
                         onset_strength=np.zeros(frames, np.float32), rms_energy=np.zeros(frames, np.float32),
                         sections=(Section(0.0, duration_s, "A"),))


def phases(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(beat phase, bar phase) in [0, 1) back from the sin/cos columns."""
    beat = np.arctan2(features[:, 0], features[:, 1]) / (2 * np.pi) % 1.0
    bar = np.arctan2(features[:, 2], features[:, 3]) / (2 * np.pi) % 1.0
    return beat, bar


def assert_phase(actual, expected, atol=1e-6):
    """Phases equal on the circle: 0.9999999 counts as 0."""
    distance = (np.asarray(actual) - np.asarray(expected)) % 1.0
    np.testing.assert_allclose(np.minimum(distance, 1 - distance), 0.0, atol=atol)


# Beats every 0.5 s (20 frames) from 0.5 s, the last interval 0.4 s (16 frames); bars of 4 from the first beat.
BEATS_S = [0.5, 1.0, 1.5, 2.0, 2.5, 2.9]
DOWNBEATS_S = [0.5, 2.5]


def test_beat_phase_is_zero_on_each_beat_and_half_mid_beat():
    features = beat_phase_features(analysis_with(BEATS_S, DOWNBEATS_S), 160)
    assert features.shape == (160, 4) and features.dtype == np.float32
    beat, _ = phases(features)
    on_beats = [20, 40, 60, 80, 100, 116]
    np.testing.assert_allclose(features[on_beats, :2], [[0.0, 1.0]] * 6, atol=1e-6)
    np.testing.assert_allclose(features[[30, 50, 70, 90], 1], -1.0, atol=1e-6)    # half-way: cos = -1
    np.testing.assert_allclose(features[[25, 45], 0], 1.0, atol=1e-6)             # a quarter: sin = 1
    assert_phase(beat[108], 0.5)                                                   # mid of the 16-frame beat
    assert np.all(np.diff(beat[20:39]) > 0)                                       # rising within a beat


def test_bar_phase_is_zero_on_downbeats_and_counts_beats_of_the_bar():
    _, bar = phases(beat_phase_features(analysis_with(BEATS_S, DOWNBEATS_S), 160))
    assert_phase(bar[[20, 100]], [0.0, 0.0])                                      # the downbeats
    assert_phase(bar[[40, 60, 80]], [0.25, 0.5, 0.75])                            # beats 2, 3, 4 of the bar
    assert_phase(bar[30], 0.125)                                                  # half-way through beat 1


def test_phase_is_extrapolated_with_the_nearest_beat_period_before_the_first_and_after_the_last_beat():
    beat, bar = phases(beat_phase_features(analysis_with(BEATS_S, DOWNBEATS_S), 160))
    assert_phase(beat[[0, 10, 15]], [0.0, 0.5, 0.75])                             # 20-frame period, beat at 0
    assert_phase(beat[[124, 132, 140, 148]], [0.5, 0.0, 0.5, 0.0])                # 16-frame period
    assert_phase(bar[10], 0.875)                                                  # half a beat before the bar
    assert_phase(bar[132], 0.5)                                                   # beat 6 = 2 beats into bar 2


def test_without_downbeats_a_bar_is_beats_per_bar_beats_from_the_first_beat():
    _, bar = phases(beat_phase_features(analysis_with(BEATS_S, [], beats_per_bar=3), 160))
    assert_phase(bar[[20, 40, 60, 80]], [0.0, 1 / 3, 2 / 3, 0.0])


def test_with_fewer_than_two_beats_the_period_comes_from_the_tempo():
    beat, bar = phases(beat_phase_features(analysis_with([1.0], [1.0], tempo_bpm=120.0), 160))
    assert_phase(beat[[40, 50, 60, 20]], [0.0, 0.5, 0.0, 0.0])
    assert_phase(bar[[40, 60, 80]], [0.0, 0.25, 0.5])
    beat, _ = phases(beat_phase_features(analysis_with([], [], tempo_bpm=60.0), 160))
    assert_phase(beat[[0, 20, 40]], [0.0, 0.5, 0.0])


@pytest.fixture(scope="module")
def clicks():
    """4 s of clicks at 120 BPM from 0 s (22.05 kHz) and its analysis at 40 fps."""
    audio = Audio.from_array(click_track(120.0, 4.0), 22050)
    return audio, analyze_music(audio, fps=FPS)


def test_edge_librosa_beats_is_edge_librosa_then_the_phase_of_the_given_analysis(clicks):
    audio, _ = clicks
    shifted = analysis_with([0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75], [0.25, 2.25])
    beats = extract_music_features(audio, fps=FPS, extractor="edge_librosa_beats", analysis=shifted)
    edge = extract_music_features(audio, fps=FPS, extractor="edge_librosa")
    assert "edge_librosa_beats" in EXTRACTORS and beats.extractor == "edge_librosa_beats"
    assert beats.values.shape == (edge.num_frames, 39) and beats.columns == EDGE_COLUMNS + PHASE_COLUMNS
    np.testing.assert_array_equal(beats.values[:, :35], edge.values)
    np.testing.assert_array_equal(beats.values[:, 35:], beat_phase_features(shifted, edge.num_frames))
    np.testing.assert_allclose(beats.values[[10, 30, 50], 36], 1.0, atol=1e-6)  # the given beats, not the clicks


def test_without_an_analysis_the_phase_follows_analyze_music(clicks):
    audio, analysis = clicks
    features = extract_music_features(audio, fps=FPS, extractor="edge_librosa_beats")
    np.testing.assert_array_equal(features.values[:, 35:], beat_phase_features(analysis, features.num_frames))
    beat, _ = phases(features.values[:, 35:])
    on_clicks = np.arange(20, 140, 20)  # the clicks every 0.5 s
    assert_phase(beat[on_clicks], np.zeros(len(on_clicks)), atol=0.1)  # within a tenth of a beat


def test_other_extractors_ignore_the_analysis(clicks):
    audio, analysis = clicks
    np.testing.assert_array_equal(extract_music_features(audio, fps=FPS, analysis=analysis).values,
                                  extract_music_features(audio, fps=FPS).values)


def test_an_analysis_of_other_audio_or_another_fps_is_refused(clicks):
    audio, analysis = clicks
    with pytest.raises(ChoreoError, match="at 40 fps but the features are asked at 30 fps"):
        extract_music_features(audio, fps=30.0, extractor="edge_librosa_beats", analysis=analysis)
    with pytest.raises(ChoreoError, match="belongs to other audio"):
        extract_music_features(audio, fps=FPS, extractor="edge_librosa_beats",
                               analysis=dataclasses.replace(analysis, duration_s=9.0))


def test_the_engine_stores_the_phase_of_the_labelled_beats_it_danced(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    (corpus / "labels").mkdir()
    soundfile.write(corpus / "audio" / "song-r0.wav", click_track(120.0, 6.0), 22050)
    beats_s = list(np.arange(0.1, 6.0, 0.5))  # labels 0.1 s (3 frames) after the clicks: not the tracker's beats
    (corpus / "labels" / "song-r0.json").write_text(json.dumps({"beats_s": beats_s, "downbeats_s": beats_s[::4]}))
    row = {"clip_id": "song-r0", "song_id": "song", "split": "validation", "source": "synthetic",
           "licence": "composed", "labels": "labels/song-r0.json", "audio": "audio/song-r0.wav"}
    (corpus / "manifest_validation.jsonl").write_text(json.dumps(row) + "\n")
    for split in ("train", "test"):
        (corpus / f"manifest_{split}.jsonl").write_text("")
    config = EngineConfig(music_corpora=(str(corpus),), dances_per_clip=1, clip_min_s=5.0, clip_max_s=10.0,
                          segment_frames=64, stride_frames=32, extractor="edge_librosa_beats")
    build_dances(tmp_path / "out", config)
    data = load_dataset(tmp_path / "out" / "xdancer" / "validation")
    assert data.info["music_extractor"] == "edge_librosa_beats" and data.music.shape[-1] == 39
    first = data.music[0]  # frames 0-63 of the clip
    np.testing.assert_allclose(first[[3, 18, 33, 48, 63], 36], 1.0, atol=1e-5)  # cos of the beat phase: labels
    np.testing.assert_allclose(first[[3, 63], 38], 1.0, atol=1e-5)              # downbeats at 0.1 s and 2.1 s


def test_the_music_features_node_passes_its_analysis_input_through(pack, clicks):
    nodes = pack.nodes.music_nodes
    optional = nodes.ChoreoMusicFeatures.INPUT_TYPES()["optional"]
    assert optional["analysis"][0] == pack.nodes.socket_types.MUSIC and optional["analysis"][1]["tooltip"]
    assert "edge_librosa_beats" in nodes.ChoreoMusicFeatures.INPUT_TYPES()["required"]["extractor"][0]
    import torch

    audio, _ = clicks
    comfy_audio = {"waveform": torch.from_numpy(audio.samples.copy())[None], "sample_rate": audio.sample_rate}
    analysis_module = pack.choreo.music.analysis
    shifted = analysis_module.MusicAnalysis(**{field.name: getattr(
        analysis_with([0.25, 0.75, 1.25], [0.25]), field.name) for field in dataclasses.fields(MusicAnalysis)})
    (features,) = nodes.ChoreoMusicFeatures().extract(comfy_audio, FPS, "edge_librosa_beats", analysis=shifted)
    assert features.values.shape[1] == 39
    np.testing.assert_allclose(features.values[[10, 30, 50, 70], 36], 1.0, atol=1e-6)
    (plain,) = nodes.ChoreoMusicFeatures().extract(comfy_audio, FPS, "edge_librosa_beats")
    assert not np.allclose(plain.values[:, 35:], features.values[:, 35:])  # a default analysis of the clicks


def test_the_pose_dit_trainer_takes_the_music_width_of_its_data(tmp_path, one_torch_thread):
    """The demo's DiT config says 35 columns; on 39-column (edge_librosa_beats) data the DiT reads 39."""
    from choreo.datasets.pose_dataset import Clip, DatasetWriter
    from choreo.generators.pose_dit import load_pose_dit
    from choreo.training.train_pose_dit import DataOptions, TrainSettings, train_autoencoder, train_dit
    from models.pose_dit import PoseDiTConfig
    from models.pose_image_vae import PoseImageVAEConfig

    writer = DatasetWriter(tmp_path / "data", segment_frames=32, stride_frames=16,
                           music_extractor="edge_librosa_beats")
    poses = np.zeros((48, 60, 3), np.float32)
    poses[:, :18, 0], poses[:, :18, 1], poses[:, :18, 2] = np.linspace(-1, 1, 18), np.linspace(-2, 1.4, 18), 1.0
    writer.add(Clip("clip", "test", poses, np.random.default_rng(0).normal(size=(48, 39)).astype(np.float32)))
    data = writer.close()
    options = DataOptions(every=1, num_bins=32, sigma_bins=1.5)
    settings = dict(warmup_steps=1, min_lr_fraction=1.0, log_every=1, save_every=1)
    train_autoencoder(data, tmp_path / "model", TrainSettings(steps=1, batch_size=8, lr=1e-3, **settings),
                      PoseImageVAEConfig(block_out_channels=(8, 8, 8, 8)), options)
    demo_width = PoseDiTConfig(latent_channels=48, latent_bins=4, music_dim=35, hidden=32, num_layers=1, num_heads=2,
                               rope_axes=(4, 6, 6))
    train_dit(data, tmp_path / "model", TrainSettings(steps=1, batch_size=2, lr=1e-3, **settings), demo_width, options)
    models = load_pose_dit(tmp_path / "model")
    assert models.dit.config.music_dim == 39 and models.music_extractor == "edge_librosa_beats"
    assert models.music_mean.shape == (39,)
