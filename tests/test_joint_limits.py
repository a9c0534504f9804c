"""Joint limits: every pose the choreographer makes is one a body can make, on music with and without a beat."""

from __future__ import annotations

import numpy as np
import pytest

from choreo.motion.choreographer import STYLES, choreograph
from choreo.motion.joint_limits import JOINT_RANGES, clamp_to_joint_limits, euler_angles
from choreo.motion.rotations import euler_to_matrix
from choreo.motion.skeleton import JOINT, forward_kinematics
from choreo.music.analyze import analyze_music
from choreo.music.audio import Audio
from conftest import click_track

HEAD_YAW_MAX_DEG = 80.0  # head turn relative to the upper torso, each way
HEAD_TILT_MAX_DEG = 50.0  # ear towards the shoulder
HYPEREXTENSION_MAX_DEG = 3.0  # past a straight line at knees and elbows


def head_yaw_and_tilt_deg(rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) head turn and sideways tilt relative to the top of the spine, from where its axes point."""
    relative = rotations[:, JOINT["neck"]].astype(np.float64) @ rotations[:, JOINT["head"]]
    forward, up = relative[:, :, 2], relative[:, :, 1]
    return np.degrees(np.arctan2(forward[:, 0], forward[:, 2])), np.degrees(np.arctan2(up[:, 0], up[:, 1]))


def hinge_flexion_deg(joints_m: np.ndarray, rotations: np.ndarray, top: str, hinge: str, end: str,
                      flexion_axis: np.ndarray) -> np.ndarray:
    """(T,) bend at a hinge from joint positions: the signed angle from the upper bone's line to the lower bone
    about the hinge axis (``flexion_axis`` in the hinge's parent frame); negative = bent the wrong way."""
    world = np.empty((len(rotations), 3, 3))
    world[:] = rotations[:, 0]
    chain = {"left_knee": ("left_hip",), "right_knee": ("right_hip",),
             "left_elbow": ("spine1", "spine2", "spine3", "left_collar", "left_shoulder"),
             "right_elbow": ("spine1", "spine2", "spine3", "right_collar", "right_shoulder")}[hinge]
    for joint in chain:
        world = world @ rotations[:, JOINT[joint]]
    axis = world @ flexion_axis
    upper = joints_m[:, JOINT[hinge]] - joints_m[:, JOINT[top]]
    lower = joints_m[:, JOINT[end]] - joints_m[:, JOINT[hinge]]
    sine = np.sum(np.cross(upper, lower) * axis, axis=-1)
    return np.degrees(np.arctan2(sine, np.sum(upper * lower, axis=-1)))


@pytest.fixture(scope="module")
def analyses():
    noise = np.random.default_rng(0).normal(0.0, 0.3, 3 * 22050).astype(np.float32)
    return {"white_noise": analyze_music(Audio.from_array(noise, 22050), fps=30),
            "click_track": analyze_music(Audio.from_array(click_track(120.0, 8.0), 22050), fps=30)}


@pytest.mark.parametrize("music", ["white_noise", "click_track"])
@pytest.mark.parametrize("style", STYLES)
def test_every_choreographed_frame_is_a_pose_a_body_can_make(analyses, music, style):
    for seed in range(3):
        motion = choreograph(analyses[music], seed=seed, style=style)
        rotations = motion.rotations.astype(np.float64)
        yaw, tilt = head_yaw_and_tilt_deg(rotations)
        assert np.abs(yaw).max() <= HEAD_YAW_MAX_DEG and np.abs(tilt).max() <= HEAD_TILT_MAX_DEG
        joints = forward_kinematics(motion.skeleton, rotations, motion.root_translation_m)
        x, y = np.eye(3)[0], np.eye(3)[1]
        for side, elbow_axis in (("left", -y), ("right", y)):
            knee = hinge_flexion_deg(joints, rotations, f"{side}_hip", f"{side}_knee", f"{side}_ankle", x)
            elbow = hinge_flexion_deg(joints, rotations, f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist",
                                      elbow_axis)
            assert knee.min() >= -HYPEREXTENSION_MAX_DEG, (seed, side, knee.min())
            assert elbow.min() >= -HYPEREXTENSION_MAX_DEG, (seed, side, elbow.min())
        for name, limit in JOINT_RANGES.items():
            axes = ["xyz".index(axis) for axis in limit.order]
            angles = np.degrees(euler_angles(rotations[:, JOINT[name]], limit.order))
            assert np.all(angles >= np.asarray(limit.min_deg)[axes] - 1e-3), (seed, name)
            assert np.all(angles <= np.asarray(limit.max_deg)[axes] + 1e-3), (seed, name)


def test_a_head_turned_onto_the_shoulder_is_brought_back_within_reach():
    rotations = np.broadcast_to(np.eye(3), (3, 24, 3, 3)).copy()
    rotations[0, JOINT["neck"]] = euler_to_matrix(np.radians([0.0, 50.0, 0.0]))  # turned 95 deg
    rotations[0, JOINT["head"]] = euler_to_matrix(np.radians([0.0, 45.0, 0.0]))
    rotations[1, JOINT["neck"]] = euler_to_matrix(np.radians([0.0, 0.0, 50.0]))  # ear on the shoulder
    rotations[1, JOINT["head"]] = euler_to_matrix(np.radians([0.0, 0.0, 40.0]))
    rotations[2, JOINT["neck"]] = euler_to_matrix(np.radians([10.0, 20.0, 5.0]))  # an ordinary glance
    before_yaw, before_tilt = head_yaw_and_tilt_deg(rotations)
    assert before_yaw[0] == pytest.approx(95.0) and abs(before_tilt[1]) == pytest.approx(90.0)
    clamped = clamp_to_joint_limits(rotations)
    yaw, tilt = head_yaw_and_tilt_deg(clamped)
    assert np.abs(yaw).max() <= HEAD_YAW_MAX_DEG and np.abs(tilt).max() <= HEAD_TILT_MAX_DEG
    np.testing.assert_array_equal(clamped[2], rotations[2])  # poses inside their ranges stay bit for bit


def test_a_knee_bent_backwards_is_straightened_and_a_bent_knee_kept():
    rotations = np.broadcast_to(np.eye(3), (2, 24, 3, 3)).copy()
    rotations[0, JOINT["left_knee"]] = euler_to_matrix(np.radians([-40.0, 0.0, 0.0]))
    rotations[1, JOINT["left_knee"]] = euler_to_matrix(np.radians([90.0, 0.0, 0.0]))
    clamped = clamp_to_joint_limits(rotations)
    assert np.degrees(euler_angles(clamped[0, JOINT["left_knee"]], "xyz"))[0] == pytest.approx(
        JOINT_RANGES["left_knee"].min_deg[0])
    np.testing.assert_array_equal(clamped[1], rotations[1])
    np.testing.assert_array_equal(clamp_to_joint_limits(clamped), clamped)


def test_right_side_ranges_mirror_the_left_for_joints_without_rest_pose_asymmetry():
    left, right = JOINT_RANGES["left_hip"], JOINT_RANGES["right_hip"]
    assert right.min_deg == (left.min_deg[0], -left.max_deg[1], -left.max_deg[2])
    assert JOINT_RANGES["left_elbow"].max_deg[1] < 10.0 and JOINT_RANGES["right_elbow"].min_deg[1] > -10.0


@pytest.mark.parametrize("order", ["xyz", "xzy", "yxz", "yzx", "zxy", "zyx"])
def test_euler_angles_invert_euler_to_matrix(order):
    angles = np.random.default_rng(1).uniform(-1.5, 1.5, (50, 3))
    np.testing.assert_allclose(euler_angles(euler_to_matrix(angles, order), order), angles, atol=1e-9)
