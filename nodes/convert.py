"""Conversions between ComfyUI's native values and Choreo's core types.

ComfyUI types exist only here and in the node classes: AUDIO is
``{"waveform": (1, C, N) tensor, "sample_rate": int}``, IMAGE is a
``(B, H, W, 3)`` float tensor in 0..1, MASK is ``(B, H, W)``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..choreo.errors import AudioInputError, ImageInputError
from ..choreo.music.audio import Audio


def audio_from_comfy(audio: dict, name: str = "audio") -> Audio:
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise AudioInputError(f"{name} is not a ComfyUI AUDIO value (a dict with 'waveform' and 'sample_rate'). "
                              "Connect a LoadAudio node.")
    waveform = audio["waveform"]
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().to("cpu", torch.float32).numpy()
    return Audio.from_array(waveform, int(audio["sample_rate"]), name=name)


def audio_to_comfy(audio: Audio) -> dict:
    return {"waveform": torch.from_numpy(np.ascontiguousarray(audio.samples))[None], "sample_rate": audio.sample_rate}


def image_from_comfy(image: torch.Tensor, name: str = "image", index: int = 0) -> np.ndarray:
    """One frame of an IMAGE batch as (H, W, 3) uint8 RGB."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ImageInputError(f"{name} must be a ComfyUI IMAGE of shape (batch, height, width, 3), got {shape}.")
    if image.shape[1] < 16 or image.shape[2] < 16:
        raise ImageInputError(f"{name} is {image.shape[2]}x{image.shape[1]} px; at least 16x16 px is needed.")
    frame = image[min(index, image.shape[0] - 1), ..., :3]
    return (frame.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def frames_to_comfy(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> IMAGE batch (T, H, W, 3) float32 in 0..1."""
    return torch.from_numpy(frames).to(torch.float32).div_(255.0)


def frames_from_comfy(images: torch.Tensor, name: str = "images"):
    """Iterate an IMAGE batch as (H, W, 3) uint8 frames without copying the whole batch."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ImageInputError(f"{name} must be a ComfyUI IMAGE batch (frames, height, width, 3).")
    for frame in images:
        yield (frame[..., :3].clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def fit_to_canvas(image_rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a (H, W, 3) uint8 picture to the pose canvas (the canvas was made from it, so only rounding differs)."""
    import cv2

    if image_rgb.shape[:2] == (height, width):
        return image_rgb
    return cv2.resize(image_rgb, (width, height), interpolation=cv2.INTER_AREA)


def mask_to_comfy(mask: np.ndarray) -> torch.Tensor:
    """(H, W) float 0..1 -> MASK batch (1, H, W) float32."""
    return torch.from_numpy(np.ascontiguousarray(mask, np.float32))[None]


def mask_from_comfy(mask: torch.Tensor | None, width: int, height: int) -> np.ndarray | None:
    """First mask of a MASK batch as (height, width) float32, resized to the canvas; None when absent or empty
    (Reference Pose outputs an empty mask when no detector ran, so the puppet cuts the figure out itself)."""
    import cv2

    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise ImageInputError(f"figure_mask must be a ComfyUI MASK (batch, height, width), got {type(mask).__name__}.")
    frame = (mask if mask.ndim == 2 else mask[0]).detach().to("cpu", torch.float32).numpy()
    if not frame.any():
        return None
    if frame.shape != (height, width):
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(frame, 0.0, 1.0)
