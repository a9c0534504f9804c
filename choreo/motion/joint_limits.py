"""Anatomical joint limits: keep every generated pose one a human body can make.

Interpolated keyframes, foot-locking IK and learned generators can all overshoot into
poses no body reaches (a head turned onto the shoulder, a knee bent backwards). Each
limited joint's local rotation is read as Euler angles in an order that puts its
widest axis first (so large flexions such as a 140 degree elbow stay unambiguous),
each angle is clamped to its range and the rotation is rebuilt. Joints already inside
their range are returned bit for bit. The ranges follow clinical range-of-motion
tables (AAOS), split over the SMPL joints that share a motion (three spine joints,
neck and head), and widened where dancers go further. Shoulders move in a wide
cone that Euler ranges describe badly and are left free; the root is the body's
placement, not a joint.

Axes are SMPL local frames: x = the body's left, y = up, z = forward. Signs follow
the move library: knee flexion +x, hip flexion -x, left hip abduction +z, spine and
neck forward bend +x, twist +y, side bend +z, left elbow flexion -y. Right-side
ranges mirror the left ones: (x, y, z) -> (x, -y, -z); knees and elbows are measured
from each side's own straight line, which the SMPL rest pose does not quite have.

Example::

    motion = replace(motion, rotations=clamp_to_joint_limits(motion.rotations))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MotionInputError
from .rotations import euler_to_matrix
from .skeleton import JOINT, NUM_JOINTS, SMPL_REST_OFFSETS_M

# Knees and elbows may straighten this far past a straight line, degrees.
HYPEREXTENSION_DEG = 2.0


@dataclass(frozen=True)
class JointRange:
    """Allowed local rotation of one joint.

    order   : Euler order the rotation is read in (intrinsic), widest axis first.
    min_deg : (x, y, z) lower bounds, degrees.
    max_deg : (x, y, z) upper bounds, degrees.
    """

    order: str
    min_deg: tuple[float, float, float]
    max_deg: tuple[float, float, float]

    def mirrored(self) -> "JointRange":
        """The range of the opposite side: y and z change sign."""
        low = (self.min_deg[0], -self.max_deg[1], -self.max_deg[2])
        high = (self.max_deg[0], -self.min_deg[1], -self.min_deg[2])
        return JointRange(self.order, low, high)


# Centre joints and the left side; the right side is mirrored below.
_LEFT_AND_CENTRE: dict[str, JointRange] = {
    # Spine: about 105 deg forward bend, 75 back, 90 twist and 75 side bend over the three joints.
    "spine1": JointRange("yxz", (-25.0, -30.0, -25.0), (35.0, 30.0, 25.0)),
    "spine2": JointRange("yxz", (-25.0, -30.0, -25.0), (35.0, 30.0, 25.0)),
    "spine3": JointRange("yxz", (-25.0, -30.0, -25.0), (35.0, 30.0, 25.0)),
    # Neck + head: 75 deg nod forward and back, 70 deg turn each way, 45 deg tilt to the shoulder.
    "neck": JointRange("yxz", (-40.0, -35.0, -25.0), (40.0, 35.0, 25.0)),
    "head": JointRange("yxz", (-35.0, -35.0, -20.0), (35.0, 35.0, 20.0)),
    "left_collar": JointRange("xyz", (-20.0, -25.0, -15.0), (20.0, 25.0, 30.0)),
    "left_wrist": JointRange("xyz", (-80.0, -35.0, -75.0), (80.0, 35.0, 75.0)),
    "left_hand": JointRange("xyz", (-30.0, -30.0, -60.0), (30.0, 30.0, 60.0)),
    # Hip: 125 deg flexion, 30 extension, 50 abduction, 50 adduction (crossing steps), 45 deg rotation.
    "left_hip": JointRange("xzy", (-125.0, -45.0, -50.0), (30.0, 45.0, 50.0)),
    "left_ankle": JointRange("xyz", (-45.0, -25.0, -30.0), (55.0, 25.0, 30.0)),
    "left_foot": JointRange("xyz", (-40.0, -10.0, -10.0), (40.0, 10.0, 10.0)),
}


def _straight_deg(hinge: str, child: str, axis: str) -> float:
    """Hinge angle (degrees about ``axis``) at which the child bone continues the parent bone in a line.

    SMPL's rest pose is not straight at the knees and elbows (the offsets bend by 2-6 degrees), so
    "no hyperextension" is measured from this angle, not from zero.
    """
    first, second = [index for index in range(3) if "xyz"[index] != axis][::-1 if axis == "y" else 1]
    parent_bone, child_bone = SMPL_REST_OFFSETS_M[JOINT[hinge]], SMPL_REST_OFFSETS_M[JOINT[child]]
    angle = np.arctan2(parent_bone[second], parent_bone[first]) - np.arctan2(child_bone[second], child_bone[first])
    return float(np.degrees((angle + np.pi) % (2 * np.pi) - np.pi))


def _hinges() -> dict[str, JointRange]:
    """Knees and elbows: 150 deg flexion, at most ``HYPEREXTENSION_DEG`` past straight; a little
    tibial rotation, forearm twist +-90 (the SMPL rest offsets add a few degrees of sideways tilt)."""
    ranges = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        straight = _straight_deg(f"{side}_knee", f"{side}_ankle", "x")
        ranges[f"{side}_knee"] = JointRange("xyz", (straight - HYPEREXTENSION_DEG, -25.0, -12.0),
                                            (150.0, 25.0, 12.0))
        straight = _straight_deg(f"{side}_elbow", f"{side}_wrist", "y")  # left flexion is -y, right +y
        flexed, extended = straight - sign * 150.0, straight + sign * HYPEREXTENSION_DEG
        ranges[f"{side}_elbow"] = JointRange("yzx", (-90.0, min(flexed, extended), -15.0),
                                             (90.0, max(flexed, extended), 15.0))
    return ranges


JOINT_RANGES: dict[str, JointRange] = {
    **_LEFT_AND_CENTRE,
    **{name.replace("left_", "right_"): limit.mirrored() for name, limit in _LEFT_AND_CENTRE.items()
       if name.startswith("left_")},
    **_hinges(),
}


def clamp_to_joint_limits(rotations: np.ndarray, ranges: dict[str, JointRange] | None = None) -> np.ndarray:
    """Local rotations with every limited joint moved to the nearest pose inside its range.

    rotations : (T, 24, 3, 3) local rotations, SMPL joint order; slot 0 (root) is never changed.
    ranges    : joint name -> JointRange; default ``JOINT_RANGES``.
    returns   : (T, 24, 3, 3) same dtype; rotations already inside their range are unchanged.

    >>> rest = np.broadcast_to(np.eye(3), (1, 24, 3, 3)).copy()
    >>> bent_back = euler_to_matrix(np.radians([-40.0, 0.0, 0.0]))
    >>> rest[0, JOINT["left_knee"]] = bent_back
    >>> round(float(np.degrees(euler_angles(clamp_to_joint_limits(rest)[0, 4], "xyz")[0])), 3)
    -3.0
    """
    rotations = np.asarray(rotations)
    if rotations.ndim != 4 or rotations.shape[1:] != (NUM_JOINTS, 3, 3):
        raise MotionInputError(f"rotations must be (T, {NUM_JOINTS}, 3, 3) local rotations, got {rotations.shape}. "
                               "Pass Motion3D.rotations.")
    result = rotations.copy()
    for name, limit in (JOINT_RANGES if ranges is None else ranges).items():
        joint = JOINT[name]
        axes = ["xyz".index(axis) for axis in limit.order]
        low = np.radians(np.asarray(limit.min_deg)[axes])
        high = np.radians(np.asarray(limit.max_deg)[axes])
        angles = euler_angles(rotations[:, joint].astype(np.float64), limit.order)
        clamped = np.clip(angles, low, high)
        outside = np.any(clamped != angles, axis=-1)
        if outside.any():
            result[outside, joint] = euler_to_matrix(clamped[outside], limit.order).astype(rotations.dtype)
    return result


def euler_angles(matrices: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (radians) of rotation matrices, the inverse of ``euler_to_matrix(., order)``.

    matrices : (..., 3, 3).  order : a permutation of "xyz".
    returns  : (..., 3) angles in the order's letters; the middle one lies in [-pi/2, pi/2].
    """
    i, j, k = ("xyz".index(axis) for axis in order)
    sign = 1.0 if (j - i) % 3 == 1 else -1.0  # +1 for the cyclic orders xyz, yzx, zxy
    middle = np.arcsin(np.clip(sign * matrices[..., i, k], -1.0, 1.0))
    first = np.arctan2(-sign * matrices[..., j, k], matrices[..., k, k])
    last = np.arctan2(-sign * matrices[..., i, j], matrices[..., i, i])
    return np.stack([first, middle, last], axis=-1)
