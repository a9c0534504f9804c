"""Render a pose sequence as a video of the reference person with diffusers' Wan 2.2 Animate.

The segment loop is Choreo's own (diffusers' ``WanAnimatePipeline.__call__`` chains segments internally and can
neither report per-chunk progress nor be interrupted between chunks); every step inside a chunk reuses the
pipeline's own helpers (reference / pose / previous-segment latents, scheduler, VAE), so the conditioning is
exactly diffusers'. Chunking follows ``chunks.py``: one pose video drawn with ``PoseDrawStyle.wan_animate()``,
the fixed reference image for every chunk, and each chunk continued from the previous chunk's last frames.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from ...errors import ImageInputError
from ...pose.sequence import PoseSequence2D
from ..pose_video import PoseDrawStyle, iter_pose_frames
from .chunks import DEFAULT_CHUNK_FRAMES, DEFAULT_CONTINUE_FRAMES, WanAnimateError, plan_chunks, stitch
from .face_video import render_face_video

if TYPE_CHECKING:
    import torch

DEFAULT_NEGATIVE_PROMPT = ("blurry, low quality, distorted body, extra limbs, deformed hands, flicker, "
                           "static, watermark, text")
MAX_SEQUENCE_LENGTH = 512


def encode_text(pipe, prompt: str, device, max_sequence_length: int = MAX_SEQUENCE_LENGTH):
    """umT5 embeddings (1, L, D) zeroed past the prompt's tokens, as ``WanAnimatePipeline._get_t5_prompt_embeds``.

    Whitespace is normalised like diffusers; diffusers' optional ftfy text repair is not applied.
    """
    import torch

    text = re.sub(r"\s+", " ", html.unescape(html.unescape(prompt))).strip()
    tokens = pipe.tokenizer([text], padding="max_length", max_length=max_sequence_length, truncation=True,
                            add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    length = int(tokens.attention_mask.gt(0).sum())
    model_device = next(pipe.text_encoder.parameters()).device
    if model_device.type == "meta":
        model_device = device
    with torch.no_grad():
        hidden = pipe.text_encoder(tokens.input_ids.to(model_device),
                                   tokens.attention_mask.to(model_device)).last_hidden_state
    hidden = hidden.to(device)
    embeds = torch.zeros_like(hidden)
    embeds[:, :length] = hidden[:, :length]
    return embeds


def _video_tensor(frames: np.ndarray, dtype, device):
    """(F, H, W, 3) uint8 -> (1, 3, F, H, W) in -1..1."""
    import torch

    video = torch.from_numpy(np.ascontiguousarray(frames)).to(device=device, dtype=torch.float32)
    return (video.permute(3, 0, 1, 2)[None] / 127.5 - 1.0).to(dtype)


def _to_uint8(video) -> np.ndarray:
    """(1, 3, F, H, W) in -1..1 -> (F, H, W, 3) uint8."""
    import torch

    frames = ((video[0].float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return frames.permute(1, 2, 3, 0).cpu().numpy()


def _pose_frames(pose: PoseSequence2D, indices: np.ndarray, width: int, height: int) -> np.ndarray:
    sub = PoseSequence2D(pose.keypoints_px[indices], pose.confidence[indices], pose.canvas_width,
                         pose.canvas_height, pose.fps, pose.missing_parts)
    out = np.empty((len(indices), height, width, 3), np.uint8)
    for i, frame in enumerate(iter_pose_frames(sub, PoseDrawStyle.wan_animate())):
        out[i] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return out


def _latent_stats(pipe, latents):
    import torch

    z = pipe.vae.config.z_dim
    mean = torch.tensor(pipe.vae.config.latents_mean).view(1, z, 1, 1, 1).to(latents.device, latents.dtype)
    std = torch.tensor(pipe.vae.config.latents_std).view(1, z, 1, 1, 1).to(latents.device, latents.dtype)
    return mean, std


def render_wan_animate(pipe, reference_image: np.ndarray, pose: PoseSequence2D, fps: float | None = None,
                       prompt: str = "", negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
                       num_inference_steps: int = 20, guidance_scale: float = 1.0, seed: int = 0,
                       chunk_frames: int = DEFAULT_CHUNK_FRAMES, continue_frames: int = DEFAULT_CONTINUE_FRAMES,
                       width: int = 832, height: int = 480, reference_pose: PoseSequence2D | None = None,
                       face_source: str = "reference",
                       progress: Callable[[float], None] | None = None,
                       place: Callable[[tuple[str, ...]], torch.device] | None = None) -> np.ndarray:
    """The dance as (T, height, width, 3) uint8, T = ``pose.num_frames``.

    pipe            : a diffusers ``WanAnimatePipeline`` (``loading.load_wan_animate``), placed by
                      ``loading.apply_memory_options``.
    reference_image : (H, W, 3) uint8, the person; resized to width x height like the pose video.
    pose            : the dance on the reference image's canvas (frame t at t / fps seconds).
    fps             : must equal ``pose.fps`` when given (the renderer keeps the pose clock; Wan was trained
                      at 30 fps, MACE-Dance outputs 15 fps).
    guidance_scale  : 1.0 (Wan-Animate's default) runs one pass per step; above 1 adds a negative pass.
    chunk_frames    : frames per Wan call, snapped down to 4n + 1 (77 as ComfyUI); continue_frames: overlap
                      conditioned on the previous chunk (1 or 5 as Wan was trained).
    reference_pose  : the person's pose in the reference image (locates the face for the face video).
    progress        : fraction 0..1 after each denoising step; it may raise to interrupt.
    place           : called with the names of the pipeline parts the next stage runs (encoders, VAE,
                      transformer) and returning the device to run on; ComfyUI's model manager loads them
                      (``nodes.wan_animate_nodes``). None: the pipeline is already placed (``apply_memory_options``).
    """
    import torch

    if reference_image.ndim != 3 or reference_image.shape[2] != 3 or reference_image.dtype != np.uint8:
        raise ImageInputError(f"reference_image must be (H, W, 3) uint8, got {reference_image.shape} "
                              f"{reference_image.dtype}.")
    if width % 16 or height % 16 or width < 16 or height < 16:
        raise WanAnimateError(f"width and height must be positive multiples of 16, got {width}x{height}.")
    if fps is not None and abs(fps - pose.fps) > 1e-6:
        raise WanAnimateError(f"fps {fps} differs from the pose sequence's {pose.fps}; resample the pose first.")
    num_frames = pose.num_frames
    chunks = plan_chunks(num_frames, chunk_frames, continue_frames)
    place = place or (lambda parts: pipe._execution_device)
    device = place(("text_encoder", "image_encoder", "vae"))
    model_dtype = pipe.transformer.dtype
    generator = torch.Generator("cpu").manual_seed(int(seed))
    face_size = pipe.transformer.config.motion_encoder_size
    total_steps = len(chunks) * num_inference_steps

    try:
        prompt_embeds = encode_text(pipe, prompt, device).to(model_dtype)
        negative_embeds = None
        if guidance_scale > 1.0:
            negative_embeds = encode_text(pipe, negative_prompt, device).to(model_dtype)
        from PIL import Image

        reference = cv2.resize(reference_image, (width, height), interpolation=cv2.INTER_AREA)
        image_embeds = pipe.encode_image(Image.fromarray(reference), device).to(model_dtype)
        reference_latents = pipe.prepare_reference_image_latents(
            _video_tensor(reference[None], torch.float32, device)[:, :, 0], 1, generator=generator, device=device)

        outputs = []
        for chunk in chunks:
            place(("vae",))
            indices = chunk.pose_indices(num_frames)
            pose_video = _video_tensor(_pose_frames(pose, indices, width, height), torch.float32, device)
            faces = render_face_video(pose, reference_image, reference_pose, indices, face_size, face_source)
            face_video = _video_tensor(faces, model_dtype, device)
            pose_latents = pipe.prepare_pose_latents(pose_video, 1, generator=generator, device=device)
            previous = None
            if chunk.cond_frames:
                previous = _video_tensor(outputs[-1][-chunk.cond_frames:], torch.float32, device)
            cond_latents = pipe.prepare_prev_segment_cond_latents(
                previous, batch_size=1, segment_frame_length=chunk.length, start_frame=chunk.start,
                height=height, width=width, prev_segment_cond_frames=chunk.cond_frames or continue_frames,
                task="animate", generator=generator, device=device)
            condition = torch.cat([reference_latents, cond_latents], dim=2)
            latents = pipe.prepare_latents(1, pipe.vae.config.z_dim, height, width, chunk.length, torch.float32,
                                           device, generator)
            place(("transformer",))
            pipe.scheduler.set_timesteps(num_inference_steps, device=device)
            for step, t in enumerate(pipe.scheduler.timesteps):
                model_input = torch.cat([latents, condition], dim=1).to(model_dtype)
                kwargs = dict(hidden_states=model_input, timestep=t.expand(1), return_dict=False,
                              encoder_hidden_states_image=image_embeds, pose_hidden_states=pose_latents.to(model_dtype))
                with torch.no_grad():
                    noise = pipe.transformer(encoder_hidden_states=prompt_embeds, face_pixel_values=face_video,
                                             **kwargs)[0]
                    if negative_embeds is not None:
                        uncond = pipe.transformer(encoder_hidden_states=negative_embeds,
                                                  face_pixel_values=face_video * 0 - 1, **kwargs)[0]
                        noise = uncond + guidance_scale * (noise - uncond)
                latents = pipe.scheduler.step(noise, t, latents, return_dict=False)[0]
                if progress is not None:
                    progress((chunk.index * num_inference_steps + step + 1) / total_steps)
            mean, std = _latent_stats(pipe, latents)
            latents = (latents * std + mean).to(pipe.vae.dtype)
            place(("vae",))
            with torch.no_grad():
                video = pipe.vae.decode(latents[:, :, 1:], return_dict=False)[0]
            outputs.append(_to_uint8(video))
    finally:
        pipe.maybe_free_model_hooks()
    return stitch(outputs, chunks, num_frames)
