"""A small image autoencoder for one-hot pose images, in diffusers' ``AutoencoderKL`` interface.

HotDance (arXiv 2512.11720) compresses one-hot pose images with the frozen Stable Diffusion
VAE. No SD VAE weights can be had where Choreo's demo is trained, and a random one decodes
nothing, so the demo trains this network instead on the same job: 3-channel W x T pictures
(three one-hot channels of a triplet, values in [-1, 1]) to ``latent_channels`` x W/8 x T/8
and back. It answers the calls ``choreo.pose.onehot_latents`` makes of an ``AutoencoderKL``
(``config.in_channels``, ``latent_channels``, ``block_out_channels``, ``scaling_factor``,
``shift_factor``, ``encode(x).latent_dist.mode()``, ``decode(z).sample``), so a real SD VAE
and this one are interchangeable there.

Layout: a 3x3 stem, then per further level a stride-2 3x3 convolution and one residual block
(GroupNorm, SiLU, conv, twice), then a 3x3 convolution to the Gaussian's mean and log-variance;
the decoder mirrors it with nearest-neighbour upsampling. No attention: the pictures are thin
curves whose neighbourhoods are all that matters, and attention would dominate the CPU cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class ResBlock(nn.Module):
    """x + conv(silu(norm(conv(silu(norm(x))))))."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        return x + self.conv2(nn.functional.silu(self.norm2(h)))


class DiagonalGaussian:
    """The encoder's posterior: mean and log-variance per latent value (diffusers' DiagonalGaussianDistribution)."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)

    def mode(self) -> torch.Tensor:
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.logvar) * noise

    def kl(self) -> torch.Tensor:
        """(B,) KL divergence to the unit Gaussian, summed over latent values."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


@dataclass(frozen=True)
class EncoderOutput:
    latent_dist: DiagonalGaussian


@dataclass(frozen=True)
class DecoderOutput:
    sample: torch.Tensor


@dataclass(frozen=True)
class PoseImageVAEConfig:
    """Sizes of the autoencoder.

    in_channels        : 3, a channel triplet of the one-hot image (an RGB picture to an SD VAE).
    latent_channels    : latent values per downsampled pixel (4, as SD's VAE).
    block_out_channels : channels per level; one 2x downsampling between levels, so 4 levels = 8x.
    norm_groups        : GroupNorm groups (must divide every entry of block_out_channels).
    scaling_factor     : latents are multiplied by it for diffusion (set after training to 1 / latent std,
                         as SD's 0.18215 was); shift_factor is subtracted first (0 here, as SD 1.x).
    """

    in_channels: int = 3
    latent_channels: int = 4
    block_out_channels: tuple[int, ...] = (16, 32, 32, 32)
    norm_groups: int = 8
    scaling_factor: float = 1.0
    shift_factor: float = 0.0


class PoseImageVAE(nn.Module):
    """Encoder and decoder; ``encode``/``decode`` as ``diffusers.AutoencoderKL``."""

    def __init__(self, config: PoseImageVAEConfig):
        super().__init__()
        self.config = config
        widths, groups = config.block_out_channels, config.norm_groups
        self.encoder_stem = nn.Conv2d(config.in_channels, widths[0], 3, padding=1)
        self.encoder_levels = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), ResBlock(widths[i + 1], groups))
            for i in range(len(widths) - 1))
        self.encoder_out = nn.Sequential(nn.GroupNorm(groups, widths[-1]), nn.SiLU(),
                                         nn.Conv2d(widths[-1], 2 * config.latent_channels, 3, padding=1))
        self.decoder_in = nn.Conv2d(config.latent_channels, widths[-1], 3, padding=1)
        self.decoder_levels = nn.ModuleList(
            nn.Sequential(ResBlock(widths[i + 1], groups), nn.Upsample(scale_factor=2, mode="nearest"),
                          nn.Conv2d(widths[i + 1], widths[i], 3, padding=1))
            for i in reversed(range(len(widths) - 1)))
        self.decoder_out = nn.Sequential(ResBlock(widths[0], groups), nn.GroupNorm(groups, widths[0]), nn.SiLU(),
                                         nn.Conv2d(widths[0], config.in_channels, 3, padding=1))

    def encode(self, x: torch.Tensor) -> EncoderOutput:
        """x : (B, 3, W, T) in [-1, 1], W and T multiples of 8 -> posterior over (B, latent_channels, W/8, T/8)."""
        h = self.encoder_stem(x)
        for level in self.encoder_levels:
            h = level(h)
        return EncoderOutput(DiagonalGaussian(self.encoder_out(h)))

    def decode(self, z: torch.Tensor) -> DecoderOutput:
        """z : (B, latent_channels, W/8, T/8), unscaled -> (B, 3, W, T) pictures in about [-1, 1]."""
        h = self.decoder_in(z)
        for level in self.decoder_levels:
            h = level(h)
        return DecoderOutput(self.decoder_out(h))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction (B, 3, W, T), KL (B,)) of a sampled latent: the training pass."""
        posterior = self.encode(x).latent_dist
        return self.decode(posterior.sample(generator)).sample, posterior.kl()
