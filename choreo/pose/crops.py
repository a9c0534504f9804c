"""Rotated square crops of an image, the way MediaPipe's landmark models are fed.

Each landmark model sees a square region of the picture, turned so that the body part
stands upright, resampled to the network's input size. ``Crop`` holds that region and
maps points both ways; parts of the square outside the picture are black.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Crop:
    """A square of ``side_px`` centred on ``centre_px``, turned by ``rotation_rad``, seen at ``size`` x ``size``.

    A crop point u maps to the image point c + (side / size) * R(rotation) @ (u - size / 2).
    """

    centre_px: tuple[float, float]
    side_px: float
    rotation_rad: float
    size: int

    @classmethod
    def upright(cls, start_px: np.ndarray, end_px: np.ndarray, side_px: float, size: int) -> "Crop":
        """Centred on ``start_px``, turned so that the vector start -> end points up in the crop."""
        dx, dy = (np.asarray(end_px, np.float64) - np.asarray(start_px, np.float64))
        return cls((float(start_px[0]), float(start_px[1])), float(side_px), float(np.arctan2(dy, dx) + np.pi / 2),
                   size)

    def _linear(self) -> np.ndarray:
        cos, sin = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        return (self.side_px / self.size) * np.array([[cos, -sin], [sin, cos]])

    def image_to_crop(self) -> np.ndarray:
        """(2, 3) affine matrix from image pixels to crop pixels."""
        inverse = np.linalg.inv(self._linear())
        offset = self.size / 2 - inverse @ np.asarray(self.centre_px)
        return np.hstack([inverse, offset[:, None]])

    def to_image(self, points_crop: np.ndarray) -> np.ndarray:
        """(N, 2) crop pixels -> (N, 2) image pixels."""
        points = np.asarray(points_crop, np.float64) - self.size / 2
        return (points @ self._linear().T + np.asarray(self.centre_px)).astype(np.float32)

    def cut(self, image_rgb: np.ndarray) -> np.ndarray:
        """(1, size, size, 3) float32 in [0, 1]: the network input."""
        patch = cv2.warpAffine(image_rgb, self.image_to_crop(), (self.size, self.size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        return (patch.astype(np.float32) / 255.0)[None]

    def paste(self, crop_map: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """A (size', size') map over the crop drawn back onto the (height, width) image; 0 outside the crop."""
        height, width = image_size
        scale = crop_map.shape[0] / self.size
        to_crop = self.image_to_crop() * np.array([[scale], [scale]])
        return cv2.warpAffine(crop_map.astype(np.float32), to_crop, (width, height),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0.0)
