"""Training for X-Dancer's motion models: the pose tokenizer (stage 1) and the music-to-token GPT (stage 2).

Both stages write into one model folder, the layout ``generators.xdancer.load_xdancer`` reads::

    OUT/tokenizer/   config.json + model.safetensors (PoseVQVAE)
    OUT/gpt/         config.json + model.safetensors (MotionGPT; extra tensors music_mean / music_std)
    STATE/<stage>/   optimizer.safetensors, rng.safetensors, state.json (step, sampler state), log.jsonl

``STATE`` defaults to ``OUT/training``. A stage started again on the same folders resumes from its last saved
step (optimizer moments, learning-rate schedule, random streams): running 4 steps, or 2 and then 2 more, ends
with the same weights. Nothing is pickled. ``accelerate`` drives the devices: one CPU or GPU as is, several GPUs
with ``accelerate launch -m choreo.training.train_xdancer ...``.

The GPT reads 64-frame windows (``block_frames``) cut at random from the dataset's segments; the 8 context
frames are spread over the window before it, placed as in a long generation (64-frame windows, 12 shared), and
a quarter of the batches go without context (as the first window of a generation).

Example (the demo checkpoint; ``demo`` builds the synthetic dataset and runs both stages)::

    python -m choreo.training.train_xdancer tokenizer --data data/mine --out runs/mine --steps 40000
    python -m choreo.training.train_xdancer gpt --data data/mine --out runs/mine --steps 300000
    python -m choreo.training.train_xdancer finetune --init runs/mine --data data/my_style --out runs/my_style
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoints import load_model, save_checkpoint
from ..datasets.pose_dataset import PoseDataset, build_dataset, load_dataset
from ..errors import ChoreoError
from ..networks import network_module
from .state_files import load_optimizer, save_json, save_optimizer, save_tensors

TOKENIZER_DIR = "tokenizer"
GPT_DIR = "gpt"
STATE_DIR = "training"
NO_CONTEXT_PROBABILITY = 0.25
# Generation windows: up to 64 frames, 12 of 64 shared with the previous window (the paper's numbers).
MAX_WINDOW = 64
OVERLAP_PER_64 = 12


class TrainingError(ChoreoError):
    """Training inputs (data, folders, configs) do not fit together."""


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of one stage (AdamW, linear warm-up then cosine decay to ``min_lr_fraction``)."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_fraction: float = 0.1
    grad_clip: float = 1.0
    log_every: int = 10
    save_every: int = 500
    seed: int = 0
    mixed_precision: str = "no"

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return self.lr * (self.min_lr_fraction + (1 - self.min_lr_fraction) * cosine)


class Stage:
    """Bookkeeping shared by both stages: state folder, resume, logging, checkpoints."""

    def __init__(self, name: str, out_dir: Path, state_dir: Path | None, settings: TrainSettings,
                 log: Callable[[str], None]):
        from accelerate import Accelerator

        self.name, self.out_dir, self.settings = name, Path(out_dir), settings
        self.state_dir = Path(state_dir or self.out_dir / STATE_DIR) / name
        self.accelerator = Accelerator(mixed_precision=settings.mixed_precision)
        self.log_line = log if self.accelerator.is_main_process else (lambda message: None)
        self.step = 0
        self.rng = np.random.default_rng([settings.seed, self.accelerator.process_index])

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / self.name

    def can_resume(self) -> bool:
        return (self.state_dir / "state.json").is_file() and (self.checkpoint_dir / "model.safetensors").is_file()

    def restore(self, optimizer) -> None:
        """Optimizer moments, step, sampler and torch random state from the state folder."""
        import torch
        from safetensors.torch import load_file

        document = json.loads((self.state_dir / "state.json").read_text())
        self.step = int(document["step"])
        self.rng.bit_generator.state = document["sampler_state"]
        load_optimizer(optimizer, self.state_dir / "optimizer.safetensors")
        torch.set_rng_state(load_file(str(self.state_dir / "rng.safetensors"))["torch"])
        self.log_line(f"{self.name}: resumed at step {self.step} from {self.state_dir}")

    def save(self, model, config, optimizer, extra: dict | None = None, metadata: dict | None = None) -> None:
        """Checkpoint folder plus the state to resume from; main process only."""
        import torch

        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        save_checkpoint(self.checkpoint_dir, self.accelerator.unwrap_model(model), config, extra=extra,
                        metadata={"trained_steps": self.step, **(metadata or {})})
        self.state_dir.mkdir(parents=True, exist_ok=True)
        save_optimizer(optimizer, self.state_dir / "optimizer.safetensors")
        save_tensors({"torch": torch.get_rng_state()}, self.state_dir / "rng.safetensors")
        document = {"step": self.step, "sampler_state": self.rng.bit_generator.state,
                    "settings": dataclasses.asdict(self.settings)}
        save_json(document, self.state_dir / "state.json")

    def record(self, losses: dict[str, float], lr: float, seconds: float) -> None:
        """Append the step's losses to log.jsonl and print every ``log_every`` steps."""
        if not self.accelerator.is_main_process:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        entry = {"step": self.step, "lr": lr, **{key: round(value, 6) for key, value in losses.items()}}
        with (self.state_dir / "log.jsonl").open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        if self.step % self.settings.log_every == 0 or self.step == self.settings.steps:
            shown = " ".join(f"{key} {value:.4f}" for key, value in losses.items())
            self.log_line(f"{self.name} step {self.step}/{self.settings.steps} {shown} lr {lr:.2e} "
                          f"({seconds:.2f} s/step)")


