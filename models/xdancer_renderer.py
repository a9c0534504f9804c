"""X-Dancer's diffusion renderer: motion-token decoder, ReferenceNet injection, UNet builders.

Chen et al. 2025, "X-Dancer: Expressive Music to Human Dance Video Generation", §3.3. Frames are
synthesised by a Stable-Diffusion-1.5-layout UNet with AnimateDiff temporal modules
(``diffusers.UNetMotionModel``), conditioned on

* the reference image, through a ReferenceNet (a trainable copy of the spatial UNet) whose
  self-attention inputs are appended to the keys/values of the denoising UNet's self-attention
  (the Animate-Anyone / "reference-only" pattern: ``ReferenceAttentionWriter`` records,
  ``ReferenceAttentionReader`` reads, both through one ``ReferenceFeatureBank``);
* the 1D pose tokens of each frame, through the ``MotionTokenDecoder``: a learnable 2D feature
  map, progressively upsampled by conv blocks whose features are modulated by AdaIN (Huang &
  Belongie 2017) with per-channel scale/shift predicted from the frame's tokens and keypoint
  confidences, read out by zero-initialised 1x1 convs into one guidance map per UNet skip
  connection, added like ControlNet residuals (``down_block_additional_residuals``).

Token layout (the X-Dancer compositional VQ-VAE): per frame 5 parts (upper body, lower body,
head, left hand, right hand) x 6 token slots, each slot with its own 512-entry codebook, plus
60 keypoint confidences in 0..1.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class MotionTokenDecoderConfig:
    """Sizes of the motion-token decoder; the ``unet_*`` fields mirror the denoising UNet's config."""

    num_parts: int = 5  # upper body, lower body, head, left hand, right hand
    tokens_per_part: int = 6
    codebook_size: int = 512  # entries per token slot (each slot has its own codebook)
    num_joints: int = 60  # one confidence per joint
    token_embed_dim: int = 32  # embedding width of one token
    style_dim: int = 256  # width of the per-frame pose code that drives every AdaIN
    temporal_kernel: int = 3  # frames mixed by the pose-code temporal conv (1 = per-frame only)
    base_size: int = 8  # side of the learnable 2D feature map (resized to the UNet's coarsest grid)
    channels: tuple[int, ...] = (64, 128, 256, 256)  # decoder width per UNet level, finest first
    unet_block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    unet_layers_per_block: int = 2

    @classmethod
    def for_unet(cls, unet_config, **overrides) -> "MotionTokenDecoderConfig":
        """The config whose guidance maps match ``unet_config`` (a diffusers UNet config)."""
        layers = unet_config["layers_per_block"]
        if not isinstance(layers, int):
            if len(set(layers)) != 1:
                raise ValueError(f"layers_per_block {layers} differs per block; the decoder needs one value.")
            layers = layers[0]
        return cls(unet_block_out_channels=tuple(unet_config["block_out_channels"]),
                   unet_layers_per_block=int(layers), **overrides)

    @property
    def num_tokens(self) -> int:
        return self.num_parts * self.tokens_per_part


class AdaIN(nn.Module):
    """Instance-normalise each channel, then scale and shift it by values predicted from the pose code."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.to_scale_shift = nn.Linear(style_dim, 2 * channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x : (N, C, h, w) features; style : (N, style_dim) pose codes -> (N, C, h, w)."""
        scale, shift = self.to_scale_shift(style)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1 + scale) + shift


class AdaINConvBlock(nn.Module):
    """conv3x3 -> AdaIN -> SiLU, twice, with a residual path."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.adain1 = AdaIN(out_channels, style_dim)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.adain2 = AdaIN(out_channels, style_dim)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x : (N, C_in, h, w), style : (N, style_dim) -> (N, C_out, h, w)."""
        h = F.silu(self.adain1(self.conv1(x), style))
        h = F.silu(self.adain2(self.conv2(h), style))
        return h + self.skip(x)


