"""Where the reference person stands: one-frame poses on the reference image's canvas.

The dance is fitted onto this pose (placement and proportions), so every source
returns the same thing: a one-frame ``PoseSequence2D`` whose canvas is the
reference image. Sources, from most to least informative: a POSE_KEYPOINT the user
already has, MediaPipe's whole-body detector, an rtmlib ONNX model, or a default
standing body (a guess, said so). ``fit_reference`` picks among them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import ImageInputError, PoseInputError
from ..motion.motion3d import Motion3D
from ..motion.rotations import axis_angle_to_matrix
from ..motion.skeleton import JOINT, NUM_JOINTS, UPRIGHT, Skeleton
from . import rtmpose
from .keypoint_format import from_pose_keypoint
from .layout import B, BODY
from .mediapipe_models import FETCH_COMMAND, MissingModelsError
from .person_detector import detect_people, detect_person
from .projection import project_motion
from .sequence import PoseSequence2D

REFERENCE_SOURCES = ("auto", "pose_keypoint", "mediapipe", "rtmlib", "default_body")
DETECTION_THRESHOLD = 0.3
MIN_BODY_KEYPOINTS = 4
# Arms hang this far below the T-pose in the default body (A-pose), degrees.
ARM_DROP_DEG = 70.0


def reference_from_pose_keypoint(frames: Any, image_size: tuple[int, int]) -> PoseSequence2D:
    """The first frame with a person of a POSE_KEYPOINT, on the image's canvas.

    image_size : (width_px, height_px) of the reference image. Coordinates are
                 rescaled per axis when the POSE_KEYPOINT canvas differs (the same
                 stretch as resizing the image to it).
    """
    width, height = int(image_size[0]), int(image_size[1])
    seq = from_pose_keypoint(frames, canvas_size=(width, height))
    with_person = np.flatnonzero(seq.confidence.max(axis=1) > 0)
    if len(with_person) == 0:
        raise PoseInputError("The reference POSE_KEYPOINT contains no person in any frame. "
                             "Connect a pose with the person visible, or use the default body.")
    frame = seq.frame(int(with_person[0]))
    stretch = np.array([width / frame.canvas_width, height / frame.canvas_height], np.float32)
    reference = replace(frame, keypoints_px=frame.keypoints_px * stretch, canvas_width=width, canvas_height=height)
    body_px, body_seen = reference.keypoints_px[0, BODY], reference.confidence[0, BODY] > 0
    inside = body_seen & np.all((body_px >= 0) & (body_px <= [width, height]), axis=1)
    if np.count_nonzero(inside) < MIN_BODY_KEYPOINTS:
        raise PoseInputError(
            f"The reference POSE_KEYPOINT (frame {int(with_person[0])}) has {np.count_nonzero(inside)} body keypoints "
            f"on the {width}x{height} px image; at least {MIN_BODY_KEYPOINTS} are needed to place the dancer. "
            "Check that its coordinates are pixels of this image (or all 0-1), or use the default body.")
    return reference


def default_reference_pose(width: int, height: int, skeleton: Skeleton | None = None) -> PoseSequence2D:
    """A frontal standing body (arms relaxed down) filling the canvas, for when there is no reference pose."""
    return project_motion(standing_motion(skeleton or Skeleton.default()), width, height)


def standing_motion(skeleton: Skeleton, fps: float = 30.0) -> Motion3D:
    """One frame: upright, facing -y, feet on z = 0, arms lowered from the T-pose by ``ARM_DROP_DEG``."""
    rotations = np.broadcast_to(np.eye(3), (1, NUM_JOINTS, 3, 3)).copy()
    rotations[0, 0] = UPRIGHT
    drop = np.deg2rad(ARM_DROP_DEG)
    rotations[0, JOINT["left_shoulder"]] = axis_angle_to_matrix(np.array([0.0, 0.0, -drop]))
    rotations[0, JOINT["right_shoulder"]] = axis_angle_to_matrix(np.array([0.0, 0.0, drop]))
    root = np.array([[0.0, 0.0, skeleton.pelvis_height_m()]], np.float32)
    return Motion3D(root, rotations.astype(np.float32), np.ones((1, 4), np.float32), fps, skeleton)


def detect_reference_pose(image_rgb: np.ndarray, model_path: str | Path,
                          det_model_path: str | Path | None = None,
                          threshold: float = DETECTION_THRESHOLD) -> PoseSequence2D:
    """Whole-body pose of the main person in an image with an RTMW/DWPose ONNX model.

    image_rgb      : (H, W, 3) uint8 RGB.
    model_path     : whole-body SimCC ONNX model (133 COCO-WholeBody keypoints).
    det_model_path : optional YOLOX person detector; the largest person is used.
                     Without it (or when it finds nobody) the whole image is the
                     person box, which suits single-person portraits.
    threshold      : SimCC score above which a keypoint counts as seen.
    returns        : one-frame PoseSequence2D on the image's canvas, confidences 0 or 1.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 2:
        raise ImageInputError(f"Reference image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}. "
                              "Pass a single RGB image.")
    height, width = image.shape[:2]
    pose_session = rtmpose.load_session(model_path, "Whole-body pose")
    box = None
    if det_model_path is not None:
        box = rtmpose.detect_largest_person(rtmpose.load_session(det_model_path, "Person detector"), image)
    if box is None:
        box = np.array([0.0, 0.0, width, height])
    keypoints, scores = rtmpose.estimate_wholebody(pose_session, image, box)
    points, confidence = rtmpose.wholebody_to_layout(keypoints, scores, threshold)
    if np.count_nonzero(confidence[BODY]) < MIN_BODY_KEYPOINTS:
        raise PoseInputError(f"No person found in the reference image (fewer than {MIN_BODY_KEYPOINTS} body "
                             f"keypoints scored above {threshold}). Use an image with a clearly visible person, "
                             "connect a POSE_KEYPOINT reference, or use the default body.")
    return PoseSequence2D(points[None].astype(np.float32), confidence[None].astype(np.float32), width, height, 30.0)


