"""M2PEnc: music features -> CHAMP-style pose guidance maps and keypoint heatmaps, frame by frame.

"Music-to-Pose Encoder" of the M2PEnc paper (OpenReview qfXsfLmxjS, section 3.2). Each music frame's
feature vector is reduced to ``grid * grid`` values and reshaped to a (grid, grid) image, so a clip
becomes a (N, grid, grid) volume (the paper: Jukebox 4800-d -> 4096 -> (N, 64, 64)). Alternating
inflated 3D convolutions (spatio-temporal) and 3D attention (every frame and cell attends to every
other) turn it into two outputs on the same grid:

* guidance : (B, T, C_guid, grid, grid) in [0, 1], the four CHAMP guidance passes stacked as
             ``GUIDANCE_CHANNELS`` (depth grey 1, normal RGB 3, semantic RGB 3, skeleton RGB 3);
             trained with L1 (the paper's L_guid).
* heatmaps : (B, T, K, grid, grid), one Gaussian bump per body keypoint (OpenPose-18 order);
             trained with MSE. Their argmax decodes 2D keypoints (for beat-alignment scores).

Choices the paper leaves open, made here:

* "Inflated 3D convolution" is a 3x3 spatial kernel inflated to ``kernel_frames`` in time (I3D),
  in residual blocks (GroupNorm, SiLU). The volume is encoded down to ``grid / 2**(levels-1)``
  cells, where the attention runs (full 3D attention over T x cells tokens is only affordable
  there), and decoded back up with skip connections, U-Net style.
* Positions: a learned embedding per cell of the coarse grid plus a sinusoidal code of the frame
  index (so any clip length works).
* Music features are EDGE's 35-d librosa set by default (``music_dim``); any per-frame feature works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# Guidance channel layout: pass name -> channels, in CHAMP Render's input order.
GUIDANCE_CHANNELS: tuple[tuple[str, int], ...] = (("depth", 1), ("normal", 3), ("semantic", 3), ("skeleton", 3))
NUM_GUIDANCE_CHANNELS = sum(count for _, count in GUIDANCE_CHANNELS)


def guidance_slices() -> dict[str, slice]:
    """Channel slice of each pass in the stacked guidance, e.g. ``{"depth": slice(0, 1), ...}``."""
    slices, start = {}, 0
    for name, count in GUIDANCE_CHANNELS:
        slices[name] = slice(start, start + count)
        start += count
    return slices


def frame_position_code(num_frames: int, dim: int, device: torch.device) -> torch.Tensor:
    """(T, dim) sinusoidal code of the frame index (Transformer positions), [sin | cos]."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -(math.log(10000.0) / max(half - 1, 1)))
    angles = torch.arange(num_frames, device=device, dtype=torch.float32)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class InflatedConvBlock(nn.Module):
    """Residual block of two inflated 3D convolutions (3x3 in space, ``kernel_frames`` in time).

    x : (B, C_in, T, H, W) -> (B, C_out, T, H, W)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_frames: int, groups: int):
        super().__init__()
        kernel, padding = (kernel_frames, 3, 3), (kernel_frames // 2, 1, 1)
        self.norm1 = nn.GroupNorm(min(groups, in_channels), in_channels)
        self.conv1 = nn.Conv3d(in_channels, out_channels, kernel, padding=padding)
        self.norm2 = nn.GroupNorm(min(groups, out_channels), out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, kernel, padding=padding)
        self.skip = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention3D(nn.Module):
    """Pre-norm multi-head self-attention over all T x H x W positions, then an MLP; both residual.

    ``num_registers`` learned tokens join the sequence and are dropped afterwards (Darcet et al. 2024,
    "Vision Transformers Need Registers"): without them the first demo run made the top-left cell, the one
    zero padding marks most, a high-norm attention sink that surfaced as a bright corner in every map.

    x : (B, C, T, H, W) -> (B, C, T, H, W)
    """

    def __init__(self, channels: int, num_heads: int, cells: int, num_registers: int):
        super().__init__()
        self.num_heads = num_heads
        self.cell_embedding = nn.Parameter(torch.zeros(cells, channels))
        self.registers = nn.Parameter(0.02 * torch.randn(num_registers, channels))
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, frames, height, width = x.shape
        tokens = x.permute(0, 2, 3, 4, 1).reshape(batch, frames, height * width, channels)
        tokens = tokens + self.cell_embedding + frame_position_code(frames, channels, x.device)[:, None].to(x.dtype)
        tokens = tokens.reshape(batch, frames * height * width, channels)  # (B, N, C)
        tokens = torch.cat([self.registers.expand(batch, -1, -1).to(tokens.dtype), tokens], dim=1)
        q, k, v = (self._split_heads(t) for t in self.qkv(self.norm1(tokens)).chunk(3, dim=-1))
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, C / heads)
        tokens = tokens + self.out(attended.transpose(1, 2).reshape(batch, -1, channels))
        tokens = tokens + self.mlp(self.norm2(tokens))
        tokens = tokens[:, len(self.registers):]
        return tokens.reshape(batch, frames, height, width, channels).permute(0, 4, 1, 2, 3)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        batch, num_tokens, channels = t.shape
        return t.reshape(batch, num_tokens, self.num_heads, channels // self.num_heads).transpose(1, 2)


@dataclass(frozen=True)
class M2PEncConfig:
    """Sizes of the encoder.

    music_dim      : features per music frame (EDGE librosa: 35; Jukebox: 4800).
    grid           : side of the (N, grid, grid) music image and of the output maps, cells (paper: 64).
    channels       : feature channels at each level, finest first; level i works on grid / 2**i cells.
    kernel_frames  : temporal extent of the inflated convolutions, frames (odd).
    attention_layers : (inflated conv, 3D attention) pairs at the coarsest level.
    num_heads      : attention heads (divides channels[-1]).
    num_registers  : learned tokens added to each 3D attention (``Attention3D``).
    num_keypoints  : heatmap channels (18: OpenPose body order of ``choreo.pose.layout``).
    groups         : GroupNorm groups (fewer when a level has fewer channels).
    fps            : frame rate the encoder was trained at, frames/s (music features must match).
    """

    music_dim: int = 35
    grid: int = 64
    channels: tuple[int, ...] = (8, 16, 32, 64)
    kernel_frames: int = 3
    attention_layers: int = 2
    num_heads: int = 4
    num_registers: int = 4
    num_keypoints: int = 18
    groups: int = 8
    fps: float = 15.0

    def __post_init__(self) -> None:
        levels = len(self.channels)
        if self.grid % 2 ** (levels - 1):
            raise ValueError(f"grid {self.grid} must be divisible by 2**(levels - 1) = {2 ** (levels - 1)}.")
        if self.channels[-1] % self.num_heads:
            raise ValueError(f"num_heads {self.num_heads} must divide the coarsest channels {self.channels[-1]}.")
        if self.kernel_frames % 2 == 0:
            raise ValueError(f"kernel_frames must be odd, got {self.kernel_frames}.")

    @property
    def coarse_grid(self) -> int:
        return self.grid // 2 ** (len(self.channels) - 1)


class M2PEnc(nn.Module):
    """Music features (B, T, music_dim) -> (guidance (B, T, 10, G, G) in [0, 1], heatmaps (B, T, K, G, G))."""

    def __init__(self, config: M2PEncConfig):
        super().__init__()
        self.config = config
        c, kt, groups = config.channels, config.kernel_frames, config.groups
        self.music_to_grid = nn.Linear(config.music_dim, config.grid * config.grid)  # the (N, 64, 64) reshape
        self.stem = nn.Conv3d(1, c[0], (kt, 3, 3), padding=(kt // 2, 1, 1))
        self.encoder = InflatedConvBlock(c[0], c[0], kt, groups)
        self.down = nn.ModuleList()
        for level in range(1, len(c)):
            self.down.append(nn.ModuleList([
                nn.Conv3d(c[level - 1], c[level], (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
                InflatedConvBlock(c[level], c[level], kt, groups)]))
        self.middle = nn.ModuleList()
        for _ in range(config.attention_layers):
            self.middle.append(InflatedConvBlock(c[-1], c[-1], kt, groups))
            self.middle.append(Attention3D(c[-1], config.num_heads, config.coarse_grid ** 2, config.num_registers))
        self.up = nn.ModuleList()
        for level in range(len(c) - 1, 0, -1):
            self.up.append(nn.ModuleList([
                nn.Conv3d(c[level], c[level - 1], (1, 3, 3), padding=(0, 1, 1)),
                InflatedConvBlock(2 * c[level - 1], c[level - 1], kt, groups)]))
        self.out_norm = nn.GroupNorm(min(groups, c[0]), c[0])
        self.guidance_head = nn.Conv3d(c[0], NUM_GUIDANCE_CHANNELS, (1, 3, 3), padding=(0, 1, 1))
        self.heatmap_head = nn.Conv3d(c[0], config.num_keypoints, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, music: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """music : (B, T, music_dim) normalised features -> guidance (B, T, 10, G, G), heatmaps (B, T, K, G, G)."""
        batch, frames, _ = music.shape
        grid = self.config.grid
        x = self.music_to_grid(music).reshape(batch, frames, 1, grid, grid).transpose(1, 2)  # (B, 1, T, G, G)
        x = self.encoder(self.stem(x))
        skips = []
        for reduce, block in self.down:
            skips.append(x)
            x = block(reduce(x))  # (B, C_l, T, G / 2**l, G / 2**l)
        for layer in self.middle:
            x = layer(x)
        for (expand, block), skip in zip(self.up, reversed(skips)):
            x = F.interpolate(expand(x), scale_factor=(1, 2, 2), mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        x = F.silu(self.out_norm(x))
        guidance = torch.sigmoid(self.guidance_head(x)).transpose(1, 2)  # (B, T, 10, G, G)
        heatmaps = self.heatmap_head(x).transpose(1, 2)  # (B, T, K, G, G)
        return guidance, heatmaps


def decode_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints at each heatmap's maximum: (..., K, H, W) -> (xy (..., K, 2) in cells, peak (..., K)).

    xy is (column, row) of the argmax cell, the cell centre at integer coordinates.
    """
    height, width = heatmaps.shape[-2:]
    flat = heatmaps.flatten(-2)
    peak, index = flat.max(dim=-1)
    xy = torch.stack([index % width, torch.div(index, width, rounding_mode="floor")], dim=-1).to(heatmaps.dtype)
    return xy, peak
