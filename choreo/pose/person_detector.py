"""The dancer in a photo: whole-body keypoints and a person mask from MediaPipe's models.

BlazePose's landmark model finds one body in a crop and also says where that body's
crop should be next (landmarks 33 and 34), which MediaPipe uses to track from frame
to frame. A photo has no previous frame, so each candidate crop is refined a few
times by that same rule until it settles. Candidates are the whole picture and each
person-shaped blob of the selfie-segmentation mask, so a small figure or one of
several people is found too. Face mesh and hand models then run on crops placed
from the body's landmarks. Everything is deterministic: no sampling anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from ..errors import ImageInputError, PoseInputError
from .crops import Crop
from .layout import B, BODY, FACE, LEFT_HAND, RIGHT_HAND
from .mediapipe_layout import BLAZE, NUM_BLAZE, ROI_CENTRE, ROI_SCALE, body_from_blaze, face_from_mesh
from .mediapipe_models import MediaPipeModels, find_models
from .sequence import PoseSequence2D
from .tflite_net import TFLiteNet

POSE_INPUT, SEGMENTATION_INPUT, FACE_INPUT, HAND_INPUT = 256, 256, 192, 224
PRESENCE_THRESHOLD = 0.5     # BlazePose's own pose-flag threshold
VISIBILITY_THRESHOLD = 0.5   # below it a landmark counts as not seen (out of frame or hidden)
PART_THRESHOLD = 0.5         # face / hand presence needed to keep their points
REFINE_PASSES = 4
MIN_BLOB_FRACTION = 0.01     # selfie-mask blobs smaller than this share of the picture are ignored
SAME_PERSON_TORSO = 0.25     # two finds whose shoulders and hips are this close (torso units) are one person
MIN_TORSO_FRACTION = 0.1     # window-search finds need a torso (shoulders to hips) of this share of the short side
HIPS_BELOW_CHIN_FACES = 4.0  # an adult's hips lie about 4 face heights (forehead to chin) under the chin ...
CROP_SIDE_FACES = 11.7       # ... and BlazePose's crop for that body is about 11.7 face heights across
FOREHEAD, CHIN, NOSE_TIP = 10, 152, 4  # face-mesh points
OVERLAP_IOU = 0.3            # the chosen person's box overlapping another's this much: limbs and mask are mixed up


@dataclass(frozen=True)
class DetectedPerson:
    """One person found in the photo.

    pose      : one-frame PoseSequence2D on the photo's canvas; absent points have confidence 0.
    mask      : (H, W) float32 in [0, 1], this person's silhouette.
    score     : BlazePose's presence score of the final crop, 0..1.
    box_xyxy  : (4,) float32 box of the seen keypoints, pixels.
    next_crop : where this body is looked for in the next frame of a video (``follow_person``).
    """

    pose: PoseSequence2D
    mask: np.ndarray
    score: float
    box_xyxy: np.ndarray
    next_crop: Crop

    @property
    def area_px(self) -> float:
        x0, y0, x1, y1 = self.box_xyxy
        return float(max(0.0, x1 - x0) * max(0.0, y1 - y0))


@dataclass(frozen=True)
class _BodyPass:
    crop: Crop
    landmarks_px: np.ndarray   # (39, 2) image pixels, 33 body + 6 crop helpers
    visibility: np.ndarray     # (33,) 0..1
    score: float
    mask_logits: np.ndarray    # (256, 256) over the crop

    def next_crop(self) -> Crop:
        centre, scale = self.landmarks_px[ROI_CENTRE], self.landmarks_px[ROI_SCALE]
        side = 2.0 * float(np.linalg.norm(scale - centre)) * 1.25
        return Crop.upright(centre, scale, max(side, 8.0), POSE_INPUT)


@dataclass(frozen=True)
class _Networks:
    pose: TFLiteNet
    segmentation: TFLiteNet
    face: TFLiteNet
    hand: TFLiteNet


@lru_cache(maxsize=2)
def _load_networks(models: MediaPipeModels) -> _Networks:
    return _Networks(TFLiteNet(models.pose), TFLiteNet(models.segmentation), TFLiteNet(models.face),
                     TFLiteNet(models.hand))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def _body_pass(net: TFLiteNet, image_rgb: np.ndarray, crop: Crop) -> _BodyPass:
    out = net.run(crop.cut(image_rgb))
    landmarks = out["Identity"].reshape(-1, 5)
    return _BodyPass(crop, crop.to_image(landmarks[:, :2]), _sigmoid(landmarks[:NUM_BLAZE, 3]),
                     float(out["Identity_1"].ravel()[0]), out["Identity_2"][0, :, :, 0])


def _settle(net: TFLiteNet, image_rgb: np.ndarray, found: _BodyPass) -> _BodyPass:
    """Re-crop on the body's own landmarks until the crop stops moving."""
    for _ in range(REFINE_PASSES - 1):
        if found.score < PRESENCE_THRESHOLD:
            break
        following = found.next_crop()
        moved = np.linalg.norm(np.subtract(following.centre_px, found.crop.centre_px)) / found.crop.side_px
        resized = abs(following.side_px / found.crop.side_px - 1.0)
        found = _body_pass(net, image_rgb, following)
        if moved < 0.02 and resized < 0.05:
            break
    return found


