"""X-Dancer's compositional, confidence-aware 2D pose tokenizer (arXiv 2502.17414, §3.2).

A frame's whole-body pose, 60 joints of (x, y, confidence) in the reference body frame,
is split into five parts (upper body, lower body, head, left hand, right hand). Each part
has its own encoder, a 1D convolution along the part's joint chain, and its own EMA
codebook; the quantised latents of all parts are concatenated into one shared decoder
whose per-part heads reconstruct every joint's coordinates and confidence.

Joint order of the 60-joint input: OpenPose body 0-17, left hand 18-38, right hand 39-59
(hand points in the usual 21-point order, wrist first).

Codebook (van den Oord et al. 2017, EMA variant of Razavi et al. 2019): the embedding
loss is replaced by exponential moving averages of cluster sizes and sums; the encoder
gets the straight-through gradient plus the commitment loss beta * ||z - sg(e)||^2;
codes whose EMA usage falls under ``dead_code_threshold`` restart at random encodings
of the current batch.

``single_codebook=True`` builds the whole-body baseline of the paper's ablation: one
encoder over all 60 joints and one codebook, with the same number of tokens per frame
(num_parts x tokens_per_part) so both variants spend the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_JOINTS = 60
# Joint indices into the 60-joint layout, per part, in the paper's token order
# (upper body, lower body, head, left hand, right hand).
PART_JOINTS: dict[str, tuple[int, ...]] = {
    "upper_body": (1, 2, 3, 4, 5, 6, 7),            # neck, shoulders, elbows, wrists
    "lower_body": (8, 9, 10, 11, 12, 13),           # hips, knees, ankles
    "head": (0, 14, 15, 16, 17),                    # nose, eyes, ears
    "left_hand": tuple(range(18, 39)),
    "right_hand": tuple(range(39, 60)),
}
PART_NAMES: tuple[str, ...] = tuple(PART_JOINTS)
WHOLE_BODY = "whole_body"


@dataclass(frozen=True)
class PoseVQVAEConfig:
    num_joints: int = NUM_JOINTS
    parts: tuple[str, ...] = PART_NAMES          # keys of PART_JOINTS, in token order
    tokens_per_part: int = 6
    codebook_size: int = 512
    code_dim: int = 6
    hidden: int = 128                            # channels of the part encoders
    decoder_hidden: int = 512                    # width of the shared decoder
    decoder_layers: int = 3                      # residual MLP blocks in the shared decoder
    ema_decay: float = 0.99
    commitment: float = 0.25                     # beta of the commitment loss
    confidence_weight: float = 0.1               # weight of the confidence BCE against the coordinate L1
    dead_code_threshold: float = 1e-3            # EMA usage (assignments per step) below which a code restarts
    single_codebook: bool = False                # whole-body baseline: one encoder and codebook for all joints

    @property
    def token_groups(self) -> tuple[str, ...]:
        """Names of the codebooks, one row of ``encode``'s output each."""
        return (WHOLE_BODY,) if self.single_codebook else self.parts

    @property
    def tokens_per_group(self) -> int:
        return self.tokens_per_part * len(self.parts) if self.single_codebook else self.tokens_per_part

    def group_joints(self, group: str) -> tuple[int, ...]:
        return tuple(range(self.num_joints)) if group == WHOLE_BODY else PART_JOINTS[group]


