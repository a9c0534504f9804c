"""Raw 2D coordinates laid out as the pose DiT's latent grid: what HotDance ablates its one-hot images against.

The paper's Table 4 compares its one-hot images with raw coordinates under the same generator. To
compare on the same DiT, the same tokens and the same music tokens, the coordinates take the shape of
the one-hot latents: every keypoint value (x, y, confidence) is a channel, and each latent column holds
its 8 frames as 8 rows, so the grid is (3K, 8, T/8) where the one-hot latents are (4G, W/8, T/8). A
patch of the DiT then covers a few consecutive frames of every keypoint, and latent column t is
still frames 8t .. 8t + 7, the music token's frames. Values are standardised per channel by the
training data's mean and std (as a VAE's scaling factor gives latents unit variance); the layout
is a reshape, so decoding is exact.
"""

from __future__ import annotations

import numpy as np

from ..errors import PoseInputError

VALUES_PER_KEYPOINT = 3  # x, y, confidence
STD_FLOOR = 1e-3  # a constant channel (all-confident keypoints) stays at 0 instead of dividing by zero


def coordinate_statistics(poses: np.ndarray) -> np.ndarray:
    """(2, 3K) float32 per-channel mean and std (floored) of poses (..., K, 3), channel 3k + value."""
    values = np.asarray(poses, np.float64).reshape(-1, poses.shape[-2] * VALUES_PER_KEYPOINT)
    return np.stack([values.mean(axis=0), np.maximum(values.std(axis=0), STD_FLOOR)]).astype(np.float32)


def coordinates_to_grid(poses: np.ndarray, statistics: np.ndarray, frames_per_column: int = 8) -> np.ndarray:
    """(B, T, K, 3) poses, T a multiple of ``frames_per_column`` -> (B, 3K, frames_per_column, T / frames_per_column).

    grid[b, 3k + v, phase, column] = standardised value v of keypoint k at frame column * frames_per_column + phase.

    >>> coordinates_to_grid(np.zeros((2, 16, 18, 3)), np.stack([np.zeros(54), np.ones(54)])).shape
    (2, 54, 8, 2)
    """
    batch, num_frames, num_keypoints, values = poses.shape
    if values != VALUES_PER_KEYPOINT or num_frames % frames_per_column:
        raise PoseInputError(f"poses must be (B, T, K, 3) with T a multiple of {frames_per_column}, got {poses.shape}.")
    if statistics.shape != (2, num_keypoints * VALUES_PER_KEYPOINT):
        raise PoseInputError(f"statistics are {statistics.shape} but {num_keypoints} keypoints need "
                             f"(2, {num_keypoints * VALUES_PER_KEYPOINT}).")
    flat = (poses.reshape(batch, num_frames, -1) - statistics[0]) / statistics[1]          # (B, T, 3K)
    columns = flat.reshape(batch, num_frames // frames_per_column, frames_per_column, -1)   # (B, T', 8, 3K)
    return np.ascontiguousarray(columns.transpose(0, 3, 2, 1), dtype=np.float32)


def grid_to_coordinates(grid: np.ndarray, statistics: np.ndarray) -> np.ndarray:
    """The exact inverse of ``coordinates_to_grid``: (B, 3K, F, T') -> (B, T' F, K, 3) float32."""
    batch, channels, frames_per_column, columns = grid.shape
    if channels % VALUES_PER_KEYPOINT or statistics.shape != (2, channels):
        raise PoseInputError(f"a coordinate grid needs 3K channels and (2, 3K) statistics, got {channels} channels "
                             f"and statistics {statistics.shape}.")
    flat = np.asarray(grid).transpose(0, 3, 2, 1).reshape(batch, columns * frames_per_column, channels)
    values = flat * statistics[1] + statistics[0]
    return values.reshape(batch, columns * frames_per_column, channels // VALUES_PER_KEYPOINT,
                          VALUES_PER_KEYPOINT).astype(np.float32)
