"""The tempo octave a dancer counts, and the user's half / double / hint override.

A tracker can lock onto any level of the metrical grid: the 8th-note hi-hats of a
104 BPM song repeat as steadily as its kick and snare, so 208 BPM looks as good as
104 to an autocorrelation. Dancers count the pulse the drums' body carries, in a
range of roughly 70-150 BPM. Changing octave here never re-tracks: halving keeps
every other tracked beat and doubling inserts the midpoints, so the beats stay on
the grid the tracker found and only the counting changes.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ChoreoError

TEMPO_CHOICES = ("auto", "half", "double")
DANCER_MAX_BPM = 150.0  # above this a dancer counts half time when the bass says the pulse is a subdivision
HALF_TIME_BASS_RATIO = 2.0  # a beat pair is "bass on one beat only" when one beat's bass onset is this much stronger
HALF_TIME_MIN_FRACTION = 0.75  # share of beat pairs that must show it, on one phase, to count half time
HINT_RANGE_BPM = (30.0, 300.0)
MAX_HINT_OCTAVES = 2  # a hint moves the tempo by at most x4 or /4


def check_tempo_choice(tempo: str, tempo_hint_bpm: float) -> None:
    """Refuse an unknown ``tempo`` choice or a hint outside HINT_RANGE_BPM (0 = no hint)."""
    if tempo not in TEMPO_CHOICES:
        raise ChoreoError(f"tempo {tempo!r} is not one of {', '.join(TEMPO_CHOICES)}; choose auto to keep the "
                          "detected tempo, half or double to count it at half or twice the speed.")
    low, high = HINT_RANGE_BPM
    if not (math.isfinite(tempo_hint_bpm) and (tempo_hint_bpm == 0 or low <= tempo_hint_bpm <= high)):
        raise ChoreoError(f"tempo_hint_bpm {tempo_hint_bpm} is out of range; give the tempo you count in BPM "
                          f"({low:g} to {high:g}), or 0 for no hint.")


def beats_tempo_bpm(beat_times_s: np.ndarray) -> float:
    """Tempo of a beat list, BPM, from the median inter-beat interval (0 with fewer than two beats)."""
    return float(60.0 / np.median(np.diff(beat_times_s))) if len(beat_times_s) > 1 else 0.0


def every_other_beat(beat_times_s: np.ndarray, phase: int) -> np.ndarray:
    """(ceil((N - phase) / 2),) beats ``phase``, ``phase + 2``, ...: the same grid at half the tempo."""
    return np.asarray(beat_times_s)[phase % 2::2]


def beats_with_midpoints(beat_times_s: np.ndarray) -> np.ndarray:
    """(2N - 1,) the beats and the midpoint between each pair: the same grid at twice the tempo."""
    beats = np.asarray(beat_times_s, dtype=np.float64)
    doubled = np.empty(max(2 * len(beats) - 1, 0))
    doubled[0::2] = beats
    doubled[1::2] = 0.5 * (beats[1:] + beats[:-1])
    return doubled


def half_time_phase(beat_times_s: np.ndarray, low_onset: np.ndarray, frame_rate_hz: float) -> int | None:
    """Phase (0 or 1) of the beats that carry the bass when the other beats are a subdivision, else None.

    beat_times_s : (N,) tracked beats, seconds. low_onset : (T,) bass-band onset strength on a clock of
    ``frame_rate_hz``. Only beats faster than DANCER_MAX_BPM are judged. When in at least
    HALF_TIME_MIN_FRACTION of the beat pairs on one phase the first beat's bass onset is
    HALF_TIME_BASS_RATIO times the second's, the second beats are cymbal-only 8th notes (kick and snare
    on one beat, hi-hat between): the dance beat is every other beat. A kick-snare or bass line on every
    beat keeps the fast tempo (a 190 BPM metal beat is danced at 190).
    """
    if beats_tempo_bpm(beat_times_s) <= DANCER_MAX_BPM or len(beat_times_s) < 8:
        return None
    frames = np.rint(np.asarray(beat_times_s) * frame_rate_hz).astype(np.int64)
    window = np.clip(frames[:, None] + np.arange(-2, 3)[None, :], 0, len(low_onset) - 1)
    bass = np.asarray(low_onset, dtype=np.float64)[window].max(axis=1)
    for phase in (0, 1):
        pairs = bass[phase:phase + (len(bass) - phase) // 2 * 2].reshape(-1, 2)
        if np.mean(pairs[:, 0] > HALF_TIME_BASS_RATIO * pairs[:, 1]) >= HALF_TIME_MIN_FRACTION:
            return phase
    return None


def octave_steps(tempo_bpm: float, tempo: str, tempo_hint_bpm: float) -> int:
    """Doublings (negative: halvings) to apply to beats at ``tempo_bpm``.

    The hint picks the octave of ``tempo_bpm`` nearest to it in log tempo (at most MAX_HINT_OCTAVES
    away); ``tempo`` half or double then moves one octave from there.

    >>> octave_steps(208.0, "auto", 100.0), octave_steps(104.0, "double", 0.0)
    (-1, 1)
    """
    steps = 0
    if tempo_hint_bpm > 0 and tempo_bpm > 0:
        steps = int(np.clip(round(math.log2(tempo_hint_bpm / tempo_bpm)), -MAX_HINT_OCTAVES, MAX_HINT_OCTAVES))
    return steps + {"auto": 0, "half": -1, "double": 1}[tempo]
