"""The one frame clock: conversions between frames, seconds and beats.

Frame ``t`` of any sequence sits at ``t / fps`` seconds from the start of the
music. A sequence made for audio of ``duration_s`` seconds has
``num_frames_for(duration_s, fps)`` frames, so video and audio end together
(the exporter trims the audio to ``num_frames / fps``).
"""

from __future__ import annotations

import math

import numpy as np


def num_frames_for(duration_s: float, fps: float) -> int:
    """Whole frames that fit in ``duration_s`` (a frame needs audio under all of it)."""
    # seconds x frames/second = frames; the epsilon absorbs float error at exact multiples
    return int(math.floor(duration_s * fps + 1e-6))


def frame_times_s(num_frames: int, fps: float) -> np.ndarray:
    """(T,) float64 time of every frame, seconds."""
    return np.arange(num_frames, dtype=np.float64) / fps


def times_to_frames(times_s: np.ndarray, fps: float) -> np.ndarray:
    """Nearest frame index of each time; int64 array of the same shape."""
    return np.rint(np.asarray(times_s, dtype=np.float64) * fps).astype(np.int64)
