"""Keep planted feet still: lock each support foot on the floor and solve two-bone leg IK.

While a foot is planted its ankle keeps the world position it landed at and the
foot lies flat, facing the dancer's heading; the hip and knee are re-solved
analytically (law of cosines, the knee a hinge bending forward in the plane its
keyframed hinge axis sets), so bone lengths never change and knees never bend
backwards or sideways. Between plants the ankle follows the
keyframed swing, offset smoothly from the last landing spot to the next one, and
never goes below the floor. Where a planted foot is out of reach the pelvis is
lowered just enough, smoothly.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from ..rotations import axis_angle_to_matrix, matrix_to_quaternion, quaternion_to_matrix, slerp
from ..skeleton import JOINT, NUM_JOINTS, PARENTS, UPRIGHT, Skeleton

# Below this sine of the angle between hinge axis and leg line the hinge says little about the bend plane.
_HINGE_MIN_SINE = 0.2
_LEGS = ((JOINT["left_hip"], JOINT["left_knee"], JOINT["left_ankle"]),
         (JOINT["right_hip"], JOINT["right_knee"], JOINT["right_ankle"]))
_REACH_FRACTION = 0.999
_FLAT_RAMP_FRAMES = 4.0  # frames over which a lifting foot leaves the flat orientation
_SPIN_RAD_S = 0.5  # above this heading speed the toes pivot and are not counted as planted
_SWING_EASE = 0.25  # share of a swing at each end over which the keyed swing eases in and out


def world_transforms(skeleton: Skeleton, rotations: np.ndarray, root_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics keeping world rotations: ((T, 24, 3, 3), (T, 24, 3) metres)."""
    world = np.empty_like(rotations)
    positions = np.empty(rotations.shape[:2] + (3,))
    world[:, 0], positions[:, 0] = rotations[:, 0], root_m
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        world[:, joint] = world[:, parent] @ rotations[:, joint]
        positions[:, joint] = positions[:, parent] + world[:, parent] @ skeleton.rest_offsets_m[joint]
    return world, positions


def floor_ankle_height_m(skeleton: Skeleton) -> float:
    """Ankle-centre height when the foot lies flat with the toe joint on the floor (z = 0)."""
    return float(-skeleton.rest_offsets_m[JOINT["left_foot"], 1])


