"""Retime a dance so that its hits land on the music's beats (Davis & Agrawala 2018, "Visual Rhythm and Beat").

A dance's hits are the local minima of its smoothed kinetic speed (``metrics.motion_beats``, Bailando's
definition, the one BAS reads). ``beat_warp`` pairs each music beat with the nearest unused hit within
``max_shift_beats`` of a beat period, in order, and warps time through the pairs by a monotone cubic (PCHIP),
so the matched hit plays exactly on its beat. The pairs' slopes (source frames per output frame) stay within
[1 / max_stretch, max_stretch]: no passage plays more than about ``max_stretch`` times faster or slower than
it was danced; a pair that would need more is skipped. A warp scales the dance's speed by its slope, which moves
a smoothed speed minimum a frame or two towards the slower side of its pair, so ``snap_*_to_beats`` warp twice by
default: the second pass matches the hits of the first one's result, and the original is resampled once, at the
composed warp (which may reach max_stretch squared where both passes stretch the same passage). Measured on the
dance engine's 8 held-out clips (seed 0, BAS aligned / half a beat late): the beat-aware EDGE run 0.400 / 0.387
raw, 0.317 / 0.261 after one pass, 0.338 / 0.173 after two (aligned higher on 5, 5 and 8 clips); the MACE demo
0.305 / 0.249, 0.412 / 0.168, 0.432 / 0.146. The warp is smooth (PCHIP): piecewise-linear, the speed jumps at
every pair and makes stops of its own (4 of 8 clips for that EDGE run after one pass, two seeds). On a very short
clip a second pass can lose a hit near the ends (a 2 s test clip keeps less of its gain). Frame 0 and the last
frame stay in place, so the dance keeps its fps and frame count (the one frame clock) and only moves inside.

It serves any dance: a learned model's output, poses read from a video, or a hand-edited sequence (whose
keyframes move with their hits: snap before editing). Positions are interpolated linearly, rotations by
slerp; a 2D keypoint absent in either neighbouring frame stays absent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from scipy.interpolate import PchipInterpolator

from ..errors import ChoreoError
from ..pose.sequence import PoseSequence2D
from .metrics import motion_beats, planar_points
from .motion3d import Motion3D
from .rotations import matrix_to_quaternion, quaternion_to_matrix, slerp

BODY_KEYPOINTS = 18  # the 2D hits come from the body keypoints (hands and face jitter on their own)
SNAP_PASSES = 2  # a second pass matches the hits that the first warp's changes of speed moved a frame or two


class BeatSnapError(ChoreoError):
    """A dance cannot be snapped to these beats (bad settings or beats off the dance's clock)."""


@dataclass(frozen=True)
class BeatWarp:
    """A monotone time warp of a dance.

    source_frames : (T,) float64, the source time (frames) each output frame shows; [0] = 0, [-1] = T - 1.
    matched_beats : music beats that got a hit.
    num_beats     : music beats within the dance.
    """

    source_frames: np.ndarray
    matched_beats: int
    num_beats: int


def beat_warp(hit_frames: np.ndarray, beat_frames: np.ndarray, num_frames: int, max_shift_beats: float = 0.5,
              max_stretch: float = 1.6) -> BeatWarp:
    """The warp that moves hits onto beats (module docstring).

    hit_frames      : (H,) frames of the dance's hits (any order).
    beat_frames     : (N,) music beat frames on the dance's clock (fractions allowed); beats outside the dance are
                      ignored.
    max_shift_beats : how far (in beat periods) a hit may be moved onto a beat.
    max_stretch     : the largest local speed-up or slow-down, > 1.

    >>> warp = beat_warp(np.array([12.0]), np.array([10.0]), 31)
    >>> float(warp.source_frames[10]), warp.matched_beats
    (12.0, 1)
    """
    if num_frames < 2:
        raise BeatSnapError(f"a dance of {num_frames} frame(s) has no timing to snap; connect a dance of at least "
                            "2 frames (a generator's or Poses from Video's output, not a reference pose).")
    if not max_stretch > 1.0 or not max_shift_beats > 0.0:
        raise BeatSnapError(f"max_stretch must be > 1 and max_shift_beats > 0, got {max_stretch} and "
                            f"{max_shift_beats}; the defaults are 1.6 and 0.5.")
    last = num_frames - 1.0
    beats = np.sort(np.asarray(beat_frames, np.float64))
    beats = beats[(beats > 0) & (beats < last)]
    hits = np.sort(np.asarray(hit_frames, np.float64))
    periods = np.diff(beats, append=2 * beats[-1] - beats[-2] if len(beats) > 1 else last)
    outputs, sources = [0.0], [0.0]
    for beat, period in zip(beats, periods):
        elapsed = beat - outputs[-1]
        slope = (hits - sources[-1]) / max(elapsed, 1e-9)
        fits = ((hits > sources[-1]) & (np.abs(hits - beat) <= max_shift_beats * period)
                & (slope >= 1.0 / max_stretch) & (slope <= max_stretch))
        if fits.any():
            nearest = hits[fits][np.argmin(np.abs(hits[fits] - beat))]
            outputs.append(beat)
            sources.append(float(nearest))
    while len(outputs) > 1 and not 1.0 / max_stretch <= (last - sources[-1]) / (last - outputs[-1]) <= max_stretch:
        outputs.pop()
        sources.pop()
    outputs.append(last)
    sources.append(last)
    frames = np.arange(num_frames, dtype=np.float64)
    source_frames = PchipInterpolator(outputs, sources)(frames) if len(outputs) > 2 else frames
    return BeatWarp(source_frames, len(outputs) - 2, len(beats))


def _neighbours(source_frames: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(floor frame, next frame, weight of the next) of every source time."""
    below = np.clip(np.floor(source_frames).astype(int), 0, num_frames - 1)
    above = np.minimum(below + 1, num_frames - 1)
    return below, above, source_frames - below


def warp_motion(motion: Motion3D, source_frames: np.ndarray) -> Motion3D:
    """``motion`` shown at ``source_frames`` (T,): root and contacts interpolated linearly, joints by slerp."""
    below, above, weight = _neighbours(source_frames, motion.num_frames)
    quaternions = matrix_to_quaternion(motion.rotations)                       # (T, 24, 4)
    rotations = quaternion_to_matrix(slerp(quaternions[below], quaternions[above], weight[:, None]))
    lerp = weight[:, None]
    root_m = (1 - lerp) * motion.root_translation_m[below] + lerp * motion.root_translation_m[above]
    contacts = (1 - lerp) * motion.foot_contacts[below] + lerp * motion.foot_contacts[above]
    return replace(motion, root_translation_m=root_m.astype(np.float32), rotations=rotations.astype(np.float32),
                   foot_contacts=contacts.astype(np.float32))


def warp_poses(seq: PoseSequence2D, source_frames: np.ndarray) -> PoseSequence2D:
    """``seq`` shown at ``source_frames`` (T,): keypoints interpolated linearly, absent where a neighbour is."""
    below, above, weight = _neighbours(source_frames, seq.num_frames)
    lerp = weight[:, None, None]
    keypoints = (1 - lerp) * seq.keypoints_px[below] + lerp * seq.keypoints_px[above]
    present = (seq.confidence[below] > 0) & (seq.confidence[above] > 0)
    confidence = np.where(present, (1 - lerp[..., 0]) * seq.confidence[below] + lerp[..., 0] * seq.confidence[above],
                          0.0)
    return replace(seq, keypoints_px=keypoints.astype(np.float32), confidence=confidence.astype(np.float32))


def _snap(dance, hit_frames: Callable, warp_dance: Callable, beat_times_s, max_shift_beats: float, max_stretch: float,
          passes: int):
    """Warp ``passes`` times, each pass matching the hits of the last one's result; the original is resampled at the
    composed warp, never a resampled copy."""
    if passes < 1:
        raise BeatSnapError(f"passes must be at least 1, got {passes}.")
    beats = np.asarray(beat_times_s, np.float64) * dance.fps
    frames = np.arange(dance.num_frames, dtype=np.float64)
    source_frames, current = frames, dance
    for _ in range(passes):
        warp = beat_warp(hit_frames(current), beats, dance.num_frames, max_shift_beats, max_stretch)
        source_frames = np.interp(warp.source_frames, frames, source_frames)  # this pass after the earlier ones
        current = warp_dance(dance, source_frames)
    return current, BeatWarp(source_frames, warp.matched_beats, warp.num_beats)


def _motion_hits(motion: Motion3D) -> np.ndarray:
    return motion_beats(motion.joint_positions())


def _pose_hits(seq: PoseSequence2D) -> np.ndarray:
    return motion_beats(planar_points(seq.keypoints_px[:, :BODY_KEYPOINTS]))


def snap_motion_to_beats(motion: Motion3D, beat_times_s: np.ndarray, max_shift_beats: float = 0.5,
                         max_stretch: float = 1.6, passes: int = SNAP_PASSES) -> tuple[Motion3D, BeatWarp]:
    """A 3D dance retimed so its hits (of the joint positions) land on ``beat_times_s`` (seconds).

    returns : the retimed dance and its warp.
    """
    return _snap(motion, _motion_hits, warp_motion, beat_times_s, max_shift_beats, max_stretch, passes)


def snap_poses_to_beats(seq: PoseSequence2D, beat_times_s: np.ndarray, max_shift_beats: float = 0.5,
                        max_stretch: float = 1.6, passes: int = SNAP_PASSES) -> tuple[PoseSequence2D, BeatWarp]:
    """A 2D dance retimed so its hits (of the 18 body keypoints, in pixels) land on ``beat_times_s`` (seconds)."""
    return _snap(seq, _pose_hits, warp_poses, beat_times_s, max_shift_beats, max_stretch, passes)
