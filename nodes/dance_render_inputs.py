"""The inputs that say how a finished dance is drawn, shared by every node that renders one.

Render Dance to Video File, Render Dance Frames and Wan-Dancer Keyframes take the same picture, renderer
choice and puppet rig; the nodes that render into IMAGE batches (Render Dance Frames, Render Body Passes) take
the same frame range and memory limit. Declaring them once keeps their names, tooltips and widget order the same.
"""

from __future__ import annotations

from ..choreo.render.dance_frames import DRAW_STYLES, RENDERERS
from ..choreo.render.frame_range import DEFAULT_MAX_BATCH_GIB
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


def max_batch_widget(tooltip: str) -> tuple:
    """``max_batch_gib``: the memory an IMAGE-batch node may fill before it refuses (``check_batch_bytes``)."""
    return ("FLOAT", {"default": DEFAULT_MAX_BATCH_GIB, "min": 0.1, "max": 1024.0, "step": 0.5, "tooltip": tooltip})


def frame_range_widgets(max_batch_tooltip: str) -> dict:
    """``start_frame``, ``frame_count``, ``stride`` (``frame_range.select_frames``) and ``max_batch_gib``, in that
    order (required inputs): which frames of the dance to render, a piece of a long song at a time."""
    return {
        "start_frame": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                        "tooltip": "First frame of the dance to render (frame t is at t / fps seconds)."}),
        "frame_count": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                        "tooltip": "Frames to render; 0 = every stride-th frame to the end of the dance."}),
        "stride": ("INT", {"default": 1, "min": 1, "max": 10_000,
                   "tooltip": "Take every stride-th frame (2 halves the frame rate)."}),
        "max_batch_gib": max_batch_widget(max_batch_tooltip),
    }
