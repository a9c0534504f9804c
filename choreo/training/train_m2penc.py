"""Train M2PEnc (stage 1 of the M2PEnc paper): music features -> guidance passes (L1) + keypoint heatmaps (MSE).

    python -m choreo.training.train_m2penc --data ~/.cache/choreo/m2penc_data --out runs/m2penc --steps 1200

``--data`` is a folder from ``choreo.datasets.m2penc_data`` (``train/`` and optionally ``test/``). The run
folder holds ``m2penc/`` (config.json + model.safetensors: what ``generators.m2penc`` loads; music
normaliser as extra tensors ``music_mean`` / ``music_std``) and ``training/m2penc/`` (optimiser, random
streams, step, log.jsonl). Running again on the same ``--out`` resumes from the last saved step. The
bookkeeping is X-Dancer's (``train_xdancer.Stage``: AdamW with decay on matrices only, warm-up then
cosine, gradient clipping, ``accelerate`` for devices).

Each step reads ``batch`` clips of ``clip_frames`` frames cut at random from the training dances. Loss:
``L1(guidance) + heatmap_weight * MSE(heatmaps)``. The paper's weights are unpublished; a Gaussian of
sigma 1 cell fills ~3 of 1024 cells, so the heatmap MSE is ~20 times smaller than the guidance L1 at the
start, and ``heatmap_weight = 20`` makes both count.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..datasets.m2penc_data import CONFIG_FILE as DATA_CONFIG_FILE
from ..datasets.m2penc_data import M2PEncSample, keypoint_heatmaps, load_split
from ..errors import ChoreoError
from ..networks import network_module
from .train_xdancer import Stage, TrainSettings, _initial_model, _prepare, _run

STAGE_NAME = "m2penc"
HEATMAP_WEIGHT = 20.0  # see the module docstring
HEATMAP_SIGMA_CELLS = 1.0


@dataclasses.dataclass(frozen=True)
class ClipBatch:
    """A training batch as float32 arrays: music (B, T, C) normalised, guidance (B, T, 10, G, G) in 0..1,
    heatmaps (B, T, K, G, G)."""

    music: np.ndarray
    guidance: np.ndarray
    heatmaps: np.ndarray


def music_normaliser(samples: list[M2PEncSample]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per feature column over every training frame; std floored at 1e-4."""
    values = np.concatenate([sample.music for sample in samples])
    return values.mean(axis=0).astype(np.float32), np.maximum(values.std(axis=0), 1e-4).astype(np.float32)


def sample_batch(samples: list[M2PEncSample], batch: int, clip_frames: int, mean: np.ndarray, std: np.ndarray,
                 rng: np.random.Generator) -> ClipBatch:
    """``batch`` random clips of ``clip_frames`` frames, dances drawn in proportion to their length."""
    usable = [sample for sample in samples if sample.num_frames >= clip_frames]
    if not usable:
        raise ChoreoError(f"no training dance has {clip_frames} frames; lower --clip-frames.")
    lengths = np.array([sample.num_frames - clip_frames + 1 for sample in usable], np.float64)
    picks = rng.choice(len(usable), size=batch, p=lengths / lengths.sum())
    music, guidance, heatmaps = [], [], []
    for pick in picks:
        sample = usable[pick]
        start = int(rng.integers(0, sample.num_frames - clip_frames + 1))
        window = slice(start, start + clip_frames)
        music.append((sample.music[window] - mean) / std)
        guidance.append(sample.guidance[window].astype(np.float32) / 255.0)
        heatmaps.append(keypoint_heatmaps(sample.keypoints_cells[window], sample.confidence[window],
                                          sample.guidance.shape[-1], HEATMAP_SIGMA_CELLS))
    return ClipBatch(np.stack(music).astype(np.float32), np.stack(guidance), np.stack(heatmaps).astype(np.float32))


def m2penc_losses(model, batch: ClipBatch, device, heatmap_weight: float = HEATMAP_WEIGHT) -> dict:
    """{"total", "guidance_l1", "heatmap_mse"} tensors for one batch."""
    import torch
    import torch.nn.functional as F

    guidance, heatmaps = model(torch.from_numpy(batch.music).to(device))
    guidance_l1 = F.l1_loss(guidance, torch.from_numpy(batch.guidance).to(device))
    heatmap_mse = F.mse_loss(heatmaps, torch.from_numpy(batch.heatmaps).to(device))
    return {"total": guidance_l1 + heatmap_weight * heatmap_mse, "guidance_l1": guidance_l1,
            "heatmap_mse": heatmap_mse}


