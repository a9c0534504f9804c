"""A synthetic dance dataset from the beat choreographer (no downloads, any size, exact beats).

Like M2PEnc's synthetic pipeline, the music is synthesised with known structure and the dance
made by a rule-based generator: each song is a drum-machine loop (kick, snare, hi-hat and a bass
line) at a random tempo (``tempo_range_bpm``) and meter (3 or 4 beats per bar); it is analysed like
any song (``analyze_music``), danced by ``choreograph`` in a random style, and described by the
music features a learned model will see at inference (``extract_music_features``). A model
trained on it learns the choreographer's beat-timed style, nothing more: use AIST++ or FineDance
for real dances.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import MotionInputError
from ..motion.choreographer import STYLES, choreograph
from ..music.analyze import analyze_music
from ..music.audio import Audio
from ..music.features import extract_music_features
from .clips import DanceClip

SAMPLE_RATE = 22050
GENRES: tuple[str, ...] = STYLES  # genre id = choreographer style index


def drum_loop(tempo_bpm: float, beats_per_bar: int, duration_s: float, seed: int,
              sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) float32 drum-machine song: kick on the downbeat (and mid-bar in 4/4), snare on the
    other beats, hi-hat on eighths, a bass note per beat walking a random minor-pentatonic line."""
    rng = np.random.default_rng(seed)
    num_samples = int(duration_s * sample_rate)
    signal = np.zeros(num_samples)
    beat_s = 60.0 / tempo_bpm  # seconds per beat
    root_hz = rng.uniform(45.0, 70.0)
    scale = np.array([0, 3, 5, 7, 10])

    def add(start_s: float, sound: np.ndarray) -> None:
        start = int(start_s * sample_rate)
        stop = min(start + len(sound), num_samples)
        if start < num_samples:
            signal[start:stop] += sound[: stop - start]

    def tone(freq_hz: float, length_s: float, decay_s: float, sweep: float = 0.0) -> np.ndarray:
        t = np.arange(int(length_s * sample_rate)) / sample_rate
        phase = 2 * np.pi * freq_hz * (t + sweep * (np.exp(-t / 0.03) - 1) * 0.03)
        return np.sin(phase) * np.exp(-t / decay_s)

    kick = 0.9 * tone(55.0, 0.25, 0.08, sweep=-3.0)
    snare = 0.4 * rng.standard_normal(int(0.15 * sample_rate)) * np.exp(-np.arange(int(0.15 * sample_rate))
                                                                        / (0.04 * sample_rate))
    hat = 0.12 * rng.standard_normal(int(0.04 * sample_rate)) * np.exp(-np.arange(int(0.04 * sample_rate))
                                                                       / (0.008 * sample_rate))
    for index, start_s in enumerate(np.arange(0.0, duration_s, beat_s)):
        in_bar = index % beats_per_bar
        add(start_s, kick if in_bar == 0 or (beats_per_bar == 4 and in_bar == 2) else snare)
        add(start_s, hat)
        add(start_s + beat_s / 2, hat)
        note_hz = root_hz * 2 ** (scale[rng.integers(len(scale))] / 12)
        add(start_s, 0.25 * tone(note_hz, beat_s, beat_s / 2))
    return (signal / max(np.abs(signal).max(), 1e-9) * 0.8).astype(np.float32)


def synthetic_clip(seed: int, duration_s: float = 10.0, fps: float = 30.0,
                   tempo_range_bpm: tuple[float, float] = (80.0, 140.0), audio: Audio | None = None,
                   style: str | None = None, extractor: str = "edge_librosa") -> DanceClip:
    """One synthetic clip; ``audio`` replaces the drum loop when given (then ``duration_s`` is ignored)."""
    rng = np.random.default_rng(seed)
    if audio is None:
        tempo_bpm = rng.uniform(*tempo_range_bpm)
        beats_per_bar = int(rng.choice([3, 4], p=[0.2, 0.8]))
        audio = Audio.from_array(drum_loop(tempo_bpm, beats_per_bar, duration_s, seed), SAMPLE_RATE)
    style = style if style is not None else str(rng.choice(GENRES))
    if style not in GENRES:
        raise MotionInputError(f"style must be one of {GENRES}, got {style!r}.")
    analysis = analyze_music(audio, fps=fps)
    motion = choreograph(analysis, seed=seed, style=style)
    features = extract_music_features(audio, fps=fps, extractor=extractor, analysis=analysis)
    return DanceClip(f"synthetic_{seed:05d}_{style}", motion, features, GENRES.index(style))


def synthetic_dataset(num_clips: int, seed: int = 0, duration_s: float = 10.0, fps: float = 30.0,
                      progress: Callable[[float], None] | None = None,
                      extractor: str = "edge_librosa") -> list[DanceClip]:
    """``num_clips`` synthetic clips with seeds ``seed, seed + 1, ...``."""
    report = progress or (lambda fraction: None)
    clips = []
    for index in range(num_clips):
        clips.append(synthetic_clip(seed + index, duration_s, fps, extractor=extractor))
        report((index + 1) / num_clips)
    return clips
