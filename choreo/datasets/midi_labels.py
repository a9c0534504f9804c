"""Beat, downbeat, meter and tempo labels read from a MIDI file's tempo map and time signatures.

A MIDI file states its own grid: ``set_tempo`` events (microseconds per quarter note) and
``time_signature`` events (numerator / denominator). Walking that grid bar by bar gives exact
labels for any rendering of the file, which is why the music corpus uses MIDI at all.

What counts as a beat is a convention, fixed here once: the beat is the time signature's
denominator note (a quarter in 3/4, an eighth in 7/8), except in compound meters (6/8, 9/8,
12/8, ...), where it is three of those notes (a dotted quarter), as a dancer counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from ..errors import ChoreoError

DEFAULT_TEMPO_US = 500_000  # microseconds per quarter note when a file sets none (120 BPM)


class MidiLabelError(ChoreoError):
    """A MIDI file cannot be labelled (unreadable, type 2, no notes)."""


@dataclass(frozen=True)
class Meter:
    """A time signature and the beats a listener counts in one bar of it."""

    numerator: int
    denominator: int

    @property
    def beat_group(self) -> int:
        """Denominator notes per beat: 3 in compound meters (6/8, 9/8, 12/8), else 1."""
        compound = self.numerator % 3 == 0 and self.numerator > 3 and self.denominator >= 8
        return 3 if compound else 1

    @property
    def beats_per_bar(self) -> int:
        return self.numerator // self.beat_group

    @property
    def beat_quarters(self) -> float:
        """Length of one beat in quarter notes (a whole note is 4 quarters)."""
        return 4.0 / self.denominator * self.beat_group

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class MidiLabels:
    """Labels of one MIDI song on its own clock (seconds from the file's tick 0)."""

    beats_s: tuple[float, ...]
    downbeats_s: tuple[float, ...]
    bar_meters: tuple[str, ...]        # one "n/d" per downbeat
    bar_beats: tuple[int, ...]         # beats counted in each bar (shorter when a meter change cuts it)
    tempo_curve: tuple[tuple[float, float, float], ...]  # (time_s, quarter_bpm, beat_bpm) at each change
    duration_s: float

    def to_json(self) -> dict:
        """Times rounded to the microsecond, the resolution of a MIDI tempo."""
        def us(time_s: float) -> float:
            return round(time_s, 6)
        return {"beats_s": [us(t) for t in self.beats_s], "downbeats_s": [us(t) for t in self.downbeats_s],
                "meter_per_bar": [{"time_s": us(t), "meter": m, "beats": b}
                                  for t, m, b in zip(self.downbeats_s, self.bar_meters, self.bar_beats)],
                "tempo_curve": [{"time_s": us(t), "quarter_bpm": round(q, 4), "beat_bpm": round(b, 4)}
                                for t, q, b in self.tempo_curve],
                "duration_s": us(self.duration_s)}


class _TempoMap:
    """Tick -> seconds through piecewise-constant tempo segments."""

    def __init__(self, ticks_per_quarter: int, changes: list[tuple[int, int]]):
        self.ticks_per_quarter = ticks_per_quarter
        self.changes = changes  # (tick, microseconds per quarter), sorted, first at tick 0
        self.starts_s = [0.0]
        for (tick, tempo_us), (next_tick, _) in zip(changes, changes[1:]):
            self.starts_s.append(self.starts_s[-1] + (next_tick - tick) / ticks_per_quarter * tempo_us * 1e-6)

    def tempo_us_at(self, tick: float) -> int:
        return [tempo for start, tempo in self.changes if start <= tick][-1]

    def seconds(self, tick: float) -> float:
        index = max(i for i, (start, _) in enumerate(self.changes) if start <= tick)
        start_tick, tempo_us = self.changes[index]
        # ticks / (ticks per quarter) = quarters; quarters * µs per quarter * 1e-6 = seconds
        return self.starts_s[index] + (tick - start_tick) / self.ticks_per_quarter * tempo_us * 1e-6


def _grid_events(midi: mido.MidiFile) -> tuple[list[tuple[int, int]], list[tuple[int, Meter]], int]:
    """Tempo changes, meter changes (both (tick, value), last one per tick wins) and the last note-off tick."""
    tempos: dict[int, int] = {}
    meters: dict[int, Meter] = {}
    end_tick = 0
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "set_tempo":
                tempos[tick] = message.tempo
            elif message.type == "time_signature":
                meters[tick] = Meter(message.numerator, message.denominator)
            elif message.type in ("note_on", "note_off"):
                end_tick = max(end_tick, tick)
    tempos.setdefault(0, DEFAULT_TEMPO_US)  # the MIDI default until the first set_tempo
    meters.setdefault(0, Meter(4, 4))
    return sorted(tempos.items()), sorted(meters.items()), end_tick


def midi_labels(midi: mido.MidiFile) -> MidiLabels:
    """Beats, downbeats, meter per bar and tempo curve of a type 0 or 1 MIDI file.

    Bars start at tick 0 and follow each other at the current meter's length; a meter change
    takes effect at its tick and starts a new bar there (a change placed mid-bar, which some files
    do, cuts the bar short: its ``bar_beats`` is then smaller than the meter's). Beats run until
    the last note ends. Example::

        labels = midi_labels(mido.MidiFile("song.mid"))
        labels.downbeats_s[:2]  # (0.0, 2.0) for 4/4 at 120 BPM
    """
    if midi.type == 2:
        raise MidiLabelError("MIDI type 2 files (independent sequences) have no single tempo map; "
                             "convert the file to type 1 first.")
    tempo_changes, meter_changes, end_tick = _grid_events(midi)
    if end_tick == 0:
        raise MidiLabelError("the MIDI file has no notes, so it has no song length to label.")
    tempo_map = _TempoMap(midi.ticks_per_beat, tempo_changes)
    beats: list[float] = []
    downbeats: list[float] = []
    meters: list[str] = []
    bar_beats: list[int] = []
    for index, (start_tick, meter) in enumerate(meter_changes):
        stop_tick = meter_changes[index + 1][0] if index + 1 < len(meter_changes) else end_tick
        beat_ticks = meter.beat_quarters * midi.ticks_per_beat
        bar_tick = float(start_tick)
        while bar_tick < min(stop_tick, end_tick):
            in_bar = [bar_tick + k * beat_ticks for k in range(meter.beats_per_bar)
                      if bar_tick + k * beat_ticks < min(stop_tick, end_tick)]
            downbeats.append(tempo_map.seconds(bar_tick))
            meters.append(str(meter))
            bar_beats.append(len(in_bar))
            beats.extend(tempo_map.seconds(tick) for tick in in_bar)
            bar_tick += meter.beats_per_bar * beat_ticks
    curve_ticks = sorted({tick for tick, _ in tempo_changes} | {tick for tick, _ in meter_changes})
    curve = []
    for tick in (t for t in curve_ticks if t < end_tick):
        meter = [m for start, m in meter_changes if start <= tick][-1]
        quarter_bpm = 60e6 / tempo_map.tempo_us_at(tick)  # µs per minute / µs per quarter
        curve.append((tempo_map.seconds(tick), quarter_bpm, quarter_bpm / meter.beat_quarters))
    return MidiLabels(tuple(beats), tuple(downbeats), tuple(meters), tuple(bar_beats), tuple(curve),
                      tempo_map.seconds(end_tick))


def read_midi_labels(path: Path) -> MidiLabels:
    """``midi_labels`` of a file, with unreadable files reported as ``MidiLabelError``."""
    try:
        midi = mido.MidiFile(path)
    except (OSError, ValueError, EOFError, KeyError, IndexError) as error:
        raise MidiLabelError(f"cannot read MIDI file {path}: {error}. Check it opens in a MIDI player.") from error
    return midi_labels(midi)


def grid_fit(midi: mido.MidiFile, tolerance_quarters: float = 1 / 48) -> float:
    """Fraction of note onsets that sit on the file's own grid (sixteenths or eighth-note triplets).

    A MIDI file's tempo map only labels the music if the notes were written to it: files played
    in without a click keep a nominal tempo (often 120 BPM) that the music ignores. Quantised
    music scores near 1; notes placed without regard to the grid score about 0.3 (the share of
    time within ``tolerance_quarters`` of a grid line).
    """
    onsets_q = []
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0:
                onsets_q.append(tick / midi.ticks_per_beat)
    if not onsets_q:
        return 0.0
    onsets = np.asarray(onsets_q)

    def distance(period_q: float) -> np.ndarray:
        return np.abs((onsets / period_q + 0.5) % 1.0 - 0.5) * period_q

    on_grid = np.minimum(distance(1 / 4), distance(1 / 3)) <= tolerance_quarters
    return float(on_grid.mean())
