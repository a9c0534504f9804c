"""Project 3D SMPL-24 dance motion to 136-point 2D whole-body poses on a canvas.

Pose-conditioned video models were trained on DWPose/OpenPose detections, so the
projection imitates what a detector would report for the dancer: OpenPose-18
body with the neck at mid-shoulders, DWPose feet, a 70-point face and two
21-point hands. Face, hands and feet come from rigid templates fixed to the
head, wrist, hand, ankle and foot joint frames (``body_templates``), so they turn
with the joints. The camera orbits the dancer; the result is then placed on the
canvas, either onto a reference person or filling the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import PoseInputError
from ..motion.motion3d import Motion3D
from ..motion.rotations import axis_angle_to_matrix
from ..motion.skeleton import JOINT, PARENTS, SMPL_REST_OFFSETS_M, forward_kinematics
from . import body_templates as tpl
from .layout import B, F, FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND
from .retarget import fit_transform, skeleton_from_reference
from .sequence import PoseSequence2D

PROJECTIONS = ("orthographic", "perspective")
# Canvas fit without a reference: body height share of the canvas and where the feet land.
FILL_HEIGHT = 0.8
FILL_WIDTH = 0.9
FEET_LINE = 0.9
# A face (and nose, eyes) is drawn while the head turns at most about 96 degrees from the camera.
FACE_VISIBLE_MIN_COS = -0.1
# An ear is hidden once it points more than 120 degrees away from the camera.
EAR_VISIBLE_MIN_COS = -0.5
# Points hidden with the face: nose, eyes and the 70 face points.
_FACE_POINTS = np.r_[B["nose"], B["right_eye"], B["left_eye"], np.arange(FACE.start, FACE.stop)]

# OpenPose body keypoints that are SMPL joints of the same name.
_LIMB_KEYPOINTS = ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
                   "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")


@dataclass(frozen=True)
class Camera:
    """A camera orbiting the dancer's mean pelvis position.

    projection : "orthographic" (parallel, like MACE-Dance's projector) or "perspective".
    yaw_deg    : orbit about the vertical; 0 looks at a body facing -y from the front,
                 +90 views from the dancer's left (the body appears in profile).
    pitch_deg  : elevation; positive looks down on the dancer.
    distance_m : camera to pivot, metres; only changes perspective foreshortening.

    There is no focal length: the canvas fit sets the image scale, so a focal
    length would only be undone by it.
    """

    projection: str = "orthographic"
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    distance_m: float = 4.0

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise PoseInputError(f"Camera projection must be one of {PROJECTIONS}, got {self.projection!r}.")
        if not self.distance_m > 0:
            raise PoseInputError(f"Camera distance_m must be positive, got {self.distance_m}.")
        if not -89.0 <= self.pitch_deg <= 89.0:
            raise PoseInputError(f"Camera pitch_deg must lie in [-89, 89], got {self.pitch_deg}.")

    def camera_to_world(self) -> np.ndarray:
        """(3, 3) rotation whose columns are the camera's right, viewing and up axes in the world."""
        yaw = axis_angle_to_matrix(np.array([0.0, 0.0, np.deg2rad(self.yaw_deg)]))
        pitch = axis_angle_to_matrix(np.array([-np.deg2rad(self.pitch_deg), 0.0, 0.0]))
        return yaw @ pitch


@dataclass(frozen=True)
class ProjectionSettings:
    """How a 3D dance was turned into the 2D poses of a reference person, kept with those poses.

    camera            : the view; see ``Camera``.
    match_proportions : whether the motion was retargeted to the reference person's limb lengths.

    A generator that re-creates part of a projected dance (Regenerate Around Edits) projects
    its new motion with these settings, so new and kept frames are seen from one camera.
    """

    camera: Camera = Camera()
    match_proportions: bool = True


def project_onto_reference(motion: Motion3D, reference: PoseSequence2D,
                           settings: ProjectionSettings = ProjectionSettings(), face: bool = True,
                           hands: bool = True) -> PoseSequence2D:
    """2D poses of a 3D motion on the reference person's canvas, remembering ``settings``.

    motion    : T frames of SMPL-24 rotations (z-up world, metres).
    reference : one-frame pose of the person to animate; sets canvas, placement and (with
                ``settings.match_proportions``) limb lengths.
    returns   : as ``project_motion``, with ``projection_settings`` set to ``settings``.
    """
    if settings.match_proportions:
        motion = motion.with_skeleton(skeleton_from_reference(reference, motion.skeleton))
    pose = project_motion(motion, reference.canvas_width, reference.canvas_height, camera=settings.camera,
                          reference=reference, face=face, hands=hands)
    return replace(pose, projection_settings=settings)


def project_motion(motion: Motion3D, canvas_width: int, canvas_height: int, camera: Camera = Camera(),
                   reference: PoseSequence2D | None = None, face: bool = True, hands: bool = True) -> PoseSequence2D:
    """2D whole-body poses of a 3D motion, placed on a canvas.

    motion        : T frames of SMPL-24 rotations (z-up world, metres).
    canvas_width, canvas_height : output canvas, pixels.
    camera        : view; see ``Camera``.
    reference     : a pose of the person to animate (first frame used). The first
                    motion frame is fitted onto it by uniform scale and translation
                    over torso and leg keypoints; its coordinates are rescaled per axis
                    to this canvas, as the reference image will be. Without it the
                    whole sequence's bounding box fills 80% of the canvas height,
                    centred, feet near the bottom.
    face, hands   : synthesise those parts; when off they are marked missing.
    returns       : PoseSequence2D (T, 136) at ``motion.fps``. Confidence is 1, or 0
                    for face points and ears turned away from the camera.

    >>> from choreo.motion.skeleton import UPRIGHT
    >>> rest = np.broadcast_to(np.eye(3, dtype=np.float32), (1, 24, 3, 3)).copy(); rest[:, 0] = UPRIGHT
    >>> m = Motion3D(np.array([[0, 0, 0.95]], np.float32), rest, np.ones((1, 4), np.float32), 30.0)
    >>> project_motion(m, 512, 768).keypoints_px.shape
    (1, 136, 2)
    """
    if canvas_width < 1 or canvas_height < 1:
        raise PoseInputError(f"canvas must be at least 1x1 px, got {canvas_width}x{canvas_height}.")
    if motion.num_frames == 0:
        raise PoseInputError("The motion has no frames to project. Generate or load a motion first.")
    points, confidence = _keypoints_3d(motion, camera, face, hands)
    image = _project(points, motion.root_translation_m.astype(np.float64), camera)
    if reference is None:
        placed = _fill_canvas(image, confidence, canvas_width, canvas_height)
    else:
        ref_px = reference.keypoints_px[0].astype(np.float64) * np.array(
            [canvas_width / reference.canvas_width, canvas_height / reference.canvas_height])
        scale, translation = fit_transform(image[0], confidence[0], ref_px, reference.confidence[0])
        placed = image * scale + translation
    missing = set()
    if not face:
        missing.add("face_keypoints_2d")
    if not hands:
        missing |= {"hand_left_keypoints_2d", "hand_right_keypoints_2d"}
    return PoseSequence2D(placed.astype(np.float32), confidence.astype(np.float32), int(canvas_width),
                          int(canvas_height), float(motion.fps), frozenset(missing))


def world_rotations(rotations: np.ndarray) -> np.ndarray:
    """(T, 24, 3, 3) world rotation of each joint's frame from local rotations (T, 24, 3, 3)."""
    local = np.asarray(rotations, np.float64)
    world = np.empty_like(local)
    world[:, 0] = local[:, 0]
    for joint in range(1, len(PARENTS)):
        world[:, joint] = world[:, PARENTS[joint]] @ local[:, joint]
    return world


def _keypoints_3d(motion: Motion3D, camera: Camera, face: bool, hands: bool) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, 136, 3) metres and confidences (T, 136) of all layout points."""
    skeleton = motion.skeleton
    joints = forward_kinematics(skeleton, motion.rotations, motion.root_translation_m)
    world = world_rotations(motion.rotations)
    ratio = skeleton.bone_lengths_m / np.maximum(np.linalg.norm(SMPL_REST_OFFSETS_M, axis=-1), 1e-9)
    num_frames = motion.num_frames
    points = np.zeros((num_frames, NUM_KEYPOINTS, 3))
    confidence = np.ones((num_frames, NUM_KEYPOINTS))

    def attach(joint: str, offsets_m: np.ndarray, scale: float) -> np.ndarray:
        """Points rigidly fixed to a joint's frame: (T, N, 3) for offsets (N, 3)."""
        j = JOINT[joint]
        return joints[:, j, None, :] + np.einsum("tab,nb->tna", world[:, j], offsets_m * scale)

    for name in _LIMB_KEYPOINTS:
        points[:, B[name]] = joints[:, JOINT[name]]
    points[:, B["neck"]] = 0.5 * (points[:, B["right_shoulder"]] + points[:, B["left_shoulder"]])
    head_scale = ratio[JOINT["head"]]
    head = np.stack([tpl.NOSE_M, tpl.RIGHT_EYE_M, tpl.LEFT_EYE_M, tpl.RIGHT_EAR_M, tpl.LEFT_EAR_M])
    head_names = ["nose", "right_eye", "left_eye", "right_ear", "left_ear"]
    points[:, [B[n] for n in head_names]] = attach("head", head, head_scale)
    points[:, FACE] = attach("head", tpl.FACE_70_M, head_scale)

    for side, sign in (("left", 1.0), ("right", -1.0)):
        mirror = np.array([sign, 1.0, 1.0])
        foot_scale = ratio[JOINT[f"{side}_foot"]]
        toes = np.stack([tpl.LEFT_BIG_TOE_M, tpl.LEFT_SMALL_TOE_M]) * mirror
        points[:, [F[f"{side}_big_toe"], F[f"{side}_small_toe"]]] = attach(f"{side}_foot", toes, foot_scale)
        points[:, F[f"{side}_heel"]] = attach(f"{side}_ankle", tpl.LEFT_HEEL_M[None] * mirror, foot_scale)[:, 0]
        hand_slice = LEFT_HAND if side == "left" else RIGHT_HAND
        points[:, hand_slice] = _hand_points(joints, world, skeleton.rest_offsets_m, side, ratio)

    toward_camera = -camera.camera_to_world()[:, 1]
    head_world = world[:, JOINT["head"]]
    facing = head_world[:, :, 2] @ toward_camera
    confidence[np.ix_(facing < FACE_VISIBLE_MIN_COS, _FACE_POINTS)] = 0.0
    left_toward = head_world[:, :, 0] @ toward_camera
    confidence[-left_toward < EAR_VISIBLE_MIN_COS, B["right_ear"]] = 0.0
    confidence[left_toward < EAR_VISIBLE_MIN_COS, B["left_ear"]] = 0.0
    if not face:
        confidence[:, FACE] = 0.0
    if not hands:
        confidence[:, LEFT_HAND] = 0.0
        confidence[:, RIGHT_HAND] = 0.0
    return points, confidence



