"""The tempo octave a dancer counts, the half / double / hint override, and tidy song sections."""

import numpy as np
import pytest
import soundfile
from conftest import click_track
from test_music_analysis import beat_hit_rate, drum_pattern, steady_beats

from choreo import pipeline
from choreo.cli import main
from choreo.errors import ChoreoError
from choreo.music.analysis import Section
from choreo.music.analyze import analyze_music
from choreo.music.beat_tracking import _refine_lag, track_beats
from choreo.music.audio import Audio
from choreo.music.sections import tidy_sections
from choreo.music.tempo_octave import beats_with_midpoints, every_other_beat, octave_steps

SAMPLE_RATE = 22050


def rock_beat(tempo_bpm, duration_s, hats_per_beat=2, offset_s=0.25):
    """(N,) float32 kick on beats 1 and 3, snare (with a 190 Hz body) on 2 and 4, a hi-hat every 1/hats_per_beat."""
    rng = np.random.default_rng(0)
    signal = np.zeros(int(duration_s * SAMPLE_RATE))
    t = np.arange(int(0.15 * SAMPLE_RATE)) / SAMPLE_RATE
    kick = np.sin(2 * np.pi * (50 + 60 * np.exp(-t * 40)) * t) * np.exp(-t * 25)
    snare = 0.4 * np.diff(rng.standard_normal(len(t)), prepend=0.0) * np.exp(-t * 30) \
        + 0.4 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 35)
    hat = np.diff(rng.standard_normal(len(t)) * np.exp(-t * 90), prepend=0.0)  # differenced noise: treble only
    for index, time_s in enumerate(np.arange(offset_s, duration_s - 0.4, 60.0 / tempo_bpm / hats_per_beat)):
        start = int(time_s * SAMPLE_RATE)
        hits = [hat] + ([kick if index // hats_per_beat % 2 == 0 else snare] if index % hats_per_beat == 0 else [])
        for hit in hits:
            signal[start:start + len(hit)] += hit
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


@pytest.mark.parametrize("tempo_bpm, hats_per_beat", [(104.0, 2), (96.0, 2), (80.0, 4)])
def test_hi_hat_subdivisions_are_counted_at_the_kick_and_snare_tempo(tempo_bpm, hats_per_beat):
    """8th-note hats at 96 BPM repeat as steadily as the drums at 192: a dancer counts 96 (before: 192)."""
    duration_s = 16.0
    analysis = analyze_music(Audio.from_array(rock_beat(tempo_bpm, duration_s, hats_per_beat), SAMPLE_RATE))
    assert analysis.tempo_bpm == pytest.approx(tempo_bpm, rel=0.03)
    assert beat_hit_rate(analysis.beat_times_s, steady_beats(tempo_bpm, duration_s - 0.4)) > 0.9


def test_a_fast_beat_with_kick_or_snare_on_every_beat_stays_fast():
    """The rule keeps 180: every beat carries a drum with a bass body, so none is a subdivision."""
    analysis = analyze_music(Audio.from_array(rock_beat(180.0, 12.0, hats_per_beat=1), SAMPLE_RATE))
    assert analysis.tempo_bpm == pytest.approx(180.0, rel=0.03)


@pytest.fixture(scope="module")
def song_120():
    return Audio.from_array(drum_pattern(steady_beats(120.0, 12.0), 4, 12.0), SAMPLE_RATE)


def _is_subset(small, large, tolerance_s=1e-6):
    return all(np.min(np.abs(large - value)) < tolerance_s for value in small)


def test_half_keeps_every_other_beat_on_the_downbeats_phase(song_120):
    auto, half = analyze_music(song_120), analyze_music(song_120, tempo="half")
    assert half.tempo_bpm == pytest.approx(auto.tempo_bpm / 2, rel=0.02)
    assert _is_subset(half.beat_times_s, auto.beat_times_s)
    assert _is_subset(auto.downbeat_times_s, half.beat_times_s)
    assert np.array_equal(half.downbeat_times_s, half.beat_times_s[half.beat_in_bar == 0])


def test_double_inserts_midpoints_and_keeps_the_bar_lines(song_120):
    auto, double = analyze_music(song_120), analyze_music(song_120, tempo="double")
    assert double.tempo_bpm == pytest.approx(auto.tempo_bpm * 2, rel=0.02)
    assert np.allclose(double.beat_times_s, beats_with_midpoints(auto.beat_times_s))
    assert _is_subset(auto.downbeat_times_s, double.downbeat_times_s)
    assert np.array_equal(double.downbeat_times_s, double.beat_times_s[double.beat_in_bar == 0])


@pytest.mark.parametrize("hint_bpm, expected_bpm", [(55.0, 60.0), (130.0, 120.0), (250.0, 240.0)])
def test_a_tempo_hint_picks_the_octave_nearest_it(song_120, hint_bpm, expected_bpm):
    assert analyze_music(song_120, tempo_hint_bpm=hint_bpm).tempo_bpm == pytest.approx(expected_bpm, rel=0.02)


def test_octave_arithmetic():
    beats = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    assert every_other_beat(beats, 1).tolist() == [0.5, 1.5]
    assert beats_with_midpoints(beats[:3]).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert octave_steps(208.0, "auto", 100.0) == -1
    assert octave_steps(104.0, "half", 0.0) == -1 and octave_steps(104.0, "double", 0.0) == 1
    assert octave_steps(60.0, "auto", 240.0) == 2 and octave_steps(60.0, "auto", 300.0) == 2


def test_a_flat_or_still_rising_autocorrelation_keeps_the_tempo_lag_near_its_search_window():
    """The sub-frame refinement moves a lag by at most half a frame, even where the curve is nearly straight
    (a nearly flat activation once sent the lag to -9e14 frames and the beat tracker into an empty search)."""
    nearly_straight = np.array([1.0, 0.9, 0.8, 0.7, 0.6000001, 0.5000002, 0.4, 0.3, 0.2, 0.1])
    for lag in range(1, 9):
        assert abs(_refine_lag(nearly_straight, lag) - lag) <= 2.5
    peaked = np.cos(np.linspace(0, 4 * np.pi, 60))  # a true maximum at lag 30 (two cycles)
    assert _refine_lag(peaked, 29) == pytest.approx(29.5, abs=0.5)
    flat = np.full(3000, 0.3) + 1e-7 * np.random.default_rng(0).standard_normal(3000)
    assert np.all(np.isfinite(track_beats(flat, 22050 / 256)))


@pytest.mark.parametrize("options, match", [({"tempo": "triple"}, "tempo 'triple' is not one of"),
                                            ({"tempo_hint_bpm": 10.0}, "tempo_hint_bpm 10.0 is out of range"),
                                            ({"tempo_hint_bpm": float("nan")}, "0 for no hint")])
def test_bad_tempo_choices_are_refused(song_120, options, match):
    with pytest.raises(ChoreoError, match=match):
        analyze_music(song_120, **options)


@pytest.fixture
def analysis_options(monkeypatch):
    """Records the options the CLI passes to the music analysis, then stops the job there."""
    options = []

    def record(audio, **kwargs):
        options.append(kwargs)
        raise ChoreoError("stopped after the analysis options were recorded")

    monkeypatch.setattr(pipeline, "analyze_music", record)
    return options


def test_cli_tempo_flags_reach_the_analysis(tmp_path, analysis_options, capsys):
    song = tmp_path / "click.wav"
    soundfile.write(song, click_track(duration_s=3.0), SAMPLE_RATE)
    assert main(["--audio", str(song), "--out", str(tmp_path / "dance.mp4"), "--tempo", "half",
                 "--tempo-hint", "100", "--beat-tracker", "learned"]) == 2
    assert analysis_options == [{"fps": 30.0, "tempo": "half", "tempo_hint_bpm": 100.0, "beat_tracker": "learned"}]


def test_cli_refuses_a_tempo_hint_below_30_bpm_before_any_work(tmp_path, analysis_options, capsys):
    assert main(["--out", str(tmp_path / "dance.mp4"), "--tempo-hint", "10"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --tempo-hint 10.0 is out of range; give the tempo you count "
                                               "in BPM (30 to 300), or 0 for no hint.")
    assert analysis_options == []


DOWNBEATS_S = np.arange(0.5, 40.0, 2.0)  # a bar every 2 s after a 0.5 s pickup


def _check_tidy(sections, downbeats_s, duration_s):
    assert sections[0].start_s == 0.0 and sections[-1].end_s == duration_s
    assert all(a.end_s == b.start_s for a, b in zip(sections[:-1], sections[1:]))
    assert all(np.min(np.abs(downbeats_s - s.start_s)) < 1e-9 for s in sections[1:])
    bar_s = np.median(np.diff(downbeats_s))
    assert len(sections) == 1 or all(s.end_s - s.start_s >= 0.9 * bar_s for s in sections)
    assert all(a.label != b.label for a, b in zip(sections[:-1], sections[1:]))


def test_section_bounds_snap_to_the_nearest_downbeat():
    sections = (Section(0.0, 9.3, "A"), Section(9.3, 21.0, "B"), Section(21.0, 40.0, "A"))
    tidy = tidy_sections(sections, DOWNBEATS_S, 40.0)
    assert [(s.start_s, s.label) for s in tidy] == [(0.0, "A"), (8.5, "B"), (20.5, "A")]


def test_a_pickup_shorter_than_a_bar_joins_the_next_section():
    sections = (Section(0.0, 0.5, "A"), Section(0.5, 16.5, "B"), Section(16.5, 40.0, "C"))
    assert [(s.start_s, s.label) for s in tidy_sections(sections, DOWNBEATS_S, 40.0)] == [(0.0, "A"), (16.5, "B")]


def test_a_section_snapped_to_nothing_disappears_and_same_letters_merge():
    sections = (Section(0.0, 8.5, "A"), Section(8.5, 9.4, "B"), Section(9.4, 10.6, "A"), Section(10.6, 24.5, "B"),
                Section(24.5, 32.5, "B"), Section(32.5, 40.0, "C"))
    tidy = tidy_sections(sections, DOWNBEATS_S, 40.0)
    assert [(s.start_s, s.end_s, s.label) for s in tidy] == [(0.0, 10.5, "A"), (10.5, 32.5, "B"), (32.5, 40.0, "C")]


def test_random_sections_always_come_out_tidy():
    rng = np.random.default_rng(3)
    for _ in range(200):
        bounds = np.sort(rng.uniform(0.0, 40.0, rng.integers(0, 12)))
        edges = [0.0, *bounds.tolist(), 40.0]
        sections = tuple(Section(a, b, "ABC"[rng.integers(3)]) for a, b in zip(edges[:-1], edges[1:]))
        _check_tidy(tidy_sections(sections, DOWNBEATS_S, 40.0), DOWNBEATS_S, 40.0)


def aba_song(tempo_bpm=120.0, bars_per_part=8, offset_s=0.25):
    """(samples, true section starts, seconds): 4/4 drums under chords A (four chords), B (four others, brighter), A."""
    period_s = 60.0 / tempo_bpm
    chords = {"A": (220.0, 174.6, 261.6, 196.0), "B": (293.7, 329.6, 246.9, 370.0)}
    brightness = {"A": 0.0, "B": 0.6}  # B adds a third harmonic: a new timbre as well as new chords
    num_bars = 3 * bars_per_part
    signal = np.zeros(int((offset_s + num_bars * 4 * period_s + 0.5) * SAMPLE_RATE))
    t = np.arange(int(0.15 * SAMPLE_RATE)) / SAMPLE_RATE
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-t * 30)
    hat = 0.3 * np.random.default_rng(0).standard_normal(len(t)) * np.exp(-t * 80)
    bar_t = np.arange(int(4 * period_s * SAMPLE_RATE)) / SAMPLE_RATE
    for bar in range(num_bars):
        part = "ABA"[bar // bars_per_part]
        root = chords[part][bar % 4]
        start_s = offset_s + bar * 4 * period_s
        chord = sum(np.sin(2 * np.pi * root * ratio * bar_t)
                    + brightness[part] * np.sin(6 * np.pi * root * ratio * bar_t) for ratio in (1.0, 1.26, 1.5))
        first = int(start_s * SAMPLE_RATE)
        signal[first:first + len(bar_t)] += 0.08 * chord * np.exp(-bar_t * 0.8)
        for beat in range(4):
            hit = kick + hat if beat in (0, 2) else hat
            first = int((start_s + beat * period_s) * SAMPLE_RATE)
            signal[first:first + len(hit)] += hit
    starts_s = [offset_s + part * bars_per_part * 4 * period_s for part in range(3)]
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32), starts_s


def test_a_generated_a_b_a_song_has_three_tidy_sections_on_its_bar_lines():
    samples, starts_s = aba_song()
    analysis = analyze_music(Audio.from_array(samples, SAMPLE_RATE))
    assert [s.label for s in analysis.sections] == ["A", "B", "A"]
    assert [s.start_s for s in analysis.sections[1:]] == pytest.approx(starts_s[1:], abs=0.07)
    _check_tidy(analysis.sections, analysis.downbeat_times_s, analysis.duration_s)
