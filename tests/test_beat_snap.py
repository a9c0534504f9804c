"""Snap to Beats (choreo.motion.beat_snap): hits moved onto beats by a bounded, monotone warp on the same clock."""

from __future__ import annotations

import numpy as np
import pytest

from choreo.motion import metrics
from choreo.motion.beat_snap import (BeatSnapError, beat_warp, snap_motion_to_beats, snap_poses_to_beats,
                                     warp_poses)
from choreo.motion.motion3d import Motion3D
from choreo.motion.rotations import axis_angle_to_matrix
from choreo.pose.sequence import PoseSequence2D

FPS = 30.0
BEAT_FRAMES = 15.0  # 120 BPM


def swinging_arms(num_frames: int, late_frames: float) -> Motion3D:
    """Both shoulders swing one full cycle every two beats, so the arms stop (hit) once per beat, ``late_frames``
    after each beat (a fraction, so that no two frames tie for the slowest)."""
    t = np.arange(num_frames)
    angle = 0.8 * np.cos(np.pi * (t - late_frames) / BEAT_FRAMES)
    rotations = np.broadcast_to(np.eye(3, dtype=np.float32), (num_frames, 24, 3, 3)).copy()
    for shoulder in (16, 17):
        rotations[:, shoulder] = axis_angle_to_matrix(angle[:, None] * np.array([0.0, 1.0, 0.0]))
    root = np.tile(np.array([0.0, 0.0, 0.9], np.float32), (num_frames, 1))
    return Motion3D(root, rotations, np.ones((num_frames, 4), np.float32), FPS)


def test_the_warp_moves_each_hit_onto_its_beat_and_keeps_both_ends():
    beats = np.arange(1, 8) * BEAT_FRAMES
    hits = beats + np.array([3, -2, 4, 1, -3, 2, 0])
    warp = beat_warp(hits, beats, 121)
    np.testing.assert_allclose(np.interp(beats, np.arange(121), warp.source_frames), hits)
    assert warp.source_frames[0] == 0 and warp.source_frames[-1] == 120
    assert warp.matched_beats == warp.num_beats == 7
    assert (np.diff(warp.source_frames) > 0).all()                           # never backwards, never frozen


def test_no_passage_plays_faster_or_slower_than_max_stretch():
    beats = np.array([10.0, 20.0, 30.0])
    warp = beat_warp(np.array([4.0, 19.0, 35.0]), beats, 41, max_shift_beats=0.6, max_stretch=1.5)
    slopes = np.diff(warp.source_frames)
    assert slopes.min() >= 1 / 1.5 - 1e-9 and slopes.max() <= 1.5 + 1e-9
    assert warp.matched_beats < 3                                            # the 10 -> 4 pair would need 0.4


def test_a_late_dance_lands_on_the_beat_after_snapping():
    motion = swinging_arms(240, late_frames=5.3)
    beats_s = np.arange(1, 16) * BEAT_FRAMES / FPS
    before = metrics.beat_align_score(motion.joint_positions(), beats_s * FPS)
    snapped, warp = snap_motion_to_beats(motion, beats_s)
    after = metrics.beat_align_score(snapped.joint_positions(), beats_s * FPS)
    assert warp.matched_beats >= 13 and before < 0.35 and after > 0.9
    assert snapped.num_frames == motion.num_frames and snapped.fps == motion.fps
    hits = metrics.motion_beats(snapped.joint_positions())
    assert np.abs(hits[:, None] - beats_s[None] * FPS).min(axis=0)[1:-1].max() <= 1.0


def test_warped_poses_interpolate_and_keep_absent_keypoints_absent():
    seq = PoseSequence2D.empty(4, 64, 64, FPS)
    keypoints, confidence = seq.keypoints_px.copy(), seq.confidence.copy()
    keypoints[:, 0] = np.array([[0, 0], [10, 20], [20, 40], [30, 60]])
    confidence[:, 0] = 1.0
    confidence[:, 1] = [1.0, 0.0, 1.0, 1.0]
    seq = PoseSequence2D(keypoints, confidence, 64, 64, FPS)
    warped = warp_poses(seq, np.array([0.0, 0.5, 2.0, 3.0]))
    np.testing.assert_allclose(warped.keypoints_px[:, 0], [[0, 0], [5, 10], [20, 40], [30, 60]])
    assert warped.confidence[1, 1] == 0 and warped.confidence[2, 1] == 1     # absent in a neighbour: absent
    assert warped.num_frames == 4 and warped.fps == FPS


def test_an_early_2d_dance_snaps_as_its_body_keypoints_move():
    motion = swinging_arms(180, late_frames=-4.3)
    joints = motion.joint_positions()
    seq = PoseSequence2D.empty(180, 512, 512, FPS)
    keypoints, confidence = seq.keypoints_px.copy(), seq.confidence.copy()
    keypoints[:, :18] = 256 + 200 * joints[:, 6:][..., [0, 2]]               # seen from the front: arms in plane
    confidence[:, :18] = 1.0
    beats_s = np.arange(1, 12) * BEAT_FRAMES / FPS
    seq = PoseSequence2D(keypoints, confidence, 512, 512, FPS)
    snapped, warp = snap_poses_to_beats(seq, beats_s)
    before, after = (metrics.beat_align_score(np.concatenate([s.keypoints_px[:, :18], np.zeros((180, 18, 1))], -1),
                                              beats_s * FPS) for s in (seq, snapped))
    assert warp.matched_beats >= 9 and before < 0.5 and after > 0.85


def test_bad_settings_are_named():
    with pytest.raises(BeatSnapError, match="max_stretch"):
        beat_warp(np.array([5.0]), np.array([4.0]), 20, max_stretch=1.0)
    with pytest.raises(BeatSnapError, match="1 frame"):
        beat_warp(np.array([]), np.array([]), 1)


def test_a_dance_without_hits_or_beats_comes_back_unchanged():
    for hits, beats in ((np.array([]), np.array([10.0, 25.0])), (np.array([12.0, 27.0]), np.array([]))):
        warp = beat_warp(hits, beats, 40)
        np.testing.assert_array_equal(warp.source_frames, np.arange(40))
        assert warp.matched_beats == 0
    still = swinging_arms(40, late_frames=0.3)
    still = Motion3D(still.root_translation_m, np.broadcast_to(np.eye(3, dtype=np.float32), (40, 24, 3, 3)).copy(),
                     still.foot_contacts, FPS)
    snapped, warp = snap_motion_to_beats(still, np.array([0.5, 1.0]))
    assert warp.matched_beats == 0 and np.array_equal(snapped.rotations, still.rotations)
