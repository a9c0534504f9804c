"""One-hot pose images through a frozen SD-style image VAE, as HotDance compresses them (arXiv 2512.11720).

An image VAE takes 3-channel pictures, so the C channels are grouped into
G = ceil(C / 3) triplets (the last channel duplicated to fill the last one, as the
paper does); each triplet is a W x T picture (rows = bins, columns = frames) that the
VAE encodes to ``latent_channels`` x W/f x T/f, f = 8 for SD VAEs. The latents of all
triplets are stacked to (G * latent_channels) x W/f x T/f. Users supply the weights
(a diffusers ``AutoencoderKL``); nothing here downloads.

Padding, undone on decoding: W is padded with empty bins (no keypoint is ever there)
and T by repeating the last frame (so the VAE sees no pose vanish at the end) up to
multiples of f. One-hot values in [0, 1] map to the VAE's [-1, 1] pixel range, and
latents are shifted and scaled by the VAE's ``shift_factor`` and ``scaling_factor``
as latent diffusion does. Encoding takes the posterior mean, so it is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import PoseInputError


@dataclass(frozen=True)
class PoseLatents:
    """VAE latents of one one-hot pose image, with what decoding needs to undo the padding.

    latents      : (G * latent_channels, W_pad / f, T_pad / f) float32 tensor, scaled for diffusion.
    num_channels : C of the one-hot image before the triplet padding.
    num_bins     : W before padding.
    num_frames   : T before padding.
    """

    latents: torch.Tensor
    num_channels: int
    num_bins: int
    num_frames: int


def vae_downsampling(vae) -> int:
    """Spatial reduction f of an ``AutoencoderKL``: one halving per down block after the first (8 for SD)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def pad_for_vae(image: np.ndarray, multiple: int) -> np.ndarray:
    """The image an RGB VAE can take whole: C, W and T padded as the module docstring says.

    image    : (C, W, T) one-hot image.
    multiple : the VAE's downsampling f.
    returns  : (3G, W_pad, T_pad); the last channel repeated up to a multiple of 3, W
               padded with zeros and T with copies of the last frame up to multiples of f.
    """
    num_channels, num_bins, num_frames = image.shape
    extra_channels = -num_channels % 3
    padded = np.concatenate([image, np.repeat(image[-1:], extra_channels, axis=0)], axis=0)
    padded = np.pad(padded, ((0, 0), (0, -num_bins % multiple), (0, 0)))
    return np.pad(padded, ((0, 0), (0, 0), (0, -num_frames % multiple)), mode="edge")


@torch.no_grad()
def encode_onehot_latents(image: np.ndarray, vae, triplets_per_batch: int = 4) -> PoseLatents:
    """Latents of a one-hot pose image, one VAE encoding per channel triplet.

    image              : (C, W, T) float in [0, 1], from ``pose_to_onehot``.
    vae                : diffusers ``AutoencoderKL`` with 3 input channels, frozen (eval mode).
    triplets_per_batch : triplets encoded together; bounds memory (an SD VAE's first stage keeps
                         128-channel maps of the full W x T, 67 MB each in float32 at 512 x 256).
    returns            : PoseLatents; latents (ceil(C/3) * latent_channels, ceil(W/f), ceil(T/f)).
    """
    if image.ndim != 3 or image.shape[0] < 1:
        raise PoseInputError(f"one-hot image must be (C, W, T) with C >= 1, got {image.shape}.")
    if vae.config.in_channels != 3:
        raise PoseInputError(f"the VAE must take 3-channel images (an SD-style image VAE), got in_channels "
                             f"{vae.config.in_channels}.")
    padded = pad_for_vae(np.asarray(image, np.float32), vae_downsampling(vae))
    parameter = next(vae.parameters())
    triplets = torch.from_numpy(padded).reshape(-1, 3, *padded.shape[1:])  # (G, 3, W_pad, T_pad)
    chunks = [vae.encode(batch.to(parameter.device, parameter.dtype) * 2 - 1).latent_dist.mode()
              for batch in triplets.split(triplets_per_batch)]
    latents = (torch.cat(chunks) - _shift(vae)) * vae.config.scaling_factor  # (G, latent_channels, W', T')
    num_channels, num_bins, num_frames = image.shape
    return PoseLatents(latents.flatten(0, 1).float().cpu(), num_channels, num_bins, num_frames)