def evaluate(model, samples: list[M2PEncSample], clip_frames: int, mean: np.ndarray, std: np.ndarray,
             device, clips: int = 16, seed: int = 0) -> dict[str, float]:
    """Mean losses over ``clips`` fixed random clips (held-out songs: pass the test samples)."""
    import torch

    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    with torch.no_grad():
        for _ in range(clips):
            terms = m2penc_losses(model, sample_batch(samples, 1, clip_frames, mean, std, rng), device)
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + float(value) / clips
    model.train(was_training)
    return totals


def train_m2penc(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings, config=None,
                 clip_frames: int = 24, metadata: dict | None = None,
                 log: Callable[[str], None] = lambda message: None) -> dict[str, float]:
    """Train (or resume) M2PEnc on ``data_dir/train``; returns the last step's losses (and held-out ones).

    config : M2PEncConfig for a fresh model (music_dim, grid and fps are taken from the data).
    """
    import torch

    m2penc = network_module("m2penc")
    samples = load_split(data_dir, "train")
    grid, music_dim, fps = samples[0].guidance.shape[-1], samples[0].music.shape[-1], samples[0].fps
    config = dataclasses.replace(config or m2penc.M2PEncConfig(), grid=grid, music_dim=music_dim, fps=fps)
    stage = Stage(STAGE_NAME, Path(out_dir), None, settings, log)
    torch.manual_seed(settings.seed)
    model, config, extra = _initial_model(stage, m2penc.M2PEncConfig, m2penc.M2PEnc, config, None)
    if extra:
        mean, std = extra["music_mean"].numpy(), extra["music_std"].numpy()
    else:
        mean, std = music_normaliser(samples)
    model, optimizer, device = _prepare(stage, model, settings)
    log(f"{len(samples)} training dances, {sum(s.num_frames for s in samples)} frames at {fps} fps, grid {grid}; "
        f"{sum(p.numel() for p in model.parameters())} parameters")

    def batch_loss(network) -> dict:
        return m2penc_losses(network, sample_batch(samples, settings.batch_size, clip_frames, mean, std, stage.rng),
                             device)

    recipe = Path(data_dir) / DATA_CONFIG_FILE
    data_config = json.loads(recipe.read_text()) if recipe.is_file() else {}
    info = {"data": str(data_dir), "num_dances": len(samples), "clip_frames": clip_frames,
            "extractor": data_config.get("extractor", "edge_librosa"), "feature_fps": data_config.get("feature_fps", 30.0),
            "data_config": data_config, **(metadata or {})}
    losses = _run(stage, model, config, optimizer, batch_loss,
                  {"music_mean": torch.from_numpy(mean), "music_std": torch.from_numpy(std)}, info)
    test_dir = Path(data_dir) / "test"
    if test_dir.is_dir() and any(test_dir.glob("*.npz")):
        held_out = evaluate(stage.accelerator.unwrap_model(model), load_split(data_dir, "test"), clip_frames,
                            mean, std, device)
        losses.update({f"test_{key}": value for key, value in held_out.items()})
        log("held-out songs: " + " ".join(f"{key} {value:.4f}" for key, value in held_out.items()))
    return losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.training.train_m2penc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder from choreo.datasets.m2penc_data")
    parser.add_argument("--out", required=True, help="run folder (m2penc/ checkpoint, training/ state)")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--clip-frames", type=int, default=24)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--channels", default="8,16,32,64", help="feature channels per level, finest first")
    parser.add_argument("--attention-layers", type=int, default=2)
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--label", default="", help="free text stored in the checkpoint metadata")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    m2penc = network_module("m2penc")
    config = m2penc.M2PEncConfig(channels=tuple(int(c) for c in args.channels.split(",")),
                                 attention_layers=args.attention_layers)
    settings = TrainSettings(steps=args.steps, batch_size=args.batch, lr=args.lr, warmup_steps=args.warmup_steps,
                             save_every=args.save_every, seed=args.seed)
    started = time.perf_counter()
    losses = train_m2penc(Path(args.data).expanduser(), Path(args.out), settings, config, args.clip_frames,
                          {"label": args.label, "command": " ".join(sys.argv)}, print)
    print(f"done in {time.perf_counter() - started:.0f} s: " + " ".join(f"{k} {v:.4f}" for k, v in losses.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
