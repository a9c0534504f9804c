"""Mamba (selective state-space) blocks in pure PyTorch, with mamba-ssm's parameter names.

Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces". The
module keeps the parameter names and shapes of ``mamba_ssm.modules.mamba_simple.Mamba``
(``in_proj``, ``conv1d``, ``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``), so a
state dict trained with the CUDA kernels loads here unchanged and runs on a CPU.

The selective scan is the recurrence, per batch b, channel d and state n::

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t = <C_t, h_t> + D * u_t,     out_t = y_t * silu(z_t)

In pure PyTorch a loop over time costs one small kernel per frame, which on a GPU is all launch
overhead (MACE trained ~33x slower than EDGE with it). ``chunked_scan`` cuts the loop to about
3 sqrt(T) steps over larger tensors: every chunk of ~sqrt(T) frames runs from a zero state in
parallel, the chunk ends are chained in a short loop over chunks, then every chunk reruns from
its true start state. It uses only products of decays <= 1 (no exp of positive numbers as in
log-space cumulative sums), so it is as stable as the plain loop in float32; it touches the
(B, T, D, N) tensors about as often as the loop does, so on a CPU, where the loop is bound by
memory traffic rather than launches, it runs at 0.8-1.4x the loop's speed (bench_motion_networks).
``sequential_scan`` keeps the one-step-per-frame loop as the reference. ``selective_scan`` calls
mamba-ssm's fused CUDA kernel when it is installed and the input is on CUDA, else the chunked scan.
``selective_scan_reference`` is the plain per-step recurrence in float64, the yardstick for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def _prepare_delta(delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool) -> torch.Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    return F.softplus(delta) if delta_softplus else delta


def _cuda_selective_scan():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError as error:
        raise ImportError("use_kernel=True needs the mamba_ssm package with its CUDA kernels "
                          "(pip install mamba-ssm causal-conv1d on a CUDA machine); "
                          "pass use_kernel=None to fall back to the pure-PyTorch scan.") from error
    return selective_scan_fn


def _kernel_available() -> bool:
    try:
        import mamba_ssm.ops.selective_scan_interface  # noqa: F401
    except ImportError:
        return False
    return True


def sequential_scan(log_decay: torch.Tensor, drive: torch.Tensor, C: torch.Tensor,
                    initial_state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run h_t = exp(log_decay_t) * h_{t-1} + drive_t one frame at a time (the reference for ``chunked_scan``).

    log_decay     : (B, T, D, N) float, delta_t * A (<= 0 for a stable state matrix).
    drive         : (B, T, D, N) float, delta_t * B_t * u_t.
    C             : (B, T, N) output projections.
    initial_state : (B, D, N) h_0, or None for zeros.
    returns       : y (B, T, D) with y_t = <C_t, h_t>, and the final state h_T (B, D, N).
    """
    decay = torch.exp(log_decay)
    state = torch.zeros_like(decay[:, 0]) if initial_state is None else initial_state
    states = []
    # unbind, not indexing per frame: the backward of T index ops would build T full-size zero
    # gradients (quadratic in T); unbind's backward stacks the frame gradients once.
    for frame_drive, frame_decay in zip(drive.unbind(1), decay.unbind(1)):
        state = torch.addcmul(frame_drive, frame_decay, state)
        states.append(state)
    y = (torch.stack(states, dim=1) * C[:, :, None, :]).sum(-1)
    return y, state


