"""The SMPL-24 skeleton: joint names, parents, rest offsets and forward kinematics.

World frame: metres, right-handed, **z up**, as in EDGE and the AIST++ joint files.
Local rotations follow SMPL (a y-up body frame); the root rotation carries the
change to the z-up world, exactly as EDGE stores it, so EDGE and SMPL data load
without touching body joints. A standing, front-facing body therefore has the
root rotation ``UPRIGHT`` (+90 degrees about x) and faces -y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rotations import axis_angle_to_matrix

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT = {name: i for i, name in enumerate(JOINT_NAMES)}
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
# Left/right partner of every joint, for mirroring.
MIRROR: tuple[int, ...] = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22)
# EDGE's foot-contact joints, in the order of the 4 contact channels.
FOOT_CONTACT_JOINTS: tuple[int, ...] = (7, 8, 10, 11)

# Rest offsets of each joint from its parent, metres, SMPL y-up body frame.
# Source: the neutral SMPL template offsets published in Stanford-TML/EDGE vis.py
# (smpl_offsets, MIT). Their lengths equal the bone lengths measured on the real
# AIST++ joint files in ../shared/data/dance to 1.4e-8 m (manifest
# 'derived_bone_lengths'; re-checked by bench/bench_choreography.py).
SMPL_REST_OFFSETS_M = np.array([
    [0.0, 0.0, 0.0],
    [0.05858135, -0.08228004, -0.01766408],
    [-0.06030973, -0.09051332, -0.01354254],
    [0.00443945, 0.12440352, -0.03838522],
    [0.04345142, -0.38646945, 0.008037],
    [-0.04325663, -0.38368791, -0.00484304],
    [0.00448844, 0.1379564, 0.02682033],
    [-0.01479032, -0.42687458, -0.037428],
    [0.01905555, -0.4200455, -0.03456167],
    [-0.00226458, 0.05603239, 0.00285505],
    [0.04105436, -0.06028581, 0.12204243],
    [-0.03483987, -0.06210566, 0.13032329],
    [-0.0133902, 0.21163553, -0.03346758],
    [0.07170245, 0.11399969, -0.01889817],
    [-0.08295366, 0.11247234, -0.02370739],
    [0.01011321, 0.08893734, 0.05040987],
    [0.12292141, 0.04520509, -0.019046],
    [-0.11322832, 0.04685326, -0.00847207],
    [0.2553319, -0.01564902, -0.02294649],
    [-0.26012748, -0.01436928, -0.03126873],
    [0.26570925, 0.01269811, -0.00737473],
    [-0.26910836, 0.00679372, -0.00602676],
    [0.08669055, -0.01063603, -0.01559429],
    [-0.0887537, -0.00865157, -0.01010708],
], dtype=np.float64)

# Root rotation of a body standing upright in the z-up world (SMPL y -> world z).
UPRIGHT = axis_angle_to_matrix(np.array([np.pi / 2, 0.0, 0.0]))


@dataclass(frozen=True)
class Skeleton:
    """Bone geometry of one body; the topology is always SMPL-24.

    rest_offsets_m : (24, 3) float64, metres, offset of each joint from its parent
    in the parent's rest frame (SMPL y-up body frame).
    """

    rest_offsets_m: np.ndarray

    @classmethod
    def default(cls) -> "Skeleton":
        return cls(SMPL_REST_OFFSETS_M.copy())

    @property
    def bone_lengths_m(self) -> np.ndarray:
        """(24,) length of the bone ending at each joint; 0 for the root."""
        return np.linalg.norm(self.rest_offsets_m, axis=-1)

    def scaled(self, factor: float) -> "Skeleton":
        return Skeleton(self.rest_offsets_m * float(factor))

    def with_bone_lengths(self, lengths_m: np.ndarray) -> "Skeleton":
        """Same bone directions, new lengths (24,) metres; for retargeting to a reference body."""
        lengths = np.asarray(lengths_m, dtype=np.float64)
        unit = self.rest_offsets_m / np.maximum(self.bone_lengths_m[:, None], 1e-9)
        return Skeleton(unit * lengths[:, None])

    def pelvis_height_m(self) -> float:
        """Pelvis height above the lowest foot joint when standing in the rest pose."""
        rest = forward_kinematics(self, np.broadcast_to(np.eye(3), (1, NUM_JOINTS, 3, 3)).copy(), np.zeros((1, 3)))
        return float(-rest[0, [7, 8, 10, 11], 1].min())


def forward_kinematics(skeleton: Skeleton, rotations: np.ndarray, root_translation_m: np.ndarray) -> np.ndarray:
    """Joint positions from local rotations, parents before children.

    rotations          : (T, 24, 3, 3) local rotations (SMPL convention, root includes world-up).
    root_translation_m : (T, 3) pelvis position in metres.
    returns            : (T, 24, 3) float64 world positions, metres.
    """
    rot = np.asarray(rotations, dtype=np.float64)
    num_frames = rot.shape[0]
    world_rot = np.empty_like(rot)
    positions = np.empty((num_frames, NUM_JOINTS, 3))
    world_rot[:, 0] = rot[:, 0]
    positions[:, 0] = root_translation_m
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        world_rot[:, joint] = world_rot[:, parent] @ rot[:, joint]
        positions[:, joint] = positions[:, parent] + world_rot[:, parent] @ skeleton.rest_offsets_m[joint]
    return positions
