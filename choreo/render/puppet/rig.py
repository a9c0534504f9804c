"""The puppet's 2D bones, body-part layers, skinning weights and draw order.

A bone is a segment between two anchors of the 136-keypoint layout (``choreo.pose.layout``).
Anchors have alternatives (a hand bone ends at the knuckles when the hand was detected, else
on the forearm's extension), so the reference chooses one alternative per anchor once and every
target frame uses that same choice; mixing definitions between frames would make parts jump.

Bones are grouped into parts (torso, head, arms, legs). A part is one mesh layer: its vertices
are skinned only to its own bones plus one attachment bone of its parent part (the clavicle for
an arm), so an arm lying against the body never drags torso pixels with it, yet stays joined
at the shoulder. Layers are drawn legs, torso, head, arms: the arms pass in front of the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...pose.layout import B, F, LEFT_HAND, RIGHT_HAND


@dataclass(frozen=True)
class Joint:
    """Mean of keypoints; available when every one of them is confident."""

    indices: tuple[int, ...]


@dataclass(frozen=True)
class Extension:
    """``tip + factor * (tip - base)``: a hand or foot end when no finger/toe keypoints exist."""

    base: int
    tip: int
    factor: float


@dataclass(frozen=True)
class BelowNeck:
    """A virtual pelvis ``factor`` shoulder-widths below the neck, perpendicular to the shoulders.

    Lets a waist-up portrait (no hips) still have a torso bone that tilts with the shoulders.
    """

    factor: float


Anchor = Joint | Extension | BelowNeck


@dataclass(frozen=True)
class BoneSpec:
    """One bone: anchors (alternatives, first available wins), parent bone and layer part.

    stretch : whether the bone may lengthen/shorten along its axis (the head stays rigid).
    """

    name: str
    start: tuple[Anchor, ...]
    end: tuple[Anchor, ...]
    parent: str | None
    part: str
    stretch: bool = True


def _j(*indices: int) -> Joint:
    return Joint(tuple(indices))


def _knuckles(hand: slice) -> Joint:
    return _j(*(hand.start + k for k in (5, 9, 13, 17)))


MID_HIP = _j(B["right_hip"], B["left_hip"])
BONES: tuple[BoneSpec, ...] = (
    BoneSpec("spine", (_j(B["neck"]),), (MID_HIP, BelowNeck(1.6)), None, "torso"),
    BoneSpec("r_clavicle", (_j(B["neck"]),), (_j(B["right_shoulder"]),), "spine", "torso"),
    BoneSpec("l_clavicle", (_j(B["neck"]),), (_j(B["left_shoulder"]),), "spine", "torso"),
    BoneSpec("r_pelvis", (MID_HIP,), (_j(B["right_hip"]),), "spine", "torso"),
    BoneSpec("l_pelvis", (MID_HIP,), (_j(B["left_hip"]),), "spine", "torso"),
    BoneSpec("head", (_j(B["neck"]),), (_j(B["nose"]), _j(B["right_eye"], B["left_eye"]), _j(B["right_ear"], B["left_ear"])),
             "spine", "head", stretch=False),
    BoneSpec("r_upper_arm", (_j(B["right_shoulder"]),), (_j(B["right_elbow"]),), "r_clavicle", "r_arm"),
    BoneSpec("r_forearm", (_j(B["right_elbow"]),), (_j(B["right_wrist"]),), "r_upper_arm", "r_arm"),
    BoneSpec("r_hand", (_j(B["right_wrist"]),), (_knuckles(RIGHT_HAND), Extension(B["right_elbow"], B["right_wrist"], 0.4)),
             "r_forearm", "r_arm"),
    BoneSpec("l_upper_arm", (_j(B["left_shoulder"]),), (_j(B["left_elbow"]),), "l_clavicle", "l_arm"),
    BoneSpec("l_forearm", (_j(B["left_elbow"]),), (_j(B["left_wrist"]),), "l_upper_arm", "l_arm"),
    BoneSpec("l_hand", (_j(B["left_wrist"]),), (_knuckles(LEFT_HAND), Extension(B["left_elbow"], B["left_wrist"], 0.4)),
             "l_forearm", "l_arm"),
    BoneSpec("r_thigh", (_j(B["right_hip"]),), (_j(B["right_knee"]),), "r_pelvis", "r_leg"),
    BoneSpec("r_shin", (_j(B["right_knee"]),), (_j(B["right_ankle"]),), "r_thigh", "r_leg"),
    BoneSpec("r_foot", (_j(B["right_ankle"]),), (_j(F["right_big_toe"], F["right_small_toe"]),
                                                  Extension(B["right_knee"], B["right_ankle"], 0.3)), "r_shin", "r_leg"),
    BoneSpec("l_thigh", (_j(B["left_hip"]),), (_j(B["left_knee"]),), "l_pelvis", "l_leg"),
    BoneSpec("l_shin", (_j(B["left_knee"]),), (_j(B["left_ankle"]),), "l_thigh", "l_leg"),
    BoneSpec("l_foot", (_j(B["left_ankle"]),), (_j(F["left_big_toe"], F["left_small_toe"]),
                                                 Extension(B["left_knee"], B["left_ankle"], 0.3)), "l_shin", "l_leg"),
)
BONE_INDEX = {bone.name: i for i, bone in enumerate(BONES)}
DRAW_ORDER: tuple[str, ...] = ("r_leg", "l_leg", "torso", "head", "r_arm", "l_arm")
"""Back to front. Without depth in a 2D pose, arms go in front of the torso and legs behind it."""
ATTACHMENTS: dict[str, tuple[str, ...]] = {
    "torso": (), "head": ("spine", "r_clavicle", "l_clavicle", "r_pelvis", "l_pelvis"),
    "r_arm": ("r_clavicle",), "l_arm": ("l_clavicle",), "r_leg": ("r_pelvis",), "l_leg": ("l_pelvis",),
}
"""Bones of the parent part that also skin a part's vertices, so the part stays attached.

