"""Fit generated poses to a reference person: placement on the image and body proportions.

A dance rendered from a reference photo must stand where the person stands, at
their size, and ideally with their limb proportions, or the video model warps
the person to match the pose. Placement is a similarity fit (uniform scale and
translation, no rotation: the dancer stays upright) over keypoints that barely
move between poses; proportions come from 2D bone lengths relative to the torso.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import PoseInputError
from ..motion.skeleton import JOINT, Skeleton, forward_kinematics
from .layout import B, NUM_KEYPOINTS
from .sequence import PoseSequence2D


def _stable_weights() -> np.ndarray:
    """(136,) weights of the keypoints used to place a body.

    Torso and legs count fully, the head a little: its points move with head
    turns but are all a waist-up portrait may offer besides the shoulders.
    """
    weights = np.zeros(NUM_KEYPOINTS, np.float64)
    for name in ("neck", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
                 "right_knee", "left_knee", "right_ankle", "left_ankle"):
        weights[B[name]] = 1.0
    for name in ("nose", "right_eye", "left_eye", "right_ear", "left_ear"):
        weights[B[name]] = 0.3
    return weights


STABLE_WEIGHTS = _stable_weights()

# Bone groups measured in 2D: (name, [(keypoint a, keypoint b), ...], SMPL joints whose bone they set).
_MEASURES: tuple[tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]], ...] = (
    ("upper_arm", ((B["right_shoulder"], B["right_elbow"]), (B["left_shoulder"], B["left_elbow"])),
     (JOINT["left_elbow"], JOINT["right_elbow"])),
    ("forearm", ((B["right_elbow"], B["right_wrist"]), (B["left_elbow"], B["left_wrist"])),
     (JOINT["left_wrist"], JOINT["right_wrist"])),
    ("thigh", ((B["right_hip"], B["right_knee"]), (B["left_hip"], B["left_knee"])),
     (JOINT["left_knee"], JOINT["right_knee"])),
    ("shin", ((B["right_knee"], B["right_ankle"]), (B["left_knee"], B["left_ankle"])),
     (JOINT["left_ankle"], JOINT["right_ankle"])),
    ("shoulder_width", ((B["right_shoulder"], B["left_shoulder"]),),
     (JOINT["left_collar"], JOINT["right_collar"], JOINT["left_shoulder"], JOINT["right_shoulder"])),
    ("hip_width", ((B["right_hip"], B["left_hip"]),), (JOINT["left_hip"], JOINT["right_hip"])),
)
# Body keypoints that are SMPL joints of the same name.
_LIMB_KEYPOINTS = ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
                   "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
# Plausible range of a bone's length relative to the default body, after removing overall size.
RATIO_RANGE = (0.8, 1.25)


def similarity_transform(src_points: np.ndarray, dst_points: np.ndarray,
                         weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Uniform scale s and translation t minimising sum w_i |s * src_i + t - dst_i|^2.

    src_points, dst_points : (N, 2) float, pixels (or any common unit per side).
    weights                : (N,) float >= 0; zero-weight points are ignored.
    returns                : (scale, translation (2,) float64), dst = scale * src + t.
    Raises ``PoseInputError`` when fewer than two distinct weighted points remain.
    """
    src = np.asarray(src_points, np.float64)
    dst = np.asarray(dst_points, np.float64)
    w = np.asarray(weights, np.float64)
    total = w.sum()
    if np.count_nonzero(w > 0) < 2 or total <= 0:
        raise PoseInputError(f"A pose fit needs at least two shared confident body keypoints, got "
                             f"{np.count_nonzero(w > 0)}. Use a reference showing at least shoulders and hips.")
    src_mean = (w[:, None] * src).sum(0) / total
    dst_mean = (w[:, None] * dst).sum(0) / total
    src_c, dst_c = src - src_mean, dst - dst_mean
    spread = float((w * (src_c ** 2).sum(1)).sum())
    if spread < 1e-12:
        raise PoseInputError("A pose fit needs keypoints at distinct positions; all shared keypoints coincide.")
    scale = float((w * (src_c * dst_c).sum(1)).sum()) / spread
    if scale <= 0:
        raise PoseInputError("The pose cannot be fitted to the reference: the shared keypoints are mirrored "
                             "or scrambled. Check the reference pose's left/right order.")
    return scale, dst_mean - scale * src_mean


