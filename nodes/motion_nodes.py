"""Nodes that make 3D dance motion."""

from __future__ import annotations

from ..choreo.motion.choreographer import STYLES, choreograph
from . import comfy_bridge
from .socket_types import CATEGORY, MOTION, MUSIC


class ChoreoBeatChoreographer:
    DESCRIPTION = ("The embedded dance generator (no weights, CPU): assembles authored dance moves per 8-count "
                   "phrase, lands poses on the real beats, follows the music's energy and repeats choreography "
                   "when the song repeats a section. Same seed, same dance.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "choreograph"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("3D dance on the SMPL-24 skeleton, one frame per music frame.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "music": (MUSIC, {"tooltip": "From Analyze Music."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True,
                             "tooltip": "Picks among the moves that fit; the same seed gives the same dance."}),
            "style": (list(STYLES), {"default": STYLES[0],
                      "tooltip": "Dance style of the move library to draw from; 'mixed' uses all of them."}),
            "energy_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05,
                             "tooltip": "Multiplies how big the moves are (1 = follow the music's loudness as is)."}),
        }}

    def choreograph(self, music, seed, style, energy_scale):
        motion = choreograph(music, seed=seed, style=style, energy_scale=energy_scale,
                             progress=comfy_bridge.progress_reporter())
        return (motion,)