def person_mask_everyone(net: TFLiteNet, image_rgb: np.ndarray) -> np.ndarray:
    """Selfie segmentation of the whole picture: (H, W) float32, 1 = a person."""
    height, width = image_rgb.shape[:2]
    tensor = cv2.resize(image_rgb, (SEGMENTATION_INPUT, SEGMENTATION_INPUT), interpolation=cv2.INTER_AREA)
    out = net.run((tensor.astype(np.float32) / 255.0)[None])
    mask = next(iter(out.values()))[0, :, :, 0]
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def _candidate_crops(everyone_mask: np.ndarray) -> list[Crop]:
    """Where to look first: the whole picture, then a square around each person-shaped blob of the selfie mask."""
    height, width = everyone_mask.shape
    crops = [Crop((width / 2, height / 2), float(max(width, height)), 0.0, POSE_INPUT)]
    count, _, stats, _ = cv2.connectedComponentsWithStats((everyone_mask > 0.5).astype(np.uint8))
    for x, y, w, h, area in sorted(stats[1:count].tolist(), key=lambda s: -s[4]):
        if area >= MIN_BLOB_FRACTION * height * width:
            crops.append(Crop((x + w / 2, y + h / 2), 1.4 * max(w, h), 0.0, POSE_INPUT))
    return crops


def _window_crops(height: int, width: int) -> list[Crop]:
    """Where to look when the first look finds nobody: windows of the picture's short side and of half of it.
    A full figure in a wide shot is too small in the whole-picture crop, and the selfie model misses people
    far from the camera."""
    crops = []
    for side in (min(width, height), min(width, height) / 2):
        for cy in _window_centres(height, side):
            for cx in _window_centres(width, side):
                crops.append(Crop((float(cx), float(cy)), float(side), 0.0, POSE_INPUT))
    return crops


def _window_centres(length: float, side: float) -> np.ndarray:
    """Centres of windows of ``side`` that cover ``length`` with half-window overlap."""
    count = max(1, int(np.ceil((length - side) / (side / 2))) + 1)
    return np.linspace(side / 2, length - side / 2, count) if count > 1 else np.array([length / 2])


def _already_found(first: _BodyPass, finds: list[_BodyPass]) -> bool:
    """A first look whose hip centre falls near a settled person's is that person again: skip settling it."""
    hips = first.landmarks_px[ROI_CENTRE]
    return any(np.linalg.norm(hips - other.landmarks_px[ROI_CENTRE]) < SAME_PERSON_TORSO * _torso_length(other)
               for other in finds)


def _torso(found: _BodyPass) -> np.ndarray:
    return found.landmarks_px[[BLAZE["left_shoulder"], BLAZE["right_shoulder"], BLAZE["left_hip"], BLAZE["right_hip"]]]


