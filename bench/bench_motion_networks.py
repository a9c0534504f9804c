"""Motion-network benchmark: pure-torch Mamba accuracy and speed, chunked vs sequential selective
scan, and time to sample 10 s of dance.

Run as `python bench/bench_motion_networks.py [--full] [--threads N]`. Prints markdown tables only;
nothing here asserts. Sampling times for the full-size networks are one timed denoiser call
times 50 (marked "extrapolated"); demo sizes run the whole 50-step DDIM sampler.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from choreo.generators.diffusion import CosineSchedule, ddim_sample  # noqa: E402
from models.edge import EDGEConfig, EDGEDenoiser  # noqa: E402
from models.mace import MACEConfig, MACEDenoiser  # noqa: E402
from models.mamba import Mamba, MambaConfig, selective_scan, selective_scan_reference  # noqa: E402

FPS = 30
DURATION_S = 10.0
WINDOW_FRAMES = 150          # EDGE: 5 s windows at 2.5 s stride
STRIDE_FRAMES = 75
STEPS = 50


def _best_of(fn, repeats: int = 3, device: torch.device = torch.device("cpu")) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def mamba_table() -> None:
    print("| d_model | T | max abs diff scan vs float64 recurrence | scan ms | reference scan ms "
          "| Mamba block tokens/s | BiMamba tokens/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for d_model in (256, 512):
        block = Mamba(MambaConfig(d_model)).eval()
        for steps in (150, 300):
            g = torch.Generator().manual_seed(0)
            d_inner, d_state = 2 * d_model, 16
            inputs = dict(u=torch.randn(1, d_inner, steps, generator=g),
                          delta=torch.randn(1, d_inner, steps, generator=g) - 2,
                          A=-torch.exp(block.A_log.detach()), B=torch.randn(1, d_state, steps, generator=g),
                          C=torch.randn(1, d_state, steps, generator=g), D=block.D.detach(),
                          z=torch.randn(1, d_inner, steps, generator=g), delta_bias=block.dt_proj.bias.detach())
            diff = (selective_scan(**inputs).double() - selective_scan_reference(**inputs)).abs().max().item()
            scan_s = _best_of(lambda: selective_scan(**inputs))
            reference_s = _best_of(lambda: selective_scan_reference(**inputs), repeats=1)
            x = torch.randn(1, steps, d_model)
            with torch.no_grad():
                block_s = _best_of(lambda: block(x))
            print(f"| {d_model} | {steps} | {diff:.2e} | {scan_s * 1e3:.1f} | {reference_s * 1e3:.1f} "
                  f"| {steps / block_s:,.0f} | {steps / (2 * block_s):,.0f} |")


def scan_speed_table() -> None:
    """Tokens/s of the pure-torch selective scan, per frame loop vs chunked, on one MACE layer's sizes.

    MACE (latent 512, expand 2, d_state 16) scans d_inner = 1024 channels x 16 states. "train" is a
    forward and backward pass through the scan at batch 2 (gradients to u, delta, A, B, C, D, z).
    """
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    channels, d_state = 1024, 16
    print("\nSelective scan, one MACE layer (1024 channels x 16 states), pure torch (no mamba-ssm kernel)\n")
    print("| device | pass | batch | T | sequential tokens/s | chunked tokens/s | speed-up |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for device in devices:
        for mode, batch in (("inference", 1), ("train", 2)):
            for steps in (150, 600):
                g = torch.Generator().manual_seed(0)
                inputs = dict(u=torch.randn(batch, channels, steps, generator=g),
                              delta=torch.randn(batch, channels, steps, generator=g) - 2,
                              A=-torch.arange(1, d_state + 1.0).repeat(channels, 1),
                              B=torch.randn(batch, d_state, steps, generator=g),
                              C=torch.randn(batch, d_state, steps, generator=g), D=torch.ones(channels),
                              z=torch.randn(batch, channels, steps, generator=g),
                              delta_bias=torch.full((channels,), -3.0))
                inputs = {name: value.to(device).requires_grad_(mode == "train") for name, value in inputs.items()}
                tokens_per_s = {}
                for scan in ("sequential", "chunked"):
                    def run():
                        out = selective_scan(**inputs, use_kernel=False, scan=scan)
                        if mode == "train":
                            out.sum().backward()
                    with torch.set_grad_enabled(mode == "train"):
                        run()                                              # warm-up (CUDA context, allocator)
                        tokens_per_s[scan] = batch * steps / _best_of(run, device=device)
                print(f"| {device.type} | {mode} | {batch} | {steps} | {tokens_per_s['sequential']:,.0f} "
                      f"| {tokens_per_s['chunked']:,.0f} | {tokens_per_s['chunked'] / tokens_per_s['sequential']:.2f}x |")


def _edge_sampler(model: EDGEDenoiser, num_windows: int, music_dim: int):
    music = torch.randn(num_windows, WINDOW_FRAMES, music_dim)
    shape = (num_windows, WINDOW_FRAMES, 151)
    return (lambda x, t: model.guided_forward(x, t, music, 2.0)), shape


def _mace_sampler(model: MACEDenoiser, num_frames: int, music_dim: int):
    music = torch.randn(1, num_frames, music_dim)
    beta, genre = torch.full((1,), 0.75), torch.tensor([model.config.num_genres - 1])
    return (lambda x, t: model(x, t, music, beta, genre)), (1, num_frames, 151)


def sampling_table(full: bool) -> None:
    num_frames = int(DURATION_S * FPS)
    num_windows = (num_frames - WINDOW_FRAMES) // STRIDE_FRAMES + 1
    schedule = CosineSchedule()
    rows = [("EDGE demo (latent 256, 4 layers, 4 heads)", "edge",
             EDGEConfig(latent_dim=256, ff_dim=512, num_layers=4, num_heads=4), False),
            ("MACE demo (latent 256, 4 layers, 4 heads)", "mace",
             MACEConfig(latent_dim=256, ff_dim=512, num_layers=4, num_heads=4), False)]
    if full:
        rows += [("EDGE full (latent 512, 8 layers, 35-d music)", "edge", EDGEConfig(), True),
                 ("MACE full (latent 512, 8 layers)", "mace", MACEConfig(), True)]
    print(f"\n10 s of motion ({num_frames} frames at {FPS} fps), {STEPS} DDIM steps, eta 1, batch as noted\n")
    print("| backbone | parameters (M) | work per step | s per step | s for 10 s of motion |")
    print("| --- | --- | --- | --- | --- |")
    for name, family, config, extrapolate in rows:
        torch.manual_seed(0)
        if family == "edge":
            model = EDGEDenoiser(config).eval()
            denoise, shape = _edge_sampler(model, num_windows, config.music_dim)
            work = f"{num_windows} windows x 150 frames, CFG (2 passes batched)"
        else:
            model = MACEDenoiser(config).eval()
            denoise, shape = _mace_sampler(model, num_frames, config.music_dim)
            work = f"1 x {num_frames} frames, one pass (GFT, beta 0.75)"
        params = sum(p.numel() for p in model.parameters()) / 1e6
        with torch.no_grad():
            x = torch.randn(shape)
            t = torch.full((shape[0],), 500)
            step_s = _best_of(lambda: denoise(x, t), repeats=2)
            if extrapolate:
                total = f"{step_s * STEPS:.1f} (extrapolated)"
            else:
                start = time.perf_counter()
                ddim_sample(denoise, shape, schedule, STEPS, generator=torch.Generator().manual_seed(0))
                total = f"{time.perf_counter() - start:.1f}"
        print(f"| {name} | {params:.1f} | {work} | {step_s:.2f} | {total} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="also time the full-size networks")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s)\n")
    mamba_table()
    scan_speed_table()
    sampling_table(args.full)


if __name__ == "__main__":
    main()
