"""M2PEnc inference: load a checkpoint, turn music into CHAMP guidance images and decoded 2D keypoints.

The encoder (``models/m2penc.py``) works at its own frame rate and map size (the demo: 15 fps, 32x32
cells). This module puts its output on the caller's frame clock and canvas:

* time: frame i of the output is at i / fps seconds; maps are interpolated linearly between the two
  nearest encoder frames (no extrapolation past the last one);
* space: the square maps are scaled to fit inside width x height, centred, the rest black (the
  guidance passes' background), so the body keeps its proportions on any canvas;
* long songs are encoded in windows of the length the encoder was trained on (``clip_frames`` in the
  checkpoint metadata), overlapping by ``overlap_frames`` and cross-faded linearly.

Decoding heatmaps: each keypoint lies at the argmax cell of its heatmap (``models.m2penc.decode_heatmaps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..checkpoints import CheckpointError, load_metadata, load_model
from ..datasets.m2penc_data import M2PEncDataConfig, music_features_at, pool_to_fps
from ..errors import ChoreoError
from ..model_cache import MODEL_CACHE, cache_key
from ..music.audio import Audio
from ..music.features import MusicFeatures
from ..networks import network_module
from ..pose.layout import BODY, NUM_KEYPOINTS, PARTS
from ..pose.sequence import PoseSequence2D

DEFAULT_OVERLAP_FRAMES = 6


@dataclass(frozen=True)
class M2PEncModel:
    """A loaded encoder with what inference needs from its checkpoint.

    music_mean, music_std : (C,) float32 normaliser of the music features it was trained on.
    extractor             : music feature extractor (``choreo.music.features``).
    feature_fps           : rate the features are extracted at before pooling to ``config.fps``.
    clip_frames           : frames per window it was trained on.
    """

    network: object
    config: object
    music_mean: np.ndarray
    music_std: np.ndarray
    extractor: str
    feature_fps: float
    clip_frames: int
    metadata: dict

    @property
    def fps(self) -> float:
        return float(self.config.fps)


def load_m2penc(path: str | Path, device: str = "cpu", dtype=None) -> M2PEncModel:
    """Load (once per process, ``MODEL_CACHE``) an M2PEnc checkpoint folder: config.json + model.safetensors."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} is not an M2PEnc checkpoint folder (no config.json). Train one with "
                              "python -m choreo.training.train_m2penc or use the bundled demo.")

    def load() -> tuple:
        m2penc = network_module("m2penc")
        network, config, extra = load_model(path, m2penc.M2PEncConfig, m2penc.M2PEnc, device=device, dtype=dtype)
        if "music_mean" not in extra or "music_std" not in extra:
            raise CheckpointError(f"{path} lacks the music normaliser (extra.music_mean / extra.music_std); "
                                  "re-export it with choreo.training.train_m2penc.")
        metadata = load_metadata(path)
        model = M2PEncModel(network=network, config=config, music_mean=extra["music_mean"].float().numpy(),
                            music_std=extra["music_std"].float().numpy(),
                            extractor=str(metadata.get("extractor", "edge_librosa")),
                            feature_fps=float(metadata.get("feature_fps", 30.0)),
                            clip_frames=int(metadata.get("clip_frames", 24)), metadata=metadata)
        return network, model

    return MODEL_CACHE.get_or_load(cache_key(path / "model.safetensors", dtype, device, "m2penc"), load)[1]


def music_for_model(model: M2PEncModel, features: MusicFeatures) -> np.ndarray:
    """(T, C) float32 features at the encoder's fps, from features extracted at ``feature_fps`` or ``fps``."""
    if features.extractor != model.extractor:
        raise ChoreoError(f"music features come from extractor {features.extractor!r}, but this M2PEnc was trained "
                          f"on {model.extractor!r}. Set Music Features' extractor to {model.extractor}.")
    if features.values.shape[1] != model.config.music_dim:
        raise ChoreoError(f"music features have {features.values.shape[1]} columns, the encoder expects "
                          f"{model.config.music_dim}.")
    if abs(features.fps - model.fps) < 1e-6:
        return features.values.astype(np.float32)
    if features.fps > model.fps:
        return pool_to_fps(features.values, features.fps, model.fps)
    raise ChoreoError(f"music features at {features.fps:g} fps are too coarse for this M2PEnc ({model.fps:g} fps). "
                      f"Extract them at {model.feature_fps:g} fps.")


