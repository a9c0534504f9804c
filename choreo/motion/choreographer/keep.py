"""Regenerate around edits: keep chosen frames of an earlier dance and cross-fade the new one in around them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import MotionInputError
from ..motion3d import Motion3D
from ..rotations import matrix_to_quaternion, quaternion_to_matrix, slerp
from .foot_lock import true_runs


def blend_into_kept(new: Motion3D, keep: Motion3D | None, keep_mask: np.ndarray | None,
                    beat_period_s: float) -> Motion3D:
    """Frames where ``keep_mask`` is True come from ``keep``; the rest from ``new``, faded in over half a beat.

    new, keep : Motion3D of T frames.  keep_mask : (T,) bool.
    Inside each re-generated gap the new dance is shifted (root offset eased from the
    left edge's mismatch to the right edge's) and cross-faded with the kept dance near
    both edges, so the result is continuous where the two meet.
    """
    if keep is None or keep_mask is None:
        raise MotionInputError("Regenerating around edits needs both keep (a Motion3D) and keep_mask (T,) bool.")
    mask = np.asarray(keep_mask, dtype=bool)
    if keep.num_frames != new.num_frames or mask.shape != (new.num_frames,):
        raise MotionInputError(
            f"keep has {keep.num_frames} frames and keep_mask shape {mask.shape}; both must match the song's "
            f"{new.num_frames} frames. Re-run on the same music analysis.")
    weight = np.zeros(new.num_frames)
    offset = np.zeros((new.num_frames, 3))
    fade = max(1, int(round(0.5 * beat_period_s * new.fps)))
    for start, stop in true_runs(~mask):
        frames = np.arange(start, stop)
        width = max(1, min(fade, (stop - start) // 2))
        # Fade only across edges that border kept frames; the song's own ends need none.
        from_left = frames - start + 1 if start > 0 else np.full(len(frames), np.inf)
        from_right = stop - frames if stop < new.num_frames else np.full(len(frames), np.inf)
        ramp = np.clip(np.minimum(from_left, from_right) / (width + 1), 0.0, 1.0)
        weight[start:stop] = ramp * ramp * (3 - 2 * ramp)
        left = keep.root_translation_m[start - 1] - new.root_translation_m[start - 1] if start > 0 else None
        right = keep.root_translation_m[stop] - new.root_translation_m[stop] if stop < new.num_frames else None
        if left is None and right is None:
            continue
        left = right if left is None else left
        right = left if right is None else right
        s = ((frames - start + 1) / (stop - start + 1))[:, None]
        offset[start:stop] = (1 - s) * left + s * right
    mix = quaternion_to_matrix(slerp(matrix_to_quaternion(keep.rotations), matrix_to_quaternion(new.rotations),
                                     weight[:, None]))
    root = (1 - weight[:, None]) * keep.root_translation_m + weight[:, None] * (new.root_translation_m + offset)
    mix[mask], root[mask] = keep.rotations[mask], keep.root_translation_m[mask]
    contacts = np.where(weight[:, None] > 0.5, new.foot_contacts, keep.foot_contacts)
    return replace(new, root_translation_m=root.astype(np.float32), rotations=mix.astype(np.float32),
                   foot_contacts=contacts.astype(np.float32))
