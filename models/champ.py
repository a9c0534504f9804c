"""CHAMP's guided latent-diffusion renderer: the networks that turn body passes into video of a reference person.

Zhu et al. 2024, "Champ: Controllable and Consistent Human Image Animation with 3D Parametric Guidance" (public
code fudan-generative-vision/champ, weights fudan-generative-ai/champ, Apache-2.0); M2PEnc renders with it. Parts,
in the order this file defines them:

1. ``Attention``, ``FeedForward``, ``SpatialSelfAttention``: small blocks under CHAMP's parameter names
   (``to_q``/``to_k``/``to_v``/``to_out.0``, ``ff.net.0.proj``/``ff.net.2``), so the official state dicts load as is.
2. ``GuidanceEncoder``: one per guidance pass (depth, normal, semantic map, DWPose skeleton). A conv stack halves the
   image three times to latent resolution, one spatial self-attention, then a zero-initialised conv out to the
   UNet's first width; the encoded passes are summed and added to the UNet latents right after ``conv_in``.
3. ``TemporalModule``: AnimateDiff's "Vanilla" motion module (GroupNorm, two temporal self-attentions with
   sinusoidal frame positions, GEGLU feed-forward, zero-initialised ``proj_out``), under AnimateDiff's key names.
4. Reference attention: the ReferenceNet (a second SD-1.5 UNet run once on the reference image's latents at t = 0)
   records the input of every spatial self-attention; the denoising UNet's same-named self-attention then attends
   to [its own tokens | the reference tokens], which carries the person's appearance into every frame.
5. ``ChampDenoiser``: a diffusers ``UNet2DConditionModel`` with the frames folded into the batch, a motion module
   after each spatial block (after the attention where the block has one, else after the resnet, as CHAMP's
   ``unet_3d_blocks``) and the guidance added after ``conv_in``. Hooks insert both so the UNet's own key names stay
   SD-1.5's and CHAMP's ``denoising_unet.pth``/``motion_module.pth`` keys load one to one.

CHAMP's guidance encoder builds six spatial attentions and a ``guidance_attention`` but runs only the last of the
six (a FIXME in its code); we build only that one, and ``choreo.generators.champ`` maps its checkpoint key onto
``attention`` and drops the unused ones by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

GUIDANCE_TYPES = ("depth", "normal", "semantic_map", "dwpose")  # CHAMP's names, also its file names


@dataclass(frozen=True)
class ChampConfig:
    """CHAMP's own parts; the two UNets take SD-1.5's diffusers ``unet/config.json``.

    Defaults are the official ``configs/inference/inference.yaml``. ``*_norm_groups`` are 32 in CHAMP (fixed in its
    code); tiny test configs lower them.
    """

    guidance_types: tuple[str, ...] = GUIDANCE_TYPES
    guidance_input_channels: int = 3  # RGB pass images in 0..1
    guidance_block_channels: tuple[int, ...] = (16, 32, 96, 256)  # each step after the first halves H and W
    guidance_attention_heads: int = 8
    guidance_norm_groups: int = 32
    motion_attention_heads: int = 8
    motion_norm_groups: int = 32
    motion_max_frames: int = 32  # temporal_position_encoding_max_len: the longest segment the weights can see
    motion_resolutions: tuple[int, ...] = (1, 2, 4, 8)  # down-sampling factors whose blocks get motion modules
    motion_mid_block: bool = True

    def __post_init__(self):
        if not self.guidance_types or any(name not in GUIDANCE_TYPES for name in self.guidance_types):
            raise ValueError(f"guidance_types must be a non-empty subset of {GUIDANCE_TYPES}, "
                             f"got {self.guidance_types}.")


# 1. Blocks under CHAMP's parameter names -------------------------------------------------------------------------

class Attention(nn.Module):
    """Multi-head attention, diffusers' names and layout: no q/k/v bias, ``to_out.0`` with bias."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads.")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x : (N, L, C); context : (N, S, C) or None (self-attention) -> (N, L, C)."""
        context = x if context is None else context
        n, length, channels = x.shape
        split = lambda t: t.view(n, -1, self.heads, channels // self.heads).transpose(1, 2)  # (N, heads, L, C/h)
        out = F.scaled_dot_product_attention(split(self.to_q(x)), split(self.to_k(context)), split(self.to_v(context)))
        return self.to_out[0](out.transpose(1, 2).reshape(n, length, channels))


class GEGLU(nn.Module):
    """Gated GELU input projection of diffusers' FeedForward: one Linear to twice the width, half gates the other."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU MLP (width x4) as ``net.0.proj`` / ``net.2``; ``net.1`` is the (parameter-free) dropout slot."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class SelfAttentionBlock(nn.Module):
    """Pre-norm self-attention + feed-forward (CHAMP's TemporalBasicTransformerBlock with no cross-attention)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn1 = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        return self.ff(self.norm3(x)) + x


class SpatialSelfAttention(nn.Module):
    """Self-attention over the pixels of each image, residual (CHAMP's ``Transformer3DModel``, 1x1 conv projections)."""

    def __init__(self, channels: int, heads: int, norm_groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(norm_groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, kernel_size=1)
        self.transformer_blocks = nn.ModuleList([SelfAttentionBlock(channels, heads)])
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, C, H, W) -> (N, C, H, W)."""
        n, channels, height, width = x.shape
        tokens = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(n, height * width, channels)
        for block in self.transformer_blocks:
            tokens = block(tokens)
        tokens = tokens.reshape(n, height, width, channels).permute(0, 3, 1, 2)
        return self.proj_out(tokens) + x


# 2. Guidance encoder ------------------------------------------------------------------------------------------------

class GuidanceEncoder(nn.Module):
    """One guidance pass (an RGB picture per frame) -> features added to the UNet's first-layer activations.

    Every frame is encoded alone (CHAMP's 3D convs are per-frame 2D convs). ``conv_out`` starts at zero so an
    untrained encoder leaves the UNet unchanged.
    """

    def __init__(self, embedding_channels: int, config: ChampConfig):
        super().__init__()
        channels = config.guidance_block_channels
        self.conv_in = nn.Conv2d(config.guidance_input_channels, channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList()
        for channel_in, channel_out in zip(channels[:-1], channels[1:]):
            self.blocks.append(nn.Conv2d(channel_in, channel_in, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv2d(channel_in, channel_out, kernel_size=3, padding=1, stride=2))
        self.attention = SpatialSelfAttention(channels[-1], config.guidance_attention_heads,
                                              config.guidance_norm_groups)
        self.conv_out = nn.Conv2d(channels[-1], embedding_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, guidance: torch.Tensor) -> torch.Tensor:
        """guidance : (N, 3, H, W) in 0..1 -> (N, embedding_channels, H / 2^k, W / 2^k), k = len(blocks) / 2."""
        x = F.silu(self.conv_in(guidance))
        for block in self.blocks:
            x = F.silu(block(x))
        return self.conv_out(self.attention(x))


# 3. Motion module (AnimateDiff "Vanilla") ---------------------------------------------------------------------------

class PositionalEncoding(nn.Module):
    """Fixed sinusoidal frame positions, stored as a buffer ``pe`` (1, max_frames, C) as AnimateDiff saves it."""

    def __init__(self, channels: int, max_frames: int):
        super().__init__()
        position = torch.arange(max_frames, dtype=torch.float32)[:, None]
        frequency = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(10000.0) / channels))
        pe = torch.zeros(1, max_frames, channels)
        pe[0, :, 0::2] = torch.sin(position * frequency)
        pe[0, :, 1::2] = torch.cos(position * frequency)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:, : x.shape[1]]


class TemporalAttention(Attention):
    """Self-attention across frames; positions are added to its input (AnimateDiff's VersatileAttention)."""

    def __init__(self, dim: int, heads: int, max_frames: int):
        super().__init__(dim, heads)
        self.pos_encoder = PositionalEncoding(dim, max_frames)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(self.pos_encoder(x))


class TemporalBlock(nn.Module):
    """Two temporal self-attentions then a feed-forward, each pre-norm and residual, on (N, F, C) sequences."""

    def __init__(self, dim: int, heads: int, max_frames: int):
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalAttention(dim, heads, max_frames) for _ in range(2)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(2)])
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x)) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer(nn.Module):
    def __init__(self, channels: int, heads: int, norm_groups: int, max_frames: int):
        super().__init__()
        self.max_frames = max_frames
        self.norm = nn.GroupNorm(norm_groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalBlock(channels, heads, max_frames)])
        self.proj_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj_out.weight)  # AnimateDiff's zero_initialize: a new module starts as identity
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """x : (B*F, C, H, W), frames of one video adjacent -> (B*F, C, H, W)."""
        if num_frames > self.max_frames:
            raise ValueError(f"{num_frames} frames exceed the motion module's {self.max_frames} frame positions.")
        frames, channels, height, width = x.shape
        batch = frames // num_frames
        tokens = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(frames, height * width, channels))
        # attend across frames at each pixel: (B*F, HW, C) -> (B*HW, F, C)
        tokens = tokens.view(batch, num_frames, height * width, channels).transpose(1, 2)
        tokens = tokens.reshape(batch * height * width, num_frames, channels)
        for block in self.transformer_blocks:
            tokens = block(tokens)
        tokens = tokens.view(batch, height * width, num_frames, channels).transpose(1, 2)
        tokens = self.proj_out(tokens.reshape(frames, height, width, channels))
        return tokens.permute(0, 3, 1, 2) + x


