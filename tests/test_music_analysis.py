"""Beats, meter, downbeats and frame curves on synthesized drum patterns with known beat times."""

import numpy as np
import pytest

from choreo.errors import AudioInputError
from choreo.music.analyze import analyze_music
from choreo.music.audio import Audio
from choreo.music.beat_tracking import track_beats
from choreo.music.preview import draw_analysis_preview
from choreo.timeline import num_frames_for

TOLERANCE_S = 0.07
CHORD_ROOTS_HZ = (220.0, 174.6, 261.6, 196.0)


def drum_pattern(beat_times_s, beats_per_bar, duration_s, sample_rate=22050):
    """(N,) float32: kick + chord on each downbeat, hi-hat on every beat; a new chord every bar."""
    signal = np.zeros(int(duration_s * sample_rate), dtype=np.float64)
    rng = np.random.default_rng(0)
    decay_t = np.arange(int(0.15 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * 60 * decay_t) * np.exp(-decay_t * 30)
    hat = rng.standard_normal(len(decay_t)) * np.exp(-decay_t * 80) * 0.3
    for index, time_s in enumerate(beat_times_s):
        start = int(time_s * sample_rate)
        hit = kick + hat if index % beats_per_bar == 0 else hat
        stop = min(start + len(hit), len(signal))
        signal[start:stop] += hit[: stop - start]
        if index % beats_per_bar == 0:
            bar_end = beat_times_s[index + beats_per_bar] if index + beats_per_bar < len(beat_times_s) else duration_s
            root = CHORD_ROOTS_HZ[(index // beats_per_bar) % len(CHORD_ROOTS_HZ)]
            span = np.arange(start, min(int(bar_end * sample_rate), len(signal)))
            t = (span - start) / sample_rate
            chord = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1.0, 1.26, 1.5))
            signal[span] += 0.08 * chord * np.exp(-t * 1.5)
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


def steady_beats(bpm, duration_s, offset_s=0.25):
    return np.arange(offset_s, duration_s - 0.1, 60.0 / bpm)


def beat_hit_rate(estimated_s, truth_s):
    """Fraction of true beats with an estimate within TOLERANCE_S, and of estimates with a true beat."""
    recall = np.mean([np.min(np.abs(estimated_s - t)) < TOLERANCE_S for t in truth_s])
    precision = np.mean([np.min(np.abs(truth_s - e)) < TOLERANCE_S for e in estimated_s])
    return min(recall, precision)


@pytest.mark.parametrize("bpm", [70.0, 120.0, 190.0])
def test_steady_4_4_beats_tempo_and_downbeats(bpm):
    duration_s = 20.0
    truth = steady_beats(bpm, duration_s)
    analysis = analyze_music(Audio.from_array(drum_pattern(truth, 4, duration_s), 22050))
    assert beat_hit_rate(analysis.beat_times_s, truth) > 0.95
    assert analysis.tempo_bpm == pytest.approx(bpm, rel=0.03)
    assert analysis.beats_per_bar == 4
    assert beat_hit_rate(analysis.downbeat_times_s, truth[::4]) > 0.9


def test_three_four_with_accented_downbeats_is_found_as_three():
    duration_s = 20.0
    truth = steady_beats(150.0, duration_s)
    analysis = analyze_music(Audio.from_array(drum_pattern(truth, 3, duration_s), 22050))
    assert beat_hit_rate(analysis.beat_times_s, truth) > 0.95
    assert analysis.beats_per_bar == 3
    assert beat_hit_rate(analysis.downbeat_times_s, truth[::3]) > 0.9
    assert set(analysis.beat_in_bar.tolist()) == {0, 1, 2}


def test_tempo_ramp_is_followed():
    duration_s = 24.0
    times, time_s = [], 0.25
    while time_s < duration_s - 0.1:
        times.append(time_s)
        time_s += 60.0 / (120.0 + 30.0 * time_s / duration_s)
    truth = np.array(times)
    onset_rate_hz = 100.0
    envelope = np.zeros(int(duration_s * onset_rate_hz))
    envelope[np.rint(truth * onset_rate_hz).astype(int)] = 1.0
    beats = track_beats(envelope, onset_rate_hz) + 0.010  # undo the STFT-lag compensation: this is an ideal envelope
    assert beat_hit_rate(beats, truth) > 0.95


def test_stereo_44k_and_8k_inputs_give_the_same_beats_and_frame_counts():
    duration_s = 12.3
    truth = steady_beats(100.0, duration_s)
    base = drum_pattern(truth, 4, duration_s, sample_rate=44100)
    stereo = Audio.from_array(np.stack([base, 0.5 * base]), 44100)
    low_rate = Audio.from_array(drum_pattern(truth, 4, duration_s, sample_rate=8000), 8000)
    for audio, fps in ((stereo, 30.0), (low_rate, 24.0)):
        analysis = analyze_music(audio, fps=fps)
        expected = num_frames_for(audio.duration_s, fps)
        assert analysis.num_frames == expected
        assert analysis.rms_energy.shape == analysis.tempo_curve_bpm.shape == (expected,)
        assert 0.0 <= analysis.onset_strength.min() and analysis.onset_strength.max() <= 1.0
        assert analysis.rms_energy.max() == pytest.approx(1.0)
        assert beat_hit_rate(analysis.beat_times_s, truth) > 0.9
        assert analysis.sections[0].start_s == 0.0 and analysis.sections[-1].end_s == pytest.approx(audio.duration_s)


def test_progress_is_reported_and_an_interrupt_propagates():
    audio = Audio.from_array(drum_pattern(steady_beats(120.0, 6.0), 4, 6.0), 22050)
    fractions = []
    analyze_music(audio, progress=fractions.append)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)

    def interrupt(fraction):
        if fraction > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze_music(audio, progress=interrupt)


