"""Turn a move plan into per-frame joint rotations: keyframes on real beat times, eased from hit to hit.

Every whole-beat keyframe is a *hit*: the pose is reached exactly on the beat, where the body's speed
dips to its minimum (``hit_stop`` of the speed is shed, eased over the interval, never a freeze), and
the speed peaks mid-interval (what the Beat Align Score looks for; ``hit_clock``). Off-beat keyframes
("and" counts) lie on the path, which passes through every key with Catmull-Rom velocities, so the
motion flows through hits instead of stopping dead; the symmetric ease keeps an "and" halfway between
hits on its time. Under every move runs a groove scaled by loudness, energy and the move's style: a
pelvis bounce once per hit (knees bend through foot locking), a side-to-side weight shift, an arm
swing turning round on the hits, and, where the move keeps both feet planted, a step: the foot the weight
leaves lifts and lands again on the next hit. Interpolation runs on unit quaternions for all joints and frames at
once (quintic Hermite on aligned quaternions, then renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ...music.analysis import MusicAnalysis
from ..joint_limits import clamp_to_joint_limits
from ..rotations import (axis_angle_to_matrix, euler_to_matrix, low_pass_rotations, matrix_to_axis_angle,
                         matrix_to_quaternion, quaternion_to_matrix)
from ..skeleton import JOINT, UPRIGHT
from .moves import MoveLibrary, neutral_rotations
from .planner import PlacedMove
from .timing import BeatGrid

_SPINE = (JOINT["spine1"], JOINT["spine2"], JOINT["spine3"])
_SHOULDERS = (JOINT["left_shoulder"], JOINT["right_shoulder"])
_ELBOWS = (JOINT["left_elbow"], JOINT["right_elbow"])
_LEGS = ((JOINT["left_hip"], JOINT["left_knee"]), (JOINT["right_hip"], JOINT["right_knee"]))
_BODY_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # body (x left, y up, z fwd)


@dataclass(frozen=True)
class SynthesisConfig:
    """Amplitude = energy_scale * clip(floor + gain * local loudness, 0, max_amplitude) * tempo factor.

    tempo factor  : min(1, hit interval / full_size_interval_s): dancers make smaller moves on fast hits.

    hold_fraction : share of each hit-to-hit interval the pose rests at each of its two hits (0: no freeze).
    turn_hold_fraction : the same for the heading, which stops dead on hits and rests there (feet planted
                    on a hit do not pivot).
    hit_stop      : share of the mean speed shed on each hit, in [0, 1] (1 = the body stops dead on the beat).
    hit_sharpness : in [0, 1], 0 a plain cosine speed dip, 1 a soft rest around each hit (``hit_clock``).
    crisp_*       : hits faster than ``crisp_below_interval_s`` apart rest briefly (``hit_clock``).
    inertia_s     : sigma (seconds) of a Gaussian low-pass on every joint's rotation track and on the pelvis
                    path: a body's inertia rounds off the eased clock's sharp corners and the take-off of
                    jumps, which otherwise put the peak jerk above every AIST++ dance (bench/bench_choreography.py).
    amplitude_floor, max_amplitude : the library's keys are drawn at a modest size; danced at 1.2-1.7x
                    of it the mean joint speed comes nearer real dance (AIST++ break 1.28 m/s).
    max_root_amplitude : the pelvis offsets (dips, lunges) grow less, so a planted foot stays in reach.
    groove_*      : the groove under every move, times the amplitude and the move's style factor
                    (``groove_by_style``, 1 if unlisted): a side-to-side sway turning round on each hit
                    (pelvis shift, spine side bend, arms swinging forward and back in opposition) and a
                    bounce once per hit (pelvis dip mid-interval, chest and elbows pumping with it).
    groove_step_* : the step under moves that keep both feet planted from hit to hit (``step_lift``): as the
                    sway carries the weight to one foot, the other lifts (hip and knee flexion) and lands on
                    the next hit, so the legs keep moving as a dancer's do (AIST++ break: feet and knees
                    1.7 m/s mean, the choreographer without steps 0.5). Hits closer than
                    ``groove_step_full_interval_s`` lift lower, (interval / full)^2, as ``bounce`` does.
    """

    amplitude_floor: float = 1.2
    amplitude_gain: float = 0.6
    max_amplitude: float = 1.7
    max_root_amplitude: float = 1.2
    energy_window_s: float = 0.25  # half-width of the loudness window around each keyframe
    full_size_interval_s: float = 0.5  # moves on faster hits shrink in proportion (speed stays, jerk eases)
    hold_fraction: float = 0.0
    turn_hold_fraction: float = 0.2
    hit_stop: float = 0.7
    hit_sharpness: float = 0.5
    crisp_hold_fraction: float = 0.1
    crisp_below_interval_s: float = 0.55
    groove_sway_m: float = 0.1
    groove_side_bend_deg: float = 5.0  # per spine joint (three of them)
    groove_bounce_m: float = 0.1      # pelvis dip mid-way between hits
    groove_bounce_full_interval_s: float = 0.8  # faster hits bounce shallower (``bounce``)
    groove_chest_pump_deg: float = 6.0  # spine1 forward bend with the dip
    groove_arm_swing_deg: float = 60.0  # shoulders, forward / back, opposite arms
    groove_elbow_pump_deg: float = 40.0  # elbow flexion with the dip
    groove_by_style: tuple[tuple[str, float], ...] = (
        ("hiphop", 1.0), ("house", 1.0), ("disco", 0.85), ("pop", 0.8), ("latin", 0.8), ("waltz", 0.3))
    inertia_s: float = 2 / 30
    groove_step_scale: float = 1.0  # 0: no groove steps (both feet stay as the moves plant them)
    groove_step_hip_deg: float = 45.0  # at the top of a step, with the knee: ~20 cm lift, ~12 over the bounce
    groove_step_knee_deg: float = 80.0
    groove_step_out_deg: float = 20.0  # hip abduction at the top: the foot taps out to the side and back in
    groove_step_full_interval_s: float = 0.6
    groove_step_max_s: float = 0.45  # the longest a foot stays up; on slow hits it lifts late, lands on the hit
    groove_step_land_fraction: float = 0.1  # the foot is down this share of the interval before the hit


@dataclass(frozen=True)
class KeyTrack:
    """All keyframes of the dance in time order.

    times_s : (K,) seconds.  quaternions : (K, 24, 4) local, slot 0 = pelvis tilt.
    root_offset_m : (K, 3) world pelvis offset from the start spot.  yaw_deg : (K,) heading.
    support : (K, 2) bool (left, right planted).  hit : (K,) bool, slow down on this keyframe.
    move_index : (K,) int, which placed move each keyframe belongs to.  amplitude : (K,) movement size.
    groove : (K,) groove size (amplitude times the move style's groove factor).
    """

    times_s: np.ndarray
    quaternions: np.ndarray
    root_offset_m: np.ndarray
    yaw_deg: np.ndarray
    support: np.ndarray
    hit: np.ndarray
    move_index: np.ndarray
    amplitude: np.ndarray
    groove: np.ndarray


def build_key_track(plan: tuple[PlacedMove, ...], library: MoveLibrary, grid: BeatGrid, analysis: MusicAnalysis,
                    energy_scale: float, config: SynthesisConfig = SynthesisConfig()) -> KeyTrack:
    """Place every move's keyframes on the beat grid, scaled by the local loudness."""
    neutral = neutral_rotations()
    style_groove = dict(config.groove_by_style)
    grooves = []
    times, rotations, offsets, yaws, supports, hits, owners, sizes = [], [], [], [], [], [], [], []
    anchor_m = np.zeros(3)
    anchor_yaw_deg = 0.0
    for index, item in enumerate(plan):
        move = library.by_name(item.name)
        move = move.mirrored() if item.mirrored else move
        keep = len(move.key_beats) - (0 if index == len(plan) - 1 else 1)  # the next move's first key replaces the end
        key_times = grid.beat_to_time_s(item.start_beat + move.key_beats[:keep])
        start = min(item.start_beat, len(grid.times_s) - 2)
        interval_s = float(grid.times_s[start + 1] - grid.times_s[start])
        amplitude = energy_scale * _amplitude(analysis, key_times, config) * min(
            1.0, interval_s / config.full_size_interval_s)
        delta = matrix_to_axis_angle(np.swapaxes(neutral, -1, -2) @ move.rotations[:keep]) * amplitude[:, None, None]
        rotations.append(neutral @ axis_angle_to_matrix(delta))
        offsets.append(anchor_m + (move.root_offset_m[:keep] * np.minimum(amplitude, config.max_root_amplitude)[:, None])
                       @ _BODY_TO_WORLD.T)
        yaws.append(anchor_yaw_deg + move.root_yaw_deg[:keep])
        times.append(key_times)
        supports.append(move.support[:keep])
        hits.append(np.isclose(move.key_beats[:keep], np.round(move.key_beats[:keep])))
        owners.append(np.full(keep, index))
        sizes.append(amplitude)
        grooves.append(amplitude * style_groove.get(move.style, 1.0))
        anchor_m = anchor_m + move.travel_m @ _BODY_TO_WORLD.T
        anchor_yaw_deg += float(move.root_yaw_deg[-1])
    # Keys inside the joint ranges keep the path inside them: a clamp of the sampled frames alone would
    # cut corners off it (a jolt wherever a loud, scaled-up key overshoots an elbow or knee).
    quats = _align_hemispheres(matrix_to_quaternion(clamp_to_joint_limits(np.concatenate(rotations))))
    return KeyTrack(np.concatenate(times), quats, np.concatenate(offsets), np.concatenate(yaws),
                    np.concatenate(supports), np.concatenate(hits), np.concatenate(owners), np.concatenate(sizes),
                    np.concatenate(grooves))


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


def _path_velocities(times_s: np.ndarray, values: np.ndarray, still: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(incoming, outgoing) path velocities per key: limited Catmull-Rom through keys, chords at ``still`` keys.

    The path only fixes *where* the pose goes; the hit clock decides *when* (its speed dips at hits). A
    velocity shared by both sides of a key keeps the motion flowing through it; chords at the ``still``
    keys (K,) bool keep a segment between two of them a straight line, so equal keys hold still there.
    """
    shape = (-1,) + (1,) * (values.ndim - 1)
    chord = (values[1:] - values[:-1]) / np.maximum(np.diff(times_s), 1e-9).reshape(shape)
    incoming, outgoing = np.zeros_like(values), np.zeros_like(values)
    incoming[1:], outgoing[:-1] = chord, chord
    through = np.arange(1, len(times_s) - 1)
    if still is not None:
        through = through[~still[through]]
    if len(through):
        span = (times_s[through + 1] - times_s[through - 1]).reshape(shape)
        catmull = (values[through + 1] - values[through - 1]) / span
        # Monotone limiter (Fritsch-Carlson): a key where a value turns round gets zero velocity there, and no
        # velocity exceeds three times the gentler neighbouring chord, so the path never overshoots a key.
        before, after = chord[through - 1], chord[through]
        bound = 3.0 * np.minimum(np.abs(before), np.abs(after))
        velocity = np.where(before * after > 0, np.clip(catmull, -bound, bound), 0.0)
        incoming[through], outgoing[through] = velocity, velocity
    return incoming, outgoing


@dataclass(frozen=True)
class HitClock:
    """Frame times re-timed between hits (see ``hit_clock``).

    phase_s : (T,) time on the key track each frame shows.  interval : (T,) index of the hit-to-hit
    interval (-1 before the first hit).  progress : (T,) eased 0 -> 1 across that interval.
    linear : (T,) the same, uneased (the share of the interval's time gone by).  duration_s : (T,) its length.
    """

    phase_s: np.ndarray
    interval: np.ndarray
    progress: np.ndarray
    linear: np.ndarray
    duration_s: np.ndarray


def hit_clock(times_s: np.ndarray, hit: np.ndarray, frame_times_s: np.ndarray, hold_fraction: float,
              hit_stop: float = 1.0, hit_sharpness: float = 1.0, crisp_hold_fraction: float = 0.0,
              crisp_below_interval_s: float = 0.0) -> HitClock:
    """Eased time: each hit-to-hit interval is re-timed so the speed dips on its hits and peaks mid-way.

    hit_stop : the share of the mean speed shed on each hit (1 = stops for an instant).
    hit_sharpness : in [0, 1], how long the slow-down around each hit lasts (see ``_eased``).
    crisp_hold_fraction, crisp_below_interval_s : hits closer than ``crisp_below_interval_s`` rest a little
    (up to ``crisp_hold_fraction`` more, ramping in over 0.15 s), so fast hits stay distinct stops.
    Between optional holds of ``hold_fraction`` of the shorter neighbouring interval (centred on the hit)
    the clock's speed eases from ``1 - hit_stop`` on one hit to the same on the next with zero slope at
    both (``_eased``), peaking in between; without holds speed and acceleration are continuous across
    hits (no freeze, no jolt). The ease is symmetric, so an "and" key halfway between two hits keeps its
    time. The first and last keys are full stops; frames before the first key mirror the frames after it
    (the dancer arrives on the first beat); after the last key time runs on unchanged.
    """
    hits = np.unique(np.concatenate([[0], np.flatnonzero(hit), [len(times_s) - 1]]))
    hit_times = times_s[hits]
    t = np.asarray(frame_times_s, dtype=np.float64)
    t = np.where(t < hit_times[0], 2 * hit_times[0] - t, t)
    if len(hit_times) < 2:
        return HitClock(t, np.zeros(len(t), np.int64), np.zeros(len(t)), np.zeros(len(t)), np.ones(len(t)))
    gaps = np.diff(hit_times)
    shorter = np.minimum(np.append(gaps, gaps[-1]), np.insert(gaps, 0, gaps[0]))
    crisp = crisp_hold_fraction * np.clip((crisp_below_interval_s - shorter) / 0.15, 0.0, 1.0)
    hold = (hold_fraction + crisp) * shorter
    segment = np.clip(np.searchsorted(hit_times, t, side="right") - 1, 0, len(hit_times) - 2)
    start, duration = hit_times[segment], np.maximum(gaps[segment], 1e-9)
    moving = np.maximum(duration - hold[segment] - hold[segment + 1], 1e-9)
    x = np.clip((t - start - hold[segment]) / moving, 0.0, 1.0)
    stops = np.full(len(hit_times), float(hit_stop))
    stops[[0, -1]] = 1.0
    eased = _eased(x, stops[segment], stops[segment + 1], hit_sharpness)
    linear = np.clip((t - start) / duration, 0.0, 1.0)
    return HitClock(np.where(t > hit_times[-1], t, start + eased * duration), segment, eased, linear, duration)


def _eased(x: np.ndarray, stop_start: np.ndarray, stop_end: np.ndarray, sharpness: float) -> np.ndarray:
    """0 -> 1 over x in [0, 1]: speed ``1 - stop_start`` at 0 and ``1 - stop_end`` at 1 with zero slope at both,
    mean 1, peak in between, smooth everywhere.

    Speed ``1 - s0 (1 + cos pi x) / 2 - s1 (1 - cos pi x) / 2 + (s0 + s1) / 2 * dip(x)`` with the dip (mean 1,
    zero at both ends) ``(1 - sharpness) (1 - cos 2 pi x) + sharpness (1 - cos 2 pi x)^2 / 1.5``: the squared
    term grows like x^4 off the ends, a soft rest around the hit (a clearer stop) without a freeze's jolt;
    its peak speed (2.67) stays below that of a 20 % hold's quintic (3.1), the plain cosine's (2) lower still.
    """
    half_wave = np.sin(np.pi * x) / (2 * np.pi)
    cosine = x - np.sin(2 * np.pi * x) / (2 * np.pi)
    squared = (1.5 * x - np.sin(2 * np.pi * x) / np.pi + np.sin(4 * np.pi * x) / (8 * np.pi)) / 1.5
    dip = (1.0 - sharpness) * cosine + sharpness * squared
    return (x - stop_start * (x / 2 + half_wave) - stop_end * (x / 2 - half_wave)
            + (stop_start + stop_end) / 2 * dip)


def interpolate(times_s: np.ndarray, values: np.ndarray, hit: np.ndarray, frame_times_s: np.ndarray,
                hold_fraction: float = 0.0, clock: HitClock | None = None, still_on_hits: bool = False) -> np.ndarray:
    """Sample keys at frame times: slow down on hits, pass smoothly through every key, held outside them.

    The path through the keys is a quintic Hermite (zero acceleration at keys) with ``_path_velocities``,
    walked on the eased clock of ``hit_clock`` (pass ``clock`` to reuse one); ``still_on_hits`` takes chords at
    hits, so a value keyed equal on two hits stays still between them. values : (K, ...) ; returns (T, ...).
    """
    if len(times_s) < 2:
        return np.repeat(values[:1], len(frame_times_s), axis=0)
    phase = (clock or hit_clock(times_s, hit, frame_times_s, hold_fraction)).phase_s
    incoming, outgoing = _path_velocities(times_s, values, hit if still_on_hits else None)
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


def _turning_through(yaw_deg: np.ndarray) -> np.ndarray:
    """(K,) bool: keys inside a turn, where the heading keeps turning the same way on both sides."""
    step = np.diff(yaw_deg)
    through = np.zeros(len(yaw_deg), dtype=bool)
    through[1:-1] = step[:-1] * step[1:] > 0
    return through


def groove(clock: HitClock) -> np.ndarray:
    """(T,) side-to-side groove in [-1, 1]: +-1 on alternate hits, turning round there with zero speed."""
    side = np.where(clock.interval % 2 == 0, 1.0, -1.0)
    return side * np.cos(np.pi * clock.linear)


def bounce(clock: HitClock, full_depth_interval_s: float) -> np.ndarray:
    """(T,) bounce depth in [0, 1], once per hit interval: 0 on the hits, deepest mid-way, zero speed at both.

    Hits closer than ``full_depth_interval_s`` bounce shallower, (interval / full)^2, as dancers do: the
    bounce's acceleration stays that of the full-depth tempo, and its own turn-round mid-way never
    outweighs the stop on the beat.
    """
    depth = np.minimum(1.0, (clock.duration_s / full_depth_interval_s) ** 2)
    return depth * 0.5 * (1.0 - np.cos(2 * np.pi * clock.linear))


def step_lift(clock: HitClock, both_planted: np.ndarray, max_lift_s: float, land_fraction: float,
              full_height_interval_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(T,) lift height in [0, 1] and (T,) which foot lifts (0 left, 1 right) for the groove's step.

    A step happens in each hit interval whose frames all keep both feet planted: the foot the sway
    leaves (left while the weight moves right, on even intervals as ``groove`` sways) rises on a
    sin^2 bump and is down again ``land_fraction`` of the interval before the next hit, so it lands
    on the beat with zero speed. It is up at most ``max_lift_s``; faster hits lift lower,
    (interval / full_height_interval_s)^2, keeping the foot's acceleration that of the full-height tempo.
    """
    interval = clock.interval
    lift = np.zeros(len(interval))
    if len(interval) == 0:
        return lift, np.zeros(len(interval), np.int64)
    ids = interval - interval.min()
    stepping = np.bincount(ids, weights=~both_planted) == 0  # every frame of the interval planted on both feet
    up_s = np.minimum((1.0 - land_fraction) * clock.duration_s, max_lift_s)
    rise = (clock.linear * clock.duration_s - ((1.0 - land_fraction) * clock.duration_s - up_s)) / up_s
    inside = (rise > 0.0) & (rise < 1.0) & stepping[ids] & (interval >= 0)
    height = np.minimum(1.0, (clock.duration_s / full_height_interval_s) ** 2)
    lift[inside] = (height * np.sin(np.pi * rise) ** 2)[inside]
    return lift, (interval % 2 != 0).astype(np.int64)


def _about(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by ``angle_rad`` (T,) about the local x (0), y (1) or z (2) axis."""
    vector = np.zeros(angle_rad.shape + (3,))
    vector[..., axis] = angle_rad
    return axis_angle_to_matrix(vector)


def synthesize(track: KeyTrack, frame_times_s: np.ndarray, config: SynthesisConfig = SynthesisConfig()) -> FreeMotion:
    """Sample the key track at every frame on the hit clock and add the groove (sway, bounce, arm swing)."""
    clock = hit_clock(track.times_s, track.hit, frame_times_s, config.hold_fraction, config.hit_stop,
                      config.hit_sharpness, config.crisp_hold_fraction, config.crisp_below_interval_s)
    quats = interpolate(track.times_s, track.quaternions, track.hit, frame_times_s, clock=clock)
    rotations = quaternion_to_matrix(quats)
    # The groove fades in over the first hit interval, so the dance starts from the neutral stance.
    fade = np.clip((np.asarray(frame_times_s) - track.times_s[0]) / clock.duration_s[0], 0.0, 1.0)
    size = np.interp(clock.phase_s, track.times_s, track.groove) * fade * fade * (3 - 2 * fade)
    sway, dip = groove(clock) * size, bounce(clock, config.groove_bounce_full_interval_s) * size
    bend = _about(2, np.radians(config.groove_side_bend_deg) * sway)
    for joint in _SPINE:
        rotations[:, joint] = rotations[:, joint] @ bend
    rotations[:, _SPINE[0]] = rotations[:, _SPINE[0]] @ _about(0, np.radians(config.groove_chest_pump_deg) * dip)
    # The swing turns the whole arm about the body's left-right axis in the collar frame (pre-multiplied):
    # -x swings a hanging arm forward. The left arm swings forward as the weight goes right, as in walking.
    swing = np.radians(config.groove_arm_swing_deg) * sway
    for joint, sign in zip(_SHOULDERS, (1.0, -1.0)):
        rotations[:, joint] = _about(0, sign * swing) @ rotations[:, joint]
    pump = np.radians(config.groove_elbow_pump_deg) * dip
    for joint, sign in zip(_ELBOWS, (-1.0, 1.0)):  # left elbow flexion is -y, the right mirrors it
        rotations[:, joint] = rotations[:, joint] @ _about(1, sign * pump)
    # Turns stop dead where they start and end, so a foot planted there pivots only while the heading is
    # still; a spin keyed over several hits flows through them as one turn.
    turn_stops = track.hit & ~_turning_through(track.yaw_deg)
    turn_clock = hit_clock(track.times_s, turn_stops, frame_times_s, config.turn_hold_fraction, 1.0)
    yaw_rad = np.radians(interpolate(track.times_s, track.yaw_deg, turn_stops, frame_times_s, clock=turn_clock,
                                     still_on_hits=True))
    heading = euler_to_matrix(np.stack([np.zeros_like(yaw_rad), yaw_rad, np.zeros_like(yaw_rad)], axis=-1))
    rotations[:, 0] = UPRIGHT @ heading @ rotations[:, 0]
    nearest = np.clip(np.searchsorted(track.times_s, frame_times_s), 1, max(len(track.times_s) - 1, 1))
    before = np.abs(frame_times_s - track.times_s[nearest - 1]) <= np.abs(track.times_s[nearest] - frame_times_s)
    support = track.support[np.where(before, nearest - 1, nearest)].copy()
    lift, lifting = step_lift(clock, support.all(axis=1), config.groove_step_max_s, config.groove_step_land_fraction,
                              config.groove_step_full_interval_s)
    lift *= size * config.groove_step_scale
    for side, (hip, knee) in enumerate(_LEGS):
        on = lift * (lifting == side)
        # Hip flexion is -x and knee flexion +x in both legs' local frames (the body faces -y); abduction
        # is +z for the left hip and -z for the right.
        out = np.radians(config.groove_step_out_deg) * on * (1.0 if side == 0 else -1.0)
        rotations[:, hip] = rotations[:, hip] @ _about(2, out) @ _about(0, -np.radians(config.groove_step_hip_deg) * on)
        rotations[:, knee] = rotations[:, knee] @ _about(0, np.radians(config.groove_step_knee_deg) * on)
        support[on > 0, side] = False
    frame_period_s = float(np.median(np.diff(frame_times_s))) if len(frame_times_s) > 1 else 1.0
    # Clamped before the low-pass, so a groove pushing a joint into its limit is rounded off there instead of
    # meeting the final clamp in ``choreograph`` as a corner (a jerk spike).
    rotations = low_pass_rotations(clamp_to_joint_limits(rotations), config.inertia_s / frame_period_s)
    offsets = interpolate(track.times_s, track.root_offset_m, track.hit, frame_times_s, clock=clock)
    offsets[:, 0] += config.groove_sway_m * sway
    offsets[:, 2] -= config.groove_bounce_m * dip
    if config.inertia_s > 0 and len(offsets) > 1:
        offsets = gaussian_filter1d(offsets, config.inertia_s / frame_period_s, axis=0, mode="nearest")
    return FreeMotion(rotations, offsets, yaw_rad, support)
