"""Train (or fine-tune) MusicInfuser's adapter on dance videos with their music, and write it in the official layout.

    python -m choreo.training.train_musicinfuser encode --mochi MOCHI_DIR --wav2vec2 W2V_DIR \\
        --videos VIDEOS_DIR --out CLIPS_DIR [--frames 73 --width 848 --height 480 --prompt "..."]
    python -m choreo.training.train_musicinfuser train --mochi MOCHI_DIR --data CLIPS_DIR --out RUN_DIR \\
        [--steps 4000 --lr 1e-4 --init musicinfuser.safetensors --resume]

``encode`` turns every dance video (the dataset builder's video path: ffmpeg frames at 30 fps, its sound track
through ``extract_audio``) into one ``<stem>.safetensors`` of training tensors: ``latents`` (C, T, h, w), Mochi's
VAE posterior mean, normalised as the sampler's latents are; ``music`` (T_a, 768) Wav2Vec2 tokens of the first
``frames / 30 + 0.09`` s; ``prompt_embeds`` (L, 4096) and ``prompt_mask`` (L,) from T5 (the prompt is
``<stem>.txt`` beside the video, else ``--prompt``). Encoding needs the whole Mochi folder; training only its
``transformer/``.

``train`` follows the official ``music_infuser/train.py``: the flow objective (x_sigma = (1 - sigma) x0 +
sigma noise, target x0 - noise, MSE), sigma ~ Beta(1, b) with b = 1 + (3 - 1) 2^(-step / 200) (the paper's
beta-uniform schedule: low noise first, uniform after a few hundred steps), caption dropout 0.1 (text tokens and
mask zeroed), AdamW lr 1e-4 with 200 warm-up steps then cosine, and only LoRA + ZICA + the audio projector
(+ our beat projection) trainable. The run folder holds ``training_state/`` (adapter, optimiser, RNG as
safetensors, the step in ``state.json`` written last: nothing pickled), ``train_log.jsonl`` and the result
``musicinfuser.safetensors`` in the official layout (the official code and ``ChoreoLoadMusicInfuser`` load it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChoreoError
from .state_files import load_optimizer, save_json, save_optimizer, save_tensors

LOG = logging.getLogger("choreo.training")
STATE_DIR = "training_state"
RESULT_FILE = "musicinfuser.safetensors"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")


def beta_b(step: int, b_start: float = 3.0, half_life_steps: float = 200.0) -> float:
    """b of the noise distribution Beta(1, b) at ``step``: ``1 + (b_start - 1) * 2^(-step / half_life)``."""
    return 1.0 + (b_start - 1.0) * 2.0 ** (-step / half_life_steps)


def learning_rate_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up to 1, then cosine to 0 at ``total_steps`` (the official schedule)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))


# --- encoding videos into training tensors ---------------------------------------------------------------------

@dataclass(frozen=True)
class Encoders:
    """What encoding needs: a MochiPipeline without its transformer (VAE, T5, tokenizer) and the music encoder."""

    pipe: object
    music_encoder: object
    dtype: object
    max_sequence_length: int = 256  # Mochi's T5 token count


def load_encoders(mochi: str | Path, wav2vec2: str | Path, dtype="bf16") -> Encoders:
    """Mochi's VAE (fp32) and T5 (``dtype``) and Wav2Vec2, without the 10B transformer."""
    import torch
    from diffusers import MochiPipeline
    from transformers import Wav2Vec2Model

    from ..generators.musicinfuser import resolve_dtype
    from ..networks import network_module

    torch_dtype = resolve_dtype(dtype)
    pipe = MochiPipeline.from_pretrained(str(mochi), transformer=None, dtype=torch_dtype, use_safetensors=True)
    pipe.vae.to(torch.float32)
    wav2vec2 = Wav2Vec2Model.from_pretrained(str(wav2vec2), dtype=torch.float32, use_safetensors=True).eval()
    return Encoders(pipe, network_module("musicinfuser").MusicEncoder(wav2vec2), torch_dtype)


