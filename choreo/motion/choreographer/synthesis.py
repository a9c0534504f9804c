"""Turn a move plan into per-frame joint rotations: keyframes on real beat times, eased from hit to hit.

Every whole-beat keyframe is a *hit*: the pose rests there for a short hold centred on the beat, then
moves with a quintic ease whose speed peaks mid-interval, so the body's speed stops exactly on the beat
and nowhere in between (what the Beat Align Score looks for; ``hit_clock``). Off-beat keyframes ("and"
counts) lie on the path, which passes through them with Catmull-Rom velocities; the symmetric ease keeps
an "and" halfway between hits on its time. A small side-to-side groove turns round on every hit, so a
move that holds a pose still shows the beat. Interpolation runs on unit quaternions for all joints and
frames at once (quintic Hermite on aligned quaternions, then renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...music.analysis import MusicAnalysis
from ..rotations import (axis_angle_to_matrix, euler_to_matrix, matrix_to_axis_angle, matrix_to_quaternion,
                         quaternion_to_matrix)
from ..skeleton import JOINT, UPRIGHT
from .moves import MoveLibrary, neutral_rotations
from .planner import PlacedMove
from .timing import BeatGrid

_SPINE = (JOINT["spine1"], JOINT["spine2"], JOINT["spine3"])
_BODY_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # body (x left, y up, z fwd)


@dataclass(frozen=True)
class SynthesisConfig:
    """Amplitude = energy_scale * clip(floor + gain * local loudness, 0, max_amplitude).

    hold_fraction : share of each hit-to-hit interval the pose rests at each of its two hits.
    groove_*      : a side-to-side sway under every move, turning round on each hit (pelvis shift and
                    spine side bend, times the amplitude), so every beat shows a stop even when a move
                    holds a pose there.
    """

    amplitude_floor: float = 0.7
    amplitude_gain: float = 0.6
    max_amplitude: float = 1.4
    energy_window_s: float = 0.25  # half-width of the loudness window around each keyframe
    hold_fraction: float = 0.2
    groove_sway_m: float = 0.03
    groove_side_bend_deg: float = 2.5  # per spine joint (three of them)


@dataclass(frozen=True)
class KeyTrack:
    """All keyframes of the dance in time order.

    times_s : (K,) seconds.  quaternions : (K, 24, 4) local, slot 0 = pelvis tilt.
    root_offset_m : (K, 3) world pelvis offset from the start spot.  yaw_deg : (K,) heading.
    support : (K, 2) bool (left, right planted).  hit : (K,) bool, rest on this keyframe.
    move_index : (K,) int, which placed move each keyframe belongs to.  amplitude : (K,) movement size.
    """

    times_s: np.ndarray
    quaternions: np.ndarray
    root_offset_m: np.ndarray
    yaw_deg: np.ndarray
    support: np.ndarray
    hit: np.ndarray
    move_index: np.ndarray
    amplitude: np.ndarray


def build_key_track(plan: tuple[PlacedMove, ...], library: MoveLibrary, grid: BeatGrid, analysis: MusicAnalysis,
                    energy_scale: float, config: SynthesisConfig = SynthesisConfig()) -> KeyTrack:
    """Place every move's keyframes on the beat grid, scaled by the local loudness."""
    neutral = neutral_rotations()
    times, rotations, offsets, yaws, supports, hits, owners, sizes = [], [], [], [], [], [], [], []
    anchor_m = np.zeros(3)
    anchor_yaw_deg = 0.0
    for index, item in enumerate(plan):
        move = library.by_name(item.name)
        move = move.mirrored() if item.mirrored else move
        keep = len(move.key_beats) - (0 if index == len(plan) - 1 else 1)  # the next move's first key replaces the end
        key_times = grid.beat_to_time_s(item.start_beat + move.key_beats[:keep])
        amplitude = energy_scale * _amplitude(analysis, key_times, config)
        delta = matrix_to_axis_angle(np.swapaxes(neutral, -1, -2) @ move.rotations[:keep]) * amplitude[:, None, None]
        rotations.append(neutral @ axis_angle_to_matrix(delta))
        offsets.append(anchor_m + (move.root_offset_m[:keep] * amplitude[:, None]) @ _BODY_TO_WORLD.T)
        yaws.append(anchor_yaw_deg + move.root_yaw_deg[:keep])
        times.append(key_times)
        supports.append(move.support[:keep])
        hits.append(np.isclose(move.key_beats[:keep], np.round(move.key_beats[:keep])))
        owners.append(np.full(keep, index))
        sizes.append(amplitude)
        anchor_m = anchor_m + move.travel_m @ _BODY_TO_WORLD.T
        anchor_yaw_deg += float(move.root_yaw_deg[-1])
    quats = _align_hemispheres(matrix_to_quaternion(np.concatenate(rotations)))
    return KeyTrack(np.concatenate(times), quats, np.concatenate(offsets), np.concatenate(yaws),
                    np.concatenate(supports), np.concatenate(hits), np.concatenate(owners), np.concatenate(sizes))


