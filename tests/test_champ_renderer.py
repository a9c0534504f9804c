"""CHAMP renderer on tiny random weights written in CHAMP's official file layout (CPU, seconds)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from choreo.checkpoints import CheckpointError
from choreo.errors import ChoreoError
from choreo.generators import champ as generator
from models import champ as network

SIDE_PX = 16  # tiny UNet (2 levels) x tiny VAE (x2): multiples of 4 px
CLIP_DIM = 12


def tiny_config() -> network.ChampConfig:
    return network.ChampConfig(guidance_block_channels=(4, 8), guidance_attention_heads=2, guidance_norm_groups=4,
                               motion_attention_heads=2, motion_norm_groups=4, motion_max_frames=8,
                               motion_resolutions=(1, 2))


def _tiny_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=CLIP_DIM,
                                attention_head_dim=2)


def _randomise(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Random values for every tensor (zero-initialised outputs included), so every key matters."""
    generator_ = torch.Generator().manual_seed(seed)
    return {key: (torch.randn(value.shape, generator=generator_) * 0.2 if key.endswith(("weight", "bias"))
                  else value.clone()) for key, value in module.state_dict().items()}


def official_guidance_state(encoder_state: dict[str, torch.Tensor], config: network.ChampConfig,
                            seed: int) -> dict[str, torch.Tensor]:
    """Our encoder's keys as CHAMP saves them: ``attention.`` is ``attentions.<last>.``, plus the unused attentions."""
    state = {key: value for key, value in encoder_state.items() if not key.startswith("attention.")}
    channels = config.guidance_block_channels
    last = 2 * (len(channels) - 1) - 1
    state.update({f"attentions.{last}.{key[len('attention.'):]}": value for key, value in encoder_state.items()
                  if key.startswith("attention.")})
    widths = [width for pair in zip(channels[:-1], channels[1:]) for width in pair]  # CHAMP: in, out per level
    for index, width in enumerate(widths[:-1]):
        unused = network.SpatialSelfAttention(width, config.guidance_attention_heads, 1)
        state.update({f"attentions.{index}.{key}": value for key, value in _randomise(unused, seed + index).items()})
    extra = network.SpatialSelfAttention(channels[-1], config.guidance_attention_heads, config.guidance_norm_groups)
    state.update({f"guidance_attention.{key}": value for key, value in _randomise(extra, seed + 99).items()})
    return state


def write_tiny_champ(root, config: network.ChampConfig | None = None, suffix: str = ".pth",
                     guidance_types=network.GUIDANCE_TYPES) -> tuple[generator.ChampFiles, dict]:
    """Tiny SD-1.5-style folders and CHAMP files as CHAMP's trainers save them (``torch.save`` of state dicts).

    Returns the files and the state dicts written, by stem.
    """
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = dataclasses.replace(config or tiny_config(), guidance_types=tuple(guidance_types))
    torch.manual_seed(0)
    files = generator.ChampFiles(champ_dir=root / "champ", base_model_dir=root / "sd15", vae_dir=root / "vae",
                                 image_encoder_dir=root / "image_encoder")
    files.champ_dir.mkdir(parents=True)
    _tiny_unet().save_config(str(files.base_model_dir / "unet"))
    AutoencoderKL(block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                  sample_size=SIDE_PX).save_pretrained(str(files.vae_dir))
    clip = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                            image_size=32, patch_size=8, projection_dim=CLIP_DIM)
    CLIPVisionModelWithProjection(clip).save_pretrained(str(files.image_encoder_dir))

    model = network.ChampModel(_tiny_unet(), _tiny_unet(), config)
    denoiser = _randomise(model.denoiser.unet, 1)
    written = {
        generator.REFERENCE_UNET: _randomise(model.reference_unet, 2),
        generator.DENOISING_UNET: {k: v for k, v in denoiser.items() if ".motion_modules." not in k},
        generator.MOTION_MODULE: {k: v for k, v in denoiser.items() if ".motion_modules." in k},
    }
    for index, name in enumerate(config.guidance_types):
        ours = _randomise(model.guidance_encoders[name], 10 + index)
        written[generator.GUIDANCE_PREFIX + name] = official_guidance_state(ours, config, 20 * index)
    for stem, state in written.items():
        if suffix == ".safetensors":
            save_file({k: v.contiguous() for k, v in state.items()}, str(files.champ_dir / f"{stem}{suffix}"))
        else:
            torch.save(state, files.champ_dir / f"{stem}{suffix}")
    generator.write_config(files.champ_dir, config)
    return files, written


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, one_torch_thread):
    return write_tiny_champ(tmp_path_factory.mktemp("champ"))


