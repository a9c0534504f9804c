"""Motion metrics against hand-worked values on tiny synthetic motions."""

import numpy as np
import pytest

from choreo.motion import metrics
from choreo.motion.skeleton import NUM_JOINTS, Skeleton, forward_kinematics
from choreo.motion.rotations import axis_angle_to_matrix

PERIOD = 20  # frames between beats


def _hits_every_period(num_frames: int = 200) -> np.ndarray:
    """One joint whose per-frame step is 1 - cos(2 pi t / P): speed is exactly 0 at t = k P."""
    steps = 1.0 - np.cos(2 * np.pi * np.arange(num_frames - 1) / PERIOD)
    x = np.concatenate([[0.0], np.cumsum(steps)]) * 0.01
    positions = np.zeros((num_frames, 1, 3))
    positions[:, 0, 0] = x
    return positions


def test_bas_is_one_when_speed_minima_sit_on_the_beats():
    beats = np.arange(1, 9) * PERIOD
    assert metrics.beat_align_score(_hits_every_period(), beats) == pytest.approx(1.0)


def test_bas_half_a_beat_off_matches_the_gaussian_of_half_a_period():
    beats = np.arange(1, 9) * PERIOD + PERIOD / 2
    expected = np.exp(-(PERIOD / 2) ** 2 / (2 * 3.0 ** 2))
    assert metrics.beat_align_score(_hits_every_period(), beats) == pytest.approx(expected, rel=1e-6)


def test_shifted_scores_include_aligned_and_drop_off_beat():
    scores = metrics.shifted_beat_align_scores(_hits_every_period(), np.arange(1, 9) * PERIOD)
    assert set(scores) == {0.0, 0.25, 0.5, 0.75}
    assert scores[0.0] == pytest.approx(1.0)
    assert scores[0.25] == pytest.approx(np.exp(-25 / 18), rel=1e-6)
    assert max(scores[0.25], scores[0.5], scores[0.75]) < 0.3


def test_jerk_of_a_cubic_is_six():
    fps = 30.0
    t = np.arange(40) / fps
    positions = np.zeros((40, 1, 3))
    positions[:, 0, 2] = t ** 3
    profile = metrics.jerk_profile(positions, fps)
    assert profile[1:-2] == pytest.approx(np.full(37, 6.0), rel=1e-6)
    assert metrics.max_jerk_at(positions, fps, np.array([10])) == pytest.approx(6.0, rel=1e-6)


def test_foot_skating_counts_only_planted_frames():
    fps = 30.0
    positions = np.zeros((30, NUM_JOINTS, 3))
    positions[:, :, 0] = 0.5 * np.arange(30)[:, None] / fps  # everything slides at 0.5 m/s
    assert metrics.foot_skating_m_per_s(positions, np.ones((30, 4)), fps) == pytest.approx(0.5)
    assert metrics.foot_skating_m_per_s(positions, np.zeros((30, 4)), fps) == 0.0


def test_pfc_is_zero_for_still_feet_and_positive_for_sliding_feet():
    fps = 30.0
    positions = np.zeros((30, NUM_JOINTS, 3))
    positions[:, 0, 2] = np.sin(np.arange(30) / 3.0)  # the pelvis bounces
    assert metrics.physical_foot_contact(positions, fps) == 0.0
    positions[:, [7, 8, 10, 11], 0] = np.arange(30)[:, None] * 0.01
    assert metrics.physical_foot_contact(positions, fps) > 0.0


def test_bone_length_std_zero_for_fk_and_exact_for_a_stretched_bone():
    rng = np.random.default_rng(0)
    rotations = axis_angle_to_matrix(rng.normal(scale=0.5, size=(20, NUM_JOINTS, 3)))
    positions = forward_kinematics(Skeleton.default(), rotations, rng.normal(size=(20, 3)))
    assert metrics.bone_length_std_m(positions) < 1e-9
    positions[::2, 1] = positions[::2, 0] + np.array([1.0, 0, 0])
    positions[1::2, 1] = positions[1::2, 0] + np.array([2.0, 0, 0])
    assert metrics.bone_length_std_m(positions) == pytest.approx(0.5)


def test_longest_similar_bar_run_counts_repeated_bars_only():
    rng = np.random.default_rng(0)
    bar_a, bar_b = rng.normal(size=(30, 24, 3)), rng.normal(size=(30, 24, 3))
    bar_a[:, 0] = bar_b[:, 0] = 0.0
    positions = np.concatenate([bar_a, bar_b, bar_b, bar_b + 0.001, bar_a])
    downbeats = np.arange(0, 150, 30)
    assert metrics.longest_similar_bar_run(positions, downbeats, tolerance_m=0.05) == 3
    assert metrics.longest_similar_bar_run(positions, downbeats, tolerance_m=0.0) == 1
    # a dance that travels still repeats its move: the metric is root-relative
    moved = positions + np.linspace(0, 5, len(positions))[:, None, None] * np.array([1.0, 0.0, 0.0])
    assert metrics.longest_similar_bar_run(moved, downbeats, tolerance_m=0.05) == 3
