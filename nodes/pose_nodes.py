"""Nodes for 2D poses: the reference person, projection of 3D motion, POSE_KEYPOINT interop."""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from ..choreo.edit import parse_edit_document
from ..choreo.errors import PoseInputError
from ..choreo.io.pose_json import load_pose_json
from ..choreo.pose.keypoint_format import from_pose_keypoint, to_pose_keypoint
from ..choreo.pose.projection import PROJECTIONS, Camera, ProjectionSettings, project_onto_reference
from ..choreo.pose.mediapipe_models import FETCH_COMMAND
from ..choreo.pose.reference import REFERENCE_SOURCES, fit_reference
from ..choreo.pose.video_poses import poses_from_video
from ..choreo.pose.smoothing import OneEuroSettings, smooth_pose_sequence
from . import comfy_bridge
from .convert import frames_from_comfy, image_from_comfy, mask_to_comfy
from .socket_types import CATEGORY, MOTION, POSE, POSE_KEYPOINT

NO_MODEL = "none"
logger = logging.getLogger(__name__)


class ChoreoReferencePose:
    DESCRIPTION = ("The pose, proportions and silhouette of the person in the reference image. auto: a connected "
                   "POSE_KEYPOINT, else MediaPipe's whole-body detector (models in ComfyUI/models/choreo/mediapipe, "
                   f"fetched once with `{FETCH_COMMAND} --dest ComfyUI/models/choreo/mediapipe`), else rtmlib when "
                   "its ONNX model is chosen, else a default body stretched over the image (a guess; the node "
                   "says so). A photo in which nobody is found is refused.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "reference"
    RETURN_TYPES = (POSE, POSE_KEYPOINT, "MASK")
    RETURN_NAMES = ("reference_pose", "pose_keypoint", "person_mask")
    OUTPUT_TOOLTIPS = ("One-frame pose on the image's canvas; dances are fitted onto it.",
                       "The same pose as native POSE_KEYPOINT.",
                       "The person's silhouette (1 = person) for the puppet's cut-out; empty when no detector ran.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE", {"tooltip": "Photo or drawing of the dancer; its size becomes the video size."}),
            "source": (list(REFERENCE_SOURCES), {"default": "auto",
                       "tooltip": "auto: pose_keypoint if connected, else MediaPipe if its models are installed, "
                                  "else rtmlib if a model is chosen, else the default body (with a warning)."}),
            "rtmlib_model": ([NO_MODEL] + comfy_bridge.model_file_names("choreo_rtmlib"), {"default": NO_MODEL,
                             "tooltip": "Whole-body pose ONNX model (RTMW / DWPose) in ComfyUI/models/choreo/rtmlib."}),
            "person_index": ("INT", {"default": 0, "min": 0, "max": 63,
                             "tooltip": "Which person when the photo shows several: 0 = the largest, 1 = the next."}),
        }, "optional": {
            "pose_keypoint": (POSE_KEYPOINT, {"tooltip": "A detected pose of the image (pixels or 0-1); "
                                                         "the first frame is used."}),
        }}

    def reference(self, image, source, rtmlib_model, person_index=0, pose_keypoint=None):
        image_rgb = image_from_comfy(image)
        height, width = image_rgb.shape[:2]
        model = comfy_bridge.model_file_path("choreo_rtmlib", rtmlib_model) if rtmlib_model != NO_MODEL else None
        fit = fit_reference(image_rgb, pose_keypoint, model, person_index,
                            model_folders=comfy_bridge.model_folders("choreo_mediapipe"), source=source)
        mask = fit.mask if fit.mask is not None else np.zeros((height, width), np.float32)
        text = fit.warning or f"fitted from {fit.source}"
        if fit.warning:
            logger.warning("Choreo Reference Pose: %s", fit.warning)
        result = (fit.pose, to_pose_keypoint(fit.pose), mask_to_comfy(mask))
        return {"ui": {"text": [text]}, "result": result}


def camera_inputs() -> dict:
    """The camera widgets shared by every node that looks at a 3D dance (same order in each)."""
    return {
        "projection": (list(PROJECTIONS), {"default": "orthographic",
                       "tooltip": "orthographic: flat frontal view (MACE-Dance's projector); perspective: a camera."}),
        "yaw_deg": ("FLOAT", {"default": 0.0, "min": -180.0, "max": 180.0, "step": 1.0,
                    "tooltip": "Camera turn around the dancer, degrees (0 = front)."}),
        "pitch_deg": ("FLOAT", {"default": 0.0, "min": -60.0, "max": 60.0, "step": 1.0,
                      "tooltip": "Camera tilt, degrees (positive looks down on the dancer)."}),
        "distance_m": ("FLOAT", {"default": 4.0, "min": 1.0, "max": 20.0, "step": 0.1,
                       "tooltip": "Camera distance for the perspective projection, metres."}),
    }