class TemporalModule(nn.Module):
    """AnimateDiff's motion module: its weights sit under ``temporal_transformer.*``."""

    def __init__(self, channels: int, config: ChampConfig):
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, config.motion_attention_heads,
                                                        config.motion_norm_groups, config.motion_max_frames)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        return self.temporal_transformer(x, num_frames)


# 4. Reference attention ---------------------------------------------------------------------------------------------

class ReferenceBank:
    """What the ReferenceNet wrote, read by the denoiser: self-attention inputs by layer name, (1, L, C) each.

    ``reads`` : (B,) bool, the denoiser's batch rows that attend to the reference. CHAMP's unconditional
    (classifier-free guidance) rows see neither the reference tokens nor the CLIP embedding.
    """

    def __init__(self):
        self.features: dict[str, torch.Tensor] = {}
        self.reads: torch.Tensor | None = None
        self.num_frames = 1

    def clear(self) -> None:
        self.features.clear()
        self.reads = None


def _attend(attn, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """Attention of a diffusers ``Attention`` module (SD-1.5 self-attention: no norms, no residual inside)."""
    n, length, channels = x.shape
    heads = attn.heads
    split = lambda t: t.view(n, -1, heads, t.shape[-1] // heads).transpose(1, 2)
    out = F.scaled_dot_product_attention(split(attn.to_q(x)), split(attn.to_k(context)), split(attn.to_v(context)))
    out = out.transpose(1, 2).reshape(n, length, -1)
    return attn.to_out[1](attn.to_out[0](out))


class ReferenceWriter:
    """diffusers attention processor for the ReferenceNet: records its input, then plain self-attention."""

    def __init__(self, bank: ReferenceBank, name: str):
        self.bank, self.name = bank, name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        self.bank.features[self.name] = hidden_states
        return _attend(attn, hidden_states, hidden_states)


class ReferenceReader:
    """diffusers attention processor for the denoiser: reading rows attend to [own tokens | reference tokens]."""

    def __init__(self, bank: ReferenceBank, name: str):
        self.bank, self.name = bank, name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        reference = self.bank.features[self.name]  # (1, L_ref, C)
        reads = self.bank.reads.repeat_interleave(self.bank.num_frames)  # rows are (B*F)
        out = torch.empty_like(hidden_states)
        if reads.any():
            rows = hidden_states[reads]
            context = torch.cat([rows, reference.expand(rows.shape[0], -1, -1).to(rows.dtype)], dim=1)
            out[reads] = _attend(attn, rows, context)
        if not reads.all():
            rows = hidden_states[~reads]
            out[~reads] = _attend(attn, rows, rows)
        return out


def _self_attentions(unet: nn.Module) -> dict[str, nn.Module]:
    """The spatial self-attentions of a diffusers UNet by name (``...transformer_blocks.N.attn1``)."""
    return {name: module for name, module in unet.named_modules() if name.endswith(".attn1")}


def attach_reference_writer(unet: nn.Module, bank: ReferenceBank) -> None:
    for name, module in _self_attentions(unet).items():
        module.set_processor(ReferenceWriter(bank, name))


# 5. Denoiser --------------------------------------------------------------------------------------------------------

def _spatial_layers(block: nn.Module) -> nn.ModuleList:
    """The modules a block's motion modules follow: its attentions if it has any, else its resnets."""
    attentions = getattr(block, "attentions", None)
    return attentions if attentions is not None and len(attentions) else block.resnets


class ChampDenoiser(nn.Module):
    """CHAMP's denoising 3D UNet: SD-1.5 UNet per frame + motion modules + guidance after ``conv_in`` + reference.

    ``unet`` : a diffusers ``UNet2DConditionModel`` with SD-1.5's block types. Its state dict, motion modules
    included (``down_blocks.0.motion_modules.0.temporal_transformer...``), has CHAMP's denoising-UNet key names.
    """

    def __init__(self, unet: nn.Module, config: ChampConfig, bank: ReferenceBank):
        super().__init__()
        self.unet = unet
        self.bank = bank
        self._guidance: torch.Tensor | None = None
        widths = list(unet.config.block_out_channels)
        levels = len(widths)
        placed = [(block, widths[i], 2**i) for i, block in enumerate(unet.down_blocks)]
        placed += [(block, widths[::-1][i], 2 ** (levels - 1 - i)) for i, block in enumerate(unet.up_blocks)]
        for block, width, resolution in placed:
            if resolution in config.motion_resolutions:
                self._add_motion_modules(block, width, config)
        if config.motion_mid_block:
            self._add_motion_modules(unet.mid_block, widths[-1], config)
        unet.conv_in.register_forward_hook(self._add_guidance)
        for name, module in _self_attentions(unet).items():
            module.set_processor(ReferenceReader(bank, name))

    def _add_motion_modules(self, block: nn.Module, width: int, config: ChampConfig) -> None:
        layers = _spatial_layers(block)
        block.motion_modules = nn.ModuleList([TemporalModule(width, config) for _ in layers])
        for layer, motion in zip(layers, block.motion_modules):
            layer.register_forward_hook(lambda module, inputs, output, motion=motion: self._after_layer(motion, output))

    def _after_layer(self, motion: TemporalModule, output):
        if isinstance(output, tuple):  # Transformer2DModel(return_dict=False)
            return (motion(output[0], self.bank.num_frames), *output[1:])
        return motion(output, self.bank.num_frames)

    def _add_guidance(self, module, inputs, output):
        return output if self._guidance is None else output + self._guidance.to(output.dtype)

    def forward(self, latents: torch.Tensor, timestep: torch.Tensor, image_embeds: torch.Tensor,
                guidance: torch.Tensor | None, reads: torch.Tensor) -> torch.Tensor:
        """Predict the diffusion target (v for CHAMP) of a batch of videos.

        latents      : (B, 4, F, h, w) noisy latents; F at most ``motion_max_frames``.
        timestep     : () int, the diffusion step of every row.
        image_embeds : (B, 1, D) CLIP image embedding per row (zeros for unconditional rows).
        guidance     : (B, C0, F, h, w) summed guidance-encoder features, or None.
        reads        : (B,) bool, rows that attend to the reference written into ``bank``.
        returns      : (B, 4, F, h, w).
        """
        batch, channels, frames, height, width = latents.shape
        fold = lambda t: t.permute(0, 2, 1, 3, 4).reshape(batch * frames, t.shape[1], height, width)
        self.bank.num_frames, self.bank.reads = frames, reads
        self._guidance = None if guidance is None else fold(guidance)
        try:
            out = self.unet(fold(latents), timestep, encoder_hidden_states=image_embeds.repeat_interleave(frames, 0),
                            return_dict=False)[0]
        finally:
            self._guidance = None
        return out.view(batch, frames, channels, height, width).permute(0, 2, 1, 3, 4)


class ChampModel(nn.Module):
    """The three trained parts of CHAMP and the bank that connects two of them.

    reference_unet    : diffusers ``UNet2DConditionModel`` (CHAMP's ``reference_unet.pth``).
    denoiser          : ``ChampDenoiser`` (``denoising_unet.pth`` + ``motion_module.pth``).
    guidance_encoders : one ``GuidanceEncoder`` per loaded guidance type (``guidance_encoder_<type>.pth``).
    """

    def __init__(self, reference_unet: nn.Module, denoising_unet: nn.Module, config: ChampConfig):
        super().__init__()
        self.config = config
        self.bank = ReferenceBank()
        self.reference_unet = reference_unet
        attach_reference_writer(reference_unet, self.bank)
        self.denoiser = ChampDenoiser(denoising_unet, config, self.bank)
        width = denoising_unet.config.block_out_channels[0]
        self.guidance_encoders = nn.ModuleDict({name: GuidanceEncoder(width, config) for name in config.guidance_types})

    @property
    def latent_downscale(self) -> int:
        """Pixels per latent cell the guidance encoders assume (8 for CHAMP's four widths)."""
        return 2 ** (len(self.config.guidance_block_channels) - 1)

    def encode_guidance(self, passes: dict[str, torch.Tensor]) -> torch.Tensor:
        """passes : type -> (N, 3, H, W) in 0..1, any subset of the loaded types -> (N, C0, H/8, W/8) summed."""
        features = [self.guidance_encoders[name](images) for name, images in passes.items()]
        return torch.stack(features).sum(0)

    def write_reference(self, reference_latents: torch.Tensor, image_embeds: torch.Tensor) -> None:
        """Run the ReferenceNet once at t = 0 on (1, 4, h, w) latents with the (1, 1, D) CLIP embedding."""
        self.bank.clear()
        timestep = torch.zeros((), dtype=torch.long, device=reference_latents.device)
        self.reference_unet(reference_latents, timestep, encoder_hidden_states=image_embeds, return_dict=False)
