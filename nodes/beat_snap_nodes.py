"""Snap to Beats nodes: retime any dance (3D or 2D) so that its hits land on the music's beats."""

from __future__ import annotations

from ..choreo.motion.beat_snap import snap_motion_to_beats, snap_poses_to_beats
from .socket_types import CATEGORY, MOTION, MUSIC, POSE

DESCRIPTION = ("Retimes a dance so that its hits (the moments the body stops, as beat-alignment scores read them) "
               "land on the music's beats: each beat takes the nearest hit and time is stretched smoothly in between, "
               "never faster or slower than max_stretch. Same fps and frame count; the first and last frames stay. "
               "Use it after a learned generator or Poses from Video, and before editing (keyframes move with the "
               "time warp).")


def _settings() -> dict:
    return {
        "music": (MUSIC, {"tooltip": "From Analyze Music: the beats to land on (seconds on the dance's clock)."}),
        "max_shift_beats": ("FLOAT", {"default": 0.5, "min": 0.05, "max": 1.0, "step": 0.05,
                                      "tooltip": "How far a hit may move onto a beat, in beat periods (0.5 = any hit "
                                                 "within half a beat)."}),
        "max_stretch": ("FLOAT", {"default": 1.6, "min": 1.05, "max": 3.0, "step": 0.05,
                                  "tooltip": "The most a passage may be sped up or slowed down (1.6 = between 0.63x "
                                             "and 1.6x its danced speed); a beat that would need more is left as is."}),
    }


class ChoreoSnapMotionToBeats:
    DESCRIPTION = DESCRIPTION
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "snap"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("The 3D dance retimed onto the beats, same fps and frame count.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"motion": (MOTION, {"tooltip": "A 3D dance (Generate 3D Dance, Beat Choreographer, "
                                                            "3D In-paint)."}), **_settings()}}

    def snap(self, motion, music, max_shift_beats, max_stretch):
        return (snap_motion_to_beats(motion, music.beat_times_s, max_shift_beats, max_stretch)[0],)


class ChoreoSnapPoseToBeats:
    DESCRIPTION = DESCRIPTION
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "snap"
    RETURN_TYPES = (POSE,)
    RETURN_NAMES = ("pose",)
    OUTPUT_TOOLTIPS = ("The 2D pose sequence retimed onto the beats (hits read from the 18 body keypoints), same fps "
                       "and frame count.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pose": (POSE, {"tooltip": "A 2D pose sequence (X-Dancer Generate, Pose DiT Generate, "
                                                        "Poses from Video)."}), **_settings()}}

    def snap(self, pose, music, max_shift_beats, max_stretch):
        return (snap_poses_to_beats(pose, music.beat_times_s, max_shift_beats, max_stretch)[0],)
