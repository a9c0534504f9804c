"""X-Dancer AdaIN renderer on a tiny random SD-layout configuration (CPU)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from choreo.checkpoints import CheckpointError
from choreo.render.xdancer import XDancerInputError, loading, render_xdancer, training
from choreo.render.xdancer.pipeline import XDancerComponents, predict_noise, record_reference, window_starts
from models import xdancer_renderer as network

SIDE_PX = 32


def tiny_parts(seed: int = 0) -> dict:
    """Tiny random UNet (2 levels), VAE (x2), MotionAdapter and DDIM scheduler."""
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(16, 32), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=8, layers_per_block=1)
    adapter = MotionAdapter(block_out_channels=(16, 32), motion_layers_per_block=1, motion_num_attention_heads=2,
                            motion_norm_num_groups=8, motion_max_seq_length=32)
    scheduler = DDIMScheduler.from_config(loading.SD15_SCHEDULER)
    decoder = network.MotionTokenDecoder(network.MotionTokenDecoderConfig.for_unet(
        unet.config, channels=(16, 16), style_dim=32, token_embed_dim=8, base_size=4))
    return {"unet": unet, "vae": vae, "adapter": adapter, "scheduler": scheduler, "decoder": decoder}


def video_components(parts: dict) -> XDancerComponents:
    base = {"unet": parts["unet"], "vae": parts["vae"], "scheduler": parts["scheduler"], "tokenizer": None,
            "text_encoder": None}
    renderer = {"token_decoder": parts["decoder"], "reference_unet": network.build_reference_unet(parts["unet"]),
                "image_encoder": None}
    return loading.assemble_components(base, renderer, parts["adapter"])


def random_tokens(num_frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 512, (num_frames, 5, 6), generator=generator),
            torch.rand(num_frames, 60, generator=generator))


def with_nonzero_heads(decoder):
    """The read-out convs start at zero (an untrained decoder adds nothing); give them weights to test AdaIN."""
    with torch.no_grad():
        for head in [*decoder.residual_heads, decoder.mid_head]:
            head.weight.normal_(0, 0.1)
    return decoder


def test_token_decoder_residuals_match_the_unet_skip_connections():
    parts = tiny_parts()
    tokens, confidence = random_tokens(3)
    residuals, mid = parts["decoder"](tokens[None], confidence[None], (16, 16))
    captured = {}

    def capture(module, args, output):
        captured.setdefault("skips", []).extend(output[1]) if isinstance(output, tuple) else None

    unet = parts["unet"]
    unet.conv_in.register_forward_hook(lambda m, a, out: captured.setdefault("skips", []).append(out))
    for block in unet.down_blocks:
        block.register_forward_hook(capture)
    with torch.no_grad():
        unet(torch.randn(3, 4, 16, 16), 10, torch.randn(3, 1, 16))
    assert [r.shape for r in residuals] == [s.shape for s in captured["skips"]]
    assert mid.shape == (3, 32, 8, 8)
    assert all(float(r.detach().abs().max()) == 0.0 for r in residuals)


def test_adain_guidance_changes_with_tokens_and_not_for_equal_tokens():
    decoder = with_nonzero_heads(tiny_parts()["decoder"]).eval()
    tokens, confidence = random_tokens(2)
    same = torch.stack([tokens[0], tokens[0]])[None]
    same_confidence = torch.stack([confidence[0], confidence[0]])[None]
    decoder_no_time = network.MotionTokenDecoder(dataclasses.replace(decoder.config, temporal_kernel=1))
    decoder_no_time.load_state_dict(with_nonzero_heads(decoder_no_time).state_dict())
    with torch.no_grad():
        guidance_same, _ = decoder_no_time(same, same_confidence, (16, 16))
        guidance_diff, _ = decoder_no_time(tokens[None], confidence[None], (16, 16))
        changed_tokens = tokens.clone()
        changed_tokens[1, 0, 0] = (changed_tokens[1, 0, 0] + 1) % 512
        guidance_one_token, _ = decoder_no_time(changed_tokens[None], confidence[None], (16, 16))
    assert torch.equal(guidance_same[0][0], guidance_same[0][1])
    assert (guidance_diff[0][0] - guidance_diff[0][1]).abs().max() > 1e-4
    assert (guidance_one_token[0][1] - guidance_diff[0][1]).abs().max() > 1e-6
    assert torch.equal(guidance_one_token[0][0], guidance_diff[0][0])


def test_reference_net_injection_changes_the_prediction():
    components = video_components(tiny_parts())
    tokens, confidence = random_tokens(2)
    noisy = torch.randn(1, 4, 2, 16, 16)
    embeds = torch.zeros(2, 1, 16)
    with torch.no_grad():
        components.bank.clear()
        alone = predict_noise(components, noisy, 500, embeds, tokens[None], confidence[None])
        record_reference(components, torch.randn(1, 4, 16, 16), embeds[:1])
        assert len(components.bank.features) == 4
        with_reference = predict_noise(components, noisy, 500, embeds, tokens[None], confidence[None])
        record_reference(components, torch.randn(1, 4, 16, 16), embeds[:1])
        other_reference = predict_noise(components, noisy, 500, embeds, tokens[None], confidence[None])
    assert (alone - with_reference).abs().max() > 1e-4
    assert (with_reference - other_reference).abs().max() > 1e-4


def overfit_clip() -> training.Clip:
    """Four 32x32 frames of a bright square moving right over a dark background, one token set each."""
    frames = np.full((4, SIDE_PX, SIDE_PX, 3), 30, dtype=np.uint8)
    for frame in range(4):
        frames[frame, 8:24, 4 + 4 * frame: 12 + 4 * frame] = (230, 180, 60)
    tokens, confidence = random_tokens(4, seed=3)
    return training.Clip(frames, tokens.numpy(), confidence.numpy())


def test_stage1_training_overfits_four_frames():
    parts = tiny_parts()
    reference_unet = network.build_reference_unet(parts["unet"])
    components = XDancerComponents(vae=parts["vae"], denoising_unet=parts["unet"], reference_unet=reference_unet,
                                   token_decoder=parts["decoder"], scheduler=parts["scheduler"],
                                   bank=network.install_reference_attention(reference_unet, parts["unet"]))
    settings = training.TrainSettings(stage="stage1", steps=40, learning_rate=2e-3, batch_size=2, height=SIDE_PX,
                                      width=SIDE_PX, condition_dropout=0.0, train_denoising_unet=True)
    clips = [overfit_clip()]
    evaluation = [training.sample_batch(clips, settings, np.random.default_rng(100 + i)) for i in range(3)]
    generator = torch.Generator().manual_seed(7)
    fixed = [training.random_loss_inputs(components, batch, generator, 0.0) for batch in evaluation]

    def held_out_loss() -> float:
        with torch.no_grad():
            return float(np.mean([float(training.diffusion_loss(components, batch, *inputs))
                                  for batch, inputs in zip(evaluation, fixed)]))

    before = held_out_loss()
    losses = training.train(components, clips, settings, output=None)
    components.vae.eval(), components.denoising_unet.eval(), components.reference_unet.eval()
    after = held_out_loss()
    print(f"stage-1 overfit: fixed-noise loss {before:.3f} -> {after:.3f}; "
          f"train loss first 10 {np.mean(losses[:10]):.3f}, last 10 {np.mean(losses[-10:]):.3f}")
    assert after < 0.6 * before
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def test_stage2_training_interrupted_and_resumed_equals_an_uninterrupted_run(tmp_path):
    settings = training.TrainSettings(stage="stage2", steps=3, learning_rate=1e-3, num_frames=3, height=SIDE_PX,
                                      width=SIDE_PX, save_every=100, condition_dropout=0.5)
    clips = [overfit_clip()]

    def run(folder, steps, resume=False):  # fresh networks each time, as a new process would load them
        parts = tiny_parts()
        components = video_components(parts)
        losses = training.train(components, clips, dataclasses.replace(settings, steps=steps), tmp_path / folder,
                                parts["adapter"].config, resume=resume)
        return losses, training._trainable_state({"unet": components.denoising_unet,
                                                  "decoder": components.token_decoder})

    straight, straight_weights = run("straight", 3)
    first, _ = run("resumed", 2)
    assert (tmp_path / "resumed" / "motion_adapter" / "config.json").is_file()
    second, resumed_weights = run("resumed", 3, resume=True)
    assert len(second) == 1 and np.allclose(first + second, straight, rtol=1e-5, atol=1e-7)
    assert resumed_weights.keys() == straight_weights.keys()
    for key, value in straight_weights.items():
        torch.testing.assert_close(resumed_weights[key], value, rtol=1e-5, atol=1e-6)
    state = json.loads((tmp_path / "resumed" / training.STATE_DIR / "state.json").read_text())
    assert state["step"] == 3 and (tmp_path / "resumed" / training.STATE_DIR / "rng.safetensors").is_file()


def test_resume_refuses_a_state_written_for_other_trainable_weights(tmp_path):
    parts = tiny_parts()
    settings = training.TrainSettings(stage="stage2", steps=1, learning_rate=1e-3, num_frames=3, height=SIDE_PX,
                                      width=SIDE_PX)
    training.train(video_components(parts), [overfit_clip()], settings, tmp_path / "run", parts["adapter"].config)
    reference_unet = network.build_reference_unet(parts["unet"])
    stage1 = XDancerComponents(vae=parts["vae"], denoising_unet=parts["unet"], reference_unet=reference_unet,
                               token_decoder=parts["decoder"], scheduler=parts["scheduler"],
                               bank=network.install_reference_attention(reference_unet, parts["unet"]))
    with pytest.raises(CheckpointError, match="does not match this run's trainable weights"):
        training.train(stage1, [overfit_clip()], dataclasses.replace(settings, stage="stage1", steps=2),
                       tmp_path / "run", resume=True)


def test_render_twenty_frames_in_overlapping_windows():
    components = video_components(tiny_parts())
    tokens, confidence = random_tokens(20)
    image = np.random.default_rng(0).integers(0, 256, (SIDE_PX, SIDE_PX, 3), dtype=np.uint8)
    fractions = []
    frames = render_xdancer(components, image, tokens, confidence, fps=30.0, num_inference_steps=2,
                            guidance_scale=2.0, seed=1, window=16, overlap=4, progress=fractions.append)
    assert frames.shape == (20, SIDE_PX, SIDE_PX, 3) and frames.dtype == np.uint8
    assert window_starts(20, 16, 4) == [0, 4]
    assert len(fractions) == 2 * 2 and fractions[-1] == pytest.approx(1.0)


def test_render_rejects_tokens_outside_the_codebook_and_stops_on_interrupt():
    components = video_components(tiny_parts())
    tokens, confidence = random_tokens(4)
    image = np.zeros((SIDE_PX, SIDE_PX, 3), dtype=np.uint8)
    with pytest.raises(XDancerInputError, match="outside the codebook"):
        render_xdancer(components, image, tokens + 512, confidence, fps=30.0)

    def cancel(fraction):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_xdancer(components, image, tokens, confidence, fps=30.0, num_inference_steps=2, progress=cancel)


def test_save_and_load_through_the_loading_module(tmp_path):
    from safetensors.torch import save_file

    parts = tiny_parts()
    base_dir = tmp_path / "sd15"
    parts["unet"].save_pretrained(base_dir / "unet")
    parts["vae"].save_pretrained(base_dir / "vae")
    parts["adapter"].save_pretrained(tmp_path / "motion_folder")
    save_file(parts["adapter"].state_dict(), str(tmp_path / "motion.safetensors"))
    with_nonzero_heads(parts["decoder"])
    reference_unet = network.build_reference_unet(parts["unet"])
    loading.save_renderer_checkpoint(tmp_path / "renderer", parts["decoder"], reference_unet,
                                     metadata={"stage": "stage1"})
    with pytest.raises(loading.XDancerWeightsError, match="animatediff_models"):
        loading.load_xdancer_components(base_dir, tmp_path / "renderer")
    with pytest.raises(loading.XDancerWeightsError, match="checkpoints"):
        loading.load_xdancer_components(tmp_path / "missing", tmp_path / "renderer", tmp_path / "motion_folder")
    single = loading.load_motion_adapter(tmp_path / "motion.safetensors", num_attention_heads=2, norm_num_groups=8)
    for key, value in parts["adapter"].state_dict().items():
        assert torch.equal(single.state_dict()[key], value), key
    components = loading.load_xdancer_components(base_dir, tmp_path / "renderer", tmp_path / "motion_folder")
    for key, value in parts["decoder"].state_dict().items():
        assert torch.equal(components.token_decoder.state_dict()[key], value), key
    assert torch.equal(components.reference_unet.conv_in.weight, reference_unet.conv_in.weight)
    tokens, confidence = random_tokens(3)
    frames = render_xdancer(components, np.zeros((35, 33, 3), np.uint8), tokens, confidence, fps=30.0,
                            num_inference_steps=1, guidance_scale=1.0)
    assert frames.shape == (3, 32, 32, 3)
