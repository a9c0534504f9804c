"""Zero-lag One Euro smoothing of 2D pose sequences."""

from dataclasses import replace

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.pose.sequence import PoseSequence2D
from choreo.pose.smoothing import OneEuroSettings, smooth_pose_sequence

FPS = 30.0


def sequence(points: np.ndarray, confidence: np.ndarray | None = None) -> PoseSequence2D:
    """Every one of the 136 keypoints follows ``points`` (T, 2), offset by its index."""
    num_frames = len(points)
    keypoints = points[:, None, :] + np.arange(136, dtype=np.float64)[None, :, None]
    if confidence is None:
        confidence = np.ones((num_frames, 136))
    return PoseSequence2D(keypoints.astype(np.float32), confidence.astype(np.float32), 512, 768, FPS)


def swinging_arm(num_frames: int = 240, frequency_hz: float = 0.8, amplitude_px: float = 120.0) -> np.ndarray:
    t = np.arange(num_frames) / FPS
    return np.stack([256 + amplitude_px * np.sin(2 * np.pi * frequency_hz * t),
                     400 + amplitude_px / 2 * np.cos(2 * np.pi * frequency_hz * t)], -1)


@pytest.mark.parametrize("frequency_hz, amplitude_px, max_error_ratio, max_acceleration_ratio", [
    (0.0, 0.0, 0.6, 0.4),      # still: smoothed hard
    (0.3, 40.0, 0.6, 0.4),     # slow sway
    (0.8, 120.0, 0.8, 0.6),    # fast swing: the cut-off rises, the move stays responsive
])
def test_jitter_is_removed_and_the_motion_kept(frequency_hz, amplitude_px, max_error_ratio, max_acceleration_ratio):
    clean = swinging_arm(240, frequency_hz, amplitude_px)
    noisy = clean + np.random.default_rng(0).normal(0, 6.0, clean.shape)
    smoothed = smooth_pose_sequence(sequence(noisy)).keypoints_px[:, 0]
    error_before = np.sqrt(np.mean((noisy - clean) ** 2))
    error_after = np.sqrt(np.mean((smoothed - clean) ** 2))
    assert error_after < max_error_ratio * error_before
    acceleration = lambda x: np.abs(np.diff(x, 2, axis=0)).mean()
    assert acceleration(smoothed) < max_acceleration_ratio * acceleration(noisy)


def test_forward_backward_pass_has_no_lag():
    clean = swinging_arm()
    smoothed = smooth_pose_sequence(sequence(clean)).keypoints_px[:, 0, 0].astype(np.float64)
    centred_clean, centred_smooth = clean[:, 0] - clean[:, 0].mean(), smoothed - smoothed.mean()
    lags = np.arange(-5, 6)
    correlation = [np.dot(np.roll(centred_smooth, lag)[10:-10], centred_clean[10:-10]) for lag in lags]
    assert lags[int(np.argmax(correlation))] == 0


def test_a_sharp_stop_stays_on_its_frame():
    """A hit: fast move, then still. The frame where motion stops must not move."""
    x = np.concatenate([np.linspace(100, 400, 31)[:-1], np.full(30, 400.0)])
    points = np.stack([x, np.full_like(x, 300.0)], -1)
    smoothed = smooth_pose_sequence(sequence(points)).keypoints_px[:, 0, 0]
    speed = np.abs(np.diff(smoothed))
    assert speed[25] > 5.0 and speed[35] < 0.5
    assert abs(smoothed[30] - 400.0) < 25.0


def test_absent_points_stay_absent_and_restart_where_they_reappear():
    points = swinging_arm(90)
    confidence = np.ones((90, 136))
    confidence[30:50, 0] = 0.0
    points_with_jump = points.copy()
    points_with_jump[50:] += 200.0
    pose = sequence(points_with_jump, confidence)
    smoothed = smooth_pose_sequence(pose)
    np.testing.assert_array_equal(smoothed.keypoints_px[30:50, 0], pose.keypoints_px[30:50, 0])
    np.testing.assert_array_equal(smoothed.confidence, pose.confidence)
    assert np.abs(smoothed.keypoints_px[50, 0] - pose.keypoints_px[50, 0]).max() < 20.0
    assert np.abs(smoothed.keypoints_px[29, 0] - pose.keypoints_px[29, 0]).max() < 20.0


