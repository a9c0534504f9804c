"""The beat grid the dance is laid on: the music's beats, extended to cover every frame.

Keyframes sit at fractional beat indices; mapping them through the real beat
times (not a fixed tempo) is what makes the dance follow tempo changes and rubato.
Fast music is danced on every beat up to ~187 BPM; beyond that, or above ~133 BPM in styles danced
on fewer hits (waltz), or above ~160 BPM in "mixed", the grid keeps only the beats the dancer hits
(``hit_beats_in_bar``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...music.analysis import MusicAnalysis

MIXED = "mixed"  # the style choice "one library style per section"
_EXTRA_BEATS = 8  # beats added past the end so the last move can finish off-screen
# Hits closer together than this blur into one another: the grid then keeps only some beats of each bar
# (half time in even meters, one hit per bar in 3/4, 3 + 2 in 5/4), which the dance steps on.
MIN_HIT_INTERVAL_S = 0.32  # full-tempo footwork up to ~187 BPM
# Styles a dancer takes in half time sooner (a waltz turns one step per bar when fast): above ~133 BPM.
HALF_TIME_INTERVAL_S = 0.45
HALF_TIME_STYLES = frozenset({"waltz"})
# "mixed", the default, steps every beat to ~160 BPM and halves above: on the dev songs at 170-190 BPM every
# beat scored below half time (bench/bench_choreography.py), as dancers take punk and drum & bass half time.
MIXED_MIN_HIT_INTERVAL_S = 0.375


def style_min_hit_interval_s(style: str) -> float:
    """Shortest hit-to-hit interval danced in ``style``.

    Waltz turns one step per bar above ~133 BPM; "mixed" steps every beat to ~160 BPM (leaving waltz out
    on beats faster than ~133, ``planner._pick_style``); every other style steps every beat to ~187 BPM.
    """
    if style in HALF_TIME_STYLES:
        return HALF_TIME_INTERVAL_S
    return MIXED_MIN_HIT_INTERVAL_S if style == MIXED else MIN_HIT_INTERVAL_S


@dataclass(frozen=True)
class BeatGrid:
    """times_s : (N,) float64 beat times, the music's then extrapolated; beat_in_bar : (N,) int64."""

    times_s: np.ndarray
    beat_in_bar: np.ndarray
    beats_per_bar: int

    def beat_to_time_s(self, beat_positions: np.ndarray) -> np.ndarray:
        """Fractional beat indices (any shape) to seconds, linear between beats."""
        index = np.arange(len(self.times_s), dtype=np.float64)
        period_end = self.times_s[-1] - self.times_s[-2]
        beats = np.asarray(beat_positions, dtype=np.float64)
        inside = np.interp(beats, index, self.times_s)
        return np.where(beats > index[-1], self.times_s[-1] + (beats - index[-1]) * period_end, inside)


def hit_beats_in_bar(beats_per_bar: int, stride: int) -> tuple[int, ...]:
    """Beats of a bar kept as hits when at most one hit per ``stride`` beats fits.

    The bar is cut into ``beats_per_bar // stride`` groups as even as possible, longer groups first:
    (4, 2) -> (0, 2); (3, 2) -> (0,); (5, 2) -> (0, 3); (6, 2) -> (0, 2, 4); (7, 2) -> (0, 3, 5).
    """
    groups = max(1, beats_per_bar // max(1, stride))
    return tuple(int(np.ceil(i * beats_per_bar / groups - 1e-9)) for i in range(groups))


def beat_grid(analysis: MusicAnalysis, style: str = MIXED, min_hit_interval_s: float | None = None) -> BeatGrid:
    """The beats the dancer hits, extended forward with the last period until past the last frame.

    Very fast music is danced with fewer hits than beats, as dancers do: when the median beat period is
    shorter than ``min_hit_interval_s`` (default ``style_min_hit_interval_s``: every beat up to
    ~187 BPM, "mixed" up to ~160, waltz up to ~133 BPM) only the beats of ``hit_beats_in_bar`` are kept (half
    time in 4/4, the downbeat in 3/4). With fewer than two beats the grid falls back to
    ``analysis.tempo_bpm`` from t = 0. Plan and dance must use the same ``style`` (``choreograph`` does).
    """
    beats_per_bar = max(1, int(analysis.beats_per_bar))
    if min_hit_interval_s is None:
        min_hit_interval_s = style_min_hit_interval_s(style)
    times = np.asarray(analysis.beat_times_s, dtype=np.float64)
    in_bar = np.asarray(analysis.beat_in_bar, dtype=np.int64) % beats_per_bar
    if len(times) < 2:
        period = 60.0 / max(float(analysis.tempo_bpm), 1.0)
        times = np.array([0.0, period])
        in_bar = np.array([0, 1 % beats_per_bar])
    stride = int(np.ceil(min_hit_interval_s / max(float(np.median(np.diff(times))), 1e-6) - 1e-9))
    if stride > 1 and beats_per_bar > 1:
        kept = hit_beats_in_bar(beats_per_bar, stride)
        keep = np.isin(in_bar, kept)
        if np.sum(keep) >= 2:
            position = {beat: index for index, beat in enumerate(kept)}
            times, in_bar, beats_per_bar = times[keep], np.array([position[b] for b in in_bar[keep]]), len(kept)
            in_bar = np.asarray(in_bar, dtype=np.int64)
    period = float(np.median(np.diff(times[-5:])))
    end_s = analysis.num_frames / analysis.fps
    extra = max(0, int(np.ceil((end_s - times[-1]) / period))) + _EXTRA_BEATS
    extra_times = times[-1] + period * np.arange(1, extra + 1)
    extra_in_bar = (in_bar[-1] + np.arange(1, extra + 1)) % beats_per_bar
    return BeatGrid(np.concatenate([times, extra_times]), np.concatenate([in_bar, extra_in_bar]), beats_per_bar)


def phrases(grid: BeatGrid) -> list[tuple[int, int]]:
    """(start beat, number of beats) of each phrase: an 8-count of whole bars.

    Two bars of 4/4 or 5/4 and four bars of 3/4 (or shorter meters) form a phrase;
    beats before the first downbeat make a pickup phrase of their own.
    """
    downbeats = np.flatnonzero(grid.beat_in_bar == 0)
    bars_per_phrase = 4 if grid.beats_per_bar <= 3 else 2
    starts = [0] if len(downbeats) == 0 or downbeats[0] > 0 else []
    starts += list(downbeats[::bars_per_phrase]) if len(downbeats) else []
    bounds = starts + [len(grid.times_s)]
    return [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