def fit_transform(keypoints_px: np.ndarray, confidence: np.ndarray, reference_px: np.ndarray,
                  reference_confidence: np.ndarray) -> tuple[float, np.ndarray]:
    """Similarity placing one pose (136, 2) onto a reference pose over the stable keypoints."""
    weights = STABLE_WEIGHTS * (np.asarray(confidence) > 0) * (np.asarray(reference_confidence) > 0)
    return similarity_transform(keypoints_px, reference_px, weights)


def fit_to_reference(seq: PoseSequence2D, reference: PoseSequence2D) -> PoseSequence2D:
    """Move and scale a whole sequence so its first frame overlays the reference person.

    One transform for all frames (fitted on frame 0 against reference frame 0), so
    motion is preserved. The result lives on the reference's canvas.
    """
    scale, translation = fit_transform(seq.keypoints_px[0], seq.confidence[0],
                                       reference.keypoints_px[0], reference.confidence[0])
    moved = (seq.keypoints_px.astype(np.float64) * scale + translation).astype(np.float32)
    return replace(seq, keypoints_px=moved, canvas_width=reference.canvas_width, canvas_height=reference.canvas_height)


def skeleton_from_reference(reference: PoseSequence2D, base: Skeleton | None = None) -> Skeleton:
    """The base skeleton with bone lengths proportioned like the reference person.

    Each measured bone group (upper arm, forearm, thigh, shin, shoulder width, hip
    width) is compared with the torso (mid-shoulder to mid-hip), or, without hips, with the
    median of all measured groups, so the result keeps the base's overall size in
    metres. Only keypoints with confidence > 0 are used; the longer of the left and
    right sides counts (2D projection only shortens bones). Ratios are clamped to
    ``RATIO_RANGE`` of the base's; a group that is not visible keeps the base length.

    reference : a PoseSequence2D; its first frame is measured.
    """
    base = base or Skeleton.default()
    keypoints = reference.keypoints_px[0].astype(np.float64)
    visible = reference.confidence[0] > 0
    base_2d = _rest_keypoints(base)
    ratios = {}
    for name, pairs, _ in _MEASURES:
        seen = [_length(keypoints, a, b) / _length(base_2d, a, b) for a, b in pairs if visible[a] and visible[b]]
        if seen:
            ratios[name] = max(seen)
    torso = _torso_length(keypoints, visible)
    if torso is not None:
        size = torso / _torso_length(base_2d, np.ones(NUM_KEYPOINTS, bool))
    elif len(ratios) >= 2:
        size = float(np.median(list(ratios.values())))
    else:
        return Skeleton(base.rest_offsets_m.copy())
    lengths = base.bone_lengths_m.copy()
    for name, _, joints in _MEASURES:
        if name in ratios and size > 0:
            lengths[list(joints)] *= float(np.clip(ratios[name] / size, *RATIO_RANGE))
    return base.with_bone_lengths(lengths)


def _length(points: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(points[a] - points[b]))


def _torso_length(points: np.ndarray, visible: np.ndarray) -> float | None:
    """Mid-shoulder to mid-hip distance, or None unless both shoulders and both hips are seen.

    Mid-shoulders rather than the neck keypoint: detectors synthesise the neck
    there, so it is the same point on every source.
    """
    shoulders = [B["right_shoulder"], B["left_shoulder"]]
    hips = [B["right_hip"], B["left_hip"]]
    if not (visible[shoulders].all() and visible[hips].all()):
        return None
    return float(np.linalg.norm(points[shoulders].mean(0) - points[hips].mean(0)))


def _rest_keypoints(skeleton: Skeleton) -> np.ndarray:
    """(136, 2) frontal view of the skeleton's rest pose, metres; only body points used."""
    rest = forward_kinematics(skeleton, np.broadcast_to(np.eye(3), (1, 24, 3, 3)).copy(), np.zeros((1, 3)))[0]
    points = np.zeros((NUM_KEYPOINTS, 2))
    for name in _LIMB_KEYPOINTS:
        points[B[name]] = rest[JOINT[name], :2] * np.array([1.0, -1.0])
    return points
