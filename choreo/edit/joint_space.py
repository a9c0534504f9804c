"""2D joint space: a pose as a root position plus one angle and one length per bone.

Every keypoint of the 136-point layout hangs off one parent, so a frame is a
kinematic tree rooted at the mid-hip: hips and neck off the root, the body
along the OpenPose limbs, feet off the ankles, each hand's 21 points off its
body wrist, and the 70 face points off the nose. Editing angles and rebuilding
positions by forward kinematics (FK) keeps every bone at its own length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pose.layout import B, BODY_LIMBS, FACE, FEET_BONES, HAND_BONES, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND

ROOT = -1  # the virtual mid-hip point; parent of the hips and the neck
HIPS = (B["right_hip"], B["left_hip"])


def _parents() -> np.ndarray:
    parent = np.full(NUM_KEYPOINTS, ROOT, np.int64)
    for a, b in BODY_LIMBS:
        if b not in HIPS:  # OpenPose draws neck->hip; in the tree both hips hang off the mid-hip root
            parent[b] = a
    parent[B["neck"]] = ROOT
    for ankle, foot in FEET_BONES:
        parent[foot] = ankle
    for hand, wrist in ((LEFT_HAND, B["left_wrist"]), (RIGHT_HAND, B["right_wrist"])):
        parent[hand.start] = wrist
        for a, b in HAND_BONES:
            parent[hand.start + b] = hand.start + a
    parent[FACE] = B["nose"]
    return parent


def _order(parent: np.ndarray) -> np.ndarray:
    """Keypoints sorted so every parent comes before its children."""
    order, frontier = [], [ROOT]
    while frontier:
        children = [int(j) for j in np.flatnonzero(np.isin(parent, frontier))]
        order += children
        frontier = children
    return np.array(order, np.int64)


PARENT = _parents()
ORDER = _order(PARENT)
if len(ORDER) != NUM_KEYPOINTS:
    raise RuntimeError("the joint tree must reach every keypoint of the layout from the root")


def ancestors(joint: int) -> list[int]:
    """The chain from ``joint``'s parent up to (not including) the root."""
    chain, current = [], int(PARENT[joint])
    while current != ROOT:
        chain.append(current)
        current = int(PARENT[current])
    return chain


@dataclass(frozen=True)
class JointSpace:
    """Poses of T frames in joint space (float64).

    root_px   : (T, 2) mid-hip position, pixels.
    angle_rad : (T, 136) global direction of the bone from each keypoint's parent to it, radians, image axes.
    length_px : (T, 136) bone lengths, pixels.
    """

    root_px: np.ndarray
    angle_rad: np.ndarray
    length_px: np.ndarray


def root_position(keypoints_px: np.ndarray) -> np.ndarray:
    """(T, 2) mid-hip of (T, 136, 2) keypoints."""
    return 0.5 * (keypoints_px[:, HIPS[0]] + keypoints_px[:, HIPS[1]])


def to_joint_space(keypoints_px: np.ndarray) -> JointSpace:
    """Joint space of (T, 136, 2) keypoints in pixels."""
    points = keypoints_px.astype(np.float64)
    root = root_position(points)
    parent_px = np.where((PARENT == ROOT)[None, :, None], root[:, None], points[:, np.maximum(PARENT, 0)])
    bone = points - parent_px
    return JointSpace(root, np.arctan2(bone[..., 1], bone[..., 0]), np.hypot(bone[..., 0], bone[..., 1]))


def from_joint_space(space: JointSpace, pinned: np.ndarray | None = None,
                     pinned_px: np.ndarray | None = None) -> np.ndarray:
    """(T, 136, 2) float64 keypoints rebuilt by FK.

    pinned    : optional (136,) bool; a pinned keypoint sits at ``pinned_px`` instead of at the end of its bone,
                and its children hang off that position.
    pinned_px : (T, 136, 2) positions used for pinned keypoints.
    """
    num_frames = len(space.root_px)
    points = np.empty((num_frames, NUM_KEYPOINTS, 2))
    direction = np.stack([np.cos(space.angle_rad), np.sin(space.angle_rad)], axis=-1) * space.length_px[..., None]
    for joint in ORDER:
        if pinned is not None and pinned[joint]:
            points[:, joint] = pinned_px[:, joint]
            continue
        base = space.root_px if PARENT[joint] == ROOT else points[:, PARENT[joint]]
        points[:, joint] = base + direction[:, joint]
    return points


def wrap_angle(angle_rad: np.ndarray) -> np.ndarray:
    """Angles mapped to [-pi, pi)."""
    return (np.asarray(angle_rad) + np.pi) % (2 * np.pi) - np.pi
