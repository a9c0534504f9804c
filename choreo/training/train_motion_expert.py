"""Train a Motion Expert (MACE-Dance or EDGE) and write a Choreo checkpoint folder.

    python -m choreo.training.train_motion_expert --family mace --data synthetic:24 --out runs/mace \\
        --steps 2000 --batch 32 [--resume] [--export DIR]

``--data`` is ``synthetic[:NUM_CLIPS]`` (the beat choreographer, ``choreo.datasets.synthetic``),
``aistpp:PATH`` or ``finedance:PATH``. The run folder ``--out`` holds ``windows.npz`` (the
training slices, so a resumed run sees the same data), ``training_state/`` (raw and EMA weights,
optimiser state and RNG as safetensors, the step counter in ``state.json``: nothing pickled),
``train_log.jsonl`` (losses) and ``checkpoint/`` (EMA weights + normaliser, what inference loads).

Objective (``choreo.generators.diffusion``): x0 prediction on the cosine schedule with EDGE's
losses (simple, velocity, FK, foot contact). EDGE trains classifier-free guidance by dropping the
music with probability ``cond_dropout``. MACE trains guidance-free (Chen et al. 2025, "Visual
Generation Without Guidance", as used by MACE-Dance): per sample beta ~ U(0, 1) and the prediction
that meets the loss is ``beta * f(x, c, beta) + (1 - beta) * stopgrad(f(x, null, beta))``
(models.md 2.1); samples whose music is dropped (``cond_dropout``) train ``f(x, null, beta)``
directly, so the unconditional branch is learned too. At inference one pass of ``f(x, c, beta)``
acts like classifier-free guidance of weight 1 / beta. A share ``GENRE_DROPOUT`` of MACE samples sees the
"unknown" genre (the last index), which inference uses when no genre is given.

Optimiser: AdamW (EDGE and MACE use Adan, which is not on PyPI), weight decay 0.02; ``accelerate``
places everything and averages gradients over processes (``accelerate launch`` for multi-GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ChoreoError
from ..music.features import EXTRACTORS
from .state_files import load_optimizer, save_json, save_optimizer, save_tensors

LOG = logging.getLogger("choreo.training")
FAMILIES = ("mace", "edge")
EXPORT_DTYPES = ("float32", "float16", "bfloat16")  # of the exported weights (--export-dtype float16 halves a demo)
STATE_DIR = "training_state"
WINDOWS_FILE = "windows.npz"
# MACE: share of samples trained with the "unknown" genre index, so genre "auto" works at inference.
GENRE_DROPOUT = 0.1


@dataclass(frozen=True)
class TrainOptions:
    """Everything a run depends on; saved in state.json and the checkpoint metadata."""

    family: str
    data: str
    out: str
    steps: int = 1000
    batch: int = 32
    lr: float = 4e-4
    weight_decay: float = 0.02
    ema_decay: float = 0.9999
    seed: int = 42
    latent_dim: int = 512
    ff_dim: int = 1024
    num_layers: int = 8
    num_heads: int = 8
    music_encoder_layers: int = 2
    d_state: int = 16
    window_frames: int = 150
    stride_frames: int = 15
    clip_seconds: float = 10.0
    cond_dropout: float = 0.25
    log_every: int = 10
    save_every: int = 100
    export: str = ""
    export_dtype: str = "float32"
    extractor: str = "edge_librosa"  # music features (edge_librosa_beats adds the phase of Analyze Music's beats)
    music_in_motion_tokens: bool = False  # frame-aligned music path (models/edge.py, models/mace.py)
    demo: bool = False
    threads: int = 0


def load_clips(data: str, seed: int, clip_seconds: float, extractor: str = "edge_librosa"):
    """(clips, genre names) for a ``--data`` spec, with ``extractor``'s music features.

    A beat-aware extractor takes its beats from ``analyze_music`` of each clip's audio, as a user's
    Analyze Music gives them at inference (the dance engine's dances followed the same analysis).
    """
    kind, _, argument = data.partition(":")
    if kind == "synthetic":
        from ..datasets.synthetic import GENRES, synthetic_dataset

        return synthetic_dataset(int(argument or 16), seed=seed, duration_s=clip_seconds, extractor=extractor), GENRES
    if kind == "aistpp":
        from ..datasets.aistpp import GENRES, load_aistpp

        return load_aistpp(argument, extractor=extractor), GENRES
    if kind == "finedance":
        from ..datasets.finedance import GENRES, load_finedance

        return load_finedance(argument, extractor=extractor), GENRES
    raise ChoreoError(f"--data must be synthetic[:N], aistpp:PATH or finedance:PATH, got {data!r}.")


def build_config(options: TrainOptions, music_dim: int, num_genres: int):
    """The network config for ``options`` (MACE gets one extra genre index: "unknown")."""
    from ..networks import network_module

    sizes = dict(music_dim=music_dim, latent_dim=options.latent_dim, ff_dim=options.ff_dim,
                 num_layers=options.num_layers, num_heads=options.num_heads, horizon=options.window_frames,
                 cond_dropout=options.cond_dropout, music_in_motion_tokens=options.music_in_motion_tokens)
    if options.family == "edge":
        return network_module("edge").EDGEConfig(**sizes)
    return network_module("mace").MACEConfig(**sizes, num_genres=num_genres + 1, d_state=options.d_state,
                                             music_encoder_layers=options.music_encoder_layers)


def _windows(options: TrainOptions, run: Path):
    """Training slices, made once per run and cached in ``windows.npz`` (no pickles)."""
    from ..datasets.windows import WindowSet, make_windows

    path = run / WINDOWS_FILE
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            genres = tuple(str(name) for name in data["genre_names"])
            return WindowSet(data["motion"], data["music"], data["genre"], float(data["fps"]),
                             tuple(str(n) for n in data["names"])), genres
    clips, genres = load_clips(options.data, options.seed, options.clip_seconds, options.extractor)
    windows = make_windows(clips, options.window_frames, options.stride_frames)
    run.mkdir(parents=True, exist_ok=True)
    np.savez(path, motion=windows.motion, music=windows.music, genre=windows.genre, fps=np.float64(windows.fps),
             names=np.asarray(windows.names), genre_names=np.asarray(genres))
    return windows, tuple(genres)


def training_prediction(family: str, network, x_t, t, music, genre, cond_dropout: float, generator):
    """The x0 prediction that meets the loss: EDGE with condition dropout, MACE guidance-free (module docstring)."""
    import torch

    batch = x_t.shape[0]
    keep = torch.rand(batch, generator=generator).to(x_t.device) >= cond_dropout
    if family == "edge":
        return network(x_t, t, music, keep)
    beta = torch.rand(batch, generator=generator).to(x_t.device)
    unknown = torch.rand(batch, generator=generator).to(x_t.device) < GENRE_DROPOUT
    genre = torch.where(unknown, torch.full_like(genre, network_config(network).num_genres - 1), genre)
    with torch.no_grad():
        uncond = network(x_t, t, music, beta, genre, torch.zeros(batch, dtype=torch.bool, device=x_t.device))
    cond = network(x_t, t, music, beta, genre, keep)
    weight = beta.to(cond.dtype)[:, None, None]
    return torch.where(keep[:, None, None], weight * cond + (1 - weight) * uncond, cond)


def network_config(network):
    """The config of a possibly wrapped (DDP) network."""
    return getattr(network, "module", network).config


def _save_state(directory: Path, step: int, network, ema, optimizer, generator, options: TrainOptions) -> None:
    """Raw + EMA weights, optimiser tensors and RNG as safetensors; scalars and step in state.json (last)."""
    directory.mkdir(parents=True, exist_ok=True)
    save_tensors(network.state_dict(), directory / "model.safetensors")
    save_tensors(ema.state_dict(), directory / "ema.safetensors")
    save_optimizer(optimizer, directory / "optimizer.safetensors")
    save_tensors({"generator": generator.get_state()}, directory / "rng.safetensors")
    save_json({"step": step, "options": dataclasses.asdict(options)}, directory / "state.json")


def _load_state(directory: Path, network, ema, optimizer, generator) -> int:
    from safetensors.torch import load_file

    if not (directory / "rng.safetensors").is_file():
        raise ChoreoError(f"{directory} was written by an older Choreo trainer and cannot be resumed; train into a "
                          "new --out folder (its checkpoint/ folder still loads).")
    document = json.loads((directory / "state.json").read_text())
    network.load_state_dict(load_file(str(directory / "model.safetensors")))
    ema.load_state_dict(load_file(str(directory / "ema.safetensors")))
    load_optimizer(optimizer, directory / "optimizer.safetensors")
    generator.set_state(load_file(str(directory / "rng.safetensors"))["generator"])
    return int(document["step"])


def train(options: TrainOptions) -> Path:
    """Run (or resume) training; returns the checkpoint folder. See the module docstring."""
    import torch
    from accelerate import Accelerator

    from ..checkpoints import save_checkpoint
    from ..networks import network_module
    from ..generators.diffusion import EMA, CosineSchedule, edge_losses, q_sample
    from ..generators.normalizer import MinMaxNormalizer
    from ..generators.torch_kinematics import edge_joint_positions

    if options.family not in FAMILIES:
        raise ChoreoError(f"--family must be one of {FAMILIES}, got {options.family!r}.")
    if options.extractor not in EXTRACTORS:
        raise ChoreoError(f"--extractor must be one of {sorted(EXTRACTORS)}, got {options.extractor!r}.")
    if options.export_dtype not in EXPORT_DTYPES:
        raise ChoreoError(f"--export-dtype must be one of {EXPORT_DTYPES}, got {options.export_dtype!r}.")
    run = Path(options.out)
    if options.threads > 0:
        torch.set_num_threads(options.threads)
    accelerator = Accelerator()
    torch.manual_seed(options.seed)
    windows, genres = _windows(options, run)
    normalizer = MinMaxNormalizer.fit(torch.from_numpy(windows.motion))
    motion = normalizer.normalize(torch.from_numpy(windows.motion)).to(accelerator.device)
    music = torch.from_numpy(windows.music).to(accelerator.device)
    genre = torch.from_numpy(windows.genre).to(accelerator.device)
    config = build_config(options, windows.music.shape[-1], len(genres))
    module = network_module(options.family)
    network = (module.EDGEDenoiser if options.family == "edge" else module.MACEDenoiser)(config)
    ema = EMA(network, options.ema_decay)
    optimizer = torch.optim.AdamW(network.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    generator = torch.Generator().manual_seed(options.seed + accelerator.process_index)
    step = 0
    state_dir = run / STATE_DIR
    if (state_dir / "state.json").is_file():
        step = _load_state(state_dir, network, ema, optimizer, generator)
        LOG.info("resumed %s at step %d", run, step)
    network, optimizer = accelerator.prepare(network, optimizer)
    ema.module.to(accelerator.device)
    schedule = CosineSchedule()
    scale, offset = normalizer.scale.to(accelerator.device), normalizer.min.to(accelerator.device)

    def joints(x):
        return edge_joint_positions((x.clamp(-1, 1) - offset) / scale)

    log_path = run / "train_log.jsonl"
    started = time.time()
    network.train()
    while step < options.steps:
        index = torch.randint(0, len(motion), (options.batch,), generator=generator).to(accelerator.device)
        x0, cond, genre_batch = motion[index], music[index], genre[index]
        t = torch.randint(0, schedule.num_steps, (options.batch,), generator=generator).to(accelerator.device)
        noise = torch.randn(x0.shape, generator=generator).to(accelerator.device)
        x_t = q_sample(x0, t, noise, schedule)
        prediction = training_prediction(options.family, network, x_t, t, cond, genre_batch, options.cond_dropout,
                                         generator)
        losses = edge_losses(prediction, x0, joints)
        accelerator.backward(losses.total)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update(accelerator.unwrap_model(network))
        step += 1
        if step % options.log_every == 0 or step == options.steps:
            record = {"step": step, "seconds": round(time.time() - started, 2),
                      **{name: float(getattr(losses, name).detach())
                         for name in ("total", "simple", "velocity", "fk", "foot")}}
            LOG.info(json.dumps(record))
            if accelerator.is_main_process:
                with log_path.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
        if accelerator.is_main_process and (step % options.save_every == 0 or step == options.steps):
            _save_state(state_dir, step, accelerator.unwrap_model(network), ema, optimizer, generator, options)
    checkpoint = run / "checkpoint"
    if accelerator.is_main_process:
        metadata = {"family": options.family, "data": options.data, "steps": step, "demo": options.demo,
                    "fps": windows.fps, "genres": list(genres), "extractor": options.extractor,
                    "genres_seen": [genres[index] for index in np.unique(windows.genre)],
                    "num_windows": len(windows), "options": dataclasses.asdict(options)}
        save_checkpoint(checkpoint, ema.module, config, extra=normalizer.to_extra(), metadata=metadata)
        if options.export:
            save_checkpoint(options.export, ema.module, config, extra=normalizer.to_extra(), metadata=metadata,
                            weights_dtype=getattr(torch, options.export_dtype))
    return checkpoint


def _parse_flag(text: str) -> bool:
    """A yes/no option as 1/0 or true/false (``bool("0")`` would be True)."""
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected 1 or 0, got {text!r}")


def parse_args(argv: list[str] | None = None) -> TrainOptions:
    defaults = TrainOptions(family="mace", data="synthetic", out="")
    parser = argparse.ArgumentParser(prog="python -m choreo.training.train_motion_expert",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=FAMILIES, required=True)
    parser.add_argument("--data", required=True, help="synthetic[:NUM_CLIPS] | aistpp:PATH | finedance:PATH")
    parser.add_argument("--out", required=True, help="run folder (state, logs, checkpoint/)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/training_state (required when OUT already holds a run)")
    parser.add_argument("--demo", action="store_true", help="mark the checkpoint as a demo in its metadata")
    for field in dataclasses.fields(TrainOptions):
        if field.name in ("family", "data", "out", "demo"):
            continue
        default = getattr(defaults, field.name)
        parser.add_argument("--" + field.name.replace("_", "-"), default=default,
                            type=_parse_flag if isinstance(default, bool) else type(default))
    args = parser.parse_args(argv)
    values = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainOptions)}
    if (Path(args.out) / STATE_DIR / "state.json").is_file() and not args.resume:
        parser.error(f"{args.out} already holds a run; pass --resume to continue it or choose another --out.")
    return TrainOptions(**values)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = parse_args(argv)
    LOG.info("command: python -m choreo.training.train_motion_expert %s", shlex.join(argv or sys.argv[1:]))
    LOG.info("checkpoint: %s", train(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