class PoseTokenEncoder(nn.Module):
    """Per-frame pose code from the 30 tokens and 60 confidences, mixed over neighbouring frames."""

    def __init__(self, config: MotionTokenDecoderConfig):
        super().__init__()
        self.config = config
        # One table for all slots: slot s, code c -> row s * codebook_size + c (each slot its own codebook).
        self.token_embedding = nn.Embedding(config.num_tokens * config.codebook_size, config.token_embed_dim)
        self.register_buffer("slot_offsets", torch.arange(config.num_tokens) * config.codebook_size, persistent=False)
        in_dim = config.num_tokens * config.token_embed_dim + config.num_joints
        self.mlp = nn.Sequential(nn.Linear(in_dim, config.style_dim), nn.SiLU(),
                                 nn.Linear(config.style_dim, config.style_dim))
        self.temporal = nn.Conv1d(config.style_dim, config.style_dim, config.temporal_kernel,
                                  padding=config.temporal_kernel // 2)

    def forward(self, tokens: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
        """tokens : (B, F, parts, tokens_per_part) long; confidence : (B, F, joints) 0..1 -> (B, F, style_dim)."""
        batch, frames = tokens.shape[:2]
        codes = tokens.reshape(batch, frames, -1) + self.slot_offsets  # (B, F, 30)
        embedded = self.token_embedding(codes).flatten(2)  # (B, F, 30 * E)
        style = self.mlp(torch.cat([embedded, confidence.to(embedded.dtype)], dim=-1))  # (B, F, S)
        return style + self.temporal(style.transpose(1, 2)).transpose(1, 2)


class MotionTokenDecoder(nn.Module):
    """Pose tokens -> additive guidance for every skip connection of the denoising UNet (and its mid block).

    Starts from a learnable (C, base_size, base_size) map, resizes it to the UNet's coarsest grid and
    upsamples level by level to the finest (the latent grid); each level's features pass an
    ``AdaINConvBlock`` driven by the frame's pose code and are read out by zero-initialised 1x1
    convs, so an untrained decoder leaves the UNet unchanged.
    """

    def __init__(self, config: MotionTokenDecoderConfig):
        super().__init__()
        levels = len(config.unet_block_out_channels)
        if len(config.channels) != levels:
            raise ValueError(f"channels {config.channels} needs one width per UNet level "
                             f"({levels} for unet_block_out_channels {config.unet_block_out_channels}).")
        self.config = config
        self.pose_encoder = PoseTokenEncoder(config)
        self.feature_map = nn.Parameter(torch.randn(config.channels[-1], config.base_size, config.base_size))
        self.blocks = nn.ModuleList(
            AdaINConvBlock(config.channels[min(level + 1, levels - 1)], config.channels[level], config.style_dim)
            for level in range(levels))
        self.residual_heads = nn.ModuleList(
            nn.Conv2d(config.channels[level], channels, 1) for level, channels in self.residual_layout())
        self.mid_head = nn.Conv2d(config.channels[-1], config.unet_block_out_channels[-1], 1)
        for head in [*self.residual_heads, self.mid_head]:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def residual_layout(self) -> list[tuple[int, int]]:
        """(level, channels) of each entry of ``down_block_additional_residuals``, in the UNet's order.

        conv_in at level 0; then per down block ``layers_per_block`` resnet outputs at its level and,
        except for the last block, its downsampler's output one level coarser.
        """
        widths = self.config.unet_block_out_channels
        layout = [(0, widths[0])]
        for level, width in enumerate(widths):
            layout += [(level, width)] * self.config.unet_layers_per_block
            if level < len(widths) - 1:
                layout.append((level + 1, width))
        return layout

    def forward(self, tokens: torch.Tensor, confidence: torch.Tensor,
                latent_size: tuple[int, int]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Guidance maps for a batch of frame windows.

        tokens     : (B, F, parts, tokens_per_part) long, codebook indices.
        confidence : (B, F, joints) float, keypoint confidences 0..1.
        latent_size: (h, w) of the latent grid (UNet level 0); both divisible by 2^(levels - 1).
        Returns (residuals, mid): residuals[i] is (B*F, C_i, h_i, w_i) matching the UNet's i-th skip
        connection (frame-major within each batch item, as ``UNetMotionModel`` flattens frames);
        mid is (B*F, C_last, h_last, w_last).
        """
        levels = len(self.config.channels)
        factor = 2 ** (levels - 1)
        height, width = latent_size
        if height % factor or width % factor:
            raise ValueError(f"latent size {latent_size} must be divisible by {factor} for a {levels}-level UNet.")
        style = self.pose_encoder(tokens, confidence).flatten(0, 1)  # (N = B*F, S)
        features = F.interpolate(self.feature_map[None], size=(height // factor, width // factor),
                                 mode="bilinear", align_corners=False)
        features = features.expand(style.shape[0], -1, -1, -1)
        per_level = [None] * levels
        for level in reversed(range(levels)):
            if level < levels - 1:
                features = F.interpolate(features, scale_factor=2.0, mode="nearest")
            features = self.blocks[level](features, style)
            per_level[level] = features
        residuals = [head(per_level[level]) for head, (level, _) in zip(self.residual_heads, self.residual_layout())]
        return residuals, self.mid_head(per_level[-1])


class ReferenceFeatureBank:
    """Self-attention inputs of the ReferenceNet, by layer name, for the denoising UNet to read.

    ``features[name]`` is (B_ref, N, C). A reader whose batch is B_ref * F repeats each
    reference F times (F frames per reference, frame-major as ``UNetMotionModel`` flattens).
    """

    def __init__(self):
        self.features: dict[str, torch.Tensor] = {}

    def clear(self) -> None:
        self.features.clear()


class ReferenceAttentionWriter:
    """Self-attention processor of the ReferenceNet: records its input, then attends as usual."""

    def __init__(self, bank: ReferenceFeatureBank, name: str):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.bank, self.name, self.attend = bank, name, AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None):
        self.bank.features[self.name] = hidden_states
        return self.attend(attn, hidden_states, None, attention_mask, temb)


class ReferenceAttentionReader:
    """Self-attention processor of the denoising UNet: keys/values = [own tokens, reference tokens]."""

    def __init__(self, bank: ReferenceFeatureBank, name: str):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.bank, self.name, self.attend = bank, name, AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None):
        reference = self.bank.features.get(self.name)
        if reference is None:
            return self.attend(attn, hidden_states, None, attention_mask, temb)
        repeats = hidden_states.shape[0] // reference.shape[0]
        if repeats * reference.shape[0] != hidden_states.shape[0]:
            raise ValueError(f"{self.name}: batch {hidden_states.shape[0]} is not a multiple of the reference "
                             f"batch {reference.shape[0]}.")
        reference = reference.repeat_interleave(repeats, dim=0).to(hidden_states.dtype)
        return self.attend(attn, hidden_states, torch.cat([hidden_states, reference], dim=1), attention_mask, temb)


def spatial_self_attention_names(unet: nn.Module) -> list[str]:
    """Processor names of the spatial self-attentions (``...attentions.*.attn1``), motion modules excluded."""
    return [name for name in unet.attn_processors if ".attentions." in name and name.endswith("attn1.processor")]


def install_reference_attention(reference_unet: nn.Module, denoising_unet: nn.Module) -> ReferenceFeatureBank:
    """Route the ReferenceNet's self-attention inputs into the denoising UNet's self-attentions.

    Both UNets must share the SD layout (same spatial attention names). Other processors are set to
    the default ``AttnProcessor2_0``. Returns the bank the two now share.
    """
    from diffusers.models.attention_processor import AttnProcessor2_0

    bank = ReferenceFeatureBank()
    writers = set(spatial_self_attention_names(reference_unet))
    readers = set(spatial_self_attention_names(denoising_unet))
    if not writers or writers != readers:
        raise ValueError("the ReferenceNet and the denoising UNet have different spatial self-attention layers; "
                         "build the ReferenceNet from the same UNet2DConditionModel config.")
    reference_unet.set_attn_processor({name: ReferenceAttentionWriter(bank, name.removesuffix(".processor"))
                                       if name in writers else AttnProcessor2_0()
                                       for name in reference_unet.attn_processors})
    denoising_unet.set_attn_processor({name: ReferenceAttentionReader(bank, name.removesuffix(".processor"))
                                       if name in readers else AttnProcessor2_0()
                                       for name in denoising_unet.attn_processors})
    return bank


def build_reference_unet(unet) -> nn.Module:
    """The ReferenceNet: a trainable deep copy of the spatial ``UNet2DConditionModel``."""
    return copy.deepcopy(unet)


def build_denoising_unet(unet, motion_adapter) -> nn.Module:
    """``UNetMotionModel`` = the spatial UNet's weights + the AnimateDiff motion modules of ``motion_adapter``."""
    from diffusers import UNetMotionModel

    return UNetMotionModel.from_unet2d(unet, motion_adapter)


def extract_motion_adapter(denoising_unet, motion_adapter_config) -> nn.Module:
    """A ``MotionAdapter`` (of ``motion_adapter_config``) holding the motion modules of ``denoising_unet``."""
    from diffusers import MotionAdapter

    adapter = MotionAdapter.from_config(motion_adapter_config)
    for source, target in zip(denoising_unet.down_blocks, adapter.down_blocks):
        target.motion_modules.load_state_dict(source.motion_modules.state_dict())
    for source, target in zip(denoising_unet.up_blocks, adapter.up_blocks):
        target.motion_modules.load_state_dict(source.motion_modules.state_dict())
    if adapter.mid_block is not None and hasattr(denoising_unet.mid_block, "motion_modules"):
        adapter.mid_block.motion_modules.load_state_dict(denoising_unet.mid_block.motion_modules.state_dict())
    return adapter
