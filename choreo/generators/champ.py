"""CHAMP renderer: load the public CHAMP weights and render a reference person dancing along body guidance passes.

Files (HF ``fudan-generative-ai/champ``, Apache-2.0; CHAMP's ``configs/inference/inference.yaml``):

- in one folder: ``denoising_unet.pth``, ``reference_unet.pth``, ``motion_module.pth`` and
  ``guidance_encoder_{depth,normal,semantic_map,dwpose}.pth`` (any subset of the four encoders); each may also be a
  ``.safetensors`` repack with the same keys. ``.pth`` files are read with ``torch.load(weights_only=True)``: plain
  tensors only, no code is unpickled. An optional ``champ_config.json`` (fields of ``models.champ.ChampConfig``)
  describes non-official sizes; without it the official sizes apply.
- diffusers folders: SD-1.5 (``unet/config.json``; its UNet weights are read, tensor-only, only if a CHAMP file
  lacks keys, which CHAMP's loader fills from them), ``sd-vae-ft-mse`` and the image encoder of
  ``lambdalabs/sd-image-variations-diffusers`` (``image_encoder/``, a CLIP ViT-L/14 with projection). The HF repo
  ``fudan-generative-ai/champ`` holds all of them: ``champ/``, ``stable-diffusion-v1-5/``, ``sd-vae-ft-mse/``,
  ``image_encoder/``.

Every key of every file is mapped: unknown keys, missing keys and shape mismatches are a ``CheckpointError``
naming them. Sampling follows CHAMP's inference: DDIM with zero terminal SNR, trailing timesteps and
v-prediction, 20 steps, classifier-free guidance 3.5 whose unconditional rows see neither the reference
attention nor the CLIP embedding. Long videos are rendered in segments (the motion module knows 32 frame
positions), joined as M2PEnc says with UniAnimate's noise conditioning: a segment's first ``overlap_frames``
frames are the previous segment's finished latents, re-noised to each step's level, so the new frames are
denoised around them and continue them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import torch

from ..checkpoints import CheckpointError
from ..errors import ChoreoError, ImageInputError
from ..model_cache import MODEL_CACHE, cache_key
from ..networks import network_module

DENOISING_UNET = "denoising_unet"
REFERENCE_UNET = "reference_unet"
MOTION_MODULE = "motion_module"
GUIDANCE_PREFIX = "guidance_encoder_"
CONFIG_FILE = "champ_config.json"
WEIGHT_SUFFIXES = (".safetensors", ".pth")  # a safetensors repack wins over the pickle-format original
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP pixel statistics (CLIPImageProcessor defaults)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_SEGMENT_FRAMES = 24  # CHAMP's context_frames; at most the motion module's 32 positions
DEFAULT_OVERLAP_FRAMES = 4  # CHAMP's context_overlap
SHOWN_KEYS = 8  # keys named in an error message before "... and N more"


def _models():
    return network_module("champ")


# 1. Files -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChampFiles:
    """Where the weights are. champ_dir: CHAMP's files; the rest are diffusers/transformers folders."""

    champ_dir: Path
    base_model_dir: Path  # SD-1.5, needs unet/config.json
    vae_dir: Path  # sd-vae-ft-mse (AutoencoderKL config.json + weights)
    image_encoder_dir: Path  # CLIPVisionModelWithProjection (config.json + weights)


