"""Diffusion core shared by EDGE and the MACE Motion Expert: schedule, DDIM sampler, losses, EMA.

Everything is pure: a schedule is precomputed arrays, a sampler step takes (sample, model
output, t, t_next, schedule) and returns the next sample, randomness comes from a
``torch.Generator``. Networks predict x0 (EDGE, MACE), so the sampler works on x0 predictions.

The schedule is the cosine schedule (Nichol & Dhariwal 2021, s = 0.008, betas clipped at 0.999)
as EDGE's ``make_beta_schedule("cosine")``, and a step is diffusers' ``DDIMScheduler``
(``beta_schedule="squaredcos_cap_v2"``, ``prediction_type="sample"``) step: a test checks both
agree with diffusers to float32 precision. We keep the step a pure function of explicit float64
arrays instead of calling the stateful scheduler, because long-song sampling runs several
windows through the same step and in-painting re-noises known frames between steps.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import torch

# EDGE's loss weights (Stanford-TML/EDGE, model/diffusion.py, p_losses / EDGE.py).
SIMPLE_LOSS_WEIGHT = 0.636
VELOCITY_LOSS_WEIGHT = 2.964
FK_LOSS_WEIGHT = 0.646
FOOT_LOSS_WEIGHT = 10.942
# SMPL-24 joints whose velocity is penalised while in contact: left/right ankle, left/right toes;
# they match the four contact channels of the 151-d layout, in order.
FOOT_JOINTS = (7, 8, 10, 11)
CONTACT_THRESHOLD = 0.95
EMA_DECAY = 0.9999


class CosineSchedule:
    """Cosine noise schedule; float64 tensors indexed by step t in [0, num_steps).

    betas, alphas_cumprod (alpha-bar_t), sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod : (num_steps,).
    """

    def __init__(self, num_steps: int = 1000, offset: float = 0.008, max_beta: float = 0.999):
        if num_steps < 2:
            raise ValueError(f"num_steps must be at least 2, got {num_steps}.")
        self.num_steps = num_steps
        steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        alpha_bar = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
        alpha_bar = alpha_bar / alpha_bar[0]
        self.betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(0, max_beta)
        self.alphas_cumprod = torch.cumprod(1 - self.betas, dim=0)
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1 - self.alphas_cumprod).sqrt()


def _per_sample(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped (B, 1, ...) to broadcast against ``like``."""
    picked = values.to(like.device)[t.to(like.device)].to(like.dtype)
    return picked.reshape(-1, *([1] * (like.dim() - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: CosineSchedule) -> torch.Tensor:
    """Forward process: sqrt(alpha-bar_t) x0 + sqrt(1 - alpha-bar_t) noise.  x0, noise : (B, ...), t : (B,) long."""
    return (_per_sample(schedule.sqrt_alphas_cumprod, t, x0) * x0
            + _per_sample(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise)


def ddim_timesteps(schedule: CosineSchedule, num_inference_steps: int) -> list[tuple[int, int]]:
    """(t, t_next) pairs from the noisiest step down to (t, -1), as EDGE's ``ddim_sample``.

    ``t_next = -1`` marks the last step, which returns the x0 prediction.
    """
    if not 1 <= num_inference_steps <= schedule.num_steps:
        raise ValueError(f"num_inference_steps must be in [1, {schedule.num_steps}], got {num_inference_steps}.")
    times = torch.linspace(-1, schedule.num_steps - 1, num_inference_steps + 1).round().long().tolist()
    times = times[::-1]
    return list(zip(times[:-1], times[1:]))


def ddim_step(x_t: torch.Tensor, x0_pred: torch.Tensor, t: int, t_next: int, schedule: CosineSchedule,
              eta: float, noise: torch.Tensor) -> torch.Tensor:
    """One DDIM update (Song et al. 2021, eq. 12) from an x0 prediction.

    x_t, x0_pred, noise : (B, ...) same shape; t > t_next integer steps; t_next < 0 returns x0_pred.
    eta : 0 = deterministic DDIM, 1 = DDPM-like ancestral noise (EDGE's setting).
    """
    if t_next < 0:
        return x0_pred
    alpha_bar, alpha_bar_next = float(schedule.alphas_cumprod[t]), float(schedule.alphas_cumprod[t_next])
    eps = (x_t - math.sqrt(alpha_bar) * x0_pred) / math.sqrt(1 - alpha_bar)         # implied noise
    sigma = eta * math.sqrt((1 - alpha_bar_next) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_next))
    direction = math.sqrt(max(1 - alpha_bar_next - sigma ** 2, 0.0))
    return math.sqrt(alpha_bar_next) * x0_pred + direction * eps + sigma * noise


def _randn(shape, generator: torch.Generator, like_device, dtype) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(like_device)


def ddim_sample(denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], shape: tuple[int, ...],
                schedule: CosineSchedule, num_inference_steps: int = 50, eta: float = 1.0,
                generator: torch.Generator | None = None, progress: Callable[[float], None] | None = None,
                inpaint: tuple[torch.Tensor, torch.Tensor] | None = None,
                step_callback: Callable[[int, int, int, torch.Tensor, torch.Tensor], torch.Tensor | None] | None = None,
                device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                clip_x0: bool = True) -> torch.Tensor:
    """Sample x0 of ``shape`` with DDIM from an x0-predicting ``denoise(x_t, t_batch)``.

    denoise       : (x_t (B, ...), t_batch (B,) long) -> x0 prediction (B, ...); wrap guidance inside it.
    generator     : the only source of randomness (seeded -> reproducible); None = a fresh unseeded one.
    progress      : called with the fraction done after each step; it may raise to interrupt.
    inpaint       : (mask, value), both broadcastable to ``shape``; where mask is true the sample is
                    replaced at every step by ``value`` noised to the current level (EDGE's inpaint_loop),
                    and by ``value`` itself at the end, so the known region comes back exactly.
    step_callback : (step index, t, t_next, x_next, x0_pred) -> replacement x_next or None; e.g. overlapping
                    windows overwriting each other's shared frames in long-form sampling.
    clip_x0       : clip x0 predictions to [-1, 1] (the normalised range), as EDGE.
    returns       : (shape) sampled x0.
    """
    generator = generator if generator is not None else torch.Generator()
    x = _randn(shape, generator, device, dtype)
    mask = value = None
    if inpaint is not None:
        mask = inpaint[0].to(device=device, dtype=torch.bool)
        value = inpaint[1].to(device=device, dtype=dtype)
    pairs = ddim_timesteps(schedule, num_inference_steps)
    for index, (t, t_next) in enumerate(pairs):
        if mask is not None:
            t_batch = torch.full((shape[0],), t, dtype=torch.long, device=device)
            known = q_sample(value.expand(shape), t_batch, _randn(shape, generator, device, dtype), schedule)
            x = torch.where(mask, known, x)
        x0_pred = denoise(x, torch.full((shape[0],), t, dtype=torch.long, device=device))
        if clip_x0:
            x0_pred = x0_pred.clamp(-1, 1)
        x = ddim_step(x, x0_pred, t, t_next, schedule, eta, _randn(shape, generator, device, dtype))
        if step_callback is not None:
            replaced = step_callback(index, t, t_next, x, x0_pred)
            x = x if replaced is None else replaced
        if progress is not None:
            progress((index + 1) / len(pairs))
    if mask is not None:
        x = torch.where(mask, value.expand(shape), x)
    return x


@dataclass(frozen=True)
class DiffusionLosses:
    """EDGE's loss terms (each a scalar tensor) and their weighted sum ``total``."""

    simple: torch.Tensor
    velocity: torch.Tensor
    fk: torch.Tensor
    foot: torch.Tensor
    total: torch.Tensor


def edge_losses(x0_pred: torch.Tensor, x0: torch.Tensor,
                fk_fn: Callable[[torch.Tensor], torch.Tensor],
                contact_channels: slice = slice(0, 4), foot_joints: tuple[int, ...] = FOOT_JOINTS,
                contact_threshold: float = CONTACT_THRESHOLD) -> DiffusionLosses:
    """EDGE's training objective on x0 predictions.

    x0_pred, x0 : (B, T, 151) predicted and true clean motion (normalised, as the network sees it).
    fk_fn       : (B, T, 151) -> (B, T, 24, 3) joint positions, e.g. unnormalise then
                  ``torch_kinematics.edge_joint_positions`` (EDGE itself ran FK on normalised values).
    contact_channels : the predicted foot-contact channels in x0_pred, one per ``foot_joints`` entry.
    Terms: simple = MSE(x0_pred, x0); velocity = MSE of frame differences; fk = MSE of joint positions;
    foot = mean squared velocity of ``foot_joints`` on frames whose *predicted* contact exceeds
    ``contact_threshold`` (foot-skating). total = 0.636 simple + 2.964 velocity + 0.646 fk + 10.942 foot.
    """
    simple = torch.mean((x0_pred - x0) ** 2)
    velocity = torch.mean(((x0_pred[:, 1:] - x0_pred[:, :-1]) - (x0[:, 1:] - x0[:, :-1])) ** 2)
    joints_pred, joints_true = fk_fn(x0_pred), fk_fn(x0)
    fk = torch.mean((joints_pred - joints_true) ** 2)
    feet = joints_pred[:, :, list(foot_joints)]                                    # (B, T, F, 3)
    foot_velocity = feet[:, 1:] - feet[:, :-1]                                     # (B, T-1, F, 3)
    in_contact = (x0_pred[:, :-1, contact_channels] > contact_threshold).to(foot_velocity.dtype)  # (B, T-1, F)
    foot = torch.mean((foot_velocity * in_contact[..., None]) ** 2)
    total = (SIMPLE_LOSS_WEIGHT * simple + VELOCITY_LOSS_WEIGHT * velocity + FK_LOSS_WEIGHT * fk
             + FOOT_LOSS_WEIGHT * foot)
    return DiffusionLosses(simple, velocity, fk, foot, total)


class EMA:
    """Exponential moving average of a model's weights: shadow = decay * shadow + (1 - decay) * weights.

    ``module`` is a frozen copy holding the averages (save or sample from it); buffers are copied.
    """

    def __init__(self, model: torch.nn.Module, decay: float = EMA_DECAY):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}.")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Move the averages one step towards ``model``'s current weights."""
        for shadow, param in zip(self.module.parameters(), model.parameters()):
            shadow.lerp_(param.detach().to(shadow.dtype), 1.0 - self.decay)
        for shadow, buffer in zip(self.module.buffers(), model.buffers()):
            shadow.copy_(buffer)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
