"""M2PEnc inference: windows that cover the song, guidance on the caller's frame clock and canvas, keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from choreo.checkpoints import save_checkpoint
from choreo.errors import ChoreoError
from choreo.generators.m2penc import (encode_music, guidance_images, heatmap_keypoints, load_m2penc, music_for_model,
                                     resample_frames, window_starts)
from choreo.music.features import MusicFeatures
from models.m2penc import M2PEnc, M2PEncConfig

TINY = M2PEncConfig(music_dim=5, grid=8, channels=(4, 8), attention_layers=1, num_heads=2, num_keypoints=18,
                    groups=2, fps=15.0)


@pytest.fixture()
def checkpoint(tmp_path, one_torch_thread):
    torch.manual_seed(0)
    extra = {"music_mean": torch.zeros(5), "music_std": torch.ones(5)}
    metadata = {"extractor": "edge_librosa", "feature_fps": 30.0, "clip_frames": 6}
    return save_checkpoint(tmp_path / "m2penc", M2PEnc(TINY), TINY, extra=extra, metadata=metadata)


def test_windows_cover_every_frame_and_overlap():
    starts = window_starts(20, 6, 2)
    assert starts[0] == 0 and starts[-1] + 6 == 20
    assert all(later - earlier <= 4 for earlier, later in zip(starts, starts[1:]))
    assert window_starts(5, 6, 2) == [0]


def test_loading_twice_gives_the_cached_model(checkpoint):
    first = load_m2penc(checkpoint)
    assert load_m2penc(checkpoint) is first and first.fps == 15.0 and first.clip_frames == 6


def test_a_folder_without_config_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(ChoreoError, match="train_m2penc"):
        load_m2penc(tmp_path)


def test_a_long_song_is_encoded_in_windows_with_progress(checkpoint):
    model = load_m2penc(checkpoint)
    fractions = []
    guidance, heatmaps = encode_music(model, np.random.default_rng(0).normal(size=(17, 5)), overlap_frames=2,
                                      progress=fractions.append)
    assert guidance.shape == (17, 10, 8, 8) and heatmaps.shape == (17, 18, 8, 8)
    assert fractions[-1] == 1.0 and len(fractions) == len(window_starts(17, 6, 2))
    # a window alone gives the same maps where no other window reaches
    alone, _ = encode_music(model, np.random.default_rng(0).normal(size=(17, 5))[:6], overlap_frames=2)
    np.testing.assert_allclose(guidance[:4], alone[:4], atol=1e-5)


def test_an_interrupt_raised_by_progress_stops_encoding(checkpoint):
    def cancel(fraction):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_music(load_m2penc(checkpoint), np.zeros((20, 5)), progress=cancel)


def test_features_at_30_fps_are_pooled_to_the_encoders_15_and_other_extractors_refused(checkpoint):
    model = load_m2penc(checkpoint)
    features = MusicFeatures(np.ones((10, 5), np.float32), 30.0, "edge_librosa", tuple("abcde"))
    assert music_for_model(model, features).shape == (5, 5)
    with pytest.raises(ChoreoError, match="extractor"):
        music_for_model(model, MusicFeatures(np.ones((10, 5), np.float32), 30.0, "wav2vec2", tuple("abcde")))
    with pytest.raises(ChoreoError, match="too coarse"):
        music_for_model(model, MusicFeatures(np.ones((10, 5), np.float32), 10.0, "edge_librosa", tuple("abcde")))


def test_resampling_15_to_30_fps_interpolates_between_frames():
    values = np.array([0.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(resample_frames(values, 15.0, 6, 30.0), [0, 1, 2, 3, 4, 4])


def test_square_maps_are_centred_on_a_portrait_canvas_with_black_bands():
    guidance = np.ones((2, 10, 8, 8), np.float32)
    images = guidance_images(guidance, 15.0, 4, 30.0, width=16, height=24, chunk_frames=3)
    assert list(images) == ["depth", "normal", "semantic", "skeleton"]
    depth = images["depth"].numpy()
    assert depth.shape == (4, 24, 16, 3)
    assert depth[:, 4:20].min() == 1.0 and depth[:, :4].max() == 0.0 and depth[:, 20:].max() == 0.0


def test_heatmap_maxima_decode_to_canvas_pixels():
    heatmaps = np.zeros((1, 18, 8, 8), np.float32)
    heatmaps[0, :, 2, 5] = 1.0  # row 2, column 5 of an 8-cell map drawn 16 px wide, 4 px down a 16x24 canvas
    points, peak = heatmap_keypoints(heatmaps, width=16, height=24)
    np.testing.assert_allclose(points[0, 0], [5.5 * 2 - 0.5, 2.5 * 2 - 0.5 + 4])
    assert peak.shape == (1, 18) and peak[0, 0] == 1.0


def test_scaling_in_chunks_gives_the_same_images_as_in_one_go():
    guidance = np.random.default_rng(0).random((5, 10, 8, 8)).astype(np.float32)
    chunked = guidance_images(guidance, 15.0, 9, 30.0, width=20, height=16, chunk_frames=2)
    whole = guidance_images(guidance, 15.0, 9, 30.0, width=20, height=16, chunk_frames=100)
    for name in whole:
        np.testing.assert_array_equal(chunked[name].numpy(), whole[name].numpy())
