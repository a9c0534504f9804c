"""MACE-Dance Motion Expert: a BiMamba-Transformer denoiser with guidance-free training.

MACE-Dance (arXiv 2512.18181), Motion Expert. Music features are encoded by BiMamba layers
modulated by a genre embedding (FiLM); each of the dance layers runs a BiMamba over the motion
(local temporal context, any length: no positional code), cross-attends to the encoded music
and applies a feed-forward block, each sub-block FiLM-modulated by the diffusion step plus the
guidance-free temperature beta. With guidance-free training (Chen et al. 2025, GFT) one forward
pass at inference replaces classifier-free guidance: beta in [0, 1] is the diversity dial
(1 = purely conditional, lower = more guidance-like sharpening is traded for diversity).

Differences from the authors' code (no weights are published, so nothing has to load):
the null music embedding replaces dropped music tokens instead of being added to every token;
FiLM follows all three sub-blocks; genre index ``num_genres - 1`` is "unknown" by convention.
Optional (``music_in_motion_tokens``, ours): frame t's encoded music token is added to motion token t
before the dance layers. The cross-attention has no positional code, so without this path nothing
tells a motion frame which music frame is its own, and the model cannot learn where the beat is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .edge import FiLM, frame_aligned, timestep_embedding
from .mamba import BiMamba, MambaConfig


class EmbeddingMLP(nn.Module):
    """Sinusoidal code of a scalar -> Linear -> Mish -> Linear."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """values : (B,) -> (B, dim) in the weights' dtype.

        The sinusoidal code is computed in float32 (a bfloat16 angle of t ~ 1000 loses whole radians) and cast
        to the weights' dtype only for the MLP, so the network runs in bfloat16 / float16 too.
        """
        return self.net(timestep_embedding(values, self.dim).to(self.net[0].weight.dtype))


class MusicLayer(nn.Module):
    """Pre-norm BiMamba over music tokens, its output FiLM-modulated by the genre before the residual."""

    def __init__(self, dim: int, mamba: MambaConfig, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mamba = BiMamba(mamba)
        self.film = FiLM(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, genre_cond: torch.Tensor) -> torch.Tensor:
        """x : (B, T, C), genre_cond : (B, C) -> (B, T, C)."""
        return x + self.film(self.dropout(self.mamba(self.norm(x))), genre_cond)


class DanceLayer(nn.Module):
    """BiMamba, cross-attention to music, feed-forward; each FiLM-modulated by (t, beta) before its residual."""

    def __init__(self, dim: int, num_heads: int, ff_dim: int, mamba: MambaConfig, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mamba = BiMamba(mamba)
        self.film1 = FiLM(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.memory_norm = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.film2 = FiLM(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)
        self.film3 = FiLM(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, film_cond: torch.Tensor) -> torch.Tensor:
        """x : (B, T, C), memory : (B, S, C), film_cond : (B, C) -> (B, T, C)."""
        x = x + self.film1(self.dropout(self.mamba(self.norm1(x))), film_cond)
        memory = self.memory_norm(memory)
        h = self.cross_attn(self.norm2(x), memory, memory, need_weights=False)[0]
        x = x + self.film2(self.dropout(h), film_cond)
        h = self.linear2(self.dropout(F.gelu(self.linear1(self.norm3(x)))))
        return x + self.film3(self.dropout(h), film_cond)


@dataclass(frozen=True)
class MACEConfig:
    """Motion Expert sizes. The paper's model: latent 512, 8 dance layers, 8 heads, d_state 16.

    num_genres            : genre vocabulary; index num_genres - 1 means "unknown" (default: the 10
                            AIST++ genres + unknown).
    music_encoder_layers  : BiMamba layers in the music encoder.
    horizon               : training window in frames; forward accepts any T (no positional code).
    cond_dropout          : probability of the null music embedding in training (GFT's unconditional branch
                            is always computed; this also trains a plain unconditional model).
    music_in_motion_tokens : also add frame t's encoded music token to motion token t (module docstring).
    """

    motion_dim: int = 151
    music_dim: int = 35
    latent_dim: int = 512
    ff_dim: int = 1024
    num_layers: int = 8
    num_heads: int = 8
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    num_genres: int = 11
    music_encoder_layers: int = 2
    dropout: float = 0.1
    horizon: int = 150
    cond_dropout: float = 0.1
    music_in_motion_tokens: bool = False


class MACEDenoiser(nn.Module):
    """x0-predicting BiMamba-Transformer denoiser conditioned on music, genre, step and beta."""

    def __init__(self, config: MACEConfig):
        super().__init__()
        self.config = config
        dim = config.latent_dim
        mamba = MambaConfig(d_model=dim, d_state=config.d_state, d_conv=config.d_conv, expand=config.expand)
        # 1. music encoder with genre FiLM
        self.music_projection = nn.Linear(config.music_dim, dim)
        self.genre_embedding = nn.Embedding(config.num_genres, dim)
        self.genre_mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.Mish(), nn.Linear(2 * dim, dim))
        self.music_layers = nn.ModuleList(
            [MusicLayer(dim, mamba, config.dropout) for _ in range(config.music_encoder_layers)])
        self.null_music_tokens = nn.Parameter(torch.zeros(1, 1, dim))
        # 2. step and beta embeddings, summed into one FiLM vector
        self.time_mlp = EmbeddingMLP(dim)
        self.beta_mlp = EmbeddingMLP(dim)
        # 3. dance decoder
        self.motion_projection = nn.Linear(config.motion_dim, dim)
        self.music_to_motion = nn.Linear(dim, dim) if config.music_in_motion_tokens else None
        self.layers = nn.ModuleList([DanceLayer(dim, config.num_heads, config.ff_dim, mamba, config.dropout)
                                     for _ in range(config.num_layers)])
        self.output_projection = nn.Linear(dim, config.motion_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, music: torch.Tensor, beta: torch.Tensor,
                genre: torch.Tensor, cond_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Predict clean motion in one pass (no guidance needed).

        x         : (B, T, motion_dim) noisy motion, normalised.
        t         : (B,) long diffusion steps.
        music     : (B, T_music, music_dim) music features (T_music = T in practice).
        beta      : (B,) float in [0, 1], GFT temperature (inference default 0.75; 1 = conditional).
        genre     : (B,) long genre index in [0, num_genres).
        cond_keep : (B,) bool, False = null music (the unconditional branch); None = keep all.
        returns   : (B, T, motion_dim) x0 prediction.
        """
        genre_cond = self.genre_mlp(self.genre_embedding(genre))              # (B, C)
        tokens = self.music_projection(music)                                 # (B, T_music, C)
        for layer in self.music_layers:
            tokens = layer(tokens, genre_cond)
        if cond_keep is not None:
            keep = cond_keep.to(device=x.device, dtype=torch.bool)
            tokens = torch.where(keep[:, None, None], tokens, self.null_music_tokens.to(tokens.dtype))
        film_cond = self.time_mlp(t.float()) + self.beta_mlp(beta.float() * 1000.0)   # (B, C)
        h = self.motion_projection(x)
        if self.music_to_motion is not None:
            h = h + self.music_to_motion(frame_aligned(tokens, x.shape[1]))
        for layer in self.layers:
            h = layer(h, tokens, film_cond)
        return self.output_projection(h)

    def guidance_free_forward(self, x: torch.Tensor, t: torch.Tensor, music: torch.Tensor, beta: torch.Tensor,
                              genre: torch.Tensor) -> torch.Tensor:
        """GFT training prediction: beta * f(x, c, beta) + (1 - beta) * stopgrad(f(x, null, beta)).

        Shapes as ``forward``; train with beta ~ U(0, 1) per sample and the usual x0 losses on the result.
        """
        with torch.no_grad():
            uncond = self.forward(x, t, music, beta, genre, torch.zeros(x.shape[0], dtype=torch.bool))
        cond = self.forward(x, t, music, beta, genre)
        weight = beta.to(x.dtype)[:, None, None]
        return weight * cond + (1 - weight) * uncond
