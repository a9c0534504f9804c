"""Long videos as chained Wan-Animate chunks (pure functions, no torch).

Wan-Animate generates ``4n + 1`` frames at a time (77 in ComfyUI's ``WanAnimateToVideo`` and diffusers'
``segment_frame_length``). MACE-Dance renders long dances as chunks that are all anchored by the same three
things, so identity and colour do not drift: the globally consistent pose sequence (each chunk takes its own
slice of one pose video), the previous chunk's last generated frames (``continue_frames``, ComfyUI's
``continue_motion_max_frames`` 5), and the fixed reference image.

Chunk k covers pose frames ``[start, start + length)``. Chunk 0 keeps all its frames; every later chunk starts
``continue_frames`` frames before the previous one ended, is conditioned on those already generated frames,
and drops them when stitching. The last chunk is shortened to the smallest ``4n + 1`` length that reaches the
end; pose frames past the end repeat the last pose (ComfyUI pads the pose video the same way) and the stitched
video is trimmed back to the requested length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ChoreoError

TEMPORAL_STRIDE = 4  # Wan VAE: one latent frame per 4 video frames after the first
DEFAULT_CHUNK_FRAMES = 77
DEFAULT_CONTINUE_FRAMES = 5


class WanAnimateError(ChoreoError):
    """A Wan-Animate input (weights, chunk settings, sizes) cannot be used."""


def snap_frames(num_frames: int, direction: str = "up") -> int:
    """The nearest Wan frame count ``4n + 1`` at or above (``"up"``) or at or below (``"down"``) ``num_frames``."""
    if num_frames < 1:
        raise WanAnimateError(f"frame count must be at least 1, got {num_frames}.")
    n = (num_frames - 1) / TEMPORAL_STRIDE
    n = int(np.ceil(n)) if direction == "up" else int(np.floor(n))
    return TEMPORAL_STRIDE * n + 1


@dataclass(frozen=True)
class Chunk:
    """One Wan-Animate call.

    index      : position in the plan.
    start      : first pose frame (in the whole sequence) the chunk generates.
    length     : frames generated, ``4n + 1``.
    cond_frames: leading frames that continue the previous chunk (0 for the first chunk); they are fed in
                 from the previous chunk's output and dropped when stitching.
    """

    index: int
    start: int
    length: int
    cond_frames: int

    @property
    def stop(self) -> int:
        return self.start + self.length

    def pose_indices(self, num_frames: int) -> np.ndarray:
        """Frame indices of the pose sequence for this chunk; past the end the last frame repeats."""
        return np.minimum(np.arange(self.start, self.stop), num_frames - 1)


def plan_chunks(num_frames: int, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                continue_frames: int = DEFAULT_CONTINUE_FRAMES) -> list[Chunk]:
    """Split ``num_frames`` frames into chained chunks of at most ``chunk_frames`` (snapped down to 4n + 1)."""
    if num_frames < 1:
        raise WanAnimateError(f"the pose sequence has {num_frames} frames; at least 1 is needed.")
    if chunk_frames < 5:
        raise WanAnimateError(f"chunk_frames must be at least 5 (Wan generates 4n + 1 frames), got {chunk_frames}.")
    length = snap_frames(chunk_frames, "down")
    if not 1 <= continue_frames <= length - TEMPORAL_STRIDE:
        raise WanAnimateError(
            f"continue_frames must be between 1 and chunk_frames - 4 = {length - TEMPORAL_STRIDE}, got "
            f"{continue_frames}. Wan-Animate was trained with 1 or 5.")
    chunks = [Chunk(0, 0, min(length, snap_frames(num_frames)), 0)]
    while chunks[-1].stop < num_frames:
        previous = chunks[-1]
        start = previous.stop - continue_frames
        needed = num_frames - start
        chunks.append(Chunk(len(chunks), start, min(length, snap_frames(needed)), continue_frames))
    return chunks


def continuation(previous_output: np.ndarray, chunk: Chunk) -> np.ndarray:
    """The last ``chunk.cond_frames`` frames of the previous chunk's output, which condition ``chunk``."""
    if chunk.cond_frames == 0:
        raise WanAnimateError(f"chunk {chunk.index} starts the video and continues nothing.")
    return previous_output[-chunk.cond_frames:]


def stitch(outputs: list[np.ndarray], chunks: list[Chunk], num_frames: int) -> np.ndarray:
    """Join chunk outputs (each (length, ...)) into one (num_frames, ...) video, dropping the overlaps."""
    if len(outputs) != len(chunks):
        raise WanAnimateError(f"{len(outputs)} chunk outputs for a plan of {len(chunks)} chunks.")
    for output, chunk in zip(outputs, chunks):
        if len(output) != chunk.length:
            raise WanAnimateError(f"chunk {chunk.index} produced {len(output)} frames, expected {chunk.length}.")
    video = np.concatenate([output[chunk.cond_frames:] for output, chunk in zip(outputs, chunks)])
    return video[:num_frames]
