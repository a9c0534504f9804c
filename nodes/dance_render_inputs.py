"""The inputs that say how a finished dance is drawn, shared by every node that renders one.

Render Dance to Video File, Render Dance Frames and Wan-Dancer Keyframes take the same picture, renderer
choice and puppet rig; declaring them once keeps their names, tooltips and widget order the same.
"""

from __future__ import annotations

from ..choreo.render.dance_frames import DRAW_STYLES, RENDERERS
from .socket_types import POSE


REFERENCE_IMAGE = ("IMAGE", {"tooltip": "The dancer's picture; resized to the pose canvas if needed."})


def renderer_widgets() -> dict:
    """``renderer`` and ``draw_style``, in that order (required inputs)."""
    return {
        "renderer": (list(RENDERERS), {"default": RENDERERS[0],
                     "tooltip": "puppet: the picture itself dances (cut out and deformed, CPU, no weights); "
                                "skeleton_over_image: skeleton over the dimmed picture; "
                                "skeleton_on_black: pose video on black."}),
        "draw_style": (list(DRAW_STYLES), {"default": "dwpose",
                       "tooltip": "Skeleton drawing convention for the skeleton renderers (dwpose draws face dots, "
                                  "wan_animate does not)."}),
    }


def puppet_rig_inputs() -> dict:
    """``reference_pose`` and ``figure_mask`` (optional inputs): what the puppet renderer rigs the picture with."""
    return {
        "reference_pose": (POSE, {"tooltip": "The picture's pose from Reference Pose: the puppet's rig "
                                             "(needed by the puppet renderer)."}),
        "figure_mask": ("MASK", {"tooltip": "The person's silhouette (Reference Pose's person_mask) for the puppet's "
                                            "cut-out; without it the puppet cuts the figure out itself."}),
    }
