"""Wan-Animate's ``face_video``: 512x512 face crops that follow the dancer's head.

Wan-Animate drives expression and head motion through a motion encoder on 512x512 face images
(diffusers' ``face_pixel_values``). Its own preprocessing crops the face out of the driving video; a generated
dance has no driving video, so the crop comes from the reference photo:

* ``source="reference"`` (default): the reference face crop, rotated every frame by the head's roll relative to
  the reference pose (eye line from the face track, else from the body's eyes or ears). Frames with no head
  keypoints, or a motion with no head at all, repeat the plain reference crop.
* ``source="landmarks"``: the face track drawn as DWPose face dots on black and cropped around the head, the
  convention of ComfyUI's official Wan 2.2 Animate template (a face-only DWPreprocessor render). Needs face
  keypoints in the motion.

Head boxes use the face keypoints when a frame has enough of them, else nose/eyes/ears; gaps are held from
the nearest frame with a head and the box is smoothed over time.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ...errors import PoseInputError
from ...pose.layout import B, FACE
from ...pose.sequence import PoseSequence2D
from ..pose_video import PoseDrawStyle, draw_pose_frame

FACE_SIZE = 512
CONFIDENCE_THRESHOLD = 0.3
MIN_FACE_POINTS = 5
FACE_TRACK_MARGIN = 1.5  # crop side / face-landmark extent (kijai crops 1.3x the face box)
HEAD_POINTS_MARGIN = 2.2  # crop side / nose-eyes-ears extent, which spans less than the whole head
SMOOTH_FRAMES = 5
BODY_HEAD = (B["nose"], B["right_eye"], B["left_eye"], B["right_ear"], B["left_ear"])
RIGHT_EYE_FACE = slice(FACE.start + 36, FACE.start + 42)  # 68-point layout: 36-41 right eye, 42-47 left eye
LEFT_EYE_FACE = slice(FACE.start + 42, FACE.start + 48)


def _head_points(keypoints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, float]:
    """(N, 2) head points of one frame and the margin for their extent; N = 0 when the head is missing."""
    face = confidence[FACE] >= CONFIDENCE_THRESHOLD
    if face.sum() >= MIN_FACE_POINTS:
        return keypoints[FACE][face], FACE_TRACK_MARGIN
    idx = [i for i in BODY_HEAD if confidence[i] >= CONFIDENCE_THRESHOLD]
    return keypoints[idx], HEAD_POINTS_MARGIN


def head_boxes(pose: PoseSequence2D, smooth_frames: int = SMOOTH_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Square head boxes per frame: ((T, 3) centre x, centre y, side in canvas px; (T,) bool head found).

    Frames without a head take the box of the nearest frame with one; the boxes are then smoothed with a
    centred moving average over ``smooth_frames`` frames. With no head anywhere every box is invalid (zeros).
    """
    boxes = np.zeros((pose.num_frames, 3))
    found = np.zeros(pose.num_frames, bool)
    min_side = 0.05 * min(pose.canvas_width, pose.canvas_height)
    for t in range(pose.num_frames):
        points, margin = _head_points(pose.keypoints_px[t], pose.confidence[t])
        if len(points) == 0:
            continue
        low, high = points.min(axis=0), points.max(axis=0)
        boxes[t] = [(low[0] + high[0]) / 2, (low[1] + high[1]) / 2, max(margin * (high - low).max(), min_side)]
        found[t] = True
    if not found.any():
        return boxes, found
    valid = np.flatnonzero(found)
    nearest = valid[np.abs(np.arange(pose.num_frames)[:, None] - valid[None]).argmin(axis=1)]
    boxes = boxes[nearest]
    if smooth_frames > 1 and pose.num_frames > 1:
        half = smooth_frames // 2
        padded = np.pad(boxes, ((half, half), (0, 0)), mode="edge")
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        boxes = np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(3)], axis=1)
    return boxes, found


