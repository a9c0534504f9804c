"""A range of the dance's frames as one image batch, in bounded memory.

An IMAGE batch holds every frame at once as float32 (12 bytes a pixel), so a whole song at 1024 px does
not fit: these helpers pick a piece of the dance (start, count, stride), say up front what the batch
would weigh, and render only the frames picked. The streaming mp4 writer
(``iter_dance_frames`` + ``write_mp4``) remains the way to take a whole song at once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import ChoreoError
from ..pose.sequence import PoseSequence2D

FLOAT32_BYTES = 4
GIB = 1024 ** 3
DEFAULT_MAX_BATCH_GIB = 4.0


class BatchTooLargeError(ChoreoError):
    """The images asked for would not fit the memory limit."""


def select_frames(num_frames: int, start_frame: int, frame_count: int, stride: int) -> np.ndarray:
    """(N,) int64 indices start, start + stride, ... of a sequence of ``num_frames`` frames.

    frame_count : frames to take; 0 takes every stride-th frame to the end.
    """
    if num_frames < 1:
        raise ChoreoError("the dance has no frames; nothing to render.")
    if not 0 <= start_frame < num_frames:
        raise ChoreoError(f"start_frame {start_frame} is outside the dance, which has frames 0..{num_frames - 1}. "
                          "Choose a start inside it.")
    if stride < 1:
        raise ChoreoError(f"stride must be at least 1, got {stride}.")
    if frame_count < 0:
        raise ChoreoError(f"frame_count must be 0 (to the end) or more, got {frame_count}.")
    indices = np.arange(start_frame, num_frames, stride, dtype=np.int64)
    return indices[:frame_count] if frame_count > 0 else indices


def image_batch_bytes(num_images: int, width: int, height: int, channels: int = 3) -> int:
    """Bytes of a float32 batch of ``num_images`` images of width x height x channels."""
    return int(num_images) * int(height) * int(width) * int(channels) * FLOAT32_BYTES


def check_batch_bytes(size_bytes: int, max_gib: float, what: str, advice: str) -> None:
    """Refuse, naming the size and the way out, when ``size_bytes`` exceeds ``max_gib``."""
    if size_bytes > max_gib * GIB:
        raise BatchTooLargeError(f"{what} would take {size_bytes / GIB:.2f} GiB as float32, over the limit of "
                                 f"{max_gib:g} GiB. {advice}")


def pose_at_frames(pose: PoseSequence2D, indices: np.ndarray) -> PoseSequence2D:
    """The poses of the given frames, in that order, as a sequence (the renderers draw every frame of a
    sequence on its own, so a picked subset renders exactly as those frames of the whole dance do)."""
    indices = np.asarray(indices, dtype=np.int64)
    return replace(pose, keypoints_px=pose.keypoints_px[indices], confidence=pose.confidence[indices])