def encode_clip(encoders: Encoders, frames, audio, prompt: str, analysis=None) -> dict:
    """Training tensors of one clip.

    frames   : (F, H, W, 3) uint8 RGB at 30 fps, F = 6k + 1, H and W multiples of 16.
    audio    : ``choreo.music.audio.Audio`` starting with the first frame.
    analysis : optional ``MusicAnalysis`` of ``audio``; adds ``beats`` (T_a, 2) for ``--beat-channels 2``.
    """
    import numpy as np
    import torch

    from ..generators.musicinfuser import beat_channels, check_request, music_clip_16k

    num_frames = len(frames)
    check_request(num_frames, frames.shape[2], frames.shape[1], audio.duration_s)
    pipe, dtype = encoders.pipe, encoders.dtype
    vae = pipe.vae
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    with torch.no_grad():
        posterior = vae.encode(video.to(vae.dtype)).latent_dist.mean.float()
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
        latents = (posterior - mean) * vae.config.scaling_factor / std  # the sampler's latent space
        music = encoders.music_encoder(torch.from_numpy(music_clip_16k(audio, num_frames))[None])
        text, mask, _, _ = pipe.encode_prompt(prompt=prompt, do_classifier_free_guidance=False,
                                              max_sequence_length=encoders.max_sequence_length,
                                              device=torch.device("cpu"), dtype=dtype)
    tensors = {"latents": latents[0], "music": music[0].float(), "prompt_embeds": text[0].float(),
               "prompt_mask": mask[0].to(torch.uint8)}
    if analysis is not None:
        tensors["beats"] = torch.from_numpy(beat_channels(analysis, music.shape[1]))
    return tensors


def read_video_frames(path: Path, num_frames: int, width: int, height: int):
    """The first ``num_frames`` frames at 30 fps, scaled and centre-cropped to ``width`` x ``height`` (uint8)."""
    import imageio_ffmpeg
    import numpy as np

    scale = (f"fps=30,scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}")
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-vf", scale])
    next(reader)
    frames = []
    for raw in reader:
        frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
        if len(frames) == num_frames:
            break
    reader.close()
    if len(frames) < num_frames:
        raise ChoreoError(f"{path.name} has {len(frames)} frames at 30 fps, fewer than the {num_frames} asked for; "
                          "use shorter clips (--frames) or skip it.")
    return np.stack(frames)


def encode_videos(encoders: Encoders, videos: Path, out: Path, num_frames: int, width: int, height: int, prompt: str,
                  with_beats: bool = False) -> int:
    """Encode every video under ``videos`` into ``out/<stem>.safetensors``; returns how many were written.

    with_beats : also store our beat analysis's beat/downbeat channels (for ``--beat-channels 2``).
    """
    from ..datasets.pose_dataset import extract_audio
    from ..music.analyze import analyze_music

    files = sorted(p for p in Path(videos).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise ChoreoError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) under {videos}.")
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        caption = path.with_suffix(".txt")
        text = caption.read_text().strip() if caption.is_file() else prompt
        audio = extract_audio(path)
        analysis = analyze_music(audio) if with_beats else None
        tensors = encode_clip(encoders, read_video_frames(path, num_frames, width, height), audio, text, analysis)
        save_tensors(tensors, out / f"{path.stem}.safetensors", metadata={"prompt": text, "source": path.name})
        LOG.info("encoded %s", path.name)
    return len(files)


# --- training --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainOptions:
    """Everything a run depends on; saved in state.json."""

    mochi: str
    data: str
    out: str
    init: str = ""  # an existing musicinfuser.safetensors to fine-tune; empty = fresh (zero ZICA, zero LoRA B)
    steps: int = 4000
    lr: float = 1e-4
    warmup_steps: int = 200
    caption_dropout: float = 0.1
    beta_start: float = 3.0
    beta_half_life_steps: float = 200.0
    lora_rank: int = 64
    zica_blocks: str = "6,7,8,9,10,21,34,35,36,38,39,43,44,45,46,47"
    beat_channels: int = 0
    dtype: str = "bf16"
    gradient_checkpointing: bool = True
    seed: int = 42
    log_every: int = 10
    save_every: int = 500


def load_clips(folder: str | Path) -> list[dict]:
    """Every encoded clip in ``folder`` (see ``encode``); a ChoreoError when there are none or one is incomplete."""
    from safetensors.torch import load_file

    paths = sorted(Path(folder).glob("*.safetensors"))
    if not paths:
        raise ChoreoError(f"no encoded clips (*.safetensors) in {folder}; run the 'encode' command first.")
    clips = []
    for path in paths:
        clip = load_file(str(path))
        missing = {"latents", "music", "prompt_embeds", "prompt_mask"} - set(clip)
        if missing:
            raise ChoreoError(f"{path.name} lacks {sorted(missing)}; it was not written by the 'encode' command.")
        clips.append(clip)
    return clips


