"""2D pose sequences as one-hot images, HotDance's representation (arXiv 2512.11720, section 3).

Each keypoint and axis becomes a length-W vector that is zero except at bin
``floor(W * coord_norm)``, where it holds the keypoint's confidence. Stacking the
vectors of all keypoints and all frames gives a C x W x T image (C = 2K, time on the
last axis) in which every channel draws the keypoint's trajectory as a curve, so an
image VAE and an image DiT can model dances. x and y share the same W bins: x is
normalised by the canvas width and y by the canvas height, as the paper's [0, 1]
image coordinates are.

Choices the paper leaves open, fixed here:

- channel order: keypoint-major and interleaved, channel 2k is x and 2k + 1 is y of
  keypoint slot k (``channel_of``), so a keypoint's two axes share a VAE triplet or
  sit in neighbouring ones;
- keypoint slots: the 18 OpenPose body points, then optionally the 21 left and 21
  right hand points (K = 18 or 60); feet and face are not encoded;
- smoothing: the paper applies "Gaussian smoothing" as SimCC does but gives no sigma.
  The kernel here has peak 1, ``s * exp(-d^2 / (2 sigma^2))``, so the peak still
  equals the confidence and the paper's inverse stays exact; ``sigma_bins = 0`` is
  the plain one-hot;
- decoding position: the paper's ``argmax / W`` is the bin's left edge; decoding to
  the bin centre re-encodes to the same bin and halves the worst-case error (half a
  bin instead of one). Optional centroid refinement around the peak is for images
  decoded from latents, whose peaks are blurred; on an exact encoding it returns the
  bin centre, because the paper's floor() keeps no sub-bin position to recover;
- out-of-canvas points are put in the edge bin (the paper's coordinates lie in
  [0, 1]); their round trip is then wrong by the distance outside the canvas.

"Big-hand" scaling (paper, "Training with hand poses") moves each hand point away
from its hand root (the wrist, hand point 0) by ``big_hand_scale`` before encoding,
so fingers are further apart after the VAE's 8x downsampling, and decoding applies
the exact inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PoseInputError
from .layout import BODY, LEFT_HAND, RIGHT_HAND
from .sequence import PoseSequence2D

_HAND_SLICES = (LEFT_HAND, RIGHT_HAND)


@dataclass(frozen=True)
class OneHotConfig:
    """How poses become one-hot images.

    num_bins       : W, bins per axis (the paper uses 512).
    sigma_bins     : standard deviation of the Gaussian smoothing, bins; 0 = plain one-hot.
    hands          : also encode the 42 hand points (K = 60 instead of 18).
    big_hand_scale : factor >= 1 on each hand point's distance to its wrist before
                     encoding (1 = off); only used with ``hands``.
    """

    num_bins: int = 512
    sigma_bins: float = 2.0
    hands: bool = False
    big_hand_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.num_bins < 2:
            raise PoseInputError(f"OneHotConfig num_bins must be at least 2, got {self.num_bins}.")
        if not self.sigma_bins >= 0:
            raise PoseInputError(f"OneHotConfig sigma_bins must be >= 0 (0 = plain one-hot), got {self.sigma_bins}.")
        if not self.big_hand_scale >= 1:
            raise PoseInputError(f"OneHotConfig big_hand_scale must be >= 1 (1 = off), got {self.big_hand_scale}.")

    @property
    def keypoint_indices(self) -> np.ndarray:
        """(K,) layout indices of the encoded keypoints, in slot order."""
        parts = [BODY, LEFT_HAND, RIGHT_HAND] if self.hands else [BODY]
        return np.concatenate([np.arange(part.start, part.stop) for part in parts])

    @property
    def num_channels(self) -> int:
        """C = 2K."""
        return 2 * len(self.keypoint_indices)


def channel_of(slot: int, axis: int) -> int:
    """Channel of keypoint slot ``slot`` and ``axis`` (0 = x, 1 = y): the paper's c_x(k), c_y(k)."""
    return 2 * slot + axis


