"""Motion files: the NPZ round trip and a BVH that an independent parser reads back to the same joints."""

import numpy as np
import pytest

from choreo.errors import MotionInputError
from choreo.io.motion_files import Z_UP_TO_BVH, load_motion_bvh, load_motion_npz, save_motion_bvh, save_motion_npz
from choreo.motion.motion3d import Motion3D
from choreo.motion.rotations import axis_angle_to_matrix, euler_to_matrix
from choreo.motion.skeleton import JOINT_NAMES, UPRIGHT, Skeleton


def random_motion(num_frames: int = 12, seed: int = 0) -> Motion3D:
    """Wild random rotations (incl. one at gimbal lock), a wandering root, a non-default skeleton."""
    rng = np.random.default_rng(seed)
    rotations = axis_angle_to_matrix(rng.normal(0.0, 0.7, (num_frames, 24, 3)))
    rotations[:, 0] = UPRIGHT @ rotations[:, 0]
    rotations[2, 5] = euler_to_matrix(np.array([0.3, np.pi / 2, -0.4]), "zxy")
    trans = np.cumsum(rng.normal(0.0, 0.05, (num_frames, 3)), axis=0) + [0.0, 0.0, 0.9]
    contacts = (rng.random((num_frames, 4)) > 0.5).astype(np.float32)
    return Motion3D(trans.astype(np.float32), rotations.astype(np.float32), contacts, 30.0,
                    Skeleton.default().scaled(1.1))


def test_npz_round_trip_is_exact(tmp_path):
    motion = random_motion()
    loaded = load_motion_npz(save_motion_npz(motion, tmp_path / "dance.npz"))
    np.testing.assert_allclose(loaded.rotations, motion.rotations, atol=1e-6)
    np.testing.assert_allclose(loaded.root_translation_m, motion.root_translation_m, atol=1e-7)
    np.testing.assert_array_equal(loaded.foot_contacts, motion.foot_contacts)
    np.testing.assert_allclose(loaded.skeleton.rest_offsets_m, motion.skeleton.rest_offsets_m)
    assert loaded.fps == motion.fps
    with np.load(tmp_path / "dance.npz") as data:
        assert data["smpl_poses"].shape == (12, 72) and data["edge_151"].shape == (12, 151)
        np.testing.assert_allclose(data["full_pose"], motion.joint_positions(), atol=1e-6)


def test_npz_missing_keys_are_named(tmp_path):
    np.savez(tmp_path / "bad.npz", smpl_poses=np.zeros((2, 72)))
    with pytest.raises(MotionInputError, match="edge_151"):
        load_motion_npz(tmp_path / "bad.npz")


def _bvh_parser():
    """The independent BVH parser (the optional ``bvh`` package); tests that need it skip without it."""
    return pytest.importorskip("bvh").Bvh


def bvh_forward_kinematics(mocap) -> np.ndarray:
    """(T, J, 3) positions in file joint order, from the parsed offsets and channels alone."""
    names = mocap.get_joints_names()
    positions = np.zeros((mocap.nframes, len(names), 3))
    world = np.zeros((mocap.nframes, len(names), 3, 3))
    for j, name in enumerate(names):
        channels = mocap.joint_channels(name)
        values = np.array(mocap.frames_joint_channels(name, channels), np.float64)
        rot_names = [c for c in channels if c.endswith("rotation")]
        angles = np.radians(values[:, [channels.index(c) for c in rot_names]])
        local = euler_to_matrix(angles, "".join(c[0].lower() for c in rot_names))
        offset = np.array(mocap.joint_offset(name))
        parent = mocap.joint_parent_index(name)
        if parent < 0:
            positions[:, j] = values[:, [channels.index(c) for c in ("Xposition", "Yposition", "Zposition")]] + offset
            world[:, j] = local
        else:
            positions[:, j] = positions[:, parent] + world[:, parent] @ offset
            world[:, j] = world[:, parent] @ local
    return positions


def test_bvh_read_by_an_independent_parser_gives_the_same_joints(tmp_path):
    motion = random_motion()
    text = save_motion_bvh(motion, tmp_path / "dance.bvh").read_text()
    mocap = _bvh_parser()(text)
    assert mocap.nframes == 12 and mocap.frame_time == pytest.approx(1 / 30)
    assert len(mocap.get_joints_names()) == 24
    expected = motion.joint_positions().astype(np.float64) @ Z_UP_TO_BVH.T  # z-up world -> BVH y-up
    order = [JOINT_NAMES.index(n) for n in mocap.get_joints_names()]
    np.testing.assert_allclose(bvh_forward_kinematics(mocap), expected[:, order], atol=1e-4)


def test_bvh_is_y_up_and_loads_back(tmp_path):
    motion = random_motion()
    path = save_motion_bvh(motion, tmp_path / "dance.bvh")
    loaded = load_motion_bvh(path)
    assert loaded.fps == 30.0
    np.testing.assert_allclose(loaded.joint_positions(), motion.joint_positions(), atol=1e-4)
    np.testing.assert_allclose(loaded.rotations, motion.rotations, atol=1e-5)
    standing = Motion3D(np.array([[0, 0, 0.9]], np.float32), np.broadcast_to(np.eye(3), (1, 24, 3, 3)).copy().astype(
        np.float32), np.zeros((1, 4), np.float32), 30.0)
    standing.rotations[0, 0] = UPRIGHT
    stand = _bvh_parser()(save_motion_bvh(standing, tmp_path / "stand.bvh").read_text())
    assert stand.frame_joint_channel(0, "pelvis", "Yposition") == pytest.approx(0.9)  # up is +y in the file
