"""Batched SMPL-24 forward kinematics and 6D rotations in torch (differentiable, for losses).

The torch twin of ``choreo.motion.skeleton.forward_kinematics`` and
``choreo.motion.rotations.rotation_6d_to_matrix``; same skeleton, same conventions.
"""

from __future__ import annotations

import torch

from ..motion.skeleton import NUM_JOINTS, PARENTS, SMPL_REST_OFFSETS_M

CONTACT_CHANNELS = slice(0, 4)
ROOT_CHANNELS = slice(4, 7)
ROTATION_CHANNELS = slice(7, 7 + NUM_JOINTS * 6)


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt on the first two rows (pytorch3d / EDGE convention).  d6 : (..., 6) -> (..., 3, 3)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1, eps=1e-8)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = torch.nn.functional.normalize(b2, dim=-1, eps=1e-8)
    return torch.stack([b1, b2, torch.linalg.cross(b1, b2, dim=-1)], dim=-2)


def forward_kinematics(rotations: torch.Tensor, root_translation_m: torch.Tensor,
                       rest_offsets_m: torch.Tensor | None = None) -> torch.Tensor:
    """Joint positions from local rotations, parents before children.

    rotations          : (..., 24, 3, 3) local rotations (root includes world-up).
    root_translation_m : (..., 3) pelvis position, metres.
    rest_offsets_m     : (24, 3) offsets from each parent; None = the default SMPL skeleton.
    returns            : (..., 24, 3) world positions, metres, dtype of ``rotations``.
    """
    offsets = torch.as_tensor(SMPL_REST_OFFSETS_M if rest_offsets_m is None else rest_offsets_m,
                              dtype=rotations.dtype, device=rotations.device)
    world_rot = [rotations[..., 0, :, :]]
    positions = [root_translation_m]
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        world_rot.append(world_rot[parent] @ rotations[..., joint, :, :])
        positions.append(positions[parent] + (world_rot[parent] @ offsets[joint][:, None])[..., 0])
    return torch.stack(positions, dim=-2)


def edge_joint_positions(motion: torch.Tensor, rest_offsets_m: torch.Tensor | None = None) -> torch.Tensor:
    """Joint positions of unnormalised EDGE 151-d frames.  motion : (..., 151) -> (..., 24, 3) metres."""
    rotations = rotation_6d_to_matrix(motion[..., ROTATION_CHANNELS].reshape(*motion.shape[:-1], NUM_JOINTS, 6))
    return forward_kinematics(rotations, motion[..., ROOT_CHANNELS], rest_offsets_m)
