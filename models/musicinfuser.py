"""MusicInfuser: Genmo Mochi taught to dance to music by zero-initialised music cross-attention and LoRA.

Hong et al. 2025, "MusicInfuser: Making Video Diffusion Listen and Dance". The video model is diffusers'
``MochiTransformer3DModel`` unchanged; MusicInfuser adds, in the order a forward pass meets them:

1. Wav2Vec2 (``facebook/wav2vec2-base-960h``) on 16 kHz mono music: ~50 tokens per second, 768-d each
   (``MusicEncoder``, frozen; kept apart from the diffusion model because it runs once per song);
2. an audio projector 768 -> 3072 -> 3072 (Linear-SiLU-Linear) and nearest-neighbour resampling of the
   tokens to the number of *latent* frames, so audio token t lines up with latent frame t;
3. ZICA, zero-initialised cross-attention: after 16 of Mochi's 48 blocks (``ZICA_BLOCKS``, the blocks the
   paper's adaptability criterion picked), every video token attends to all music tokens (8 heads) and the
   result is added back through a ``to_out`` that starts at zero, so at initialisation the model *is* Mochi;
4. rank-64 LoRA (alpha 64) on the joint attention's projections: video q/k/v/out and text q/k/v/out
   (``to_q``/``to_k``/``to_v``/``to_out.0`` and ``add_*_proj``/``to_add_out`` in diffusers' names), through peft,
   with q, k and v sharing their ``A`` as the official LoRA on Genmo's fused QKV projection does.

Submodule names ``audio_projection.projection.{0,2}`` and ``audio_cross_attn_blocks.{j}.to_{q,k,v,out}``
equal the official checkpoint's, so ``choreo.generators.musicinfuser`` maps those keys one to one and only
splits the fused-QKV LoRA.

Beyond the paper (off by default, ``beat_channels > 0``): a beat/downbeat channel per audio token,
projected by a zero-initialised linear layer and added to the music tokens before resampling. At zero it
changes nothing, so the official weights load and behave identically; fine-tuning can then teach the
model our beat analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

ZICA_BLOCKS = (6, 7, 8, 9, 10, 21, 34, 35, 36, 38, 39, 43, 44, 45, 46, 47)
AUDIO_SAMPLE_RATE = 16000  # Hz, Wav2Vec2's input rate
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")


@dataclass(frozen=True)
class MusicInfuserConfig:
    """What MusicInfuser adds to a Mochi transformer (the transformer keeps its own diffusers config).

    audio_dim            : width of the music encoder's tokens (768 for Wav2Vec2-base).
    projector_hidden_dim : hidden width of the audio projector (3072 = Mochi's visual width).
    music_heads          : heads of each ZICA cross-attention (8).
    zica_blocks          : indices of the transformer blocks followed by a ZICA block, ascending.
    lora_rank, lora_alpha: LoRA on the joint attention (64, 64: scale alpha / rank = 1); rank 0 = no LoRA.
    beat_channels        : extra per-token rhythm channels (ours, not the paper's); 0 = the official model.
    """

    audio_dim: int = 768
    projector_hidden_dim: int = 3072
    music_heads: int = 8
    zica_blocks: tuple[int, ...] = ZICA_BLOCKS
    lora_rank: int = 64
    lora_alpha: float = 64.0
    beat_channels: int = 0


class MusicEncoder(nn.Module):
    """Wav2Vec2's last hidden state for raw music, normalised the way Wav2Vec2's feature extractor does.

    The base-960h feature extractor scales each clip to zero mean and unit variance before the network;
    doing it here spares the processor and its files.
    """

    def __init__(self, wav2vec2: nn.Module):
        super().__init__()
        self.wav2vec2 = wav2vec2

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """waveform : (B, S) float, mono at 16 kHz -> (B, ~S / 320, audio_dim) tokens (~50 per second)."""
        waveform = waveform.float()
        mean = waveform.mean(dim=-1, keepdim=True)
        variance = waveform.var(dim=-1, keepdim=True, unbiased=False)
        normalised = (waveform - mean) / torch.sqrt(variance + 1e-7)
        dtype = next(self.wav2vec2.parameters()).dtype
        return self.wav2vec2(normalised.to(dtype)).last_hidden_state


class AudioProjector(nn.Module):
    """Music tokens to the transformer's width, then nearest-neighbour in time to the latent frame count."""

    def __init__(self, audio_dim: int, hidden_dim: int, width: int):
        super().__init__()
        self.projection = nn.Sequential(nn.Linear(audio_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, width))

    def forward(self, music_tokens: torch.Tensor, num_latent_frames: int,
                beat_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """music_tokens : (B, T_a, audio_dim); beat_tokens : (B, T_a, width) or None -> (B, T_latent, width)."""
        projected = self.projection(music_tokens)
        if beat_tokens is not None:
            projected = projected + beat_tokens
        if projected.shape[1] != num_latent_frames:
            projected = F.interpolate(projected.transpose(1, 2), size=num_latent_frames, mode="nearest").transpose(1, 2)
        return projected


class MusicCrossAttention(nn.Module):
    """ZICA: video tokens attend to the music tokens; the output projection starts at zero (residual)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"ZICA width {width} must be divisible by its {heads} heads.")
        self.heads = heads
        self.to_q = nn.Linear(width, width)
        self.to_k = nn.Linear(width, width)
        self.to_v = nn.Linear(width, width)
        self.to_out = nn.Linear(width, width)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def forward(self, x: torch.Tensor, music: torch.Tensor) -> torch.Tensor:
        """x : (B, N, width) video tokens; music : (B or 1, T, width) -> (B, N, width) = x + attention."""
        batch, tokens, width = x.shape
        music = music.to(x.dtype).expand(batch, -1, -1)
        head_dim = width // self.heads
        q = self.to_q(x).view(batch, tokens, self.heads, head_dim).transpose(1, 2)  # (B, h, N, d)
        k = self.to_k(music).view(batch, -1, self.heads, head_dim).transpose(1, 2)  # (B, h, T, d)
        v = self.to_v(music).view(batch, -1, self.heads, head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, tokens, width)
        return x + self.to_out(out)


def tie_fused_lora_down_projections(transformer: nn.Module) -> None:
    """Make q, k and v of each stream share one LoRA ``A`` (one Parameter), as Genmo's fused-QKV LoRA does.

    The official LoRA sits on the fused ``qkv`` projection: ``delta = B @ A`` with one ``A`` (r, in) and ``B``
    (3D, r). Three peft LoRAs with a shared ``A`` and ``B`` split in row blocks compute exactly that, in
    training too (the shared ``A`` collects the gradients of all three), so trained adapters stay writable in
    the official layout.
    """
    for block in transformer.transformer_blocks:
        attention = block.attn1
        for first, *others in (("to_q", "to_k", "to_v"), ("add_q_proj", "add_k_proj", "add_v_proj")):
            shared = getattr(attention, first).lora_A["default"]
            for name in others:
                getattr(attention, name).lora_A["default"].weight = shared.weight


class MusicInfuser(nn.Module):
    """A Mochi transformer with MusicInfuser's audio projector, ZICA blocks and LoRA.

    transformer : a diffusers ``MochiTransformer3DModel`` holding the base weights (load them *before*
                  wrapping: the LoRA renames each adapted layer's weight to ``<layer>.base_layer.weight``).
    """

    def __init__(self, transformer: nn.Module, config: MusicInfuserConfig = MusicInfuserConfig()):
        super().__init__()
        mochi = transformer.config
        width = mochi.num_attention_heads * mochi.attention_head_dim
        blocks = tuple(config.zica_blocks)
        if list(blocks) != sorted(set(blocks)) or (blocks and not 0 <= blocks[0] <= blocks[-1] < mochi.num_layers):
            raise ValueError(f"zica_blocks {blocks} must be ascending indices below the transformer's "
                             f"{mochi.num_layers} blocks.")
        self.config = config
        self.transformer = transformer
        if config.lora_rank > 0:
            try:
                from peft import LoraConfig
            except ImportError as error:
                raise ImportError("MusicInfuser's LoRA needs peft: pip install 'peft>=0.17'.") from error

            targets = "|".join(name.replace(".", r"\.") for name in LORA_TARGETS)
            transformer.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                               init_lora_weights=True,
                                               target_modules=rf".*transformer_blocks\.\d+\.attn1\.({targets})"))
            tie_fused_lora_down_projections(transformer)
        self.audio_projection = AudioProjector(config.audio_dim, config.projector_hidden_dim, width)
        self.audio_cross_attn_blocks = nn.ModuleList(MusicCrossAttention(width, config.music_heads) for _ in blocks)
        if config.beat_channels > 0:
            self.beat_projection = nn.Linear(config.beat_channels, width)
            nn.init.zeros_(self.beat_projection.weight)
            nn.init.zeros_(self.beat_projection.bias)
        self.gradient_checkpointing = False

    def music_context(self, music_tokens: torch.Tensor, num_latent_frames: int,
                      beats: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T_a, audio_dim) tokens [+ (B, T_a, beat_channels) beats] -> (B, T_latent, width) for ZICA."""
        beat_tokens = None
        if beats is not None:
            if self.config.beat_channels == 0:
                raise ValueError("beats were given but this MusicInfuser has beat_channels = 0.")
            beat_tokens = self.beat_projection(beats.to(music_tokens.dtype))
        return self.audio_projection(music_tokens, num_latent_frames, beat_tokens)

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor, timestep: torch.Tensor,
                encoder_attention_mask: torch.Tensor, music_tokens: torch.Tensor,
                beats: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity prediction of Mochi's flow (noise-to-data direction), music-conditioned.

        hidden_states          : (B, 12, T, H, W) noisy latents (T latent frames, H and W even).
        encoder_hidden_states  : (B, L, 4096) T5 tokens; encoder_attention_mask : (B, L) bool.
        timestep               : (B,) 1000 * (1 - sigma), sigma = noise level in [0, 1].
        music_tokens           : (B or 1, T_a, audio_dim) Wav2Vec2 tokens of the clip's music.
        beats                  : optional (B or 1, T_a, beat_channels) rhythm channels on the same clock.
        Returns (B, 12, T, H, W).
        """
        mochi = self.transformer
        batch, _, frames, height, width = hidden_states.shape
        patch = mochi.config.patch_size
        temb, context = mochi.time_embed(timestep, encoder_hidden_states, encoder_attention_mask,
                                         hidden_dtype=hidden_states.dtype)
        x = mochi.patch_embed(hidden_states.permute(0, 2, 1, 3, 4).flatten(0, 1))  # (B*T, h*w, D)
        x = x.unflatten(0, (batch, -1)).flatten(1, 2)  # (B, T*h*w, D)
        rope = mochi.rope(mochi.pos_frequencies, frames, height // patch, width // patch,
                          device=x.device, dtype=torch.float32)
        music = self.music_context(music_tokens, frames, beats).to(x.dtype)
        zica = dict(zip(self.config.zica_blocks, self.audio_cross_attn_blocks))
        checkpoint = self.gradient_checkpointing and torch.is_grad_enabled()
        for index, block in enumerate(mochi.transformer_blocks):
            if checkpoint:
                x, context = torch.utils.checkpoint.checkpoint(block, x, context, temb, encoder_attention_mask, rope,
                                                               use_reentrant=False)
            else:
                x, context = block(hidden_states=x, encoder_hidden_states=context, temb=temb,
                                   encoder_attention_mask=encoder_attention_mask, image_rotary_emb=rope)
            if index in zica:
                x = zica[index](x, music)
        x = mochi.proj_out(mochi.norm_out(x, temb))  # (B, T*h*w, p*p*C)
        x = x.reshape(batch, frames, height // patch, width // patch, patch, patch, -1)
        return x.permute(0, 6, 1, 2, 4, 3, 5).reshape(batch, -1, frames, height, width)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What MusicInfuser trains: LoRA, ZICA, the projector (and the beat projection); Mochi stays frozen."""
        for name, parameter in self.named_parameters():
            parameter.requires_grad_("lora_" in name or not name.startswith("transformer."))
        return [parameter for parameter in self.parameters() if parameter.requires_grad]
