"""Remove frame-to-frame jitter from 2D pose sequences without smearing the dancer's hits.

Token-by-token generation (X-Dancer) and per-frame detection (rtmlib) both shake: each frame is
right on its own but neighbours disagree by a few pixels. A fixed low-pass would calm that and
also round off every sharp stop on a beat. The One Euro filter (Casiez, Roussel and Vogel, CHI
2012) adapts instead: its cut-off rises with the point's speed, so still points are smoothed hard
and fast moves pass almost untouched. It is causal and so lags; offline we run it forwards and
backwards and average the two passes, which cancels the lag to first order and keeps hits on
their frames.

Speeds are measured in canvas heights per second, so one setting suits any resolution. A point
with confidence 0 is absent: it is skipped, and when it comes back its filter restarts from the
new position instead of sliding in from where the point was last seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import PoseInputError
from .sequence import PoseSequence2D


@dataclass(frozen=True)
class OneEuroSettings:
    """min_cutoff_hz : cut-off for a still point; lower = calmer, more lag before the backward pass.
    speed_coefficient : how fast the cut-off rises with speed, Hz per (canvas height per second);
                        higher = quick moves keep more of their sharpness.
    derivative_cutoff_hz : cut-off of the speed estimate itself (1 Hz as in the paper)."""

    min_cutoff_hz: float = 1.5
    speed_coefficient: float = 8.0
    derivative_cutoff_hz: float = 1.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff_hz", "derivative_cutoff_hz"):
            if not getattr(self, name) > 0:
                raise PoseInputError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.speed_coefficient < 0:
            raise PoseInputError(f"speed_coefficient must be 0 or more, got {self.speed_coefficient}.")


def _smoothing_factor(cutoff_hz: np.ndarray | float, fps: float) -> np.ndarray | float:
    """Exponential smoothing weight of a first-order low-pass at ``cutoff_hz`` sampled at ``fps``."""
    time_constant = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + time_constant * fps)


def one_euro_pass(points: np.ndarray, present: np.ndarray, fps: float, scale: float,
                  settings: OneEuroSettings) -> np.ndarray:
    """One causal pass over time. points (T, K, 2); present (T, K) bool; scale = pixels per unit of speed."""
    smoothed = points.astype(np.float64, copy=True)
    previous = np.zeros(points.shape[1:], np.float64)
    speed = np.zeros(points.shape[1], np.float64)
    started = np.zeros(points.shape[1], bool)
    derivative_alpha = _smoothing_factor(settings.derivative_cutoff_hz, fps)
    for t in range(len(points)):
        here = present[t]
        fresh = here & ~started
        previous[fresh] = points[t, fresh]
        speed[fresh] = 0.0
        update = here & started
        raw_speed = np.linalg.norm(points[t, update] - previous[update], axis=-1) * fps / scale
        speed[update] += derivative_alpha * (raw_speed - speed[update])
        alpha = _smoothing_factor(settings.min_cutoff_hz + settings.speed_coefficient * speed[update], fps)
        previous[update] += alpha[:, None] * (points[t, update] - previous[update])
        smoothed[t, here] = previous[here]
        started = here
    return smoothed


def smooth_pose_sequence(pose: PoseSequence2D, settings: OneEuroSettings = OneEuroSettings(),
                         keep_frames: np.ndarray | None = None) -> PoseSequence2D:
    """The sequence with jitter removed by a zero-lag (forward-backward) One Euro filter.

    keep_frames : optional (T,) bool; frames marked True come back exactly as they were (e.g. the
                  keyframes an artist placed), their neighbours still smoothed.
    """
    if pose.num_frames < 3:
        return pose
    present = pose.confidence > 0
    scale = float(pose.canvas_height)
    forward = one_euro_pass(pose.keypoints_px, present, pose.fps, scale, settings)
    backward = one_euro_pass(pose.keypoints_px[::-1], present[::-1], pose.fps, scale, settings)[::-1]
    smoothed = np.where(present[..., None], 0.5 * (forward + backward), pose.keypoints_px).astype(np.float32)
    if keep_frames is not None:
        keep = np.asarray(keep_frames, bool)
        if keep.shape != (pose.num_frames,):
            raise PoseInputError(f"keep_frames must have one entry per frame ({pose.num_frames}), got {keep.shape}.")
        smoothed[keep] = pose.keypoints_px[keep]
    return replace(pose, keypoints_px=smoothed)