def build_model(options: TrainOptions):
    """Mochi's transformer from ``options.mochi`` with a fresh or ``options.init`` MusicInfuser adapter."""
    from diffusers import MochiTransformer3DModel

    from ..generators.musicinfuser import resolve_dtype
    from ..generators.musicinfuser_checkpoint import config_from_file, official_to_choreo, read_musicinfuser_file
    from ..networks import network_module

    networks = network_module("musicinfuser")
    dtype = resolve_dtype(options.dtype)
    transformer = MochiTransformer3DModel.from_pretrained(str(Path(options.mochi) / "transformer"), dtype=dtype,
                                                          use_safetensors=True)
    if options.init:
        tensors, metadata = read_musicinfuser_file(options.init)
        config = config_from_file(tensors, metadata, transformer.config.num_layers)
        model = networks.MusicInfuser(transformer, config)
        model.load_state_dict(official_to_choreo(tensors, model), strict=False)
    else:
        blocks = tuple(int(b) for b in options.zica_blocks.split(",") if b.strip())
        width = transformer.config.num_attention_heads * transformer.config.attention_head_dim
        config = networks.MusicInfuserConfig(projector_hidden_dim=width, zica_blocks=blocks,
                                             lora_rank=options.lora_rank, lora_alpha=float(options.lora_rank),
                                             beat_channels=options.beat_channels)
        model = networks.MusicInfuser(transformer, config)
    model.to(dtype)
    for name, parameter in model.named_parameters():  # adapter weights train in fp32 (as the official LoRA)
        if ".lora_" in name or not name.startswith("transformer."):
            parameter.data = parameter.data.float()
    model.gradient_checkpointing = options.gradient_checkpointing
    return model


def training_loss(model, clip: dict, step: int, options: TrainOptions, generator):
    """The flow-matching MSE of one clip at a Beta(1, b(step)) noise level, with caption dropout."""
    import torch

    device = next(model.parameters()).device
    x0 = clip["latents"][None].float().to(device)
    text, mask = clip["prompt_embeds"][None], clip["prompt_mask"][None].bool()
    if torch.rand((), generator=generator) < options.caption_dropout:
        text, mask = torch.zeros_like(text), torch.zeros_like(mask)
    b = beta_b(step, options.beta_start, options.beta_half_life_steps)
    uniform = torch.rand((), generator=generator)
    sigma = float(1.0 - (1.0 - uniform) ** (1.0 / b))  # inverse CDF of Beta(1, b)
    noise = torch.randn(x0.shape, generator=generator).to(device)
    x_sigma = (1.0 - sigma) * x0 + sigma * noise
    dtype = model.transformer.dtype
    timestep = torch.full((1,), 1000.0 * (1.0 - sigma), device=device, dtype=dtype)
    beats = clip.get("beats")
    prediction = model(x_sigma.to(dtype), text.to(device, dtype), timestep, mask.to(device),
                       clip["music"][None].to(device, dtype), None if beats is None else beats[None].to(device))
    return torch.nn.functional.mse_loss(prediction.float(), x0 - noise)


def _save_state(directory: Path, step: int, model, optimizer, generator, options: TrainOptions) -> None:
    from ..generators.musicinfuser_checkpoint import adapter_state, choreo_to_official

    directory.mkdir(parents=True, exist_ok=True)
    save_tensors(choreo_to_official(adapter_state(model)), directory / "adapter.safetensors")  # one A per fused QKV
    save_optimizer(optimizer, directory / "optimizer.safetensors")
    save_tensors({"generator": generator.get_state()}, directory / "rng.safetensors")
    save_json({"step": step, "options": dataclasses.asdict(options)}, directory / "state.json")


def _load_state(directory: Path, model, optimizer, generator) -> int:
    from safetensors.torch import load_file

    from ..generators.musicinfuser_checkpoint import official_to_choreo

    model.load_state_dict(official_to_choreo(load_file(str(directory / "adapter.safetensors")), model), strict=False)
    load_optimizer(optimizer, directory / "optimizer.safetensors")
    generator.set_state(load_file(str(directory / "rng.safetensors"))["generator"])
    return int(json.loads((directory / "state.json").read_text())["step"])


