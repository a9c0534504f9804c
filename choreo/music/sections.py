"""Song form: section boundaries on bar lines and letters that mark repeats.

Bars are the unit (a dancer changes figures on phrase boundaries), described by
their mean chroma and timbre (MFCC). librosa's constrained agglomerative
clustering splits the bar sequence into contiguous sections, about one per
8 bars; sections whose mean features are close get the same letter.
"""

from __future__ import annotations

import string

import librosa
import numpy as np

from .analysis import Section

BARS_PER_SECTION = 8
MAX_SECTIONS = 12
REPEAT_DISTANCE = 0.35  # cosine distance under which two sections count as the same part


def _bar_features(bar_frames: np.ndarray, chroma: np.ndarray, mfcc: np.ndarray) -> np.ndarray:
    """(F, B) float per-bar mean of z-scored chroma and MFCC (coefficient 0, loudness, left out)."""
    stacked = np.vstack([chroma, mfcc[1:]])
    stacked = (stacked - stacked.mean(axis=1, keepdims=True)) / (stacked.std(axis=1, keepdims=True) + 1e-9)
    edges = np.concatenate([bar_frames, [stacked.shape[1]]])
    return np.stack([stacked[:, a:max(b, a + 1)].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def segment_sections(downbeat_times_s: np.ndarray, duration_s: float, chroma: np.ndarray, mfcc: np.ndarray,
                     frame_rate_hz: float) -> tuple[Section, ...]:
    """Contiguous sections covering [0, duration_s), boundaries on downbeats, repeats share a label.

    downbeat_times_s : (M,) bar starts, seconds. chroma : (12, T), mfcc : (20, T) on the analysis clock.
    """
    bar_starts_s = np.asarray(downbeat_times_s, dtype=np.float64)
    if len(bar_starts_s) == 0 or bar_starts_s[0] > 0.0:
        bar_starts_s = np.concatenate([[0.0], bar_starts_s])
    num_bars = len(bar_starts_s)
    num_sections = int(np.clip(round(num_bars / BARS_PER_SECTION), 1, MAX_SECTIONS))
    if num_sections < 2:
        return (Section(0.0, float(duration_s), "A"),)
    bar_frames = np.clip(np.rint(bar_starts_s * frame_rate_hz).astype(np.int64), 0, chroma.shape[1] - 1)
    features = _bar_features(bar_frames, chroma, mfcc)
    first_bars = librosa.segment.agglomerative(features, num_sections)
    starts_s = [0.0] + [float(bar_starts_s[b]) for b in first_bars[1:]]
    ends_s = starts_s[1:] + [float(duration_s)]
    bounds = list(first_bars) + [num_bars]
    means = [features[:, a:b].mean(axis=1) for a, b in zip(bounds[:-1], bounds[1:])]
    labels: list[str] = []
    prototypes: list[np.ndarray] = []
    for mean in means:
        distances = [_cosine_distance(mean, p) for p in prototypes]
        if distances and min(distances) < REPEAT_DISTANCE:
            labels.append(string.ascii_uppercase[int(np.argmin(distances)) % 26])
        else:
            labels.append(string.ascii_uppercase[len(prototypes) % 26])
            prototypes.append(mean)
    return tuple(Section(s, e, label) for s, e, label in zip(starts_s, ends_s, labels))
