"""X-Dancer rendering: reference image + pose tokens -> video frames, all frames sampled together.

The steps (Chen et al. 2025, §3.3 and "Inference"):

1. check inputs; snap the frame size to the UNet's grid (documented resize, logged);
2. VAE-encode the reference; encode the conditioning (CLIP image embeds of the reference, per-frame
   prompt embeddings for prompt traveling, or a null embedding);
3. one ReferenceNet pass at t = 0 records its self-attention inputs in the feature bank;
4. denoise the whole latent sequence: at every step each 16-frame window is predicted (its motion
   modules see the window's frames together, the motion-token decoder turns its tokens into
   guidance), overlapping windows are blended with ramp weights, and one scheduler step moves
   every frame (AnimateDiff-style context windows);
5. decode frame by frame.

``progress`` is called once per window per step; it may raise to interrupt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ...errors import ChoreoError, ImageInputError

LOGGER = logging.getLogger(__name__)


class XDancerInputError(ChoreoError):
    """Tokens, confidences or sampling settings given to the X-Dancer renderer are invalid."""


@dataclass
class XDancerComponents:
    """The loaded networks of the renderer (see ``loading.load_xdancer_components``).

    ``denoising_unet`` is a ``UNetMotionModel`` for video (a ``UNet2DConditionModel`` in stage-1
    training); ``bank`` is shared by the ReferenceNet's writer and the denoising UNet's reader
    processors. ``image_encoder`` (CLIPVisionModelWithProjection) and ``tokenizer``/``text_encoder``
    are optional conditioning encoders; without them the conditioning is a null embedding.
    """

    vae: Any
    denoising_unet: Any
    reference_unet: Any
    token_decoder: Any
    scheduler: Any
    bank: Any
    image_encoder: Any = None
    tokenizer: Any = None
    text_encoder: Any = None

    @property
    def device(self):
        return next(self.denoising_unet.parameters()).device

    @property
    def dtype(self):
        return next(self.denoising_unet.parameters()).dtype

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size_multiple_px(self) -> int:
        """Frame sides must be multiples of this: VAE downsampling x UNet downsampling."""
        return self.vae_scale_factor * 2 ** (len(self.denoising_unet.config.block_out_channels) - 1)


def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    """First frame of each window: stride ``window - overlap``, the last window flush with the end.

    >>> window_starts(20, 16, 4)
    [0, 4]
    >>> window_starts(40, 16, 4)
    [0, 12, 24]
    """
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window + 1, window - overlap))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def window_weights(length: int, overlap: int) -> np.ndarray:
    """(length,) blend weights: a linear ramp over ``overlap`` frames at both ends, 1 in between."""
    ramp = np.arange(1, length + 1, dtype=np.float32) / (overlap + 1)
    return np.minimum(1.0, np.minimum(ramp, ramp[::-1]))


def encode_reference_image(vae, image_rgb: np.ndarray, device, dtype):
    """(1, C_latent, h, w) latents (scaled by the VAE's scaling factor) of an (H, W, 3) uint8 image."""
    import torch

    pixels = torch.from_numpy(np.ascontiguousarray(image_rgb)).permute(2, 0, 1)[None].to(device, torch.float32)
    pixels = (pixels / 127.5 - 1.0).to(dtype)
    return vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor


def clip_image_embeds(image_encoder, image_rgb: np.ndarray, device, dtype):
    """(1, 1, D) CLIP image embedding of an (H, W, 3) uint8 image (224-px centre-free resize, CLIP normalisation)."""
    import torch
    import torch.nn.functional as F

    size = image_encoder.config.image_size
    pixels = torch.from_numpy(np.ascontiguousarray(image_rgb)).permute(2, 0, 1)[None].to(device, torch.float32) / 255
    pixels = F.interpolate(pixels, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073], device=device)[None, :, None, None]
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711], device=device)[None, :, None, None]
    return image_encoder(pixel_values=((pixels - mean) / std).to(dtype)).image_embeds[:, None]


