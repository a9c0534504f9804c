"""Motion quality metrics on joint positions: beat alignment, jerk, foot skating, PFC, bone lengths.

Positions are (T, J, 3) metres, z up, on one frame clock. BAS follows Bailando's
``utils/beat_align_score.py`` (see ../shared/reference/metrics.md §1); PFC follows
EDGE's ``eval/eval_pfc.py`` (§4). BAS depends on the beat grid's phase on short
clips, so compare *aligned* against *shifted* beats instead of trusting one value.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from .skeleton import FOOT_CONTACT_JOINTS, PARENTS

DEFAULT_SHIFT_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75)


def kinetic_speed(joint_positions: np.ndarray) -> np.ndarray:
    """(T-1,) mean over joints of the per-frame displacement, metres per frame."""
    positions = np.asarray(joint_positions, dtype=np.float64)
    return np.linalg.norm(np.diff(positions, axis=0), axis=-1).mean(axis=-1)


def planar_points(points_px: np.ndarray) -> np.ndarray:
    """(T, J, 2) 2D keypoints -> (T, J, 3) float64 with z = 0, so the 3D metrics here read 2D dances (in pixels)."""
    points = np.asarray(points_px, dtype=np.float64)
    return np.concatenate([points, np.zeros((*points.shape[:-1], 1))], axis=-1)


def motion_beats(joint_positions: np.ndarray, smoothing_sigma_frames: float = 5.0) -> np.ndarray:
    """Frames of the strict local minima of the smoothed kinetic speed (the dancer's 'hits')."""
    smoothed = gaussian_filter1d(kinetic_speed(joint_positions), smoothing_sigma_frames)
    return argrelextrema(smoothed, np.less)[0]


def beat_align_score(joint_positions: np.ndarray, beat_frames: np.ndarray, sigma_frames: float = 3.0,
                     smoothing_sigma_frames: float = 5.0) -> float:
    """Bailando's Beat Align Score in [0, 1]: each music beat scored by its nearest motion beat.

    joint_positions : (T, J, 3) metres.  beat_frames : (N,) music beat frames (fractions allowed);
    beats outside [0, T-2] are ignored. sigma_frames = 3 (sigma^2 = 9) as in Bailando; frames,
    not seconds, so report fps with the value.
    """
    positions = np.asarray(joint_positions, dtype=np.float64)
    beats = np.asarray(beat_frames, dtype=np.float64)
    beats = beats[(beats >= 0) & (beats <= len(positions) - 2)]
    found = motion_beats(positions, smoothing_sigma_frames)
    if len(beats) == 0 or len(found) == 0:
        return 0.0
    nearest = np.min(np.abs(beats[:, None] - found[None, :]), axis=1)
    return float(np.mean(np.exp(-nearest ** 2 / (2 * sigma_frames ** 2))))


def shifted_beat_frames(beat_frames: np.ndarray, fraction: float) -> np.ndarray:
    """Beats moved later by ``fraction`` of the local beat period (the last beat uses the previous period)."""
    beats = np.asarray(beat_frames, dtype=np.float64)
    if len(beats) < 2:
        return beats.copy()
    period = np.diff(beats)
    return beats + fraction * np.append(period, period[-1])


def shifted_beat_align_scores(joint_positions: np.ndarray, beat_frames: np.ndarray,
                              fractions: tuple[float, ...] = DEFAULT_SHIFT_FRACTIONS, sigma_frames: float = 3.0,
                              smoothing_sigma_frames: float = 5.0) -> dict[float, float]:
    """BAS against the beats shifted by each fraction of a beat; key 0.0 holds the aligned score."""
    return {fraction: beat_align_score(joint_positions, shifted_beat_frames(beat_frames, fraction), sigma_frames,
                                       smoothing_sigma_frames) for fraction in (0.0,) + tuple(fractions)}


def jerk_profile(joint_positions: np.ndarray, fps: float) -> np.ndarray:
    """(T,) mean over joints of |d^3 x / dt^3|, m/s^3, centred third differences (zero at the 2 edge frames)."""
    positions = np.asarray(joint_positions, dtype=np.float64)
    profile = np.zeros(len(positions))
    if len(positions) >= 4:
        third = np.diff(positions, n=3, axis=0) * fps ** 3
        profile[1:-2] = np.linalg.norm(third, axis=-1).mean(axis=-1)
    return profile


def max_jerk_at(joint_positions: np.ndarray, fps: float, frames: np.ndarray, radius_frames: int = 2) -> float:
    """Largest jerk (m/s^3, joint mean) within ``radius_frames`` of any of ``frames``; 0 if none."""
    profile = jerk_profile(joint_positions, fps)
    near = np.zeros(len(profile), dtype=bool)
    for frame in np.asarray(frames, dtype=np.int64):
        near[max(0, frame - radius_frames):max(0, frame + radius_frames + 1)] = True
    return float(profile[near].max()) if near.any() else 0.0


def foot_skating_m_per_s(joint_positions: np.ndarray, contacts: np.ndarray, fps: float) -> float:
    """Mean horizontal speed (m/s) of foot joints (7, 8, 10, 11) between consecutive frames both in contact.

    contacts : (T, 4) in [0, 1], channel order of ``FOOT_CONTACT_JOINTS``; > 0.5 means planted.
    """
    feet = np.asarray(joint_positions, dtype=np.float64)[:, FOOT_CONTACT_JOINTS, :2]
    planted = np.asarray(contacts) > 0.5
    both = planted[1:] & planted[:-1]
    if not both.any():
        return 0.0
    speed = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * fps
    return float(speed[both].mean())


def physical_foot_contact(joint_positions: np.ndarray, fps: float) -> float:
    """EDGE's PFC for one sequence, times 10^4 as EDGE reports it (lower is better).

    Normalised root acceleration (up part clamped >= 0) times the product of the two feet's
    horizontal speeds (each the slower of ankle and toe), averaged over frames.
    """
    positions = np.asarray(joint_positions, dtype=np.float64)
    if len(positions) < 3:
        return 0.0
    root_velocity = np.diff(positions[:, 0], axis=0) * fps
    root_accel = np.diff(root_velocity, axis=0) * fps
    root_accel[:, 2] = np.maximum(root_accel[:, 2], 0.0)
    accel = np.linalg.norm(root_accel, axis=-1)
    accel = accel / accel.max() if accel.max() > 0 else accel
    feet = positions[:, [7, 10, 8, 11], :2]
    foot_speed = np.linalg.norm(feet[2:] - feet[1:-1], axis=-1) * fps
    left = np.minimum(foot_speed[:, 0], foot_speed[:, 1])
    right = np.minimum(foot_speed[:, 2], foot_speed[:, 3])
    return float(np.mean(left * right * accel) * 1e4)


def bone_length_std_m(joint_positions: np.ndarray) -> float:
    """Largest standard deviation over time of any SMPL bone's length, metres (0 for FK output)."""
    positions = np.asarray(joint_positions, dtype=np.float64)
    children = np.arange(1, positions.shape[1])
    parents = np.array(PARENTS)[children]
    lengths = np.linalg.norm(positions[:, children] - positions[:, parents], axis=-1)
    return float(lengths.std(axis=0).max())


def longest_similar_bar_run(joint_positions: np.ndarray, downbeat_frames: np.ndarray, tolerance_m: float) -> int:
    """Longest run of consecutive bars whose root-relative joint trajectories lie within ``tolerance_m``.

    Each bar (downbeat to downbeat) is resampled to the shorter bar's length and compared by RMS joint
    distance; a run of n near-identical bars is what a viewer sees as the same move n times. 1 means no
    bar repeats its neighbour.
    """
    positions = np.asarray(joint_positions, dtype=np.float64)
    relative = positions - positions[:, :1]
    bounds = [int(f) for f in np.asarray(downbeat_frames) if 0 <= f < len(positions)] + [len(positions)]
    bars = [relative[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= 2]
    best = run = 1
    for before, after in zip(bars[:-1], bars[1:]):
        length = min(len(before), len(after))
        a = before[np.linspace(0, len(before) - 1, length).round().astype(int)]
        b = after[np.linspace(0, len(after) - 1, length).round().astype(int)]
        run = run + 1 if np.sqrt(((a - b) ** 2).sum(axis=-1).mean()) < tolerance_m else 1
        best = max(best, run)
    return best
