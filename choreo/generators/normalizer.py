"""Per-channel min-max normaliser to [-1, 1], EDGE's motion normalisation, stored as checkpoint tensors.

``normalized = clip(x * scale + min, -1, 1)`` and ``x = (normalized - min) / scale``, the
conventions (and attribute meanings) of scikit-learn's / EDGE's ``MinMaxScaler`` with
``feature_range=(-1, 1)``, ``clip=True``: ``scale = 2 / (data_max - data_min)`` and
``min = -1 - data_min * scale``; a constant channel gets range 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

EXTRA_MIN = "normalizer_min"
EXTRA_SCALE = "normalizer_scale"
FEATURE_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class MinMaxNormalizer:
    """scale, min : (C,) float32 tensors (MinMaxScaler's ``scale_`` and ``min_``)."""

    scale: torch.Tensor
    min: torch.Tensor

    @classmethod
    def fit(cls, data: torch.Tensor) -> "MinMaxNormalizer":
        """Fit on data (..., C) (e.g. (N, T, 151) motion windows); every leading axis is a sample.

        >>> MinMaxNormalizer.fit(torch.tensor([[0.0, 5.0], [2.0, 5.0]])).normalize(torch.tensor([[1.0, 5.0]]))
        tensor([[ 0., -1.]])
        """
        flat = torch.as_tensor(data, dtype=torch.float64).reshape(-1, data.shape[-1])
        data_min, data_max = flat.min(dim=0).values, flat.max(dim=0).values
        data_range = data_max - data_min
        data_range = torch.where(data_range < 10 * torch.finfo(torch.float64).eps, torch.ones_like(data_range),
                                 data_range)
        scale = (FEATURE_RANGE[1] - FEATURE_RANGE[0]) / data_range
        return cls(scale.float(), (FEATURE_RANGE[0] - data_min * scale).float())

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """x : (..., C) raw -> (..., C) in [-1, 1] (clipped, as EDGE)."""
        scaled = x * self.scale.to(x) + self.min.to(x)
        return scaled.clamp(*FEATURE_RANGE)

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """x : (..., C) normalised (clipped to [-1, 1] first, as EDGE) -> (..., C) raw."""
        return (x.clamp(*FEATURE_RANGE) - self.min.to(x)) / self.scale.to(x)

    def to_extra(self) -> dict[str, torch.Tensor]:
        """Tensors for ``choreo.checkpoints.save_checkpoint(extra=...)``."""
        return {EXTRA_MIN: self.min, EXTRA_SCALE: self.scale}

    @classmethod
    def from_extra(cls, extra: dict[str, torch.Tensor]) -> "MinMaxNormalizer":
        """From the extra tensors returned by ``choreo.checkpoints.load_model``."""
        from ..checkpoints import CheckpointError

        missing = [key for key in (EXTRA_MIN, EXTRA_SCALE) if key not in extra]
        if missing:
            raise CheckpointError(f"the checkpoint has no normaliser tensors {missing}; it was not saved by a Choreo "
                                  "motion trainer or the EDGE converter. Re-export it with its normaliser.")
        return cls(extra[EXTRA_SCALE].float(), extra[EXTRA_MIN].float())
