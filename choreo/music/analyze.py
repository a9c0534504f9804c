"""One pass from decoded audio to a MusicAnalysis on the motion frame clock.

The audio is mixed to mono and resampled once; a single STFT, computed in blocks
so a 10-minute song stays in bounded memory, feeds every descriptor (onset
envelopes, loudness, chroma, MFCC). Beats, meter and sections are then found on
these shared arrays.
"""

from __future__ import annotations

from typing import Callable

import librosa
import numpy as np

from ..checkpoints import WEIGHTS_FILE
from ..errors import ChoreoError
from ..timeline import frame_times_s, num_frames_for
from .analysis import MusicAnalysis
from .audio import Audio
from .beat_tracking import (ONSET_LAG_S, _autocorrelation, _strength_at, corrected_phase, estimate_tempo,
                            onset_envelope, track_beats)
from .learned_beats import DEFAULT_CHECKPOINT_DIR, activation_at_beats, beats_from_activation, load_beat_tracker
from .meter import DOWNBEAT_SHARE, beat_novelty, beat_positions, decode_bars, detect_meter, with_accents
from .sections import segment_sections
from .tempo_octave import (beats_tempo_bpm, beats_with_midpoints, check_tempo_choice, every_other_beat,
                           half_time_phase, octave_steps)

SAMPLE_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 256  # 11.6 ms analysis frames: fine enough for a +-70 ms beat window
N_MELS = 128
BASS_MAX_HZ = 200.0
BLOCK_FRAMES = 4096  # STFT frames per block (~48 s): bounds memory on long songs
# Measured on 2-30 s of white and brown noise: at most 3.8; 3-5 s excerpts of real songs: 4.1-30,
# whole songs 20-76, click tracks 8-44. Below this the beats are a guess and the user is told.
CLEAR_BEAT_MIN_CLARITY = 5.0
CLARITY_MULTIPLES = 4  # beat periods whose repetition is averaged: a steady beat repeats at all of them


def spectral_descriptors(mono: np.ndarray) -> dict[str, np.ndarray]:
    """Log-mel (dB), chroma, RMS of the mono signal at SAMPLE_RATE, all (.., T) on the HOP_LENGTH clock."""
    mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    chroma_basis = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT)
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    padded = np.pad(mono, N_FFT // 2)
    num_frames = 1 + len(mono) // HOP_LENGTH
    mel = np.empty((N_MELS, num_frames), dtype=np.float32)
    chroma = np.empty((12, num_frames), dtype=np.float32)
    rms = np.empty(num_frames, dtype=np.float32)
    for start in range(0, num_frames, BLOCK_FRAMES):
        stop = min(start + BLOCK_FRAMES, num_frames)
        needed = (stop - 1) * HOP_LENGTH + N_FFT
        block = padded[start * HOP_LENGTH: needed]
        block = np.pad(block, (0, needed - start * HOP_LENGTH - len(block)))
        frames = np.lib.stride_tricks.sliding_window_view(block, N_FFT)[::HOP_LENGTH]
        power = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32).T ** 2
        mel[:, start:stop] = mel_basis @ power
        chroma[:, start:stop] = chroma_basis @ power
        rms[start:stop] = np.sqrt(power.sum(axis=0) * 2.0 / (N_FFT * float(np.sum(window ** 2))))
    chroma /= chroma.max(axis=0, keepdims=True) + 1e-9
    return {"log_mel": librosa.power_to_db(mel, top_db=80.0), "chroma": chroma, "rms": rms}