def music_from_audio(model: M2PEncModel, audio: Audio) -> np.ndarray:
    """(T, C) float32 features of ``audio`` at the encoder's fps, extracted as in training."""
    config = M2PEncDataConfig(fps=model.fps, extractor=model.extractor, feature_fps=model.feature_fps)
    return music_features_at(audio, config)


def window_starts(num_frames: int, window_frames: int, overlap_frames: int) -> list[int]:
    """Starts of windows of ``window_frames`` covering ``num_frames``, each overlapping the previous one by at
    least ``overlap_frames``; the last window ends at the last frame."""
    if num_frames <= window_frames:
        return [0]
    step = max(window_frames - overlap_frames, 1)
    starts = list(range(0, num_frames - window_frames, step))
    return starts + [num_frames - window_frames]


def encode_music(model: M2PEncModel, music: np.ndarray, overlap_frames: int = DEFAULT_OVERLAP_FRAMES,
                 progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Guidance maps and keypoint heatmaps for a whole song.

    music    : (T, C) raw features at ``model.fps`` (``music_for_model`` / ``music_from_audio``).
    progress : called with the fraction done after each window; may raise to interrupt.
    Returns guidance (T, 10, G, G) float32 in [0, 1] and heatmaps (T, K, G, G) float32.
    """
    import torch

    if len(music) == 0:
        raise ChoreoError("the music has no frames at the encoder's frame rate; give at least "
                          f"{1 / model.fps:.2f} s of audio.")
    network = model.network
    parameter = next(network.parameters())
    normalised = (np.asarray(music, np.float32) - model.music_mean) / model.music_std
    num_frames, window = len(music), model.clip_frames
    grid, keypoints = model.config.grid, model.config.num_keypoints
    guidance = np.zeros((num_frames, 10, grid, grid), np.float32)
    heatmaps = np.zeros((num_frames, keypoints, grid, grid), np.float32)
    weight_sum = np.zeros(num_frames, np.float32)
    starts = window_starts(num_frames, window, overlap_frames)
    for number, start in enumerate(starts, 1):
        stop = min(start + window, num_frames)
        with torch.no_grad():
            batch = torch.from_numpy(normalised[None, start:stop]).to(parameter.device, parameter.dtype)
            window_guidance, window_heatmaps = network(batch)
        # linear cross-fade: weights ramp over the overlap at both ends (1 where no other window reaches)
        ramp = np.minimum(np.arange(1, stop - start + 1), np.arange(stop - start, 0, -1)).astype(np.float32)
        ramp = np.minimum(ramp / max(overlap_frames, 1), 1.0) if len(starts) > 1 else np.ones_like(ramp)
        guidance[start:stop] += ramp[:, None, None, None] * window_guidance[0].float().cpu().numpy()
        heatmaps[start:stop] += ramp[:, None, None, None] * window_heatmaps[0].float().cpu().numpy()
        weight_sum[start:stop] += ramp
        if progress is not None:
            progress(number / len(starts))
    weight_sum = np.maximum(weight_sum, 1e-6)[:, None, None, None]
    return guidance / weight_sum, heatmaps / weight_sum


def resample_at(values: np.ndarray, fps_in: float, frames: np.ndarray, fps_out: float) -> np.ndarray:
    """(T_in, ...) -> (len(frames), ...): output frame i (at i / fps_out s) interpolated linearly between the
    input frames around i * fps_in / fps_out, held at the last input frame past the end."""
    # seconds x input frames/second = fractional input frame
    position = np.minimum(np.asarray(frames) * fps_in / fps_out, len(values) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(values) - 1)
    weight = (position - low).astype(np.float32).reshape(-1, *([1] * (values.ndim - 1)))
    return (1.0 - weight) * values[low] + weight * values[high]


def resample_frames(values: np.ndarray, fps_in: float, num_frames: int, fps_out: float) -> np.ndarray:
    """Frames 0 .. num_frames - 1 of ``resample_at``: the whole sequence on the output clock."""
    return resample_at(values, fps_in, np.arange(num_frames), fps_out)


def map_placement(grid: int, width: int, height: int) -> tuple[int, int, int]:
    """(side_px, left_px, top_px): the square a grid x grid map fills when fitted inside width x height, centred."""
    side = min(width, height)
    return side, (width - side) // 2, (height - side) // 2


def guidance_images(guidance: np.ndarray, fps_in: float, num_frames: int, fps: float, width: int,
                    height: int, chunk_frames: int = 16) -> dict:
    """The four passes as (num_frames, height, width, 3) float32 torch tensors in [0, 1], named as Render Body Passes.

    guidance : (T, 10, G, G) from ``encode_music`` at ``fps_in``; depth is grey (its channel repeated).
    Frames are scaled ``chunk_frames`` at a time straight into the outputs, so memory is the outputs alone.
    """
    import torch
    import torch.nn.functional as F

    slices = network_module("m2penc").guidance_slices()
    side, left, top = map_placement(guidance.shape[-1], width, height)
    images = {name: torch.zeros((num_frames, height, width, 3), dtype=torch.float32) for name in slices}
    for start in range(0, num_frames, chunk_frames):
        stop = min(start + chunk_frames, num_frames)
        timed = resample_at(guidance, fps_in, np.arange(start, stop), fps)
        scaled = F.interpolate(torch.from_numpy(np.ascontiguousarray(timed)), size=(side, side), mode="bilinear",
                               align_corners=False).clamp_(0.0, 1.0).permute(0, 2, 3, 1)  # (n, side, side, 10)
        for name, channels in slices.items():
            part = scaled[..., channels]
            images[name][start:stop, top:top + side, left:left + side] = part.expand(-1, -1, -1, 3) \
                if part.shape[-1] == 1 else part
    return images


def heatmap_keypoints(heatmaps: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Decoded keypoints on the canvas of ``guidance_images``.

    heatmaps : (T, K, G, G).   Returns keypoints_px (T, K, 2) float32 (x right, y down) and peak (T, K).
    """
    import torch

    decode = network_module("m2penc").decode_heatmaps
    cells, peak = decode(torch.from_numpy(np.ascontiguousarray(heatmaps)))
    grid = heatmaps.shape[-1]
    side, left, top = map_placement(grid, width, height)
    # cell j spans pixels [j, j + 1) * side / grid: its centre is at (j + 0.5) * side / grid - 0.5
    points = (cells.numpy() + 0.5) * side / grid - 0.5 + np.array([left, top], np.float32)
    return points.astype(np.float32), peak.numpy()


def decoded_pose(heatmaps: np.ndarray, fps_in: float, num_frames: int, fps: float, width: int,
                 height: int) -> PoseSequence2D:
    """The heatmaps' body keypoints as a pose sequence on the caller's clock and canvas (hands and face absent).

    Keypoints are decoded at the encoder's rate and interpolated linearly to ``fps``; confidence is 1.
    """
    points, _ = heatmap_keypoints(heatmaps, width, height)
    keypoints = np.zeros((num_frames, NUM_KEYPOINTS, 2), np.float32)
    confidence = np.zeros((num_frames, NUM_KEYPOINTS), np.float32)
    keypoints[:, BODY] = resample_frames(points, fps_in, num_frames, fps)
    confidence[:, BODY] = 1.0
    others = frozenset(name for name, start, _ in PARTS if start != BODY.start)
    return PoseSequence2D(keypoints, confidence, int(width), int(height), float(fps), missing_parts=others)