The head takes all the torso's bones: below the chin it deforms exactly like the torso (see
``head_weights``), since with a low neck point it also owns collar and shoulder pixels."""


def anchor_point(anchor: Anchor, keypoints_px: np.ndarray, confidence: np.ndarray, threshold: float) -> np.ndarray | None:
    """Where an anchor lies in one frame, or None when its keypoints are missing.

    keypoints_px : (136, 2) float, pixels.  confidence : (136,) in [0, 1].  Returns (2,) float64.
    """
    if isinstance(anchor, Joint):
        idx = list(anchor.indices)
        if np.all(confidence[idx] >= threshold):
            return keypoints_px[idx].astype(np.float64).mean(axis=0)
        return None
    if isinstance(anchor, Extension):
        if confidence[anchor.base] >= threshold and confidence[anchor.tip] >= threshold:
            tip = keypoints_px[anchor.tip].astype(np.float64)
            return tip + anchor.factor * (tip - keypoints_px[anchor.base])
        return None
    neck, r_sh, l_sh = B["neck"], B["right_shoulder"], B["left_shoulder"]
    if min(confidence[neck], confidence[r_sh], confidence[l_sh]) < threshold:
        return None
    across = keypoints_px[l_sh].astype(np.float64) - keypoints_px[r_sh]
    down = np.array([-across[1], across[0]])
    if np.linalg.norm(down) < 1e-6:
        return None
    if down[1] < 0:  # the figure faces away: keep the pelvis below the neck on screen
        down = -down
    return keypoints_px[neck] + anchor.factor * down


def choose_anchors(keypoints_px: np.ndarray, confidence: np.ndarray, threshold: float) -> dict[str, tuple[int, int]]:
    """For each bone rigged on the reference, the (start, end) alternative indices it uses.

    Bones whose anchors are missing in the reference (legs of a portrait) are left out, so
    only visible parts are rigged and that part of any target pose is ignored.
    """
    chosen: dict[str, tuple[int, int]] = {}
    for bone in BONES:
        picks = []
        for alternatives in (bone.start, bone.end):
            pick = next((i for i, a in enumerate(alternatives)
                         if anchor_point(a, keypoints_px, confidence, threshold) is not None), None)
            picks.append(pick)
        if picks[0] is not None and picks[1] is not None:
            start = anchor_point(bone.start[picks[0]], keypoints_px, confidence, threshold)
            end = anchor_point(bone.end[picks[1]], keypoints_px, confidence, threshold)
            if np.linalg.norm(end - start) > 1.0:
                chosen[bone.name] = (picks[0], picks[1])
    return chosen


def bone_segments(keypoints_px: np.ndarray, confidence: np.ndarray, anchors: dict[str, tuple[int, int]],
                  threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Segments of the rigged bones in one frame.

    Returns segments (len(BONES), 2, 2) float64 pixels (start, end) and valid (len(BONES),) bool;
    a bone is invalid when not rigged or when its chosen anchors are missing in this frame.
    """
    segments = np.zeros((len(BONES), 2, 2))
    valid = np.zeros(len(BONES), bool)
    for i, bone in enumerate(BONES):
        if bone.name not in anchors:
            continue
        s_pick, e_pick = anchors[bone.name]
        start = anchor_point(bone.start[s_pick], keypoints_px, confidence, threshold)
        end = anchor_point(bone.end[e_pick], keypoints_px, confidence, threshold)
        if start is not None and end is not None and np.linalg.norm(end - start) > 1e-3:
            segments[i] = start, end
            valid[i] = True
    return segments, valid


