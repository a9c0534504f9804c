"""Diffusion core: cosine schedule, DDIM sampler, in-painting, losses, EMA, torch FK."""

import numpy as np
import pytest
import torch

from choreo.generators.diffusion import (CosineSchedule, EMA, ddim_sample, ddim_step, ddim_timesteps, edge_losses,
                                         q_sample)
from choreo.generators.normalizer import MinMaxNormalizer
from choreo.generators.torch_kinematics import edge_joint_positions, forward_kinematics, rotation_6d_to_matrix
from choreo.motion.rotations import rotation_6d_to_matrix as rotation_6d_to_matrix_np
from choreo.motion.skeleton import Skeleton
from choreo.motion.skeleton import forward_kinematics as forward_kinematics_np


def test_cosine_schedule_is_monotone_and_spans_clean_to_noise():
    schedule = CosineSchedule(1000)
    alpha_bar = schedule.alphas_cumprod
    assert alpha_bar.shape == (1000,)
    assert torch.all(alpha_bar[1:] < alpha_bar[:-1])
    assert alpha_bar[0] > 0.9999 and alpha_bar[-1] < 1e-4
    assert torch.all((schedule.betas > 0) & (schedule.betas <= 0.999))


def test_q_sample_at_step_zero_is_nearly_clean():
    x0 = torch.rand(3, 8, 151) * 2 - 1
    noise = torch.randn_like(x0)
    out = q_sample(x0, torch.zeros(3, dtype=torch.long), noise, CosineSchedule())
    assert (out - x0).abs().max() < 0.05


def test_ddim_timesteps_match_edge_pairs():
    pairs = ddim_timesteps(CosineSchedule(1000), 50)
    assert len(pairs) == 50 and pairs[0] == (999, 979) and pairs[-1] == (19, -1)


def test_ddim_step_with_zero_eta_and_exact_noise_lands_on_forward_process():
    schedule = CosineSchedule()
    x0, eps = torch.rand(2, 5, 7), torch.randn(2, 5, 7)
    x_t = q_sample(x0, torch.full((2,), 600), eps, schedule)
    expected = q_sample(x0, torch.full((2,), 300), eps, schedule)
    torch.testing.assert_close(ddim_step(x_t, x0, 600, 300, schedule, 0.0, torch.zeros_like(x0)), expected)


def test_schedule_and_ddim_step_equal_diffusers_ddim_scheduler():
    """Our pure step is diffusers' DDIMScheduler (squaredcos_cap_v2, x0 prediction) step for step."""
    diffusers = pytest.importorskip("diffusers")
    schedule = CosineSchedule()
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                                        prediction_type="sample", clip_sample=False, set_alpha_to_one=False)
    torch.testing.assert_close(schedule.alphas_cumprod, scheduler.alphas_cumprod.double(), rtol=1e-5, atol=1e-7)
    scheduler.set_timesteps(50)
    generator = torch.Generator().manual_seed(0)
    x_t, x0_pred, noise = (torch.randn(2, 30, 151, generator=generator, dtype=torch.float64) for _ in range(3))
    for t in (980, 500, 40):
        for eta in (0.0, 1.0):
            ours = ddim_step(x_t, x0_pred, t, t - 20, schedule, eta, noise)
            theirs = scheduler.step(x0_pred, t, x_t, eta=eta, variance_noise=noise).prev_sample
            torch.testing.assert_close(ours, theirs.double(), rtol=1e-4, atol=1e-4)  # diffusers keeps alphas in float32


def test_ddim_sample_with_perfect_denoiser_recovers_x0_exactly():
    x0 = torch.rand(2, 12, 151) * 2 - 1
    out = ddim_sample(lambda x_t, t: x0, x0.shape, CosineSchedule(), num_inference_steps=20,
                      generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x0, atol=0, rtol=0)


def _wobbly_denoiser(x_t, t):
    return torch.tanh(0.5 * x_t + 0.001 * t[:, None, None].float())