def scale_hands(keypoints_px: np.ndarray, confidence: np.ndarray, factor: float) -> np.ndarray:
    """Hand points moved along their wrist rays by ``factor`` (the paper's big-hand view; 1/factor undoes it).

    keypoints_px : (T, 136, 2) pixels.
    confidence   : (T, 136); a hand whose wrist (hand point 0) has confidence 0 is left
                   as it is, since it has no centre to scale about; the inverse sees the
                   same zero and leaves it too.
    returns      : (T, 136, 2) float32, a new array; wrists and non-hand points unchanged.
    """
    scaled = np.array(keypoints_px, np.float64)
    for hand in _HAND_SLICES:
        wrist = scaled[:, hand.start:hand.start + 1]
        has_wrist = (confidence[:, hand.start] > 0)[:, None, None]
        moved = wrist + (scaled[:, hand] - wrist) * factor
        scaled[:, hand] = np.where(has_wrist, moved, scaled[:, hand])
    return scaled.astype(np.float32)


def pose_to_onehot(pose: PoseSequence2D, config: OneHotConfig = OneHotConfig()) -> np.ndarray:
    """The C x W x T one-hot image of a pose sequence.

    pose    : PoseSequence2D; bins span the canvas, ``bin = floor(W * x_px / canvas_width)``
              (y with the canvas height), clipped to [0, W - 1].
    returns : (C, W, T) float32, C = 2K; channel ``channel_of(k, axis)`` holds
              ``s * exp(-(w - bin)^2 / (2 sigma^2))`` at frame t, all zeros where s = 0.

    >>> pose = PoseSequence2D.empty(4, 512, 768, 30.0)
    >>> pose_to_onehot(pose, OneHotConfig(num_bins=256)).shape
    (36, 256, 4)
    """
    keypoints_px = pose.keypoints_px
    if config.hands and config.big_hand_scale != 1:
        keypoints_px = scale_hands(keypoints_px, pose.confidence, config.big_hand_scale)
    slots = config.keypoint_indices
    bins = _bins(keypoints_px[:, slots], pose.canvas_width, pose.canvas_height, config.num_bins)  # (T, K, 2)
    confidence = pose.confidence[:, slots].astype(np.float32)  # (T, K)
    offsets = np.arange(config.num_bins, dtype=np.float32) - bins[..., None].astype(np.float32)  # (T, K, 2, W)
    if config.sigma_bins > 0:
        profile = np.exp(np.float32(-0.5 / config.sigma_bins ** 2) * offsets ** 2)
    else:
        profile = (offsets == 0).astype(np.float32)
    image = profile * confidence[:, :, None, None]
    num_frames, num_slots = confidence.shape
    # (T, K, 2, W) -> (K, 2, W, T) -> (2K, W, T): channel 2k + axis, time last.
    return np.ascontiguousarray(image.transpose(1, 2, 3, 0).reshape(2 * num_slots, config.num_bins, num_frames))


def onehot_to_pose(image: np.ndarray, canvas_width: int, canvas_height: int, fps: float,
                   config: OneHotConfig = OneHotConfig(), refine_centroid: bool = False,
                   track_penalty: float = 0.0) -> PoseSequence2D:
    """Poses read back from a one-hot image by the paper's argmax (eqs. 1-3).

    image           : (C, W, T) float, C = ``config.num_channels`` and W = ``config.num_bins``;
                      an encoding or a VAE decoding of one.
    canvas_width, canvas_height : pixels of the canvas the bins span.
    fps             : frame rate of the returned sequence.
    refine_centroid : replace the argmax bin by the centroid of the positive values within
                      3 sigma (at least 1 bin) of it (symmetric window, shrunk at the image edges), for blurred
                      peaks; off reproduces the paper.
    track_penalty   : > 0 replaces the per-frame argmax by the best path through time (``track_peaks``):
                      each bin move between frames costs ``track_penalty`` (in one-hot value units), so a
                      generated image with a second, spurious blob does not make the keypoint jump to it
                      and back. 0 reproduces the paper.
    returns         : PoseSequence2D (T, 136). Coordinates are bin centres in pixels; confidence
                      is the smaller of the two axes' peak values (eq. 3); a keypoint with
                      confidence <= 0 is absent (confidence 0, position 0). Feet, face and,
                      without ``config.hands``, hands are absent and marked missing.
    """
    expected = (config.num_channels, config.num_bins)
    if image.ndim != 3 or image.shape[:2] != expected:
        raise PoseInputError(f"one-hot image must be (C, W, T) = ({expected[0]}, {expected[1]}, T) for this config, "
                             f"got {image.shape}; decode with the OneHotConfig that encoded it.")
    num_slots, num_frames = config.num_channels // 2, image.shape[2]
    per_axis = np.asarray(image, np.float32).reshape(num_slots, 2, config.num_bins, num_frames).transpose(3, 0, 1, 2)
    if track_penalty > 0:
        peak_bin = track_peaks(per_axis, track_penalty)  # (T, K, 2)
        peak_value = np.take_along_axis(per_axis, peak_bin[..., None], axis=-1)[..., 0]
    else:
        peak_bin = per_axis.argmax(axis=-1)  # (T, K, 2)
        peak_value = per_axis.max(axis=-1)
    position_bins = _centroid(per_axis, peak_bin, config.sigma_bins) if refine_centroid else peak_bin.astype(np.float64)
    px_per_bin = np.array([canvas_width, canvas_height], np.float64) / config.num_bins
    slot_px = (position_bins + 0.5) * px_per_bin
    slot_confidence = np.maximum(peak_value.min(axis=-1), 0.0)  # (T, K)
    slot_px[slot_confidence <= 0] = 0.0

    slots = config.keypoint_indices
    pose = PoseSequence2D.empty(num_frames, canvas_width, canvas_height, fps)
    keypoints_px, confidence = pose.keypoints_px.copy(), pose.confidence.copy()
    keypoints_px[:, slots], confidence[:, slots] = slot_px, slot_confidence
    if config.hands and config.big_hand_scale != 1:
        keypoints_px = scale_hands(keypoints_px, confidence, 1.0 / config.big_hand_scale)
    missing = {"foot_keypoints_2d", "face_keypoints_2d"}
    if not config.hands:
        missing |= {"hand_left_keypoints_2d", "hand_right_keypoints_2d"}
    return PoseSequence2D(keypoints_px, confidence, int(canvas_width), int(canvas_height), float(fps),
                          frozenset(missing))


