"""Every network a loader offers in half precision runs in it: tiny configs in bfloat16 (and float16) on the CPU
give finite outputs of that dtype (no float32 tensor built inside a forward meets half-precision weights)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import REPO_ROOT  # noqa: E402
from models.edge import EDGEConfig, EDGEDenoiser  # noqa: E402
from models.mace import MACEConfig, MACEDenoiser  # noqa: E402
from models.mamba import BiMamba, Mamba, MambaConfig  # noqa: E402
from models.motion_gpt import MotionGPT, MotionGPTConfig  # noqa: E402
from models.pose_vqvae import PoseVQVAE, PoseVQVAEConfig  # noqa: E402

HALF = torch.bfloat16
HALF_DTYPES = pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
MACE_DEMO = REPO_ROOT / "assets" / "checkpoints" / "motion_expert" / "mace_demo"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _half(module: torch.nn.Module, dtype=HALF) -> torch.nn.Module:
    return module.to(dtype).eval()


def _check(output: torch.Tensor, dtype=HALF) -> None:
    assert output.dtype == dtype and torch.isfinite(output).all()


def _motion_batch(dtype, frames: int = 12):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(2, frames, 151, generator=g).to(dtype), torch.tensor([3, 700]),
            torch.randn(2, frames, 35, generator=g).to(dtype))


@HALF_DTYPES
@pytest.mark.parametrize("music_in_motion_tokens", [False, True])
def test_mace_runs_in_half_precision(dtype, music_in_motion_tokens):
    torch.manual_seed(0)
    model = _half(MACEDenoiser(MACEConfig(latent_dim=32, ff_dim=64, num_layers=2, num_heads=4, d_state=4,
                                          music_encoder_layers=1, dropout=0.0, num_genres=4,
                                          music_in_motion_tokens=music_in_motion_tokens)), dtype)
    x, t, music = _motion_batch(dtype)
    beta, genre = torch.full((2,), 0.75), torch.tensor([1, 3])
    with torch.no_grad():
        _check(model(x, t, music, beta, genre), dtype)
        _check(model(x, t, music, beta, genre, torch.tensor([True, False])), dtype)
        _check(model.guidance_free_forward(x, t, music, beta, genre), dtype)


@HALF_DTYPES
@pytest.mark.parametrize("music_in_motion_tokens", [False, True])
def test_edge_runs_in_half_precision(dtype, music_in_motion_tokens):
    torch.manual_seed(0)
    model = _half(EDGEDenoiser(EDGEConfig(latent_dim=32, ff_dim=64, num_layers=2, num_heads=4, dropout=0.0,
                                          music_in_motion_tokens=music_in_motion_tokens)), dtype)
    x, t, music = _motion_batch(dtype)
    with torch.no_grad():
        _check(model(x, t, music), dtype)
        _check(model.guided_forward(x, t, music, 2.0), dtype)


@HALF_DTYPES
def test_mamba_and_bimamba_run_in_half_precision(dtype):
    torch.manual_seed(0)
    x = torch.randn(2, 9, 16).to(dtype)
    with torch.no_grad():
        _check(_half(Mamba(MambaConfig(d_model=16, d_state=4)), dtype)(x), dtype)
        _check(_half(BiMamba(MambaConfig(d_model=16, d_state=4)), dtype)(x), dtype)


@HALF_DTYPES
def test_xdancer_tokenizer_and_gpt_run_in_half_precision(dtype):
    torch.manual_seed(0)
    tokenizer = _half(PoseVQVAE(PoseVQVAEConfig(hidden=16, decoder_hidden=64, decoder_layers=2, codebook_size=32)),
                      dtype)
    gpt = _half(MotionGPT(MotionGPTConfig(codebook_size=16, n_layer=2, n_head=2, n_embd=32, block_frames=8,
                                          num_music_context_tokens=2, motion_context_frames=2, dropout=0.0)), dtype)
    g = torch.Generator().manual_seed(0)
    poses = torch.cat([torch.randn(3, 60, 2, generator=g), torch.rand(3, 60, 1, generator=g)], -1).to(dtype)
    idx = torch.randint(0, 16, (2, 4, 30), generator=g)
    with torch.no_grad():
        _check(tokenizer.decode(tokenizer.encode(poses)), dtype)
        music, context = torch.randn(2, 4, 35, generator=g).to(dtype), torch.randint(0, 16, (2, 2, 30), generator=g)
        logits, _ = gpt(idx, music, context)
        _check(logits, dtype)


@pytest.mark.skipif(not (MACE_DEMO / "model.safetensors").is_file(), reason="demo checkpoint not built")
def test_motion_expert_loaded_in_bfloat16_generates_and_inpaints_a_finite_dance():
    from choreo.generators.motion_expert import generate_dance, inpaint_dance, load_motion_expert
    from choreo.music.features import MusicFeatures

    expert = load_motion_expert(MACE_DEMO, dtype=HALF)
    music_dim = expert.config.music_dim
    values = np.random.default_rng(0).random((20, music_dim)).astype(np.float32)
    features = MusicFeatures(values, expert.fps, expert.metadata["extractor"], tuple(str(i) for i in range(music_dim)))
    motion = generate_dance(expert, features, seed=0, num_frames=16, num_inference_steps=2)
    assert motion.num_frames == 16 and np.isfinite(motion.joint_positions()).all()
    keep = np.arange(16) < 8
    edited = inpaint_dance(expert, features, motion, keep_frames=keep, seed=1, num_inference_steps=2)
    assert np.isfinite(edited.joint_positions()).all()


def test_xdancer_renderer_runs_in_bfloat16():  # the renderer loader's fp16/bf16 option
    pytest.importorskip("diffusers")
    from choreo.render.xdancer import render_xdancer
    from test_xdancer_renderer import SIDE_PX, random_tokens, tiny_parts, video_components, with_nonzero_heads

    parts = tiny_parts()
    parts["decoder"] = with_nonzero_heads(parts["decoder"])
    components = video_components(parts)
    for module in (components.vae, components.denoising_unet, components.reference_unet, components.token_decoder):
        _half(module)
    predictions = []
    components.denoising_unet.register_forward_hook(lambda module, args, output: predictions.append(output[0]))
    tokens, confidence = random_tokens(3)
    image = np.random.default_rng(0).integers(0, 256, (SIDE_PX, SIDE_PX, 3), dtype=np.uint8)
    frames = render_xdancer(components, image, tokens, confidence, fps=30.0, num_inference_steps=2,
                            guidance_scale=2.0, seed=0, window=4, overlap=0)
    assert frames.shape == (3, SIDE_PX, SIDE_PX, 3) and predictions
    for prediction in predictions:
        _check(prediction)


def test_wan_animate_renders_in_bfloat16(tmp_path):  # the Wan loader's default dtype
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from choreo.render.wan_animate import apply_memory_options, load_wan_animate, render_wan_animate
    from test_wan_animate import dance, tiny_pipeline

    tiny_pipeline().save_pretrained(tmp_path / "wan")
    pipe = apply_memory_options(load_wan_animate(tmp_path / "wan", dtype="bf16"), "none", device="cpu")
    predictions = []
    pipe.transformer.register_forward_hook(lambda module, args, output: predictions.append(output[0]))
    frames = render_wan_animate(pipe, np.full((32, 32, 3), 128, np.uint8), dance(5), prompt="a dancer",
                                num_inference_steps=1, width=32, height=32)
    assert frames.shape == (5, 32, 32, 3) and predictions
    for prediction in predictions:
        _check(prediction)
