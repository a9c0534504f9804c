"""Nodes that write files: the dance video with its music, and the pose/motion data."""

from __future__ import annotations

from ..choreo.io.motion_files import save_motion_bvh, save_motion_npz
from ..choreo.io.pose_json import save_pose_json
from ..choreo.io.sidecars import sidecar_paths
from ..choreo.io.video_export import write_mp4
from ..choreo.errors import ImageInputError
from ..choreo.render.dance_frames import iter_dance_frames
from . import comfy_bridge
from .convert import audio_from_comfy, fit_to_canvas, frames_from_comfy, image_from_comfy, mask_from_comfy
from .dance_render_inputs import REFERENCE_IMAGE, puppet_rig_inputs, renderer_widgets
from .socket_types import CATEGORY, MOTION, POSE


class ChoreoSaveDanceVideo:
    DESCRIPTION = ("Saves the frames as an H.264 mp4 with the music muxed in, cut so picture and sound end "
                   "together. Optionally writes the poses (OpenPose JSON) and the 3D motion (NPZ with SMPL/EDGE "
                   "fields, and BVH for Blender) beside it.")
    CATEGORY = f"{CATEGORY}/export"
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ()

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "Video frames (e.g. from Render Pose Video)."}),
            "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0,
                              "tooltip": "Frame rate of the frames; wire the fps output of the pose or music node."}),
            "filename_prefix": ("STRING", {"default": "choreo/dance",
                                "tooltip": "Path under ComfyUI/output; a counter is appended."}),
        }, "optional": {
            "audio": ("AUDIO", {"tooltip": "The song; trimmed or padded to the video's length."}),
            "pose": (POSE, {"tooltip": "Also save these poses as <name>.pose.json (POSE_KEYPOINT layout)."}),
            "motion": (MOTION, {"tooltip": "Also save this 3D motion as <name>.npz and <name>.bvh."}),
        }}

    def save(self, images, fps, filename_prefix, audio=None, pose=None, motion=None):
        if images.ndim != 4 or images.shape[0] == 0:
            raise ImageInputError(f"images must be a non-empty IMAGE batch, got shape {tuple(images.shape)}.")
        num_frames, height, width = images.shape[:3]
        folder, stem, subfolder = comfy_bridge.save_path(filename_prefix, width, height)
        folder.mkdir(parents=True, exist_ok=True)
        video_path = folder / f"{stem}.mp4"
        write_mp4(video_path, frames_from_comfy(images), fps=fps,
                  audio=audio_from_comfy(audio) if audio is not None else None, num_frames=num_frames,
                  progress=comfy_bridge.progress_reporter())
        return _finish(video_path, subfolder, pose, motion)


class ChoreoRenderDanceVideoFile:
    DESCRIPTION = ("Renders the pose sequence and writes the mp4 with the music in one streaming pass, so even a "
                   "long song never sits in memory as an IMAGE batch. Use it for the finished dance; use Render "
                   "Pose Video when another node (e.g. Wan-Animate) needs the frames.")
    CATEGORY = f"{CATEGORY}/export"
    FUNCTION = "render"
    OUTPUT_NODE = True
    RETURN_TYPES = ()

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose": (POSE, {"tooltip": "The dance as 2D poses (from Project 3D to 2D or the Keyframe Editor)."}),
            "reference_image": REFERENCE_IMAGE,
            **renderer_widgets(),
            "filename_prefix": ("STRING", {"default": "choreo/dance",
                                "tooltip": "Path under ComfyUI/output; a counter is appended."}),
        }, "optional": {
            **puppet_rig_inputs(),
            "audio": ("AUDIO", {"tooltip": "The song; trimmed or padded to the video's length."}),
            "motion": (MOTION, {"tooltip": "Also save this 3D motion as <name>.npz and <name>.bvh."}),
        }}

    def render(self, pose, reference_image, renderer, draw_style, filename_prefix, reference_pose=None,
               figure_mask=None, audio=None, motion=None):
        image = fit_to_canvas(image_from_comfy(reference_image, "reference_image"), pose.canvas_width,
                              pose.canvas_height)
        folder, stem, subfolder = comfy_bridge.save_path(filename_prefix, pose.canvas_width, pose.canvas_height)
        folder.mkdir(parents=True, exist_ok=True)
        video_path = folder / f"{stem}.mp4"
        mask = mask_from_comfy(figure_mask, pose.canvas_width, pose.canvas_height)
        notes: list[str] = []
        frames = iter_dance_frames(pose, renderer, reference_image=image, draw_style=draw_style,
                                   reference_pose=reference_pose, figure_mask=mask, note=notes.append)
        write_mp4(video_path, frames, fps=pose.fps, audio=audio_from_comfy(audio) if audio is not None else None,
                  num_frames=pose.num_frames, progress=comfy_bridge.progress_reporter())
        result = _finish(video_path, subfolder, pose, motion)
        result["ui"]["text"] = notes  # what the picture cannot show, shown on the node
        return result


def _finish(video_path, subfolder: str, pose, motion) -> dict:
    """Write the pose JSON / NPZ / BVH beside the video and describe the video for the node's preview."""
    sidecars = sidecar_paths(video_path)
    if pose is not None:
        save_pose_json(pose, sidecars.pose_json)
    if motion is not None:
        save_motion_npz(motion, sidecars.motion_npz)
        save_motion_bvh(motion, sidecars.motion_bvh)
    preview = {"filename": video_path.name, "subfolder": subfolder, "type": "output"}
    return {"ui": {"images": [preview], "animated": (True,)}, "result": ()}
