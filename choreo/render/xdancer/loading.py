"""Loading and saving the X-Dancer renderer's weights.

Three sources, each in the user's ComfyUI models folder:

* the SD1.5-layout base model (``ComfyUI/models/checkpoints``): a diffusers folder (``unet/``, ``vae/``,
  ``scheduler/``, optionally ``text_encoder/`` + ``tokenizer/``) or one original-layout ``.safetensors``
  file (converted by diffusers' ``from_single_file`` with the SD-v1 config below, no download);
* the AnimateDiff motion module (``ComfyUI/models/animatediff_models``): a diffusers ``MotionAdapter``
  folder or one file in the original layout (``mm_sd_v15_v2``, ``v3_sd15_mm``; ``.safetensors``, or
  ``.ckpt`` read tensor-only with ``weights_only=True``). Optional when the renderer checkpoint holds
  its own fine-tuned motion modules;
* our renderer checkpoint (``ComfyUI/models/choreo/xdancer_renderer/<name>/``), made by
  ``choreo.render.xdancer.training``::

      <name>/config.json + model.safetensors   the motion-token decoder (choreo.checkpoints format)
      <name>/reference_unet/                   the ReferenceNet (diffusers UNet2DConditionModel folder)
      <name>/motion_adapter/                   stage-2 motion modules (diffusers MotionAdapter), optional
      <name>/image_encoder/                    CLIP image encoder used for conditioning, optional
      <name>/denoising_unet/                   stage-1 fine-tuned spatial UNet (replaces the base UNet), optional
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...checkpoints import CheckpointError, load_model, save_checkpoint
from ...networks import network_module
from .pipeline import XDancerComponents

BASE_FOLDER = "ComfyUI/models/checkpoints"
MOTION_FOLDER = "ComfyUI/models/animatediff_models"
RENDERER_FOLDER = "ComfyUI/models/choreo/xdancer_renderer"
REFERENCE_UNET_DIR = "reference_unet"
MOTION_ADAPTER_DIR = "motion_adapter"
IMAGE_ENCODER_DIR = "image_encoder"
DENOISING_UNET_DIR = "denoising_unet"

# The parts of Stable Diffusion v1's ``v1-inference.yaml`` that diffusers' single-file converters read.
SD15_ORIGINAL_CONFIG = {
    "model": {"params": {
        "linear_start": 0.00085, "linear_end": 0.0120, "timesteps": 1000, "scale_factor": 0.18215,
        "unet_config": {"target": "ldm.modules.diffusionmodules.openaimodel.UNetModel", "params": {
            "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
            "attention_resolutions": [4, 2, 1], "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4],
            "num_heads": 8, "use_spatial_transformer": True, "transformer_depth": 1, "context_dim": 768,
            "use_checkpoint": True, "legacy": False}},
        "first_stage_config": {"target": "ldm.models.autoencoder.AutoencoderKL", "params": {
            "embed_dim": 4, "monitor": "val/rec_loss", "ddconfig": {
                "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}}},
    }},
}
SD15_SCHEDULER = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                  "beta_schedule": "scaled_linear", "clip_sample": False, "set_alpha_to_one": False,
                  "steps_offset": 1, "prediction_type": "epsilon"}


class XDancerWeightsError(CheckpointError):
    """A weight file or folder the X-Dancer renderer needs is missing or of the wrong kind."""


def renderer_network():
    """The ``models.xdancer_renderer`` module (decoder, ReferenceNet processors, UNet builders)."""
    return network_module("xdancer_renderer")


def _require(path: Path, what: str, folder: str) -> Path:
    if not path.exists():
        raise XDancerWeightsError(f"{what} not found at {path}. Put it in {folder}/ and pick it in the loader node.")
    return path


def load_base_model(path: str | Path, dtype=None) -> dict[str, Any]:
    """{"unet", "vae", "scheduler", "tokenizer", "text_encoder"} of an SD1.5-layout model (text parts may be None).

    path : a diffusers folder (``unet/``, ``vae/``; ``scheduler/``, ``text_encoder/``, ``tokenizer/`` optional)
           or one original-layout ``.safetensors`` file.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    path = _require(Path(path), "SD1.5 base model", BASE_FOLDER)
    if path.is_dir():
        for part in ("unet", "vae"):
            _require(path / part / "config.json", f"the base model's {part}/ folder", BASE_FOLDER)
        parts = {"unet": UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype),
                 "vae": AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=dtype),
                 "tokenizer": None, "text_encoder": None}
        scheduler_dir = path / "scheduler"
        parts["scheduler"] = (DDIMScheduler.from_pretrained(path, subfolder="scheduler")
                              if (scheduler_dir / "scheduler_config.json").is_file()
                              else DDIMScheduler.from_config(SD15_SCHEDULER))
        if (path / "text_encoder" / "config.json").is_file() and (path / "tokenizer").is_dir():
            from transformers import CLIPTextModel, CLIPTokenizer

            parts["tokenizer"] = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer")
            parts["text_encoder"] = CLIPTextModel.from_pretrained(path, subfolder="text_encoder", torch_dtype=dtype)
        return parts
    if path.suffix != ".safetensors":
        raise XDancerWeightsError(f"base model {path.name} is not a .safetensors file or a diffusers folder; "
                                  f"convert it to .safetensors and put it in {BASE_FOLDER}/.")
    return {"unet": UNet2DConditionModel.from_single_file(str(path), original_config=SD15_ORIGINAL_CONFIG,
                                                          torch_dtype=dtype),
            "vae": AutoencoderKL.from_single_file(str(path), original_config=SD15_ORIGINAL_CONFIG, torch_dtype=dtype),
            "scheduler": DDIMScheduler.from_config(SD15_SCHEDULER), "tokenizer": None, "text_encoder": None}


