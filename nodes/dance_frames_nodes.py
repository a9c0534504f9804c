"""The finished dance (puppet or skeleton) as an IMAGE batch, a range of frames at a time."""

from __future__ import annotations

import torch

from ..choreo.render.dance_frames import iter_dance_frames
from ..choreo.render.frame_range import check_batch_bytes, image_batch_bytes, pose_at_frames, select_frames
from . import comfy_bridge
from .convert import fit_to_canvas, image_from_comfy, mask_from_comfy
from .dance_render_inputs import REFERENCE_IMAGE, frame_range_widgets, puppet_rig_inputs, renderer_widgets
from .socket_types import CATEGORY, POSE


class ChoreoRenderDanceFrames:
    DESCRIPTION = ("Renders the dance as an IMAGE batch for other nodes: the puppet (the picture itself dances) or "
                   "the skeleton, for a range of frames (start, count, stride) so a long song can be taken in "
                   "pieces. A batch over the memory limit is refused before rendering, with its size; to write "
                   "the whole song to a file use Render Dance to Video File, which streams.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE", "FLOAT", "INT")
    RETURN_NAMES = ("images", "fps", "next_start_frame")
    OUTPUT_TOOLTIPS = ("The frames of the range at the pose's canvas size.",
                       "Frame rate of the batch: the dance's fps divided by the stride.",
                       "The frame after this range: the start_frame of the next piece.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose": (POSE, {"tooltip": "The dance as 2D poses (from Project 3D to 2D or the Keyframe Editor)."}),
            "reference_image": REFERENCE_IMAGE,
            **renderer_widgets(),
            **frame_range_widgets("Refuse (before rendering) when the batch would exceed this many GiB as float32."),
        }, "optional": {
            **puppet_rig_inputs(),
        }}

    def render(self, pose, reference_image, renderer, draw_style, start_frame, frame_count, stride, max_batch_gib,
               reference_pose=None, figure_mask=None):
        indices = select_frames(pose.num_frames, start_frame, frame_count, stride)
        width, height = pose.canvas_width, pose.canvas_height
        check_batch_bytes(image_batch_bytes(indices.size, width, height), max_batch_gib,
                          f"{indices.size} frames of {width}x{height}",
                          "Render a smaller range (frame_count, stride) and take the song in pieces, or write the "
                          "whole dance with Render Dance to Video File, which streams it into an mp4.")
        image = fit_to_canvas(image_from_comfy(reference_image, "reference_image"), width, height)
        frames = iter_dance_frames(pose_at_frames(pose, indices), renderer, reference_image=image,
                                   draw_style=draw_style, reference_pose=reference_pose,
                                   figure_mask=mask_from_comfy(figure_mask, width, height))
        report = comfy_bridge.progress_reporter()
        batch = torch.empty((indices.size, height, width, 3), dtype=torch.float32)
        for index, frame in enumerate(frames):
            batch[index] = torch.from_numpy(frame).to(torch.float32).div_(255.0)
            report((index + 1) / indices.size)
        return (batch, float(pose.fps) / stride, int(indices[-1]) + stride)
