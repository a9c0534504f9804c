"""Whole-body keypoints from one image with RTMW / DWPose ONNX models (rtmlib's layout).

The pre- and post-processing follow rtmlib (Tau-J/rtmlib, ``RTMPose``, ``YOLOX``)
so its model files work unchanged: a person box padded by 1.25 and widened to the
model's aspect ratio, an affine crop, the image in BGR order normalised by
ImageNet statistics (the mean/std rtmlib applies to cv2's BGR images), NCHW
float32; outputs are SimCC x/y logits whose argmax divided by the split ratio is
the location in the crop. Kept here as plain functions so they can be tested
with tiny synthetic models.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import ChoreoError
from .layout import B, F, FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
BOX_PADDING = 1.25
SIMCC_SPLIT_RATIO = 2.0
DETECTOR_PAD_VALUE = 114
DETECTOR_SCORE_THRESHOLD = 0.3
NUM_WHOLEBODY = 133

# COCO-WholeBody body order (0..16) -> our OpenPose body names; the neck is synthesised.
_COCO_BODY = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
              "left_knee", "right_knee", "left_ankle", "right_ankle")
# Index in our 136 layout for each COCO-WholeBody point.
WHOLEBODY_TO_LAYOUT = np.array(
    [B[name] for name in _COCO_BODY]
    + [F[name] for name in ("left_big_toe", "left_small_toe", "left_heel",
                            "right_big_toe", "right_small_toe", "right_heel")]
    + list(range(FACE.start, FACE.start + 68))
    + list(range(LEFT_HAND.start, LEFT_HAND.stop))
    + list(range(RIGHT_HAND.start, RIGHT_HAND.stop)))

MODEL_HELP = ("Put the ONNX file in ComfyUI/models/choreo/rtmlib/ (or rtmlib's cache "
              "~/.cache/rtmlib/hub/checkpoints/). Whole-body models: RTMW-x 384x288 "
              "(rtmw-dw-x-l_simcc-cocktail14_270e-384x288.onnx from rtmlib) or DWPose's dw-ll_ucoco_384.onnx; "
              "person detector: YOLOX (yolox_l.onnx or rtmlib's yolox_m humanart end2end.onnx). "
              "Or connect a POSE_KEYPOINT reference, or use the default body.")


def load_session(model_path: str | Path, role: str) -> "InferenceSession":
    """An onnxruntime CPU session, or a ``ChoreoError`` naming the missing file and where it belongs.

    onnxruntime is imported here, not at module load: only detection needs it.
    """
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ChoreoError(f"{role} model not found at '{path}'. {MODEL_HELP}")
    try:
        import onnxruntime
    except ImportError as error:
        raise ChoreoError("Pose detection needs the onnxruntime package: pip install onnxruntime. "
                          "Or connect a POSE_KEYPOINT reference, or use the default body.") from error

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's load errors (InvalidProtobuf, Fail, ...) share no base but Exception
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ChoreoError(f"{role} model '{path}' is not a usable ONNX model ({reason}). The file is damaged or "
                          f"not a model: download it again. {MODEL_HELP}") from error


def input_size_wh(session: "InferenceSession") -> tuple[int, int]:
    """(width, height) of an NCHW image input with a fixed size."""
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or not all(isinstance(v, int) for v in shape[2:]):
        raise ChoreoError(f"ONNX model input must be a fixed NCHW image, got shape {shape}. "
                          "Use an rtmlib/DWPose export with a static input size.")
    return int(shape[3]), int(shape[2])


def box_to_center_scale(box_xyxy: np.ndarray, input_wh: tuple[int, int],
                        padding: float = BOX_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Centre (2,) and crop size (2,) in image pixels: the box padded and widened to the input's aspect."""
    box = np.asarray(box_xyxy, np.float64)
    center = 0.5 * (box[:2] + box[2:])
    w, h = (box[2:] - box[:2]) * padding
    aspect = input_wh[0] / input_wh[1]
    scale = np.array([w, w / aspect]) if w > h * aspect else np.array([h * aspect, h])
    return center, scale


def crop_matrix(center: np.ndarray, scale: np.ndarray, input_wh: tuple[int, int]) -> np.ndarray:
    """(2, 3) affine from image pixels to crop pixels (no rotation, uniform zoom)."""
    zoom = input_wh[0] / scale[0]
    return np.array([[zoom, 0.0, 0.5 * input_wh[0] - zoom * center[0]],
                     [0.0, zoom, 0.5 * input_wh[1] - zoom * center[1]]])


