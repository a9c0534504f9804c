"""Similarity fits and body proportions estimated from a reference pose."""

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.motion.skeleton import JOINT, Skeleton
from choreo.pose.layout import B
from choreo.pose.reference import default_reference_pose
from choreo.pose.retarget import RATIO_RANGE, fit_to_reference, similarity_transform, skeleton_from_reference
from choreo.pose.sequence import PoseSequence2D


def test_similarity_transform_recovers_scale_and_translation_ignoring_zero_weights():
    rng = np.random.default_rng(1)
    src = rng.uniform(-1, 1, (10, 2))
    dst = 2.5 * src + np.array([30.0, -7.0])
    dst[3] += 1000.0  # an outlier with zero weight
    weights = np.ones(10)
    weights[3] = 0.0
    scale, translation = similarity_transform(src, dst, weights)
    assert scale == pytest.approx(2.5)
    np.testing.assert_allclose(translation, [30.0, -7.0], atol=1e-9)


def test_similarity_transform_needs_two_distinct_points():
    with pytest.raises(PoseInputError, match="at least two shared confident"):
        similarity_transform(np.zeros((3, 2)), np.zeros((3, 2)), np.array([1.0, 0.0, 0.0]))
    with pytest.raises(PoseInputError, match="distinct positions"):
        similarity_transform(np.zeros((3, 2)), np.ones((3, 2)), np.ones(3))


def test_fit_to_reference_moves_the_whole_sequence_with_one_transform():
    pose = default_reference_pose(200, 400)
    moving = PoseSequence2D(np.concatenate([pose.keypoints_px, pose.keypoints_px + 10]),
                            np.concatenate([pose.confidence] * 2), 200, 400, 30.0)
    reference = PoseSequence2D(pose.keypoints_px * 1.5 + np.float32([20, 5]), pose.confidence, 600, 800, 30.0)
    fitted = fit_to_reference(moving, reference)
    assert (fitted.canvas_width, fitted.canvas_height) == (600, 800)
    np.testing.assert_allclose(fitted.keypoints_px[0], reference.keypoints_px[0], atol=1e-3)
    np.testing.assert_allclose(fitted.keypoints_px[1] - fitted.keypoints_px[0], 15.0, atol=1e-3)


def _relative(skeleton, joint):
    return skeleton.bone_lengths_m[JOINT[joint]] / Skeleton.default().bone_lengths_m[JOINT[joint]]


def test_proportions_of_a_long_legged_reference_are_recovered():
    lengths = Skeleton.default().bone_lengths_m.copy()
    lengths[[JOINT["left_knee"], JOINT["right_knee"]]] *= 1.15
    lengths[[JOINT["left_elbow"], JOINT["right_elbow"]]] *= 0.9
    reference = default_reference_pose(512, 768, Skeleton.default().with_bone_lengths(lengths))
    estimated = skeleton_from_reference(reference)
    assert _relative(estimated, "left_knee") == pytest.approx(1.15, abs=0.03)
    assert _relative(estimated, "right_elbow") == pytest.approx(0.9, abs=0.03)
    assert _relative(estimated, "left_wrist") == pytest.approx(1.0, abs=0.03)
    assert _relative(estimated, "spine1") == pytest.approx(1.0)


def test_waist_up_portrait_keeps_default_legs():
    reference = default_reference_pose(512, 768)
    confidence = reference.confidence.copy()
    for name in ("right_knee", "left_knee", "right_ankle", "left_ankle"):
        confidence[0, B[name]] = 0.0
    confidence[0, 18:24] = 0.0
    portrait = PoseSequence2D(reference.keypoints_px, confidence, 512, 768, 30.0)
    estimated = skeleton_from_reference(portrait)
    assert _relative(estimated, "left_knee") == 1.0 and _relative(estimated, "right_ankle") == 1.0
    assert _relative(estimated, "left_elbow") == pytest.approx(1.0, abs=0.03)


def test_implausible_ratios_are_clamped_and_unseen_bodies_fall_back_to_default():
    reference = default_reference_pose(512, 768)
    keypoints = reference.keypoints_px.copy()
    wrist, elbow = B["left_wrist"], B["left_elbow"]
    keypoints[0, wrist] = keypoints[0, elbow] + 3 * (keypoints[0, wrist] - keypoints[0, elbow])
    stretched = PoseSequence2D(keypoints, reference.confidence, 512, 768, 30.0)
    assert _relative(skeleton_from_reference(stretched), "left_wrist") == pytest.approx(RATIO_RANGE[1])
    empty = PoseSequence2D.empty(1, 512, 768, 30.0)
    np.testing.assert_array_equal(skeleton_from_reference(empty).rest_offsets_m, Skeleton.default().rest_offsets_m)