def champ_file(champ_dir: str | Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``champ_dir`` (``.safetensors`` preferred over ``.pth``), or None."""
    for suffix in WEIGHT_SUFFIXES:
        path = Path(champ_dir) / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def missing_files(files: ChampFiles) -> list[str]:
    """Human-readable names of the required files and folders that are absent (empty when all are there)."""
    missing = [f"{files.champ_dir}/{stem}.pth" for stem in (DENOISING_UNET, REFERENCE_UNET, MOTION_MODULE)
               if champ_file(files.champ_dir, stem) is None]
    if Path(files.champ_dir).is_dir() and not guidance_types_present(files.champ_dir):
        missing.append(f"{files.champ_dir}/{GUIDANCE_PREFIX}<depth|normal|semantic_map|dwpose>.pth")
    for path in (Path(files.base_model_dir) / "unet" / "config.json", Path(files.vae_dir) / "config.json",
                 Path(files.image_encoder_dir) / "config.json"):
        if not path.is_file():
            missing.append(str(path))
    return missing


def guidance_types_present(champ_dir: str | Path) -> tuple[str, ...]:
    return tuple(name for name in _models().GUIDANCE_TYPES if champ_file(champ_dir, GUIDANCE_PREFIX + name))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or ``.pth`` state dict; a pickle that holds anything but tensors is refused."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:  # code torch will not run, or a broken file
        raise CheckpointError(f"{path.name} is not a plain tensor state dict ({type(error).__name__}: "
                              f"{str(error)[:200]}). Use the official CHAMP file or a .safetensors repack.") from error
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} does not hold a state dict of tensors; use the official CHAMP file.")
    return dict(state)


def _names(keys) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(keys[:SHOWN_KEYS]) + more


def guidance_key_map(config) -> tuple[dict[str, str], tuple[str, ...]]:
    """CHAMP guidance-encoder key prefixes renamed for ``GuidanceEncoder``, and prefixes dropped on purpose.

    CHAMP builds 2 * (levels - 1) spatial attentions plus ``guidance_attention`` but runs only the last attention.
    """
    last = 2 * (len(config.guidance_block_channels) - 1) - 1
    unused = tuple(f"attentions.{index}." for index in range(last)) + ("guidance_attention.",)
    return {f"attentions.{last}.": "attention."}, unused


def map_guidance_state(state: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    renames, unused = guidance_key_map(config)
    mapped = {}
    for key, value in state.items():
        if key.startswith(unused):
            continue
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old):]
        mapped[key] = value
    return mapped


def load_exactly(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
                 dtype: torch.dtype = torch.float32) -> None:
    """Put ``state`` into ``module`` (built on the meta device): every key known, every parameter and buffer given,
    every shape equal; the tensors are then cast to ``dtype``."""
    expected = module.state_dict()
    unknown = set(state) - set(expected)
    missing = set(expected) - set(state)
    if unknown:
        raise CheckpointError(f"{source} has {len(unknown)} keys this CHAMP network does not have: {_names(unknown)}. "
                              "It is not a CHAMP file of this layout (check the file, or champ_config.json sizes).")
    if missing:
        raise CheckpointError(f"{source} lacks {len(missing)} keys: {_names(missing)}. Download the complete "
                              "official file again.")
    wrong = [f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}" for key in sorted(state)
             if state[key].shape != expected[key].shape]
    if wrong:
        raise CheckpointError(f"{source} has {len(wrong)} tensors of the wrong shape: {_names(wrong)}. The network "
                              "sizes differ (SD-1.5 unet/config.json, or champ_config.json).")
    module.load_state_dict(state, strict=True, assign=True)
    torch.nn.Module.to(module, dtype)  # diffusers' ModelMixin.to warns about fp32 modules SD-1.5 does not have


def read_config(champ_dir: Path):
    """``champ_config.json`` beside the weights, else the official configuration."""
    champ = _models()
    path = Path(champ_dir) / CONFIG_FILE
    if not path.is_file():
        return champ.ChampConfig()
    values = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(champ.ChampConfig)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise CheckpointError(f"{path} has unknown keys {unknown}; allowed: {sorted(fields)}.")
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
    return champ.ChampConfig(**values)


def write_config(champ_dir: str | Path, config) -> Path:
    path = Path(champ_dir) / CONFIG_FILE
    path.write_text(json.dumps(dataclasses.asdict(config), indent=2))
    return path


# 2. Loading ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChampPipeline:
    """A loaded CHAMP renderer. Weights sit on ``device``, or on the CPU between stages when ``offload``."""

    model: torch.nn.Module  # models.champ.ChampModel
    vae: torch.nn.Module  # diffusers AutoencoderKL
    image_encoder: torch.nn.Module  # transformers CLIPVisionModelWithProjection
    device: torch.device
    dtype: torch.dtype
    offload: bool

    @property
    def guidance_types(self) -> tuple[str, ...]:
        return tuple(self.model.guidance_encoders.keys())

    @property
    def pixel_multiple(self) -> int:
        """Width and height must be multiples of this: the VAE's and the UNet's down-sampling together."""
        unet_levels = len(self.model.denoiser.unet.config.block_out_channels)
        return _vae_scale(self.vae) * 2 ** (unet_levels - 1)


def _vae_scale(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _build_unet(base_model_dir: Path):
    from diffusers import UNet2DConditionModel

    unet_dir = Path(base_model_dir) / "unet"
    config = UNet2DConditionModel.load_config(str(unet_dir))
    down = tuple(config.get("down_block_types", ()))
    if not down or down[-1] != "DownBlock2D" or any(kind != "CrossAttnDownBlock2D" for kind in down[:-1]):
        raise CheckpointError(f"{unet_dir}/config.json is not an SD-1.5-style UNet (down blocks {down}); CHAMP "
                              "needs stable-diffusion-v1-5's unet folder.")
    return UNet2DConditionModel.from_config(config), unet_dir


BASE_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def _with_base(state: dict[str, torch.Tensor], module: torch.nn.Module, unet_dir: Path) -> tuple[dict, str]:
    """``state`` completed from the SD-1.5 UNet weights where it lacks keys, as CHAMP's loader starts from them.

    The base file (3.4 GB) is read only when a CHAMP file is incomplete; ``.bin`` is read tensor-only. Returns the
    state and a note for error messages.
    """
    missing = set(module.state_dict()) - set(state)
    path = next((unet_dir / name for name in BASE_WEIGHT_FILES if (unet_dir / name).is_file()), None)
    if not missing or path is None:
        return state, ""
    base = read_state_dict(path)
    return {**{key: base[key] for key in missing if key in base}, **state}, f" (+ {path.name})"


def _require(champ_dir: Path, stem: str) -> Path:
    path = champ_file(champ_dir, stem)
    if path is None:
        raise CheckpointError(f"{stem}.pth (or .safetensors) was not found in {champ_dir}; download it from "
                              "huggingface.co/fudan-generative-ai/champ into that folder.")
    return path


def load_champ_model(files: ChampFiles, config=None, dtype: torch.dtype = torch.float32):
    """The CHAMP networks with the official weights, on the CPU in ``dtype`` (``models.champ.ChampModel``).

    The networks are built on the meta device and take the files' tensors as they are, then one part at a time is
    cast, so memory peaks near the largest file rather than at random weights plus files.
    config : sizes of CHAMP's own parts; None reads ``champ_config.json`` beside the files, else the official ones.
    """
    champ = _models()
    champ_dir = Path(files.champ_dir)
    config = config or read_config(champ_dir)
    present = guidance_types_present(champ_dir)
    if not present:
        raise CheckpointError(f"No guidance_encoder_<type>.pth in {champ_dir}; CHAMP ships one per guidance type "
                              "(depth, normal, semantic_map, dwpose). Download at least one.")
    config = dataclasses.replace(config, guidance_types=present)
    with torch.device("meta"):
        reference_unet, unet_dir = _build_unet(files.base_model_dir)
        denoising_unet, _ = _build_unet(files.base_model_dir)
        model = champ.ChampModel(reference_unet, denoising_unet, config)

    reference = read_state_dict(_require(champ_dir, REFERENCE_UNET))
    reference, note = _with_base(reference, model.reference_unet, unet_dir)
    load_exactly(model.reference_unet, reference, REFERENCE_UNET + note, dtype)
    del reference

    motion_path = _require(champ_dir, MOTION_MODULE)
    motion = read_state_dict(motion_path)
    stray = [key for key in motion if ".motion_modules." not in key]
    if stray:
        raise CheckpointError(f"{motion_path.name} should hold only motion-module keys, but has {_names(stray)}.")
    # CHAMP's order: SD-1.5 weights, then the motion module, then denoising_unet.pth over both.
    denoising = {**motion, **read_state_dict(_require(champ_dir, DENOISING_UNET))}
    del motion
    denoising, note = _with_base(denoising, model.denoiser.unet, unet_dir)
    load_exactly(model.denoiser.unet, denoising, f"{DENOISING_UNET} + {MOTION_MODULE}{note}", dtype)
    del denoising

    for name in present:
        path = _require(champ_dir, GUIDANCE_PREFIX + name)
        load_exactly(model.guidance_encoders[name], map_guidance_state(read_state_dict(path), config), path.name,
                     dtype)
    left = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()] if tensor.is_meta]
    if left:  # a tensor outside every state dict (none in CHAMP's networks): refuse rather than run on nothing
        raise CheckpointError(f"CHAMP networks have tensors no file provides: {_names(left)}.")
    return model.eval().requires_grad_(False)


def load_champ(files: ChampFiles, dtype: str = "fp16", device: str | torch.device | None = None,
               offload: bool = False) -> ChampPipeline:
    """Load CHAMP, the VAE and the image encoder, cast to ``dtype`` ("fp16", "bf16", "fp32").

    device  : None picks CUDA when available, else the CPU.
    offload : keep the weights on the CPU and move each stage's networks to ``device`` only while it runs
              (5.1 GB of fp16 weights in all, measured; the denoiser with its motion modules is 2.6 GB).
    """
    from diffusers import AutoencoderKL
    from transformers import CLIPVisionModelWithProjection

    missing = missing_files(files)
    if missing:
        raise CheckpointError("CHAMP files are missing: " + "; ".join(missing) + ". See the README's CHAMP section "
                              "for where each file goes.")
    if dtype not in DTYPES:
        raise ChoreoError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}.")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch_dtype = DTYPES[dtype]
    model = load_champ_model(files, dtype=torch_dtype)
    vae = AutoencoderKL.from_pretrained(str(files.vae_dir), torch_dtype=torch_dtype).eval().requires_grad_(False)
    if _vae_scale(vae) != model.latent_downscale:
        raise CheckpointError(f"The VAE in {files.vae_dir} down-samples x{_vae_scale(vae)} but the guidance encoders "
                              f"x{model.latent_downscale}; use sd-vae-ft-mse with CHAMP's encoders.")
    image_encoder = CLIPVisionModelWithProjection.from_pretrained(str(files.image_encoder_dir))
    image_encoder = image_encoder.eval().requires_grad_(False)
    home = torch.device("cpu") if offload else device
    model.to(home)
    image_encoder.to(home, torch_dtype)
    vae.to(home)
    return ChampPipeline(model, vae, image_encoder, device, torch_dtype, offload)


def load_champ_cached(files: ChampFiles, dtype: str = "fp16", device: str | torch.device | None = None,
                      offload: bool = False, adopt: Callable[[ChampPipeline], None] | None = None) -> ChampPipeline:
    """``load_champ`` through Choreo's model cache: the same files, dtype, device and offload load once.

    adopt : called once with a freshly loaded pipeline (ComfyUI's memory manager takes its networks over).
    """
    variant = (str(files.base_model_dir), str(files.vae_dir), str(files.image_encoder_dir), offload,
               guidance_types_present(files.champ_dir), adopt is not None)
    key = cache_key(_require(Path(files.champ_dir), DENOISING_UNET), dtype, device, variant)

    def load():
        pipe = load_champ(files, dtype, device, offload)
        if adopt is not None:
            adopt(pipe)
        return torch.nn.ModuleList([pipe.model, pipe.vae, pipe.image_encoder]), pipe  # sized by the first element

    return MODEL_CACHE.get_or_load(key, load)[1]


PARTS = ("image_encoder", "vae", "reference_unet", "denoiser", "guidance_encoders")


def pipeline_part(pipe: ChampPipeline, name: str) -> torch.nn.Module:
    """One of ``PARTS``: the networks a rendering stage needs on the device together."""
    owner = pipe if name in ("image_encoder", "vae") else pipe.model
    return getattr(owner, name)


# 3. Noise schedule and sampler step (pure) --------------------------------------------------------------------------

NUM_TRAIN_STEPS = 1000


def champ_alphas_cumprod(beta_schedule: str = "linear", beta_start: float = 0.00085,
                         beta_end: float = 0.012) -> torch.Tensor:
    """alpha-bar_t, t = 0..999, float64, rescaled to zero terminal SNR (Lin et al. 2024, Algorithm 1).

    CHAMP's inference scheduler is built with ``beta_schedule="linear"`` (its yaml; the code switches the dict to
    "scaled_linear" only after building it), trained with "scaled_linear"; both are offered.
    """
    if beta_schedule == "linear":
        betas = torch.linspace(beta_start, beta_end, NUM_TRAIN_STEPS, dtype=torch.float64)
    elif beta_schedule == "scaled_linear":
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, NUM_TRAIN_STEPS, dtype=torch.float64) ** 2
    else:
        raise ChoreoError(f"beta_schedule must be 'linear' or 'scaled_linear', got {beta_schedule!r}.")
    root = torch.cumprod(1.0 - betas, 0).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * first / (first - last)  # shift so the last step is pure noise, keep the first
    return root**2


def trailing_timesteps(num_inference_steps: int) -> list[tuple[int, int]]:
    """(t, t_prev) pairs from 999 down, evenly spaced and ending at t_prev = -1 (diffusers' "trailing")."""
    if not 1 <= num_inference_steps <= NUM_TRAIN_STEPS:
        raise ChoreoError(f"steps must be 1..{NUM_TRAIN_STEPS}, got {num_inference_steps}.")
    steps = np.round(np.arange(NUM_TRAIN_STEPS, 0, -NUM_TRAIN_STEPS / num_inference_steps)).astype(np.int64) - 1
    stride = NUM_TRAIN_STEPS // num_inference_steps
    return [(int(t), int(t) - stride) for t in steps]


def _alpha(alphas_cumprod: torch.Tensor, t: int) -> float:
    return 1.0 if t < 0 else float(alphas_cumprod[t])  # t_prev < 0: the clean sample (set_alpha_to_one)


def q_sample(x0: torch.Tensor, noise: torch.Tensor, t: int, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x0 noised to step t: sqrt(a_t) x0 + sqrt(1 - a_t) noise."""
    alpha = _alpha(alphas_cumprod, t)
    return math.sqrt(alpha) * x0 + math.sqrt(1.0 - alpha) * noise


def ddim_v_step(x_t: torch.Tensor, v: torch.Tensor, t: int, t_prev: int, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """One deterministic DDIM step (eta = 0) from a v-prediction.

    Salimans & Ho 2022: v = sqrt(a) eps - sqrt(1 - a) x0, so x0 = sqrt(a) x - sqrt(1 - a) v and
    eps = sqrt(a) v + sqrt(1 - a) x; then DDIM re-noises x0 with eps to step t_prev.
    """
    alpha, alpha_prev = _alpha(alphas_cumprod, t), _alpha(alphas_cumprod, t_prev)
    x0 = math.sqrt(alpha) * x_t - math.sqrt(1.0 - alpha) * v
    eps = math.sqrt(alpha) * v + math.sqrt(1.0 - alpha) * x_t
    return math.sqrt(alpha_prev) * x0 + math.sqrt(1.0 - alpha_prev) * eps


# 4. Rendering -------------------------------------------------------------------------------------------------------

def segment_windows(num_frames: int, segment_frames: int, overlap_frames: int) -> list[tuple[int, int, int]]:
    """(start, end, known) per segment: frames [start, end), the first ``known`` of them already rendered.

    Segments advance by ``segment_frames - overlap_frames``; the last one is moved back to stay full length, so it
    may reuse more than ``overlap_frames`` frames.
    """
    if not 0 <= overlap_frames < segment_frames:
        raise ChoreoError(f"overlap_frames must be 0..segment_frames-1 ({segment_frames - 1}), got {overlap_frames}.")
    windows, done = [], 0
    while done < num_frames:
        start = 0 if done == 0 else done - overlap_frames
        end = min(start + segment_frames, num_frames)
        start = max(0, min(start, end - segment_frames))
        windows.append((start, end, done - start))
        done = end
    return windows


@contextlib.contextmanager
def _stage(pipe: ChampPipeline, place: Callable[[tuple[str, ...]], object] | None, *names: str) -> Iterator[None]:
    """Have the named ``PARTS`` on the device while the block runs.

    place given: it loads them (ComfyUI's memory manager, which also decides what to offload). Else with
    ``pipe.offload`` they are moved to the device and back to the CPU after; otherwise they already are there.
    """
    modules = [pipeline_part(pipe, name) for name in names]
    if place is not None:
        place(names)
    elif pipe.offload:
        for module in modules:
            module.to(pipe.device)
    try:
        yield
    finally:
        if place is None and pipe.offload:
            for module in modules:
                module.to("cpu")
            if pipe.device.type == "cuda":
                torch.cuda.empty_cache()


def _to_unit(frames, name: str) -> torch.Tensor:
    """(N, H, W, 3) uint8 or float 0..1 (numpy or torch) -> (N, 3, H, W) float32 0..1."""
    tensor = torch.as_tensor(frames)
    if tensor.ndim != 4 or tensor.shape[-1] not in (3, 4):
        raise ImageInputError(f"{name} must be frames of shape (N, H, W, 3), got {tuple(tensor.shape)}.")
    tensor = tensor[..., :3].permute(0, 3, 1, 2)
    return tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()


def _resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if images.shape[-2:] == (height, width):
        return images
    return torch.nn.functional.interpolate(images, size=(height, width), mode="bilinear", antialias=True,
                                           align_corners=False)


def _check_inputs(pipe: ChampPipeline, reference_image, guidance: Mapping, width: int, height: int,
                  segment_frames: int) -> int:
    if not guidance:
        raise ChoreoError(f"No guidance passes given; connect at least one of {pipe.guidance_types}.")
    unknown = [name for name in guidance if name not in pipe.guidance_types]
    if unknown:
        raise ChoreoError(f"Guidance {unknown} has no loaded encoder; loaded: {pipe.guidance_types} (put "
                          f"guidance_encoder_<type>.pth beside the other CHAMP files).")
    counts = {name: len(frames) for name, frames in guidance.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise ChoreoError(f"Every guidance pass needs the same, non-zero number of frames; got {counts}. Render "
                          "all passes from the same dance.")
    multiple = pipe.pixel_multiple
    if width % multiple or height % multiple or width <= 0 or height <= 0:
        raise ChoreoError(f"width and height must be positive multiples of {multiple} px, got {width}x{height}.")
    max_frames = pipe.model.config.motion_max_frames
    if not 1 <= segment_frames <= max_frames:
        raise ChoreoError(f"segment_frames must be 1..{max_frames} (the motion module's frame positions), got "
                          f"{segment_frames}.")
    if np.asarray(reference_image).ndim != 3:
        raise ImageInputError(f"reference_image must be one (H, W, 3) picture, got shape "
                              f"{np.asarray(reference_image).shape}.")
    return next(iter(counts.values()))


def render_champ(pipe: ChampPipeline, reference_image, guidance: Mapping[str, object], *, width: int = 512,
                 height: int = 512, num_inference_steps: int = 20, guidance_scale: float = 3.5, seed: int = 0,
                 segment_frames: int = DEFAULT_SEGMENT_FRAMES, overlap_frames: int = DEFAULT_OVERLAP_FRAMES,
                 beta_schedule: str = "linear", decode_batch: int = 8,
                 progress: Callable[[float], None] | None = None,
                 place: Callable[[tuple[str, ...]], object] | None = None) -> np.ndarray:
    """Video of the reference person following the guidance passes, (T, height, width, 3) uint8.

    reference_image : (H, W, 3) uint8 or float 0..1, the person; stretched to width x height as CHAMP does.
    guidance        : type -> (T, H, W, 3) frames (uint8 or float 0..1), any subset of ``pipe.guidance_types``
                      ("depth", "normal", "semantic_map", "dwpose"), all of the same T; resized to width x height.
    guidance_scale  : classifier-free guidance; 1 runs one pass per step (half the time).
    seed            : all noise comes from one generator seeded with it, segment after segment.
    segment_frames, overlap_frames : segment length (<= 32) and the frames each segment continues from.
    decode_batch    : frames per VAE decode (bounds decoder memory).
    progress        : called with the fraction done (0..1) after each denoising step; it may raise to interrupt.
    place           : called with the names of the ``PARTS`` each stage runs (reference, denoising, decoding)
                      to get them onto ``pipe.device`` (``nodes.champ_nodes``: ComfyUI's memory manager).
                      None: ``pipe.offload`` decides.
    """
    num_frames = _check_inputs(pipe, reference_image, guidance, width, height, segment_frames)
    model, device, dtype = pipe.model, pipe.device, pipe.dtype
    windows = segment_windows(num_frames, segment_frames, overlap_frames)
    schedule = champ_alphas_cumprod(beta_schedule)
    timesteps = trailing_timesteps(num_inference_steps)
    scale = _vae_scale(pipe.vae)
    latent_h, latent_w = height // scale, width // scale
    generator = torch.Generator("cpu").manual_seed(int(seed))
    cfg = guidance_scale > 1.0
    total_steps = len(windows) * len(timesteps)

    with torch.no_grad():
        try:
            # 1. Reference: CLIP embedding and ReferenceNet features, written once for the whole video.
            reference = _to_unit(np.asarray(reference_image)[None], "reference_image")
            with _stage(pipe, place, "image_encoder", "vae", "reference_unet"):
                size = pipe.image_encoder.config.image_size
                mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
                std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
                clip_pixels = (_resize(reference, size, size) - mean) / std
                embeds = pipe.image_encoder(clip_pixels.to(device, dtype)).image_embeds[:, None]  # (1, 1, D)
                pixels = _resize(reference, height, width) * 2.0 - 1.0
                reference_latents = pipe.vae.encode(pixels.to(device, dtype)).latent_dist.mean
                model.write_reference(reference_latents * pipe.vae.config.scaling_factor, embeds)
            rows_embeds = torch.cat([torch.zeros_like(embeds), embeds]) if cfg else embeds
            reads = torch.tensor([False, True] if cfg else [True], device=device)

            # 2. Segments, each denoised around the re-noised end of the previous one.
            latents = torch.zeros(1, 4, num_frames, latent_h, latent_w)
            step = 0
            with _stage(pipe, place, "denoiser", "guidance_encoders"):
                for start, end, known in windows:
                    passes = {name: _resize(_to_unit(frames[start:end], name), height, width).to(device, dtype)
                              for name, frames in guidance.items()}
                    features = model.encode_guidance(passes)  # (n, C0, h, w)
                    features = features.permute(1, 0, 2, 3)[None].expand(len(reads), -1, -1, -1, -1)
                    x = torch.randn((1, 4, end - start, latent_h, latent_w), generator=generator).to(device, dtype)
                    known_latents = latents[:, :, start:start + known].to(device, dtype)
                    known_noise = torch.randn(known_latents.shape, generator=generator).to(device, dtype)
                    for t, t_prev in timesteps:
                        if known:
                            x[:, :, :known] = q_sample(known_latents, known_noise, t, schedule)
                        v = model.denoiser(x.expand(len(reads), -1, -1, -1, -1), torch.tensor(t, device=device),
                                           rows_embeds, features, reads)
                        v = v[:1] + guidance_scale * (v[1:] - v[:1]) if cfg else v
                        x = ddim_v_step(x, v, t, t_prev, schedule)
                        step += 1
                        if progress is not None:
                            progress(0.95 * step / total_steps)
                    if known:
                        x[:, :, :known] = known_latents
                    latents[:, :, start:end] = x.float().cpu()
        finally:
            model.bank.clear()  # the reference features are large; an interrupt drops them too

        # 3. Decode frame batches.
        frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
        with _stage(pipe, place, "vae"):
            for first in range(0, num_frames, decode_batch):
                chunk = latents[0, :, first:first + decode_batch].permute(1, 0, 2, 3)
                images = pipe.vae.decode((chunk / pipe.vae.config.scaling_factor).to(device, dtype)).sample
                images = ((images.float().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)
                frames[first:first + len(images)] = images.permute(0, 2, 3, 1).cpu().numpy()
        if progress is not None:
            progress(1.0)
    return frames