class EMACodebook(nn.Module):
    """Nearest-neighbour vector quantiser whose codes follow EMA cluster means."""

    def __init__(self, codebook_size: int, code_dim: int, decay: float, dead_code_threshold: float):
        super().__init__()
        self.decay = decay
        self.dead_code_threshold = dead_code_threshold
        self.register_buffer("embedding", torch.randn(codebook_size, code_dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", self.embedding.clone())
        self.register_buffer("initialised", torch.zeros(()))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """(N,) long code index of each row of z (N, D)."""
        distance = (z.pow(2).sum(1, keepdim=True) - 2 * z @ self.embedding.t()
                    + self.embedding.pow(2).sum(1)[None])
        return distance.argmin(1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise z (N, D): (straight-through quantised (N, D), indices (N,) long, commitment loss ())."""
        if self.training:
            self._initialise(z.detach())
        indices = self.nearest(z.detach())
        quantised = F.embedding(indices, self.embedding)
        commitment = F.mse_loss(z, quantised.detach())
        if self.training:
            self.update(z.detach(), indices)
        return z + (quantised - z).detach(), indices, commitment

    @torch.no_grad()
    def update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """EMA step of cluster sizes and sums toward this batch's assignments, then dead-code restarts."""
        one_hot = F.one_hot(indices, self.embedding.shape[0]).type(z.dtype)
        self.cluster_size.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(one_hot.t() @ z, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        # Laplace smoothing keeps rarely used codes from dividing by ~0
        size = (self.cluster_size + 1e-5) / (total + self.embedding.shape[0] * 1e-5) * total
        self.embedding.copy_(self.embed_sum / size[:, None])
        self.restart_dead_codes(z)

    @torch.no_grad()
    def restart_dead_codes(self, z: torch.Tensor) -> int:
        """Move codes with EMA usage under the threshold onto random rows of z; returns how many moved."""
        dead = self.cluster_size < self.dead_code_threshold
        count = int(dead.sum())
        if count == 0:
            return 0
        picks = torch.randint(0, z.shape[0], (count,), device=z.device)
        self.embedding[dead] = z[picks]
        self.embed_sum[dead] = z[picks]
        self.cluster_size[dead] = 1.0
        return count

    @torch.no_grad()
    def _initialise(self, z: torch.Tensor) -> None:
        """First training batch: codes start on random encodings (data-dependent init)."""
        if bool(self.initialised):
            return
        picks = torch.randint(0, z.shape[0], (self.embedding.shape[0],), device=z.device)
        self.embedding.copy_(z[picks])
        self.embed_sum.copy_(z[picks])
        self.cluster_size.fill_(1.0)
        self.initialised.fill_(1.0)


class PartEncoder(nn.Module):
    """One part's pose (B, J, 3) -> latent tokens (B, tokens, code_dim): 1D convs along the joint chain."""

    def __init__(self, num_joints: int, tokens: int, code_dim: int, hidden: int):
        super().__init__()
        self.tokens, self.code_dim = tokens, code_dim
        self.convs = nn.Sequential(
            nn.Conv1d(3, hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU(),
        )
        self.proj = nn.Linear(hidden * num_joints, tokens * code_dim)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        h = self.convs(pose.transpose(1, 2))                      # (B, hidden, J)
        return self.proj(h.flatten(1)).view(-1, self.tokens, self.code_dim)


class ResidualMLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class PoseVQVAE(nn.Module):
    """Encoders, codebooks, shared decoder with per-part heads; see the module docstring."""

    def __init__(self, config: PoseVQVAEConfig):
        super().__init__()
        if config.num_joints != NUM_JOINTS:
            raise ValueError(f"num_joints must be {NUM_JOINTS} (the PART_JOINTS layout), got {config.num_joints}.")
        unknown = [part for part in config.parts if part not in PART_JOINTS]
        if unknown:
            raise ValueError(f"unknown parts {unknown}; choose from {list(PART_JOINTS)}.")
        self.config = config
        groups = config.token_groups
        self.encoders = nn.ModuleDict({
            g: PartEncoder(len(config.group_joints(g)), config.tokens_per_group, config.code_dim, config.hidden)
            for g in groups})
        self.codebooks = nn.ModuleDict({
            g: EMACodebook(config.codebook_size, config.code_dim, config.ema_decay, config.dead_code_threshold)
            for g in groups})
        latent = len(groups) * config.tokens_per_group * config.code_dim
        self.decoder_in = nn.Linear(latent, config.decoder_hidden)
        self.decoder = nn.Sequential(*[ResidualMLP(config.decoder_hidden) for _ in range(config.decoder_layers)],
                                     nn.LayerNorm(config.decoder_hidden))
        self.heads = nn.ModuleDict({part: nn.Linear(config.decoder_hidden, 3 * len(PART_JOINTS[part]))
                                    for part in config.parts})
        head_order = [j for part in config.parts for j in PART_JOINTS[part]]
        self.register_buffer("head_to_joint", torch.argsort(torch.tensor(head_order)), persistent=False)
        for g in groups:
            self.register_buffer(f"joints_{g}", torch.tensor(config.group_joints(g)), persistent=False)

    def encode_latents(self, poses: torch.Tensor) -> dict[str, torch.Tensor]:
        """poses (B, 60, 3) -> {group: continuous latents (B, tokens_per_group, code_dim)}."""
        return {g: self.encoders[g](poses[:, getattr(self, f"joints_{g}")]) for g in self.config.token_groups}

    def quantise(self, latents: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(quantised (B, G, tokens, code_dim), tokens (B, G, tokens) long, commitment loss ())."""
        quantised, tokens, commitment = [], [], 0.0
        for g, z in latents.items():
            q, idx, c = self.codebooks[g](z.reshape(-1, self.config.code_dim))
            quantised.append(q.view_as(z))
            tokens.append(idx.view(z.shape[:2]))
            commitment = commitment + c
        return torch.stack(quantised, 1), torch.stack(tokens, 1), commitment / len(latents)

    def decode_latents(self, quantised: torch.Tensor) -> torch.Tensor:
        """quantised (B, G, tokens, code_dim) -> (B, 60, 3): x, y and a confidence *logit* per joint."""
        h = self.decoder(self.decoder_in(quantised.flatten(1)))
        per_part = torch.cat([self.heads[part](h).view(h.shape[0], -1, 3) for part in self.config.parts], 1)
        return per_part[:, self.head_to_joint]

    @torch.no_grad()
    def encode(self, poses: torch.Tensor) -> torch.Tensor:
        """poses (B, 60, 3) float (x, y normalised, confidence in [0, 1]) -> tokens (B, G, tokens) long.

        G = 5 parts x 6 tokens by default; (B, 1, 30) with ``single_codebook``.
        """
        latents = self.encode_latents(_mask_absent(poses))
        return torch.stack([self.codebooks[g].nearest(z.reshape(-1, z.shape[-1])).view(z.shape[:2])
                            for g, z in latents.items()], 1)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, G, tokens) long -> poses (B, 60, 3): x, y normalised, confidence in [0, 1]."""
        quantised = torch.stack([F.embedding(tokens[:, i], self.codebooks[g].embedding)
                                 for i, g in enumerate(self.config.token_groups)], 1)
        out = self.decode_latents(quantised)
        return torch.cat([out[..., :2], torch.sigmoid(out[..., 2:])], -1)

    def forward(self, poses: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """poses (B, 60, 3) -> (recon (B, 60, 3) with confidence in [0, 1], losses, tokens (B, G, tokens) long).

        losses: "coords" confidence-weighted L1 of x, y (zero-confidence joints ignored),
        "confidence" BCE of the predicted confidence, "commitment", and "total".
        """
        quantised, tokens, commitment = self.quantise(self.encode_latents(_mask_absent(poses)))
        out = self.decode_latents(quantised)
        coords = confidence_weighted_l1(out[..., :2], poses[..., :2], poses[..., 2])
        confidence = F.binary_cross_entropy_with_logits(out[..., 2], poses[..., 2])
        total = coords + self.config.confidence_weight * confidence + self.config.commitment * commitment
        recon = torch.cat([out[..., :2], torch.sigmoid(out[..., 2:])], -1)
        return recon, {"coords": coords, "confidence": confidence, "commitment": commitment, "total": total}, tokens


def confidence_weighted_l1(predicted: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """Mean |predicted - target| over (x, y), each joint weighted by its confidence (B, J); () tensor."""
    weight = confidence.unsqueeze(-1).expand_as(target)
    return (weight * (predicted - target).abs()).sum() / weight.sum().clamp_min(1e-6)


def _mask_absent(poses: torch.Tensor) -> torch.Tensor:
    """Coordinates of zero-confidence joints carry no information: zero them before encoding."""
    present = (poses[..., 2:] > 0).type(poses.dtype)
    return torch.cat([poses[..., :2] * present, poses[..., 2:]], -1)
