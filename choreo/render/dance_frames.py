"""Frames of the finished dance, streamed: the one place that picks a renderer.

The CLI, the streaming ComfyUI node and the benchmarks all render through
``iter_dance_frames``, so a 10-minute video never sits in memory as one array.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import numpy as np

from ..errors import ImageInputError
from ..pose.sequence import PoseSequence2D
from .pose_video import PoseDrawStyle, iter_pose_frames

DRAW_STYLES = {"dwpose": PoseDrawStyle.dwpose, "openpose": PoseDrawStyle.openpose,
               "wan_animate": PoseDrawStyle.wan_animate}
RENDERERS = ("skeleton_over_image", "skeleton_on_black")


def iter_dance_frames(pose: PoseSequence2D, renderer: str = "skeleton_over_image",
                      reference_image: np.ndarray | None = None, draw_style: str = "dwpose") -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames of ``pose`` drawn by ``renderer`` on the pose's canvas.

    reference_image : (H, W, 3) uint8 at the pose's canvas size; needed by renderers that show it.
    """
    if renderer not in RENDERERS:
        raise ImageInputError(f"renderer must be one of {', '.join(RENDERERS)}, got {renderer!r}.")
    if draw_style not in DRAW_STYLES:
        raise ImageInputError(f"draw_style must be one of {', '.join(DRAW_STYLES)}, got {draw_style!r}.")
    style = DRAW_STYLES[draw_style]()
    if renderer == "skeleton_on_black":
        return iter_pose_frames(pose, style)
    if reference_image is None:
        raise ImageInputError(f"renderer {renderer!r} draws over the reference image, but none was given. "
                              "Pass the picture or use 'skeleton_on_black'.")
    return iter_pose_frames(pose, replace(style, background="image"), background=reference_image)