def _to_unit(curve: np.ndarray) -> np.ndarray:
    """Scale a non-negative curve to [0, 1] by its 99.5th percentile (one click does not flatten the rest)."""
    scale = float(np.percentile(curve, 99.5)) if len(curve) else 0.0
    return np.clip(curve / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(curve)


def _tempo_curve_bpm(beat_times_s: np.ndarray, times_s: np.ndarray, fallback_bpm: float) -> np.ndarray:
    """(T,) local tempo from the inter-beat intervals, held constant outside the beats."""
    if len(beat_times_s) < 2:
        return np.full(len(times_s), fallback_bpm, dtype=np.float32)
    midpoints_s = 0.5 * (beat_times_s[1:] + beat_times_s[:-1])
    return np.interp(times_s, midpoints_s, 60.0 / np.diff(beat_times_s)).astype(np.float32)


def beat_clarity(onset: np.ndarray, frame_rate_hz: float, tempo_bpm: float) -> float:
    """How clearly the onset envelope repeats at the beat period, in standard deviations of chance.

    onset         : (T,) onset envelope on a clock of ``frame_rate_hz``.
    tempo_bpm     : the beat tempo found.
    returns       : the mean normalised autocorrelation at 1..``CLARITY_MULTIPLES`` beat periods (those
                    within half the envelope) times sqrt(T x multiples): for an envelope with no beat
                    each autocorrelation value has a standard deviation near 1 / sqrt(T), so the result
                    reads like a z-score. Noise stays below 4, music with a beat scores 5 to 80.
    """
    period_frames = 60.0 * frame_rate_hz / tempo_bpm  # frames/s x s/min / (beats/min) = frames per beat
    multiples = [k for k in range(1, CLARITY_MULTIPLES + 1) if k * period_frames < len(onset) / 2] or [1]
    acf = _autocorrelation(np.asarray(onset, np.float64), len(onset) - 1)
    strength = [max(_strength_at(acf, k * period_frames), 0.0) for k in multiples]
    return float(np.mean(strength) * np.sqrt(len(onset) * len(multiples)))


def _notes(clarity: float, tempo_bpm: float) -> tuple[str, ...]:
    if clarity >= CLEAR_BEAT_MIN_CLARITY:
        return ()
    return (f"No clear beat found (beat clarity {clarity:.1f}; music with a steady beat scores above "
            f"{CLEAR_BEAT_MIN_CLARITY:g}). The dance follows a guessed {tempo_bpm:.0f} BPM pulse that may not "
            "match what you hear: use music with an audible beat, or edit the dance by hand.",)


BEAT_TRACKERS = ("dsp", "learned", "network")
NETWORK_TRACKERS = ("learned", "network")  # the ones that run the beat network ("network": alone, no DSP checks)
# What Analyze Music, the CLI and the pipeline run unless told otherwise: the learned tracker, with the DSP
# tracker's phase checks on its beats and the DSP tracker itself where the network is unsure (``network_beats``).
# It beats the DSP tracker on the beats and bars of every corpus test split and on the dev clips' bars; on the
# dev clips' beats it loses one song's tempo octave (numbers in assets/checkpoints/beat_tracker/README.md).
DEFAULT_BEAT_TRACKER = "learned"
BarsOf = Callable[[np.ndarray], tuple[int, np.ndarray]]  # beat times (N,) s -> (beats_per_bar, beat_in_bar (N,))
AccentsOf = Callable[[np.ndarray], np.ndarray]  # beat times (N,) s -> (N,) bar accent of each beat
# Mean beat activation under the network's own beats below which the learned tracker hands the song to the DSP
# tracker. Chosen on the MIDI corpus's validation split: the one clip there below 0.35 (0.31) is also the one
# where the network's beats are worse than DSP's (beat F 0.42 vs 0.64); every other clip scores 0.45 or more.
LEARNED_MIN_CONFIDENCE = 0.35


def beat_accents(frame_rate_hz: float, low_onset: np.ndarray, chroma: np.ndarray) -> AccentsOf:
    """Per-beat bar accents of any beat list: bass onsets and chord changes (``meter.beat_novelty``)."""
    def accents(beat_times_s: np.ndarray) -> np.ndarray:
        return beat_novelty(np.rint(beat_times_s * frame_rate_hz).astype(np.int64), low_onset, chroma)
    return accents


def dsp_bars(accents: AccentsOf) -> BarsOf:
    """Bars of any beat list from its accents alone (``meter.detect_meter``)."""
    def bars(beat_times_s: np.ndarray) -> tuple[int, np.ndarray]:
        beats_per_bar, first_downbeat = detect_meter(accents(beat_times_s))
        return beats_per_bar, beat_positions(len(beat_times_s), beats_per_bar, first_downbeat)
    return bars


def network_bars(downbeat_activation: np.ndarray, frame_rate_hz: float) -> BarsOf:
    """Bars of any beat list from the network's downbeat activation alone (``meter.decode_bars``)."""
    def bars(beat_times_s: np.ndarray) -> tuple[int, np.ndarray]:
        return decode_bars(activation_at_beats(downbeat_activation, beat_times_s, frame_rate_hz))
    return bars


def learned_bars(downbeat_activation: np.ndarray, frame_rate_hz: float, accents: AccentsOf) -> BarsOf:
    """Bars of any beat list from the network's downbeat activation and the beats' accents (``meter.decode_bars``).

    The accents nudge the network's evidence (``meter.with_accents``). Where no beat's downbeat activation
    reaches the share of downbeats among beats (DOWNBEAT_SHARE, the decoder's prior), the network heard no
    bar line at all (a bare click track) and the accents alone decide (``dsp_bars``).
    """
    accent_bars = dsp_bars(accents)

    def bars(beat_times_s: np.ndarray) -> tuple[int, np.ndarray]:
        evidence = activation_at_beats(downbeat_activation, beat_times_s, frame_rate_hz)
        if len(evidence) == 0 or evidence.max() < DOWNBEAT_SHARE:
            return accent_bars(beat_times_s)
        return decode_bars(with_accents(evidence, accents(beat_times_s)))
    return bars


def network_beats(activations: np.ndarray, frame_rate_hz: float, onset: np.ndarray, low_onset: np.ndarray,
                  accents: AccentsOf) -> tuple[np.ndarray, BarsOf] | None:
    """Beats and bars from the network's (2, T) activations, or None where the network is unsure.

    The network's beats get the DSP tracker's phase checks (``beat_tracking.corrected_phase``): a
    kick under louder off-beat hats or a loud swung off-beat fools it as it fools spectral flux.
    Unsure means its beat activation under its own beats averages below LEARNED_MIN_CONFIDENCE.
    """
    beat_times_s = beats_from_activation(activations[0], frame_rate_hz)
    if len(beat_times_s) < 2 or \
            activation_at_beats(activations[0], beat_times_s, frame_rate_hz).mean() < LEARNED_MIN_CONFIDENCE:
        return None
    onset_frames = (beat_times_s + ONSET_LAG_S) * frame_rate_hz  # spectral flux peaks ONSET_LAG_S early
    beat_times_s = corrected_phase(onset_frames, onset, low_onset) / frame_rate_hz - ONSET_LAG_S
    return beat_times_s, learned_bars(activations[1], frame_rate_hz, accents)


def _first_downbeat(beat_in_bar: np.ndarray) -> int:
    downbeats = np.flatnonzero(beat_in_bar == 0)
    return int(downbeats[0]) if len(downbeats) else 0


def counted_beats(beat_times_s: np.ndarray, frame_rate_hz: float, low_onset: np.ndarray, bars: BarsOf,
                  tempo: str = "auto", tempo_hint_bpm: float = 0.0) -> tuple[np.ndarray, int, np.ndarray]:
    """The tracked beats moved to the octave a dancer counts: (beat_times_s, beats_per_bar, beat_in_bar).

    Fast beats whose every other beat has no bass become half time (``tempo_octave.half_time_phase``);
    then the hint and the half / double choice move whole octaves (``tempo_octave.octave_steps``).
    Halving keeps the beats on the downbeat's phase and ``bars`` finds the meter again; doubling keeps
    the bar lines: every downbeat stays one, counted in bars of the same number of (now faster) beats.
    """
    phase = half_time_phase(beat_times_s, low_onset, frame_rate_hz)
    if phase is not None:
        beat_times_s = every_other_beat(beat_times_s, phase)
    beats_per_bar, beat_in_bar = bars(beat_times_s)
    steps = octave_steps(beats_tempo_bpm(beat_times_s), tempo, tempo_hint_bpm)
    for _ in range(abs(steps)):
        if steps > 0:
            first_downbeat = 2 * _first_downbeat(beat_in_bar)
            beat_times_s = beats_with_midpoints(beat_times_s)
            beat_in_bar = beat_positions(len(beat_times_s), beats_per_bar, first_downbeat)
        else:
            beat_times_s = every_other_beat(beat_times_s, _first_downbeat(beat_in_bar))
            beats_per_bar, beat_in_bar = bars(beat_times_s)
    return beat_times_s, beats_per_bar, beat_in_bar


def _check_beat_tracker(beat_tracker: str) -> None:
    if beat_tracker not in BEAT_TRACKERS:
        raise ChoreoError(f"beat_tracker {beat_tracker!r} is not one of {', '.join(BEAT_TRACKERS)}; choose learned "
                          "(the beat / downbeat network with the DSP checks), dsp (spectral flux and accent rules) "
                          "or network (the network alone).")
    if beat_tracker in NETWORK_TRACKERS and not (DEFAULT_CHECKPOINT_DIR / WEIGHTS_FILE).is_file():
        raise ChoreoError(f"beat_tracker {beat_tracker!r} needs {DEFAULT_CHECKPOINT_DIR / WEIGHTS_FILE}, which is "
                          "missing; restore assets/checkpoints/beat_tracker from the repository or choose dsp.")


def analyze_music(audio: Audio, fps: float = 30.0, progress: Callable[[float], None] | None = None,
                  tempo: str = "auto", tempo_hint_bpm: float = 0.0,
                  beat_tracker: str = DEFAULT_BEAT_TRACKER) -> MusicAnalysis:
    """Beats, meter, downbeats, tempo, loudness and sections of a song, on the frame clock of ``fps``.

    audio          : the song (any channels, any sample rate).
    fps            : frame rate of the per-frame curves; they have num_frames_for(duration_s, fps) frames.
    progress       : called with fractions 0..1; exceptions it raises (an interrupt) propagate.
    tempo          : "auto" (the octave a dancer counts), "half" or "double" of it; see ``counted_beats``.
    tempo_hint_bpm : the tempo the user counts, BPM; the beats move to the octave nearest it. 0 = no hint.
    beat_tracker   : "learned" (the default: the TCN of ``learned_beats``, beats, downbeats and meter from one
                     network's activations, phase-checked, the DSP tracker where the network is unsure, bar
                     accents), "dsp" (spectral-flux Viterbi and accent rules alone) or "network" (the TCN
                     alone: what the agreed-beats corpus compares with the DSP tracker).

    >>> analysis = analyze_music(Audio.from_array(click_track, 44100), fps=30)  # doctest: +SKIP
    """
    report = progress or (lambda fraction: None)
    check_tempo_choice(tempo, tempo_hint_bpm)
    _check_beat_tracker(beat_tracker)
    audio.check_analysable()
    report(0.0)
    mono = librosa.resample(audio.mono(), orig_sr=audio.sample_rate, target_sr=SAMPLE_RATE) \
        if audio.sample_rate != SAMPLE_RATE else audio.mono()
    report(0.15)
    spectral = spectral_descriptors(mono.astype(np.float32))
    frame_rate_hz = SAMPLE_RATE / HOP_LENGTH
    onset = onset_envelope(spectral["log_mel"])
    bass_bands = librosa.mel_frequencies(N_MELS + 2, fmax=SAMPLE_RATE / 2)[1:-1] < BASS_MAX_HZ
    low_onset = onset_envelope(spectral["log_mel"][bass_bands])
    report(0.4)
    global_bpm = estimate_tempo(onset, frame_rate_hz)
    learned, accents = None, beat_accents(frame_rate_hz, low_onset, spectral["chroma"])
    if beat_tracker in NETWORK_TRACKERS:
        activations = load_beat_tracker(DEFAULT_CHECKPOINT_DIR).activations(spectral["log_mel"])
        learned = network_beats(activations, frame_rate_hz, onset, low_onset, accents) if beat_tracker == "learned" \
            else (beats_from_activation(activations[0], frame_rate_hz), network_bars(activations[1], frame_rate_hz))
    if learned is not None:
        beat_times_s, bars = learned
    else:
        beat_times_s = track_beats(onset, frame_rate_hz, global_bpm, low_onset=low_onset)
        bars = dsp_bars(accents)
    beat_times_s = beat_times_s[(beat_times_s >= 0.0) & (beat_times_s < audio.duration_s)]
    report(0.7)
    beat_times_s, beats_per_bar, beat_in_bar = counted_beats(beat_times_s, frame_rate_hz, low_onset, bars,
                                                             tempo, tempo_hint_bpm)
    downbeat_times_s = beat_times_s[beat_in_bar == 0]
    mfcc = librosa.feature.mfcc(S=spectral["log_mel"], n_mfcc=20)
    sections = segment_sections(downbeat_times_s, audio.duration_s, spectral["chroma"], mfcc, frame_rate_hz)
    report(0.9)
    times_s = frame_times_s(num_frames_for(audio.duration_s, fps), fps)
    analysis_times_s = np.arange(len(onset)) / frame_rate_hz
    tempo_bpm = float(60.0 / np.median(np.diff(beat_times_s))) if len(beat_times_s) > 2 else global_bpm
    clarity = beat_clarity(onset, frame_rate_hz, global_bpm)
    result = MusicAnalysis(
        duration_s=float(audio.duration_s),
        fps=float(fps),
        tempo_bpm=tempo_bpm,
        tempo_curve_bpm=_tempo_curve_bpm(beat_times_s, times_s, tempo_bpm),
        beat_times_s=beat_times_s.astype(np.float64),
        downbeat_times_s=downbeat_times_s.astype(np.float64),
        beats_per_bar=int(beats_per_bar),
        beat_in_bar=beat_in_bar,
        onset_strength=_to_unit(np.interp(times_s, analysis_times_s, onset)).astype(np.float32),
        rms_energy=_to_unit(np.interp(times_s, analysis_times_s, spectral["rms"])).astype(np.float32),
        sections=sections,
        beat_clarity=clarity,
        notes=_notes(clarity, tempo_bpm),
    )
    report(1.0)
    return result
