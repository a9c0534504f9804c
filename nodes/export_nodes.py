"""Nodes that write files: the dance video with its music, and the pose/motion data."""

from __future__ import annotations

from ..choreo.io.motion_files import save_motion_bvh, save_motion_npz
from ..choreo.io.pose_json import save_pose_json
from ..choreo.io.video_export import write_mp4
from ..choreo.errors import ImageInputError
from . import comfy_bridge
from .convert import audio_from_comfy, frames_from_comfy
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
        if pose is not None:
            save_pose_json(pose, folder / f"{stem}.pose.json")
        if motion is not None:
            save_motion_npz(motion, folder / f"{stem}.npz")
            save_motion_bvh(motion, folder / f"{stem}.bvh")
        preview = {"filename": video_path.name, "subfolder": subfolder, "type": "output"}
        return {"ui": {"images": [preview], "animated": (True,)}, "result": ()}