def load_motion_adapter(path: str | Path, num_attention_heads: int = 8, norm_num_groups: int = 32,
                        dtype=None):
    """A diffusers ``MotionAdapter`` from a folder or an original-layout AnimateDiff file.

    For a single file the layout (channels per block, layers per block, mid block, maximum frames) is
    read from the tensor shapes; ``num_attention_heads`` and ``norm_num_groups`` cannot be (AnimateDiff
    v1-v3 for SD1.5 use 8 and 32).
    """
    from diffusers import MotionAdapter
    from diffusers.loaders.single_file_utils import convert_animatediff_checkpoint_to_diffusers

    path = _require(Path(path), "AnimateDiff motion module", MOTION_FOLDER)
    if path.is_dir():
        return MotionAdapter.from_pretrained(path, torch_dtype=dtype)
    state = _read_tensor_file(path)
    lengths = [value.shape[1] for key, value in state.items() if key.endswith("pos_encoder.pe")]
    state = convert_animatediff_checkpoint_to_diffusers(state)
    widths, layers = [], 0
    while f"down_blocks.{len(widths)}.motion_modules.0.proj_in.weight" in state:
        widths.append(state[f"down_blocks.{len(widths)}.motion_modules.0.proj_in.weight"].shape[1])
    while f"down_blocks.0.motion_modules.{layers}.proj_in.weight" in state:
        layers += 1
    if not widths:
        raise XDancerWeightsError(f"{path} holds no AnimateDiff motion modules (no down_blocks.*.motion_modules "
                                  f"tensors). Pick a motion module file such as v3_sd15_mm from {MOTION_FOLDER}/.")
    adapter = MotionAdapter(block_out_channels=tuple(widths), motion_layers_per_block=layers,
                            motion_num_attention_heads=num_attention_heads, motion_norm_num_groups=norm_num_groups,
                            motion_max_seq_length=max(lengths, default=32),
                            use_motion_mid_block=any(key.startswith("mid_block.") for key in state))
    missing, unexpected = adapter.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.endswith("pos_encoder.pe")]
    if missing or unexpected:
        raise XDancerWeightsError(f"{path} does not match an AnimateDiff MotionAdapter: missing {missing[:4]}, "
                                  f"unexpected {unexpected[:4]}.")
    return adapter.to(dtype=dtype) if dtype is not None else adapter


