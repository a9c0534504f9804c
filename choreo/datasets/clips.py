"""The unit every dataset yields: one dance with its music on one frame clock."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import MotionInputError
from ..motion.motion3d import Motion3D
from ..music.features import MusicFeatures


@dataclass(frozen=True)
class DanceClip:
    """name : where it came from; motion : T frames; features : (T', C) music rows on the same fps;
    genre : index into the dataset's ``genres`` tuple (MACE's genre FiLM input)."""

    name: str
    motion: Motion3D
    features: MusicFeatures
    genre: int = 0


def check_clip(clip: DanceClip) -> DanceClip:
    """The clip, its motion and features cut to their common length; raises when the clocks differ."""
    if abs(clip.motion.fps - clip.features.fps) > 1e-6:
        raise MotionInputError(f"clip {clip.name}: motion is at {clip.motion.fps:g} fps but its music features at "
                               f"{clip.features.fps:g} fps; extract the features at the motion's fps.")
    length = min(clip.motion.num_frames, clip.features.num_frames)
    if length == clip.motion.num_frames == clip.features.num_frames:
        return clip
    features = replace(clip.features, values=clip.features.values[:length])
    return replace(clip, motion=clip.motion.slice_frames(0, length), features=features)