def _amplitude(analysis: MusicAnalysis, times_s: np.ndarray, config: SynthesisConfig) -> np.ndarray:
    """(K,) movement size at each keyframe from the RMS loudness around it (relative to the 95th percentile)."""
    rms = np.asarray(analysis.rms_energy, dtype=np.float64)
    if len(rms) == 0:
        return np.ones(len(times_s))
    cumulative = np.concatenate([[0.0], np.cumsum(rms)])
    half = max(1, int(round(config.energy_window_s * analysis.fps)))
    centre = np.clip(np.rint(times_s * analysis.fps).astype(int), 0, len(rms) - 1)
    lo, hi = np.clip(centre - half, 0, len(rms)), np.clip(centre + half + 1, 0, len(rms))
    local = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    relative = np.clip(local / (np.percentile(rms, 95) + 1e-6), 0.0, 1.0)
    return np.clip(config.amplitude_floor + config.amplitude_gain * relative, 0.0, config.max_amplitude)


def _align_hemispheres(quats: np.ndarray) -> np.ndarray:
    """Flip quaternion signs along K so consecutive keys lie on the same hemisphere (shortest paths)."""
    dots = np.sum(quats[1:] * quats[:-1], axis=-1)
    signs = np.concatenate([np.ones((1,) + dots.shape[1:]), np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)])
    return quats * signs[..., None]