def test_ddim_sample_is_reproducible_from_a_seed_and_reports_progress():
    fractions = []
    first = ddim_sample(_wobbly_denoiser, (1, 10, 151), CosineSchedule(), 10,
                        generator=torch.Generator().manual_seed(5), progress=fractions.append)
    second = ddim_sample(_wobbly_denoiser, (1, 10, 151), CosineSchedule(), 10,
                         generator=torch.Generator().manual_seed(5))
    other = ddim_sample(_wobbly_denoiser, (1, 10, 151), CosineSchedule(), 10,
                        generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    assert not torch.equal(first, other)
    assert fractions[-1] == 1.0 and len(fractions) == 10


def test_progress_may_interrupt_sampling():
    def stop(fraction):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ddim_sample(_wobbly_denoiser, (1, 4, 151), CosineSchedule(), 5, generator=torch.Generator(), progress=stop)


def test_inpainting_keeps_the_known_region_exactly():
    value = torch.rand(1, 20, 151) * 2 - 1
    mask = torch.zeros(1, 20, 151, dtype=torch.bool)
    mask[:, :5] = True          # first frames given (in-betweening)
    mask[..., 4:7] = True       # root trajectory given everywhere
    seen = []

    def denoise(x_t, t):
        seen.append(x_t[mask].clone())
        return torch.zeros_like(x_t)

    out = ddim_sample(denoise, value.shape, CosineSchedule(), 10, generator=torch.Generator().manual_seed(1),
                      inpaint=(mask, value))
    torch.testing.assert_close(out[mask], value[mask], atol=0, rtol=0)
    assert torch.all(out[~mask] == 0)
    # the known region was fed to the network noised, and ever cleaner
    assert (seen[0] - value[mask]).abs().mean() > (seen[-1] - value[mask]).abs().mean()


def test_step_callback_can_replace_the_sample():
    out = ddim_sample(_wobbly_denoiser, (1, 6, 151), CosineSchedule(), 4, generator=torch.Generator(),
                      step_callback=lambda i, t, t_next, x, x0: torch.full_like(x, 0.25) if t_next < 0 else None)
    assert torch.all(out == 0.25)


def test_edge_losses_reconstruction_terms_vanish_for_a_perfect_prediction_and_total_is_weighted():
    x0 = torch.rand(2, 10, 151) * 2 - 1
    perfect = edge_losses(x0, x0, edge_joint_positions)   # foot term stays: it penalises the motion itself
    assert perfect.simple == 0 and perfect.velocity == 0 and perfect.fk == 0
    noisy = edge_losses(x0 + 0.1 * torch.randn_like(x0), x0, edge_joint_positions)
    expected = 0.636 * noisy.simple + 2.964 * noisy.velocity + 0.646 * noisy.fk + 10.942 * noisy.foot
    torch.testing.assert_close(noisy.total, expected)


def test_foot_loss_penalises_sliding_feet_only_in_predicted_contact():
    motion = torch.zeros(1, 6, 151)
    motion[..., 7:] = torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(24)        # identity rotations
    motion[..., 4] = torch.linspace(0, 0.5, 6)                              # root slides along x
    motion[..., :4] = 1.0                                                   # contacts predicted
    sliding = edge_losses(motion, motion, edge_joint_positions)
    motion[..., :4] = -1.0
    flying = edge_losses(motion, motion, edge_joint_positions)
    # every foot moves 0.1 m/frame along x: squared 0.01 on one of the 3 axes, averaged over axes
    assert sliding.foot.item() == pytest.approx(0.01 / 3, rel=1e-5)
    assert flying.foot.item() == 0


def test_torch_forward_kinematics_equals_numpy():
    g = torch.Generator().manual_seed(0)
    d6 = torch.randn(4, 24, 6, generator=g, dtype=torch.float64)
    root = torch.randn(4, 3, generator=g, dtype=torch.float64)
    rotations = rotation_6d_to_matrix(d6)
    np.testing.assert_allclose(rotations.numpy(), rotation_6d_to_matrix_np(d6.numpy()), atol=1e-12)
    expected = forward_kinematics_np(Skeleton.default(), rotations.numpy(), root.numpy())
    np.testing.assert_allclose(forward_kinematics(rotations, root).numpy(), expected, atol=1e-12)
    motion = torch.cat([torch.zeros(4, 4, dtype=torch.float64), root, d6.reshape(4, -1)], dim=-1)
    np.testing.assert_allclose(edge_joint_positions(motion).numpy(), expected, atol=1e-12)


def test_normalizer_maps_data_to_unit_range_and_back():
    data = torch.randn(4, 30, 151) * torch.linspace(0.1, 3, 151)
    data[..., 0] = 1.0                                                      # a constant channel
    normalizer = MinMaxNormalizer.fit(data)
    normalized = normalizer.normalize(data)
    assert normalized.min() >= -1 and normalized.max() <= 1
    torch.testing.assert_close(normalized[..., 1:].amin(dim=(0, 1)), -torch.ones(150))
    torch.testing.assert_close(normalizer.unnormalize(normalized), data, atol=1e-5, rtol=1e-5)
    restored = MinMaxNormalizer.from_extra(normalizer.to_extra())
    torch.testing.assert_close(restored.normalize(data), normalized)


def test_ema_moves_towards_the_weights_by_one_minus_decay():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, decay=0.9)
    start = ema.module.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    torch.testing.assert_close(ema.module.weight, start + 0.1)
    assert not any(p.requires_grad for p in ema.module.parameters())
