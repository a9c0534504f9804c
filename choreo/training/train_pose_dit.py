"""Training for the one-hot pose DiT: the pose-image autoencoder (stage 1), then the DiT on its latents (stage 2).

Both stages write into one model folder, the layout ``generators.pose_dit.load_pose_dit`` reads::

    OUT/autoencoder/  config.json + model.safetensors (PoseImageVAE; scaling_factor = 1 / latent std)
    OUT/dit/          config.json + model.safetensors (PoseDiT; extra music_mean / music_std)
                      (``--representation coordinates``, the paper's raw-coordinate ablation: dit/ alone, on the
                      coordinate grid of ``pose.coordinate_latents``, with extra coordinate_stats; no autoencoder)
    STATE/<stage>/    optimizer.safetensors, rng.safetensors, state.json, log.jsonl (train_xdancer's Stage)
    STATE/latents.npz the DiT's training latents, encoded once by the trained autoencoder

``STATE`` defaults to ``OUT/training``. The bookkeeping (AdamW with decay on matrices only, warm-up then
cosine learning rate, resume from the last save, ``accelerate``) is ``train_xdancer``'s, reused as is.

Data: a pose dataset folder (``datasets.pose_dataset``: body-frame poses with music features, e.g. the
dance engine's ``xdancer/train``). Every ``every``-th segment is used whole (128 frames = 16 latent
columns). The autoencoder learns triplets of one-hot channels of the dances and of shape-only reference
images (one pose repeated over time), with a KL term of weight 1e-6 as latent-diffusion VAEs. The DiT
learns epsilon prediction (the paper's) or clean-latent prediction (``--prediction sample``) on the cosine
schedule; each segment's reference is one of its own frames chosen at random, shape-only, or with its first
N = 16 frames pose-aware with probability ``prefix_probability`` (the paper's p, which it does not give);
music is dropped with probability 0.3.

Example (the demo checkpoint)::

    python -m choreo.training.train_pose_dit demo --data ~/.cache/choreo/dance_engine/xdancer/train \\
        --out assets/checkpoints/pose_dit/demo --state build/pose_dit_state --threads 1
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

from ..checkpoints import load_model, save_checkpoint
from ..datasets.pose_dataset import PoseDataset, load_dataset
from ..generators.pose_dit import (AUTOENCODER_DIR, DEFAULT_BODY_BOX, DIT_DIR, NUM_BODY, OVERLAP_FRAMES, frame_mask,
                                   normalised_to_onehot, poses_to_latents, reference_poses)
from ..networks import network_module
from ..pose.coordinate_latents import coordinate_statistics
from ..pose.onehot_image import OneHotConfig
from ..pose.onehot_latents import encode_onehot_batch
from .train_xdancer import STATE_DIR, Stage, TrainingError, TrainSettings, _initial_model, _prepare, _run

LATENTS_FILE = "latents.npz"
KL_WEIGHT = 1e-6
CURVE_WEIGHT = 10.0  # extra loss weight on lit pixels: the curves are ~5 % of a one-hot image
REFERENCE_SHARE = 0.25  # share of autoencoder pictures that are shape-only references


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """How segments become training pictures (saved in the checkpoint metadata).

    every              : use every n-th dataset segment (the engine's segments overlap by 3/4 at stride 32).
    num_bins, sigma_bins : the one-hot image (W bins per axis, Gaussian sigma in bins).
    body_box           : (left, top, size) of the one-hot square in torso units (``generators.pose_dit``).
    prefix_probability : share of DiT samples whose first 16 frames are pose-aware.
    """

    every: int = 2
    num_bins: int = 64
    sigma_bins: float = 2.0
    body_box: tuple[float, float, float] = DEFAULT_BODY_BOX
    prefix_probability: float = 0.5

    @property
    def onehot(self) -> OneHotConfig:
        return OneHotConfig(num_bins=self.num_bins, sigma_bins=self.sigma_bins)


def _segments(data: PoseDataset, every: int) -> tuple[np.ndarray, np.ndarray]:
    """(poses (N, T, 60, 3), music (N, T, C) standardised) of every ``every``-th segment that has music."""
    picks = np.flatnonzero(data.has_music)[::every]
    if len(picks) == 0:
        raise TrainingError("the dataset has no segment with music; the pose DiT learns music-to-dance pairs.")
    if data.poses.shape[1] % 8:
        raise TrainingError(f"dataset segments are {data.poses.shape[1]} frames; the 8x autoencoder needs a multiple "
                            "of 8 (build the dataset with --segment-frames 128).")
    mean, std = np.asarray(data.info["music_mean"], np.float32), np.asarray(data.info["music_std"], np.float32)
    return data.poses[picks], (data.music[picks] - mean) / np.maximum(std, 1e-6)


def _onehots(poses: np.ndarray, options: DataOptions) -> np.ndarray:
    """(B, T, 60, 3) body-frame poses -> (B, C, W, T) float32 one-hot images."""
    return np.stack([normalised_to_onehot(p, options.onehot, options.body_box) for p in poses])


# ---------------------------------------------------------------- stage 1: autoencoder


def train_autoencoder(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings, config=None,
                      options: DataOptions = DataOptions(), state_dir: str | Path | None = None,
                      log: Callable[[str], None] = lambda message: None) -> dict[str, float]:
    """Train (or resume) the pose-image autoencoder; returns the last step's losses.

    Afterwards the checkpoint's ``scaling_factor`` is set to 1 / std of the latents of 64 segments, so
    the DiT sees unit-variance latents as SD's 0.18215 gives.
    """
    import torch

    vae_module = network_module("pose_image_vae")
    poses, _ = _segments(load_dataset(data_dir), options.every)
    stage = Stage(AUTOENCODER_DIR, Path(out_dir), state_dir, settings, log)
    torch.manual_seed(settings.seed)
    model, config, _ = _initial_model(stage, vae_module.PoseImageVAEConfig, vae_module.PoseImageVAE,
                                      config or vae_module.PoseImageVAEConfig(), None)
    model, optimizer, device = _prepare(stage, model, settings)

    def batch_loss(network) -> dict:
        picks = stage.rng.integers(0, len(poses), max(1, settings.batch_size // 8))
        pictured = poses[picks].copy()                                             # (b, T, 60, 3)
        references = stage.rng.random(len(picks)) < REFERENCE_SHARE
        for i in np.flatnonzero(references):                                       # shape-only pictures
            pictured[i] = reference_poses(pictured[i][stage.rng.integers(pictured.shape[1])], pictured.shape[1])
        images = _onehots(pictured, options)                                       # (b, C, W, T)
        triplets = torch.from_numpy(images).reshape(-1, 3, *images.shape[2:])
        chosen = torch.from_numpy(stage.rng.permutation(len(triplets))[:settings.batch_size])
        target = triplets[chosen].to(device)
        reconstruction, kl = network(target * 2 - 1)
        weight = 1 + CURVE_WEIGHT * target
        mse = (weight * (reconstruction - (target * 2 - 1)) ** 2).mean()
        return {"total": mse + KL_WEIGHT * kl.mean(), "mse": mse, "kl": kl.mean()}

    log(f"autoencoder: {len(poses)} segments, {sum(p.numel() for p in model.parameters())} parameters")
    metadata = {"stage": "autoencoder", "data": str(data_dir), "num_bins": options.num_bins,
                "sigma_bins": options.sigma_bins, "body_box": list(options.body_box)}
    losses = _run(stage, model, config, optimizer, batch_loss, None, metadata)
    if stage.accelerator.is_main_process:
        network = stage.accelerator.unwrap_model(model).eval()
        unscaled = dataclasses.replace(config, scaling_factor=1.0)
        network.config = unscaled
        sample = poses[np.random.default_rng(settings.seed).integers(0, len(poses), 64)]
        latents = encode_onehot_batch(torch.from_numpy(_onehots(sample, options)).to(device), network)
        scaled = dataclasses.replace(config, scaling_factor=float(1.0 / latents.std()))
        network.config = scaled
        save_checkpoint(stage.checkpoint_dir, network, scaled,
                        metadata={**metadata, "trained_steps": stage.step, "losses": losses})
        log(f"autoencoder: scaling_factor {scaled.scaling_factor:.4f}")
    return losses


# ---------------------------------------------------------------- stage 2: DiT


def encode_training_latents(encode: Callable[[np.ndarray], np.ndarray], poses: np.ndarray, seed: int,
                            batch_segments: int = 16, log: Callable[[str], None] = lambda message: None) -> dict:
    """Latents of every segment: target, shape-only reference (a random frame of the segment repeated), and the
    same reference with the first 16 frames pose-aware.

    encode  : (B, T, 60, 3) body-frame poses -> (B, channels, W', T') latents (one-hot + autoencoder, or the
              coordinate grid).
    returns : arrays (N, channels, W', T') float32 under "target", "shape", "prefix".
    """
    rng = np.random.default_rng(seed)
    num_frames = poses.shape[1]
    prefix = np.arange(num_frames) < OVERLAP_FRAMES
    out: dict[str, list] = {"target": [], "shape": [], "prefix": []}
    started = time.perf_counter()
    for first in range(0, len(poses), batch_segments):
        batch = poses[first:first + batch_segments]
        frames = rng.integers(0, num_frames, len(batch))
        shapes = np.stack([reference_poses(segment[f], num_frames) for segment, f in zip(batch, frames)])
        prefixes = np.stack([reference_poses(segment[f], num_frames, prefix, segment)
                             for segment, f in zip(batch, frames)])
        for key, chosen in (("target", batch), ("shape", shapes), ("prefix", prefixes)):
            out[key].append(encode(chosen))
        if first // batch_segments % 20 == 0:
            log(f"latents: {first + len(batch)}/{len(poses)} segments ({time.perf_counter() - started:.0f} s)")
    return {key: np.concatenate(value) for key, value in out.items()}


def train_dit(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings, config=None,
              options: DataOptions = DataOptions(), state_dir: str | Path | None = None,
              log: Callable[[str], None] = lambda message: None, representation: str = "onehot") -> dict[str, float]:
    """Train (or resume) the DiT; returns the last losses.

    representation : "onehot" (latents of the trained autoencoder in ``out_dir``, the paper's) or "coordinates"
                     (the raw-coordinate ablation: the coordinate grid, standardised by the data's statistics;
                     the DiT's channels and rows are set to the grid's, the rest of ``config`` kept).
    The DiT's ``music_dim`` is the dataset's music width (35 for edge_librosa, 39 for edge_librosa_beats).
    """
    import torch

    from ..generators.diffusion import CosineSchedule, q_sample

    dit_module = network_module("pose_dit")
    out_dir = Path(out_dir)
    data = load_dataset(data_dir)
    poses, music = _segments(data, options.every)
    config = config or dit_module.PoseDiTConfig()
    extra: dict = {}
    if representation == "coordinates":
        statistics = coordinate_statistics(poses[:, :, :NUM_BODY])
        extra["coordinate_stats"] = torch.from_numpy(statistics)
        config = dataclasses.replace(config, latent_channels=statistics.shape[1], latent_bins=config.frames_per_column)

        def encode(batch: np.ndarray) -> np.ndarray:
            return poses_to_latents(batch, None, options.onehot, options.body_box, statistics).numpy()
    elif representation == "onehot":
        encode, vae_config = _autoencoder_encoder(out_dir, options)
        config = dataclasses.replace(config, latent_channels=-(-options.onehot.num_channels // 3)
                                     * vae_config.latent_channels, latent_bins=options.num_bins // 8)
    else:
        raise TrainingError(f"representation must be 'onehot' or 'coordinates', got {representation!r}.")
    stage = Stage(DIT_DIR, out_dir, state_dir, settings, log)
    latents_path = stage.state_dir.parent / LATENTS_FILE
    if latents_path.is_file():
        with np.load(latents_path, allow_pickle=False) as cached:
            latents = {key: cached[key] for key in ("target", "shape", "prefix")}
    else:
        latents = encode_training_latents(encode, poses, settings.seed, log=log)
        latents_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(latents_path, **latents)
    config = dataclasses.replace(config, music_dim=music.shape[-1])  # the data's feature width, whatever the extractor
    torch.manual_seed(settings.seed)
    model, config, _ = _initial_model(stage, dit_module.PoseDiTConfig, dit_module.PoseDiT, config, None)
    model, optimizer, device = _prepare(stage, model, settings)
    schedule = CosineSchedule()
    target, shape_only, prefixed = (torch.from_numpy(latents[key]) for key in ("target", "shape", "prefix"))
    music_t = torch.from_numpy(music.astype(np.float32))
    num_frames = poses.shape[1]
    prefix_mask = torch.from_numpy(frame_mask(np.arange(num_frames) < OVERLAP_FRAMES))    # (8, T')

    def batch_loss(network) -> dict:
        picks = torch.from_numpy(stage.rng.integers(0, len(target), settings.batch_size))
        aware = torch.from_numpy(stage.rng.random(settings.batch_size) < options.prefix_probability)
        x0 = target[picks].to(device)
        reference = torch.where(aware[:, None, None, None], prefixed[picks], shape_only[picks]).to(device)
        mask = (prefix_mask[None, :, None, :] * aware[:, None, None, None].float()).expand(
            -1, -1, x0.shape[2], -1).to(device)
        keep_music = torch.from_numpy(stage.rng.random(settings.batch_size) >= config.music_dropout).to(device)
        t = torch.from_numpy(stage.rng.integers(0, schedule.num_steps, settings.batch_size)).to(device)
        noise = torch.randn_like(x0)
        predicted = network(q_sample(x0, t, noise, schedule), t, reference, mask, music_t[picks].to(device),
                            keep_music)
        loss = torch.nn.functional.mse_loss(predicted, dit_module.denoising_target(config, x0, noise))
        return {"total": loss}

    log(f"dit: {len(target)} segments, latents {tuple(target.shape[1:])}, "
        f"{sum(p.numel() for p in model.parameters())} parameters")
    metadata = {"stage": "dit", "data": str(data_dir), "fps": float(data.info["fps"]),
                "music_extractor": data.info["music_extractor"], "segment_frames": int(num_frames),
                "num_bins": options.num_bins, "sigma_bins": options.sigma_bins, "body_box": list(options.body_box),
                "data_options": dataclasses.asdict(options), "representation": representation}
    extra.update(music_mean=torch.tensor(data.info["music_mean"], dtype=torch.float32),
                 music_std=torch.tensor(np.maximum(data.info["music_std"], 1e-6), dtype=torch.float32))
    return _run(stage, model, config, optimizer, batch_loss, extra, metadata)


def _autoencoder_encoder(out_dir: Path, options: DataOptions):
    """(poses -> latents through the trained autoencoder in ``out_dir``, the autoencoder's config)."""
    vae_module = network_module("pose_image_vae")
    if not (out_dir / AUTOENCODER_DIR / "model.safetensors").is_file():
        raise TrainingError(f"{out_dir / AUTOENCODER_DIR} holds no autoencoder; run the autoencoder stage first.")
    autoencoder, vae_config, _ = load_model(out_dir / AUTOENCODER_DIR, vae_module.PoseImageVAEConfig,
                                            vae_module.PoseImageVAE)

    def encode(poses: np.ndarray) -> np.ndarray:
        return poses_to_latents(poses, autoencoder, options.onehot, options.body_box).cpu().numpy()
    return encode, vae_config


# ---------------------------------------------------------------- command line


def demo_configs():
    """(autoencoder config, DiT config) of the bundled demo: ~0.1 M + ~1.3 M parameters, CPU-sized."""
    vae_config = network_module("pose_image_vae").PoseImageVAEConfig(block_out_channels=(8, 16, 32, 32))
    dit_config = network_module("pose_dit").PoseDiTConfig(latent_channels=48, latent_bins=8, hidden=128,
                                                          num_layers=4, num_heads=4, music_in_pose_tokens=True,
                                                          prediction="sample")
    return vae_config, dit_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.training.train_pose_dit",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("autoencoder", "dit", "demo"),
                        help="autoencoder, dit (needs OUT/autoencoder), or demo (both with the demo sizes)")
    parser.add_argument("--data", required=True, type=Path, help="pose dataset folder (datasets.pose_dataset)")
    parser.add_argument("--out", required=True, type=Path, help="model folder (autoencoder/ and dit/)")
    parser.add_argument("--state", type=Path, help=f"training state folder (default OUT/{STATE_DIR})")
    parser.add_argument("--autoencoder-steps", type=int, default=1000)
    parser.add_argument("--dit-steps", type=int, default=3000)
    parser.add_argument("--autoencoder-batch", type=int, default=32, help="triplet pictures per step")
    parser.add_argument("--dit-batch", type=int, default=32, help="segments per step")
    parser.add_argument("--autoencoder-lr", type=float, default=2e-3)
    parser.add_argument("--dit-lr", type=float, default=5e-4)
    parser.add_argument("--every", type=int, default=DataOptions.every)
    parser.add_argument("--time-shared-rope", type=int, default=1, help="1: the paper's indices; 0: the ablation")
    parser.add_argument("--music-in-pose-tokens", type=int, default=1,
                        help="1 (the demo's): add each column's music token to its pose tokens too (ours, not the "
                             "paper's); 0: music reaches the pose tokens through attention only")
    parser.add_argument("--prediction", choices=("epsilon", "sample"), default="sample",
                        help="sample (the demo's): predict the clean latents (EDGE's objective), which made a small "
                             "DiT listen to its music; epsilon: the paper's noise prediction")
    parser.add_argument("--representation", choices=("onehot", "coordinates"), default="onehot",
                        help="onehot: the paper's one-hot images through the autoencoder; coordinates: the "
                             "raw-coordinate ablation (no autoencoder stage)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--save-every", type=int, default=250)
    args = parser.parse_args(argv)
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    options = DataOptions(every=args.every)
    vae_config, dit_config = demo_configs()
    dit_config = dataclasses.replace(dit_config, time_shared_rope=bool(args.time_shared_rope),
                                     music_in_pose_tokens=bool(args.music_in_pose_tokens),
                                     prediction=args.prediction)

    def log(message: str) -> None:
        print(message, flush=True)

    def settings(steps: int, batch: int, lr: float) -> TrainSettings:
        return TrainSettings(steps=steps, batch_size=batch, lr=lr, warmup_steps=min(100, steps // 10 + 1),
                             save_every=args.save_every, seed=args.seed, log_every=25)

    log("command: python -m choreo.training.train_pose_dit " + " ".join(argv or sys.argv[1:]))
    if args.stage == "autoencoder" or (args.stage == "demo" and args.representation == "onehot"):
        train_autoencoder(args.data, args.out, settings(args.autoencoder_steps, args.autoencoder_batch,
                                                         args.autoencoder_lr), vae_config, options, args.state, log)
    if args.stage in ("dit", "demo"):
        losses = train_dit(args.data, args.out, settings(args.dit_steps, args.dit_batch, args.dit_lr), dit_config,
                           options, args.state, log, args.representation)
        log(f"dit: final losses {json.dumps(losses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