def body_scale_px(keypoints_px: np.ndarray, confidence: np.ndarray, threshold: float) -> float:
    """The person's size as a shoulder width in pixels, robust to profiles and missing hips.

    The shoulder width when it is at least half the largest of 0.6 x the neck-to-mid-hip length
    and 2.5 x the nose-to-neck length (each about one frontal shoulder width on an adult), else
    that largest: a profile has narrow shoulders but a full-length torso and head, so it is not
    mistaken for a tiny figure. Returns 0.0 when none of them can be measured. keypoints_px (136, 2) pixels; confidence (136,).
    """
    def point(*names: str) -> np.ndarray | None:
        idx = [B[n] for n in names]
        return keypoints_px[idx].astype(np.float64).mean(axis=0) if np.all(confidence[idx] >= threshold) else None

    estimates = [0.0, 0.0]  # shoulder width, then the largest of the others
    for (a, b), factor in ((("right_shoulder", "left_shoulder"), 1.0), (("neck", None), 0.6), (("nose", "neck"), 2.5)):
        start = point(a)
        end = point("right_hip", "left_hip") if b is None else point(b)
        if start is not None and end is not None:
            estimates[a != "right_shoulder"] = max(estimates[a != "right_shoulder"], factor * float(np.linalg.norm(end - start)))
    shoulders, others = estimates
    return shoulders if shoulders >= 0.5 * others else others  # frontal shoulders are the best yardstick


def profile_near_side(keypoints_px: np.ndarray, confidence: np.ndarray, threshold: float) -> str | None:
    """``"right"`` or ``"left"``, the side facing the camera when the figure is seen in profile; else None.

    Profile: the shoulders are less than half as far apart as ``body_scale_px`` says a frontal
    figure's would be. A person facing image-right shows the camera their right side.
    """
    r_sh, l_sh, neck, nose = B["right_shoulder"], B["left_shoulder"], B["neck"], B["nose"]
    scale = body_scale_px(keypoints_px, confidence, threshold)
    if scale <= 0 or min(confidence[r_sh], confidence[l_sh]) < threshold:
        return None
    if float(np.linalg.norm(keypoints_px[r_sh] - keypoints_px[l_sh])) >= 0.5 * scale:
        return None
    if confidence[nose] >= threshold and confidence[neck] >= threshold:
        facing_right = keypoints_px[nose, 0] > keypoints_px[neck, 0]
    else:  # the hidden ear is the one missing
        facing_right = confidence[B["right_ear"]] >= confidence[B["left_ear"]]
    return "right" if facing_right else "left"