def test_preview_image_shape_and_content():
    audio = Audio.from_array(drum_pattern(steady_beats(120.0, 8.0), 4, 8.0), 22050)
    image = draw_analysis_preview(audio, analyze_music(audio), width=320, height=120)
    assert image.shape == (120, 320, 3) and image.dtype == np.uint8
    assert image.std() > 10


@pytest.mark.parametrize("samples, sample_rate, message", [
    (np.zeros(22050 * 3, dtype=np.float32), 22050, "silent"),
    (np.zeros(0, dtype=np.float32), 22050, "empty|0.00 s long"),
    (np.full(2205, 0.1, dtype=np.float32), 22050, "at least"),
])
def test_unanalysable_audio_is_rejected(samples, sample_rate, message):
    with pytest.raises(AudioInputError, match=message):
        analyze_music(Audio(samples[None], sample_rate))


def test_nan_and_batched_audio_are_rejected():
    with pytest.raises(AudioInputError, match="NaN"):
        Audio.from_array(np.full(22050, np.nan, dtype=np.float32), 22050)
    with pytest.raises(AudioInputError, match="batch of 2"):
        Audio.from_array(np.zeros((2, 1, 22050), dtype=np.float32), 22050)


def test_sections_find_a_returning_part_even_when_its_bars_differ():
    """Bars 0-3 play four different chords, 4-6 three others, 7-10 the first four again: A B A."""
    from choreo.music.sections import segment_sections

    frame_rate_hz, frames_per_bar = 10.0, 20
    chords = [0, 5, 7, 3] + [2, 9, 11] + [0, 5, 7, 3]
    rng = np.random.default_rng(0)
    chroma = np.zeros((12, len(chords) * frames_per_bar))
    for bar, root in enumerate(chords):
        chroma[[root, (root + 4) % 12, (root + 7) % 12], bar * frames_per_bar:(bar + 1) * frames_per_bar] = 1.0
    chroma += 0.05 * rng.random(chroma.shape)
    mfcc = 0.01 * rng.normal(size=(20, chroma.shape[1]))
    downbeats_s = np.arange(len(chords)) * frames_per_bar / frame_rate_hz
    sections = segment_sections(downbeats_s, chroma.shape[1] / frame_rate_hz, chroma, mfcc, frame_rate_hz)
    assert [s.label for s in sections] == ["A", "B", "A"]
    assert [s.start_s for s in sections] == [0.0, 8.0, 14.0]


def test_beats_sit_on_the_kick_when_off_beat_hats_are_louder():
    """Kick + bass on every beat, a louder open hi-hat on every 'and': the beat is the kick."""
    sample_rate, tempo_bpm, duration_s = 22050, 112.0, 16.0
    period_s = 60.0 / tempo_bpm
    times = np.arange(int(duration_s * sample_rate)) / sample_rate
    signal = np.zeros_like(times)
    rng = np.random.default_rng(1)
    hit = np.arange(int(0.12 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * 60.0 * hit) * np.exp(-hit / 0.05)
    hat = rng.normal(size=len(hit)) * np.exp(-hit / 0.03)
    hat = np.diff(hat, prepend=0.0)  # crude high-pass: hats live in the treble
    for beat_s in np.arange(0.0, duration_s - 0.2, period_s):
        for offset_s, sound, gain in ((0.0, kick, 0.5), (period_s / 2, hat, 1.0)):
            start = int((beat_s + offset_s) * sample_rate)
            signal[start:start + len(sound)] += gain * sound[: len(signal) - start]
    analysis = analyze_music(Audio.from_array((0.5 * signal / np.abs(signal).max()).astype(np.float32), sample_rate))
    phase = (analysis.beat_times_s / period_s) % 1.0
    off = np.minimum(phase, 1.0 - phase)
    assert np.median(off) < 0.1, f"beats sit {np.median(off):.2f} beat away from the kicks"


def test_white_noise_is_analysed_with_a_no_clear_beat_warning():
    noise = np.random.default_rng(0).normal(0.0, 0.3, 3 * 22050).astype(np.float32)
    analysis = analyze_music(Audio.from_array(noise, 22050), fps=30)
    assert analysis.beat_clarity < 5.0
    (note,) = analysis.notes
    assert note.startswith("No clear beat found") and "edit the dance by hand" in note


@pytest.mark.parametrize("bpm", [60, 120, 180])
def test_a_click_track_has_a_clear_beat_and_no_warning(bpm):
    from conftest import click_track

    analysis = analyze_music(Audio.from_array(click_track(bpm, 8.0), 22050), fps=30)
    assert analysis.beat_clarity > 10.0 and analysis.notes == ()


def test_analyze_music_node_shows_the_no_beat_warning(pack, tmp_path, monkeypatch):
    import importlib

    import torch

    monkeypatch.setattr(importlib.import_module(f"{pack.__name__}.nodes.comfy_bridge"), "temp_directory",
                        lambda: tmp_path)
    node = importlib.import_module(f"{pack.__name__}.nodes.music_nodes").ChoreoAnalyzeMusic()
    noise = torch.from_numpy(np.random.default_rng(0).normal(0.0, 0.3, (1, 1, 3 * 22050)).astype(np.float32))
    result = node.analyze({"waveform": noise, "sample_rate": 22050}, 30.0)
    (text,) = result["ui"]["text"]
    assert text.startswith("No clear beat found") and result["result"][0].notes == (text,)
