"""The 3D data model: rotations, forward kinematics and the EDGE / SMPL layouts."""

import numpy as np
import pytest

from choreo.errors import MotionInputError
from choreo.motion.motion3d import EDGE_FRAME_DIM, Motion3D, estimate_foot_contacts
from choreo.motion.rotations import (axis_angle_to_matrix, euler_to_matrix, matrix_to_axis_angle,
                                     matrix_to_quaternion, matrix_to_rotation_6d, quaternion_to_matrix,
                                     rotation_6d_to_matrix, slerp)
from choreo.motion.skeleton import JOINT, PARENTS, UPRIGHT, Skeleton, forward_kinematics


def random_rotations(shape, seed=0):
    return axis_angle_to_matrix(np.random.default_rng(seed).normal(size=shape + (3,)))


def standing_motion(num_frames=4, fps=30.0):
    rotations = np.broadcast_to(np.eye(3), (num_frames, 24, 3, 3)).copy()
    rotations[:, 0] = UPRIGHT
    translation = np.tile([0.0, 0.0, 0.95], (num_frames, 1))
    return Motion3D(translation.astype(np.float32), rotations.astype(np.float32),
                    np.ones((num_frames, 4), np.float32), fps)


def test_rotation_conversions_round_trip():
    rotations = random_rotations((200,))
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(rotations)), rotations, atol=1e-12)
    np.testing.assert_allclose(axis_angle_to_matrix(matrix_to_axis_angle(rotations)), rotations, atol=1e-10)
    np.testing.assert_allclose(rotation_6d_to_matrix(matrix_to_rotation_6d(rotations)), rotations, atol=1e-12)


def test_rotation_near_pi_and_identity_survive_quaternion_conversion():
    edge_cases = axis_angle_to_matrix(np.array([[np.pi - 1e-9, 0, 0], [0, 0, 0], [0, np.pi, 0]]))
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(edge_cases)), edge_cases, atol=1e-7)


def test_euler_order_composes_left_to_right():
    angles = np.array([0.3, -0.2, 0.5])
    expected = (axis_angle_to_matrix(np.array([0.3, 0, 0])) @ axis_angle_to_matrix(np.array([0, -0.2, 0]))
                @ axis_angle_to_matrix(np.array([0, 0, 0.5])))
    np.testing.assert_allclose(euler_to_matrix(angles, "xyz"), expected, atol=1e-12)


def test_slerp_halfway_is_half_the_angle():
    q0 = matrix_to_quaternion(np.eye(3))
    q1 = matrix_to_quaternion(axis_angle_to_matrix(np.array([0, 0, 1.2])))
    half = quaternion_to_matrix(slerp(q0, q1, 0.5))
    np.testing.assert_allclose(matrix_to_axis_angle(half), [0, 0, 0.6], atol=1e-9)


def test_upright_rest_pose_stands_on_z_and_faces_minus_y():
    positions = standing_motion().joint_positions()[0]
    assert positions[JOINT["head"], 2] > positions[JOINT["pelvis"], 2] > positions[JOINT["left_ankle"], 2]
    assert positions[JOINT["left_hip"], 0] > positions[JOINT["right_hip"], 0]
    toes_forward = positions[JOINT["left_foot"]] - positions[JOINT["left_ankle"]]
    assert toes_forward[1] < 0


def test_forward_kinematics_keeps_bone_lengths_for_any_rotation():
    skeleton = Skeleton.default()
    positions = forward_kinematics(skeleton, random_rotations((50, 24), seed=1), np.zeros((50, 3)))
    for joint in range(1, 24):
        lengths = np.linalg.norm(positions[:, joint] - positions[:, PARENTS[joint]], axis=-1)
        np.testing.assert_allclose(lengths, skeleton.bone_lengths_m[joint], atol=1e-9)


def test_edge_layout_round_trip_and_channel_order():
    motion = standing_motion()
    frames = motion.to_edge()
    assert frames.shape == (4, EDGE_FRAME_DIM)
    np.testing.assert_allclose(frames[:, :4], 1.0)  # contacts come first in EDGE
    np.testing.assert_allclose(frames[:, 4:7], motion.root_translation_m)
    restored = Motion3D.from_edge(frames, fps=30.0)
    np.testing.assert_allclose(restored.joint_positions(), motion.joint_positions(), atol=1e-5)


def test_smpl_round_trip_in_both_frames():
    rotations = random_rotations((6, 24), seed=2).astype(np.float32)
    motion = Motion3D(np.random.default_rng(3).normal(size=(6, 3)).astype(np.float32), rotations,
                      np.zeros((6, 4), np.float32), 60.0)
    for y_up in (False, True):
        poses, trans = motion.to_smpl(y_up=y_up)
        assert poses.shape == (6, 72) and trans.shape == (6, 3)
        restored = Motion3D.from_smpl(poses, trans, fps=60.0, y_up=y_up)
        np.testing.assert_allclose(restored.joint_positions(), motion.joint_positions(), atol=1e-4)


def test_y_up_smpl_export_puts_the_head_up_the_y_axis():
    poses, trans = standing_motion().to_smpl(y_up=True)
    np.testing.assert_allclose(poses[:, :3], 0.0, atol=1e-6)
    np.testing.assert_allclose(trans[0], [0.0, 0.95, 0.0], atol=1e-6)


def test_motion_rejects_mismatched_shapes_with_a_clear_message():
    with pytest.raises(MotionInputError, match=r"rotations must be \(T, 24, 3, 3\)"):
        Motion3D(np.zeros((3, 3), np.float32), np.zeros((4, 24, 3, 3), np.float32), np.zeros((3, 4), np.float32), 30.0)
    with pytest.raises(MotionInputError, match="EDGE motion must be"):
        Motion3D.from_edge(np.zeros((10, 150)))


def test_retargeting_scales_root_height_with_the_legs():
    motion = standing_motion()
    taller = motion.with_skeleton(Skeleton.default().scaled(1.2))
    np.testing.assert_allclose(taller.root_translation_m[:, 2], motion.root_translation_m[:, 2] * 1.2, rtol=1e-5)
    lowest = taller.joint_positions()[:, [7, 8, 10, 11], 2].min()
    assert abs(lowest - motion.joint_positions()[:, [7, 8, 10, 11], 2].min() * 1.2) < 1e-4


def test_foot_contacts_follow_foot_speed_at_any_fps():
    for fps in (30.0, 60.0):
        times = np.arange(int(fps)) / fps
        positions = np.zeros((len(times), 24, 3))
        positions[:, 7, 0] = np.where(times < 0.5, 0.0, (times - 0.5) * 1.0)  # left ankle walks off at 1 m/s
        contacts = estimate_foot_contacts(positions, fps)
        assert contacts[: int(0.4 * fps), 0].all() and not contacts[int(0.6 * fps):, 0].any()
        assert contacts[:, 1].all()
