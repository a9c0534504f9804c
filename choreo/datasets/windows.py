"""EDGE's training slices: 5 s windows at 0.5 s stride, motion in the 151-d layout beside its music.

With ``window_frames = 150`` and ``stride_frames = 15`` at 30 fps this is EDGE's slicing
(models.md 1.3). Windows are taken from the start of each clip; a clip shorter than one window
gives none. The normaliser statistics (per-channel min and max over every window frame) are fitted
here, on exactly the frames the model trains on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MotionInputError
from .clips import DanceClip, check_clip


@dataclass(frozen=True)
class WindowSet:
    """motion : (N, W, 151) float32 unnormalised EDGE frames; music : (N, W, C) float32;
    genre : (N,) int64; fps : frame rate; names : (N,) source clip of each window."""

    motion: np.ndarray
    music: np.ndarray
    genre: np.ndarray
    fps: float
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.motion)

    def motion_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(151,) per-channel minimum and maximum over all windows, for the min-max normaliser."""
        flat = self.motion.reshape(-1, self.motion.shape[-1])
        return flat.min(axis=0), flat.max(axis=0)


def make_windows(clips: list[DanceClip], window_frames: int = 150, stride_frames: int = 15) -> WindowSet:
    """Cut every clip into windows of ``window_frames`` at ``stride_frames``; see the module docstring.

    >>> # 10 s clip at 30 fps -> (300 - 150) // 15 + 1 = 11 windows
    """
    if window_frames < 2 or stride_frames < 1:
        raise MotionInputError(f"window_frames must be >= 2 and stride_frames >= 1, got {window_frames}, "
                               f"{stride_frames}.")
    if not clips:
        raise MotionInputError("no clips to cut into windows; load a dataset first.")
    fps = clips[0].motion.fps
    motion, music, genre, names = [], [], [], []
    for clip in map(check_clip, clips):
        if abs(clip.motion.fps - fps) > 1e-6:
            raise MotionInputError(f"clip {clip.name} is at {clip.motion.fps:g} fps, the others at {fps:g}.")
        frames = clip.motion.to_edge()
        values = clip.features.values.astype(np.float32)
        for start in range(0, clip.motion.num_frames - window_frames + 1, stride_frames):
            motion.append(frames[start:start + window_frames])
            music.append(values[start:start + window_frames])
            genre.append(clip.genre)
            names.append(clip.name)
    if not motion:
        raise MotionInputError(f"every clip is shorter than one window of {window_frames} frames "
                               f"({window_frames / fps:g} s); use longer clips or a shorter window.")
    return WindowSet(np.stack(motion), np.stack(music), np.asarray(genre, np.int64), float(fps), tuple(names))
