"""MusicInfuser: load the official weights onto diffusers' Mochi and sample dance videos from music.

Files (what a user downloads):

* a Mochi-1-preview **diffusers folder** (``genmo/mochi-1-preview``: ``model_index.json``, ``transformer/``,
  ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``); optionally the transformer as **one file** in
  Genmo's native key names (``dit.safetensors``, or ComfyUI's repackaged file with ``model.diffusion_model.``
  prefixes), converted by diffusers' ``convert_mochi_transformer_checkpoint_to_diffusers``; the folder then
  only needs its non-transformer parts;
* ``musicinfuser.safetensors`` (``susunghong/MusicInfuser``, ~1.44 GB bf16) in the official layout, mapped by
  ``musicinfuser_checkpoint``;
* a ``facebook/wav2vec2-base-960h`` folder (``config.json`` + ``model.safetensors``).

Sampling follows the official ``sample_model``: Euler steps on Mochi's flow over
``linear_quadratic_schedule(steps, 0.025)`` (sigma 1 -> 0), text classifier-free guidance with the music
given to both branches (the music is never dropped; an empty negative prompt is all padding, masked out),
64 steps, CFG 6, 480x848, 145 frames at 30 fps (trained on 73; longer videos extrapolate). The music clip fed
to Wav2Vec2 is ``frames / 30 + 0.09`` s as in the official inference; the returned audio is cut to
``frames / 30`` s so music and picture end together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..checkpoints import CheckpointError
from ..errors import ChoreoError
from ..model_cache import MODEL_CACHE, cache_key
from ..networks import network_module
from .musicinfuser_checkpoint import config_from_file, official_to_choreo, read_musicinfuser_file

FPS = 30.0  # Mochi's frame clock
TEMPORAL_COMPRESSION = 6  # video frames per latent frame (after the first)
SPATIAL_COMPRESSION = 8
AUDIO_PAD_S = 0.09  # the official inference encodes frames / 30 + 0.09 s of music
DEFAULT_FRAMES = 145
DEFAULT_STEPS = 64
DEFAULT_GUIDANCE = 6.0
DEFAULT_WIDTH, DEFAULT_HEIGHT = 848, 480
THRESHOLD_NOISE = 0.025  # linear_quadratic_schedule's linear part ends at this noise level
OFFLOAD_MODES = ("none", "model")


class MusicInfuserError(ChoreoError):
    """A MusicInfuser input (frames, size, audio length) cannot be used as given."""


# --- loading ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MusicInfuserFiles:
    """Where the weights are.

    mochi_folder : Mochi-1-preview in diffusers layout (all parts, or all but transformer/ when ``transformer``).
    musicinfuser : the MusicInfuser adapter file (official layout).
    wav2vec2     : ``facebook/wav2vec2-base-960h`` folder (``config.json`` + weights).
    transformer  : optional single-file Mochi DiT in Genmo's native key names.
    """

    mochi_folder: Path
    musicinfuser: Path
    wav2vec2: Path
    transformer: Path | None = None


@dataclass
class LoadedMusicInfuser:
    """Everything sampling needs: diffusers' MochiPipeline parts, the wrapped transformer and the music encoder."""

    pipe: object  # diffusers MochiPipeline (text encoder, tokenizer, VAE; its transformer is model.transformer)
    model: object  # models.musicinfuser.MusicInfuser
    music_encoder: object  # models.musicinfuser.MusicEncoder
    dtype: object

    def networks(self) -> dict:
        return {"text_encoder": self.pipe.text_encoder, "model": self.model, "music_encoder": self.music_encoder,
                "vae": self.pipe.vae}


def resolve_dtype(dtype):
    """A torch dtype from "bf16" / "fp16" / "fp32" (or a torch dtype); a ChoreoError naming the choices."""
    import torch

    table = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in table:
        raise ChoreoError(f"dtype {dtype!r} is not supported; use one of {sorted(table)}.")
    return table[dtype]


