"""Beat tracking that survives odd meters, slow and fast songs and tempo ramps.

librosa's default tracker assumes one global tempo, chosen with a prior that pulls
towards 120 BPM, so it halves 180-190 BPM songs, doubles 64 BPM grooves and loses
the beat on a ramp. Here the tempo octave is chosen from the evidence (how strongly
the onset envelope repeats at each metrical level) and the tracker is a dynamic
programme over (beat frame, inter-beat interval) that lets the interval drift
smoothly from beat to beat. ``analyze.counted_beats`` then settles the octave a
dancer counts on the tracked grid (``tempo_octave``).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

MIN_TEMPO_BPM = 40.0
MAX_TEMPO_BPM = 240.0
FASTEST_TACTUS_BPM = 205.0  # a faster periodicity is a subdivision, not a beat to dance to
FASTER_LEVEL_RATIO = 0.55  # a faster level wins when it repeats at least this much as strongly as the best one
PRIOR_CENTRE_BPM = 120.0
PRIOR_WIDTH_OCTAVES = 1.2  # broad: the prior only breaks ties, the evidence decides the octave
TEMPO_DRIFT_RANGE = 1.4  # the tracked interval may wander to x1.4 / x1.4 of the global period
INTERVAL_CHANGE_WEIGHT = 400.0  # cost of (log interval change)^2 between consecutive beats
LOCAL_TEMPO_WEIGHT = 30.0  # cost of (log distance from the local period)^2 per beat
LOCAL_WINDOW_S = 6.0  # window of the local tempo estimate: a few bars
LOCAL_HOP_S = 0.5
ONSET_LAG_S = -0.010  # measured: flux of a centred 2048-sample STFT peaks ~10 ms before the labelled beats
SWING_LEAD_RATIO = 0.5  # an event 1/3 beat after ours this strong (vs our beats) means we sit on the swung off-beat
OFFBEAT_BASS_RATIO = 1.5  # bass onsets this much stronger half a beat later mean we sit on the off-beat


def onset_envelope(log_mel: np.ndarray) -> np.ndarray:
    """Spectral flux of a log-mel spectrogram: how much louder each frame got.

    log_mel : (bands, T) float, dB. Returns (T,) float32, frame t compares frames t and t-1.
    """
    flux = np.maximum(np.diff(log_mel, axis=1), 0.0).mean(axis=0)
    return np.concatenate([[0.0], flux]).astype(np.float32)


def _autocorrelation(onset: np.ndarray, max_lag: int) -> np.ndarray:
    """(max_lag + 1,) normalised autocorrelation of the mean-removed envelope (via FFT: long songs stay fast)."""
    centred = onset - onset.mean()
    size = 1 << int(np.ceil(np.log2(2 * len(centred))))
    spectrum = np.fft.rfft(centred, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return acf / max(acf[0], 1e-12)


def _strength_at(acf: np.ndarray, lag: float) -> float:
    """Peak autocorrelation within one frame of a fractional lag."""
    centre = int(round(lag))
    if centre + 1 >= len(acf) or centre < 1:
        return -1.0
    return float(acf[centre - 1: centre + 2].max())


def estimate_tempo(onset: np.ndarray, frame_rate_hz: float) -> float:
    """Global tempo, BPM, with the metrical level (octave) chosen by evidence.

    First the strongest periodicity under a broad prior; then, among the levels
    related to it by 3/2, 2, 3 and 4, the fastest one up to FASTEST_TACTUS_BPM that still repeats
    nearly as strongly, because dancers follow the fastest steady pulse that every
    beat supports (a 190 BPM metal song is danced at 190, a 64 BPM groove at 64).
    """
    max_lag = int(np.ceil(frame_rate_hz * 60.0 / MIN_TEMPO_BPM * 2))
    acf = _autocorrelation(onset, min(max_lag, len(onset) - 1))
    lags = np.arange(1, len(acf))
    bpm = 60.0 * frame_rate_hz / lags
    usable = (bpm >= MIN_TEMPO_BPM) & (bpm <= MAX_TEMPO_BPM)
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_CENTRE_BPM) / PRIOR_WIDTH_OCTAVES) ** 2)
    weighted = np.where(usable, np.maximum(acf[1:], 0.0) * prior, -np.inf)
    best_lag = float(lags[int(np.argmax(weighted))])
    best_lag = _refine_lag(acf, best_lag)
    best_strength = _strength_at(acf, best_lag)
    chosen_lag = best_lag
    for factor in (2 / 3, 1 / 2, 1 / 3, 1 / 4):
        lag = best_lag * factor
        level_bpm = 60.0 * frame_rate_hz / lag
        if level_bpm <= FASTEST_TACTUS_BPM and _strength_at(acf, lag) >= FASTER_LEVEL_RATIO * best_strength:
            chosen_lag = lag
    return 60.0 * frame_rate_hz / _refine_lag(acf, chosen_lag)


def _refine_lag(acf: np.ndarray, lag: float) -> float:
    """Sub-frame peak position near ``lag`` by a parabola through the local maximum."""
    centre = int(round(lag))
    low, high = max(centre - 2, 1), min(centre + 3, len(acf) - 1)
    peak = low + int(np.argmax(acf[low:high]))
    if 1 <= peak < len(acf) - 1:
        left, mid, right = acf[peak - 1], acf[peak], acf[peak + 1]
        denom = left - 2 * mid + right
        # Only a true local maximum has its vertex within half a frame; at the search window's edge the
        # curve may still be rising, where a near-zero curvature would throw the vertex anywhere.
        if denom < 0 and mid >= max(left, right):
            return peak + 0.5 * (left - right) / denom
    return float(peak)


def local_period(onset: np.ndarray, frame_rate_hz: float, period: float) -> np.ndarray:
    """(T,) float local beat period, frames, near ``period``: follows ramps and rubato.

    The autocorrelation of each LOCAL_WINDOW_S window, searched within the drift
    range of the global period, median-smoothed over neighbouring windows.
    """
    window = int(LOCAL_WINDOW_S * frame_rate_hz)
    hop = max(1, int(LOCAL_HOP_S * frame_rate_hz))
    if len(onset) <= window:
        return np.full(len(onset), period)
    centres = np.arange(window // 2, len(onset) - window // 2, hop)
    frames = np.stack([onset[c - window // 2: c - window // 2 + window] for c in centres])
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, 2 * window, axis=1)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), 2 * window, axis=1)
    low, high = int(np.floor(period / TEMPO_DRIFT_RANGE)), int(np.ceil(period * TEMPO_DRIFT_RANGE))
    lags = np.arange(max(low, 1), min(high, window - 1) + 1)
    closeness = np.exp(-0.5 * (np.log(lags / period) / 0.15) ** 2)
    best = lags[np.argmax(acf[:, lags] * closeness[None, :], axis=1)].astype(np.float64)
    smoothed = median_filter(best, size=5, mode="nearest")
    return np.interp(np.arange(len(onset)), centres, smoothed)


def track_beats(onset: np.ndarray, frame_rate_hz: float, tempo_bpm: float | None = None,
                low_onset: np.ndarray | None = None) -> np.ndarray:
    """Beat times, seconds, from an onset envelope.

    onset         : (T,) float onset strength on a frame clock of ``frame_rate_hz``.
    tempo_bpm     : global tempo to centre the search on; estimated when None.
    low_onset     : (T,) optional bass-band onset strength, used to tell beats from off-beats.
    Returns (N,) float64 increasing beat times, seconds.

    The dynamic programme scores a beat sequence by the onset strength under its
    beats minus the squared log change of consecutive inter-beat intervals (smooth
    drift is cheap, jumps are not) and a pull to the local period of the music.
    """
    onset = np.asarray(onset, dtype=np.float64)
    if tempo_bpm is None:
        tempo_bpm = estimate_tempo(onset, frame_rate_hz)
    period = 60.0 * frame_rate_hz / tempo_bpm
    intervals = np.arange(max(2, int(np.floor(period / TEMPO_DRIFT_RANGE))),
                          int(np.ceil(period * TEMPO_DRIFT_RANGE)) + 1)
    strength = onset / max(float(onset.std()), 1e-12)
    log_intervals = np.log(intervals)
    change_cost = INTERVAL_CHANGE_WEIGHT * (log_intervals[:, None] - log_intervals[None, :]) ** 2
    log_local = np.log(local_period(onset, frame_rate_hz, period))
    num_frames, num_states = len(strength), len(intervals)
    score = np.full((num_frames, num_states), -np.inf)
    back = np.full((num_frames, num_states), -1, dtype=np.int32)
    rows = np.arange(num_states)
    for frame in range(num_frames):
        previous = frame - intervals
        valid = previous >= 0
        gain = strength[frame] - LOCAL_TEMPO_WEIGHT * (log_intervals - log_local[frame]) ** 2
        if not valid.any():
            score[frame] = gain
            continue
        candidates = score[np.maximum(previous, 0)] - change_cost
        best_state = np.argmax(candidates, axis=1)
        best = candidates[rows, best_state]
        extend = valid & (best > 0)
        score[frame] = gain + np.where(extend, best, 0.0)
        back[frame] = np.where(extend, best_state, -1)
    tail = num_frames - int(round(period))
    frame, state = np.unravel_index(int(np.argmax(score[max(tail, 0):])), score[max(tail, 0):].shape)
    frame += max(tail, 0)
    beats = []
    while state >= 0 and frame >= 0:
        beats.append(frame)
        state, frame = back[frame, state], frame - intervals[state]
    return corrected_phase(np.array(beats[::-1], dtype=np.float64), onset, low_onset) / frame_rate_hz - ONSET_LAG_S


def corrected_phase(beat_frames: np.ndarray, onset: np.ndarray, low_onset: np.ndarray | None = None) -> np.ndarray:
    """Beats moved off a swung or straight off-beat onto the beat, by the onset profile between them.

    beat_frames : (N,) float beat positions on the onset clock (frames).
    onset       : (T,) full-band onset strength; low_onset : (T,) bass-band onset strength, or None.
    Returns (N',) float frames (a beat pushed past the end is dropped). Any beat grid can be checked
    this way, the learned tracker's included: a loud off-beat fools a network as it fools a flux peak.
    """
    onset = np.asarray(onset, dtype=np.float64)
    beat_frames = _correct_swing_phase(onset / max(float(onset.std()), 1e-12), beat_frames)
    if low_onset is not None:
        low = np.asarray(low_onset, dtype=np.float64)
        beat_frames = _correct_offbeat_phase(low / max(float(low.std()), 1e-12), beat_frames)
    return beat_frames


def _phase_profile(strength: np.ndarray, beat_frames: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """(len(fractions),) mean onset strength at each fraction of the way from one beat to the next."""
    starts, ends = beat_frames[:-1], beat_frames[1:]
    positions = starts[:, None] + (ends - starts)[:, None] * fractions[None, :]
    index = np.clip(np.rint(positions).astype(np.int64), 1, len(strength) - 2)
    local_max = np.maximum(np.maximum(strength[index - 1], strength[index]), strength[index + 1])
    return local_max.mean(axis=0)


def _correct_swing_phase(strength: np.ndarray, beat_frames: np.ndarray) -> np.ndarray:
    """Move beats locked to a swung off-beat back onto the beat.

    In swing and shuffle the off-beat falls 2/3 of the way through the beat and is
    often the loudest event (boogie, blues), so a tracker can lock onto it. From
    there the real beat sits 1/3 of a beat later, with nothing at 1/2 or 2/3 in
    between; on the true beat the pattern is the reverse. When the profile shows a
    strong lone event at 1/3, each beat moves 1/3 of its interval later.
    beat_frames : (N,) float frames. Returns (N,) float frames.
    """
    if len(beat_frames) < 4:
        return beat_frames
    on_beat, third, half, two_thirds = _phase_profile(
        strength, beat_frames, np.array([0.0, 1 / 3, 1 / 2, 2 / 3]))
    if third < SWING_LEAD_RATIO * on_beat or third < 2.0 * max(half, two_thirds):
        return beat_frames
    intervals = np.diff(beat_frames)
    shifted = beat_frames + np.append(intervals, intervals[-1]) / 3.0
    return shifted[shifted < len(strength)]


def _correct_offbeat_phase(low_strength: np.ndarray, beat_frames: np.ndarray) -> np.ndarray:
    """Move beats locked to the off-beat half a beat later, onto the kick and bass.

    Hi-hats, stabs and skanks often make the off-beat the loudest event in the full
    band, so the tracker can sit exactly between the beats. Kick drum and bass
    notes land on the beat in nearly every dance style; when the bass band is much
    stronger half a beat after our beats than on them, the beats shift there.
    low_strength : (T,) bass-band onset strength. beat_frames : (N,) float frames.
    """
    if len(beat_frames) < 4:
        return beat_frames
    on_beat, half = _phase_profile(low_strength, beat_frames, np.array([0.0, 0.5]))
    if half < OFFBEAT_BASS_RATIO * on_beat:
        return beat_frames
    intervals = np.diff(beat_frames)
    shifted = beat_frames + np.append(intervals, intervals[-1]) / 2.0
    return shifted[shifted < len(low_strength)]
