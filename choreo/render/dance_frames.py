"""Frames of the finished dance, streamed: the one place that picks a renderer.

The CLI, the streaming ComfyUI node and the benchmarks all render through
``iter_dance_frames``, so a 10-minute video never sits in memory as one array.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator

import numpy as np

from ..errors import ImageInputError
from ..pose.sequence import PoseSequence2D
from .pose_video import PoseDrawStyle, iter_pose_frames
from .puppet import build_puppet, iter_puppet_frames

DRAW_STYLES = {"dwpose": PoseDrawStyle.dwpose, "openpose": PoseDrawStyle.openpose,
               "wan_animate": PoseDrawStyle.wan_animate}
RENDERERS = ("puppet", "skeleton_over_image", "skeleton_on_black")


def iter_dance_frames(pose: PoseSequence2D, renderer: str = "puppet", reference_image: np.ndarray | None = None,
                      draw_style: str = "dwpose", reference_pose: PoseSequence2D | None = None,
                      figure_mask: np.ndarray | None = None,
                      note: Callable[[str], None] = lambda sentence: None) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames of ``pose`` drawn by ``renderer`` on the pose's canvas.

    reference_image : (H, W, 3) uint8 at the pose's canvas size; needed by renderers that show it.
    reference_pose  : the one-frame pose of the person in ``reference_image`` (the puppet's rig).
    figure_mask     : optional (H, W) 0..1 mask of the person (1 = person) for the puppet's cut-out.
    note            : told each sentence on what the picture cannot show (the puppet's notes: legs out of
                      the picture, a profile's far arm), so the CLI and the nodes can pass them on.
    """
    if renderer not in RENDERERS:
        raise ImageInputError(f"renderer must be one of {', '.join(RENDERERS)}, got {renderer!r}.")
    if draw_style not in DRAW_STYLES:
        raise ImageInputError(f"draw_style must be one of {', '.join(DRAW_STYLES)}, got {draw_style!r}.")
    if renderer == "puppet":
        if reference_image is None or reference_pose is None:
            raise ImageInputError("the puppet renderer animates the reference picture: pass both the picture and "
                                  "its reference pose (the Reference Pose node gives both).")
        puppet = build_puppet(reference_image, reference_pose, mask=figure_mask)
        for sentence in puppet.notes:
            note(sentence)
        return iter_puppet_frames(puppet, pose)
    style = DRAW_STYLES[draw_style]()
    if renderer == "skeleton_on_black":
        return iter_pose_frames(pose, style)
    if reference_image is None:
        raise ImageInputError(f"renderer {renderer!r} draws over the reference image, but none was given. "
                              "Pass the picture or use 'skeleton_on_black'.")
    return iter_pose_frames(pose, replace(style, background="image"), background=reference_image)