def _path_velocities(times_s: np.ndarray, values: np.ndarray, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(incoming, outgoing) path velocities per key: Catmull-Rom at pass-through keys, one-sided chords at hits.

    The path only fixes *where* the pose goes; the hit-to-hit ease decides *when* (its speed is zero at hits),
    so chords at hits keep a hit-to-hit segment without off-beat keys a straight line.
    """
    shape = (-1,) + (1,) * (values.ndim - 1)
    chord = (values[1:] - values[:-1]) / np.maximum(np.diff(times_s), 1e-9).reshape(shape)
    incoming, outgoing = np.zeros_like(values), np.zeros_like(values)
    incoming[1:], outgoing[:-1] = chord, chord
    through = np.flatnonzero(~hit)
    through = through[(through > 0) & (through < len(times_s) - 1)]
    if len(through):
        span = (times_s[through + 1] - times_s[through - 1]).reshape(shape)
        catmull = (values[through + 1] - values[through - 1]) / span
        incoming[through], outgoing[through] = catmull, catmull
    return incoming, outgoing


@dataclass(frozen=True)
class HitClock:
    """Frame times re-timed between hits (see ``hit_clock``).

    phase_s : (T,) time on the key track each frame shows.  interval : (T,) index of the hit-to-hit
    interval (-1 before the first hit).  progress : (T,) eased 0 -> 1 across that interval.
    """

    phase_s: np.ndarray
    interval: np.ndarray
    progress: np.ndarray


def hit_clock(times_s: np.ndarray, hit: np.ndarray, frame_times_s: np.ndarray, hold_fraction: float) -> HitClock:
    """Eased time: each hit-to-hit interval is re-timed with a hold at both hits and a quintic ease between.

    The pose rests on each hit for ``hold_fraction`` of the shorter neighbouring interval on either side
    (the same on both sides, so the stop is centred on the beat), then accelerates to a speed peak
    mid-interval: speed minima land on the hits and nowhere else. The ease is symmetric, so an "and" key
    halfway between two hits keeps its time. Frames before the first key mirror the frames after it
    (the dancer arrives on the first beat); after the last key time runs on unchanged (the pose holds).
    """
    hits = np.flatnonzero(hit)
    hit_times = times_s[np.unique(np.concatenate([[0], hits, [len(times_s) - 1]]))]
    t = np.asarray(frame_times_s, dtype=np.float64)
    t = np.where(t < hit_times[0], 2 * hit_times[0] - t, t)
    if len(hit_times) < 2:
        return HitClock(t, np.zeros(len(t), np.int64), np.zeros(len(t)))
    gaps = np.diff(hit_times)
    hold = hold_fraction * np.minimum(np.append(gaps, gaps[-1]), np.insert(gaps, 0, gaps[0]))
    segment = np.clip(np.searchsorted(hit_times, t, side="right") - 1, 0, len(hit_times) - 2)
    start, duration = hit_times[segment], np.maximum(gaps[segment], 1e-9)
    moving = np.maximum(duration - hold[segment] - hold[segment + 1], 1e-9)
    x = np.clip((t - start - hold[segment]) / moving, 0.0, 1.0)
    eased = x ** 3 * (10 - 15 * x + 6 * x ** 2)
    return HitClock(np.where(t > hit_times[-1], t, start + eased * duration), segment, eased)


def interpolate(times_s: np.ndarray, values: np.ndarray, hit: np.ndarray, frame_times_s: np.ndarray,
                hold_fraction: float = 0.0, clock: HitClock | None = None) -> np.ndarray:
    """Sample keys at frame times: rest on hits, pass smoothly through the other keys, held outside them.

    The path through the keys is a quintic Hermite (zero acceleration at keys) with ``_path_velocities``,
    walked on the eased clock of ``hit_clock`` (pass ``clock`` to reuse one). values : (K, ...) ; returns (T, ...).
    """
    if len(times_s) < 2:
        return np.repeat(values[:1], len(frame_times_s), axis=0)
    phase = (clock or hit_clock(times_s, hit, frame_times_s, hold_fraction)).phase_s
    incoming, outgoing = _path_velocities(times_s, values, hit)
    segment = np.clip(np.searchsorted(times_s, phase, side="right") - 1, 0, len(times_s) - 2)
    duration = times_s[segment + 1] - times_s[segment]
    tau = np.clip((phase - times_s[segment]) / np.maximum(duration, 1e-9), 0.0, 1.0)
    t3, t4, t5 = tau ** 3, tau ** 4, tau ** 5
    shape = (-1,) + (1,) * (values.ndim - 1)
    h_p0 = (1 - 10 * t3 + 15 * t4 - 6 * t5).reshape(shape)
    h_v0 = ((tau - 6 * t3 + 8 * t4 - 3 * t5) * duration).reshape(shape)
    h_v1 = ((-4 * t3 + 7 * t4 - 3 * t5) * duration).reshape(shape)
    h_p1 = (10 * t3 - 15 * t4 + 6 * t5).reshape(shape)
    return (h_p0 * values[segment] + h_v0 * outgoing[segment] + h_v1 * incoming[segment + 1]
            + h_p1 * values[segment + 1])


@dataclass(frozen=True)
class FreeMotion:
    """The dance before foot locking: (T, 24, 3, 3) local rotations with world-up root, (T, 3) root offset,
    (T,) heading in radians and (T, 2) planted feet."""

    rotations: np.ndarray
    root_offset_m: np.ndarray
    yaw_rad: np.ndarray
    support: np.ndarray


def groove(clock: HitClock) -> np.ndarray:
    """(T,) side-to-side groove in [-1, 1]: +-1 on alternate hits, eased across each interval (0 mid-way)."""
    side = np.where(clock.interval % 2 == 0, 1.0, -1.0)
    return side * (1.0 - 2.0 * clock.progress)


def synthesize(track: KeyTrack, frame_times_s: np.ndarray, config: SynthesisConfig = SynthesisConfig()) -> FreeMotion:
    """Sample the key track at every frame on the hit clock and add the groove sway."""
    clock = hit_clock(track.times_s, track.hit, frame_times_s, config.hold_fraction)
    quats = interpolate(track.times_s, track.quaternions, track.hit, frame_times_s, clock=clock)
    rotations = quaternion_to_matrix(quats)
    sway = groove(clock) * np.interp(clock.phase_s, track.times_s, track.amplitude)
    bend = axis_angle_to_matrix(np.stack([np.zeros_like(sway), np.zeros_like(sway),
                                          np.radians(config.groove_side_bend_deg) * sway], axis=-1))
    for joint in _SPINE:
        rotations[:, joint] = rotations[:, joint] @ bend
    yaw_rad = np.radians(interpolate(track.times_s, track.yaw_deg, track.hit, frame_times_s, clock=clock))
    heading = euler_to_matrix(np.stack([np.zeros_like(yaw_rad), yaw_rad, np.zeros_like(yaw_rad)], axis=-1))
    rotations[:, 0] = UPRIGHT @ heading @ rotations[:, 0]
    offsets = interpolate(track.times_s, track.root_offset_m, track.hit, frame_times_s, clock=clock)
    offsets[:, 0] += config.groove_sway_m * sway
    nearest = np.clip(np.searchsorted(track.times_s, frame_times_s), 1, max(len(track.times_s) - 1, 1))
    before = np.abs(frame_times_s - track.times_s[nearest - 1]) <= np.abs(track.times_s[nearest] - frame_times_s)
    support = track.support[np.where(before, nearest - 1, nearest)]
    return FreeMotion(rotations, offsets, yaw_rad, support)
