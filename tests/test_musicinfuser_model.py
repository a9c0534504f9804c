"""MusicInfuser on a tiny random Mochi transformer: zero-init identity, where ZICA sits, what trains, the encoder."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from models.musicinfuser import (AudioProjector, MusicCrossAttention, MusicEncoder, MusicInfuser,  # noqa: E402
                                 MusicInfuserConfig)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = MusicInfuserConfig(audio_dim=12, projector_hidden_dim=24, music_heads=2, zica_blocks=(0, 2), lora_rank=4,
                          lora_alpha=4.0)


def tiny_mochi(num_layers: int = 3):
    from diffusers import MochiTransformer3DModel

    torch.manual_seed(0)
    return MochiTransformer3DModel(num_attention_heads=2, attention_head_dim=8, num_layers=num_layers,
                                   pooled_projection_dim=16, in_channels=4, text_embed_dim=32, time_embed_dim=8,
                                   max_sequence_length=8)


def inputs(batch: int = 2):
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(batch, 4, 3, 8, 8, generator=generator)
    text = torch.randn(batch, 8, 32, generator=generator)
    mask = torch.ones(batch, 8, dtype=torch.bool)
    mask[-1, 5:] = False  # a shorter prompt in the batch
    return latents, text, torch.tensor([500.0, 100.0][:batch]), mask, torch.randn(batch, 20, 12, generator=generator)


def test_zero_initialised_musicinfuser_equals_plain_mochi():
    plain = tiny_mochi()
    model = MusicInfuser(copy.deepcopy(plain), TINY)
    latents, text, timestep, mask, music = inputs()
    with torch.no_grad():
        expected = plain(latents, text, timestep, mask, return_dict=False)[0]
        got = model(latents, text, timestep, mask, music)
    assert got.shape == latents.shape
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_music_changes_the_output_once_zica_is_trained():
    model = MusicInfuser(tiny_mochi(), TINY)
    for block in model.audio_cross_attn_blocks:
        torch.nn.init.normal_(block.to_out.weight, std=0.5)
    latents, text, timestep, mask, music = inputs()
    with torch.no_grad():
        one = model(latents, text, timestep, mask, music)
        other = model(latents, text, timestep, mask, music.flip(1))
    assert (one - other).abs().max() > 1e-3


def test_zica_runs_after_exactly_the_listed_blocks():
    model = MusicInfuser(tiny_mochi(num_layers=4), MusicInfuserConfig(
        audio_dim=12, projector_hidden_dim=24, music_heads=2, zica_blocks=(1, 3), lora_rank=0))
    order = []
    for index, block in enumerate(model.transformer.transformer_blocks):
        block.register_forward_hook(lambda *_, index=index: order.append(f"block{index}"))
    for index, zica in zip((1, 3), model.audio_cross_attn_blocks):
        zica.register_forward_hook(lambda *_, index=index: order.append(f"zica{index}"))
    with torch.no_grad():
        model(*inputs())
    assert order == ["block0", "block1", "zica1", "block2", "block3", "zica3"]
    assert MusicInfuserConfig().zica_blocks == (6, 7, 8, 9, 10, 21, 34, 35, 36, 38, 39, 43, 44, 45, 46, 47)
    with pytest.raises(ValueError, match="zica_blocks"):
        MusicInfuser(tiny_mochi(), MusicInfuserConfig(audio_dim=12, projector_hidden_dim=24, zica_blocks=(5,)))


def test_forward_backward_trains_only_lora_zica_and_projector():
    model = MusicInfuser(tiny_mochi(), TINY)
    trainable = model.trainable_parameters()
    names = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert names and all("lora_" in name or name.startswith(("audio_projection.", "audio_cross_attn_blocks."))
                         for name in names)
    assert any(".to_add_out.lora_A." in name for name in names)  # text stream's output LoRA too
    assert sum(".attn1.to_q.lora_A." in name for name in names) == 3  # one per block
    attention = model.transformer.transformer_blocks[1].attn1
    assert attention.to_k.lora_A["default"].weight is attention.to_q.lora_A["default"].weight  # fused QKV: one A
    assert attention.add_v_proj.lora_A["default"].weight is attention.add_q_proj.lora_A["default"].weight
    model.to(torch.float64)
    assert attention.to_v.lora_A["default"].weight is attention.to_q.lora_A["default"].weight  # ties survive casts
    model.to(torch.float32)
    model.gradient_checkpointing = True
    loss = model(*inputs()).square().mean()
    loss.backward()
    assert all(parameter.grad is not None for parameter in trainable)
    frozen = [p for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(parameter.grad is None for parameter in frozen)


def test_projector_resamples_by_nearest_neighbour_to_the_latent_frames():
    projector = AudioProjector(2, 4, 3)
    with torch.no_grad():
        projector.projection[0].weight.copy_(torch.eye(4, 2))
        projector.projection[0].bias.zero_()
        projector.projection[2].weight.copy_(torch.eye(3, 4))
        projector.projection[2].bias.zero_()
    tokens = torch.arange(1.0, 7.0).view(1, 6, 1).expand(1, 6, 2)  # 6 tokens valued 1..6
    out = projector(tokens, num_latent_frames=3)
    silu = torch.nn.functional.silu
    assert out.shape == (1, 3, 3)
    torch.testing.assert_close(out[0, :, 0], silu(torch.tensor([1.0, 3.0, 5.0])))  # tokens 0, 2, 4


def test_zica_output_starts_at_zero_and_broadcasts_one_song_over_a_batch():
    zica = MusicCrossAttention(16, 8)
    x, music = torch.randn(2, 5, 16), torch.randn(1, 7, 16)
    assert torch.equal(zica(x, music), x)
    assert torch.count_nonzero(zica.to_out.weight) == 0


def test_zero_beat_channel_keeps_the_official_behaviour():
    plain = MusicInfuser(tiny_mochi(), TINY)
    with_beats = MusicInfuser(tiny_mochi(), MusicInfuserConfig(**{**TINY.__dict__, "beat_channels": 2}))
    with_beats.load_state_dict(plain.state_dict(), strict=False)
    latents, text, timestep, mask, music = inputs()
    beats = torch.zeros(2, 20, 2)
    beats[:, ::5, 0] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(with_beats(latents, text, timestep, mask, music, beats),
                                   plain(latents, text, timestep, mask, music), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="beat_channels"):
        plain(latents, text, timestep, mask, music, beats)


def test_music_encoder_normalises_and_gives_about_50_tokens_per_second():
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=12, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                            conv_dim=(8, 8, 8, 8, 8, 8, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    encoder = MusicEncoder(Wav2Vec2Model(config).eval())
    waveform = torch.randn(1, 16000)
    with torch.no_grad():
        tokens = encoder(waveform)
        louder = encoder(3.0 * waveform + 0.5)
    assert tokens.shape == (1, 49, 12)
    torch.testing.assert_close(louder, tokens, atol=1e-4, rtol=1e-4)  # gain and offset are normalised away