@pytest.fixture(scope="module")
def pipe(tiny):
    return generator.load_champ(tiny[0], dtype="fp32", device="cpu")


def guidance_frames(num_frames: int, seed: int = 0, types=("depth", "dwpose")) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, 256, (num_frames, SIDE_PX * 2, SIDE_PX * 2, 3), dtype=np.uint8) for name in types}


REFERENCE = np.random.default_rng(7).integers(0, 256, (40, 24, 3), dtype=np.uint8)


# Schedule and sampler step ------------------------------------------------------------------------------------------

def test_schedule_and_step_match_diffusers_ddim_with_champs_inference_settings():
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                              steps_offset=1, clip_sample=False, rescale_betas_zero_snr=True,
                              timestep_spacing="trailing", prediction_type="v_prediction")
    alphas = generator.champ_alphas_cumprod("linear")
    np.testing.assert_allclose(alphas.numpy(), scheduler.alphas_cumprod.double().numpy(), atol=2e-6)
    assert alphas[-1] == 0.0  # zero terminal SNR: the first step starts from pure noise
    scheduler.set_timesteps(20)
    pairs = generator.trailing_timesteps(20)
    assert [t for t, _ in pairs] == scheduler.timesteps.tolist()
    x, v = torch.randn(1, 4, 2, 3, 3), torch.randn(1, 4, 2, 3, 3)
    for t, t_prev in pairs[:3] + pairs[-2:]:
        expected = scheduler.step(v, t, x).prev_sample
        torch.testing.assert_close(generator.ddim_v_step(x, v, t, t_prev, alphas).float(), expected,
                                   atol=1e-5, rtol=1e-4)


def test_segments_cover_every_frame_once_and_continue_from_the_previous_ones():
    assert generator.segment_windows(10, 4, 1) == [(0, 4, 0), (3, 7, 1), (6, 10, 1)]
    assert generator.segment_windows(9, 4, 1) == [(0, 4, 0), (3, 7, 1), (5, 9, 2)]  # last moved back, full length
    assert generator.segment_windows(3, 24, 4) == [(0, 3, 0)]
    with pytest.raises(ChoreoError, match="overlap_frames"):
        generator.segment_windows(10, 4, 4)


# Loading ------------------------------------------------------------------------------------------------------------

def test_official_layout_loads_every_tensor_where_champ_puts_it(tiny):
    files, written = tiny
    model = generator.load_champ_model(files)
    assert tuple(model.guidance_encoders) == network.GUIDANCE_TYPES
    for key, value in written[generator.REFERENCE_UNET].items():
        torch.testing.assert_close(model.reference_unet.state_dict()[key], value)
    denoiser = model.denoiser.unet.state_dict()
    for stem in (generator.DENOISING_UNET, generator.MOTION_MODULE):
        for key, value in written[stem].items():
            torch.testing.assert_close(denoiser[key], value)
    depth = model.guidance_encoders["depth"].state_dict()
    official = written[generator.GUIDANCE_PREFIX + "depth"]
    torch.testing.assert_close(depth["attention.proj_in.weight"], official["attentions.1.proj_in.weight"])
    torch.testing.assert_close(depth["conv_out.weight"], official["conv_out.weight"])
    assert any(key.startswith("attentions.0.") for key in official) and "attentions.0.norm.weight" not in depth


