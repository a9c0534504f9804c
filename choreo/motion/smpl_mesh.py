"""A posed SMPL body mesh per frame, on the motion's frame clock (the result of ``smpl_body.pose_body``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MotionInputError
from .skeleton import NUM_JOINTS


@dataclass(frozen=True)
class BodyMeshSequence:
    """Mesh vertices and SMPL joints of a dance, in Choreo's world frame.

    vertices_m : (T, V, 3) float32, metres, z up (V = 6890 for SMPL).
    joints_m   : (T, 24, 3) float32, metres, z up; SMPL-24 order (``skeleton.JOINT_NAMES``).
    faces      : (F, 3) int32 vertex indices, counter-clockwise seen from outside.
    fps        : frames per second; frame t is at t / fps seconds.
    betas      : (B,) float32 SMPL shape coefficients the mesh was made with.
    gender     : "neutral", "male" or "female" (the SMPL model used).
    """

    vertices_m: np.ndarray
    joints_m: np.ndarray
    faces: np.ndarray
    fps: float
    betas: np.ndarray
    gender: str

    def __post_init__(self) -> None:
        num_frames = len(self.vertices_m)
        if self.vertices_m.ndim != 3 or self.vertices_m.shape[2] != 3:
            raise MotionInputError(f"mesh vertices must be (T, V, 3), got {self.vertices_m.shape}.")
        if self.joints_m.shape != (num_frames, NUM_JOINTS, 3):
            raise MotionInputError(f"mesh joints must be ({num_frames}, {NUM_JOINTS}, 3), got {self.joints_m.shape}.")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise MotionInputError(f"mesh faces must be (F, 3), got {self.faces.shape}.")
        if not self.fps > 0:
            raise MotionInputError(f"mesh fps must be positive, got {self.fps}.")

    @property
    def num_frames(self) -> int:
        return len(self.vertices_m)