def _read_tensor_file(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in (".ckpt", ".pth", ".pt", ".bin"):
        import torch

        state = torch.load(str(path), map_location="cpu", weights_only=True)
        return state.get("state_dict", state)
    raise XDancerWeightsError(f"{path.name}: motion modules must be .safetensors or .ckpt files, "
                              "or a diffusers folder.")


def save_renderer_checkpoint(directory: str | Path, token_decoder, reference_unet, motion_adapter=None,
                             image_encoder=None, denoising_unet=None, metadata: dict | None = None) -> Path:
    """Write a renderer checkpoint folder (layout in the module docstring)."""
    directory = Path(directory)
    save_checkpoint(directory, token_decoder, token_decoder.config, metadata=metadata)
    reference_unet.save_pretrained(directory / REFERENCE_UNET_DIR)
    if motion_adapter is not None:
        motion_adapter.save_pretrained(directory / MOTION_ADAPTER_DIR)
    if image_encoder is not None:
        image_encoder.save_pretrained(directory / IMAGE_ENCODER_DIR)
    if denoising_unet is not None:
        denoising_unet.save_pretrained(directory / DENOISING_UNET_DIR)
    return directory


def load_renderer_checkpoint(directory: str | Path, dtype=None) -> dict[str, Any]:
    """{"token_decoder", "reference_unet", "motion_adapter", "image_encoder", "denoising_unet"} (the last three
    may be None)."""
    from diffusers import MotionAdapter, UNet2DConditionModel

    network = renderer_network()
    directory = _require(Path(directory), "X-Dancer renderer checkpoint", RENDERER_FOLDER)
    _require(directory / REFERENCE_UNET_DIR / "config.json", "the checkpoint's ReferenceNet", RENDERER_FOLDER)
    decoder, _, _ = load_model(directory, network.MotionTokenDecoderConfig, network.MotionTokenDecoder, dtype=dtype)
    parts = {"token_decoder": decoder,
             "reference_unet": UNet2DConditionModel.from_pretrained(directory / REFERENCE_UNET_DIR, torch_dtype=dtype),
             "motion_adapter": None, "image_encoder": None, "denoising_unet": None}
    if (directory / DENOISING_UNET_DIR / "config.json").is_file():
        parts["denoising_unet"] = UNet2DConditionModel.from_pretrained(directory / DENOISING_UNET_DIR,
                                                                       torch_dtype=dtype)
    if (directory / MOTION_ADAPTER_DIR / "config.json").is_file():
        parts["motion_adapter"] = MotionAdapter.from_pretrained(directory / MOTION_ADAPTER_DIR, torch_dtype=dtype)
    if (directory / IMAGE_ENCODER_DIR / "config.json").is_file():
        from transformers import CLIPVisionModelWithProjection

        parts["image_encoder"] = CLIPVisionModelWithProjection.from_pretrained(directory / IMAGE_ENCODER_DIR,
                                                                               torch_dtype=dtype)
    return parts


def assemble_components(base: dict[str, Any], renderer: dict[str, Any], motion_adapter) -> XDancerComponents:
    """Build the video UNet (base spatial weights, or the checkpoint's fine-tuned ones, + motion modules) and wire
    the ReferenceNet into it."""
    network = renderer_network()
    if renderer.get("denoising_unet") is not None:
        base = {**base, "unet": renderer["denoising_unet"]}
    expected = network.MotionTokenDecoderConfig.for_unet(base["unet"].config)
    decoder_config = renderer["token_decoder"].config
    if (decoder_config.unet_block_out_channels, decoder_config.unet_layers_per_block) != \
            (expected.unet_block_out_channels, expected.unet_layers_per_block):
        raise XDancerWeightsError(f"the renderer checkpoint was trained for a UNet with blocks "
                                  f"{decoder_config.unet_block_out_channels}, but the base model has "
                                  f"{expected.unet_block_out_channels}; use an SD1.5-layout base model.")
    denoising_unet = network.build_denoising_unet(base["unet"], motion_adapter).to(base["unet"].dtype)
    bank = network.install_reference_attention(renderer["reference_unet"], denoising_unet)
    for module in (denoising_unet, renderer["reference_unet"], renderer["token_decoder"], base["vae"]):
        module.eval().requires_grad_(False)
    return XDancerComponents(vae=base["vae"], denoising_unet=denoising_unet,
                             reference_unet=renderer["reference_unet"], token_decoder=renderer["token_decoder"],
                             scheduler=base["scheduler"], bank=bank, image_encoder=renderer["image_encoder"],
                             tokenizer=base["tokenizer"], text_encoder=base["text_encoder"])


def load_xdancer_components(base_model: str | Path, renderer_checkpoint: str | Path,
                            motion_module: str | Path | None = None, dtype=None,
                            device: str = "cpu") -> XDancerComponents:
    """Everything ``render_xdancer`` needs, on ``device`` in ``dtype``.

    motion_module : an AnimateDiff file/folder; None to use the checkpoint's own fine-tuned motion modules
                    (an error names the folder if the checkpoint has none).
    """
    base = load_base_model(base_model, dtype)
    renderer = load_renderer_checkpoint(renderer_checkpoint, dtype)
    if motion_module is not None:
        adapter = load_motion_adapter(motion_module, dtype=dtype)
    elif renderer["motion_adapter"] is not None:
        adapter = renderer["motion_adapter"]
    else:
        raise XDancerWeightsError(f"the renderer checkpoint {renderer_checkpoint} has no {MOTION_ADAPTER_DIR}/ "
                                  f"(it was not trained with stage 2); pick an AnimateDiff motion module from "
                                  f"{MOTION_FOLDER}/ (e.g. v3_sd15_mm.ckpt).")
    components = assemble_components(base, renderer, adapter)
    for module in (components.vae, components.denoising_unet, components.reference_unet, components.token_decoder,
                   components.image_encoder, components.text_encoder):
        if module is not None:
            module.to(device)
    return components