@dataclass(frozen=True)
class ReferenceFit:
    """The reference pose of a photo, where it came from, and what the user should be told.

    pose    : one-frame PoseSequence2D on the photo's canvas.
    source  : "pose_keypoint", "mediapipe", "rtmlib" or "default_body".
    mask    : (H, W) float32 0..1 silhouette of that person when MediaPipe's models are installed, else None.
    warning : a sentence for the user when the fit is a guess, else None.
    """

    pose: PoseSequence2D
    source: str
    mask: np.ndarray | None = None
    warning: str | None = None


def default_body_warning(reason: str) -> str:
    return ("The dance is fitted to a default body stretched over the picture: a guess that will not match "
            f"the person ({reason}). To fit the real person, run `{FETCH_COMMAND}` once, or give the person's "
            "pose (a POSE_KEYPOINT / pose JSON file, or an rtmlib model).")


def _mask_matching(image_rgb: np.ndarray, pose: PoseSequence2D, model_folders: Iterable[Path]) -> np.ndarray | None:
    """The silhouette of the detected person whose torso lies closest to ``pose``'s; None without the models."""
    try:
        people = detect_people(image_rgb, model_folders=model_folders, with_parts=False)
    except MissingModelsError:
        return None
    torso = [B["neck"], B["right_shoulder"], B["left_shoulder"], B["right_hip"], B["left_hip"]]
    seen = pose.confidence[0, torso] > 0
    if not people or not seen.any():
        return None
    given = pose.keypoints_px[0, torso][seen]
    distance = [float(np.linalg.norm(p.pose.keypoints_px[0, torso][seen] - given, axis=1).mean()) for p in people]
    return people[int(np.argmin(distance))].mask


def fit_reference(image_rgb: np.ndarray, pose_keypoint: Any = None, rtmlib_model: str | Path | None = None,
                  person_index: int = 0, model_folders: Iterable[Path] = (),
                  source: str = "auto") -> ReferenceFit:
    """The person in the photo, from the best source there is.

    source "auto": a given POSE_KEYPOINT first, then MediaPipe's detector, then rtmlib when a model is
    given, and the default body only as the last resort, with a warning. A photo in which the detector
    finds nobody is refused (PoseInputError), never fitted with a guess; ``source="default_body"`` asks
    for the guess explicitly.
    """
    image = np.asarray(image_rgb)
    height, width = image.shape[:2]
    if source not in REFERENCE_SOURCES:
        raise PoseInputError(f"reference source must be one of {', '.join(REFERENCE_SOURCES)}, got {source!r}.")
    if source in ("auto", "pose_keypoint") and pose_keypoint is not None:
        pose = reference_from_pose_keypoint(pose_keypoint, (width, height))
        return ReferenceFit(pose, "pose_keypoint", _mask_matching(image, pose, model_folders))
    if source == "pose_keypoint":
        raise PoseInputError("reference source is 'pose_keypoint' but no pose was given. Give the person's pose "
                             "(POSE_KEYPOINT / pose JSON) or choose another source.")
    reason = "chosen by hand"
    if source in ("auto", "mediapipe"):
        try:
            person = detect_person(image, person_index, model_folders=model_folders)
            return ReferenceFit(person.pose, "mediapipe", person.mask)
        except MissingModelsError:
            if source == "mediapipe":
                raise
            reason = "MediaPipe's pose models are not installed"
    if source in ("auto", "rtmlib") and rtmlib_model is not None:
        pose = detect_reference_pose(image, rtmlib_model)
        return ReferenceFit(pose, "rtmlib", _mask_matching(image, pose, model_folders))
    if source == "rtmlib":
        raise PoseInputError("reference source is 'rtmlib' but no rtmlib model was given. Put a whole-body ONNX "
                             "model (e.g. rtmw-x) in ComfyUI/models/choreo/rtmlib and pick it.")
    return ReferenceFit(default_reference_pose(width, height), "default_body", None, default_body_warning(reason))