class ChoreoProjectMotion:
    DESCRIPTION = ("Turns 3D motion into the 2D whole-body poses of the reference person: optional retargeting "
                   "to their proportions, a camera (orthographic or perspective, yaw/pitch/distance), a similarity "
                   "fit onto their pose, and hands and face synthesised from the head and wrists. The pose "
                   "remembers the camera and proportions, so Regenerate Around Edits sees new frames the same way.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "project"
    RETURN_TYPES = (POSE, POSE_KEYPOINT)
    RETURN_NAMES = ("pose", "pose_keypoint")
    OUTPUT_TOOLTIPS = ("2D pose sequence in the reference image's pixels.", "The same as native POSE_KEYPOINT.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion": (MOTION, {"tooltip": "3D dance from a generator node."}),
            "reference_pose": (POSE, {"tooltip": "From Reference Pose: sets canvas size, position and scale."}),
            "match_proportions": ("BOOLEAN", {"default": True,
                                  "tooltip": "Retarget the dance to the reference person's limb proportions."}),
            **camera_inputs(),
            "hands": ("BOOLEAN", {"default": True, "tooltip": "Synthesise 21-point hands from the wrists."}),
            "face": ("BOOLEAN", {"default": True, "tooltip": "Synthesise 70 face points from the head."}),
        }}

    def project(self, motion, reference_pose, match_proportions, projection, yaw_deg, pitch_deg, distance_m,
                hands, face):
        camera = Camera(projection=projection, yaw_deg=yaw_deg, pitch_deg=pitch_deg, distance_m=distance_m)
        settings = ProjectionSettings(camera=camera, match_proportions=bool(match_proportions))
        pose = project_onto_reference(motion, reference_pose, settings, face=face, hands=hands)
        return (pose, to_pose_keypoint(pose))


class ChoreoPoseToKeypoint:
    DESCRIPTION = "Converts a Choreo pose sequence to ComfyUI's native POSE_KEYPOINT (absolute pixels)."
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "convert"
    RETURN_TYPES = (POSE_KEYPOINT, "FLOAT")
    RETURN_NAMES = ("pose_keypoint", "fps")
    OUTPUT_TOOLTIPS = ("One dict per frame, OpenPose layout, for SDPoseDrawKeypoints and similar nodes.",
                       "Frame rate of the sequence.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pose": (POSE, {"tooltip": "A Choreo pose sequence."})}}

    def convert(self, pose):
        return (to_pose_keypoint(pose), float(pose.fps))


class ChoreoKeypointToPose:
    DESCRIPTION = ("Reads native POSE_KEYPOINT frames (pixels or 0-1 coordinates, missing parts allowed) into a "
                   "Choreo pose sequence, so detected or hand-made poses can be edited and rendered.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "convert"
    RETURN_TYPES = (POSE,)
    RETURN_NAMES = ("pose",)
    OUTPUT_TOOLTIPS = ("The frames as a Choreo pose sequence.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose_keypoint": (POSE_KEYPOINT, {"tooltip": "Frames from a pose detector or another pose node."}),
            "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0,
                              "tooltip": "Frame rate of these frames, frames per second."}),
        }}

    def convert(self, pose_keypoint, fps):
        return (from_pose_keypoint(pose_keypoint, fps=fps),)


class ChoreoPosesFromVideo:
    DESCRIPTION = ("Poses of one dancer in a video (frames from a video loader, e.g. a Wan-Dancer render), found by "
                   "MediaPipe's whole-body detector and followed frame to frame, so a dance made elsewhere can be "
                   "edited, smoothed and re-rendered in Choreo. Frames without the dancer stay empty. About 0.03 s "
                   "a frame on a 2-core CPU (0.1 s with face and hands); follow with Smooth Pose Sequence to calm jitter.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "extract"
    RETURN_TYPES = (POSE, POSE_KEYPOINT)
    RETURN_NAMES = ("pose", "pose_keypoint")
    OUTPUT_TOOLTIPS = ("The dancer's poses on the video's frame clock.", "The same poses as native POSE_KEYPOINT.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "The video's frames, in order (e.g. Get Video Components' images)."}),
            "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0,
                              "tooltip": "The video's frame rate (Get Video Components gives it)."}),
            "person_index": ("INT", {"default": 0, "min": 0, "max": 63,
                             "tooltip": "Which person when several are in the video: 0 = the largest."}),
            "face_and_hands": ("BOOLEAN", {"default": False,
                               "tooltip": "Also find the face and hand points on every frame (about 3x slower)."}),
        }}

    def extract(self, images, fps, person_index, face_and_hands):
        total = int(images.shape[0]) if hasattr(images, "shape") else 0
        report = comfy_bridge.progress_reporter()

        def progress(frames_done: int) -> None:
            comfy_bridge.check_interrupted()
            report(frames_done / max(total, 1))

        pose = poses_from_video(frames_from_comfy(images), fps, person_index, with_parts=face_and_hands,
                                model_folders=comfy_bridge.model_folders("choreo_mediapipe"), progress=progress)
        return (pose, to_pose_keypoint(pose))