def _set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _prepare(stage: "Stage", model, settings: "TrainSettings"):
    """(model, optimizer, device) ready to train: optimizer made, resumed if possible, wrapped by accelerate."""
    optimizer = _make_optimizer(model, settings)
    if stage.can_resume():
        stage.restore(optimizer)
    model, optimizer = stage.accelerator.prepare(model, optimizer)
    return model, optimizer, stage.accelerator.device


def _make_optimizer(model, settings: TrainSettings):
    """AdamW with decay on matrices only (no decay on biases, norms, embeddings' 1-D params)."""
    import torch

    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr, betas=(0.9, 0.99))


def _initial_model(stage: Stage, config_cls, model_cls, config, init: Path | None):
    """(network, config, extra tensors): resumed from the stage's checkpoint, else copied from ``init``,
    else fresh from ``config`` (no extra tensors)."""
    if stage.can_resume():
        model, config, extra = load_model(stage.checkpoint_dir, config_cls, model_cls)
    elif init is not None:
        model, config, extra = load_model(init, config_cls, model_cls)
        stage.log_line(f"{stage.name}: initialised from {init}")
    else:
        if config is None:
            raise TrainingError(f"{stage.name}: no config given and nothing to resume or initialise from.")
        model, extra = model_cls(config), {}
    return model.train(), config, extra


def _run(stage: Stage, model, config, optimizer, batch_loss: Callable[[Any], dict], extra: dict | None,
         metadata: dict) -> dict[str, float]:
    """The shared loop: schedule, step, clip, record, save every ``save_every`` and at the end."""
    settings = stage.settings
    losses: dict[str, float] = {}
    while stage.step < settings.steps:
        started = time.perf_counter()
        lr = settings.lr_at(stage.step)
        _set_lr(optimizer, lr)
        terms = batch_loss(model)
        optimizer.zero_grad(set_to_none=True)
        stage.accelerator.backward(terms["total"])
        if settings.grad_clip > 0:
            stage.accelerator.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        stage.step += 1
        losses = {key: float(value.detach()) for key, value in terms.items()}
        stage.record(losses, lr, time.perf_counter() - started)
        if stage.step % settings.save_every == 0 or stage.step == settings.steps:
            stage.save(model, config, optimizer, extra, {**metadata, "losses": losses})
    return losses


# ---------------------------------------------------------------- stage 1: tokenizer


def train_tokenizer(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings, config=None,
                    init: str | Path | None = None, state_dir: str | Path | None = None,
                    log: Callable[[str], None] = lambda message: None) -> dict[str, float]:
    """Train (or resume) the pose VQ-VAE on every frame of the dataset; returns the last step's losses.

    config : PoseVQVAEConfig for a fresh model (ignored when resuming or with ``init``).
    init   : a tokenizer checkpoint folder to start from (fine-tuning).
    """
    import torch

    vqvae = network_module("pose_vqvae")
    data = load_dataset(data_dir)
    frames = torch.from_numpy(data.poses.reshape(-1, *data.poses.shape[2:]))
    stage = Stage(TOKENIZER_DIR, Path(out_dir), state_dir, settings, log)
    torch.manual_seed(settings.seed)
    model, config, _ = _initial_model(stage, vqvae.PoseVQVAEConfig, vqvae.PoseVQVAE, config,
                                   Path(init) / TOKENIZER_DIR if init else None)
    model, optimizer, device = _prepare(stage, model, settings)

    def batch_loss(network) -> dict:
        picks = torch.from_numpy(stage.rng.integers(0, len(frames), settings.batch_size))
        _, losses, _ = network(frames[picks].to(device))
        return losses

    stage.log_line(f"tokenizer: {len(frames)} frames, {sum(p.numel() for p in model.parameters())} parameters")
    return _run(stage, model, config, optimizer, batch_loss, None,
                {"stage": "tokenizer", "dataset": _dataset_summary(data, data_dir)})