def head_roll(keypoints: np.ndarray, confidence: np.ndarray) -> float | None:
    """Angle in radians of the line from the right eye to the left eye (image axes), or None if unknown."""
    ok = confidence >= CONFIDENCE_THRESHOLD
    pairs = []
    if ok[RIGHT_EYE_FACE].any() and ok[LEFT_EYE_FACE].any():
        pairs.append((keypoints[RIGHT_EYE_FACE][ok[RIGHT_EYE_FACE]].mean(axis=0),
                      keypoints[LEFT_EYE_FACE][ok[LEFT_EYE_FACE]].mean(axis=0)))
    for right, left in ((B["right_eye"], B["left_eye"]), (B["right_ear"], B["left_ear"])):
        if ok[right] and ok[left]:
            pairs.append((keypoints[right], keypoints[left]))
    if not pairs:
        return None
    right, left = pairs[0]
    delta = left - right
    return math.atan2(delta[1], delta[0])


def crop_square(image: np.ndarray, centre_x: float, centre_y: float, side: float, size: int = FACE_SIZE,
                angle_rad: float = 0.0) -> np.ndarray:
    """(size, size, 3) crop of the square box; black outside.

    angle_rad : turn the crop's content by this angle in image axes (y down, so positive is clockwise on
                screen), the sense of ``head_roll``.
    """
    scale = size / max(side, 1e-6)
    matrix = cv2.getRotationMatrix2D((float(centre_x), float(centre_y)), -math.degrees(angle_rad), scale)
    matrix[:, 2] += (size / 2 - centre_x, size / 2 - centre_y)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def reference_face_box(reference_image: np.ndarray, reference_pose: PoseSequence2D | None) -> np.ndarray:
    """(3,) centre x, centre y, side of the reference face in image pixels.

    From the reference pose's head when it has one (rescaled from its canvas to the image); otherwise the
    upper-middle square of the image, where a standing figure's head usually is.
    """
    height, width = reference_image.shape[:2]
    if reference_pose is not None:
        boxes, found = head_boxes(reference_pose.frame(0), smooth_frames=1)
        if found[0]:
            sx, sy = width / reference_pose.canvas_width, height / reference_pose.canvas_height
            return boxes[0] * [sx, sy, (sx + sy) / 2]
    side = 0.25 * min(width, height)
    return np.array([width / 2, 0.15 * height, side])


def render_face_video(pose: PoseSequence2D, reference_image: np.ndarray,
                      reference_pose: PoseSequence2D | None = None, frames: np.ndarray | None = None,
                      size: int = FACE_SIZE, source: str = "reference") -> np.ndarray:
    """Face video (F, size, size, 3) uint8 for ``frames`` (indices into ``pose``; default all T frames).

    reference_image : (H, W, 3) uint8, the person to animate.
    reference_pose  : the person's pose in the reference image (one frame); locates the face and gives the
                      roll the rotation is measured from.
    source          : "reference" or "landmarks" (see the module docstring).
    """
    if reference_image.ndim != 3 or reference_image.shape[2] != 3 or reference_image.dtype != np.uint8:
        raise PoseInputError(f"reference_image must be (H, W, 3) uint8, got {reference_image.shape} "
                             f"{reference_image.dtype}.")
    if source not in ("reference", "landmarks"):
        raise PoseInputError(f"face video source must be 'reference' or 'landmarks', got {source!r}.")
    frames = np.arange(pose.num_frames) if frames is None else np.asarray(frames)
    out = np.zeros((len(frames), size, size, 3), np.uint8)
    if source == "landmarks":
        if not (pose.confidence[:, FACE] >= CONFIDENCE_THRESHOLD).any():
            raise PoseInputError("face video source 'landmarks' needs face keypoints, but the pose has none. "
                                 "Use source 'reference'.")
        boxes, _ = head_boxes(pose)
        style = PoseDrawStyle(body=False, hands=False, face=True)
        canvas = np.zeros((pose.canvas_height, pose.canvas_width, 3), np.uint8)
        for i, t in enumerate(frames):
            canvas[:] = 0
            draw_pose_frame(pose.keypoints_px[t], pose.confidence[t], style, canvas)
            out[i] = crop_square(canvas, *boxes[t], size=size)
        return out
    box = reference_face_box(reference_image, reference_pose)
    reference_roll = None
    if reference_pose is not None:
        reference_roll = head_roll(reference_pose.keypoints_px[0], reference_pose.confidence[0])
    plain = crop_square(reference_image, *box, size=size)
    for i, t in enumerate(frames):
        roll = head_roll(pose.keypoints_px[t], pose.confidence[t])
        if roll is None:
            out[i] = plain
        else:
            out[i] = crop_square(reference_image, *box, size=size, angle_rad=roll - (reference_roll or 0.0))
    return out