def check_files(files: MusicInfuserFiles) -> None:
    """Raise a ``CheckpointError`` naming every missing file or folder and where it belongs."""
    folder = Path(files.mochi_folder)
    needed = ["model_index.json", "vae/", "text_encoder/", "tokenizer/", "scheduler/"]
    needed += ["transformer/config.json"] if files.transformer else ["transformer/"]
    missing = [f"{folder}/{part}" for part in needed if not (folder / part.rstrip("/")).exists()]
    if files.transformer and not Path(files.transformer).is_file():
        missing.append(f"{files.transformer} (Mochi DiT single file, ComfyUI/models/diffusion_models)")
    if not Path(files.musicinfuser).is_file():
        missing.append(f"{files.musicinfuser} (musicinfuser.safetensors, ComfyUI/models/loras)")
    if not (Path(files.wav2vec2) / "config.json").is_file() or not list(Path(files.wav2vec2).glob("*.safetensors")):
        missing.append(f"{files.wav2vec2}/config.json + model.safetensors (facebook/wav2vec2-base-960h, "
                       "ComfyUI/models/choreo/wav2vec2; pickled .bin weights are refused)")
    if missing:
        raise CheckpointError("MusicInfuser cannot load; missing: " + "; ".join(missing) + ". Mochi goes in "
                              "ComfyUI/models/diffusers/<name> (genmo/mochi-1-preview, diffusers layout).")


def _single_file_transformer(path: Path, config_dir: Path, dtype):
    """A ``MochiTransformer3DModel`` from Genmo's native ``dit.safetensors`` (every key mapped by diffusers)."""
    import torch
    from diffusers import MochiTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_mochi_transformer_checkpoint_to_diffusers
    from safetensors.torch import load_file

    state = convert_mochi_transformer_checkpoint_to_diffusers(load_file(str(path)))
    config = MochiTransformer3DModel.load_config(str(config_dir / "transformer"))
    with torch.device("meta"):  # no random init of 10 B weights that are replaced at once
        model = MochiTransformer3DModel.from_config(config)
    expected = model.state_dict()
    unknown, missing = sorted(set(state) - set(expected)), sorted(set(expected) - set(state))
    if unknown or missing:
        raise CheckpointError(f"Mochi DiT file {path.name}: {len(missing)} weights missing (e.g. {missing[:3]}), "
                              f"{len(unknown)} unexpected (e.g. {unknown[:3]}); not a Mochi-1 transformer of this "
                              "folder's config.")
    for key, value in expected.items():
        if state[key].shape != value.shape:
            raise CheckpointError(f"Mochi DiT file {path.name}: {key} is {tuple(state[key].shape)}, the config "
                                  f"expects {tuple(value.shape)}.")
    model.load_state_dict(state, assign=True)
    return model.to(dtype)


def weights_variant(folder: Path) -> str | None:
    """``"bf16"`` when a diffusers folder holds only variant files (``*.bf16.safetensors``, as Genmo ships one)."""
    weights = list(Path(folder).glob("*/*.safetensors"))
    return "bf16" if weights and all(".bf16." in path.name for path in weights) else None


def _load(files: MusicInfuserFiles, dtype) -> LoadedMusicInfuser:
    import torch
    from diffusers import MochiPipeline, MochiTransformer3DModel
    from transformers import Wav2Vec2Model

    networks = network_module("musicinfuser")

    folder = Path(files.mochi_folder)
    variant = weights_variant(folder)
    if files.transformer:
        transformer = _single_file_transformer(Path(files.transformer), folder, dtype)
    else:
        transformer = MochiTransformer3DModel.from_pretrained(str(folder / "transformer"), dtype=dtype,
                                                              variant=variant, use_safetensors=True)
    pipe = MochiPipeline.from_pretrained(str(folder), transformer=transformer, dtype=dtype, variant=variant,
                                         use_safetensors=True)  # never a pickled .bin
    pipe.register_to_config(force_zeros_for_empty_prompt=True)  # an empty negative prompt is zeroed, as officially
    tensors, metadata = read_musicinfuser_file(files.musicinfuser)
    config = config_from_file(tensors, metadata, transformer.config.num_layers)
    model = networks.MusicInfuser(transformer, config)
    model.load_state_dict(official_to_choreo(tensors, model), strict=False)
    model.to(dtype).eval().requires_grad_(False)
    wav2vec2 = Wav2Vec2Model.from_pretrained(str(files.wav2vec2), dtype=torch.float32, use_safetensors=True)
    if wav2vec2.config.hidden_size != config.audio_dim:
        raise CheckpointError(f"Wav2Vec2 in {files.wav2vec2} gives {wav2vec2.config.hidden_size}-d tokens, the "
                              f"MusicInfuser file expects {config.audio_dim}-d; use facebook/wav2vec2-base-960h.")
    pipe.vae.to(torch.float32)  # Mochi's VAE decodes in fp32 (bf16 bands)
    return LoadedMusicInfuser(pipe, model, networks.MusicEncoder(wav2vec2.eval()).requires_grad_(False), dtype)