def _same_person(a: _BodyPass, b: _BodyPass) -> bool:
    torso_a, torso_b = _torso(a), _torso(b)
    size = max(_torso_length(a), 1.0)
    return float(np.linalg.norm(torso_a - torso_b, axis=1).mean()) < SAME_PERSON_TORSO * size


def _inside(points: np.ndarray, width: int, height: int) -> np.ndarray:
    return (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)


def _face_crop(points: np.ndarray, confidence: np.ndarray) -> Crop | None:
    """A square on the face, upright along the eyes, from the body's eye/ear/nose points."""
    eyes = [B["right_eye"], B["left_eye"]]
    if confidence[eyes].min() <= 0:
        return None
    right, left = points[B["right_eye"]], points[B["left_eye"]]
    eye_gap = float(np.linalg.norm(left - right))
    centre = (right + left) / 2 + np.array([-(left - right)[1], (left - right)[0]]) * 0.45
    along = left - right
    return Crop((float(centre[0]), float(centre[1])), 3.6 * max(eye_gap, 4.0),
                float(np.arctan2(along[1], along[0])), FACE_INPUT)


def _run_face(net: TFLiteNet, image_rgb: np.ndarray, crop: Crop) -> tuple[np.ndarray, float]:
    """(468, 2) face-mesh points in image pixels and the face score of a second pass cropped on the first mesh
    (the crop from the body's eyes is rough; a first mesh, even a low-scored one, places it better)."""
    for attempt in range(2):
        out = net.run(crop.cut(image_rgb))
        mesh = crop.to_image(out["conv2d_21"].reshape(-1, 3)[:, :2])
        score = float(_sigmoid(out["conv2d_31"].ravel()[0]))
        if attempt == 1:
            break
        lo, hi = mesh.min(axis=0), mesh.max(axis=0)
        along = mesh[263] - mesh[33]  # outer eye corners, subject's right -> left
        crop = Crop((float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2)), max(1.5 * float(max(hi - lo)), 8.0),
                    float(np.arctan2(along[1], along[0])), FACE_INPUT)
    return mesh, score


def _hand_crop(found: _BodyPass, side: str) -> Crop | None:
    wrist = found.landmarks_px[BLAZE[f"{side}_wrist"]]
    fingers = found.landmarks_px[[BLAZE[f"{side}_index"], BLAZE[f"{side}_pinky"]]].mean(axis=0)
    reach = float(np.linalg.norm(fingers - wrist))
    if reach < 2.0:
        return None
    centre = wrist + (fingers - wrist) * 0.9
    return Crop.upright(centre, centre + (fingers - wrist), 2.0 * 2.7 * reach, HAND_INPUT)


def _run_hand(net: TFLiteNet, image_rgb: np.ndarray, crop: Crop) -> tuple[np.ndarray, float]:
    """(21, 2) hand points in image pixels and the hand score; re-cropped once on the hand itself."""
    for attempt in range(2):
        out = net.run(crop.cut(image_rgb))
        points = crop.to_image(out["Identity"].reshape(21, 3)[:, :2])
        score = float(out["Identity_1"].ravel()[0])
        if attempt == 1:
            break
        lo, hi = points.min(axis=0), points.max(axis=0)
        centre = (lo + hi) / 2
        # Upright along wrist -> middle-finger knuckle, as MediaPipe's hand tracking does.
        crop = Crop.upright(centre, centre + (points[9] - points[0]), max(2.0 * float(max(hi - lo)), 8.0),
                            HAND_INPUT)
    return points, score