def test_a_safetensors_repack_with_the_same_keys_loads_the_same(tmp_path, tiny, one_torch_thread):
    files, written = write_tiny_champ(tmp_path, suffix=".safetensors", guidance_types=("normal",))
    model = generator.load_champ_model(files)
    assert tuple(model.guidance_encoders) == ("normal",)
    key = "down_blocks.0.motion_modules.0.temporal_transformer.proj_out.weight"
    torch.testing.assert_close(model.denoiser.unet.state_dict()[key], written[generator.MOTION_MODULE][key])


def test_a_missing_key_is_named(tmp_path, one_torch_thread):
    files, written = write_tiny_champ(tmp_path, guidance_types=("depth",))
    state = dict(written[generator.DENOISING_UNET])
    del state["conv_in.weight"]
    torch.save(state, files.champ_dir / "denoising_unet.pth")
    with pytest.raises(CheckpointError, match=r"lacks 1 keys: conv_in\.weight"):
        generator.load_champ_model(files)


def test_an_incomplete_champ_file_is_completed_from_the_sd15_unet_weights(tmp_path, one_torch_thread):
    files, written = write_tiny_champ(tmp_path, guidance_types=("depth",))
    state = dict(written[generator.DENOISING_UNET])
    conv_in = state.pop("conv_in.weight")
    torch.save(state, files.champ_dir / "denoising_unet.pth")
    base = {**written[generator.REFERENCE_UNET], "conv_in.weight": conv_in + 1.0}  # an SD-1.5 UNet's keys
    torch.save(base, files.base_model_dir / "unet" / "diffusion_pytorch_model.bin")
    model = generator.load_champ_model(files)
    torch.testing.assert_close(model.denoiser.unet.conv_in.weight, conv_in + 1.0)  # the base fills the gap
    torch.testing.assert_close(model.denoiser.unet.conv_out.weight, state["conv_out.weight"])  # CHAMP wins


