"""Two-stage trainer of the X-Dancer renderer (Chen et al. 2025, §4 "Training", diffusion stage).

* ``stage1`` (image stage): pairs of frames from one video — one is the reference, the other the
  target — train the ReferenceNet and the motion-token decoder (frames are single-frame windows);
  ``--train-denoising-unet`` also fine-tunes the spatial denoising UNet, as the paper does (the
  checkpoint then carries it in ``denoising_unet/``).
* ``stage2`` (video stage): consecutive ``--num-frames`` (16) frames train the AnimateDiff motion
  modules together with the decoder; the ReferenceNet (and spatial UNet) stay frozen.

Loss: the scheduler's target (epsilon or v) MSE; the conditioning embedding is dropped with
``condition_dropout`` for classifier-free guidance. Runs under ``accelerate`` (``accelerate launch -m
choreo.render.xdancer.training ...`` for several GPUs, mixed precision). Resumable: ``--resume`` reads
``<output>/training_state/`` (``choreo.training.state_files``: trainable weights, AdamW moments and the torch
random states as safetensors, step and batch-sampler state in ``state.json``, each file written atomically and
``state.json`` last), so a resumed run continues exactly where an uninterrupted one would be.

Data: a folder of ``*.npz`` clips with ``frames`` (T, H, W, 3) uint8, ``tokens`` (T, 5, 6) int
(X-Dancer tokenizer codes of each frame's pose) and ``confidence`` (T, 60) float.

Example::

    python -m choreo.render.xdancer.training stage1 --base-model sd15/ --data clips/ --output runs/xd --steps 30000
    python -m choreo.render.xdancer.training stage2 --base-model sd15/ --motion-module v3_sd15_mm.ckpt \\
        --init runs/xd --data clips/ --output runs/xd2 --steps 60000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...checkpoints import CheckpointError
from ...errors import ChoreoError
from ...training.state_files import load_optimizer, save_json, save_optimizer, save_tensors
from . import loading
from .pipeline import XDancerComponents, clip_image_embeds, predict_noise, record_reference

STATE_DIR = "training_state"
STAGES = ("stage1", "stage2")


class TrainingDataError(ChoreoError):
    """The training clips are missing or malformed."""


@dataclass(frozen=True)
class Clip:
    """One training video: frames (T, H, W, 3) uint8, tokens (T, 5, 6) int64, confidence (T, 60) float32."""

    frames: np.ndarray
    tokens: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class TrainSettings:
    stage: str = "stage1"
    steps: int = 1000
    learning_rate: float = 1e-5
    batch_size: int = 1
    num_frames: int = 16  # stage-2 window (stage 1 uses single frames)
    height: int = 512  # frames are resized to height x width px
    width: int = 512
    condition_dropout: float = 0.1  # probability of the null conditioning (for classifier-free guidance)
    train_denoising_unet: bool = False  # stage 1: also fine-tune the spatial denoising UNet (as the paper)
    save_every: int = 1000
    seed: int = 0
    mixed_precision: str = "no"
    gradient_accumulation_steps: int = 1


def load_clips(folder: str | Path) -> list[Clip]:
    """Every ``*.npz`` clip in ``folder`` (layout in the module docstring)."""
    paths = sorted(Path(folder).glob("*.npz"))
    if not paths:
        raise TrainingDataError(f"no *.npz clips in {folder}; each clip needs frames, tokens and confidence arrays.")
    clips = []
    for path in paths:
        with np.load(path) as data:
            missing = {"frames", "tokens", "confidence"} - set(data.files)
            if missing:
                raise TrainingDataError(f"{path} lacks {sorted(missing)}; it has {sorted(data.files)}.")
            clip = Clip(data["frames"], data["tokens"].astype(np.int64), data["confidence"].astype(np.float32))
        if not clip.frames.shape[0] == clip.tokens.shape[0] == clip.confidence.shape[0]:
            raise TrainingDataError(f"{path}: frames, tokens and confidence have different frame counts "
                                    f"({clip.frames.shape[0]}, {clip.tokens.shape[0]}, {clip.confidence.shape[0]}).")
        clips.append(clip)
    return clips


def sample_batch(clips: Sequence[Clip], settings: TrainSettings, rng: np.random.Generator) -> dict:
    """A random batch: reference (B, 3, H, W) and target (B, 3, F, H, W) in -1..1, tokens (B, F, 5, 6), confidence.

    Stage 1: F = 1, reference and target two random frames of one clip. Stage 2: F consecutive frames
    and a random reference frame of the same clip.
    """
    import torch
    import torch.nn.functional as F

    frames_needed = 1 if settings.stage == "stage1" else settings.num_frames
    usable = [clip for clip in clips if clip.frames.shape[0] >= max(frames_needed, 2)]
    if not usable:
        raise TrainingDataError(f"no clip has the {max(frames_needed, 2)} frames that {settings.stage} needs.")
    references, targets, tokens, confidences = [], [], [], []
    for _ in range(settings.batch_size):
        clip = usable[rng.integers(len(usable))]
        start = int(rng.integers(clip.frames.shape[0] - frames_needed + 1))
        reference = int(rng.integers(clip.frames.shape[0]))
        window = slice(start, start + frames_needed)
        references.append(clip.frames[reference])
        targets.append(clip.frames[window])
        tokens.append(clip.tokens[window])
        confidences.append(clip.confidence[window])

    def to_pixels(images: np.ndarray) -> "torch.Tensor":  # (N, H, W, 3) uint8 -> (N, 3, height, width) -1..1
        pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return F.interpolate(pixels, size=(settings.height, settings.width), mode="bilinear", align_corners=False)

    target = torch.stack([to_pixels(clip) for clip in targets]).transpose(1, 2)
    return {"reference": to_pixels(np.stack(references)), "target": target,
            "tokens": torch.from_numpy(np.stack(tokens)), "confidence": torch.from_numpy(np.stack(confidences))}


def diffusion_loss(components: XDancerComponents, batch: dict, noise, timesteps, keep_condition):
    """MSE between the UNet's prediction and the scheduler's target for one batch.

    noise : like the target latents (B, C, F, h, w); timesteps : (B,) long; keep_condition : (B,) bool.
    """
    import torch
    import torch.nn.functional as F

    vae, scheduler = components.vae, components.scheduler
    with torch.no_grad():
        reference = vae.encode(batch["reference"]).latent_dist.sample() * vae.config.scaling_factor
        target = batch["target"]
        batch_size, _, num_frames = target.shape[:3]
        flat = target.transpose(1, 2).flatten(0, 1)
        latents = vae.encode(flat).latent_dist.sample() * vae.config.scaling_factor
        latents = latents.unflatten(0, (batch_size, num_frames)).transpose(1, 2)
        if components.image_encoder is not None:
            images = ((batch["reference"].permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            embeds = torch.cat([clip_image_embeds(components.image_encoder, image.cpu().numpy(), reference.device,
                                                  reference.dtype) for image in images])
        else:
            width = getattr(components.reference_unet, "module", components.reference_unet).config.cross_attention_dim
            embeds = reference.new_zeros(batch_size, 1, width)
        embeds = embeds * keep_condition.to(embeds.dtype)[:, None, None]
    record_reference(components, reference, embeds)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    frame_embeds = embeds.repeat_interleave(num_frames, dim=0)
    prediction = predict_noise(components, noisy, timesteps, frame_embeds, batch["tokens"], batch["confidence"])
    goal = scheduler.get_velocity(latents, noise, timesteps) \
        if scheduler.config.prediction_type == "v_prediction" else noise
    components.bank.clear()
    return F.mse_loss(prediction.float(), goal.float())


def random_loss_inputs(components: XDancerComponents, batch: dict, generator, condition_dropout: float):
    """(noise, timesteps, keep_condition) drawn from ``generator`` for ``diffusion_loss``."""
    import torch

    batch_size, _, num_frames, height, width = batch["target"].shape
    factor = components.vae_scale_factor
    shape = (batch_size, components.vae.config.latent_channels, num_frames, height // factor, width // factor)
    noise = torch.randn(shape, generator=generator)
    timesteps = torch.randint(0, components.scheduler.config.num_train_timesteps, (batch_size,), generator=generator)
    keep = torch.rand(batch_size, generator=generator) >= condition_dropout
    return noise, timesteps, keep


def trainable_modules(components: XDancerComponents, settings: TrainSettings) -> dict:
    """{name: module} trained in this stage; everything else is frozen here (motion modules only in stage 2)."""
    for module in (components.vae, components.denoising_unet, components.reference_unet, components.token_decoder):
        module.requires_grad_(False)
    if settings.stage == "stage1":
        modules = {"reference_unet": components.reference_unet, "token_decoder": components.token_decoder}
        if settings.train_denoising_unet:
            modules["denoising_unet"] = components.denoising_unet
        for module in modules.values():
            module.requires_grad_(True)
        return modules
    components.denoising_unet.freeze_unet2d_params()
    components.token_decoder.requires_grad_(True)
    return {"denoising_unet": components.denoising_unet, "token_decoder": components.token_decoder}


def _trainable_state(modules: dict) -> dict:
    return {f"{name}.{key}": value for name, module in modules.items()
            for key, value in module.named_parameters() if value.requires_grad}


def save_training_state(directory: Path, modules: dict, optimizer, step: int, sampler, generator,
                        settings: TrainSettings) -> None:
    """Trainable weights, AdamW state, the torch random states, then ``state.json`` (step, batch sampler).

    sampler : the numpy Generator that draws batches; generator : the torch Generator of the loss inputs.
    """
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    save_tensors(_trainable_state(modules), directory / "trainable.safetensors")
    save_optimizer(optimizer, directory / "optimizer.safetensors")
    random_states = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        random_states.update({f"cuda.{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    save_tensors(random_states, directory / "rng.safetensors")
    save_json({"step": step, "sampler_state": sampler.bit_generator.state, "settings": dataclasses.asdict(settings)},
              directory / "state.json")


def load_training_state(directory: Path, modules: dict, optimizer, sampler, generator) -> int:
    """Restore what ``save_training_state`` wrote, refusing weights that do not match the trainable
    parameters one to one; returns the step to continue from."""
    import torch
    from safetensors.torch import load_file

    saved = load_file(str(directory / "trainable.safetensors"))
    own = _trainable_state(modules)
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    wrong = [key for key in set(own) & set(saved) if own[key].shape != saved[key].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{directory} does not match this run's trainable weights (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}, other shapes {wrong[:3]}); resume with the stage, "
                              "--train-denoising-unet and models it was written with, or start without --resume.")
    with torch.no_grad():
        for key, parameter in own.items():
            parameter.copy_(saved[key])
    load_optimizer(optimizer, directory / "optimizer.safetensors")
    random_states = load_file(str(directory / "rng.safetensors"))
    torch.set_rng_state(random_states["torch"])
    generator.set_state(random_states["generator"])
    cuda_states = [random_states[key] for key in sorted(random_states) if key.startswith("cuda.")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    document = json.loads((directory / "state.json").read_text())
    sampler.bit_generator.state = document["sampler_state"]
    return int(document["step"])


def train(components: XDancerComponents, clips: Sequence[Clip], settings: TrainSettings, output: str | Path | None,
          motion_adapter_config=None, resume: bool = False,
          progress: Callable[[float], None] | None = None) -> list[float]:
    """Train one stage in place; returns the loss of every step.

    output : folder for the renderer checkpoint (every ``save_every`` steps and at the end) and the
             resumable ``training_state/``; None keeps everything in memory (tests).
    motion_adapter_config : stage 2, the MotionAdapter config the trained motion modules are saved with.
    """
    import torch
    from accelerate import Accelerator
    from diffusers import DDPMScheduler

    if settings.stage not in STAGES:
        raise TrainingDataError(f"stage must be one of {STAGES}, got {settings.stage!r}.")
    accelerator = Accelerator(mixed_precision=settings.mixed_precision,
                              gradient_accumulation_steps=settings.gradient_accumulation_steps)
    components = dataclasses.replace(components, scheduler=DDPMScheduler.from_config(components.scheduler.config))
    modules = trainable_modules(components, settings)
    parameters = [p for module in modules.values() for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=1e-2)
    *prepared, optimizer = accelerator.prepare(*modules.values(), optimizer)
    modules = dict(zip(modules, prepared))
    components = dataclasses.replace(components, **modules)
    device = accelerator.device
    for module in (components.vae, components.denoising_unet, components.reference_unet, components.token_decoder,
                   components.image_encoder):
        if module is not None:
            module.to(device)
    for module in modules.values():
        module.train()
    state_dir = Path(output) / STATE_DIR if output is not None else None
    torch.manual_seed(settings.seed)  # VAE latent sampling draws from the global generator
    rng = np.random.default_rng(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    step = 0
    if resume and state_dir is not None and (state_dir / "state.json").is_file():
        step = load_training_state(state_dir, {name: accelerator.unwrap_model(module)
                                               for name, module in modules.items()}, optimizer, rng, generator)
    losses = []
    while step < settings.steps:
        batch = {key: value.to(device) for key, value in sample_batch(clips, settings, rng).items()}
        noise, timesteps, keep = (value.to(device) for value in
                                  random_loss_inputs(components, batch, generator, settings.condition_dropout))
        with accelerator.accumulate(*modules.values()), accelerator.autocast():
            loss = diffusion_loss(components, batch, noise, timesteps, keep)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        step += 1
        if progress is not None:
            progress(step / settings.steps)
        if output is not None and accelerator.is_main_process and (step % settings.save_every == 0
                                                                   or step == settings.steps):
            unwrapped = {name: accelerator.unwrap_model(module) for name, module in modules.items()}
            save_training_state(state_dir, unwrapped, optimizer, step, rng, generator, settings)
            _save_checkpoint(dataclasses.replace(components, **unwrapped), settings, Path(output),
                             motion_adapter_config, step)
    return losses


def _save_checkpoint(components: XDancerComponents, settings: TrainSettings, output: Path, motion_adapter_config,
                     step: int) -> None:
    network = loading.renderer_network()
    adapter = network.extract_motion_adapter(components.denoising_unet, motion_adapter_config) \
        if settings.stage == "stage2" else None
    denoising_unet = components.denoising_unet if settings.train_denoising_unet else None
    loading.save_renderer_checkpoint(output, components.token_decoder, components.reference_unet,
                                     motion_adapter=adapter, image_encoder=components.image_encoder,
                                     denoising_unet=denoising_unet,
                                     metadata={"stage": settings.stage, "step": step,
                                               "settings": dataclasses.asdict(settings)})


def build_training_components(settings: TrainSettings, base_model: str | Path, init: str | Path | None,
                              motion_module: str | Path | None, image_encoder: str | Path | None):
    """(components, motion adapter config) for a stage: stage 1 starts the ReferenceNet from the base UNet
    and a fresh decoder unless ``init`` is given; stage 2 needs ``init`` (a stage-1 checkpoint)."""
    from diffusers import MotionAdapter

    network = loading.renderer_network()
    base = loading.load_base_model(base_model)
    if init is not None:
        renderer = loading.load_renderer_checkpoint(init)
    elif settings.stage == "stage2":
        raise TrainingDataError("stage2 needs --init, the stage-1 checkpoint folder (ReferenceNet and decoder).")
    else:
        renderer = {"token_decoder": network.MotionTokenDecoder(network.MotionTokenDecoderConfig.for_unet(
            base["unet"].config)), "reference_unet": network.build_reference_unet(base["unet"]),
            "motion_adapter": None, "image_encoder": None, "denoising_unet": None}
    if image_encoder is not None:
        from transformers import CLIPVisionModelWithProjection

        renderer["image_encoder"] = CLIPVisionModelWithProjection.from_pretrained(image_encoder)
    if renderer.get("denoising_unet") is not None:
        base["unet"] = renderer["denoising_unet"]
    if settings.stage == "stage1":
        bank = network.install_reference_attention(renderer["reference_unet"], base["unet"])
        components = XDancerComponents(vae=base["vae"], denoising_unet=base["unet"],
                                       reference_unet=renderer["reference_unet"],
                                       token_decoder=renderer["token_decoder"], scheduler=base["scheduler"],
                                       bank=bank, image_encoder=renderer["image_encoder"])
        return components, None
    adapter = loading.load_motion_adapter(motion_module) if motion_module is not None else (
        renderer["motion_adapter"] or MotionAdapter())
    components = loading.assemble_components(base, renderer, adapter)
    return components, adapter.config


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m choreo.render.xdancer.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--base-model", required=True, help="SD1.5 diffusers folder or single .safetensors file")
    parser.add_argument("--data", required=True, help="folder of *.npz clips (frames, tokens, confidence)")
    parser.add_argument("--output", required=True, help="renderer checkpoint folder to write")
    parser.add_argument("--init", help="renderer checkpoint to start from (required for stage2)")
    parser.add_argument("--motion-module", help="stage2: AnimateDiff motion module file or folder to start from")
    parser.add_argument("--image-encoder", help="CLIPVisionModelWithProjection folder for image conditioning")
    parser.add_argument("--resume", action="store_true", help="continue from <output>/training_state")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    defaults = TrainSettings()
    for field in dataclasses.fields(TrainSettings):
        if field.name in ("stage", "train_denoising_unet"):
            continue
        parser.add_argument("--" + field.name.replace("_", "-"), type=type(getattr(defaults, field.name)),
                            default=getattr(defaults, field.name))
    parser.add_argument("--train-denoising-unet", action="store_true", help="stage1: also fine-tune the UNet")
    args = parser.parse_args(argv)
    settings = TrainSettings(stage=args.stage, **{field.name: getattr(args, field.name)
                                                  for field in dataclasses.fields(TrainSettings)
                                                  if field.name != "stage"})
    components, adapter_config = build_training_components(settings, args.base_model, args.init, args.motion_module,
                                                           args.image_encoder)
    if args.gradient_checkpointing:
        for module in (components.denoising_unet, components.reference_unet):
            module.enable_gradient_checkpointing()
    train(components, load_clips(args.data), settings, args.output, adapter_config, resume=args.resume)


if __name__ == "__main__":
    main()
