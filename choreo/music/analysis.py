"""What Choreo knows about a song: beats, bars, tempo, energy and sections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Section:
    """A span of the song. Sections with the same ``label`` are repeats (A, B, A, ...)."""

    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class MusicAnalysis:
    """Beat-level and frame-level description of one song on the frame clock.

    duration_s        : length of the audio, seconds.
    fps               : frame rate of the per-frame curves (the motion frame rate).
    tempo_bpm         : global tempo, beats per minute.
    tempo_curve_bpm   : (T,) float32 local tempo at each frame.
    beat_times_s      : (N,) float64 beat times, seconds, increasing.
    downbeat_times_s  : (M,) float64 first beats of bars, a subset of beat_times_s.
    beats_per_bar     : meter numerator (3 for 3/4, 4 for 4/4, 5 for 5/4, ...).
    beat_in_bar       : (N,) int64 position of each beat in its bar, 0 on downbeats.
    onset_strength    : (T,) float32 onset envelope, scaled to [0, 1].
    rms_energy        : (T,) float32 loudness, scaled to [0, 1].
    sections          : song form, contiguous, covering [0, duration_s).
    beat_clarity      : how far the onset envelope's repetition at the beat period stands above
                        chance, in standard deviations of a beat-free envelope; below
                        ``analyze.CLEAR_BEAT_MIN_CLARITY`` the beats are a guess. None when not measured.
    notes             : warnings for the user (e.g. no clear beat), shown by the nodes and the CLI.
    """

    duration_s: float
    fps: float
    tempo_bpm: float
    tempo_curve_bpm: np.ndarray
    beat_times_s: np.ndarray
    downbeat_times_s: np.ndarray
    beats_per_bar: int
    beat_in_bar: np.ndarray
    onset_strength: np.ndarray
    rms_energy: np.ndarray
    sections: tuple[Section, ...]
    beat_clarity: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def num_frames(self) -> int:
        return len(self.onset_strength)

    def beat_frames(self) -> np.ndarray:
        """(N,) int64 nearest frame of each beat."""
        return np.rint(self.beat_times_s * self.fps).astype(np.int64)

    def section_at(self, time_s: float) -> Section:
        for section in self.sections:
            if section.start_s <= time_s < section.end_s:
                return section
        return self.sections[-1]
