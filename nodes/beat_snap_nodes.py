"""Snap to Beats nodes: retime any dance (3D or 2D) so that its hits land on the music's beats."""

from __future__ import annotations

from typing import Callable

from ..choreo.motion.beat_snap import snap_motion_to_beats, snap_poses_to_beats
from .socket_types import CATEGORY, MOTION, MUSIC, POSE


class _SnapToBeats:
    """One node per dance type (ComfyUI sockets are typed); the dance input is named by ``DANCE``."""

    DESCRIPTION = ("Retimes a dance so that its hits (the moments the body stops, as beat-alignment scores read them) "
                   "land on the music's beats: each beat takes the nearest hit and time is stretched smoothly in "
                   "between, never faster or slower than max_stretch. Same fps and frame count; the first and last "
                   "frames stay. Use it after a learned generator or Poses from Video, and before editing (keyframes "
                   "move with the time warp).")
    FUNCTION = "snap"
    DANCE: tuple[str, str, str]  # (input name, socket type, tooltip)
    retime: Callable  # the core function: (dance, beat_times_s, max_shift_beats, max_stretch) -> (dance, warp)

    @classmethod
    def INPUT_TYPES(cls):
        name, socket, tooltip = cls.DANCE
        return {"required": {
            name: (socket, {"tooltip": tooltip}),
            "music": (MUSIC, {"tooltip": "From Analyze Music: the beats to land on (seconds on the dance's clock)."}),
            "max_shift_beats": ("FLOAT", {"default": 0.5, "min": 0.05, "max": 1.0, "step": 0.05,
                                          "tooltip": "How far a hit may move onto a beat, in beat periods (0.5 = any "
                                                     "hit within half a beat)."}),
            "max_stretch": ("FLOAT", {"default": 1.6, "min": 1.05, "max": 3.0, "step": 0.05,
                                      "tooltip": "The most a passage may be sped up or slowed down (1.6 = between "
                                                 "0.63x and 1.6x its danced speed); a beat that would need more is "
                                                 "left as is."}),
        }}

    def snap(self, music, max_shift_beats, max_stretch, **dance):
        (sequence,) = dance.values()
        return (self.retime(sequence, music.beat_times_s, max_shift_beats, max_stretch)[0],)


class ChoreoSnapMotionToBeats(_SnapToBeats):
    CATEGORY = f"{CATEGORY}/motion"
    DANCE = ("motion", MOTION, "A 3D dance (Generate 3D Dance, Beat Choreographer, 3D In-paint).")
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("The 3D dance retimed onto the beats, same fps and frame count.",)
    retime = staticmethod(snap_motion_to_beats)


class ChoreoSnapPoseToBeats(_SnapToBeats):
    CATEGORY = f"{CATEGORY}/pose"
    DANCE = ("pose", POSE, "A 2D pose sequence (X-Dancer Generate, Pose DiT Generate, Poses from Video).")
    RETURN_TYPES = (POSE,)
    RETURN_NAMES = ("pose",)
    OUTPUT_TOOLTIPS = ("The 2D pose sequence retimed onto the beats (hits read from the 18 body keypoints), same fps "
                       "and frame count.",)
    retime = staticmethod(snap_poses_to_beats)
