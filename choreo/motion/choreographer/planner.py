"""Choose the moves: a seeded walk over the move graph, one 8-count phrase at a time.

Per phrase the planner knows its length in beats, its section (repeats share a
label) and its loudness. Moves are drawn with weights for style, energy match,
pose compatibility with the previous move and bar alignment; a move never plays
three times in a row, nor does a third bar in a row look nearly the same as the two before it
(whatever the moves' names: ``similarity``), and travelling moves are mirrored to drift back to centre.
Repeated sections reuse the first occurrence's phrases, mirrored every other time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import MotionInputError
from ...music.analysis import MusicAnalysis
from .moves import Move, MoveLibrary, load_library
from .similarity import bar_distance_m, bar_path
from .timing import HALF_TIME_INTERVAL_S, HALF_TIME_STYLES, MIXED, BeatGrid, beat_grid, phrases


@dataclass(frozen=True)
class PlacedMove:
    """One move on the beat grid: starts at beat index ``start_beat`` and lasts ``beats`` beats."""

    name: str
    start_beat: int
    beats: int
    mirrored: bool


@dataclass(frozen=True)
class PlannerConfig:
    """Weights of the move choice; see ``plan_choreography``."""

    energy_width: float = 0.25          # Gaussian width of the energy match, in energy units
    incompatible_pose_weight: float = 0.1  # end pose of the last move != start pose of the next
    bar_aligned_weight: float = 2.0     # starts on a downbeat and fills whole bars
    recent_weight: float = 0.35         # used within the last four moves (variety)
    max_repeats_in_a_row: int = 2
    return_to_centre_probability: float = 0.85  # mirror a travelling move so it heads back
    # Bars whose keyframe paths lie closer than this (RMS root-relative joint distance, metres) look alike.
    # Above the benchmark's 5 cm on the danced motion, which shrinks moves on fast beats (0.7x at 170 BPM).
    similar_bar_m: float = 0.075
    max_similar_bars_in_a_row: int = 2


def plan_choreography(analysis: MusicAnalysis, seed: int = 0, style: str = MIXED,
                      library: MoveLibrary | None = None,
                      config: PlannerConfig = PlannerConfig()) -> tuple[PlacedMove, ...]:
    """The move plan for a song: contiguous placed moves covering every beat (and a few past the end).

    style : a style name from the library, or "mixed" (one style per section label).
    returns : PlacedMove tuple sorted by start beat; deterministic for a given seed.
    """
    library = library or load_library()
    check_style(style, library)
    rng = np.random.default_rng(seed)
    grid = beat_grid(analysis, style)
    energies = _phrase_energies(analysis, grid)
    plan: list[PlacedMove] = []
    section_styles: dict[str, str] = {}
    first_take: dict[tuple[str, int], list[PlacedMove]] = {}
    occurrence: dict[str, int] = {}
    previous_label, phrase_in_section = None, 0
    anchor_x_m = 0.0
    for (start, length), energy in zip(phrases(grid), energies):
        label = analysis.section_at(float(grid.times_s[start])).label
        if label != previous_label:
            occurrence[label] = occurrence.get(label, -1) + 1
            phrase_in_section, previous_label = 0, label
        else:
            phrase_in_section += 1
        if label not in section_styles:
            section_styles[label] = style if style != MIXED else _pick_style(library, grid, rng)
        key = (label, phrase_in_section)
        reused = _reuse(first_take.get(key), start, length, occurrence[label] % 2 == 1, plan, grid, library, config)
        if reused is None:
            placed = _fill_phrase(start, length, energy, section_styles[label], grid, plan, anchor_x_m, library, rng, config)
            first_take.setdefault(key, placed)
        else:
            placed = reused
        for item in placed:
            move = library.by_name(item.name)
            anchor_x_m += float(move.travel_m[0]) * (-1.0 if item.mirrored else 1.0)
        plan.extend(placed)
    return tuple(plan)


def check_style(style: str, library: MoveLibrary) -> None:
    if style != MIXED and style not in library.styles:
        raise MotionInputError(
            f"Unknown dance style '{style}'. Choose one of: {MIXED}, {', '.join(library.styles)}.")


def _pick_style(library: MoveLibrary, grid: BeatGrid, rng: np.random.Generator) -> str:
    """Styles whose moves fill whole bars of this meter are likelier (waltz for 3/4).

    On beats faster than ``HALF_TIME_INTERVAL_S`` the styles danced in half time are left out, so "mixed"
    steps on every beat of fast music as the named styles do (``timing.style_min_hit_interval_s``).
    """
    beats_per_bar = grid.beats_per_bar
    fast = len(grid.times_s) > 1 and float(np.median(np.diff(grid.times_s))) < HALF_TIME_INTERVAL_S
    styles = tuple(s for s in library.styles if not (fast and s in HALF_TIME_STYLES))
    fit = np.array([sum(m.beats % beats_per_bar == 0 and m.beats >= beats_per_bar for m in library.of_style(s)) + 0.2
                    for s in styles], dtype=np.float64)
    return str(styles[rng.choice(len(styles), p=fit / fit.sum())])


def _phrase_energies(analysis: MusicAnalysis, grid: BeatGrid) -> list[float]:
    """Loudness of each phrase in [0, 1], relative to the song's loud parts (95th percentile RMS)."""
    rms = np.asarray(analysis.rms_energy, dtype=np.float64)
    reference = float(np.percentile(rms, 95)) + 1e-6 if len(rms) else 1.0
    values = []
    for start, length in phrases(grid):
        first, last = (np.rint(grid.beat_to_time_s(np.array([start, start + length])) * analysis.fps)).astype(int)
        window = rms[max(0, min(first, len(rms) - 1)):max(1, min(last, len(rms)))]
        values.append(float(np.clip(window.mean() / reference, 0.0, 1.0)) if len(window) else 0.5)
    return values