def test_an_unknown_key_and_a_wrong_shape_are_named(tmp_path, one_torch_thread):
    files, written = write_tiny_champ(tmp_path, guidance_types=("depth",))
    path = files.champ_dir / "guidance_encoder_depth.pth"
    torch.save({**written["guidance_encoder_depth"], "extra_head.weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"guidance_encoder_depth\.pth has 1 keys .* extra_head\.weight"):
        generator.load_champ_model(files)
    torch.save({**written["guidance_encoder_depth"], "conv_in.weight": torch.zeros(4, 3, 5, 5)}, path)
    with pytest.raises(CheckpointError, match=r"wrong shape: conv_in\.weight \(4, 3, 5, 5\) != \(4, 3, 3, 3\)"):
        generator.load_champ_model(files)


class NotATensor:
    """A pickled object: loading it would run code, so the loader must refuse it."""


def test_a_pickle_holding_code_is_refused_not_run(tmp_path, one_torch_thread):
    files, _ = write_tiny_champ(tmp_path, guidance_types=("depth",))
    torch.save({"conv_in.weight": NotATensor()}, files.champ_dir / "motion_module.pth")
    with pytest.raises(CheckpointError, match="not a plain tensor state dict"):
        generator.load_champ_model(files)


def test_missing_files_are_listed_with_their_folder(tmp_path, tiny):
    files = dataclasses.replace(tiny[0], champ_dir=tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty/denoising_unet\.pth.*guidance_encoder_<depth"):
        generator.load_champ(files, dtype="fp32", device="cpu")


# Rendering ----------------------------------------------------------------------------------------------------------

def test_render_end_to_end_in_segments_is_seeded(pipe):
    fractions = []
    guidance = guidance_frames(10)
    frames = generator.render_champ(pipe, REFERENCE, guidance, width=SIDE_PX, height=SIDE_PX, num_inference_steps=2,
                                    guidance_scale=2.0, seed=3, segment_frames=4, overlap_frames=1,
                                    progress=fractions.append)
    assert frames.shape == (10, SIDE_PX, SIDE_PX, 3) and frames.dtype == np.uint8
    assert frames.std() > 0
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 3 * 2 + 1
    again = generator.render_champ(pipe, REFERENCE, guidance, width=SIDE_PX, height=SIDE_PX,
                                   num_inference_steps=2, guidance_scale=2.0, seed=3, segment_frames=4,
                                   overlap_frames=1)
    np.testing.assert_array_equal(frames, again)
    other_seed = generator.render_champ(pipe, REFERENCE, guidance, width=SIDE_PX, height=SIDE_PX,
                                        num_inference_steps=2, guidance_scale=2.0, seed=4, segment_frames=4,
                                        overlap_frames=1)
    assert np.abs(frames.astype(int) - other_seed).mean() > 1


def test_guidance_changes_the_video(pipe):
    kwargs = dict(width=SIDE_PX, height=SIDE_PX, num_inference_steps=2, guidance_scale=1.0, seed=0,
                  segment_frames=3, overlap_frames=1)
    base = generator.render_champ(pipe, REFERENCE, guidance_frames(3, seed=0), **kwargs)
    other_guidance = generator.render_champ(pipe, REFERENCE, guidance_frames(3, seed=1), **kwargs)
    assert np.abs(base.astype(int) - other_guidance).mean() > 0.5


def test_only_the_conditional_rows_read_the_reference(pipe):
    model = pipe.model
    latents = torch.randn(2, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    embeds = torch.randn(2, 1, CLIP_DIM, generator=torch.Generator().manual_seed(1))
    reads = torch.tensor([False, True])
    outputs = []
    with torch.no_grad():
        for seed in (2, 3):
            reference = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
            model.write_reference(reference, embeds[1:])
            outputs.append(model.denoiser(latents, torch.tensor(500), embeds, None, reads))
    model.bank.clear()
    torch.testing.assert_close(outputs[0][0], outputs[1][0])  # unconditional row: no reference attention
    assert (outputs[0][1] - outputs[1][1]).abs().mean() > 1e-3 * outputs[0][1].abs().mean()


def test_offload_renders_the_same_frames(tiny, pipe):
    offloaded = generator.load_champ(tiny[0], dtype="fp32", device="cpu", offload=True)
    kwargs = dict(width=SIDE_PX, height=SIDE_PX, num_inference_steps=1, guidance_scale=1.5, seed=0,
                  segment_frames=3, overlap_frames=1)
    guidance = guidance_frames(3, types=("normal",))
    frames = generator.render_champ(offloaded, REFERENCE, guidance, **kwargs)
    np.testing.assert_array_equal(frames, generator.render_champ(pipe, REFERENCE, guidance, **kwargs))
    assert next(offloaded.model.parameters()).device.type == "cpu"


def test_a_raising_progress_callback_interrupts(pipe):
    calls = []

    def interrupt(fraction):
        calls.append(fraction)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generator.render_champ(pipe, REFERENCE, guidance_frames(6), width=SIDE_PX, height=SIDE_PX,
                               num_inference_steps=3, segment_frames=3, overlap_frames=1, progress=interrupt)
    assert len(calls) == 1 and not pipe.model.bank.features


def test_bad_inputs_say_what_to_do(pipe):
    with pytest.raises(ChoreoError, match="same, non-zero number of frames"):
        generator.render_champ(pipe, REFERENCE, {"depth": guidance_frames(3)["depth"],
                                                 "normal": guidance_frames(4, types=("normal",))["normal"]},
                               width=SIDE_PX, height=SIDE_PX)
    with pytest.raises(ChoreoError, match="multiples of 4 px"):
        generator.render_champ(pipe, REFERENCE, guidance_frames(2), width=18, height=SIDE_PX)
    with pytest.raises(ChoreoError, match="segment_frames must be 1..8"):
        generator.render_champ(pipe, REFERENCE, guidance_frames(2), width=SIDE_PX, height=SIDE_PX, segment_frames=9)
    with pytest.raises(ChoreoError, match="at least one"):
        generator.render_champ(pipe, REFERENCE, {}, width=SIDE_PX, height=SIDE_PX)
