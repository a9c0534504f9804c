"""Which bars of a plan look alike: root-relative joint paths sampled from the moves' keyframes.

Different move names can dance the same shape (a bounce and a clap bounce, a sway and a rise), and
three such bars in a row read as one move repeated. A bar's shape is set by the keys of the moves
covering it; the dance adds loudness scaling, the groove and foot locking on top, which differ little
from bar to bar. So each move's path is computed once per library (``MoveLibrary.paths``) and a bar's path
is cut from the paths of the moves that cover it. The distance is that of
``metrics.longest_similar_bar_run``, which measures the same thing on the finished dance.

Example::

    path = bar_path(plan, bar_start=8, beats_per_bar=4, paths=library.paths)
    bar_distance_m(path, bar_path(plan, 12, 4, library.paths))   # < 0.05: the same move twice
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..rotations import euler_to_matrix, matrix_to_quaternion, quaternion_to_matrix, slerp
from ..skeleton import Skeleton, forward_kinematics

if TYPE_CHECKING:
    from .moves import Move
    from .planner import PlacedMove

SAMPLES_PER_BEAT = 4


def move_paths(moves: Sequence["Move"], skeleton: Skeleton | None = None) -> list[np.ndarray]:
    """Each move's joint positions relative to the pelvis, ``SAMPLES_PER_BEAT`` samples per beat.

    Keys are slerped per joint, the heading interpolated linearly (spins keep turning); the root
    offset is left out, as a travelling bar looks like the same bar danced on the spot. One forward
    kinematics pass for all moves (a library's paths take a fraction of a second).
    returns : per move (beats * SAMPLES_PER_BEAT, 24, 3) float64 metres, SMPL frame (y up, facing +z at yaw 0).
    """
    skeleton = skeleton or Skeleton.default()
    first_key = np.cumsum([0] + [len(move.key_beats) for move in moves])
    keys, weights, yaws, lengths = [], [], [], []
    for move, offset in zip(moves, first_key):
        beats = np.arange(move.beats * SAMPLES_PER_BEAT) / SAMPLES_PER_BEAT
        segment = np.clip(np.searchsorted(move.key_beats, beats, side="right") - 1, 0, len(move.key_beats) - 2)
        keys.append(offset + segment)
        weights.append((beats - move.key_beats[segment]) / (move.key_beats[segment + 1] - move.key_beats[segment]))
        yaws.append(np.interp(beats, move.key_beats, move.root_yaw_deg))
        lengths.append(len(beats))
    key, weight, yaw_rad = np.concatenate(keys), np.concatenate(weights), np.radians(np.concatenate(yaws))
    quats = matrix_to_quaternion(np.concatenate([move.rotations for move in moves]))
    rotations = quaternion_to_matrix(slerp(quats[key], quats[key + 1], weight[:, None]))
    heading = euler_to_matrix(np.stack([np.zeros_like(yaw_rad), yaw_rad, np.zeros_like(yaw_rad)], axis=-1))
    rotations[:, 0] = heading @ rotations[:, 0]
    positions = forward_kinematics(skeleton, rotations, np.zeros((len(rotations), 3)))
    return np.split(positions - positions[:, :1], np.cumsum(lengths)[:-1])


def bar_path(plan: Sequence["PlacedMove"], bar_start: int, beats_per_bar: int,
             paths: dict[tuple[str, bool], np.ndarray]) -> np.ndarray | None:
    """The path of the bar starting at beat ``bar_start``, cut from the moves covering it.

    plan  : placed moves, contiguous and sorted by start beat.  paths : ``MoveLibrary.paths``.
    returns : (beats_per_bar * SAMPLES_PER_BEAT, 24, 3) metres, or None where the plan does not cover the bar.
    """
    beats = bar_start + np.arange(beats_per_bar * SAMPLES_PER_BEAT) / SAMPLES_PER_BEAT
    pieces = []
    for item in plan:
        inside = (beats >= item.start_beat) & (beats < item.start_beat + item.beats)
        if inside.any():
            rows = np.rint((beats[inside] - item.start_beat) * SAMPLES_PER_BEAT).astype(int)
            pieces.append(paths[(item.name, item.mirrored)][rows])
    path = np.concatenate(pieces) if pieces else np.empty((0, 24, 3))
    return path if len(path) == len(beats) else None


def bar_distance_m(first: np.ndarray, second: np.ndarray) -> float:
    """RMS joint distance between two bar paths of equal length, metres (as ``metrics.longest_similar_bar_run``)."""
    return float(np.sqrt(((first - second) ** 2).sum(axis=-1).mean()))
