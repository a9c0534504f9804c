"""Songs the corpus composes itself as MIDI: drums, bass and chords in any meter, with exact labels.

Real recordings carry beat labels only as good as their annotators; a composed song carries the
grid it was written on. Each song is drawn from a seed: meter (2/4, 3/4, 4/4, 5/4, 6/8, 7/8),
beat tempo 40-220 BPM with an optional ramp, swing, humanised timing and velocity, and drums
that may be full, weak (hi-hat only, quiet) or absent, so a model must also hear the beat in
bass and harmony. Humanising and swing move notes, never the grid: the labels stay exact.

A share of songs (``offbeat_share``, 0 by default) is written so the loudest event is *not* the
beat: an open hi-hat and chord stabs on every off-beat (the swung one when swung) over a quieter
kick on the beat, as in house, reggae skanks and boogie shuffles. A tracker that follows the
loudest onset fails there; one that has learnt where the kick and bass sit does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import mido
import numpy as np

from .midi_labels import Meter, MidiLabels

TICKS_PER_QUARTER = 480
METERS: tuple[tuple[int, int], ...] = ((2, 4), (3, 4), (4, 4), (5, 4), (6, 8), (7, 8))
GROUPS: dict[tuple[int, int], tuple[int, ...]] = {  # beats starting a group (kick, bass root)
    (2, 4): (0,), (3, 4): (0,), (4, 4): (0, 2), (5, 4): (0, 3), (6, 8): (0,), (7, 8): (0, 2, 4)}
DRUMS = ("full", "weak", "none")
COMPING = ("beats", "offbeats", "pad", "arpeggio")
TEMPO_RANGE_BPM = (40.0, 220.0)
DRUM_CHANNEL = 9  # General MIDI percussion
KICK, SNARE, CLOSED_HAT, OPEN_HAT = 36, 38, 42, 46
OFFBEAT_STREAM = 7919  # the off-beat draw has its own random stream, so the other fields of a seed never move
BASS_PROGRAMS = tuple(range(32, 40))
CHORD_PROGRAMS = (0, 1, 2, 4, 5, 16, 17, 19, 24, 25, 26, 48, 49, 88, 89, 90)
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (0, 4, 5, 3), (1, 4, 0, 0))
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


@dataclass(frozen=True)
class SongSpec:
    """Everything that decides one composed song; ``random_song_spec`` draws one from a seed."""

    numerator: int
    denominator: int
    start_bpm: float          # beat tempo of the first beat
    end_bpm: float            # beat tempo of the last beat (a linear ramp in between)
    num_bars: int
    swing: float              # where the off-beat falls within a two-part beat: 0.5 straight, 0.67 triplet
    timing_jitter_ms: float   # standard deviation of note onsets around the grid
    velocity_jitter: float    # standard deviation of MIDI velocity
    drums: str                # "full" | "weak" | "none"
    comping: str              # "beats" | "offbeats" | "pad" | "arpeggio"
    key_root: int             # MIDI note of the tonic, bass octave
    bass_program: int
    chord_program: int
    seed: int
    offbeat_accent: bool = False  # the off-beat is the loudest event (open hat + stabs), the kick quieter

    @property
    def meter(self) -> Meter:
        return Meter(self.numerator, self.denominator)


def random_song_spec(seed: int, duration_s: float = 30.0, offbeat_share: float = 0.0) -> SongSpec:
    """A song of about ``duration_s`` seconds; a quarter of them ramp their tempo by up to ±25 %.

    offbeat_share : chance that the song accents its off-beats (``SongSpec.offbeat_accent``); drawn
                    from its own stream, so a seed's other fields are the same for every share.
    """
    offbeat_accent = bool(np.random.default_rng([seed, OFFBEAT_STREAM]).random() < offbeat_share)
    rng = np.random.default_rng(seed)
    numerator, denominator = METERS[rng.integers(len(METERS))]
    low, high = TEMPO_RANGE_BPM
    start_bpm = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    end_bpm = start_bpm
    if rng.random() < 0.25:
        end_bpm = float(np.clip(start_bpm * rng.uniform(0.75, 1.25), low, high))
    beats_per_bar = Meter(numerator, denominator).beats_per_bar
    bar_s = beats_per_bar * 60.0 / ((start_bpm + end_bpm) / 2)
    return SongSpec(numerator, denominator, start_bpm, end_bpm, num_bars=max(2, round(duration_s / bar_s)),
                    swing=float(rng.uniform(0.55, 0.67)) if rng.random() < 0.3 else 0.5,
                    timing_jitter_ms=float(rng.uniform(0.0, 20.0)), velocity_jitter=float(rng.uniform(0.0, 15.0)),
                    drums=str(rng.choice(DRUMS, p=[0.6, 0.2, 0.2])), comping=str(rng.choice(COMPING)),
                    key_root=int(rng.integers(36, 48)), bass_program=int(rng.choice(BASS_PROGRAMS)),
                    chord_program=int(rng.choice(CHORD_PROGRAMS)), seed=seed, offbeat_accent=offbeat_accent)


def beat_tempos_us(spec: SongSpec) -> list[int]:
    """Microseconds per quarter note for each beat (plus the final downbeat), rounded as a MIDI file stores them."""
    count = spec.num_bars * spec.meter.beats_per_bar + 1
    beat_bpm = np.linspace(spec.start_bpm, spec.end_bpm, count)
    # µs per minute / (beats per minute * quarters per beat) = µs per quarter
    return [round(60e6 / (bpm * spec.meter.beat_quarters)) for bpm in beat_bpm]


def song_labels(spec: SongSpec) -> MidiLabels:
    """The labels the song was written on, computed from the spec alone (not read back from MIDI)."""
    meter = spec.meter
    tempos_us = beat_tempos_us(spec)
    beat_durations_s = [tempo * 1e-6 * meter.beat_quarters for tempo in tempos_us]
    beats_s = tuple(float(t) for t in np.concatenate([[0.0], np.cumsum(beat_durations_s[:-1])]))
    per_bar = meter.beats_per_bar
    curve = tuple((beats_s[k], 60e6 / tempo, 60e6 / tempo / meter.beat_quarters)
                  for k, tempo in enumerate(tempos_us) if k == 0 or tempo != tempos_us[k - 1])
    return MidiLabels(beats_s=beats_s, downbeats_s=beats_s[::per_bar], bar_meters=(str(meter),) * (spec.num_bars + 1),
                      bar_beats=(per_bar,) * spec.num_bars + (1,), tempo_curve=curve,
                      duration_s=beats_s[-1] + beat_durations_s[-1])


def _chord(spec: SongSpec, degree: int) -> list[int]:
    """Root-position triad on a scale degree of the major key, an octave and a half above the bass."""
    notes = [MAJOR_SCALE[(degree + step) % 7] + 12 * ((degree + step) // 7) for step in (0, 2, 4)]
    return [spec.key_root + 19 + note for note in notes]


def _parts(spec: SongSpec, rng: np.random.Generator) -> list[tuple[int, int, int, int, int]]:
    """(channel, note, velocity, start_tick, length_ticks) of every note, on the exact grid."""
    meter = spec.meter
    beat_ticks = round(meter.beat_quarters * TICKS_PER_QUARTER)
    subdivisions = 3 if meter.beat_group == 3 else 2
    offsets = [0, round(spec.swing * beat_ticks)] if subdivisions == 2 else [0, beat_ticks // 3, 2 * beat_ticks // 3]
    groups = GROUPS[(spec.numerator, spec.denominator)]
    progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    notes = []
    for bar in range(spec.num_bars):
        degree = progression[bar % len(progression)]
        chord = _chord(spec, degree)
        root = spec.key_root + MAJOR_SCALE[degree]
        bar_tick = bar * meter.beats_per_bar * beat_ticks
        if spec.comping == "pad":
            notes += [(1, note, 60, bar_tick, meter.beats_per_bar * beat_ticks) for note in chord]
        for beat in range(meter.beats_per_bar):
            tick = bar_tick + beat * beat_ticks
            strong = beat in groups
            if spec.offbeat_accent:
                notes += _offbeat_accents(spec, chord, tick, beat_ticks, offsets[-1], strong)
            elif spec.drums == "full":
                notes.append((DRUM_CHANNEL, KICK if strong else SNARE, 110 if beat == 0 else 90, tick, beat_ticks // 4))
            if spec.drums != "none" and not spec.offbeat_accent:
                loud = 80 if spec.drums == "full" else 45
                notes += [(DRUM_CHANNEL, CLOSED_HAT, loud if k == 0 else loud - 20, tick + offset, beat_ticks // 8)
                          for k, offset in enumerate(offsets)]
            if strong or rng.random() < 0.3:
                bass = root if strong else root + MAJOR_SCALE[int(rng.choice([2, 4]))]
                notes.append((0, bass, 100 if beat == 0 else 85, tick, beat_ticks - beat_ticks // 8))
            if spec.comping == "beats" or (spec.comping == "offbeats" and not strong):
                notes += [(1, note, 75, tick, beat_ticks // 2) for note in chord]
            elif spec.comping == "arpeggio":
                notes += [(1, chord[k % 3] + 12 * (k == 0), 70, tick + offset, offsets[1])
                          for k, offset in enumerate(offsets)]
    end_tick = spec.num_bars * meter.beats_per_bar * beat_ticks
    root = spec.key_root + MAJOR_SCALE[progression[0]]
    closing_chord = [(1, note, 80, end_tick, beat_ticks) for note in _chord(spec, progression[0])]
    return notes + [(0, root, 100, end_tick, beat_ticks)] + closing_chord


def _offbeat_accents(spec: SongSpec, chord: list[int], tick: int, beat_ticks: int, offbeat_ticks: int,
                     strong: bool) -> list[tuple[int, int, int, int, int]]:
    """One beat of an off-beat-accented groove: a kick under every beat (snare added on weak beats) with
    full drums, a quieter kick alone with weak drums, none without drums; an open hat (unless drumless) and a
    chord stab on the last subdivision, both louder than anything on the beat."""
    notes = []
    if spec.drums != "none":
        notes.append((DRUM_CHANNEL, KICK, 85 if spec.drums == "full" else 60, tick, beat_ticks // 4))
        if spec.drums == "full" and not strong:
            notes.append((DRUM_CHANNEL, SNARE, 70, tick, beat_ticks // 4))
        notes.append((DRUM_CHANNEL, OPEN_HAT, 120, tick + offbeat_ticks, beat_ticks // 4))
    notes += [(1, note, 110, tick + offbeat_ticks, beat_ticks // 4) for note in chord]
    return notes


def write_song(spec: SongSpec) -> tuple[mido.MidiFile, MidiLabels]:
    """The song as a type 1 MIDI file (conductor, bass, chords, drums) and its exact labels.

    Every note but the closing chord is humanised: onsets move by ``timing_jitter_ms`` (converted
    to ticks at the local tempo) and velocities by ``velocity_jitter``; note-offs never pass the
    song's end, so the file's length is the grid's length.
    """
    rng = np.random.default_rng(spec.seed + 1)
    meter = spec.meter
    beat_ticks = round(meter.beat_quarters * TICKS_PER_QUARTER)
    tempos_us = beat_tempos_us(spec)
    end_tick = (spec.num_bars * meter.beats_per_bar + 1) * beat_ticks
    conductor = [(0, mido.MetaMessage("time_signature", numerator=spec.numerator, denominator=spec.denominator,
                                      clocks_per_click=24, notated_32nd_notes_per_beat=8))]
    conductor += [(k * beat_ticks, mido.MetaMessage("set_tempo", tempo=tempo))
                  for k, tempo in enumerate(tempos_us) if k == 0 or tempo != tempos_us[k - 1]]
    tracks: dict[int, list] = {0: [(0, mido.Message("program_change", channel=0, program=spec.bass_program))],
                               1: [(0, mido.Message("program_change", channel=1, program=spec.chord_program))],
                               DRUM_CHANNEL: []}
    for channel, note, velocity, start, length in _parts(spec, rng):
        if start < end_tick - beat_ticks:
            ticks_per_s = TICKS_PER_QUARTER / (tempos_us[start // beat_ticks] * 1e-6)
            start = max(0, start + round(rng.normal(0.0, spec.timing_jitter_ms * 1e-3) * ticks_per_s))
            velocity = velocity + rng.normal(0.0, spec.velocity_jitter)
        velocity = int(np.clip(round(velocity), 1, 127))
        tracks[channel].append((start, mido.Message("note_on", channel=channel, note=note, velocity=velocity)))
        tracks[channel].append((min(start + length, end_tick), mido.Message("note_off", channel=channel, note=note)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    for events in [conductor] + [tracks[channel] for channel in (0, 1, DRUM_CHANNEL) if tracks[channel]]:
        track = mido.MidiTrack()
        now = 0
        # note-offs sort before note-ons at the same tick, so a repeated note is not cut off
        for tick, message in sorted(events, key=lambda event: (event[0], event[1].type == "note_on")):
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    return midi, song_labels(spec)