def _to_person(nets: _Networks, image_rgb: np.ndarray, found: _BodyPass, with_parts: bool) -> DetectedPerson:
    height, width = image_rgb.shape[:2]
    points, confidence = body_from_blaze(found.landmarks_px[:NUM_BLAZE], found.visibility)
    confidence[confidence < VISIBILITY_THRESHOLD] = 0.0
    confidence[~_inside(points, width, height)] = 0.0
    if with_parts:
        face_crop = _face_crop(points, confidence)
        if face_crop is not None:
            mesh, score = _run_face(nets.face, image_rgb, face_crop)
            if score >= PART_THRESHOLD:
                points[FACE] = face_from_mesh(mesh)
                confidence[FACE] = score * _inside(points[FACE], width, height)
        for side, part in (("left", LEFT_HAND), ("right", RIGHT_HAND)):
            if confidence[B[f"{side}_wrist"]] <= 0:
                continue
            hand_crop = _hand_crop(found, side)
            if hand_crop is None:
                continue
            hand, score = _run_hand(nets.hand, image_rgb, hand_crop)
            if score >= PART_THRESHOLD:
                points[part] = hand
                confidence[part] = score * _inside(hand, width, height)
    seen = points[confidence > 0]
    box = np.concatenate([seen.min(axis=0), seen.max(axis=0)]) if len(seen) else np.zeros(4)
    mask = found.crop.paste(_sigmoid(found.mask_logits), (height, width))
    pose = PoseSequence2D(points[None], confidence[None].astype(np.float32), width, height, 30.0)
    return DetectedPerson(pose, np.clip(mask, 0.0, 1.0), found.score, box.astype(np.float32), found.next_crop())


