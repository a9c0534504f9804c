"""M2PEnc training data (SDGPip on the engine): frame clocks, pooling, heatmaps, files, and a tiny rendered dance."""

from __future__ import annotations

import numpy as np
import pytest

from choreo.datasets.m2penc_data import (M2PEncDataConfig, M2PEncSample, area_downsample, guidance_frames,
                                         keypoint_heatmaps, load_sample, pixels_to_cells, pool_to_fps, render_sample,
                                         save_sample, _interleaved_by_song)
from choreo.errors import ChoreoError
from choreo.motion.motion3d import Motion3D
from choreo.motion.skeleton import NUM_JOINTS, UPRIGHT


def test_guidance_frames_take_every_second_frame_of_a_30_fps_dance_at_15_fps():
    assert guidance_frames(7, 30.0, 15.0).tolist() == [0, 2, 4, 6]
    assert guidance_frames(6, 30.0, 15.0).tolist() == [0, 2, 4]


def test_pooling_30_fps_features_to_15_averages_pairs_and_drops_a_partial_frame():
    values = np.arange(10, dtype=np.float32).reshape(5, 2)  # rows (0,1) (2,3) (4,5) (6,7) (8,9)
    pooled = pool_to_fps(values, 30.0, 15.0)
    np.testing.assert_allclose(pooled, [[1.0, 2.0], [5.0, 6.0]])


def test_area_downsample_averages_blocks():
    image = np.zeros((4, 4, 1), np.uint8)
    image[:2, :2] = 200  # one 2x2 block lit
    image[2, 2] = 100  # a quarter of another
    np.testing.assert_array_equal(area_downsample(image, 2)[..., 0], [[200, 0], [0, 25]])


def test_pixel_centres_map_to_the_centre_of_their_cell():
    # pixels 0 and 1 form cell 0 (centre at pixel 0.5); pixels 2 and 3 form cell 1
    np.testing.assert_allclose(pixels_to_cells(np.array([0.5, 2.5]), 2), [0.0, 1.0])


def test_heatmap_peaks_at_the_keypoint_and_is_empty_for_absent_ones():
    maps = keypoint_heatmaps(np.array([[2.0, 5.0], [1.0, 1.0]]), np.array([1.0, 0.0]), grid=8, sigma_cells=1.0)
    assert maps.shape == (2, 8, 8)
    assert np.unravel_index(maps[0].argmax(), (8, 8)) == (5, 2) and maps[0, 5, 2] == pytest.approx(1.0)
    assert maps[0, 5, 3] == pytest.approx(np.exp(-0.5))
    assert not maps[1].any()


def test_render_px_must_be_a_multiple_of_the_grid():
    with pytest.raises(ChoreoError, match="multiple"):
        M2PEncDataConfig(render_px=50, grid=32)


def test_a_sample_round_trips_through_its_file(tmp_path):
    rng = np.random.default_rng(0)
    sample = M2PEncSample(music=rng.random((4, 3), dtype=np.float32),
                          guidance=rng.integers(0, 255, (4, 10, 8, 8), dtype=np.uint8),
                          keypoints_cells=rng.random((4, 18, 2), dtype=np.float32),
                          confidence=np.ones((4, 18), np.float32), fps=15.0)
    save_sample(sample, tmp_path / "dance.npz")
    loaded = load_sample(tmp_path / "dance.npz")
    for name in ("music", "guidance", "keypoints_cells", "confidence"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(sample, name))
    assert loaded.fps == 15.0


def test_dances_are_interleaved_by_song_so_a_partial_build_covers_many_songs():
    entries = [{"song_id": song, "dance_id": f"{song}{i}"} for song in "ab" for i in range(2)]
    assert [e["dance_id"] for e in _interleaved_by_song(entries)] == ["a0", "b0", "a1", "b1"]


def _standing_dance(num_frames: int) -> Motion3D:
    rotations = np.broadcast_to(np.eye(3, dtype=np.float32), (num_frames, NUM_JOINTS, 3, 3)).copy()
    rotations[:, 0] = UPRIGHT
    root = np.stack([np.linspace(0.0, 0.3, num_frames), np.zeros(num_frames), np.full(num_frames, 0.95)], 1)
    return Motion3D(root.astype(np.float32), rotations, np.ones((num_frames, 4), np.float32), 30.0)


def test_a_tiny_dance_renders_to_passes_and_keypoints_on_the_guidance_clock(one_torch_thread):
    pytest.importorskip("anny")
    from choreo.motion.anny_body import load_anny_model

    music = np.zeros((10, 35), np.float32)  # more music than dance: the dance's frames decide
    sample = render_sample(load_anny_model(), _standing_dance(5), music, M2PEncDataConfig(render_px=32, grid=16,
                                                                                          fit="none"))
    assert sample.guidance.shape == (3, 10, 16, 16) and sample.music.shape == (3, 35)
    assert sample.guidance[:, 0].max() > 0 and sample.guidance[:, 0, 0, 0].max() == 0  # body lit, corner black
    # the depth pass is lit at the pelvis keypoint (OpenPose has no pelvis: the hips' midpoint)
    hips = sample.keypoints_cells[0, [8, 11]].mean(axis=0)
    assert sample.guidance[0, 0, int(round(hips[1])), int(round(hips[0]))] > 0
    assert (sample.confidence[:, :18] > 0).all()