def track_peaks(per_axis: np.ndarray, penalty_per_bin: float) -> np.ndarray:
    """(T, K, 2) int64 bins of the best path of each axis through time (Viterbi).

    per_axis        : (T, K, 2, W) one-hot values per frame, keypoint slot and axis.
    penalty_per_bin : cost of moving one bin between consecutive frames, in value units.
    The path maximises sum_t value[t, bin_t] - penalty * sum_t |bin_t - bin_{t-1}|; on an exact
    encoding (one peak per frame, smooth motion) it is the argmax wherever a move of d bins gains
    more than ``penalty * d``.
    """
    num_frames, num_bins = per_axis.shape[0], per_axis.shape[-1]
    bins = np.arange(num_bins)
    move_cost = penalty_per_bin * np.abs(bins[:, None] - bins[None, :]).astype(np.float32)  # (from, to)
    score = per_axis[0].astype(np.float32)
    back = np.zeros(per_axis.shape, np.int16)
    for t in range(1, num_frames):
        candidates = score[..., :, None] - move_cost  # (K, 2, from, to)
        back[t] = candidates.argmax(axis=-2)
        score = np.take_along_axis(candidates, back[t][..., None, :].astype(np.int64), axis=-2)[..., 0, :] + per_axis[t]
    path = np.zeros(per_axis.shape[:-1], np.int64)
    path[-1] = score.argmax(axis=-1)
    for t in range(num_frames - 1, 0, -1):
        path[t - 1] = np.take_along_axis(back[t], path[t][..., None], axis=-1)[..., 0]
    return path


def _bins(keypoints_px: np.ndarray, canvas_width: int, canvas_height: int, num_bins: int) -> np.ndarray:
    """(..., 2) int64 bin of each coordinate: floor(W * coord_norm), clipped into the image."""
    coord_norm = keypoints_px.astype(np.float64) / np.array([canvas_width, canvas_height], np.float64)
    return np.clip(np.floor(num_bins * coord_norm), 0, num_bins - 1).astype(np.int64)


def _centroid(per_axis: np.ndarray, peak_bin: np.ndarray, sigma_bins: float) -> np.ndarray:
    """(T, K, 2) float64 centroid, in bins, of the positive values in a symmetric window about each peak."""
    num_bins = per_axis.shape[-1]
    max_radius = max(1, int(np.ceil(3 * sigma_bins)))
    radius = np.minimum(np.minimum(peak_bin, num_bins - 1 - peak_bin), max_radius)  # symmetric even at edges
    offsets = np.arange(num_bins) - peak_bin[..., None]
    weights = np.where(np.abs(offsets) <= radius[..., None], np.maximum(per_axis, 0.0), 0.0).astype(np.float64)
    total = weights.sum(axis=-1)
    shift = (weights * offsets).sum(axis=-1) / np.where(total > 0, total, 1.0)
    return peak_bin + shift
