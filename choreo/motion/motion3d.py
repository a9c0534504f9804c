"""3D dance motion on the SMPL-24 topology, and its EDGE / SMPL file layouts.

EDGE's 151-d frame layout: ``[4 foot contacts | 3 root translation | 24 x 6D rotation]``
(contacts first; channels for joints 7, 8, 10, 11). The rotations are SMPL local
rotations whose root includes the y-up -> z-up change (see ``skeleton``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import MotionInputError
from .rotations import matrix_to_axis_angle, matrix_to_rotation_6d, rotation_6d_to_matrix, axis_angle_to_matrix
from .skeleton import FOOT_CONTACT_JOINTS, NUM_JOINTS, UPRIGHT, Skeleton, forward_kinematics

EDGE_FRAME_DIM = 4 + 3 + NUM_JOINTS * 6  # 151


@dataclass(frozen=True)
class Motion3D:
    """A dance as joint rotations on one frame clock.

    root_translation_m : (T, 3) float32, pelvis position, metres, z up.
    rotations          : (T, 24, 3, 3) float32 local joint rotations.
    foot_contacts      : (T, 4) float32 in [0, 1] for joints (7, 8, 10, 11).
    fps                : frames per second; frame t is at t / fps seconds.
    skeleton           : bone geometry used by ``joint_positions``.
    """

    root_translation_m: np.ndarray
    rotations: np.ndarray
    foot_contacts: np.ndarray
    fps: float
    skeleton: Skeleton = field(default_factory=Skeleton.default)

    def __post_init__(self) -> None:
        num_frames = len(self.root_translation_m)
        if self.rotations.shape != (num_frames, NUM_JOINTS, 3, 3):
            raise MotionInputError(
                f"Motion3D rotations must be (T, 24, 3, 3) with T = {num_frames}, got {self.rotations.shape}.")
        if self.foot_contacts.shape != (num_frames, 4):
            raise MotionInputError(f"Motion3D foot_contacts must be (T, 4), got {self.foot_contacts.shape}.")
        if not self.fps > 0:
            raise MotionInputError(f"Motion3D fps must be positive, got {self.fps}.")

    @property
    def num_frames(self) -> int:
        return len(self.root_translation_m)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def joint_positions(self) -> np.ndarray:
        """(T, 24, 3) float32 world positions in metres (z up)."""
        return forward_kinematics(self.skeleton, self.rotations, self.root_translation_m).astype(np.float32)

    def with_skeleton(self, skeleton: Skeleton) -> "Motion3D":
        """Retarget to other proportions: same rotations, root height scaled by leg length."""
        scale = skeleton.pelvis_height_m() / self.skeleton.pelvis_height_m()
        return replace(self, skeleton=skeleton, root_translation_m=(self.root_translation_m * scale).astype(np.float32))

    def slice_frames(self, start: int, stop: int) -> "Motion3D":
        return replace(self, root_translation_m=self.root_translation_m[start:stop],
                       rotations=self.rotations[start:stop], foot_contacts=self.foot_contacts[start:stop])

    # --- file layouts -------------------------------------------------------------

    def to_edge(self) -> np.ndarray:
        """(T, 151) float32 in EDGE's layout (before EDGE's min-max normaliser)."""
        rot6d = matrix_to_rotation_6d(self.rotations).reshape(self.num_frames, -1)
        return np.concatenate([self.foot_contacts, self.root_translation_m, rot6d], axis=1).astype(np.float32)

    @classmethod
    def from_edge(cls, frames: np.ndarray, fps: float = 30.0, skeleton: Skeleton | None = None) -> "Motion3D":
        """frames : (T, 151) as produced by EDGE (unnormalised)."""
        data = np.asarray(frames, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != EDGE_FRAME_DIM:
            raise MotionInputError(f"EDGE motion must be (T, {EDGE_FRAME_DIM}), got {data.shape}.")
        rotations = rotation_6d_to_matrix(data[:, 7:].reshape(len(data), NUM_JOINTS, 6)).astype(np.float32)
        return cls(data[:, 4:7].copy(), rotations, np.clip(data[:, :4], 0, 1), float(fps), skeleton or Skeleton.default())

    def to_smpl(self, y_up: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """SMPL parameters ``(poses (T, 72) axis-angle radians, trans (T, 3) metres)``.

        With ``y_up`` the world change is removed from the root, giving AIST++'s
        native y-up frame; otherwise the z-up frame of EDGE's saved motions.
        """
        rotations = self.rotations.astype(np.float64)
        trans = self.root_translation_m.astype(np.float64)
        if y_up:
            to_y_up = UPRIGHT.T
            rotations = rotations.copy()
            rotations[:, 0] = to_y_up @ rotations[:, 0]
            trans = trans @ to_y_up.T
        poses = matrix_to_axis_angle(rotations).reshape(self.num_frames, NUM_JOINTS * 3)
        return poses.astype(np.float32), trans.astype(np.float32)

    @classmethod
    def from_smpl(cls, poses: np.ndarray, trans_m: np.ndarray, fps: float, y_up: bool = False,
                  skeleton: Skeleton | None = None) -> "Motion3D":
        """Inverse of ``to_smpl``; foot contacts are estimated from the joint speeds."""
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 2 or poses.shape[1] != NUM_JOINTS * 3:
            raise MotionInputError(f"SMPL poses must be (T, 72) axis-angle, got {poses.shape}.")
        rotations = axis_angle_to_matrix(poses.reshape(len(poses), NUM_JOINTS, 3))
        trans = np.asarray(trans_m, dtype=np.float64)
        if y_up:
            rotations[:, 0] = UPRIGHT @ rotations[:, 0]
            trans = trans @ UPRIGHT.T
        skeleton = skeleton or Skeleton.default()
        positions = forward_kinematics(skeleton, rotations, trans)
        contacts = estimate_foot_contacts(positions, fps)
        return cls(trans.astype(np.float32), rotations.astype(np.float32), contacts, float(fps), skeleton)


def estimate_foot_contacts(joint_positions_m: np.ndarray, fps: float, max_speed_m_s: float = 0.3) -> np.ndarray:
    """Contact labels (T, 4) float32: a foot joint is planted while its speed stays low.

    The threshold matches EDGE's (0.01 m per frame at 30 fps = 0.3 m/s), expressed
    per second so it holds at any fps.
    """
    feet = np.asarray(joint_positions_m)[:, FOOT_CONTACT_JOINTS]
    speed = np.zeros(feet.shape[:2])
    if len(feet) > 1:
        speed[:-1] = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * fps
        speed[-1] = speed[-2]
    return (speed < max_speed_m_s).astype(np.float32)