def point_segment_distance(points: np.ndarray, segments: np.ndarray, beyond_weight: np.ndarray | None = None) -> np.ndarray:
    """Distance of each point to each segment, optionally stretched past the segment's ends.

    points : (N, 2) pixels.  segments : (S, 2, 2) pixels.  beyond_weight : (S, 2) factors
    (start, end) multiplying the along-bone part of the distance for points lying past that
    end, so a spine does not claim the thighs below the hips. Returns (N, S) float32 pixels.
    """
    p = points[:, None, :].astype(np.float32)
    a = segments[None, :, 0].astype(np.float32)
    d = (segments[:, 1] - segments[:, 0])[None].astype(np.float32)
    length_sq = np.maximum((d * d).sum(-1), 1e-6)
    t_raw = ((p - a) * d).sum(-1) / length_sq
    t = np.clip(t_raw, 0.0, 1.0)
    dist = np.linalg.norm(p - (a + t[..., None] * d), axis=-1)
    if beyond_weight is None:
        return dist
    beyond = np.abs(t_raw - t) * np.sqrt(length_sq)
    weight = np.where(t_raw < 0, beyond_weight[None, :, 0], beyond_weight[None, :, 1]).astype(np.float32)
    perp_sq = np.maximum(dist * dist - beyond * beyond, 0.0)
    return np.sqrt(perp_sq + (weight * beyond) ** 2)


def _beyond_weights(bone_ids: np.ndarray) -> np.ndarray:
    """(S, 2) end penalties for labelling: the spine stops at neck and hips, limbs at their root joint."""
    weights = np.ones((len(bone_ids), 2), np.float32)
    for row, i in enumerate(bone_ids):
        name = BONES[i].name
        if name == "spine":
            weights[row] = (2.0, 3.0)
        elif name.endswith(("upper_arm", "thigh")):
            weights[row, 0] = 2.0
    return weights


def bone_radii(segments: np.ndarray, rigged: np.ndarray, inside_distance_px: np.ndarray,
               scale_px: float | None = None) -> np.ndarray:
    """Half-thickness of the figure around each bone, from the mask's distance transform.

    Used to compare distances fairly: a pixel 50 px from the spine is torso while one 50 px
    from a thin arm is not. segments (S, 2, 2); rigged (S,) bool; inside_distance_px (H, W)
    float32 distance to the background. Returns (S,) float32 pixels, clipped to 8–60 % of
    the bone's length (torso 15–80 %) so a merged blob cannot make a limb swallow the body.
    With ``scale_px`` (``body_scale_px``) a limb is also at most 0.16 shoulder widths thick and
    the head 0.4: an arm lying against the body, or a head on a thick coat, measures the whole
    body's thickness otherwise.
    """
    h, w = inside_distance_px.shape
    radii = np.ones(len(segments), np.float32)
    for i in np.flatnonzero(rigged):
        start, end = segments[i]
        ts = np.linspace(0.2, 1.0 if BONES[i].part == "head" else 0.8, 9)[:, None]
        pts = np.rint(start + ts * (end - start)).astype(int)
        pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
        pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
        samples = inside_distance_px[pts[:, 1], pts[:, 0]]
        length = float(np.linalg.norm(end - start))
        if BONES[i].part == "head":  # the skull is far wider than the neck the bone runs along
            measured, (low, high) = float(samples.max()), (0.5, 1.5)
        else:
            measured = float(np.median(samples))
            low, high = (0.15, 0.8) if BONES[i].part == "torso" else (0.08, 0.6)
        high_px = max(high * length, 3.0)
        if scale_px and BONES[i].part != "torso":
            high_px = max(min(high_px, (0.4 if BONES[i].part == "head" else 0.16) * scale_px), 3.0)
        radii[i] = np.clip(measured, min(max(low * length, 2.0), high_px), high_px)
    return radii