def lock_feet(skeleton: Skeleton, rotations: np.ndarray, root_m: np.ndarray, support: np.ndarray,
              yaw_rad: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Foot-locked rotations, root and contacts.

    rotations : (T, 24, 3, 3) local, root with world-up.  root_m : (T, 3) metres.
    support   : (T, 2) bool planted (left, right).  yaw_rad : (T,) heading.
    returns   : rotations (T, 24, 3, 3), root (T, 3), contacts (T, 4) float32 for joints (7, 8, 10, 11).
    """
    rotations = rotations.copy()
    root_m = root_m.copy()
    floor_z = floor_ankle_height_m(skeleton)
    world, positions = world_transforms(skeleton, rotations, root_m)
    targets = np.stack([_ankle_targets(positions[:, ankle], support[:, side], floor_z)
                        for side, (_, _, ankle) in enumerate(_LEGS)], axis=1)
    root_m[:, 2] -= _pelvis_drop(skeleton, world[:, 0], root_m, targets, support)
    flat = UPRIGHT @ axis_angle_to_matrix(np.stack([np.zeros_like(yaw_rad), yaw_rad, np.zeros_like(yaw_rad)], -1))
    for side, (hip, knee, ankle) in enumerate(_LEGS):
        hip_pos = root_m + world[:, 0] @ skeleton.rest_offsets_m[hip]
        knee_pos = positions[:, knee] - positions[:, 0] + root_m
        weight = _flat_weight(support[:, side])
        ankle_world = quaternion_to_matrix(slerp(matrix_to_quaternion(world[:, ankle]), matrix_to_quaternion(flat), weight))
        rotations[:, hip], rotations[:, knee], rotations[:, ankle] = _two_bone_ik(
            skeleton, world[:, 0], world[:, hip], rotations[:, knee], hip_pos, knee_pos, targets[:, side], ankle_world,
            knee, ankle)
    spinning = np.abs(np.gradient(yaw_rad) * fps) > _SPIN_RAD_S if len(yaw_rad) > 1 else np.zeros(len(yaw_rad), bool)
    contacts = np.stack([support[:, 0], support[:, 1], support[:, 0] & ~spinning, support[:, 1] & ~spinning], axis=1)
    return rotations, root_m, contacts.astype(np.float32)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) frame ranges of each run of consecutive True values in a 1-D bool mask.

    Used for planted-foot spans here and for re-generated gaps in ``keep.blend_into_kept``.
    Example: ``true_runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]``.
    """
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _ankle_targets(free_m: np.ndarray, planted: np.ndarray, floor_z: float) -> np.ndarray:
    """(T, 3) ankle goal: fixed landing spot while planted, offset swing in between, never below the floor."""
    target = free_m.copy()
    runs = true_runs(planted)
    locks = []
    for start, stop in runs:
        spot = np.array([free_m[start, 0], free_m[start, 1], floor_z])
        target[start:stop] = spot
        locks.append((start, stop, spot))
    if locks:
        first_start, _, first_spot = locks[0]
        target[:first_start] += first_spot - free_m[first_start]
        _, last_stop, last_spot = locks[-1]
        target[last_stop:] += last_spot - free_m[last_stop - 1]
    for (_, lift, spot_a), (land, _, spot_b) in zip(locks[:-1], locks[1:]):
        u = ((np.arange(lift, land) - (lift - 1)) / max(land - (lift - 1), 1))[:, None]
        s = _quintic(u)
        # The keyed swing is the free ankle's departure from its own chord between lift-off and landing,
        # eased in and out (``_SWING_EASE``): the ankle leaves the floor and lands with zero speed and
        # acceleration even when the body above it is moving, instead of taking up the body's speed in one
        # frame (a jerk spike at every lift-off in the benchmark).
        chord = (1 - s) * free_m[lift - 1] + s * free_m[land]
        ease = _quintic(np.clip(np.minimum(u, 1 - u) / _SWING_EASE, 0.0, 1.0))
        target[lift:land] = (1 - s) * spot_a + s * spot_b + ease * (free_m[lift:land] - chord)
    target[:, 2] = np.maximum(target[:, 2], floor_z)
    return target


def _quintic(x: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 over x in [0, 1] with zero slope and curvature at both ends."""
    return 10 * x ** 3 - 15 * x ** 4 + 6 * x ** 5


def _flat_weight(planted: np.ndarray) -> np.ndarray:
    """1 while planted, easing to 0 within a few frames of lift-off and landing."""
    frames = np.arange(len(planted))
    planted_frames = np.flatnonzero(planted)
    if len(planted_frames) == 0:
        return np.zeros(len(planted))
    index = np.clip(np.searchsorted(planted_frames, frames), 1, len(planted_frames)) - 1
    nearest = np.minimum(np.abs(frames - planted_frames[index]),
                         np.abs(frames - planted_frames[np.minimum(index + 1, len(planted_frames) - 1)]))
    ramp = np.clip(1.0 - nearest / _FLAT_RAMP_FRAMES, 0.0, 1.0)
    return ramp * ramp * (3 - 2 * ramp)


def _pelvis_drop(skeleton: Skeleton, pelvis_world: np.ndarray, root_m: np.ndarray, targets: np.ndarray,
                 support: np.ndarray) -> np.ndarray:
    """(T,) metres to lower the pelvis so every planted ankle target is within leg reach."""
    need = np.zeros(len(root_m))
    for side, (hip, knee, ankle) in enumerate(_LEGS):
        reach = _REACH_FRACTION * (np.linalg.norm(skeleton.rest_offsets_m[knee]) + np.linalg.norm(skeleton.rest_offsets_m[ankle]))
        to_target = targets[:, side] - (root_m + pelvis_world @ skeleton.rest_offsets_m[hip])
        horizontal_sq = np.minimum(np.sum(to_target[:, :2] ** 2, axis=-1), reach ** 2)
        drop = -to_target[:, 2] - np.sqrt(reach ** 2 - horizontal_sq)
        need = np.maximum(need, np.where(support[:, side], np.maximum(drop, 0.0), 0.0))
    if not np.any(need > 0):
        return need
    smooth = gaussian_filter1d(maximum_filter1d(need, size=9), sigma=2.0)
    return np.maximum(smooth, need)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking directions a to b (T, 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.arctan2(sin, np.sum(a * b, axis=-1, keepdims=True))
    return axis_angle_to_matrix(axis / np.maximum(sin, 1e-12) * angle)


def _two_bone_ik(skeleton: Skeleton, pelvis_world: np.ndarray, hip_world: np.ndarray, knee_local: np.ndarray,
                 hip_m: np.ndarray, knee_hint_m: np.ndarray, target_m: np.ndarray, ankle_world: np.ndarray,
                 knee: int, ankle: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local (hip, knee, ankle) rotations placing the ankle at ``target_m`` with world rotation ``ankle_world``."""
    upper = np.linalg.norm(skeleton.rest_offsets_m[knee])
    lower = np.linalg.norm(skeleton.rest_offsets_m[ankle])
    to_target = target_m - hip_m
    distance = np.linalg.norm(to_target, axis=-1, keepdims=True)
    along = to_target / np.maximum(distance, 1e-9)
    reach = np.clip(distance, abs(upper - lower) + 1e-4, (upper + lower) * (1 - 1e-6))
    pole = knee_hint_m - hip_m
    side = pole - np.sum(pole * along, axis=-1, keepdims=True) * along
    side_norm = np.linalg.norm(side, axis=-1, keepdims=True)
    forward = pelvis_world @ np.array([0.0, 0.0, 1.0])
    fallback = forward - np.sum(forward * along, axis=-1, keepdims=True) * along
    side = np.where(side_norm > 1e-6, side / np.maximum(side_norm, 1e-12),
                    fallback / np.maximum(np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-12))
    # The knee bends forward in the plane normal to its hinge (the hip frame's x axis, as knee flexion is
    # about x), so the thigh keeps its twist; the keyframed knee only decides when the hinge lies along the leg.
    hinge = hip_world[..., :, 0]
    hinge = hinge - np.sum(hinge * along, axis=-1, keepdims=True) * along
    hinge_norm = np.linalg.norm(hinge, axis=-1, keepdims=True)
    side = np.where(hinge_norm > _HINGE_MIN_SINE, np.cross(along, hinge / np.maximum(hinge_norm, 1e-12)), side)
    cos_hip = np.clip((upper ** 2 + reach ** 2 - lower ** 2) / (2 * upper * reach), -1.0, 1.0)
    knee_m = hip_m + upper * (cos_hip * along + np.sqrt(1 - cos_hip ** 2) * side)
    thigh_now = hip_world @ skeleton.rest_offsets_m[knee]
    new_hip_world = _rotation_between(thigh_now, knee_m - hip_m) @ hip_world
    new_hip_world = _hinge_twist(new_hip_world, knee_m - hip_m, np.cross(side, along)) @ new_hip_world
    knee_world = new_hip_world @ knee_local
    shin_now = knee_world @ skeleton.rest_offsets_m[ankle]
    new_knee_world = _rotation_between(shin_now, hip_m + along * reach - knee_m) @ knee_world
    return (_transpose(pelvis_world) @ new_hip_world, _transpose(new_hip_world) @ new_knee_world,
            _transpose(new_knee_world) @ ankle_world)


def _hinge_twist(hip_world: np.ndarray, thigh: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """(T, 3, 3) world rotation about the thigh turning the knee's hinge axis (the hip frame's x, as knee
    flexion is about x) onto the leg plane's normal, so the knee bends as a hinge, never sideways."""
    axis = thigh / np.maximum(np.linalg.norm(thigh, axis=-1, keepdims=True), 1e-12)
    hinge = hip_world[..., :, 0]
    hinge = hinge - np.sum(hinge * axis, axis=-1, keepdims=True) * axis
    angle = np.arctan2(np.sum(np.cross(hinge, normal) * axis, axis=-1), np.sum(hinge * normal, axis=-1))
    return axis_angle_to_matrix(axis * angle[..., None])


def _transpose(matrices: np.ndarray) -> np.ndarray:
    return np.swapaxes(matrices, -1, -2)