def _hand_points(joints: np.ndarray, world: np.ndarray, rest_offsets_m: np.ndarray, side: str,
                 ratio: np.ndarray) -> np.ndarray:
    """(T, 21, 3) hand points: palm and thumb move with the wrist, fingers with the hand joint."""
    template = tpl.LEFT_HAND_21_M if side == "left" else tpl.RIGHT_HAND_21_M
    wrist, hand = JOINT[f"{side}_wrist"], JOINT[f"{side}_hand"]
    scaled = template * ratio[hand]
    out = np.empty((len(joints), 21, 3))
    palm = list(tpl.PALM_POINTS)
    fingers = list(tpl.FINGER_POINTS)
    out[:, palm] = joints[:, wrist, None] + np.einsum("tab,nb->tna", world[:, wrist], scaled[palm])
    from_hand = scaled[fingers] - rest_offsets_m[hand]
    out[:, fingers] = joints[:, hand, None] + np.einsum("tab,nb->tna", world[:, hand], from_hand)
    return out


def _project(points: np.ndarray, root_m: np.ndarray, camera: Camera) -> np.ndarray:
    """(T, K, 2) image-plane coordinates in metres at the pivot's depth, y down."""
    pivot = root_m.mean(axis=0)
    local = (points - pivot) @ camera.camera_to_world()
    right, depth, up = local[..., 0], local[..., 1], local[..., 2]
    if camera.projection == "perspective":
        distance = camera.distance_m
        factor = distance / np.maximum(depth + distance, 0.05 * distance)
        right, up = right * factor, up * factor
    return np.stack([right, -up], axis=-1)


def _fill_canvas(image: np.ndarray, confidence: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale and move the whole sequence so its bounding box fills the canvas height, feet near the bottom."""
    visible = image[confidence > 0]
    low, high = visible.min(axis=0), visible.max(axis=0)
    extent = np.maximum(high - low, 1e-6)
    scale = min(FILL_HEIGHT * height / extent[1], FILL_WIDTH * width / extent[0])
    translation = np.array([0.5 * width - scale * 0.5 * (low[0] + high[0]), FEET_LINE * height - scale * high[1]])
    return image * scale + translation
