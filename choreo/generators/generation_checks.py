"""Input checks shared by the music-to-2D-pose generators (X-Dancer, the one-hot pose DiT).

Both take music features on the model's clock and may keep frames of an edited pose sequence; checking them
in one place keeps the rules and the wording the user sees the same for both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ChoreoError
from ..music.features import MusicFeatures
from ..pose.sequence import PoseSequence2D


def check_music_features(features: MusicFeatures, music_dim: int, model_fps: float, model_extractor: str,
                         num_frames: int | None, error: type[ChoreoError]) -> int:
    """The number of frames to generate (all of the music's when ``num_frames`` is None), after checking the
    features have the model's width and frame rate; ``error`` is the generator's own input error."""
    if features.values.ndim != 2 or features.values.shape[1] != music_dim:
        raise error(f"the model takes {music_dim}-d music features ({model_extractor}), got "
                    f"{features.values.shape[1:]} from {features.extractor!r}. Extract features with "
                    f"extractor {model_extractor!r}.")
    if abs(features.fps - model_fps) > 1e-6:
        raise error(f"the music features are at {features.fps:g} fps but the model was trained at "
                    f"{model_fps:g} fps; extract the features at {model_fps:g} fps.")
    T = features.num_frames if num_frames is None else int(num_frames)
    if not 1 <= T <= features.num_frames:
        raise error(f"num_frames must be 1..{features.num_frames} (the music's frames), got {T}.")
    return T


def kept_frame_mask(keep: PoseSequence2D, keep_frames: Sequence[int] | np.ndarray | None, num_frames: int,
                    error: type[ChoreoError]) -> np.ndarray:
    """(T,) bool: the generated frames that take ``keep``'s poses.

    keep_frames: None (every frame), a bool mask over ``keep``'s or the generated frames, or frame indices.
    """
    if keep.num_frames < num_frames:
        raise error(f"keep has {keep.num_frames} frames but {num_frames} are generated; pass the sequence "
                    "being regenerated, on the same frame clock.")
    frames = np.zeros(num_frames, bool)
    if keep_frames is None:
        frames[:] = True
        return frames
    given = np.asarray(keep_frames)
    if given.dtype == bool:
        if given.shape not in ((keep.num_frames,), (num_frames,)):
            raise error(f"keep_frames as a mask must have {num_frames} entries, got {given.shape}.")
        frames[:] = given[:num_frames]
    else:
        if given.size and (given.min() < 0 or given.max() >= num_frames):
            raise error(f"keep_frames must lie in 0..{num_frames - 1}, got {given.min()}..{given.max()}.")
        frames[given.astype(np.int64)] = True
    return frames