class ChoreoLoadPoseKeypoint:
    DESCRIPTION = ("Loads POSE_KEYPOINT frames from a JSON file in ComfyUI/input (OpenPose/DWPose JSON as written by "
                   "Save Dance Video or pose-editor packs), e.g. an exact reference pose for a drawn character.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "load"
    RETURN_TYPES = (POSE_KEYPOINT,)
    RETURN_NAMES = ("pose_keypoint",)
    OUTPUT_TOOLTIPS = ("The frames as native POSE_KEYPOINT.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose_file": (comfy_bridge.input_files((".json",)) or ["none"],
                          {"tooltip": "A .json file in ComfyUI/input holding a POSE_KEYPOINT list (pixels or 0-1)."}),
        }}

    @classmethod
    def IS_CHANGED(cls, pose_file):
        """The file's content hash, so editing the JSON in place re-runs the node (as core LoadImage does)."""
        path = comfy_bridge.input_file_path(pose_file)
        return "missing" if path is None else hashlib.sha256(path.read_bytes()).hexdigest()

    @classmethod
    def VALIDATE_INPUTS(cls, pose_file):
        if comfy_bridge.input_file_path(pose_file) is None:
            return f"pose file {pose_file!r} is not in ComfyUI/input; copy the JSON there and refresh."
        return True

    def load(self, pose_file):
        path = comfy_bridge.input_file_path(pose_file)
        if path is None:
            raise PoseInputError(f"pose file {pose_file!r} is not in ComfyUI/input; copy the JSON there and refresh.")
        return (to_pose_keypoint(load_pose_json(path)),)


class ChoreoSmoothPose:
    DESCRIPTION = ("Removes frame-to-frame jitter (X-Dancer tokens, per-frame detection) with a zero-lag One Euro "
                   "filter: still points are calmed, fast moves and the stops on the beat keep their frames. "
                   "Absent points stay absent; joints you keyed in the editor can be kept exactly.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "smooth"
    RETURN_TYPES = (POSE,)
    RETURN_NAMES = ("pose",)
    OUTPUT_TOOLTIPS = ("The smoothed sequence: same frames, canvas and fps.",)

    @classmethod
    def INPUT_TYPES(cls):
        defaults = OneEuroSettings()
        return {"required": {
            "pose": (POSE, {"tooltip": "The pose sequence to calm."}),
            "min_cutoff_hz": ("FLOAT", {"default": defaults.min_cutoff_hz, "min": 0.05, "max": 30.0, "step": 0.05,
                              "tooltip": "Cut-off for still points: lower = calmer. 1.5 Hz suits dance at 30 fps."}),
            "speed_coefficient": ("FLOAT", {"default": defaults.speed_coefficient, "min": 0.0, "max": 500.0,
                                  "step": 0.5, "tooltip": "How much faster moves are trusted (Hz per canvas height "
                                                          "per second): higher keeps quick moves sharper; 0 is a "
                                                          "plain low-pass."}),
        }, "optional": {
            "keyframes_json": ("STRING", {"forceInput": True,
                               "tooltip": "The Pose Keyframe Editor's edits output: the joints you keyed land exactly "
                                          "on their keyframes; the rest is smoothed."}),
        }}

    def smooth(self, pose, min_cutoff_hz, speed_coefficient, keyframes_json=None):
        keep = None
        if keyframes_json:
            keep = np.zeros(pose.confidence.shape, bool)
            for key in parse_edit_document(keyframes_json).keyframes:
                if 0 <= key.frame < pose.num_frames:
                    keep[key.frame, [index for index, _, _ in key.joints]] = True
        settings = OneEuroSettings(min_cutoff_hz=min_cutoff_hz, speed_coefficient=speed_coefficient)
        return (smooth_pose_sequence(pose, settings, keep=keep),)
