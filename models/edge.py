"""EDGE's denoiser: a FiLM transformer decoder over motion, cross-attending to encoded music.

Tseng, Castellon & Liu 2023, "EDGE: Editable Dance Generation From Music". The network takes a
noisy motion window in EDGE's 151-d layout, the diffusion step and per-frame music features and
predicts the clean motion (x0). Submodules follow EDGE's ``DanceDecoder`` one to one (under
clearer names) so ``choreo.generators.edge_checkpoint`` maps the public checkpoint onto them
by an explicit key table. Two EDGE quirks are kept because the weights depend on them:

- rotary positions rotate the *inputs* of attention (the whole latent vector, pairs of adjacent
  channels), before the query/key projections, not the per-head queries and keys;
- cross-attention keys are [music tokens ‖ 2 time tokens], rotated as one sequence.

Two changes. The null music embedding (classifier-free guidance) is a single learned token
broadcast over time (``null_cond_frames = 1``), so the window length is not baked into the
weights. The converted EDGE checkpoint keeps its 150-token null sequence
(``null_cond_frames = 150``), used as is at T = 150 and linearly resampled in time otherwise.
And an optional frame-aligned music path (``music_in_motion_tokens``, off for EDGE's layout): each
frame's encoded music token is added to that frame's motion token. EDGE's rotary code turns the
attention *inputs* before their projections, so cross-attention has no clean "same frame" key and
a small model never learns where the beat is; the direct path hands every frame its own beat phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """EDGE's sinusoidal step embedding (MACE codes beta with it too).

    t : (B,) steps or floats -> (B, dim) as [sin | cos].
    """
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def rotate_positions(x: torch.Tensor) -> torch.Tensor:
    """Rotary position code on adjacent channel pairs (RoFormer), position = index along dim -2.

    x : (B, T, C) with C even -> (B, T, C); pair i turns by angle pos / 10000^(2i / C).
    """
    num_steps, channels = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, channels, 2, device=x.device, dtype=torch.float32) / channels))
    angles = torch.arange(num_steps, device=x.device, dtype=torch.float32)[:, None] * inv_freq[None]  # (T, C/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


def frame_aligned(tokens: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Music tokens (B, T, C) checked to be one per motion frame, for a frame-aligned music path."""
    if tokens.shape[1] != num_frames:
        raise ValueError(f"a frame-aligned music path needs one music frame per motion frame, got "
                         f"{tokens.shape[1]} music frames for {num_frames} motion frames")
    return tokens


class FiLM(nn.Module):
    """Feature-wise affine from a conditioning vector: (1 + scale) * x + shift."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x : (B, T, C), cond : (B, C) -> (B, T, C)."""
        scale, shift = self.proj(F.mish(cond))[:, None].chunk(2, dim=-1)
        return (1 + scale) * x + shift


class MusicEncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer with EDGE's rotary inputs."""

    def __init__(self, dim: int, num_heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (B, T, C) -> (B, T, C)."""
        h = self.norm1(x)
        qk = rotate_positions(h)
        x = x + self.dropout(self.self_attn(qk, qk, h, need_weights=False)[0])
        h = self.linear2(self.dropout(F.gelu(self.linear1(self.norm2(x)))))
        return x + self.dropout(h)


class FiLMDecoderLayer(nn.Module):
    """Self-attention, cross-attention and feed-forward, each FiLM-modulated before its residual."""

    def __init__(self, dim: int, num_heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.film1 = FiLM(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.film2 = FiLM(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)
        self.film3 = FiLM(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, film_cond: torch.Tensor) -> torch.Tensor:
        """x : (B, T, C), memory : (B, S, C), film_cond : (B, C) -> (B, T, C)."""
        h = self.norm1(x)
        qk = rotate_positions(h)
        h = self.dropout(self.self_attn(qk, qk, h, need_weights=False)[0])
        x = x + self.film1(h, film_cond)
        h = self.norm2(x)
        h = self.dropout(self.cross_attn(rotate_positions(h), rotate_positions(memory), memory, need_weights=False)[0])
        x = x + self.film2(h, film_cond)
        h = self.dropout(self.linear2(self.dropout(F.gelu(self.linear1(self.norm3(x))))))
        return x + self.film3(h, film_cond)


@dataclass(frozen=True)
class EDGEConfig:
    """EDGE denoiser sizes; defaults are the published model with the 35-d librosa features.

    music_dim        : 35 (EDGE baseline librosa features) or 4800 (Jukebox, the public checkpoint).
    horizon          : training window in frames (150 = 5 s at 30 fps); forward accepts any T.
    cond_dropout     : probability of training with the null music embedding (classifier-free guidance).
    null_cond_frames : length of the learned null music sequence; 1 = one token broadcast over time
                       (Choreo-trained models), 150 = EDGE's public checkpoint.
    music_in_motion_tokens : also add frame t's encoded music token to motion token t (ours; module docstring).
    """

    motion_dim: int = 151
    music_dim: int = 35
    latent_dim: int = 512
    ff_dim: int = 1024
    num_layers: int = 8
    num_heads: int = 8
    dropout: float = 0.1
    horizon: int = 150
    cond_dropout: float = 0.25
    null_cond_frames: int = 1
    music_in_motion_tokens: bool = False


class EDGEDenoiser(nn.Module):
    """x0-predicting denoiser: noisy motion + step + music -> clean motion."""

    def __init__(self, config: EDGEConfig):
        super().__init__()
        self.config = config
        dim = config.latent_dim
        # 1. music: projection, encoder, pooled vector for FiLM, null embeddings for guidance
        self.music_projection = nn.Linear(config.music_dim, dim)
        self.music_encoder = nn.ModuleList(
            [MusicEncoderLayer(dim, config.num_heads, config.ff_dim, config.dropout) for _ in range(2)])
        self.music_pool_projection = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.SiLU(),
                                                   nn.Linear(dim, dim))
        self.null_music_tokens = nn.Parameter(torch.randn(1, config.null_cond_frames, dim))
        self.null_music_pooled = nn.Parameter(torch.randn(1, dim))
        # 2. diffusion step: MLP, FiLM vector and two cross-attention tokens
        self.time_mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish())
        self.time_to_film = nn.Linear(4 * dim, dim)
        self.time_to_tokens = nn.Linear(4 * dim, 2 * dim)
        self.memory_norm = nn.LayerNorm(dim)
        # 3. motion decoder
        self.motion_projection = nn.Linear(config.motion_dim, dim)
        self.music_to_motion = nn.Linear(dim, dim) if config.music_in_motion_tokens else None
        self.layers = nn.ModuleList(
            [FiLMDecoderLayer(dim, config.num_heads, config.ff_dim, config.dropout) for _ in range(config.num_layers)])
        self.output_projection = nn.Linear(dim, config.motion_dim)

    def random_cond_keep(self, batch_size: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) bool training mask: False with probability ``config.cond_dropout``."""
        return torch.rand(batch_size, generator=generator, device=device) >= self.config.cond_dropout

    def _null_tokens(self, num_steps: int) -> torch.Tensor:
        null = self.null_music_tokens                                         # (1, F, C)
        if null.shape[1] in (1, num_steps):
            return null
        return F.interpolate(null.transpose(1, 2), size=num_steps, mode="linear", align_corners=True).transpose(1, 2)

    def forward(self, x: torch.Tensor, t: torch.Tensor, music: torch.Tensor,
                cond_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Predict clean motion.

        x         : (B, T, motion_dim) noisy motion, normalised.
        t         : (B,) long diffusion steps in [0, num_steps).
        music     : (B, T, music_dim) per-frame music features.
        cond_keep : (B,) bool, False = use the null music embedding; None = keep all.
        returns   : (B, T, motion_dim) x0 prediction.
        """
        batch, num_steps = x.shape[:2]
        tokens = self.music_projection(music)                                 # (B, T, C)
        for layer in self.music_encoder:
            tokens = layer(tokens)
        pooled = self.music_pool_projection(tokens.mean(dim=1))               # (B, C)
        if cond_keep is not None:
            keep = cond_keep.to(device=x.device, dtype=torch.bool)
            tokens = torch.where(keep[:, None, None], tokens, self._null_tokens(num_steps).to(tokens.dtype))
            pooled = torch.where(keep[:, None], pooled, self.null_music_pooled.to(pooled.dtype))
        hidden = self.time_mlp(timestep_embedding(t, self.config.latent_dim).to(x.dtype))  # (B, 4C)
        film_cond = self.time_to_film(hidden) + pooled                        # (B, C)
        time_tokens = self.time_to_tokens(hidden).view(batch, 2, -1)          # (B, 2, C)
        memory = self.memory_norm(torch.cat([tokens, time_tokens], dim=1))    # (B, T + 2, C)
        h = self.motion_projection(x)
        if self.music_to_motion is not None:
            h = h + self.music_to_motion(frame_aligned(tokens, num_steps))
        for layer in self.layers:
            h = layer(h, memory, film_cond)
        return self.output_projection(h)

    def guided_forward(self, x: torch.Tensor, t: torch.Tensor, music: torch.Tensor,
                       guidance_weight: float) -> torch.Tensor:
        """Classifier-free guidance: uncond + w * (cond - uncond), both halves in one batched pass.

        Shapes as ``forward``; w = 1 is the conditional model, w = 0 the unconditional one.
        """
        batch = x.shape[0]
        keep = torch.cat([torch.ones(batch, dtype=torch.bool), torch.zeros(batch, dtype=torch.bool)]).to(x.device)
        both = self.forward(torch.cat([x, x]), torch.cat([t, t]), torch.cat([music, music]), keep)
        cond, uncond = both[:batch], both[batch:]
        return uncond + guidance_weight * (cond - uncond)