def _shoulder_width(segments: np.ndarray, rigged: np.ndarray, scale_px: float) -> float:
    """The larger of ``scale_px`` (``body_scale_px``) and the clavicles' span, pixels."""
    if rigged[BONE_INDEX["r_clavicle"]] and rigged[BONE_INDEX["l_clavicle"]]:
        span = float(np.linalg.norm(segments[BONE_INDEX["r_clavicle"], 1] - segments[BONE_INDEX["l_clavicle"], 1]))
        return max(scale_px, span)
    return scale_px


def _above_the_neck(points: np.ndarray, segments: np.ndarray, rigged: np.ndarray, scale_px: float) -> np.ndarray:
    """Which points (N, 2) lie above the neck line: the head's, hair and hat included.

    "Up" is from the spine's lower end to the neck. A point belongs to the head when it is more
    than 0.15 head-bone lengths above the neck and within 0.4 shoulder widths of the head's
    axis (the neck, not the trapezius), or more than 0.6 head lengths up and within 0.6 shoulder
    widths (wide hair, a cap's brim; not a hand raised beside the head). Returns (N,) bool.
    """
    spine, head = segments[BONE_INDEX["spine"]], segments[BONE_INDEX["head"]]
    up = spine[0] - spine[1]
    up /= max(float(np.linalg.norm(up)), 1e-6)
    across = np.array([-up[1], up[0]])
    head_len = float(np.linalg.norm(head[1] - head[0]))
    width = _shoulder_width(segments, rigged, scale_px)
    rel = points.astype(np.float64) - spine[0]
    height, lateral = rel @ up, np.abs(rel @ across)
    return (height > 0.15 * head_len) & (lateral < 0.4 * width) | (height > 0.6 * head_len) & (lateral < 0.6 * width)


def label_parts(mask: np.ndarray, segments: np.ndarray, rigged: np.ndarray, radii: np.ndarray,
                scale_px: float = 0.0) -> dict[str, np.ndarray]:
    """Split the figure mask into part masks by normalised distance to the nearest bone.

    mask (H, W) bool. Returns {part: (H, W) bool} for the parts with rigged bones; pixels of
    a part that are cut off from its bones (a stray blob) go to the torso, or the biggest part.
    Arms are in front: a pixel within 0.8 of an arm bone's radius is arm, however close the
    spine is (a forearm across the belly). The head owns every torso pixel above the neck line (hair, cap, glasses: see
    ``_above_the_neck``), so they move rigidly with it instead of tearing off.
    """
    ys, xs = np.nonzero(mask)
    bones = np.flatnonzero(rigged)
    dist = point_segment_distance(np.stack([xs, ys], 1), segments[bones], _beyond_weights(bones)) / radii[bones][None]
    nearest = bones[np.argmin(dist, axis=1)]
    arm_cols = np.array([BONES[i].part in ("r_arm", "l_arm") for i in bones])
    if arm_cols.any():  # arms are in front: the core of an arm lying across the body is arm, not torso
        arm_dist = np.where(arm_cols[None], dist, np.inf)
        in_arm = arm_dist.min(axis=1) < 0.8
        nearest[in_arm] = bones[np.argmin(arm_dist[in_arm], axis=1)]
    parts = sorted({BONES[i].part for i in bones}, key=DRAW_ORDER.index)
    part_of_bone = np.array([parts.index(BONES[i].part) if rigged[i] else -1 for i in range(len(BONES))])
    owner = part_of_bone[nearest]
    claimed_head = np.zeros(mask.shape, bool)
    if "head" in parts and "torso" in parts:
        body_px = (owner == parts.index("torso")) | (owner == parts.index("head"))
        claimed = np.flatnonzero(body_px)[_above_the_neck(np.stack([xs[body_px], ys[body_px]], 1), segments,
                                                           rigged, scale_px)]
        owner[claimed] = parts.index("head")
        claimed_head[ys[claimed], xs[claimed]] = True
    label = np.full(mask.shape, -1, np.int32)
    label[ys, xs] = owner
    result: dict[str, np.ndarray] = {}
    stray = np.zeros(mask.shape, bool)
    for k, part in enumerate(parts):
        region = (label == k).astype(np.uint8)
        _, comp = cv2.connectedComponents(region, connectivity=8)
        seed = np.zeros(mask.shape, np.uint8)
        for i in bones:
            if BONES[i].part == part:
                cv2.line(seed, tuple(np.rint(segments[i, 0]).astype(int)), tuple(np.rint(segments[i, 1]).astype(int)), 1, 3)
        keep_ids = np.unique(comp[(seed > 0) & (region > 0)])
        keep = np.isin(comp, keep_ids[keep_ids > 0])
        if not keep.any():  # bones outside their own pixels (bad keypoints): keep the largest blob
            sizes = np.bincount(comp.ravel())[1:]
            keep = comp == (1 + int(np.argmax(sizes))) if len(sizes) else keep
        if part == "head":  # hair, a hat or glasses above the neck stay with the head even if cut off from it
            keep |= (label == k) & claimed_head
        stray |= (region > 0) & ~keep
        result[part] = keep
    if result:
        sink = "torso" if "torso" in result else max(result, key=lambda p: int(result[p].sum()))
        result[sink] |= stray
    return {p: m for p, m in result.items() if m.any()}


