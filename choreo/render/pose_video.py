"""Pose video: draw 2D whole-body poses the way pose-conditioned video models were trained.

The drawing copies OpenPose / DWPose (``draw_bodypose``, ``draw_handpose``,
``draw_facepose`` in controlnet_aux), because Wan-Animate, UniAnimate and the other
pose-guided models learnt from videos drawn that way: body limbs as filled ellipses
``stick_width`` px wide in OpenPose's 18 colours at 60 % strength, joint circles at
full colour on top, hand bones as 2-px lines in an HSV rainbow (one hue per bone)
with blue points, face landmarks as white dots. Sizes are given for a 512-px short
side (DWPose's detect resolution) and scale with the canvas, so a 1024-px video
looks like a 512-px DWPose render resized up.

Frames are (H, W, 3) uint8 RGB; keypoints are (136, 2) pixels in the layout of
``choreo.pose.layout`` with (136,) confidences.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Iterator, Literal

import cv2
import numpy as np

from ..errors import ImageInputError
from ..pose.layout import BODY, BODY_COLORS_RGB, BODY_LIMBS, FACE, FEET, FEET_BONES, HAND_BONES, LEFT_HAND, RIGHT_HAND
from ..pose.sequence import PoseSequence2D

REFERENCE_SIZE_PX = 512  # short side at which the style's pixel sizes hold (DWPose's detect_resolution)
LIMB_ALPHA = 0.6  # OpenPose multiplies the canvas by 0.6 after drawing the limbs


@dataclass(frozen=True)
class PoseDrawStyle:
    """How a pose is drawn. Pixel sizes hold at a 512-px short side and scale with the canvas.

    body, hands, face, feet : which parts to draw (feet: ankle -> toe/heel sticks).
    stick_width_px          : half-thickness of the body limb ellipses (OpenPose's ``stickwidth`` 4).
    joint_radius_px         : body joint circles (4).
    hand_line_px            : hand bone thickness (2); hand points use ``joint_radius_px``.
    face_point_px           : face dot radius (3).
    background              : "black" (a fresh black canvas) or "image" (a picture under the pose).
    background_brightness   : fraction of the image brightness kept under the pose, 0..1.
    confidence_threshold    : keypoints with confidence below it are not drawn; 0 always means absent.
    scale_with_canvas       : scale the pixel sizes by short side / 512; off draws them as given.
    """

    body: bool = True
    hands: bool = True
    face: bool = True
    feet: bool = False
    stick_width_px: float = 4.0
    joint_radius_px: float = 4.0
    hand_line_px: float = 2.0
    face_point_px: float = 3.0
    background: Literal["black", "image"] = "black"
    background_brightness: float = 0.5
    confidence_threshold: float = 0.3
    scale_with_canvas: bool = True

    def __post_init__(self) -> None:
        if self.background not in ("black", "image"):
            raise ImageInputError(f"PoseDrawStyle.background must be 'black' or 'image', got {self.background!r}.")
        if not 0.0 <= self.background_brightness <= 1.0:
            raise ImageInputError(
                f"PoseDrawStyle.background_brightness must be in [0, 1], got {self.background_brightness}.")
        sizes = (self.stick_width_px, self.joint_radius_px, self.hand_line_px, self.face_point_px)
        if min(sizes) <= 0:
            raise ImageInputError(f"PoseDrawStyle pixel sizes must be positive, got {sizes}.")

    @classmethod
    def openpose(cls) -> "PoseDrawStyle":
        """OpenPose body only: the classic ControlNet openpose input."""
        return cls(hands=False, face=False)

    @classmethod
    def dwpose(cls) -> "PoseDrawStyle":
        """DWPose whole body: body, hands and white face dots (controlnet_aux's DWPreprocessor)."""
        return cls()

    @classmethod
    def wan_animate(cls) -> "PoseDrawStyle":
        """Wan 2.2 Animate's ``pose_video``: black canvas, body and hand sticks, no face dots.

        Both conventions Choreo follows agree on this: the official ComfyUI template
        (``video_wan2_2_14B_animate.json``) feeds a DWPreprocessor render with body +
        hands and face off, and kijai's ``DrawViTPose`` draws coloured body and hand
        sticks on black with no face dots. The face goes to the model through the
        separate 512x512 ``face_video`` instead. SCAIL (``WanSCAILToVideo``) is
        different: it is conditioned on rendered 3D cylinder skeletons, which this
        2D renderer does not draw.
        """
        return cls(face=False)


@dataclass(frozen=True)
class _Plan:
    """Everything about a style that does not change from frame to frame, in pixels at one canvas size."""

    style: PoseDrawStyle
    stick: int
    joint_radius: int
    hand_line: int
    face_radius: int
    limb_colors: tuple[tuple[int, int, int], ...]
    joint_colors: tuple[tuple[int, int, int], ...]
    hand_colors: tuple[tuple[int, int, int], ...]


def _scaled(value_px: float, scale: float) -> int:
    return max(1, int(round(value_px * scale)))


def _plan(style: PoseDrawStyle, height: int, width: int) -> _Plan:
    scale = min(height, width) / REFERENCE_SIZE_PX if style.scale_with_canvas else 1.0
    # On a black canvas OpenPose's "draw limbs, then canvas * 0.6" equals drawing the
    # limbs at 60 % colour directly (both floor), which saves a full-frame pass.
    limb_gain = LIMB_ALPHA if style.background == "black" else 1.0
    limb_colors = tuple(tuple(int(c * limb_gain) for c in color) for color in BODY_COLORS_RGB)
    hand_colors = tuple(
        tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(i / len(HAND_BONES), 1.0, 1.0))
        for i in range(len(HAND_BONES)))
    return _Plan(style, _scaled(style.stick_width_px, scale), _scaled(style.joint_radius_px, scale),
                 _scaled(style.hand_line_px, scale), _scaled(style.face_point_px, scale),
                 limb_colors, BODY_COLORS_RGB, hand_colors)


_HAND_POINT_RGB = (0, 0, 255)
_COORD_LIMIT_PX = 1 << 15
_FACE_POINT_RGB = (255, 255, 255)


def _draw_limb(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, half_width: int, color: tuple[int, int, int]) -> None:
    """One OpenPose limb: a filled ellipse from a to b, integer-truncated exactly as OpenPose does."""
    length = math.hypot(a[0] - b[0], a[1] - b[1])
    angle = math.degrees(math.atan2(a[1] - b[1], a[0] - b[0]))
    centre = (int((a[0] + b[0]) / 2), int((a[1] + b[1]) / 2))
    polygon = cv2.ellipse2Poly(centre, (int(length / 2), half_width), int(angle), 0, 360, 1)
    cv2.fillConvexPoly(canvas, polygon, color)


def _draw(plan: _Plan, keypoints_px: np.ndarray, confidence: np.ndarray, canvas: np.ndarray) -> None:
    """Draw one pose in place on ``canvas`` (already holding the black or dimmed background)."""
    style = plan.style
    visible = (confidence >= style.confidence_threshold) & (confidence > 0) & np.isfinite(keypoints_px).all(axis=1)
    # Absent points may hold NaN or huge values; park them so int() and OpenCV never see them.
    points = np.where(visible[:, None], np.clip(keypoints_px, -_COORD_LIMIT_PX, _COORD_LIMIT_PX), 0.0).tolist()
    ipoints = [(int(x), int(y)) for x, y in points]
    shown = visible.tolist()

    if style.body or style.feet:
        layer = canvas if style.background == "black" else canvas.copy()
        if style.body:
            for (i, j), color in zip(BODY_LIMBS, plan.limb_colors):
                if shown[i] and shown[j]:
                    _draw_limb(layer, points[i], points[j], plan.stick, color)
        if style.feet:
            for i, j in FEET_BONES:
                if shown[i] and shown[j]:
                    _draw_limb(layer, points[i], points[j], plan.stick, plan.limb_colors[i])
        if layer is not canvas:
            cv2.addWeighted(layer, LIMB_ALPHA, canvas, 1.0 - LIMB_ALPHA, 0.0, dst=canvas)
        if style.body:
            for k in range(BODY.start, BODY.stop):
                if shown[k]:
                    cv2.circle(canvas, ipoints[k], plan.joint_radius, plan.joint_colors[k], -1)
        if style.feet:
            for k in range(FEET.start, FEET.stop):
                if shown[k]:
                    cv2.circle(canvas, ipoints[k], plan.joint_radius, plan.joint_colors[FEET_BONES[k - FEET.start][0]], -1)

    if style.hands:
        for hand in (LEFT_HAND, RIGHT_HAND):
            base = hand.start
            for (i, j), color in zip(HAND_BONES, plan.hand_colors):
                if shown[base + i] and shown[base + j]:
                    cv2.line(canvas, ipoints[base + i], ipoints[base + j], color, plan.hand_line)
            for k in range(hand.start, hand.stop):
                if shown[k]:
                    cv2.circle(canvas, ipoints[k], plan.joint_radius, _HAND_POINT_RGB, -1)

    if style.face:
        for k in range(FACE.start, FACE.stop):
            if shown[k]:
                cv2.circle(canvas, ipoints[k], plan.face_radius, _FACE_POINT_RGB, -1)


def draw_pose_frame(keypoints_px: np.ndarray, confidence: np.ndarray, style: PoseDrawStyle,
                    canvas: np.ndarray) -> np.ndarray:
    """Draw one pose onto ``canvas`` in place and return it.

    keypoints_px : (136, 2) float, pixels, x right, y down.
    confidence   : (136,) float in [0, 1].
    canvas       : (H, W, 3) uint8 RGB, C-contiguous. With ``style.background == "black"``
                   it must be black: limbs are then drawn at 60 % colour directly.
    returns      : ``canvas``.

    >>> import numpy as np
    >>> frame = draw_pose_frame(np.zeros((136, 2)), np.zeros(136), PoseDrawStyle(), np.zeros((8, 8, 3), np.uint8))
    >>> int(frame.max())
    0
    """
    _check_canvas(canvas)
    _draw(_plan(style, canvas.shape[0], canvas.shape[1]), np.asarray(keypoints_px, np.float64),
          np.asarray(confidence, np.float64), canvas)
    return canvas


def _check_canvas(canvas: np.ndarray) -> None:
    if not isinstance(canvas, np.ndarray) or canvas.ndim != 3 or canvas.shape[2] != 3 or canvas.dtype != np.uint8:
        raise ImageInputError(
            f"pose canvas must be an (H, W, 3) uint8 array, got {getattr(canvas, 'shape', type(canvas))} "
            f"{getattr(canvas, 'dtype', '')}.")
    if not canvas.flags.c_contiguous:
        raise ImageInputError("pose canvas must be C-contiguous; pass np.ascontiguousarray(canvas).")


def _prepare_background(seq: PoseSequence2D, style: PoseDrawStyle, background: np.ndarray | None) -> np.ndarray | None:
    """Dimmed background, (H, W, 3) for a still or (T, H, W, 3) for a video; None for black."""
    if style.background == "black":
        if background is not None:
            raise ImageInputError(
                "a background image was given but the style draws on black; "
                "use dataclasses.replace(style, background='image') or pass background=None.")
        return None
    if background is None:
        raise ImageInputError("style.background is 'image' but no background was given; pass an (H, W, 3) "
                              "or (T, H, W, 3) uint8 image, or use a style with background='black'.")
    image = np.asarray(background)
    size = (seq.canvas_height, seq.canvas_width, 3)
    still = image.shape == size
    video = image.ndim == 4 and image.shape[1:] == size and len(image) == seq.num_frames
    if image.dtype != np.uint8 or not (still or video):
        raise ImageInputError(
            f"background must be uint8 (H, W, 3) or (T, H, W, 3) matching the pose canvas {size} "
            f"and {seq.num_frames} frames, got {image.shape} {image.dtype}; resize it to the canvas first.")
    if still:
        return cv2.convertScaleAbs(image, alpha=style.background_brightness)
    return image


def _frames_into(seq: PoseSequence2D, style: PoseDrawStyle, background: np.ndarray | None,
                 canvases: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    plan = _plan(style, seq.canvas_height, seq.canvas_width)
    prepared = _prepare_background(seq, style, background)
    keypoints = seq.keypoints_px.astype(np.float64)
    confidence = seq.confidence.astype(np.float64)
    for frame, canvas in zip(range(seq.num_frames), canvases):
        if prepared is not None and prepared.ndim == 3:
            np.copyto(canvas, prepared)
        elif prepared is not None:
            cv2.convertScaleAbs(prepared[frame], dst=canvas, alpha=style.background_brightness)
        _draw(plan, keypoints[frame], confidence[frame], canvas)
        yield canvas


def iter_pose_frames(seq: PoseSequence2D, style: PoseDrawStyle,
                     background: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Stream the pose video one new (H, W, 3) uint8 frame at a time, so long videos never sit in memory.

    background : with ``style.background == "image"``, a uint8 still (H, W, 3) or video
                 (T, H, W, 3) at the canvas size, dimmed by ``style.background_brightness``.
    """
    shape = (seq.canvas_height, seq.canvas_width, 3)
    canvases = (np.zeros(shape, np.uint8) for _ in range(seq.num_frames))
    return _frames_into(seq, style, background, canvases)


def render_pose_frames(seq: PoseSequence2D, style: PoseDrawStyle,
                       background: np.ndarray | None = None) -> np.ndarray:
    """The whole pose video as one (T, H, W, 3) uint8 array; same frames as ``iter_pose_frames``."""
    out = np.zeros((seq.num_frames, seq.canvas_height, seq.canvas_width, 3), np.uint8)
    for _ in _frames_into(seq, style, background, iter(out)):
        pass
    return out
