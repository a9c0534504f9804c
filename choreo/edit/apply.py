"""Apply the editor's keyframes to a pose sequence, blending in joint space.

Each keyframe target becomes a rotation offset of the bone leading to that
joint (and, when both hips are keyed, a root translation and for whole-body
keyframes a uniform scale). Offsets are interpolated between a joint's
keyframes with the keyframe's ease and faded in and out over ``blend_frames``
before its first and after its last keyframe, then added to every frame's own
bone angles. Rebuilding positions by FK with each frame's own bone lengths
keeps bones at their length; a bone's rotation carries its whole subtree, so
moving an elbow swings the forearm and hand with it, and face points follow
the head rigidly.

The editor's live preview (``EditPreview`` in web/js/editor/edit_model.js) is
a port of this module, and its gestures (web/js/editor/pose_ops.js) pin only
what this module can reach exactly; tests/test_editor_parity.py runs both on
the same documents. Change them together.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import PoseInputError
from ..pose.layout import BODY, NUM_KEYPOINTS
from ..pose.sequence import PoseSequence2D
from .joint_space import HIPS, ORDER, PARENT, ROOT, to_joint_space, wrap_angle
from .keyframes import EASES, EditDocument

WHOLE_BODY_MIN_JOINTS = 12  # body joints a keyframe must key before a change of size is read from it
SCALE_TOLERANCE = 0.005  # relative size changes below this are rounding in the editor, not a scale
_EASE_CODE = {name: code for code, name in enumerate(EASES)}


def apply_edits(seq: PoseSequence2D, edits: EditDocument) -> PoseSequence2D:
    """The sequence with ``edits`` applied; the input itself when the document has no keyframes.

    seq   : PoseSequence2D, (T, 136, 2) pixels.
    edits : EditDocument; keyframe frames must lie in 0..T-1.
    returns a PoseSequence2D with the same confidences, canvas and fps, in which
      - every keyed joint sits exactly on its target at its keyframe (a target out of reach of the bone
        lands as close as the bone allows, on the line from the parent joint to the target),
      - bone lengths are the frame's own (times the scale of a whole-body keyframe),
      - locked joints keep their input positions (bones into them are the only ones that may stretch),
      - positions change continuously in time, except where a "hold" ease steps into its keyframe.

    >>> from choreo.edit.keyframes import parse_edit_document
    >>> seq = PoseSequence2D.empty(10, 64, 64, 30.0)
    >>> apply_edits(seq, parse_edit_document("{}")) is seq
    True
    """
    if edits.is_empty:
        return seq
    _check_frames(edits, seq.num_frames)
    space = to_joint_space(seq.keypoints_px)
    original = seq.keypoints_px.astype(np.float64)
    locked = np.zeros(NUM_KEYPOINTS, bool)
    locked[list(edits.locked_joints)] = True
    targets = _targets_by_joint(edits, locked)
    num_frames, blend = seq.num_frames, edits.blend_frames

    root_keys = _root_keys(edits, targets, space.root_px, space.length_px, original, locked)
    root_offset = _offset_curve(*root_keys, num_frames, blend) if root_keys[0].size else np.zeros((num_frames, 3))
    root_px = space.root_px + root_offset[:, :2]
    root_scale = np.exp(root_offset[:, 2])

    points = np.empty_like(original)
    turn = np.empty((num_frames, NUM_KEYPOINTS))  # accumulated rotation offset of each bone, radians
    scale = np.empty((num_frames, NUM_KEYPOINTS))
    for joint in ORDER:
        parent = PARENT[joint]
        if locked[joint]:
            points[:, joint], turn[:, joint], scale[:, joint] = original[:, joint], 0.0, 1.0
            continue
        base = root_px if parent == ROOT else points[:, parent]
        base_turn = np.zeros(num_frames) if parent == ROOT else turn[:, parent]
        base_scale = root_scale if parent == ROOT else scale[:, parent]
        local = np.zeros(num_frames)
        if joint in targets:
            frames, target_px, eases = targets[joint]
            to_target = target_px - base[frames]
            reachable = np.hypot(to_target[:, 0], to_target[:, 1]) > 1e-9
            needed = np.where(reachable, np.arctan2(to_target[:, 1], to_target[:, 0]),
                              space.angle_rad[frames, joint] + base_turn[frames])
            offsets = np.unwrap(wrap_angle(needed - space.angle_rad[frames, joint] - base_turn[frames]))
            local = _offset_curve(frames, offsets[:, None], eases, num_frames, blend)[:, 0]
        turn[:, joint] = base_turn + local
        scale[:, joint] = base_scale
        angle = space.angle_rad[:, joint] + turn[:, joint]
        reach = base_scale * space.length_px[:, joint]
        points[:, joint] = base + reach[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return replace(seq, keypoints_px=points.astype(np.float32))


def _check_frames(edits: EditDocument, num_frames: int) -> None:
    for index, keyframe in enumerate(edits.keyframes):
        if keyframe.frame >= num_frames:
            raise PoseInputError(
                f"keyframes[{index}] is at frame {keyframe.frame} but the pose has {num_frames} frames "
                f"(0..{num_frames - 1}); the dance upstream got shorter. Open the Pose Keyframe Editor to move or "
                "delete that keyframe.")


def _targets_by_joint(edits: EditDocument, locked: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray, list]]:
    """joint -> ((n,) frames, (n, 2) target pixels, n eases), skipping locked joints (a lock wins)."""
    collected: dict[int, list] = {}
    for keyframe in edits.keyframes:
        for joint, x, y in keyframe.joints:
            if not locked[joint]:
                collected.setdefault(joint, []).append((keyframe.frame, x, y, keyframe.ease))
    return {joint: (np.array([row[0] for row in rows], np.int64), np.array([row[1:3] for row in rows], np.float64),
                    [row[3] for row in rows]) for joint, rows in collected.items()}


def _root_keys(edits: EditDocument, targets: dict, root_px: np.ndarray, length_px: np.ndarray,
               original: np.ndarray, locked: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    """Keyframes of the root channel (dx_px, dy_px, log scale): those keying both hips."""
    frames, values, eases = [], [], []
    for keyframe in edits.keyframes:
        keyed = {joint: (x, y) for joint, x, y in keyframe.joints if not locked[joint]}
        if not all(hip in keyed for hip in HIPS):
            continue
        frame = keyframe.frame
        shift = 0.5 * (np.array(keyed[HIPS[0]]) + np.array(keyed[HIPS[1]])) - root_px[frame]
        frames.append(frame)
        values.append([shift[0], shift[1], np.log(_whole_body_scale(keyed, original[frame], length_px[frame]))])
        eases.append(keyframe.ease)
    return np.array(frames, np.int64), np.array(values, np.float64).reshape(-1, 3), eases


def _whole_body_scale(keyed: dict[int, tuple[float, float]], points: np.ndarray, length_px: np.ndarray) -> float:
    """Median ratio of keyed to original bone lengths for a whole-body keyframe, else 1."""
    if sum(1 for joint in keyed if joint < BODY.stop) < WHOLE_BODY_MIN_JOINTS:
        return 1.0
    ratios = []
    for joint, target in keyed.items():
        parent = PARENT[joint] if PARENT[joint] != ROOT else (HIPS[1] if joint == HIPS[0] else -1)
        if parent in keyed:
            original_length = (length_px[joint] if PARENT[joint] != ROOT
                               else float(np.hypot(*(points[joint] - points[parent]))))
            if original_length > 1e-6:
                ratios.append(float(np.hypot(target[0] - keyed[parent][0], target[1] - keyed[parent][1]))
                              / original_length)
    if len(ratios) < 3:
        return 1.0
    ratio = float(np.median(ratios))
    return 1.0 if abs(ratio - 1.0) < SCALE_TOLERANCE else ratio


def _offset_curve(frames: np.ndarray, values: np.ndarray, eases: list[str], num_frames: int,
                  blend_frames: int) -> np.ndarray:
    """(T, C) offsets: the keyframe values at keyframe frames, eased between them, faded to 0 outside.

    frames : (n,) increasing keyframe frames; values : (n, C); eases : n names, the shape of the segment
    into each keyframe (the first one also shapes the fade-in; the fade-out after the last is smooth).
    """
    t = np.arange(num_frames, dtype=np.float64)
    codes = np.array([_EASE_CODE[ease] for ease in eases])
    segment = np.searchsorted(frames, t, side="right") - 1  # keyframe at or before t; -1 before the first
    out = np.zeros((num_frames, values.shape[1]))

    inner = (segment >= 0) & (segment < len(frames) - 1)
    i = segment[inner]
    u = (t[inner] - frames[i]) / (frames[i + 1] - frames[i])
    out[inner] = values[i] + _ease(u, codes[i + 1])[:, None] * (values[i + 1] - values[i])

    before = segment < 0
    u = _ramp(t[before] - (frames[0] - blend_frames), blend_frames)
    out[before] = _ease(u, np.full(u.shape, codes[0]))[:, None] * values[0]

    after = segment == len(frames) - 1
    u = _ramp(t[after] - frames[-1], blend_frames) if blend_frames else (t[after] > frames[-1]).astype(float)
    out[after] = (1.0 - _ease(u, np.full(u.shape, _EASE_CODE["smooth"])))[:, None] * values[-1]
    return out


def _ramp(elapsed: np.ndarray, length: int) -> np.ndarray:
    """elapsed / length clipped to [0, 1]; a zero length is a step at elapsed >= 0."""
    if length == 0:
        return (elapsed >= 0).astype(float)
    return np.clip(elapsed / length, 0.0, 1.0)


def _ease(u: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Shape u in [0, 1] per ease code: linear u, smooth 3u^2 - 2u^3, hold 0 until u reaches 1."""
    smooth = u * u * (3.0 - 2.0 * u)
    hold = (u >= 1.0).astype(float)
    return np.select([codes == _EASE_CODE["linear"], codes == _EASE_CODE["smooth"]], [u, smooth], hold)