def prompt_traveling_embeds(tokenizer, text_encoder, prompts: Mapping[float, str], num_frames: int, fps: float,
                            device, dtype):
    """(num_frames, L, D) text embeddings: each keyed prompt holds at its frame, linear blends in between.

    prompts : {time_s: prompt}; before the first key the first prompt holds, after the last the last.
    """
    import torch

    keys = sorted(prompts)
    tokens = tokenizer([prompts[key] for key in keys], padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt").input_ids.to(device)
    embeds = text_encoder(tokens)[0].to(dtype)  # (P, L, D)
    key_frames = np.array([key * fps for key in keys], dtype=np.float64)  # s x frames/s = frames
    frames = np.arange(num_frames, dtype=np.float64)
    upper = np.clip(np.searchsorted(key_frames, frames, side="right"), 1, len(keys) - 1) if len(keys) > 1 else None
    if upper is None:
        return embeds.expand(num_frames, -1, -1).clone()
    lower = upper - 1
    span = np.maximum(key_frames[upper] - key_frames[lower], 1e-9)
    alpha = torch.from_numpy(np.clip((frames - key_frames[lower]) / span, 0.0, 1.0)).to(device, dtype)
    return embeds[lower] * (1 - alpha)[:, None, None] + embeds[upper] * alpha[:, None, None]


def conditioning_embeds(components: XDancerComponents, image_rgb: np.ndarray, num_frames: int, fps: float,
                        prompts: Mapping[float, str] | None):
    """(num_frames, L, D) conditioning per frame: prompts if given, else CLIP image embeds, else zeros."""
    import torch

    device, dtype = components.device, components.dtype
    if prompts:
        if components.tokenizer is None or components.text_encoder is None:
            raise XDancerInputError("prompts were given but the base model has no text encoder/tokenizer; use a "
                                    "diffusers-format SD1.5 folder (with text_encoder/ and tokenizer/) or no prompts.")
        return prompt_traveling_embeds(components.tokenizer, components.text_encoder, prompts, num_frames, fps,
                                       device, dtype)
    if components.image_encoder is not None:
        return clip_image_embeds(components.image_encoder, image_rgb, device, dtype).expand(num_frames, -1, -1)
    width = components.denoising_unet.config.cross_attention_dim
    return torch.zeros(num_frames, 1, width, device=device, dtype=dtype)


def record_reference(components: XDancerComponents, reference_latents, reference_embeds) -> None:
    """Run the ReferenceNet once at t = 0 so the bank holds its self-attention inputs (one per batch item).

    reference_latents : (B, C, h, w); reference_embeds : (B, L, D).
    """
    components.bank.clear()
    components.reference_unet(reference_latents, 0, reference_embeds)


def predict_noise(components: XDancerComponents, noisy_latents, timestep, frame_embeds, tokens, confidence):
    """The denoising UNet's prediction for frame windows, guided by the decoded pose tokens.

    noisy_latents : (B, C, F, h, w); frame_embeds : (B*F, L, D); tokens : (B, F, 5, 6) long;
    confidence : (B, F, 60); timestep : scalar or (B,). Returns (B, C, F, h, w). Call ``record_reference``
    first. A spatial ``UNet2DConditionModel`` (stage-1 training) sees the B*F frames as a batch.
    """
    import torch

    residuals, mid = components.token_decoder(tokens, confidence, tuple(noisy_latents.shape[-2:]))
    unet = components.denoising_unet
    if hasattr(getattr(unet, "module", unet).config, "motion_max_seq_length"):
        return unet(noisy_latents, timestep, frame_embeds, down_block_additional_residuals=residuals,
                    mid_block_additional_residual=mid).sample
    batch, _, frames = noisy_latents.shape[:3]
    timestep = torch.as_tensor(timestep, device=noisy_latents.device).reshape(-1).expand(batch)
    prediction = unet(noisy_latents.transpose(1, 2).flatten(0, 1), timestep.repeat_interleave(frames), frame_embeds,
                      down_block_additional_residuals=residuals, mid_block_additional_residual=mid).sample
    return prediction.unflatten(0, (batch, frames)).transpose(1, 2)


def _check_inputs(reference_image, tokens, confidences, fps, num_inference_steps, guidance_scale, window, overlap,
                  token_decoder, max_window) -> None:
    if not isinstance(reference_image, np.ndarray) or reference_image.ndim != 3 or reference_image.shape[2] != 3 \
            or reference_image.dtype != np.uint8:
        shape = getattr(reference_image, "shape", type(reference_image).__name__)
        raise ImageInputError(f"reference_image must be an (H, W, 3) uint8 array, got {shape}.")
    config = token_decoder.config
    expected = (config.num_parts, config.tokens_per_part)
    if tokens.ndim != 3 or tuple(tokens.shape[1:]) != expected or tokens.shape[0] < 1:
        raise XDancerInputError(f"tokens must have shape (T, {expected[0]}, {expected[1]}), got {tuple(tokens.shape)}. "
                                "Connect the X-Dancer Generate node's pose tokens.")
    if int(tokens.min()) < 0 or int(tokens.max()) >= config.codebook_size:
        raise XDancerInputError(f"token values span {int(tokens.min())}..{int(tokens.max())}, outside the codebook "
                                f"0..{config.codebook_size - 1}; the tokens come from a different tokenizer.")
    if tuple(confidences.shape) != (tokens.shape[0], config.num_joints):
        raise XDancerInputError(f"confidences must have shape ({tokens.shape[0]}, {config.num_joints}), got "
                                f"{tuple(confidences.shape)}.")
    if not fps > 0:
        raise XDancerInputError(f"fps must be positive, got {fps}.")
    if num_inference_steps < 1:
        raise XDancerInputError(f"num_inference_steps must be at least 1, got {num_inference_steps}.")
    if guidance_scale < 1.0:
        raise XDancerInputError(f"guidance_scale must be >= 1 (1 = no classifier-free guidance), got {guidance_scale}.")
    if not 1 <= window <= max_window:
        raise XDancerInputError(f"window must be 1..{max_window} frames (the motion modules' maximum), got {window}.")
    if not 0 <= overlap < window:
        raise XDancerInputError(f"overlap must be 0..{window - 1} frames for a {window}-frame window, got {overlap}.")


def render_xdancer(components: XDancerComponents, reference_image: np.ndarray, tokens, confidences, fps: float,
                   num_inference_steps: int = 25, guidance_scale: float = 2.0, seed: int = 0, window: int = 16,
                   overlap: int = 4, prompts: Mapping[float, str] | None = None,
                   progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Animate the person in ``reference_image`` with X-Dancer pose tokens.

    reference_image : (H, W, 3) uint8 RGB; sides that are not multiples of
                      ``components.size_multiple_px`` are resized down to the nearest multiple (logged).
    tokens          : (T, 5, 6) long codebook indices (upper, lower, head, left hand, right hand x 6).
    confidences     : (T, 60) float keypoint confidences 0..1.
    fps             : frames per second of the tokens (frame t at t / fps s; used for prompt times).
    guidance_scale  : classifier-free guidance on the conditioning embedding (1 = off).
    window, overlap : frames denoised together by the motion modules, and frames shared by neighbours.
    prompts         : optional {time_s: prompt} for prompt traveling (needs the base model's text encoder).
    Returns (T, H', W', 3) uint8 frames.

    Example (tiny random networks, see tests/test_xdancer_renderer.py)::

        frames = render_xdancer(components, image, tokens, confidences, fps=30.0, num_inference_steps=2)
    """
    import torch

    max_window = getattr(components.denoising_unet.config, "motion_max_seq_length", 32)
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    confidences = torch.as_tensor(confidences, dtype=torch.float32)
    _check_inputs(reference_image, tokens, confidences, fps, num_inference_steps, guidance_scale, window, overlap,
                  components.token_decoder, max_window)
    reference_image = _snap_to_grid(reference_image, components.size_multiple_px)
    num_frames = tokens.shape[0]
    device, dtype = components.device, components.dtype
    branches = 2 if guidance_scale > 1.0 else 1
    report = progress or (lambda fraction: None)

    with torch.inference_mode():
        reference_latents = encode_reference_image(components.vae, reference_image, device, dtype)
        cond = conditioning_embeds(components, reference_image, num_frames, fps, prompts)  # (T, L, D)
        uncond = torch.zeros_like(cond)
        reference_embeds = torch.cat([uncond[:1], cond[:1]]) if branches == 2 else cond[:1]
        record_reference(components, reference_latents.expand(branches, -1, -1, -1), reference_embeds)

        generator = torch.Generator("cpu").manual_seed(int(seed))
        shape = (1, reference_latents.shape[1], num_frames, *reference_latents.shape[-2:])
        latents = torch.randn(shape, generator=generator, dtype=torch.float32).to(device, dtype)
        scheduler = components.scheduler
        scheduler.set_timesteps(num_inference_steps, device=device)
        latents = latents * scheduler.init_noise_sigma
        tokens, confidences = tokens.to(device), confidences.to(device, dtype)
        window = min(window, num_frames)
        starts = window_starts(num_frames, window, overlap)
        weights = torch.from_numpy(window_weights(window, overlap)).to(device, dtype)[None, None, :, None, None]
        total = len(scheduler.timesteps) * len(starts)
        for step, timestep in enumerate(scheduler.timesteps):
            blended = torch.zeros_like(latents)
            weight_sum = torch.zeros_like(latents[:, :1])
            for index, start in enumerate(starts):
                frames = slice(start, start + window)
                model_input = scheduler.scale_model_input(latents[:, :, frames], timestep).expand(branches, -1, -1,
                                                                                                   -1, -1)
                embeds = torch.cat([uncond[frames], cond[frames]]) if branches == 2 else cond[frames]
                prediction = predict_noise(components, model_input, timestep, embeds,
                                           tokens[frames][None].expand(branches, -1, -1, -1),
                                           confidences[frames][None].expand(branches, -1, -1))
                if branches == 2:
                    unconditional, conditional = prediction.chunk(2)
                    prediction = unconditional + guidance_scale * (conditional - unconditional)
                blended[:, :, frames] += prediction * weights
                weight_sum[:, :, frames] += weights
                report((step * len(starts) + index + 1) / total)
            latents = scheduler.step(blended / weight_sum, timestep, latents).prev_sample
        components.bank.clear()
        frames_out = np.empty((num_frames, *reference_image.shape), dtype=np.uint8)
        scaling = components.vae.config.scaling_factor
        for frame in range(num_frames):
            pixels = components.vae.decode(latents[:, :, frame] / scaling).sample[0]
            pixels = ((pixels.float().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)
            frames_out[frame] = pixels.permute(1, 2, 0).cpu().numpy()
    return frames_out


def _snap_to_grid(image_rgb: np.ndarray, multiple: int) -> np.ndarray:
    height, width = image_rgb.shape[:2]
    snapped = (height // multiple * multiple, width // multiple * multiple)
    if min(snapped) == 0:
        raise ImageInputError(f"reference_image is {width}x{height} px; the renderer needs at least "
                              f"{multiple}x{multiple} px (sides are multiples of {multiple}).")
    if snapped == (height, width):
        return image_rgb
    import cv2

    LOGGER.warning("X-Dancer renderer: reference image resized from %dx%d to %dx%d px (sides must be multiples "
                   "of %d).", width, height, snapped[1], snapped[0], multiple)
    return cv2.resize(image_rgb, (snapped[1], snapped[0]), interpolation=cv2.INTER_AREA)