def skinning_weights(vertices: np.ndarray, segments: np.ndarray, radii: np.ndarray, bone_ids: np.ndarray,
                     falloff: float, max_influences: int) -> np.ndarray:
    """Smooth per-vertex bone weights: inverse normalised distance to a power, nearest few, sum 1.

    vertices (V, 2) pixels; bone_ids (Bp,) indices into BONES allowed for this part.
    Returns (V, Bp) float32 with at most ``max_influences`` non-zeros per row, rows summing to 1.
    """
    dist = point_segment_distance(vertices, segments[bone_ids]) / radii[bone_ids][None]
    weights = 1.0 / np.power(dist + 0.05, falloff)
    if weights.shape[1] > max_influences:
        cutoff = -np.partition(-weights, max_influences - 1, axis=1)[:, max_influences - 1:max_influences]
        weights = np.where(weights >= cutoff, weights, 0.0)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, an S-curve between: weights that ease in and out leave no crease."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def head_weights(vertices: np.ndarray, segments: np.ndarray, rigged: np.ndarray, bone_ids: np.ndarray,
                 body_weights: np.ndarray, scale_px: float) -> np.ndarray:
    """Skinning weights of the head layer: rigid with the head above the chin, like the torso below.

    The head bone's weight eases (smoothstep) from 0 at the neck joint to 1 at 0.4 head-bone
    lengths above it, measured along the head bone; the rest follows ``body_weights``, the
    weights the torso layer gives the same place. So skull, hair, glasses and a hat turn as one
    piece, however far they reach from the bone, while the neck moves like the torso beside it.
    Beside the neck column (over 0.25 shoulder widths from the head bone's line) and under 0.6
    head lengths up, where a low neck point lets the head claim collar and shoulder, the head's
    weight fades out towards the claim's edge (``_above_the_neck``): no tear where the two
    layers meet there, even when the clavicles move apart from the spine.
    vertices (V, 2) pixels; rigged (S,) bool; bone_ids (Bp,) the head bone and the torso's;
    body_weights (V, Bp) float32, rows summing to 1, zero in the head bone's column;
    scale_px : ``body_scale_px``. Returns (V, Bp) float32.
    """
    head = segments[BONE_INDEX["head"]]
    axis = head[1] - head[0]
    length = max(float(np.linalg.norm(axis)), 1e-6)
    rel = vertices.astype(np.float64) - head[0]
    along = rel @ axis / length ** 2  # head-bone lengths up the head
    beside_px = np.abs(rel @ np.array([-axis[1], axis[0]])) / length
    rigid = _smoothstep(along / 0.4)
    width = _shoulder_width(segments, rigged, scale_px)
    rigid *= 1.0 - _smoothstep((beside_px - 0.25 * width) / (0.15 * width)) * (1.0 - _smoothstep((along - 0.3) / 0.3))
    weights = (1.0 - rigid)[:, None] * body_weights.astype(np.float64)
    weights[:, list(bone_ids).index(BONE_INDEX["head"])] += rigid
    return weights.astype(np.float32)