@torch.no_grad()
def decode_onehot_latents(pose_latents: PoseLatents, vae, triplets_per_batch: int = 4) -> np.ndarray:
    """The one-hot pose image a VAE decodes from latents, padding removed.

    pose_latents : from ``encode_onehot_latents`` or a sampler working in that space.
    vae          : the ``AutoencoderKL`` that encoded them.
    returns      : (C, W, T) float32, values clipped to [0, 1]; read poses with ``onehot_to_pose``.
    """
    latent_channels = vae.config.latent_channels
    latents = pose_latents.latents
    if latents.ndim != 3 or latents.shape[0] % latent_channels:
        raise PoseInputError(f"pose latents must be (G * {latent_channels}, W', T') for this VAE, got "
                             f"{tuple(latents.shape)}.")
    parameter = next(vae.parameters())
    grouped = latents.reshape(-1, latent_channels, *latents.shape[1:]) / vae.config.scaling_factor + _shift(vae)
    chunks = [vae.decode(batch.to(parameter.device, parameter.dtype)).sample
              for batch in grouped.split(triplets_per_batch)]
    image = ((torch.cat(chunks).float().cpu() + 1) / 2).clamp(0, 1).flatten(0, 1).numpy()  # (3G, W_pad, T_pad)
    return np.ascontiguousarray(image[:pose_latents.num_channels, :pose_latents.num_bins, :pose_latents.num_frames])


def encode_onehot_batch(images: torch.Tensor, vae, triplets_per_batch: int = 64) -> torch.Tensor:
    """Scaled latents of a batch of one-hot images whose W and T are multiples of f (training, sampling).

    images  : (B, C, W, T) float tensor in [0, 1] on the VAE's device; C is padded to 3G by repeating
              the last channel, as ``pad_for_vae`` does.
    returns : (B, G * latent_channels, W / f, T / f) float32, no gradient.
    """
    batch, num_channels = images.shape[:2]
    images = torch.cat([images, images[:, -1:].expand(-1, -num_channels % 3, -1, -1)], dim=1)
    parameter = next(vae.parameters())
    triplets = images.reshape(-1, 3, *images.shape[2:]).to(parameter.dtype)  # (B G, 3, W, T)
    with torch.no_grad():
        chunks = [vae.encode(chunk * 2 - 1).latent_dist.mode() for chunk in triplets.split(triplets_per_batch)]
    latents = (torch.cat(chunks) - _shift(vae)) * vae.config.scaling_factor
    return latents.reshape(batch, -1, *latents.shape[2:]).float()


def decode_onehot_batch(latents: torch.Tensor, vae, num_channels: int, triplets_per_batch: int = 64) -> torch.Tensor:
    """(B, G * latent_channels, W', T') scaled latents -> (B, num_channels, W, T) one-hot images clipped to [0, 1]."""
    latent_channels = vae.config.latent_channels
    batch = latents.shape[0]
    parameter = next(vae.parameters())
    grouped = latents.reshape(-1, latent_channels, *latents.shape[2:]) / vae.config.scaling_factor + _shift(vae)
    with torch.no_grad():
        chunks = [vae.decode(chunk.to(parameter.dtype)).sample for chunk in grouped.split(triplets_per_batch)]
    images = ((torch.cat(chunks).float() + 1) / 2).clamp(0, 1)
    return images.reshape(batch, -1, *images.shape[2:])[:, :num_channels]


def _shift(vae) -> float:
    """The VAE's latent shift (SD 1.x/2.x/XL have none; SD3 and Flux VAEs do)."""
    return getattr(vae.config, "shift_factor", None) or 0.0