def preprocess(image_rgb: np.ndarray, box_xyxy: np.ndarray,
               input_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model input (1, 3, H, W) float32 for one person, and the crop's centre and size (pixels)."""
    center, scale = box_to_center_scale(box_xyxy, input_wh)
    bgr = np.ascontiguousarray(image_rgb[..., ::-1])
    crop = cv2.warpAffine(bgr, crop_matrix(center, scale, input_wh), input_wh, flags=cv2.INTER_LINEAR)
    normalised = (crop.astype(np.float32) - MEAN) / STD
    return normalised.transpose(2, 0, 1)[None].astype(np.float32), center, scale


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, center: np.ndarray, scale: np.ndarray,
                 input_wh: tuple[int, int], split_ratio: float = SIMCC_SPLIT_RATIO) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (K, 2) in image pixels and scores (K,) from SimCC logits (1, K, W*r), (1, K, H*r).

    Scores are the mean of the two axes' maxima (rtmlib); they are not probabilities.
    """
    x_logits, y_logits = np.asarray(simcc_x)[0], np.asarray(simcc_y)[0]
    locs = np.stack([x_logits.argmax(-1), y_logits.argmax(-1)], axis=-1) / split_ratio
    scores = 0.5 * (x_logits.max(-1) + y_logits.max(-1))
    keypoints = locs / np.array(input_wh, np.float64) * scale + center - 0.5 * scale
    return keypoints, scores


def wholebody_to_layout(keypoints_px: np.ndarray, scores: np.ndarray,
                        threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """133 COCO-WholeBody points -> our 136 layout: (136, 2) pixels, (136,) confidence 0 or 1.

    The neck is the mean of the shoulders (seen when both are), pupils 68/69 are the
    body's right and left eyes, as controlnet_aux does; confidences are binary at
    ``threshold`` like DWPose's POSE_KEYPOINT output.
    """
    points = np.zeros((NUM_KEYPOINTS, 2))
    confidence = np.zeros(NUM_KEYPOINTS)
    seen = (np.asarray(scores) > threshold).astype(np.float64)
    points[WHOLEBODY_TO_LAYOUT] = keypoints_px
    confidence[WHOLEBODY_TO_LAYOUT] = seen
    shoulders = [B["right_shoulder"], B["left_shoulder"]]
    points[B["neck"]] = points[shoulders].mean(0)
    confidence[B["neck"]] = confidence[shoulders].min()
    for pupil, eye in ((68, "right_eye"), (69, "left_eye")):
        points[FACE.start + pupil] = points[B[eye]]
        confidence[FACE.start + pupil] = confidence[B[eye]]
    points[confidence == 0] = 0.0
    return points, confidence


def estimate_wholebody(session: "InferenceSession", image_rgb: np.ndarray, box_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run a whole-body SimCC model on one person box: (133, 2) pixels, (133,) scores."""
    input_wh = input_size_wh(session)
    tensor, center, scale = preprocess(image_rgb, box_xyxy, input_wh)
    simcc_x, simcc_y = session.run(None, {session.get_inputs()[0].name: tensor})[:2]
    if simcc_x.shape[1] != NUM_WHOLEBODY or simcc_y.shape[1] != NUM_WHOLEBODY:
        raise ChoreoError(f"Pose model outputs {simcc_x.shape} / {simcc_y.shape}; expected SimCC logits for "
                          f"{NUM_WHOLEBODY} COCO-WholeBody keypoints. {MODEL_HELP}")
    return decode_simcc(simcc_x, simcc_y, center, scale, input_wh)


def detect_largest_person(session: "InferenceSession", image_rgb: np.ndarray) -> np.ndarray | None:
    """Box (4,) x1, y1, x2, y2 pixels of the largest person a YOLOX model finds, or None.

    Accepts both YOLOX exports: with NMS inside (output (1, N, 5): box and score)
    and raw (1, N, 5 + classes) grid predictions, decoded here with person = class 0.
    No NMS is needed because only the largest confident box is kept.
    """
    input_wh = input_size_wh(session)
    height, width = image_rgb.shape[:2]
    ratio = min(input_wh[1] / height, input_wh[0] / width)
    resized = cv2.resize(image_rgb[..., ::-1], (int(width * ratio), int(height * ratio)),
                         interpolation=cv2.INTER_LINEAR)
    padded = np.full((input_wh[1], input_wh[0], 3), DETECTOR_PAD_VALUE, np.uint8)
    padded[:resized.shape[0], :resized.shape[1]] = resized
    tensor = padded.transpose(2, 0, 1)[None].astype(np.float32)
    output = np.asarray(session.run(None, {session.get_inputs()[0].name: tensor})[0])[0]
    if output.ndim != 2 or output.shape[1] < 5:
        raise ChoreoError(f"Person detector output has shape {output.shape}; expected YOLOX boxes (N, 5) or "
                          f"(N, 5 + classes). {MODEL_HELP}")
    if output.shape[1] == 5:
        boxes, scores = output[:, :4], output[:, 4]
    else:
        boxes, scores = _decode_yolox_grid(output, input_wh)
    boxes = boxes[scores > DETECTOR_SCORE_THRESHOLD] / ratio
    if len(boxes) == 0:
        return None
    boxes = np.clip(boxes, 0, [width, height, width, height])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[int(np.argmax(areas))]


def _decode_yolox_grid(output: np.ndarray, input_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Raw YOLOX predictions (N, 5 + C) on strides 8, 16, 32 -> boxes (N, 4) xyxy, person scores (N,)."""
    grids, strides = [], []
    for stride in (8, 16, 32):
        xs, ys = np.meshgrid(np.arange(input_wh[0] // stride), np.arange(input_wh[1] // stride))
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), stride))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    if len(grid) != len(output):
        raise ChoreoError(f"Raw YOLOX output has {len(output)} predictions; a {input_wh[0]}x{input_wh[1]} input "
                          f"gives {len(grid)}. {MODEL_HELP}")
    centre = (output[:, :2] + grid) * stride
    size = np.exp(output[:, 2:4]) * stride
    boxes = np.concatenate([centre - 0.5 * size, centre + 0.5 * size], axis=1)
    return boxes, output[:, 4] * output[:, 5]