def test_kept_frames_come_back_exactly():
    noisy = swinging_arm(60) + np.random.default_rng(1).normal(0, 5.0, (60, 2))
    pose = sequence(noisy)
    keep = np.zeros((60, 136), bool)
    keep[[10, 40], 0] = True
    smoothed = smooth_pose_sequence(pose, keep=keep)
    np.testing.assert_array_equal(smoothed.keypoints_px[keep], pose.keypoints_px[keep])
    assert not np.allclose(smoothed.keypoints_px[10, 1:], pose.keypoints_px[10, 1:])  # the rest of the frame
    assert not np.allclose(smoothed.keypoints_px[11], pose.keypoints_px[11])
    with pytest.raises(PoseInputError, match="one flag per frame and keypoint"):
        smooth_pose_sequence(pose, keep=keep[:10])
    with pytest.raises(PoseInputError, match="one flag per frame and keypoint"):
        smooth_pose_sequence(pose.slice_frames(0, 2), keep=keep)


def test_a_non_finite_point_is_skipped_instead_of_poisoning_its_neighbours():
    points = swinging_arm(30) + np.random.default_rng(3).normal(0, 3.0, (30, 2))
    pose = sequence(points)
    broken = pose.keypoints_px.copy()
    broken[10, 0] = np.nan
    smoothed = smooth_pose_sequence(replace(pose, keypoints_px=broken)).keypoints_px
    assert np.isnan(smoothed[10, 0]).all()
    assert np.isfinite(np.delete(smoothed[:, 0], 10, axis=0)).all()


def test_still_points_are_smoothed_at_the_nominal_cut_off():
    """Jitter must not raise the cut-off of a still point (the velocity vector is filtered, not its norm)."""
    noisy = np.full((300, 2), 300.0) + np.random.default_rng(4).normal(0, 6.0, (300, 2))
    smoothed = smooth_pose_sequence(sequence(noisy), OneEuroSettings(speed_coefficient=15.0)).keypoints_px[:, 0]
    plain = smooth_pose_sequence(sequence(noisy), OneEuroSettings(speed_coefficient=0.0)).keypoints_px[:, 0]
    residual = lambda x: np.std(x[20:-20] - 300.0)
    assert residual(smoothed) < 1.5 * residual(plain)


def test_still_pose_is_unchanged_and_clock_kept():
    pose = sequence(np.tile([[200.0, 300.0]], (20, 1)))
    smoothed = smooth_pose_sequence(pose)
    np.testing.assert_allclose(smoothed.keypoints_px, pose.keypoints_px, atol=1e-4)
    assert (smoothed.fps, smoothed.num_frames, smoothed.canvas_width) == (pose.fps, pose.num_frames, 512)


@pytest.mark.parametrize("field, value", [("min_cutoff_hz", 0.0), ("derivative_cutoff_hz", -1.0),
                                          ("speed_coefficient", -0.5), ("speed_coefficient", float("nan")),
                                          ("min_cutoff_hz", float("inf"))])
def test_bad_settings_are_named(field, value):
    with pytest.raises(PoseInputError, match=field):
        OneEuroSettings(**{field: value})


def test_node_keeps_the_keyed_joints_exactly():
    import importlib
    import json

    from conftest import load_pack

    pack = load_pack()
    node = importlib.import_module(f"{pack.__name__}.nodes.pose_nodes").ChoreoSmoothPose()
    noisy = swinging_arm(60) + np.random.default_rng(2).normal(0, 5.0, (60, 2))
    keypoints = noisy[:, None, :] + np.arange(136, dtype=np.float64)[None, :, None]
    pose = pack.choreo.pose.sequence.PoseSequence2D(keypoints.astype(np.float32), np.ones((60, 136), np.float32),
                                                   512, 768, FPS)
    edits = json.dumps({"version": 1, "source_fingerprint": "", "blend_frames": 6, "locked_joints": [],
                        "keyframes": [{"frame": 12, "ease": "smooth", "joints": {"4": [300.0, 200.0]}}]})
    (smoothed,) = node.smooth(pose, 1.5, 15.0, keyframes_json=edits)
    np.testing.assert_array_equal(smoothed.keypoints_px[12, 4], pose.keypoints_px[12, 4])
    assert np.abs(smoothed.keypoints_px[12, 5:] - pose.keypoints_px[12, 5:]).max() > 0.1  # un-keyed joints
    assert np.abs(smoothed.keypoints_px[30] - pose.keypoints_px[30]).max() > 0.1
    (plain,) = node.smooth(pose, 1.5, 15.0)
    assert not np.array_equal(plain.keypoints_px[12, 4], pose.keypoints_px[12, 4])
