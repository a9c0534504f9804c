"""The beat choreographer: Choreo's built-in, weight-free dance generator.

``plan_choreography`` picks moves from the JSON move library per 8-count phrase;
``choreograph`` lays their keyframes on the real beat times, interpolates, locks
the planted feet, clamps every joint to its anatomical range (``joint_limits``) and
returns a ``Motion3D``. Deterministic for a given seed.

Example::

    motion = choreograph(analysis, seed=3, style="pop")
    plan = plan_choreography(analysis, seed=3, style="pop")   # what the editor shows
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ...errors import MotionInputError
from ...music.analysis import MusicAnalysis
from ...timeline import frame_times_s
from ..joint_limits import clamp_to_joint_limits
from ..motion3d import Motion3D
from ..skeleton import FOOT_CONTACT_JOINTS, JOINT, UPRIGHT, Skeleton
from .foot_lock import floor_ankle_height_m, lock_feet, world_transforms
from .keep import blend_into_kept
from .moves import LIBRARY_DIR, Move, MoveLibrary, load_library, neutral_rotations
from .planner import MIXED, PlacedMove, PlannerConfig, check_style, plan_choreography
from .synthesis import SynthesisConfig, build_key_track, synthesize
from .timing import beat_grid

# Style choices of the bundled library (one JSON file per style), "mixed" first.
STYLES: tuple[str, ...] = (MIXED,) + tuple(sorted(path.stem for path in LIBRARY_DIR.glob("*.json")))

__all__ = ["STYLES", "choreograph", "plan_choreography", "PlacedMove", "PlannerConfig", "SynthesisConfig", "Move",
           "MoveLibrary", "load_library", "MIXED"]


def choreograph(analysis: MusicAnalysis, seed: int = 0, style: str = MIXED, energy_scale: float = 1.0,
                skeleton: Skeleton | None = None, progress: Callable[[float], None] | None = None,
                plan: tuple[PlacedMove, ...] | None = None, keep: Motion3D | None = None,
                keep_mask: np.ndarray | None = None, library: MoveLibrary | None = None,
                config: SynthesisConfig = SynthesisConfig()) -> Motion3D:
    """A dance for ``analysis``: ``analysis.num_frames`` frames at ``analysis.fps``, facing -y, feet on z = 0.

    plan       : moves to dance (from ``plan_choreography``, possibly edited); planned from ``seed`` if None.
    keep       : an earlier Motion3D of the same length; with ``keep_mask`` (T,) bool, frames where the mask
                 is True are kept verbatim and only the others are re-choreographed, blended in at the edges.
    progress   : called with a fraction in [0, 1] as work proceeds.
    """
    report = progress or (lambda fraction: None)
    skeleton = skeleton or Skeleton.default()
    library = library or load_library()
    check_style(style, library)
    if not energy_scale >= 0:
        raise MotionInputError(f"energy_scale must be >= 0 (1 = as the music suggests), got {energy_scale}.")
    if analysis.num_frames < 1:
        raise MotionInputError("The music analysis has no frames; analyse at least one frame of audio first.")
    grid = beat_grid(analysis, style)
    plan = plan if plan is not None else plan_choreography(analysis, seed, style, library)
    _check_plan(plan, library)
    report(0.2)
    track = build_key_track(tuple(plan), library, grid, analysis, energy_scale, config)
    free = synthesize(track, frame_times_s(analysis.num_frames, analysis.fps), config)
    report(0.5)
    root_m = free.root_offset_m + np.array([0.0, 0.0, _standing_pelvis_height_m(skeleton)])
    rotations, root_m, contacts = lock_feet(skeleton, free.rotations, root_m, free.support, free.yaw_rad, analysis.fps)
    report(0.9)
    motion = Motion3D(root_m.astype(np.float32), rotations.astype(np.float32), contacts, float(analysis.fps), skeleton)
    if keep is not None or keep_mask is not None:
        motion = blend_into_kept(motion, keep, keep_mask, beat_period_s=float(np.median(np.diff(grid.times_s))))
    report(1.0)
    limited = _within_joint_limits(motion)
    if keep is None:
        return limited
    # Kept frames were clamped when first danced; stored as float32, a pose on a limit can read a hair outside
    # it, so they are put back bit for bit instead of being clamped a second time.
    mask = np.asarray(keep_mask, dtype=bool)
    rotations, contacts = limited.rotations.copy(), limited.foot_contacts.copy()
    rotations[mask], contacts[mask] = keep.rotations[mask], keep.foot_contacts[mask]
    return replace(limited, rotations=rotations, foot_contacts=contacts)


def _within_joint_limits(motion: Motion3D) -> Motion3D:
    """Clamp every joint to its range; where a planted foot's ankle had to be clamped the foot cannot lie
    flat (it rolls onto its heel or ball), so its toe is no longer counted as planted on those frames."""
    rotations = clamp_to_joint_limits(motion.rotations)
    contacts = motion.foot_contacts.copy()
    for channel, ankle in ((2, JOINT["left_ankle"]), (3, JOINT["right_ankle"])):
        rolled = np.any(rotations[:, ankle] != motion.rotations[:, ankle], axis=(-1, -2))
        contacts[rolled, channel] = 0.0
    return replace(motion, rotations=rotations, foot_contacts=contacts)


def _standing_pelvis_height_m(skeleton: Skeleton) -> float:
    """Pelvis height of the neutral stance with flat feet on z = 0."""
    rotations = neutral_rotations()[None].copy()
    rotations[0, 0] = UPRIGHT
    _, positions = world_transforms(skeleton, rotations, np.zeros((1, 3)))
    return floor_ankle_height_m(skeleton) - float(positions[0, list(FOOT_CONTACT_JOINTS[:2]), 2].min())


def _check_plan(plan: tuple[PlacedMove, ...], library: MoveLibrary) -> None:
    if len(plan) == 0:
        raise MotionInputError("The choreography plan is empty; pass None to plan from the seed.")
    for item in plan:
        move = library.by_name(item.name)
        if item.beats != move.beats:
            raise MotionInputError(
                f"Plan entry '{item.name}' at beat {item.start_beat} lasts {item.beats} beats, the move lasts {move.beats}.")
    starts = [item.start_beat for item in plan]
    if any(b <= a for a, b in zip(starts[:-1], starts[1:])):
        raise MotionInputError("Choreography plan entries must be sorted by start_beat without duplicates.")