def _check_image(image_rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 16:
        raise ImageInputError(f"The photo must be an RGB image of at least 16x16 px, got {image.shape} {image.dtype}.")
    return np.ascontiguousarray(image)


def _search(nets: _Networks, image: np.ndarray, crops: list[Crop]) -> list[_BodyPass]:
    """The distinct bodies that settle from ``crops``."""
    finds: list[_BodyPass] = []
    for crop in crops:
        first = _body_pass(nets.pose, image, crop)
        if first.score < PRESENCE_THRESHOLD or _already_found(first, finds):
            continue
        found = _settle(nets.pose, image, first)
        if found.score >= PRESENCE_THRESHOLD and not any(_same_person(found, other) for other in finds):
            finds.append(found)
    return finds


def _continued_below(nets: _Networks, image: np.ndarray, found: _BodyPass) -> _BodyPass:
    """For a person cut off by the bottom edge, the body BlazePose sees in a crop placed from their face.

    MediaPipe's own detector would centre the crop on hips under the edge; without it, the whole-picture
    crop makes BlazePose squeeze the whole body into the picture (shoulders at the chin, hips on the chest
    of a portrait). So when this person's silhouette runs out of the bottom edge wider than their head,
    the crop is placed from the face mesh with an adult's proportions (body about 8.5 face heights, hips
    4 face heights under the chin; BlazePose's crop is 1.25 x twice hips-to-crown) and the body found
    there replaces the squeezed one if it has the same face. A face the mesh cannot read (a profile)
    keeps the first find.
    """
    height, width = image.shape[:2]
    silhouette = found.crop.paste(_sigmoid(found.mask_logits), (height, width))
    bottom_width_px = float((silhouette[-max(2, height // 50):] > 0.5).any(axis=0).sum())
    points, confidence = body_from_blaze(found.landmarks_px[:NUM_BLAZE], found.visibility)
    head_width_px = float(np.linalg.norm(points[B["left_ear"]] - points[B["right_ear"]]))
    face_crop = _face_crop(points, np.ones_like(confidence))
    if bottom_width_px < 1.5 * head_width_px or face_crop is None:
        return found
    mesh, score = _run_face(nets.face, image, face_crop)
    face_height_px = float(np.linalg.norm(mesh[FOREHEAD] - mesh[CHIN]))
    if score < PART_THRESHOLD or face_height_px < 4.0:
        return found
    up = (mesh[FOREHEAD] - mesh[CHIN]) / face_height_px
    hips = mesh[CHIN] - up * HIPS_BELOW_CHIN_FACES * face_height_px
    crown = mesh[FOREHEAD] + up * 0.25 * face_height_px
    crop = Crop.upright(hips, crown, CROP_SIDE_FACES * face_height_px, POSE_INPUT)
    below = _settle(nets.pose, image, _body_pass(nets.pose, image, crop))
    moved = np.linalg.norm(below.landmarks_px[BLAZE["nose"]] - mesh[NOSE_TIP])
    return below if below.score >= PRESENCE_THRESHOLD and moved < 0.5 * face_height_px else found


def _torso_length(found: _BodyPass) -> float:
    torso = _torso(found)
    return float(np.linalg.norm(torso[:2].mean(axis=0) - torso[2:].mean(axis=0)))


def detect_people(image_rgb: np.ndarray, models: MediaPipeModels | None = None,
                  model_folders: Iterable[Path] = (), with_parts: bool = True) -> list[DetectedPerson]:
    """Everyone BlazePose finds in the photo, largest first (by the box of their seen keypoints).

    image_rgb     : (H, W, 3) uint8 RGB.
    models        : the model files; found with ``find_models(model_folders)`` when None.
    with_parts    : also run the face-mesh and hand models (slower; face and hands otherwise absent).
    """
    image = _check_image(image_rgb)
    nets = _load_networks(models or find_models(model_folders))
    finds = [_continued_below(nets, image, found)
             for found in _search(nets, image, _candidate_crops(person_mask_everyone(nets.segmentation, image)))]
    if not finds:
        # In a small window BlazePose's presence flag also says "person" for a cat or a cup, with a small
        # skeleton; a find of the window search must be large enough to animate.
        short_side = min(image.shape[:2])
        finds = [found for found in _search(nets, image, _window_crops(*image.shape[:2]))
                 if _torso_length(found) >= MIN_TORSO_FRACTION * short_side]
    people = [_to_person(nets, image, found, with_parts) for found in finds]
    people = [person for person in people if np.count_nonzero(person.pose.confidence[0, BODY]) >= 4]
    return sorted(people, key=lambda person: -person.area_px)


def detect_person(image_rgb: np.ndarray, person_index: int = 0, models: MediaPipeModels | None = None,
                  model_folders: Iterable[Path] = (), with_parts: bool = True) -> DetectedPerson:
    """The ``person_index``-th largest person in the photo (0 = the largest).

    Raises PoseInputError when nobody is found or the index is past the last person.
    """
    people = detect_people(image_rgb, models, model_folders, with_parts)
    if not people:
        raise PoseInputError("No person was found in the photo. Use a photo in which one person is clearly "
                             "visible (at least head and shoulders), or give the pose as a POSE_KEYPOINT/JSON file.")
    if not 0 <= person_index < len(people):
        raise PoseInputError(f"person_index is {person_index} but the photo shows {len(people)} "
                             f"{'person' if len(people) == 1 else 'people'} (0 = the largest). Pick 0 to "
                             f"{len(people) - 1}.")
    chosen = people[person_index]
    for other in people[:person_index] + people[person_index + 1:]:
        if _box_iou(chosen.box_xyxy, other.box_xyxy) > OVERLAP_IOU:
            raise PoseInputError(f"The photo shows {len(people)} people overlapping each other, so their limbs and "
                                 "outlines cannot be told apart. Crop the photo to one person, or use a photo in "
                                 "which the dancers stand apart.")
    return chosen


def follow_person(image_rgb: np.ndarray, previous: DetectedPerson, models: MediaPipeModels | None = None,
                  model_folders: Iterable[Path] = (), with_parts: bool = True) -> DetectedPerson | None:
    """The same person in the next frame of a video, from one BlazePose pass on ``previous.next_crop`` (how
    MediaPipe tracks); None when the body is lost there, so the caller searches the whole frame again."""
    image = _check_image(image_rgb)
    nets = _load_networks(models or find_models(model_folders))
    found = _body_pass(nets.pose, image, previous.next_crop)
    if found.score < PRESENCE_THRESHOLD:
        return None
    person = _to_person(nets, image, found, with_parts)
    return person if np.count_nonzero(person.pose.confidence[0, BODY]) >= 4 else None


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, float(x1 - x0)) * max(0.0, float(y1 - y0))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter
    return inter / union if union > 0 else 0.0