def load_musicinfuser(files: MusicInfuserFiles, dtype="bf16") -> LoadedMusicInfuser:
    """Load (once, through the pack's model cache) Mochi + MusicInfuser + Wav2Vec2, on the CPU."""
    import torch

    check_files(files)
    torch_dtype = resolve_dtype(dtype)
    key = cache_key(files.musicinfuser, torch_dtype, "cpu", variant=(str(files.mochi_folder), str(files.wav2vec2),
                                                                      str(files.transformer)))

    def load():
        loaded = _load(files, torch_dtype)
        return torch.nn.ModuleList(loaded.networks().values()), loaded  # the cache sizes its first element

    return MODEL_CACHE.get_or_load(key, load)[1]


# --- frame clock and music -------------------------------------------------------------------------------------

def frames_for_audio(duration_s: float) -> int:
    """The longest valid Mochi frame count (6k + 1) whose video fits in ``duration_s`` at 30 fps."""
    frames = int(duration_s * FPS + 1e-6)  # frames/s * s
    return (frames - 1) // TEMPORAL_COMPRESSION * TEMPORAL_COMPRESSION + 1


def check_request(num_frames: int, width: int, height: int, duration_s: float) -> None:
    """Refuse frame counts and sizes Mochi cannot make, or videos longer than the music."""
    if num_frames < 7 or (num_frames - 1) % TEMPORAL_COMPRESSION:
        lower = max(7, (num_frames - 1) // TEMPORAL_COMPRESSION * TEMPORAL_COMPRESSION + 1)
        raise MusicInfuserError(f"num_frames {num_frames} is not 6k + 1 (Mochi's VAE packs 6 frames per latent "
                                f"frame after the first); use {lower} or {lower + TEMPORAL_COMPRESSION}.")
    if width % 16 or height % 16 or width < 16 or height < 16:
        raise MusicInfuserError(f"size {width}x{height} px must be multiples of 16 (VAE 8 x patch 2), e.g. 848x480.")
    needed_s = num_frames / FPS
    if needed_s > duration_s + 1e-6:
        raise MusicInfuserError(f"{num_frames} frames need {needed_s:.2f} s of music at 30 fps but the audio lasts "
                                f"{duration_s:.2f} s; use at most {frames_for_audio(duration_s)} frames (or 0 for "
                                "as long as the music allows) or longer audio.")


def music_clip_16k(audio, num_frames: int):
    """(S,) float32 mono at 16 kHz: the first ``frames / 30 + 0.09`` s, zero-padded if the song is shorter."""
    import librosa
    import numpy as np

    AUDIO_SAMPLE_RATE = network_module("musicinfuser").AUDIO_SAMPLE_RATE

    length = int(np.ceil(AUDIO_SAMPLE_RATE * (num_frames / FPS + AUDIO_PAD_S)))  # samples/s * s
    source_length = int(np.ceil(audio.sample_rate * (num_frames / FPS + AUDIO_PAD_S)))
    mono = audio.mono()[:source_length].astype(np.float32)
    if audio.sample_rate != AUDIO_SAMPLE_RATE:
        mono = librosa.resample(mono, orig_sr=audio.sample_rate, target_sr=AUDIO_SAMPLE_RATE)
    clip = np.zeros(length, np.float32)
    clip[:min(length, len(mono))] = mono[:length]
    return clip


BEAT_PULSE_S = 0.05  # half-width of a beat's pulse on the token clock (a Wav2Vec2 token spans 20 ms)
TOKEN_HOP_S = 320 / 16000  # Wav2Vec2's stride: 320 samples at 16 kHz = 20 ms per token
TOKEN_CENTRE_S = 200 / 16000  # first token's receptive field (400 samples) is centred at 12.5 ms


def beat_channels(analysis, num_tokens: int):
    """(num_tokens, 2) float32 pulses on Wav2Vec2's token clock: channel 0 beats, channel 1 downbeats.

    analysis : ``choreo.music.analysis.MusicAnalysis`` of the same audio, starting with the first frame.
    Each beat adds exp(-(dt / 50 ms)^2) at the tokens around it, so a beat lights up ~5 tokens (100 ms).
    """
    import numpy as np

    times_s = TOKEN_CENTRE_S + TOKEN_HOP_S * np.arange(num_tokens)  # s = s + s/token * tokens
    channels = np.zeros((num_tokens, 2), np.float32)
    for channel, events_s in enumerate((analysis.beat_times_s, analysis.downbeat_times_s)):
        for event_s in np.asarray(events_s, np.float64):
            channels[:, channel] += np.exp(-((times_s - event_s) / BEAT_PULSE_S) ** 2)
    return np.minimum(channels, 1.0)


def sigma_schedule(num_steps: int) -> list[float]:
    """Mochi's noise levels from 1 to 0: linear to 0.025 over the first half, then quadratic (num_steps + 1)."""
    from diffusers.pipelines.mochi.pipeline_mochi import linear_quadratic_schedule

    return [float(s) for s in linear_quadratic_schedule(num_steps, THRESHOLD_NOISE)] + [0.0]


# --- sampling --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MusicVideo:
    """frames : (F, H, W, 3) float32 in 0..1 at ``fps``; audio : the music cut to F / fps seconds."""

    frames: object
    fps: float
    audio: object


def _default_placer(loaded: LoadedMusicInfuser, device, offload: str) -> Callable[[tuple[str, ...]], object]:
    """Move the networks a stage needs to ``device``; with offload "model" the others wait on the CPU."""
    if offload not in OFFLOAD_MODES:
        raise ChoreoError(f"offload {offload!r} is not one of {OFFLOAD_MODES}.")

    def place(names: tuple[str, ...]):
        for name, module in loaded.networks().items():
            if name in names:
                module.to(device)
            elif offload == "model":
                module.to("cpu")
        return device

    return place


def generate_music_video(loaded: LoadedMusicInfuser, audio, prompt: str, *, seed: int,
                         num_frames: int = DEFAULT_FRAMES, num_inference_steps: int = DEFAULT_STEPS,
                         guidance_scale: float = DEFAULT_GUIDANCE, width: int = DEFAULT_WIDTH,
                         height: int = DEFAULT_HEIGHT, negative_prompt: str = "", analysis=None,
                         offload: str = "none", vae_tiling: bool = False,
                         place: Callable[[tuple[str, ...]], object] | None = None,
                         progress: Callable[[float], None] | None = None) -> MusicVideo:
    """A dance video to ``audio`` (``choreo.music.audio.Audio``), the MusicInfuser way.

    num_frames : video frames at 30 fps, 6k + 1; 0 = the longest that the music covers.
    analysis   : optional ``MusicAnalysis`` of ``audio``: its beats and downbeats condition a model trained with
                 ``beat_channels = 2`` (ours, beyond the paper); the official weights have no beat channel.
    place      : callback (stage's network names) -> device; default moves them per ``offload``.
    progress   : called with the fraction done after every denoising step (ComfyUI's raises on Cancel).
    Same seed, same inputs -> same video (on the same device and dtype).
    """
    import numpy as np
    import torch

    from ..music.audio import Audio

    if num_frames == 0:
        num_frames = frames_for_audio(audio.duration_s)
    check_request(num_frames, width, height, audio.duration_s)
    if num_inference_steps < 1:
        raise MusicInfuserError(f"num_inference_steps must be at least 1, got {num_inference_steps}.")
    if analysis is not None and loaded.model.config.beat_channels != 2:
        raise MusicInfuserError("a music analysis was given but this MusicInfuser has no beat/downbeat channels "
                                "(the official weights have none); leave it unconnected, or fine-tune with "
                                "train_musicinfuser --beat-channels 2.")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    place = place or _default_placer(loaded, device, offload)
    pipe, model, dtype = loaded.pipe, loaded.model, loaded.dtype
    report = progress or (lambda fraction: None)

    # 1. text: prompt and negative prompt (classifier-free guidance on the text only)
    device = place(("text_encoder",))
    with torch.no_grad():
        text, text_mask, null, null_mask = pipe.encode_prompt(
            prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guidance_scale > 1.0,
            max_sequence_length=model.transformer.config.max_sequence_length, device=device, dtype=dtype)
    # 2. music: Wav2Vec2 tokens of the clip under the video
    device = place(("music_encoder",))
    clip = torch.from_numpy(music_clip_16k(audio, num_frames))[None].to(device)
    with torch.no_grad():
        music = loaded.music_encoder(clip).to(dtype)
    beat_tokens = None
    if analysis is not None:
        beat_tokens = torch.from_numpy(beat_channels(analysis, music.shape[1]))[None].to(device, dtype)
    # 3. denoise from seeded noise with Euler steps on the flow
    device = place(("model",))
    config = model.transformer.config
    latent_frames = (num_frames - 1) // TEMPORAL_COMPRESSION + 1
    shape = (1, config.in_channels, latent_frames, height // SPATIAL_COMPRESSION, width // SPATIAL_COMPRESSION)
    latents = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32).to(device)
    if guidance_scale > 1.0:
        text, text_mask = torch.cat([null, text]), torch.cat([null_mask, text_mask])
    text, text_mask = text.to(device), text_mask.to(device)
    sigmas = sigma_schedule(num_inference_steps)
    for step in range(num_inference_steps):
        sigma, sigma_next = sigmas[step], sigmas[step + 1]
        batch = text.shape[0]
        timestep = torch.full((batch,), 1000.0 * (1.0 - sigma), device=device, dtype=dtype)
        with torch.no_grad():
            velocity = model(latents.to(dtype).expand(batch, -1, -1, -1, -1), text, timestep, text_mask, music,
                             beat_tokens).float()
        if guidance_scale > 1.0:
            uncond, cond = velocity.chunk(2)
            velocity = uncond + guidance_scale * (cond - uncond)
        latents = latents + (sigma - sigma_next) * velocity  # dsigma * (x0 - noise): one Euler step towards data
        report((step + 1) / num_inference_steps)
    # 4. decode: undo the latent normalisation, VAE to frames, cut the music to the picture
    device = place(("vae",))
    vae = pipe.vae
    if vae_tiling:
        vae.enable_tiling()
    else:
        vae.disable_tiling()
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(device)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(device)
    with torch.no_grad():
        video = vae.decode((latents * std / vae.config.scaling_factor + mean).to(vae.dtype), return_dict=False)[0]
    frames = ((video.float().clamp(-1, 1) + 1) / 2)[0].permute(1, 2, 3, 0)[:num_frames].cpu()  # (F, H, W, 3)
    samples = int(round(num_frames / FPS * audio.sample_rate))  # frames / (frames/s) * samples/s
    cut = Audio(np.ascontiguousarray(audio.samples[:, :samples]), audio.sample_rate)
    return MusicVideo(frames=frames.contiguous(), fps=FPS, audio=cut)


# --- command line ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m choreo.generators.musicinfuser --mochi DIR --adapter FILE --wav2vec2 DIR
    --audio SONG --out MP4`` (terminal progress per denoising step; Ctrl+C stops between steps)."""
    import argparse
    import sys

    import numpy as np

    from ..io.audio_files import load_audio
    from ..io.video_export import write_mp4
    from ..progress import FrameProgress

    parser = argparse.ArgumentParser(prog="python -m choreo.generators.musicinfuser",
                                     description="A MusicInfuser dance video to a song, with the song.")
    parser.add_argument("--mochi", required=True, help="Mochi-1-preview diffusers folder")
    parser.add_argument("--adapter", required=True, help="musicinfuser.safetensors")
    parser.add_argument("--wav2vec2", required=True, help="facebook/wav2vec2-base-960h folder")
    parser.add_argument("--transformer", default=None, help="optional single-file Mochi DiT (Genmo's keys)")
    parser.add_argument("--audio", required=True)
    parser.add_argument("--out", required=True, help="output .mp4")
    parser.add_argument("--prompt", default="a professional female dancer dancing K-pop in an advanced dance "
                                            "setting in a studio with a white background, captured from a front view")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="6k + 1 at 30 fps; 0 = the song")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--cfg", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp16", "fp32"))
    parser.add_argument("--offload", default="model", choices=OFFLOAD_MODES,
                        help="model: one network at a time on the GPU (24 GB cards); none: all at once")
    parser.add_argument("--vae-tiling", action="store_true", help="decode in tiles (less VAE memory)")
    args = parser.parse_args(argv)
    files = MusicInfuserFiles(Path(args.mochi), Path(args.adapter), Path(args.wav2vec2),
                              Path(args.transformer) if args.transformer else None)
    loaded = load_musicinfuser(files, dtype=args.dtype)
    steps = FrameProgress(stream=sys.stderr, label="musicinfuser steps")
    video = generate_music_video(loaded, load_audio(args.audio), args.prompt, seed=args.seed, num_frames=args.frames,
                                 num_inference_steps=args.steps, guidance_scale=args.cfg, width=args.width,
                                 height=args.height, offload=args.offload, vae_tiling=args.vae_tiling,
                                 progress=lambda fraction: steps(round(fraction * args.steps), args.steps))
    frames = (video.frames.numpy() * 255.0 + 0.5).astype(np.uint8)
    print(write_mp4(args.out, frames, video.fps, video.audio))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
