"""2D whole-body pose sequences: keypoints in canvas pixels with confidences."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PoseInputError
from .layout import NUM_KEYPOINTS, PARTS

if TYPE_CHECKING:
    from .projection import ProjectionSettings


@dataclass(frozen=True)
class PoseSequence2D:
    """One dancer's 2D poses on one frame clock.

    keypoints_px  : (T, 136, 2) float32, x right and y down, pixels of the canvas.
    confidence    : (T, 136) float32 in [0, 1]; 0 marks a keypoint that is absent.
    canvas_width  : int, pixels.
    canvas_height : int, pixels.
    fps           : frames per second; frame t is at t / fps seconds.
    missing_parts : POSE_KEYPOINT part keys that were null in the source (so a
                    round trip writes null again rather than zeros).
    projection_settings : how the dance was seen when projected from 3D (camera,
                    retargeting), or None when it did not come from a projection. Carried
                    through ``replace`` (editor, smoothing), so Regenerate Around Edits
                    sees new frames from the same camera; POSE_KEYPOINT does not hold it.
    """

    keypoints_px: np.ndarray
    confidence: np.ndarray
    canvas_width: int
    canvas_height: int
    fps: float
    missing_parts: frozenset[str] = frozenset()
    projection_settings: ProjectionSettings | None = None

    def __post_init__(self) -> None:
        num_frames = len(self.keypoints_px)
        if self.keypoints_px.shape != (num_frames, NUM_KEYPOINTS, 2):
            raise PoseInputError(f"keypoints_px must be (T, {NUM_KEYPOINTS}, 2), got {self.keypoints_px.shape}.")
        if self.confidence.shape != (num_frames, NUM_KEYPOINTS):
            raise PoseInputError(f"confidence must be (T, {NUM_KEYPOINTS}), got {self.confidence.shape}.")
        if self.canvas_width < 1 or self.canvas_height < 1:
            raise PoseInputError(f"canvas must be at least 1x1 px, got {self.canvas_width}x{self.canvas_height}.")
        if not self.fps > 0:
            raise PoseInputError(f"fps must be positive, got {self.fps}.")
        unknown = self.missing_parts - {key for key, _, _ in PARTS}
        if unknown:
            raise PoseInputError(f"unknown POSE_KEYPOINT parts {sorted(unknown)}.")

    @property
    def num_frames(self) -> int:
        return len(self.keypoints_px)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def frame(self, index: int) -> "PoseSequence2D":
        """A one-frame sequence, e.g. to use a frame as a reference pose."""
        return self.slice_frames(index, index + 1)

    def slice_frames(self, start: int, stop: int) -> "PoseSequence2D":
        return replace(self, keypoints_px=self.keypoints_px[start:stop], confidence=self.confidence[start:stop])

    @classmethod
    def empty(cls, num_frames: int, canvas_width: int, canvas_height: int, fps: float) -> "PoseSequence2D":
        return cls(np.zeros((num_frames, NUM_KEYPOINTS, 2), np.float32), np.zeros((num_frames, NUM_KEYPOINTS), np.float32),
                   int(canvas_width), int(canvas_height), float(fps))
