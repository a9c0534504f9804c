"""The raw-coordinate representation of the pose DiT ablation (issue 14, measured): an exact, documented layout."""

from __future__ import annotations

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.pose.coordinate_latents import coordinate_statistics, coordinates_to_grid, grid_to_coordinates


def test_the_grid_is_an_exact_reshape_with_frames_as_rows_of_their_latent_column():
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(2, 24, 18, 3)).astype(np.float32)
    statistics = coordinate_statistics(poses)
    grid = coordinates_to_grid(poses, statistics)
    assert grid.shape == (2, 54, 8, 3)
    # keypoint 5's y at frame 8 * 2 + 3 is channel 3 * 5 + 1, row 3, column 2
    assert grid[1, 16, 3, 2] == pytest.approx((poses[1, 19, 5, 1] - statistics[0, 16]) / statistics[1, 16])
    np.testing.assert_allclose(grid_to_coordinates(grid, statistics), poses, atol=1e-5)
    flat = grid.transpose(1, 0, 2, 3).reshape(54, -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-5)          # standardised per channel
    np.testing.assert_allclose(flat.std(axis=1), 1.0, atol=1e-4)


def test_constant_channels_keep_a_floored_std_and_wrong_shapes_are_named():
    poses = np.ones((1, 8, 18, 3), np.float32)
    statistics = coordinate_statistics(poses)
    assert (statistics[1] == 1e-3).all()
    assert np.allclose(grid_to_coordinates(coordinates_to_grid(poses, statistics), statistics), 1.0)
    with pytest.raises(PoseInputError, match="multiple of 8"):
        coordinates_to_grid(np.zeros((1, 10, 18, 3)), statistics)
    with pytest.raises(PoseInputError, match="statistics"):
        coordinates_to_grid(poses, statistics[:, :30])
