"""Retime a dance so that its hits land on the music's beats (Davis & Agrawala 2018, "Visual Rhythm and Beat").

A dance's hits are the local minima of its smoothed kinetic speed (``metrics.motion_beats``, Bailando's
definition, the one BAS reads). ``beat_warp`` pairs each music beat with the nearest unused hit within
``max_shift_beats`` of a beat period, in order, and warps time piecewise linearly through the pairs, so the
matched hit plays exactly on its beat. The warp's slope (source frames per output frame) stays within
[1 / max_stretch, max_stretch]: no passage plays more than ``max_stretch`` times faster or slower than it
was danced; a pair that would need more is skipped. Frame 0 and the last frame stay in place, so the dance
keeps its fps and frame count (the one frame clock) and only moves inside.

It serves any dance: a learned model's output, poses read from a video, or a hand-edited sequence (whose
keyframes move with their hits: snap before editing). Positions are interpolated linearly, rotations by
slerp; a 2D keypoint absent in either neighbouring frame stays absent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ChoreoError
from ..pose.sequence import PoseSequence2D
from .metrics import motion_beats
from .motion3d import Motion3D
from .rotations import matrix_to_quaternion, quaternion_to_matrix, slerp

BODY_KEYPOINTS = 18  # the 2D hits come from the body keypoints (hands and face jitter on their own)


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
        raise BeatSnapError(f"a dance of {num_frames} frame(s) has no timing to snap.")
    if not max_stretch > 1.0 or not max_shift_beats > 0.0:
        raise BeatSnapError(f"max_stretch must be > 1 and max_shift_beats > 0, got {max_stretch} and "
                            f"{max_shift_beats}.")
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
    source_frames = np.interp(np.arange(num_frames, dtype=np.float64), outputs, sources)
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


def snap_motion_to_beats(motion: Motion3D, beat_times_s: np.ndarray, max_shift_beats: float = 0.5,
                         max_stretch: float = 1.6) -> tuple[Motion3D, BeatWarp]:
    """A 3D dance retimed so its hits (of the joint positions) land on ``beat_times_s`` (seconds)."""
    hits = motion_beats(motion.joint_positions())
    warp = beat_warp(hits, np.asarray(beat_times_s, np.float64) * motion.fps, motion.num_frames, max_shift_beats,
                     max_stretch)
    return warp_motion(motion, warp.source_frames), warp


def snap_poses_to_beats(seq: PoseSequence2D, beat_times_s: np.ndarray, max_shift_beats: float = 0.5,
                        max_stretch: float = 1.6) -> tuple[PoseSequence2D, BeatWarp]:
    """A 2D dance retimed so its hits (of the 18 body keypoints, in pixels) land on ``beat_times_s`` (seconds)."""
    body = np.concatenate([seq.keypoints_px[:, :BODY_KEYPOINTS],
                           np.zeros((seq.num_frames, BODY_KEYPOINTS, 1), np.float32)], axis=-1)
    warp = beat_warp(motion_beats(body), np.asarray(beat_times_s, np.float64) * seq.fps, seq.num_frames,
                     max_shift_beats, max_stretch)
    return warp_poses(seq, warp.source_frames), warp
