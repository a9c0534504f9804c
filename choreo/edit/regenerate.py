"""Regenerate around edits: let a generator re-create what the artist did not touch.

Any generator plugs in as ``generate(seed) -> PoseSequence2D`` on the same frame
clock and canvas: the beat choreographer today, learned generators later.

temporal : frames at and near keyframes come from the input sequence, the rest
           from the new dance, cross-faded in joint space over ``blend_frames``;
           the edits are then applied again, so keyframes still land exactly and
           the new motion flows into and out of each edit.
joints   : keyed joints, their chains up to the root, and locked joints come from
           the input sequence; every other joint takes the new dance's bone
           angles, re-attached with the input's bone lengths.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import PoseInputError
from ..pose.layout import NUM_KEYPOINTS
from ..pose.sequence import PoseSequence2D
from .apply import apply_edits
from .joint_space import JointSpace, ancestors, from_joint_space, to_joint_space, wrap_angle
from .keyframes import EditDocument

MODES = ("temporal", "joints")


def regenerate_around_edits(seq_before_edits: PoseSequence2D, edits: EditDocument,
                            generate: Callable[[int], PoseSequence2D], mode: str = "temporal", seed: int = 0,
                            keep_margin_frames: int | None = None) -> PoseSequence2D:
    """The edited dance with its untouched parts re-created by ``generate``.

    seq_before_edits   : the sequence the edits were made on (not yet edited), (T, 136, 2) pixels.
    edits              : the editor's document; without keyframes the generated dance is returned as is.
    generate           : seed -> a new PoseSequence2D with the same T, fps and canvas.
    mode               : "temporal" or "joints" (see the module docstring).
    keep_margin_frames : frames kept on each side of a keyframe in temporal mode; default ``edits.blend_frames``.
    returns the regenerated sequence, edits applied (keyed joints exact at keyframes, locked joints unchanged).
    """
    if mode not in MODES:
        raise PoseInputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    generated = generate(seed)
    _check_compatible(seq_before_edits, generated)
    if edits.is_empty:
        return generated
    margin = edits.blend_frames if keep_margin_frames is None else keep_margin_frames
    if margin < 0:
        raise PoseInputError(f"keep_margin_frames must be >= 0, got {margin}.")
    locked = np.zeros(NUM_KEYPOINTS, bool)
    locked[list(edits.locked_joints)] = True
    if mode == "temporal":
        weight = keep_weight(seq_before_edits.num_frames, [k.frame for k in edits.keyframes if k.joints], margin,
                             edits.blend_frames)
        keep_joint = np.ones(NUM_KEYPOINTS, bool)
    else:
        weight = np.ones(seq_before_edits.num_frames)
        keep_joint = kept_joints(edits)
    mixed = _mix(seq_before_edits, generated, weight, keep_joint, locked)
    return apply_edits(mixed, edits)


def keep_weight(num_frames: int, keyframe_frames: list[int], margin_frames: int, blend_frames: int) -> np.ndarray:
    """(T,) weight of the input sequence: 1 within ``margin_frames`` of a keyframe, easing to 0 over
    ``blend_frames`` beyond that, 0 elsewhere."""
    t = np.arange(num_frames, dtype=np.float64)
    if not keyframe_frames:
        return np.zeros(num_frames)
    distance = np.min(np.abs(t[:, None] - np.asarray(keyframe_frames, np.float64)[None]), axis=1)
    beyond = distance - margin_frames
    if blend_frames == 0:
        return (beyond <= 0).astype(np.float64)
    u = np.clip(1.0 - beyond / (blend_frames + 1), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def keep_mask(num_frames: int, edits: EditDocument, keep_margin_frames: int | None = None) -> np.ndarray:
    """(T,) bool frames a constrained generator should keep for temporal regeneration."""
    margin = edits.blend_frames if keep_margin_frames is None else keep_margin_frames
    return keep_weight(num_frames, [k.frame for k in edits.keyframes if k.joints], margin, 0) > 0.5


def kept_joints(edits: EditDocument) -> np.ndarray:
    """(136,) bool joints kept in joints mode: keyed joints with their ancestor chains (so targets stay
    reachable) and locked joints; a constrained generator should keep the same ones."""
    kept = np.zeros(NUM_KEYPOINTS, bool)
    for joint in edits.keyed_joints():
        kept[[joint] + ancestors(joint)] = True
    kept[list(edits.locked_joints)] = True
    return kept


def _mix(source: PoseSequence2D, generated: PoseSequence2D, weight: np.ndarray, keep_joint: np.ndarray,
         locked: np.ndarray) -> PoseSequence2D:
    """Blend in joint space: per frame ``weight`` of the source for kept joints, the generated angles elsewhere.

    Angles blend along the shorter arc, root positions and bone lengths linearly; the source's bone
    lengths are used for joints taken from the generated dance. Locked joints stay at the source position.
    """
    a, b = to_joint_space(source.keypoints_px), to_joint_space(generated.keypoints_px)
    w_joint = np.where(keep_joint[None], weight[:, None], 0.0)
    angle = b.angle_rad + w_joint * wrap_angle(a.angle_rad - b.angle_rad)
    length = np.where(keep_joint[None], w_joint * a.length_px + (1 - w_joint) * b.length_px, a.length_px)
    w_root = weight[:, None] if keep_joint.all() else np.ones((len(weight), 1))
    root = w_root * a.root_px + (1 - w_root) * b.root_px
    points = from_joint_space(JointSpace(root, angle, length), pinned=locked,
                              pinned_px=source.keypoints_px.astype(np.float64))
    confidence = np.where(keep_joint[None], np.where(weight[:, None] > 0.5, source.confidence, generated.confidence),
                          generated.confidence)
    return replace(source, keypoints_px=points.astype(np.float32), confidence=confidence.astype(np.float32))


def _check_compatible(source: PoseSequence2D, generated: PoseSequence2D) -> None:
    if not isinstance(generated, PoseSequence2D):
        raise PoseInputError(f"the generator returned {type(generated).__name__}, not a PoseSequence2D.")
    if generated.num_frames != source.num_frames or abs(generated.fps - source.fps) > 1e-6:
        raise PoseInputError(
            f"the regenerated dance has {generated.num_frames} frames at {generated.fps:g} fps but the edited one "
            f"has {source.num_frames} at {source.fps:g} fps. Use the same music analysis (and fps) that made the "
            "original dance.")
    if (generated.canvas_width, generated.canvas_height) != (source.canvas_width, source.canvas_height):
        raise PoseInputError(
            f"the regenerated dance is on a {generated.canvas_width}x{generated.canvas_height} canvas, the edited "
            f"one on {source.canvas_width}x{source.canvas_height}. Use the same reference pose for both.")