def chunked_scan(log_decay: torch.Tensor, drive: torch.Tensor, C: torch.Tensor,
                 initial_state: torch.Tensor | None = None,
                 chunk_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same recurrence as ``sequential_scan`` in about 3 sqrt(T) loop steps instead of T.

    Frames split into chunks of ``chunk_steps`` (default ceil(sqrt(T))); the last T mod chunk_steps
    frames run one at a time after them.

    1. Every chunk runs from a zero state, all chunks at once: its end state without the past.
    2. Chunk by chunk, the state entering each chunk is the previous one decayed across the chunk
       (exp of the chunk's summed log_decay) plus that chunk's zero-start end state.
    3. Every chunk reruns from its entering state, all chunks at once, giving h_t and y_t.

    Step 3 is the plain recurrence started from exact states, so outputs differ from the loop's
    only by the rounding of the entering states. Shapes as ``sequential_scan``.
    """
    batch, num_steps, channels, num_states = drive.shape
    chunk_steps = chunk_steps or math.isqrt(max(num_steps - 1, 0)) + 1
    num_chunks = num_steps // chunk_steps
    if num_chunks < 2:
        return sequential_scan(log_decay, drive, C, initial_state)
    chunked_steps = num_chunks * chunk_steps

    def by_chunk(tensor):                                                  # (B, T, ...) -> (B, chunks, steps, ...)
        return tensor[:, :chunked_steps].unflatten(1, (num_chunks, chunk_steps))

    chunk_log_decay = by_chunk(log_decay)                                  # (B, chunks, steps, D, N)
    # Lists over the step within a chunk (unbind: see sequential_scan), each (B, chunks, ...).
    step_decay = torch.exp(chunk_log_decay).unbind(2)
    step_drive, step_C = by_chunk(drive).unbind(2), by_chunk(C).unbind(2)

    end_from_zero = drive.new_zeros(batch, num_chunks, channels, num_states)
    for decay, drive_in in zip(step_decay, step_drive):
        end_from_zero = torch.addcmul(drive_in, decay, end_from_zero)

    decay_across_chunk = torch.exp(chunk_log_decay.sum(2))                 # (B, chunks, D, N)
    state = drive.new_zeros(batch, channels, num_states) if initial_state is None else initial_state
    entering = []
    for chunk_end, chunk_decay in zip(end_from_zero.unbind(1), decay_across_chunk.unbind(1)):
        entering.append(state)
        state = torch.addcmul(chunk_end, chunk_decay, state)

    chunk_state = torch.stack(entering, dim=1)                             # (B, chunks, D, N)
    outputs = []
    for decay, drive_in, C_out in zip(step_decay, step_drive, step_C):
        chunk_state = torch.addcmul(drive_in, decay, chunk_state)
        outputs.append((chunk_state * C_out[:, :, None, :]).sum(-1))      # (B, chunks, D)
    y = torch.stack(outputs, dim=2).flatten(1, 2)                          # (B, chunked_steps, D)
    if chunked_steps == num_steps:
        return y, state
    tail_y, state = sequential_scan(log_decay[:, chunked_steps:], drive[:, chunked_steps:],
                                    C[:, chunked_steps:], state)
    return torch.cat([y, tail_y], dim=1), state


SCANS = {"chunked": chunked_scan, "sequential": sequential_scan}


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, z: torch.Tensor | None = None,
                   delta_bias: torch.Tensor | None = None, delta_softplus: bool = True,
                   use_kernel: bool | None = None, scan: str = "chunked") -> torch.Tensor:
    """Selective scan with mamba-ssm's signature and layout.

    u, delta   : (B, D, T) inputs and (pre-softplus) step sizes.
    A          : (D, N) state matrix (negative real; ``-exp(A_log)``).
    B, C       : (B, N, T) input-dependent input and output projections.
    D          : (D,) skip gain, or None.
    z          : (B, D, T) gate, output multiplied by ``silu(z)``, or None.
    delta_bias : (D,) added to delta before the softplus, or None.
    use_kernel : None = mamba-ssm's CUDA kernel when importable and ``u`` is on CUDA, else the
                 pure-PyTorch ``scan``; True = require the kernel (ImportError if missing); False = never.
    scan       : pure-PyTorch scan, "chunked" (``chunked_scan``) or "sequential" (``sequential_scan``).
    returns    : (B, D, T), dtype of ``u``; computed in float32 whatever the input dtype.
    """
    if scan not in SCANS:
        raise ValueError(f"scan must be one of {sorted(SCANS)}, got {scan!r}")
    if use_kernel or (use_kernel is None and u.is_cuda and _kernel_available()):
        return _cuda_selective_scan()(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    dtype = u.dtype
    u, delta, B, C = u.float(), delta.float(), B.float(), C.float()
    delta = _prepare_delta(delta, None if delta_bias is None else delta_bias.float(), delta_softplus)
    # Time-major and contiguous, so each frame's (B, D, N) slice of log_decay and drive is one
    # block of memory (products of transposed views would keep T as the fastest axis).
    delta_t = delta.transpose(1, 2).contiguous()                           # (B, T, D)
    log_decay = delta_t[..., None] * A.float()                             # (B, T, D, N)
    drive = (delta_t * u.transpose(1, 2))[..., None] * B.transpose(1, 2).contiguous()[:, :, None, :]
    y, _ = SCANS[scan](log_decay, drive, C.transpose(1, 2))
    y = y.transpose(1, 2)                                                  # (B, D, T)
    if D is not None:
        y = y + u * D.float()[None, :, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


def selective_scan_reference(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                             C: torch.Tensor, D: torch.Tensor | None = None, z: torch.Tensor | None = None,
                             delta_bias: torch.Tensor | None = None, delta_softplus: bool = True) -> torch.Tensor:
    """The recurrence written out one step at a time in float64 (slow; for tests). Shapes as ``selective_scan``."""
    u, delta, A, B, C = (tensor.double() for tensor in (u, delta, A, B, C))
    delta = _prepare_delta(delta, None if delta_bias is None else delta_bias.double(), delta_softplus)
    batch, channels, num_steps = u.shape
    state = torch.zeros(batch, channels, A.shape[1], dtype=torch.float64, device=u.device)
    outputs = []
    for step in range(num_steps):
        dt = delta[:, :, step, None]                                        # (B, D, 1)
        state = torch.exp(dt * A[None]) * state + dt * B[:, None, :, step] * u[:, :, step, None]
        y = (state * C[:, None, :, step]).sum(-1)                           # (B, D)
        if D is not None:
            y = y + D.double()[None] * u[:, :, step]
        if z is not None:
            gate = z[:, :, step].double()
            y = y * gate * torch.sigmoid(gate)
        outputs.append(y)
    return torch.stack(outputs, dim=-1)


@dataclass(frozen=True)
class MambaConfig:
    """Sizes of one Mamba block (defaults are mamba-ssm's).

    dt_rank "auto" means ceil(d_model / 16), mamba-ssm's rule.
    """

    d_model: int
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | str = "auto"
    bias: bool = False
    conv_bias: bool = True

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def dt_rank_value(self) -> int:
        return math.ceil(self.d_model / 16) if self.dt_rank == "auto" else int(self.dt_rank)


class Mamba(nn.Module):
    """One Mamba block: gated causal conv + selective SSM, (B, T, d_model) -> (B, T, d_model)."""

    def __init__(self, config: MambaConfig, dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4):
        super().__init__()
        self.config = config
        d_inner, d_state, dt_rank = config.d_inner, config.d_state, config.dt_rank_value
        self.in_proj = nn.Linear(config.d_model, 2 * d_inner, bias=config.bias)
        self.conv1d = nn.Conv1d(d_inner, d_inner, config.d_conv, groups=d_inner, padding=config.d_conv - 1,
                                bias=config.conv_bias)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        self.out_proj = nn.Linear(d_inner, config.d_model, bias=config.bias)
        # S4D-real initialisation A = -(1..N); stored as log so A stays negative.
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(d_inner))
        # Step sizes start log-uniform in [dt_min, dt_max]: dt_proj's bias is softplus^-1 of them.
        nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, hidden: torch.Tensor, use_kernel: bool | None = None) -> torch.Tensor:
        """hidden : (B, T, d_model) -> (B, T, d_model); causal in time."""
        config = self.config
        num_steps = hidden.shape[1]
        x, z = self.in_proj(hidden).transpose(1, 2).chunk(2, dim=1)          # (B, d_inner, T) each
        x = F.silu(self.conv1d(x)[..., :num_steps])                          # causal: drop the right pad
        dt, B, C = torch.split(self.x_proj(x.transpose(1, 2)),
                               [config.dt_rank_value, config.d_state, config.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)               # (B, d_inner, T), bias in the scan
        y = selective_scan(x, delta, -torch.exp(self.A_log.float()), B.transpose(1, 2).contiguous(),
                           C.transpose(1, 2).contiguous(), self.D.float(), z=z,
                           delta_bias=self.dt_proj.bias.float(), delta_softplus=True, use_kernel=use_kernel)
        return self.out_proj(y.transpose(1, 2))


class BiMamba(nn.Module):
    """Bidirectional Mamba: one block forward in time, one on the time-reversed sequence; outputs summed.

    As MACE-Dance's IntraModalMamba (without its norm and dropout, which callers add).
    """

    def __init__(self, config: MambaConfig):
        super().__init__()
        self.forward_mamba = Mamba(config)
        self.backward_mamba = Mamba(config)

    def forward(self, hidden: torch.Tensor, use_kernel: bool | None = None) -> torch.Tensor:
        """hidden : (B, T, d_model) -> (B, T, d_model); each frame sees the whole sequence."""
        ahead = self.forward_mamba(hidden, use_kernel=use_kernel)
        behind = self.backward_mamba(hidden.flip(1), use_kernel=use_kernel).flip(1)
        return ahead + behind
