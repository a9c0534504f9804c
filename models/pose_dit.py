"""The one-hot pose DiT: a diffusion transformer over pose-image latents and music tokens (HotDance, arXiv 2512.11720).

The pose sequence is a one-hot image (C x W x T, time last), compressed by an image autoencoder to
latents Z of (4G) x W' x T' with W' = W/8 and T' = T/8. This network predicts the noise of a noised Z
(epsilon prediction, the paper's) or Z itself (``prediction="sample"``) from

- the noisy latents Z_tau, the reference latents Z_ref and the binary frame mask M (8 x W' x T'),
  concatenated on channels: 4G + 4G + 8 input channels (the paper's ``[Z_tau || Z_ref || M]``);
- music tokens: one per latent column. The music hop is the autoencoder's temporal stride, 8 frames,
  so the token count L equals T'; a token is the 8 frames' music features flattened and projected.

Tokens. Patches are ``patch_bins`` latent bins high and **one latent column wide**: the paper does not
say how its patch size meets T/8 music tokens (a 2 x 2 patch, Lumina's default, would leave T/16 pose
columns for T/8 music tokens). Patching only along W keeps one pose-token column per latent column, so
every pose column has exactly one music token of the same time, and the time-shared indices below are
exact. Pose and music tokens form one sequence and every block attends over all of it (single stream, as
Lumina-Image 2.0's joint blocks after its refiners).

Time-shared RoPE. Attention uses 3-axis rotary positions (Lumina's axes): a pose token at patch row w
and column t gets (0, w, t), the music token of column t gets (0, 0, t), so a pose column and its music
token are phase-aligned on the time axis. ``time_shared_rope=False`` gives the text-to-image default
the paper ablates: music token l at (l, 0, 0), pose tokens still (0, w, t).

Guidance. Training replaces the music tokens of a share ``music_dropout`` (0.3) of samples by one
learned null token (``keep_music`` false); sampling mixes the two predictions (classifier-free guidance).
The timestep conditions every block by adaLN-Zero (DiT). No learned position table: any T' works.

Prediction. With the paper's epsilon objective our small demo DiT learnt to ignore its music: on its
training segments the epsilon loss with the right, another segment's or the null music agreed to four
decimals at every noise level. Where music decides the dance (the noisiest steps) the noise is almost
the input and its loss near zero; where the loss is large (the cleanest steps) the music cannot help.
Predicting the clean latents (``"sample"``, EDGE's objective) weighs every step alike in latent space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


PREDICTIONS = ("epsilon", "sample")


@dataclass(frozen=True)
class PoseDiTConfig:
    """Sizes of the pose DiT.

    latent_channels  : 4G, the pose latents' channels (48 for 18 body keypoints and a 4-channel autoencoder).
    latent_bins      : W', latent rows (one-hot bins / 8).
    frames_per_column: the autoencoder's temporal stride: mask channels and the music hop, frames.
    music_dim        : music feature columns per frame (35 for EDGE's librosa features).
    hidden, num_layers, num_heads, mlp_ratio : transformer sizes.
    patch_bins       : latent rows per patch (the patch is one column wide; module docstring).
    rope_axes        : rotary dimensions per axis (axis 0, w, t); they sum to hidden / num_heads, each even.
    rope_theta       : rotary base.
    time_shared_rope : music token t at (0, 0, t) (the paper's) instead of (t, 0, 0) (the ablated default).
    music_in_pose_tokens : also add column t's music token to the pose tokens of column t before the blocks
                       (ours, not the paper's: a direct time-aligned path besides attention).
    music_dropout    : share of training samples whose music is replaced by the null token.
    prediction       : what the network outputs: "epsilon" (the paper's noise) or "sample" (the clean latents x0,
                       as EDGE). The epsilon loss weighs the noisy steps, where timing is decided, so little that
                       our small DiT learns to ignore its music (module docstring, "Prediction").
    """

    latent_channels: int = 48
    latent_bins: int = 8
    frames_per_column: int = 8
    music_dim: int = 35
    hidden: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    patch_bins: int = 2
    rope_axes: tuple[int, int, int] = (8, 12, 12)
    rope_theta: float = 10000.0
    time_shared_rope: bool = True
    music_in_pose_tokens: bool = False
    music_dropout: float = 0.3
    prediction: str = "epsilon"

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}.")
        head_dim, remainder = divmod(self.hidden, self.num_heads)
        if remainder or sum(self.rope_axes) != head_dim or any(d % 2 for d in self.rope_axes):
            raise ValueError(f"rope_axes {self.rope_axes} must be even and sum to hidden / num_heads = "
                             f"{self.hidden / self.num_heads:g}.")
        if self.latent_bins % self.patch_bins:
            raise ValueError(f"latent_bins {self.latent_bins} must be a multiple of patch_bins {self.patch_bins}.")

    @property
    def in_channels(self) -> int:
        """Z_tau, Z_ref and M stacked: 4G + 4G + 8."""
        return 2 * self.latent_channels + self.frames_per_column


def denoising_target(config: PoseDiTConfig, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """What the network is trained to output for latents ``x0`` noised by ``noise``: x0 or the noise."""
    return x0 if config.prediction == "sample" else noise


# ---- positions ---------------------------------------------------------------------------------------------
def rope_positions(rows: int, columns: int, time_shared: bool = True) -> torch.Tensor:
    """(columns + rows * columns, 3) long: 3-axis positions of the music tokens, then the pose tokens.

    Music token t: (0, 0, t) when ``time_shared``, else (t, 0, 0). Pose token (w, t), in row-major order
    (index w * columns + t): (0, w, t).

    >>> rope_positions(2, 3)[:, 2].tolist()
    [0, 1, 2, 0, 1, 2, 0, 1, 2]
    """
    t = torch.arange(columns)
    zeros = torch.zeros_like(t)
    music = torch.stack([zeros, zeros, t] if time_shared else [t, zeros, zeros], dim=-1)
    w, tt = torch.meshgrid(torch.arange(rows), t, indexing="ij")
    pose = torch.stack([torch.zeros_like(w), w, tt], dim=-1).reshape(-1, 3)
    return torch.cat([music, pose])


def rope_angles(positions: torch.Tensor, axes: tuple[int, ...], theta: float) -> torch.Tensor:
    """(N, head_dim / 2) rotation angles, radians: each axis's position times its frequencies, axes concatenated."""
    parts = []
    for axis, dim in enumerate(axes):
        frequencies = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        parts.append(positions[:, axis, None].double() * frequencies)
    return torch.cat(parts, dim=-1).float()


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of x (B, heads, N, head_dim) by angles (N, head_dim / 2)."""
    pairs = x.float().unflatten(-1, (-1, 2))
    cos, sin = angles.cos(), angles.sin()
    rotated = torch.stack([pairs[..., 0] * cos - pairs[..., 1] * sin, pairs[..., 0] * sin + pairs[..., 1] * cos], -1)
    return rotated.flatten(-2).type_as(x)


# ---- blocks ------------------------------------------------------------------------------------------------
def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B, dim) sinusoidal embedding of diffusion steps t (B,)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * frequencies
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class Attention(nn.Module):
    """Multi-head self-attention with RMS-normalised queries and keys and rotary positions."""

    def __init__(self, hidden: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.q_norm = nn.RMSNorm(hidden // num_heads)
        self.k_norm = nn.RMSNorm(hidden // num_heads)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        """x : (B, N, hidden), angles : (N, head_dim / 2) -> (B, N, hidden)."""
        q, k, v = self.qkv(x).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, D)
        q, k = apply_rope(self.q_norm(q), angles), apply_rope(self.k_norm(k), angles)
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2))


class DiTBlock(nn.Module):
    """Attention and MLP, each pre-normed, modulated and gated by the timestep (adaLN-Zero)."""

    def __init__(self, hidden: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attention = Attention(hidden, num_heads)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden, int(hidden * mlp_ratio)), nn.GELU(approximate="tanh"),
                                 nn.Linear(int(hidden * mlp_ratio), hidden))
        self.modulation = nn.Linear(hidden, 6 * hidden)

    def forward(self, x: torch.Tensor, c: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(c)).chunk(6, dim=-1)
        x = x + gate1[:, None] * self.attention(modulate(self.norm1(x), shift1, scale1), angles)
        return x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))


# ---- model -------------------------------------------------------------------------------------------------
class PoseDiT(nn.Module):
    """Epsilon prediction for pose-image latents, conditioned on music tokens and reference latents."""

    def __init__(self, config: PoseDiTConfig):
        super().__init__()
        self.config = config
        hidden, patch = config.hidden, config.patch_bins
        self.patch_embed = nn.Linear(config.in_channels * patch, hidden)
        self.music_embed = nn.Sequential(nn.Linear(config.music_dim * config.frames_per_column, hidden), nn.SiLU(),
                                         nn.Linear(hidden, hidden))
        self.null_music = nn.Parameter(torch.zeros(hidden))
        self.time_embed = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList(DiTBlock(hidden, config.num_heads, config.mlp_ratio)
                                    for _ in range(config.num_layers))
        self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(hidden, 2 * hidden)
        self.final = nn.Linear(hidden, config.latent_channels * patch)
        self._init_weights()

    def _init_weights(self) -> None:
        """Xavier linears, small music/null init; every modulation and the output start at zero (adaLN-Zero)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.null_music, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.modulation.weight)
            nn.init.zeros_(block.modulation.bias)
        for layer in (self.final_modulation, self.final):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
                music: torch.Tensor, keep_music: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise of ``noisy``.

        noisy, reference : (B, 4G, W', T') noisy latents Z_tau and reference latents Z_ref.
        t                : (B,) long diffusion steps.
        mask             : (B, 8, W', T') binary pose-aware mask M (``frame_mask``).
        music            : (B, 8 T', music_dim) standardised music features, 8 frames per latent column.
        keep_music       : (B,) bool; false replaces the sample's music tokens by the null token. None = keep all.
        returns          : (B, 4G, W', T') predicted noise.
        """
        config = self.config
        batch, _, rows, columns = noisy.shape
        patch = config.patch_bins
        x = torch.cat([noisy, reference, mask.to(noisy.dtype)], dim=1)                       # (B, Cin, W', T')
        x = x.unflatten(2, (rows // patch, patch)).permute(0, 2, 4, 1, 3).flatten(3)        # (B, W'/p, T', Cin p)
        pose = self.patch_embed(x.flatten(1, 2))                                             # (B, W'/p T', hidden)
        tokens = self.music_embed(music.reshape(batch, columns, -1))                         # (B, T', hidden)
        if keep_music is not None:
            tokens = torch.where(keep_music[:, None, None], tokens, self.null_music.to(tokens.dtype))
        if config.music_in_pose_tokens:  # pose token (w, t) gets music token t; rows follow each other
            pose = pose + tokens.repeat(1, rows // patch, 1)
        h = torch.cat([tokens, pose], dim=1)
        positions = rope_positions(rows // patch, columns, config.time_shared_rope)
        angles = rope_angles(positions, config.rope_axes, config.rope_theta).to(noisy.device)
        c = self.time_embed(timestep_embedding(t, config.hidden))
        for block in self.blocks:
            h = block(h, c, angles)
        shift, scale = self.final_modulation(F.silu(c)).chunk(2, dim=-1)
        out = self.final(modulate(self.final_norm(h[:, columns:]), shift, scale))           # (B, W'/p T', C p)
        out = out.unflatten(1, (rows // patch, columns)).unflatten(3, (config.latent_channels, patch))
        return out.permute(0, 3, 1, 4, 2).flatten(2, 3)                                     # (B, C, W', T')