def _repeat_count(plan: list[PlacedMove], name: str) -> int:
    count = 0
    for item in reversed(plan):
        if item.name != name:
            break
        count += 1
    return count


def _reuse(template: list[PlacedMove] | None, start: int, length: int, mirror: bool, plan: list[PlacedMove],
           grid: BeatGrid, library: MoveLibrary, config: PlannerConfig) -> list[PlacedMove] | None:
    """The first occurrence's moves shifted to ``start``; None when it cannot be reused unchanged."""
    if template is None or sum(item.beats for item in template) != length:
        return None
    offset = start - template[0].start_beat
    placed = [PlacedMove(item.name, item.start_beat + offset, item.beats,
                         item.mirrored != (mirror and library.by_name(item.name).mirrorable)) for item in template]
    history = list(plan)
    for item in placed:
        if (_repeat_count(history, item.name) >= config.max_repeats_in_a_row
                or _makes_similar_run(history, item, grid, library, config)):
            return None
        history.append(item)
    return placed


def _makes_similar_run(history: list[PlacedMove], item: PlacedMove, grid: BeatGrid, library: MoveLibrary,
                       config: PlannerConfig) -> bool:
    """Would ``item`` after ``history`` finish a bar that is the third (or later) near-identical bar in a row?

    Bars run downbeat to downbeat; only bars ``item`` completes are checked, each against the bars before it.
    """
    length, limit = grid.beats_per_bar, config.max_similar_bars_in_a_row
    end = item.start_beat + item.beats
    reach = item.start_beat - (limit + 1) * length
    tail = [item]
    for placed in reversed(history):
        if placed.start_beat + placed.beats <= reach:
            break
        tail.insert(0, placed)
    downbeats = np.flatnonzero(grid.beat_in_bar[:end] == 0)
    for bar in downbeats[(downbeats + length > item.start_beat) & (downbeats + length <= end)]:
        paths = [bar_path(tail, int(bar) - k * length, length, library.paths) for k in range(limit + 1)]
        if all(path is not None for path in paths) and all(
                bar_distance_m(later, earlier) < config.similar_bar_m for later, earlier in zip(paths[:-1], paths[1:])):
            return True
    return False


def _fill_phrase(start: int, length: int, energy: float, style: str, grid: BeatGrid, plan: list[PlacedMove],
                 anchor_x_m: float, library: MoveLibrary, rng: np.random.Generator,
                 config: PlannerConfig) -> list[PlacedMove]:
    placed: list[PlacedMove] = []
    beat = start
    while beat < start + length:
        remaining = start + length - beat
        history = plan + placed
        def fits(m: Move) -> bool:
            return m.beats <= remaining and _repeat_count(history, m.name) < config.max_repeats_in_a_row
        def fresh(m: Move) -> bool:
            return any(not _makes_similar_run(history, PlacedMove(m.name, beat, m.beats, side), grid, library, config)
                       for side in ((False, True) if m.mirrorable else (False,)))
        in_style = [m for m in library.of_style(style) if fits(m)]
        candidates = ([m for m in in_style if fresh(m)] or [m for m in library.moves if fits(m) and fresh(m)]
                      or in_style or [m for m in library.moves if fits(m)])
        weights = np.array([_weight(m, beat, energy, grid, history, library, config) for m in candidates])
        if weights.sum() <= 0:
            weights = np.ones(len(candidates))
        move = candidates[rng.choice(len(candidates), p=weights / weights.sum())]
        mirrored = _choose_mirror(move, anchor_x_m, rng, config)
        if move.mirrorable and _makes_similar_run(history, PlacedMove(move.name, beat, move.beats, mirrored), grid,
                                                  library, config):
            mirrored = not mirrored
        anchor_x_m += float(move.travel_m[0]) * (-1.0 if mirrored else 1.0)
        placed.append(PlacedMove(move.name, beat, move.beats, mirrored))
        beat += move.beats
    return placed


def _weight(move: Move, beat: int, energy: float, grid: BeatGrid, history: list[PlacedMove],
            library: MoveLibrary, config: PlannerConfig) -> float:
    if _repeat_count(history, move.name) >= config.max_repeats_in_a_row:
        return 0.0
    weight = float(np.exp(-0.5 * ((move.energy - energy) / config.energy_width) ** 2))
    if history and library.by_name(history[-1].name).end_pose != move.start_pose:
        weight *= config.incompatible_pose_weight
    if grid.beat_in_bar[beat] == 0 and move.beats % grid.beats_per_bar == 0:
        weight *= config.bar_aligned_weight
    if any(item.name == move.name for item in history[-4:]):
        weight *= config.recent_weight
    return weight


def _choose_mirror(move: Move, anchor_x_m: float, rng: np.random.Generator, config: PlannerConfig) -> bool:
    if not move.mirrorable:
        return False
    travel = float(move.travel_m[0])
    if abs(travel) > 1e-6 and abs(anchor_x_m) > 1e-6:
        heads_out = np.sign(travel) == np.sign(anchor_x_m)
        return bool(heads_out) == bool(rng.random() < config.return_to_centre_probability)
    return bool(rng.random() < 0.5)