def train(options: TrainOptions) -> Path:
    """Run (or resume) training; returns the written ``musicinfuser.safetensors``. See the module docstring."""
    import torch
    from accelerate import Accelerator

    from ..generators.musicinfuser_checkpoint import save_musicinfuser_file

    run = Path(options.out)
    clips = load_clips(options.data)
    accelerator = Accelerator()
    torch.manual_seed(options.seed)
    model = build_model(options)
    parameters = model.trainable_parameters()
    optimizer = torch.optim.AdamW(parameters, lr=options.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, options.warmup_steps, options.steps))
    generator = torch.Generator().manual_seed(options.seed + accelerator.process_index)
    step, state_dir = 0, run / STATE_DIR
    if (state_dir / "state.json").is_file():
        step = _load_state(state_dir, model, optimizer, generator)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", options.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: learning_rate_factor(step, options.warmup_steps, options.steps),
            last_epoch=step - 1)
        LOG.info("resumed %s at step %d", run, step)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    run.mkdir(parents=True, exist_ok=True)
    started = time.time()
    while step < options.steps:
        clip = clips[int(torch.randint(0, len(clips), (1,), generator=generator))]
        loss = training_loss(accelerator.unwrap_model(model), clip, step, options, generator)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if accelerator.is_main_process and (step % options.log_every == 0 or step == options.steps):
            record = {"step": step, "loss": float(loss.detach()), "lr": scheduler.get_last_lr()[0],
                      "seconds": round(time.time() - started, 2)}
            LOG.info(json.dumps(record))
            with (run / "train_log.jsonl").open("a") as handle:
                handle.write(json.dumps(record) + "\n")
        if accelerator.is_main_process and (step % options.save_every == 0 or step == options.steps):
            _save_state(state_dir, step, accelerator.unwrap_model(model), optimizer, generator, options)
    return save_musicinfuser_file(accelerator.unwrap_model(model), run / RESULT_FILE)


# --- command line ----------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(prog="python -m choreo.training.train_musicinfuser",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    encode = commands.add_parser("encode", help="dance videos -> training tensors")
    encode.add_argument("--mochi", required=True, help="Mochi-1-preview diffusers folder")
    encode.add_argument("--wav2vec2", required=True, help="facebook/wav2vec2-base-960h folder")
    encode.add_argument("--videos", required=True)
    encode.add_argument("--out", required=True)
    encode.add_argument("--frames", type=int, default=73)
    encode.add_argument("--width", type=int, default=848)
    encode.add_argument("--height", type=int, default=480)
    encode.add_argument("--prompt", default="a person dancing")
    encode.add_argument("--dtype", default="bf16")
    encode.add_argument("--beats", action="store_true", help="store beat/downbeat channels (--beat-channels 2)")
    fit = commands.add_parser("train", help="train the adapter on encoded clips")
    fit.add_argument("--resume", action="store_true", help="continue OUT/training_state (required if it exists)")
    defaults = TrainOptions(mochi="", data="", out="")
    for field in dataclasses.fields(TrainOptions):
        value = getattr(defaults, field.name)
        kind = (lambda text: text.lower() in ("1", "true", "yes")) if isinstance(value, bool) else type(value)
        fit.add_argument("--" + field.name.replace("_", "-"), type=kind, default=value,
                         required=field.name in ("mochi", "data", "out"))
    args = parser.parse_args(argv)
    if args.command == "train":
        if (Path(args.out) / STATE_DIR / "state.json").is_file() and not args.resume:
            parser.error(f"{args.out} already holds a run; pass --resume to continue it or choose another --out.")
        return TrainOptions(**{field.name: getattr(args, field.name) for field in dataclasses.fields(TrainOptions)})
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = parse_args(argv)
    if isinstance(options, TrainOptions):
        LOG.info("wrote %s", train(options))
        return 0
    encoders = load_encoders(options.mochi, options.wav2vec2, options.dtype)
    count = encode_videos(encoders, Path(options.videos), Path(options.out), options.frames, options.width,
                          options.height, options.prompt, options.beats)
    LOG.info("encoded %d videos into %s", count, options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