# ---------------------------------------------------------------- stage 2: GPT


def encode_dataset(tokenizer, poses: np.ndarray, batch_frames: int = 4096) -> np.ndarray:
    """(N, T, 60, 3) poses -> (N, T, tokens_per_frame) int64 tokens, groups in the tokenizer's order."""
    import torch

    flat = torch.from_numpy(poses.reshape(-1, *poses.shape[2:]))
    tokens = [tokenizer.encode(flat[i:i + batch_frames]).flatten(1) for i in range(0, len(flat), batch_frames)]
    return torch.cat(tokens).numpy().reshape(*poses.shape[:2], -1)


def generation_window(block_frames: int) -> tuple[int, int]:
    """(window, overlap) frames of a long generation with a GPT trained on ``block_frames``-frame windows.

    The GPT is trained with its context placed as these numbers place it, so generation should use them:
    64 and 12 for the paper's model, 32 and 6 for the demo.
    """
    window = min(MAX_WINDOW, block_frames)
    return window, window * OVERLAP_PER_64 // MAX_WINDOW


def sample_windows(rng: np.random.Generator, tokens: np.ndarray, music: np.ndarray, batch_size: int,
                   window: int, context_count: int, with_context: bool,
                   overlap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A batch of GPT windows: tokens (B, window, S), music (B, window, C), context (B, context_count, S) or None.

    With context, the window sits where a later window of a long generation sits: the previous window starts
    ``window - overlap`` frames earlier, and the context is ``context_count`` of its frames spaced evenly
    (``generators.xdancer.context_frames``), exactly as at generation time.
    """
    from ..generators.xdancer import context_frames

    length, stride = tokens.shape[1], window - overlap
    lowest = stride if with_context else 0
    if length < window + lowest:
        raise TrainingError(f"dataset segments have {length} frames; the GPT needs {window + lowest} for a window "
                            f"{'with its previous window ' if with_context else ''}. Rebuild the dataset with "
                            "--segment-frames of at least 2 x window.")
    segments = rng.integers(0, len(tokens), batch_size)
    starts = rng.integers(lowest, length - window + 1, batch_size)
    frames = starts[:, None] + np.arange(window)
    idx, feats = tokens[segments[:, None], frames], music[segments[:, None], frames]
    if not with_context:
        return idx, feats, None
    picks = np.stack([context_frames(start - stride, start - stride + window, context_count) for start in starts])
    return idx, feats, tokens[segments[:, None], picks]


def train_gpt(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings, config=None,
              tokenizer_dir: str | Path | None = None, init: str | Path | None = None,
              state_dir: str | Path | None = None,
              log: Callable[[str], None] = lambda message: None) -> dict[str, float]:
    """Train (or resume) the motion GPT on the tokenised dataset; returns the last step's losses.

    tokenizer_dir : trained tokenizer checkpoint (default ``OUT/tokenizer``); copied to ``OUT/tokenizer`` so the
                    output folder is a complete model.
    config        : MotionGPTConfig for a fresh model; its codebook_size, parts and music_dim must match the
                    tokenizer and the data (checked).
    """
    import torch

    gpt_module, vqvae = network_module("motion_gpt"), network_module("pose_vqvae")
    out_dir = Path(out_dir)
    tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else out_dir / TOKENIZER_DIR
    tokenizer, tok_config, _ = load_model(tokenizer_dir, vqvae.PoseVQVAEConfig, vqvae.PoseVQVAE)
    if tokenizer_dir.resolve() != (out_dir / TOKENIZER_DIR).resolve():
        shutil.copytree(tokenizer_dir, out_dir / TOKENIZER_DIR, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(STATE_DIR))
    data = load_dataset(data_dir)
    keep = data.has_music
    if not keep.any():
        raise TrainingError(f"dataset {data_dir} has no segments with music; the GPT learns music-to-motion. "
                            "Build it from clips with songs.")
    tokens = encode_dataset(tokenizer, data.poses[keep])
    stage = Stage(GPT_DIR, out_dir, state_dir, settings, log)
    torch.manual_seed(settings.seed)
    model, config, extra = _initial_model(stage, gpt_module.MotionGPTConfig, gpt_module.MotionGPT, config,
                                          Path(init) / GPT_DIR if init else None)
    _check_gpt_fits(config, tok_config, data.music.shape[-1])
    # the music normaliser of the model being continued, else this dataset's
    mean = extra["music_mean"].numpy() if "music_mean" in extra else np.asarray(data.info["music_mean"], np.float32)
    std = extra["music_std"].numpy() if "music_std" in extra else np.asarray(data.info["music_std"], np.float32)
    music = ((data.music[keep] - mean) / std).astype(np.float32)
    window, overlap = generation_window(config.block_frames)
    model, optimizer, device = _prepare(stage, model, settings)

    def batch_loss(network) -> dict:
        with_context = stage.rng.random() >= NO_CONTEXT_PROBABILITY
        idx, feats, context = sample_windows(stage.rng, tokens, music, settings.batch_size, window,
                                             config.motion_context_frames, with_context, overlap)
        idx = torch.from_numpy(idx).to(device)
        context = torch.from_numpy(context).to(device) if context is not None else None
        _, loss = network(idx, torch.from_numpy(feats).to(device), context, targets=idx)
        return {"total": loss}

    stage.log_line(f"gpt: {len(tokens)} segments, {sum(p.numel() for p in model.parameters())} parameters")
    extra = {"music_mean": torch.from_numpy(mean), "music_std": torch.from_numpy(std)}
    return _run(stage, model, config, optimizer, batch_loss, extra,
                {"stage": "gpt", "dataset": _dataset_summary(data, data_dir), "fps": data.info["fps"],
                 "music_extractor": data.info["music_extractor"], "window": window, "overlap": overlap})


def _check_gpt_fits(config, tok_config, music_dim: int) -> None:
    groups = len(tok_config.token_groups)
    if (config.codebook_size, config.num_parts, config.tokens_per_part) != (
            tok_config.codebook_size, groups, tok_config.tokens_per_group):
        raise TrainingError(f"GPT config (codebook {config.codebook_size}, {config.num_parts} parts x "
                            f"{config.tokens_per_part}) does not match the tokenizer (codebook "
                            f"{tok_config.codebook_size}, {groups} x {tok_config.tokens_per_group}).")
    if config.music_dim != music_dim:
        raise TrainingError(f"GPT music_dim is {config.music_dim}, the dataset's music features have {music_dim} "
                            "columns; use the same extractor as the model was trained with.")


def _dataset_summary(data: PoseDataset, data_dir: str | Path) -> dict:
    return {"path": str(data_dir), "segments": data.num_segments, "segment_frames": data.info["segment_frames"],
            "sources": data.info["sources"]}


# ---------------------------------------------------------------- fine-tuning and the demo


def finetune(init: str | Path, data_dir: str | Path, out_dir: str | Path, settings: TrainSettings,
             state_dir: str | Path | None = None,
             log: Callable[[str], None] = lambda message: None) -> dict[str, float]:
    """"Characterized choreography": the GPT of a trained model ``init`` trained further on a few clips.

    The tokenizer is kept (copied) so the new model's tokens mean the same poses; the music normaliser of
    ``init`` is kept too, so the clips are read on the scale the model learnt.
    """
    init = Path(init)
    return train_gpt(data_dir, out_dir, settings, tokenizer_dir=init / TOKENIZER_DIR, init=init,
                     state_dir=state_dir, log=log)


def demo_configs() -> tuple[Any, Any]:
    """Small tokenizer and GPT configs for the bundled demo (a few MB, minutes on a CPU)."""
    vqvae, gpt_module = network_module("pose_vqvae"), network_module("motion_gpt")
    tokenizer = vqvae.PoseVQVAEConfig(codebook_size=256, hidden=48, decoder_hidden=256, decoder_layers=2)
    gpt = gpt_module.MotionGPTConfig(codebook_size=256, n_layer=2, n_head=4, n_embd=64, block_frames=32,
                                     motion_context_frames=4, dropout=0.0)
    return tokenizer, gpt


# ---------------------------------------------------------------- command line


def _settings(args: argparse.Namespace, batch_size: int, lr: float) -> TrainSettings:
    return TrainSettings(steps=args.steps, batch_size=args.batch_size or batch_size, lr=args.lr or lr,
                         warmup_steps=min(args.warmup, max(1, args.steps // 10)), log_every=args.log_every,
                         save_every=args.save_every, seed=args.seed, mixed_precision=args.mixed_precision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.training.train_xdancer",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("tokenizer", "stage 1: the pose VQ-VAE"), ("gpt", "stage 2: the music-to-token GPT"),
                       ("finetune", "train a trained model's GPT further on a few clips"),
                       ("demo", "build synthetic data and train the small demo model")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--out", required=True, type=Path, help="model folder (tokenizer/ and gpt/)")
        sub.add_argument("--data", type=Path, help="dataset folder from choreo.datasets.pose_dataset")
        sub.add_argument("--steps", type=int, default=1000)
        sub.add_argument("--batch-size", type=int, default=0, help="default: 256 tokenizer, 16 gpt")
        sub.add_argument("--lr", type=float, default=0.0, help="default: 2e-4 tokenizer, 3e-4 gpt, 5e-5 finetune")
        sub.add_argument("--warmup", type=int, default=100)
        sub.add_argument("--log-every", type=int, default=10)
        sub.add_argument("--save-every", type=int, default=500)
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
        sub.add_argument("--state-dir", type=Path, help="optimizer/resume state (default OUT/training)")
        sub.add_argument("--init", type=Path, help="model folder to start from")
        sub.add_argument("--config", type=Path, help="JSON of config overrides for a fresh model")
        if name == "gpt":
            sub.add_argument("--tokenizer", type=Path, help="tokenizer checkpoint (default OUT/tokenizer)")
        if name == "demo":
            sub.add_argument("--count", type=int, default=96, help="synthetic dances")
            sub.add_argument("--tokenizer-steps", type=int, default=1500)
            sub.add_argument("--work", type=Path, default=Path("build/xdancer_demo"),
                             help="folder for the dataset and the training state")
    args = parser.parse_args(argv)
    log = lambda message: print(f"  {message}", flush=True)  # noqa: E731
    overrides = json.loads(args.config.read_text()) if args.config else {}
    try:
        if args.command == "tokenizer":
            config = network_module("pose_vqvae").PoseVQVAEConfig(**overrides)
            losses = train_tokenizer(_need(args.data), args.out, _settings(args, 256, 2e-4), config, args.init,
                                     args.state_dir, log)
        elif args.command == "gpt":
            config = network_module("motion_gpt").MotionGPTConfig(**overrides)
            losses = train_gpt(_need(args.data), args.out, _settings(args, 16, 3e-4), config, args.tokenizer,
                               args.init, args.state_dir, log)
        elif args.command == "finetune":
            if args.init is None:
                raise TrainingError("finetune needs --init, the trained model folder to start from.")
            losses = finetune(args.init, _need(args.data), args.out, _settings(args, 16, 5e-5), args.state_dir, log)
        else:
            losses = train_demo(args, log)
    except ChoreoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"done: {args.out} " + " ".join(f"{key} {value:.4f}" for key, value in losses.items()))
    return 0


def train_demo(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, float]:
    """The bundled demo: both stages at demo size, only the weights left in ``--out``; on ``--data`` (e.g. the
    dance engine's ``xdancer/train``), else on synthetic choreographer data built in ``--work``."""
    data_dir = args.data or args.work / "data"
    if args.data is None and not (data_dir / "dataset.json").is_file():
        build_dataset("synthetic", data_dir, count=args.count, seed=args.seed, log=log)
    tokenizer_config, gpt_config = demo_configs()
    tokenizer_settings = TrainSettings(steps=args.tokenizer_steps, batch_size=256, lr=1e-3, warmup_steps=50,
                                       log_every=args.log_every, save_every=args.save_every, seed=args.seed)
    train_tokenizer(data_dir, args.out, tokenizer_settings, tokenizer_config, state_dir=args.work / "state", log=log)
    gpt_settings = TrainSettings(steps=args.steps, batch_size=args.batch_size or 8, lr=args.lr or 1e-3,
                                 warmup_steps=50, log_every=args.log_every, save_every=args.save_every,
                                 seed=args.seed)
    return train_gpt(data_dir, args.out, gpt_settings, gpt_config, state_dir=args.work / "state", log=log)


def _need(data: Path | None) -> Path:
    if data is None:
        raise TrainingError("--data is required: a dataset folder built with choreo.datasets.pose_dataset.")
    return data


if __name__ == "__main__":
    sys.exit(main())
