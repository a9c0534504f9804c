"""Nodes that draw pose sequences as images."""

from __future__ import annotations

import dataclasses

import torch

from ..choreo.errors import ImageInputError
from ..choreo.render.pose_video import PoseDrawStyle, iter_pose_frames
from ..choreo.pose.keypoint_format import to_pose_keypoint
from . import comfy_bridge
from .convert import fit_to_canvas, image_from_comfy
from .socket_types import CATEGORY, POSE, POSE_KEYPOINT

PRESETS = {
    "wan_animate": PoseDrawStyle.wan_animate,
    "dwpose": PoseDrawStyle.dwpose,
    "openpose": PoseDrawStyle.openpose,
}


class ChoreoRenderPoseVideo:
    DESCRIPTION = ("Draws the pose sequence as a skeleton video in OpenPose/DWPose colours. 'wan_animate' gives "
                   "what Wan-Animate's pose_video expects (black background, body and hands, no face dots); "
                   "'dwpose' adds face dots; the skeleton can also be drawn over the dimmed reference image.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE", "FLOAT", POSE_KEYPOINT)
    RETURN_NAMES = ("images", "fps", "pose_keypoint")
    OUTPUT_TOOLTIPS = ("One image per frame at the pose's canvas size.", "Frame rate for video nodes.",
                       "The poses as native POSE_KEYPOINT (for SDPoseDrawKeypoints, face crops, ...).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose": (POSE, {"tooltip": "Pose sequence to draw."}),
            "preset": (list(PRESETS), {"default": "wan_animate",
                       "tooltip": "Drawing convention of the target model."}),
            "background": (["black", "reference_image"], {"default": "black",
                           "tooltip": "black for pose-conditioned video models; reference_image to preview the "
                                      "dance over the (dimmed) photo."}),
            "stick_width_px": ("INT", {"default": 0, "min": 0, "max": 32,
                               "tooltip": "Limb thickness in pixels; 0 scales OpenPose's 4 px at 512 px to the canvas."}),
        }, "optional": {
            "reference_image": ("IMAGE", {"tooltip": "Background for background = reference_image; resized to the canvas."}),
        }}

    def render(self, pose, preset, background, stick_width_px, reference_image=None):
        style = PRESETS[preset]()
        if stick_width_px > 0:
            style = dataclasses.replace(style, stick_width_px=stick_width_px)
        backdrop = None
        if background == "reference_image":
            if reference_image is None:
                raise ImageInputError("background is 'reference_image' but no reference_image is connected. "
                                      "Connect the LoadImage output or choose background 'black'.")
            style = dataclasses.replace(style, background="image")
            backdrop = fit_to_canvas(image_from_comfy(reference_image, "reference_image"),
                                      pose.canvas_width, pose.canvas_height)
        report = comfy_bridge.progress_reporter()
        frames = torch.empty((pose.num_frames, pose.canvas_height, pose.canvas_width, 3), dtype=torch.float32)
        for index, frame in enumerate(iter_pose_frames(pose, style, background=backdrop)):
            frames[index] = torch.from_numpy(frame).to(torch.float32).div_(255.0)
            if index % 32 == 0:
                report(index / max(pose.num_frames, 1))
        report(1.0)
        return (frames, float(pose.fps), to_pose_keypoint(pose))

