"""Synthetic whole-body dances for the editor tests: a standing body whose bones swing sinusoidally."""

from __future__ import annotations

import numpy as np

from conftest import load_pack

BODY_PX = np.array([
    [256, 150], [256, 200], [216, 200], [196, 270], [186, 340], [296, 200], [316, 270], [326, 340],
    [231, 370], [231, 480], [231, 590], [281, 370], [281, 480], [281, 590], [246, 140], [266, 140],
    [236, 145], [276, 145]], np.float64)


def synthetic_dance(num_frames: int = 120, fps: float = 30.0, seed: int = 0, module: str = "choreo_pack_under_test"):
    """A PoseSequence2D (num_frames, 136) on a 512x768 canvas, confident everywhere, smooth in time."""
    pack = load_pack(module)
    joint_space = pack.choreo.edit.joint_space
    rng = np.random.default_rng(seed)
    rest = np.zeros((1, 136, 2))
    rest[0, :18] = BODY_PX
    rest[0, 18:24] = BODY_PX[[13, 13, 13, 10, 10, 10]] + [[10, 20], [20, 18], [-5, 15], [-10, 20], [-20, 18], [5, 15]]
    rest[0, 24:94] = BODY_PX[0] + rng.normal(0, 12, (70, 2))
    rest[0, 94:115] = BODY_PX[7] + np.concatenate([[[0, 0]], rng.normal(0, 15, (20, 2)) + [0, 20]])
    rest[0, 115:136] = BODY_PX[4] + np.concatenate([[[0, 0]], rng.normal(0, 15, (20, 2)) + [0, 20]])
    space = joint_space.to_joint_space(rest)
    t = np.arange(num_frames)[:, None] / fps
    phase = rng.uniform(0, 2 * np.pi, 136)
    amplitude = np.where(np.arange(136) < 24, 0.35, 0.1)
    angles = space.angle_rad + amplitude * np.sin(2 * np.pi * 1.0 * t + phase)
    root = space.root_px + np.concatenate([20 * np.sin(2 * np.pi * 0.5 * t), 8 * np.sin(2 * np.pi * 2 * t)], axis=1)
    moving = joint_space.JointSpace(root, angles, np.repeat(space.length_px, num_frames, axis=0))
    points = joint_space.from_joint_space(moving).astype(np.float32)
    return pack.choreo.pose.sequence.PoseSequence2D(points, np.ones((num_frames, 136), np.float32), 512, 768, fps)
