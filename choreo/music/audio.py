"""Decoded audio as the core sees it, and the checks every analysis starts with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AudioInputError

MAX_DURATION_S = 30 * 60.0  # longer input is almost certainly a mistake (a whole album, a stuck recorder)
MIN_DURATION_S = 1.0
SILENCE_RMS = 1e-4  # about -80 dBFS


@dataclass(frozen=True)
class Audio:
    """samples : (channels, N) float32 in [-1, 1]; sample_rate : Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[-1] / self.sample_rate

    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int, name: str = "audio") -> "Audio":
        """Validate and normalise the layout: (N,) or (channels, N), any sample rate.

        A leading batch axis of size 1 (ComfyUI's AUDIO waveform) is dropped.
        """
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim == 3:
            if data.shape[0] != 1:
                raise AudioInputError(
                    f"{name} holds a batch of {data.shape[0]} clips; Choreo dances to one song at a time. "
                    "Split the batch or pick one clip first.")
            data = data[0]
        if data.ndim == 1:
            data = data[None]
        if data.ndim != 2 or data.shape[0] < 1:
            raise AudioInputError(f"{name} must be (channels, samples), got shape {np.shape(samples)}.")
        if data.shape[1] == 0:
            raise AudioInputError(f"{name} is empty (0 samples). Load a song file with sound in it.")
        if data.shape[0] > data.shape[1]:
            raise AudioInputError(
                f"{name} has more channels ({data.shape[0]}) than samples ({data.shape[1]}): "
                "the axes look swapped; pass (channels, samples).")
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1000:
            raise AudioInputError(f"{name} sample rate must be an integer of at least 1000 Hz, got {sample_rate!r}.")
        if not np.all(np.isfinite(data)):
            raise AudioInputError(f"{name} contains NaN or infinite samples; the file is probably corrupt. Re-export it.")
        return cls(data, int(sample_rate))

    def mono(self) -> np.ndarray:
        """(N,) float32 mean of the channels."""
        return self.samples.mean(axis=0)

    def check_analysable(self, name: str = "audio", max_duration_s: float = MAX_DURATION_S) -> None:
        """Raise a helpful AudioInputError for audio that cannot be danced to."""
        if self.duration_s < MIN_DURATION_S:
            raise AudioInputError(
                f"{name} is {self.duration_s:.2f} s long; at least {MIN_DURATION_S:.0f} s is needed to find a beat.")
        if self.duration_s > max_duration_s:
            raise AudioInputError(
                f"{name} is {self.duration_s / 60:.1f} min long, over the {max_duration_s / 60:.0f} min limit. "
                "Trim it first (e.g. ComfyUI's TrimAudioDuration node).")
        rms = float(np.sqrt(np.mean(np.square(self.mono(), dtype=np.float64))))
        if rms < SILENCE_RMS:
            raise AudioInputError(
                f"{name} is silent (RMS {rms:.1e}); there is no beat to dance to. Check the file or its volume.")
