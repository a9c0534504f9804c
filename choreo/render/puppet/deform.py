"""Per-frame deformation: one 2D transform per bone, then linear-blend skinning of the mesh.

A bone's transform maps its reference segment onto its target segment: the rotation between
the two, a stretch along the bone's own axis only (limited to ``1 ± max_stretch`` so a short
2D projection of a limb pointing at the camera does not squash the texture flat), and the
translation that puts the reference start joint where the parent bone's transform carries it
(the root's: on the target start joint), so a chain stays joined even when a clipped stretch or
a profile's short clavicles keep a bone from reaching its target. A bone missing in
the target (joint not confident) keeps its reference pose relative to its parent, i.e. takes the
parent's transform.
"""

from __future__ import annotations

import numpy as np

from .rig import BONE_INDEX, BONES


def segment_transform(reference: np.ndarray, target: np.ndarray, stretch: bool, max_stretch: float) -> np.ndarray:
    """The (2, 3) affine taking a reference segment to a target segment.

    reference, target : (2, 2) pixels, rows (start, end). Rotation + translation, with a
    stretch factor along the reference axis clipped to [1 - max_stretch, 1 + max_stretch]
    (1 when ``stretch`` is False). The start point always maps exactly onto the target start.
    """
    ref_vec = reference[1] - reference[0]
    tgt_vec = target[1] - target[0]
    ref_len, tgt_len = float(np.linalg.norm(ref_vec)), float(np.linalg.norm(tgt_vec))
    u, v = ref_vec / ref_len, tgt_vec / tgt_len
    cos, sin = float(u @ v), float(u[0] * v[1] - u[1] * v[0])
    rotation = np.array([[cos, -sin], [sin, cos]])
    factor = float(np.clip(tgt_len / ref_len, 1.0 - max_stretch, 1.0 + max_stretch)) if stretch else 1.0
    linear = rotation @ (np.eye(2) + (factor - 1.0) * np.outer(u, u))
    return np.hstack([linear, (target[0] - linear @ reference[0])[:, None]])


def _within_turn(reference: np.ndarray, target: np.ndarray, body: np.ndarray, limit_rad: float) -> np.ndarray:
    """The target segment (2, 2), its direction turned back to at most ``limit_rad`` from the
    reference direction as the body's transform ``body`` (2, 3) carries it."""
    carried = body[:, :2] @ (reference[1] - reference[0])
    wanted = target[1] - target[0]
    angle = np.arctan2(carried[0] * wanted[1] - carried[1] * wanted[0], carried @ wanted)
    if abs(angle) <= limit_rad:
        return target
    turn = np.sign(angle) * limit_rad
    c, s = np.cos(turn), np.sin(turn)
    direction = np.array([[c, -s], [s, c]]) @ carried / max(float(np.linalg.norm(carried)), 1e-9)
    return np.stack([target[0], target[0] + float(np.linalg.norm(wanted)) * direction])


def pose_transforms(reference: np.ndarray, rigged: np.ndarray, target: np.ndarray, target_valid: np.ndarray,
                    max_stretch: float, turn_limits_rad: np.ndarray | None = None) -> np.ndarray:
    """Transforms of every bone from the reference pose to one target pose.

    reference, target : (S, 2, 2) bone segments in pixels (``rig.bone_segments``);
    rigged, target_valid : (S,) bool. turn_limits_rad : optional (S,) float, how far each bone
    may turn from its reference direction as the spine carries it (inf: free): a profile's head
    and near arm are kept close to where the picture has them.
    Returns (S, 2, 3) float64. BONES is ordered parents first, so a bone starts where its
    parent's finished transform puts the shared joint and only turns (and stretches) towards
    its target; a missing bone copies its parent's transform; a missing root stays put.
    """
    transforms = np.zeros((len(BONES), 2, 3))
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for i, bone in enumerate(BONES):
        parent = transforms[BONE_INDEX[bone.parent]] if bone.parent else identity
        if rigged[i] and target_valid[i]:
            goal = target[i]
            if turn_limits_rad is not None and np.isfinite(turn_limits_rad[i]):
                goal = _within_turn(reference[i], goal, transforms[BONE_INDEX["spine"]], float(turn_limits_rad[i]))
            transform = segment_transform(reference[i], goal, bone.stretch, max_stretch)
            if bone.parent:  # hang the bone where its parent put the joint: chains never come apart
                joint = parent[:, :2] @ reference[i, 0] + parent[:, 2]
                transform[:, 2] += joint - goal[0]
            transforms[i] = transform
        else:
            transforms[i] = parent
    return transforms


def skin(vertices: np.ndarray, weights: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Linear-blend skinning: each vertex moves by the weighted mix of its bones' affines.

    vertices (V, 2) pixels; weights (V, Bp) rows summing to 1; transforms (Bp, 2, 3).
    Returns (V, 2) float32 pixels.
    """
    blended = np.einsum("vb,bij->vij", weights.astype(np.float64), transforms)
    moved = np.einsum("vij,vj->vi", blended[:, :, :2], vertices.astype(np.float64)) + blended[:, :, 2]
    return moved.astype(np.float32)
