"""Load Wan 2.2 Animate into a diffusers ``WanAnimatePipeline`` from the user's model folders.

Two layouts:

* **diffusers folder**: a copy of ``Wan-AI/Wan2.2-Animate-14B-Diffusers`` (``model_index.json`` plus
  ``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``image_encoder/``, ``image_processor/``,
  ``scheduler/``), e.g. in ``ComfyUI/models/diffusers/``.
* **single files** (``WanAnimateFiles``), as ComfyUI users keep them: the transformer in Wan's original key names
  (one file or ``-0000k-of-0000n`` shards in ``models/diffusion_models``; converted with diffusers'
  ``convert_wan_transformer_to_diffusers``, which covers the Animate motion encoder, face encoder and face
  adapter), the Wan 2.1 VAE (``models/vae``, original or diffusers key names), umT5-XXL (``models/text_encoders``,
  Hugging Face T5 key names) and CLIP ViT-H/14 (``models/clip_vision``, Hugging Face CLIP key names). The small
  files that are not weights (``*/config.json``, ``tokenizer/``, ``image_processor/``, ``scheduler/``) come from a
  diffusers folder without its weights (``support_dir``).

Memory (``apply_memory_options``): "none" keeps the pipeline on the device; "model" moves one component at a
time to the GPU (diffusers ``enable_model_cpu_offload``); "sequential" streams weights layer by layer
(``enable_sequential_cpu_offload``; slowest, least VRAM). VAE tiling bounds the decoder's memory at high
resolutions. fp8-scaled single files are refused: they need ComfyUI's own loader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ...checkpoints import CheckpointError

PIPELINE_PARTS = ("transformer", "vae", "text_encoder", "tokenizer", "image_encoder", "image_processor", "scheduler")
SUPPORT_PARTS = ("tokenizer", "image_processor", "scheduler")
OFFLOAD_MODES = ("none", "model", "sequential")
SHARD_PATTERN = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.safetensors$")
FOLDER_HINT = {
    "transformer": "ComfyUI/models/diffusion_models",
    "vae": "ComfyUI/models/vae",
    "text_encoder": "ComfyUI/models/text_encoders",
    "image_encoder": "ComfyUI/models/clip_vision",
    "support_dir": "ComfyUI/models/diffusers/<name> (model_index.json, */config.json, tokenizer/, image_processor/, "
                   "scheduler/ of Wan-AI/Wan2.2-Animate-14B-Diffusers; the weights are not needed)",
}


@dataclass(frozen=True)
class WanAnimateFiles:
    """Single-file weights plus a folder with the configs and tokenizer.

    transformer   : the Animate transformer, one .safetensors or its shards (any one shard finds the others).
    vae           : Wan 2.1 VAE .safetensors.
    text_encoder  : umT5-XXL encoder .safetensors (Hugging Face key names, e.g. ComfyUI's umt5_xxl_fp16).
    image_encoder : CLIP ViT-H/14 vision .safetensors (Hugging Face key names, e.g. ComfyUI's clip_vision_h).
    support_dir   : diffusers-layout folder with the configs, tokenizer/, image_processor/ and scheduler/.
    """

    transformer: Path
    vae: Path
    text_encoder: Path
    image_encoder: Path
    support_dir: Path


def _torch_dtype(dtype):
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    if dtype not in table:
        raise CheckpointError(f"dtype {dtype!r} is not supported; use one of {sorted(table)}.")
    return table[dtype]


def check_diffusers_folder(folder: str | Path, parts=PIPELINE_PARTS) -> Path:
    """The folder, or a CheckpointError naming every missing piece and where it comes from."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"Wan-Animate folder {folder} does not exist. Download "
                              "Wan-AI/Wan2.2-Animate-14B-Diffusers into ComfyUI/models/diffusers/.")
    missing = [] if (folder / "model_index.json").is_file() else ["model_index.json"]
    missing += [f"{part}/" for part in parts if not (folder / part).is_dir()]
    if missing:
        raise CheckpointError(f"Wan-Animate folder {folder} lacks {', '.join(missing)}. It must hold the layout of "
                              "Wan-AI/Wan2.2-Animate-14B-Diffusers (model_index.json and one sub-folder per part).")
    return folder


def transformer_shards(path: str | Path) -> list[Path]:
    """All shards of a sharded .safetensors given any one of them (or just the file)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Wan-Animate transformer file {path} does not exist. Put it in "
                              f"{FOLDER_HINT['transformer']}.")
    match = SHARD_PATTERN.match(path.name)
    if match is None:
        return [path]
    count = int(match["count"])
    shards = [path.with_name(f"{match['stem']}-{i:05d}-of-{count:05d}.safetensors") for i in range(1, count + 1)]
    missing = [shard.name for shard in shards if not shard.is_file()]
    if missing:
        raise CheckpointError(f"Wan-Animate transformer shards missing next to {path.name}: {', '.join(missing)}. "
                              f"Put all {count} shards in {path.parent}.")
    return shards


def _read_safetensors(paths: list[Path], what: str) -> dict:
    from safetensors.torch import load_file

    state = {}
    for path in paths:
        if not Path(path).is_file():
            raise CheckpointError(f"{what} file {path} does not exist. Put it in {FOLDER_HINT.get(what, 'models')}.")
        state.update(load_file(str(path)))
    scaled = [key for key in state if key.endswith("scale_weight") or "float8" in str(state[key].dtype)]
    if scaled:
        raise CheckpointError(f"{what} file {paths[0].name} is fp8-scaled (e.g. {scaled[0]}); the diffusers renderer "
                              "needs the bf16/fp16/fp32 file.")
    return state


def _config(support_dir: Path | None, part: str) -> dict | None:
    if support_dir is None:
        return None
    path = Path(support_dir) / part / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _load_into(build, state: dict, dtype, what: str, source: Path, strict_extra=()):
    """Build a model with ``build()`` without allocating random weights and load ``state``, checking every key."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = build()
    name = type(model).__name__
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    missing = sorted(set(shapes) - set(state))
    if missing:
        raise CheckpointError(f"{what} file {source.name} lacks {len(missing)} weights (e.g. {missing[:3]}); it is "
                              f"not a {name} checkpoint of this configuration.")
    unexpected = sorted(key for key in set(state) - set(shapes) if not key.startswith(tuple(strict_extra)))
    if unexpected:
        raise CheckpointError(f"{what} file {source.name} has {len(unexpected)} weights this {name} does not "
                              f"(e.g. {unexpected[:3]}); wrong model or size.")
    for key, shape in shapes.items():
        if tuple(state[key].shape) != shape:
            raise CheckpointError(f"{what} file {source.name}: {key} has shape {tuple(state[key].shape)}, expected "
                                  f"{shape}; the config does not match the weights.")
    model.load_state_dict({key: state[key] for key in shapes}, strict=True, assign=True)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    keep_fp32 = tuple(getattr(model, "_keep_in_fp32_modules", None) or ())
    for param_name, param in model.named_parameters():
        param.data = param.data.to(_fp32() if any(part in param_name for part in keep_fp32) else dtype)
    return model.eval()


def _fp32():
    import torch

    return torch.float32


def load_transformer(paths: list[Path], dtype="bf16", config: dict | None = None):
    """``WanAnimateTransformer3DModel`` from original-layout (converted) or diffusers-layout safetensors."""
    from diffusers import WanAnimateTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    state = _read_safetensors(paths, "transformer")
    if not any(key.startswith(("condition_embedder.", "blocks.0.attn1.")) for key in state):
        state = convert_wan_transformer_to_diffusers(state)
    return _load_into(_diffusers_builder(WanAnimateTransformer3DModel, config), state, _torch_dtype(dtype),
                      "transformer", paths[0],
                      strict_extra=tuple(WanAnimateTransformer3DModel._keys_to_ignore_on_load_unexpected or ()))


def load_vae(path: Path, config: dict | None = None):
    """``AutoencoderKLWan`` in float32 (Wan's VAE drifts in half precision) from original or diffusers keys."""
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    state = _read_safetensors([Path(path)], "vae")
    if "encoder.conv1.weight" in state:
        state = convert_wan_vae_to_diffusers(state)
    return _load_into(_diffusers_builder(AutoencoderKLWan, config), state, _fp32(), "vae", Path(path))


def load_text_encoder(path: Path, config: dict, dtype="bf16"):
    """``UMT5EncoderModel`` from a Hugging Face-layout safetensors (``shared.weight``, ``encoder.block.N...``)."""
    from transformers import UMT5Config, UMT5EncoderModel

    state = _read_safetensors([Path(path)], "text_encoder")
    if "shared.weight" not in state and "encoder.embed_tokens.weight" in state:
        state["shared.weight"] = state["encoder.embed_tokens.weight"]
    state.setdefault("encoder.embed_tokens.weight", state.get("shared.weight"))
    if state["encoder.embed_tokens.weight"] is None:
        raise CheckpointError(f"text_encoder file {Path(path).name} has no shared.weight: it is not a Hugging "
                              "Face-layout umT5 encoder (Wan's original models_t5_umt5-xxl-enc-bf16.pth is not "
                              "supported; use ComfyUI's umt5_xxl_fp16.safetensors or the diffusers folder).")
    return _load_into(lambda: UMT5EncoderModel(UMT5Config(**_fields(config))), state, _torch_dtype(dtype),
                      "text_encoder", Path(path),
                      strict_extra=("decoder.", "lm_head."))


def load_image_encoder(path: Path, config: dict, dtype="bf16"):
    """``CLIPVisionModel`` from a Hugging Face-layout safetensors (``vision_model...``; projection ignored)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    state = _read_safetensors([Path(path)], "image_encoder")
    return _load_into(lambda: CLIPVisionModel(CLIPVisionConfig(**_fields(config))), state, _torch_dtype(dtype),
                      "image_encoder", Path(path),
                      strict_extra=("visual_projection.", "text_model.", "text_projection.", "logit_scale"))


def _diffusers_builder(model_class, config: dict | None):
    return lambda: model_class.from_config(config) if config is not None else model_class()


def _fields(config: dict) -> dict:
    return {key: value for key, value in config.items() if key not in ("architectures", "transformers_version")}


def _support_component(support_dir: Path, part: str):
    from diffusers import UniPCMultistepScheduler
    from transformers import AutoTokenizer, CLIPImageProcessor

    folder = Path(support_dir) / part
    if part == "tokenizer":
        return AutoTokenizer.from_pretrained(folder)
    if part == "image_processor":
        return CLIPImageProcessor.from_pretrained(folder)
    return UniPCMultistepScheduler.from_pretrained(folder)


def load_wan_animate(source: str | Path | WanAnimateFiles, dtype="bf16"):
    """A ``WanAnimatePipeline`` on the CPU (call ``apply_memory_options`` next).

    source : a diffusers folder, or ``WanAnimateFiles`` for single files.
    dtype  : "bf16" (default), "fp16" or "fp32" for the transformer, text and image encoders; the VAE is fp32.
    """
    import torch
    from diffusers import WanAnimatePipeline

    torch_dtype = _torch_dtype(dtype)
    if not isinstance(source, WanAnimateFiles):
        folder = check_diffusers_folder(source)
        pipe = WanAnimatePipeline.from_pretrained(str(folder), dtype=torch_dtype)
        pipe.vae.to(torch.float32)
        return pipe
    support = Path(source.support_dir)
    check_diffusers_folder(support, SUPPORT_PARTS)
    text_config, image_config = _config(support, "text_encoder"), _config(support, "image_encoder")
    for part, config in (("text_encoder", text_config), ("image_encoder", image_config)):
        if config is None:
            raise CheckpointError(f"{support / part / 'config.json'} is missing; copy it from "
                                  "Wan-AI/Wan2.2-Animate-14B-Diffusers.")
    return WanAnimatePipeline(
        tokenizer=_support_component(support, "tokenizer"),
        text_encoder=load_text_encoder(source.text_encoder, text_config, dtype),
        vae=load_vae(source.vae, _config(support, "vae")),
        scheduler=_support_component(support, "scheduler"),
        image_processor=_support_component(support, "image_processor"),
        image_encoder=load_image_encoder(source.image_encoder, image_config, dtype),
        transformer=load_transformer(transformer_shards(source.transformer), dtype, _config(support, "transformer")),
    )


def apply_memory_options(pipe, offload: str = "none", vae_tiling: bool = False, device=None):
    """Place the pipeline: "none" (all on ``device``), "model" or "sequential" CPU offload; optional VAE tiling.

    On a CPU-only device offloading has nothing to offload to, so the pipeline simply stays on the CPU.
    """
    import torch

    if offload not in OFFLOAD_MODES:
        raise CheckpointError(f"offload must be one of {OFFLOAD_MODES}, got {offload!r}.")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if vae_tiling:
        pipe.vae.enable_tiling()
    if offload == "none" or device.type == "cpu":
        return pipe.to(device)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.enable_sequential_cpu_offload(device=device)
    return pipe
