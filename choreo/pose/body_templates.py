"""Rigid point templates that SMPL-24 lacks: face, eyes and ears, fingers, toes and heels.

OpenPose-style renders need 136 points but SMPL-24 has no face or fingers, so
each template is fixed to one joint's frame and moves with that joint's world
rotation (a hand turns with the wrist, the face with the head). Coordinates are
metres in the SMPL body frame of the default skeleton: x = the body's left,
y = up, z = forward, relative to the named joint. Sizes are those of an average
adult; callers scale them with the skeleton's bone lengths.
"""

from __future__ import annotations

import numpy as np

_MIRROR_X = np.array([-1.0, 1.0, 1.0])


def _ellipse(center: tuple[float, float, float], half_w: float, half_h: float, angles_deg: list[float]) -> np.ndarray:
    """Points on a frontal ellipse (constant z), angles counter-clockwise from the body's left."""
    rad = np.deg2rad(angles_deg)
    return np.stack([center[0] + half_w * np.cos(rad), center[1] + half_h * np.sin(rad),
                     np.full(len(rad), center[2])], axis=1)


def _face_70() -> np.ndarray:
    """iBUG-68 face plus two pupils (68 right, 69 left), relative to the SMPL head joint.

    iBUG numbers from the person's right to left (image left to right on a frontal view).
    """
    theta = np.pi * np.arange(17) / 16
    jaw = np.stack([-0.07 * np.cos(theta), 0.04 - 0.105 * np.sin(theta), 0.085 * np.sin(theta)], axis=1)
    brow_x = np.linspace(-0.058, -0.012, 5)
    brow_arch = np.array([0.0, 0.004, 0.006, 0.005, 0.002])
    right_brow = np.stack([brow_x, 0.068 + brow_arch, np.full(5, 0.095)], axis=1)
    left_brow = (right_brow * _MIRROR_X)[::-1]
    bridge = np.stack([np.zeros(4), np.linspace(0.05, 0.011, 4), np.linspace(0.095, 0.117, 4)], axis=1)
    nostrils = np.stack([np.linspace(-0.016, 0.016, 5), np.array([0.004, 0.001, 0.0, 0.001, 0.004]),
                         np.array([0.104, 0.107, 0.109, 0.107, 0.104])], axis=1)
    eye_angles = [180.0, 120.0, 60.0, 0.0, -60.0, -120.0]
    right_eye = _ellipse((-0.032, 0.045, 0.088), 0.0125, 0.005, eye_angles)
    left_eye = _ellipse((0.032, 0.045, 0.088), 0.0125, 0.005, eye_angles)
    outer_lip = _ellipse((0.0, -0.025, 0.097), 0.025, 0.011, [180.0 - 30.0 * i for i in range(12)])
    inner_lip = _ellipse((0.0, -0.025, 0.099), 0.017, 0.004, [180.0 - 45.0 * i for i in range(8)])
    pupils = np.array([[-0.032, 0.045, 0.091], [0.032, 0.045, 0.091]])
    return np.concatenate([jaw, right_brow, left_brow, bridge, nostrils, right_eye, left_eye,
                           outer_lip, inner_lip, pupils])


FACE_70_M = _face_70()

# OpenPose head points, relative to the head joint.
NOSE_M = np.array([0.0, 0.008, 0.118])
RIGHT_EYE_M = FACE_70_M[68]
LEFT_EYE_M = FACE_70_M[69]
RIGHT_EAR_M = np.array([-0.075, 0.03, -0.005])
LEFT_EAR_M = RIGHT_EAR_M * _MIRROR_X

# Relaxed left hand in the T-pose (fingers along +x, palm down, thumb forward),
# relative to the left wrist joint, in the 21-point OpenPose hand order.
LEFT_HAND_21_M = np.array([
    [0.0, 0.0, 0.0],
    [0.025, -0.01, 0.02], [0.045, -0.015, 0.04], [0.065, -0.02, 0.052], [0.083, -0.025, 0.06],
    [0.09, 0.0, 0.025], [0.125, -0.008, 0.027], [0.147, -0.018, 0.028], [0.163, -0.03, 0.029],
    [0.093, 0.0, 0.005], [0.133, -0.008, 0.005], [0.158, -0.02, 0.005], [0.175, -0.033, 0.005],
    [0.088, 0.0, -0.014], [0.124, -0.008, -0.015], [0.147, -0.019, -0.016], [0.163, -0.03, -0.017],
    [0.08, -0.002, -0.032], [0.107, -0.009, -0.035], [0.123, -0.017, -0.037], [0.136, -0.026, -0.039],
])
RIGHT_HAND_21_M = LEFT_HAND_21_M * _MIRROR_X
# Hand points carried by the wrist (palm and thumb); the other fingers bend with the SMPL hand joint.
PALM_POINTS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 9, 13, 17)
FINGER_POINTS: tuple[int, ...] = tuple(i for i in range(21) if i not in PALM_POINTS)

# Feet: toes relative to the SMPL foot (toe-base) joint, heels relative to the ankle; left foot.
LEFT_BIG_TOE_M = np.array([-0.02, -0.015, 0.055])
LEFT_SMALL_TOE_M = np.array([0.025, -0.015, 0.035])
LEFT_HEEL_M = np.array([0.005, -0.075, -0.045])
