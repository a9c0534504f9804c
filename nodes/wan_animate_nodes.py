"""Wan 2.2 Animate (diffusers) nodes: load the model, render a Choreo pose sequence as video of the reference person.

Memory inside ComfyUI: the pipeline's networks (transformer, umT5, CLIP, VAE) each get a ComfyUI ModelPatcher
that lives as long as the pipeline, and the renderer asks ComfyUI to load the parts of each stage (encoders, then
per chunk the transformer and the VAE). ComfyUI keeps whatever fits and offloads its own or our models only under
memory pressure, so on a large card nothing moves twice and on a 40 GB card the 14B transformer and umT5 take turns.
Offload "sequential" (layer streaming by diffusers, for 24 GB cards) is the exception: ComfyUI cannot stream
plain torch modules, so the renderer asks it to free room for the largest layer and diffusers places the weights.
The loaded pipeline stays in Choreo's model cache; evicting it frees its patchers and weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..choreo.checkpoints import CheckpointError
from ..choreo.model_cache import MODEL_CACHE, cache_key
from ..choreo.render.wan_animate import (WanAnimateFiles, apply_appearance_expert, apply_memory_options,
                                         load_wan_animate, render_wan_animate)
from ..choreo.render.wan_animate.adapters import DEFAULT_LORA_ALPHA
from ..choreo.render.wan_animate.chunks import DEFAULT_CHUNK_FRAMES, DEFAULT_CONTINUE_FRAMES
from ..choreo.render.wan_animate.loading import OFFLOAD_MODES, transformer_shards
from ..choreo.render.wan_animate.pipeline import DEFAULT_NEGATIVE_PROMPT
from . import comfy_bridge
from .convert import frames_to_comfy, image_from_comfy
from .socket_types import CATEGORY, POSE

WAN_ANIMATE = "CHOREO_WAN_ANIMATE"  # diffusers WanAnimatePipeline, placed by ComfyUI or apply_memory_options
SOURCES = ("diffusers folder", "single files")
DTYPES = ("bf16", "fp16", "fp32")
NONE = "(none)"
DEFAULT_FOLDER = "Wan2.2-Animate-14B-Diffusers"
DEFAULT_FILES = {
    "diffusion_models": "wan2.2_animate_14B_bf16.safetensors",
    "vae": "wan_2.1_vae.safetensors",
    "text_encoders": "umt5_xxl_fp16.safetensors",
    "clip_vision": "clip_vision_h.safetensors",
}


NETWORK_PARTS = ("transformer", "text_encoder", "image_encoder", "vae")


def _placer(pipe):
    """The renderer's ``place`` callback when ComfyUI owns the pipeline's memory, else None (already placed)."""
    if not comfy_bridge.is_managed(pipe):
        return None
    return lambda parts: comfy_bridge.load_models(pipe, [getattr(pipe, part) for part in parts])


def _largest_layer_bytes(pipe) -> int:
    """Bytes of the biggest module that diffusers' sequential offload moves to the GPU at once."""
    return max(sum(t.numel() * t.element_size() for t in [*m.parameters(recurse=False), *m.buffers(recurse=False)])
               for part in NETWORK_PARTS for m in getattr(pipe, part).modules())


def _resolve(key: str, name: str) -> Path:
    if comfy_bridge.folder_paths is None:
        return Path(name)
    path = comfy_bridge.folder_paths.get_full_path(key, name)
    if path is None:
        raise CheckpointError(f"{name} was not found in ComfyUI/models/{key}; download it there (see the workflow's "
                              "group notes) and press R to refresh.")
    return Path(path)


def _resolve_folder(name: str) -> Path:
    folders = comfy_bridge.marked_sub_folders("diffusers", "model_index.json")
    if name in folders:
        return folders[name]
    if Path(name).is_dir():
        return Path(name)
    roots = [str(p) for p in comfy_bridge.registered_folders("diffusers")] or ["ComfyUI/models/diffusers"]
    raise CheckpointError(f"Wan-Animate diffusers folder {name!r} was not found in {roots}. Download "
                          "Wan-AI/Wan2.2-Animate-14B-Diffusers there (with single files, only its config, tokenizer, "
                          "image_processor and scheduler files are needed).")


class ChoreoLoadWanAnimate:
    DESCRIPTION = ("Loads Wan 2.2 Animate 14B as a diffusers pipeline for Wan Animate Render. 'diffusers folder': "
                   "Wan-AI/Wan2.2-Animate-14B-Diffusers in ComfyUI/models/diffusers. 'single files': the "
                   "transformer from models/diffusion_models (original Wan keys, one file or shards; bf16/fp16, not "
                   "fp8-scaled), the Wan 2.1 VAE from models/vae, umT5-XXL from models/text_encoders, CLIP-H from "
                   "models/clip_vision, plus the diffusers folder for configs and tokenizer only.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "load"
    RETURN_TYPES = (WAN_ANIMATE,)
    RETURN_NAMES = ("wan_animate",)
    OUTPUT_TOOLTIPS = ("The Wan-Animate pipeline, placed by the offload mode.",)

    @classmethod
    def INPUT_TYPES(cls):
        found = comfy_bridge.marked_sub_folders("diffusers", "model_index.json")
        folders = list(dict.fromkeys([DEFAULT_FOLDER, *found]))
        return {"required": {
            "source": (list(SOURCES), {"default": SOURCES[0],
                       "tooltip": "Where the weights are: one diffusers folder, or ComfyUI-style single files."}),
            "diffusers_folder": (folders, {"default": DEFAULT_FOLDER,
                                 "tooltip": "Folder in ComfyUI/models/diffusers. With single files only its "
                                            "*/config.json, tokenizer/, image_processor/ and scheduler/ are read."}),
            "transformer": (comfy_bridge.safetensors_choices("diffusion_models", DEFAULT_FILES["diffusion_models"]),
                            {"tooltip": "single files: Wan2.2-Animate-14B transformer in models/diffusion_models "
                                        "(pick any shard of a sharded checkpoint)."}),
            "vae": (comfy_bridge.safetensors_choices("vae", DEFAULT_FILES["vae"]),
                    {"tooltip": "single files: Wan 2.1 VAE in models/vae."}),
            "text_encoder": (comfy_bridge.safetensors_choices("text_encoders", DEFAULT_FILES["text_encoders"]),
                             {"tooltip": "single files: umT5-XXL encoder (fp16/bf16) in models/text_encoders."}),
            "clip_vision": (comfy_bridge.safetensors_choices("clip_vision", DEFAULT_FILES["clip_vision"]),
                            {"tooltip": "single files: CLIP ViT-H/14 vision in models/clip_vision."}),
            "dtype": (list(DTYPES), {"default": "bf16",
                      "tooltip": "Precision of the transformer and encoders (the VAE stays fp32). bf16 needs about "
                                 "35 GB of weights in memory for 14B + umT5-XXL."}),
            "offload": (list(OFFLOAD_MODES), {"default": "model",
                        "tooltip": "none: everything on the GPU (80 GB class). model: one component at a time on "
                                   "the GPU (the 14B transformer alone needs ~33 GB in bf16); inside ComfyUI both "
                                   "let its memory manager load each stage's parts and keep what fits. sequential: "
                                   "layer by layer, for 24 GB cards; slow."}),
            "vae_tiling": ("BOOLEAN", {"default": True, "tooltip": "Decode in tiles to bound VAE memory."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, source, diffusers_folder, transformer, vae, text_encoder, clip_vision):
        """At prompt validation: a missing folder or file is refused before anything runs, naming where it goes."""
        try:
            _resolve_folder(diffusers_folder)
            if source == "single files":
                for key, name in (("diffusion_models", transformer), ("vae", vae), ("text_encoders", text_encoder),
                                  ("clip_vision", clip_vision)):
                    _resolve(key, name)
        except CheckpointError as error:
            return str(error)
        return True

    def load(self, source, diffusers_folder, transformer, vae, text_encoder, clip_vision, dtype, offload, vae_tiling):
        import torch

        folder = _resolve_folder(diffusers_folder)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if source == "diffusers folder":
            target, files = folder, None
        else:
            files = WanAnimateFiles(transformer=_resolve("diffusion_models", transformer),
                                    vae=_resolve("vae", vae), text_encoder=_resolve("text_encoders", text_encoder),
                                    image_encoder=_resolve("clip_vision", clip_vision), support_dir=folder)
            target = files.transformer
            transformer_shards(target)
        variant = (source, files, offload, bool(vae_tiling))

        comfy_owns = comfy_bridge.model_management is not None and offload != "sequential"

        def load():
            pipe = load_wan_animate(files or folder, dtype=dtype)
            if comfy_owns:  # weights wait on ComfyUI's offload device until a stage loads them
                pipe = apply_memory_options(pipe, "none", vae_tiling, comfy_bridge.offload_device())
                comfy_bridge.manage(pipe, [getattr(pipe, part) for part in NETWORK_PARTS])
            else:
                pipe = apply_memory_options(pipe, offload, vae_tiling, device)
            networks = torch.nn.ModuleList(m for m in pipe.components.values() if isinstance(m, torch.nn.Module))
            return networks, pipe  # the cache sizes the entry by its first element

        return (MODEL_CACHE.get_or_load(cache_key(target, dtype, device, variant), load)[1],)


class ChoreoWanAnimateRender:
    DESCRIPTION = ("Renders the pose sequence as a video of the person in the reference image with Wan 2.2 "
                   "Animate, in chunks of 77 frames chained as MACE-Dance does (every chunk sees the whole dance's "
                   "pose, the previous chunk's last frames and the same reference). Optional MACE-Dance "
                   "Appearance Expert: body adapter + LoRA (alpha 0.5).")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("One frame per pose frame, at width x height.",)

    @classmethod
    def INPUT_TYPES(cls):
        loras = [NONE, *comfy_bridge.model_file_names("loras")]
        return {"required": {
            "wan_animate": (WAN_ANIMATE, {"tooltip": "From Load Wan Animate."}),
            "reference_image": ("IMAGE", {"tooltip": "The person to animate (first image of the batch)."}),
            "pose": (POSE, {"tooltip": "The dance on the reference image's canvas (Project Motion to 2D)."}),
            "prompt": ("STRING", {"default": "a person dancing, full body, natural lighting", "multiline": True,
                       "tooltip": "Scene description for umT5."}),
            "negative_prompt": ("STRING", {"default": DEFAULT_NEGATIVE_PROMPT, "multiline": True,
                                "tooltip": "Used only when cfg > 1."}),
            "width": ("INT", {"default": 480, "min": 16, "max": 2048, "step": 16,
                      "tooltip": "Output width (multiple of 16). The reference and pose are resized to it."}),
            "height": ("INT", {"default": 832, "min": 16, "max": 2048, "step": 16,
                       "tooltip": "Output height (multiple of 16). Keep the reference image's aspect ratio."}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 100, "tooltip": "Denoising steps per chunk."}),
            "cfg": ("FLOAT", {"default": 1.0, "min": 1.0, "max": 10.0, "step": 0.1,
                    "tooltip": "Guidance; 1.0 is Wan-Animate's default (one pass per step, half the time)."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True,
                     "tooltip": "Noise seed."}),
            "chunk_frames": ("INT", {"default": DEFAULT_CHUNK_FRAMES, "min": 5, "max": 161, "step": 4,
                             "tooltip": "Frames per Wan call, 4n + 1 (77 as ComfyUI's WanAnimateToVideo)."}),
            "continue_frames": ("INT", {"default": DEFAULT_CONTINUE_FRAMES, "min": 1, "max": 16,
                                "tooltip": "Frames of the previous chunk each chunk continues from (Wan: 1 or 5)."}),
            "face_source": (["reference", "landmarks"], {"default": "reference",
                            "tooltip": "face_video: the reference face following the head roll, or the motion's "
                                       "face landmarks (needs a face track)."}),
        }, "optional": {
            "reference_pose": (POSE, {"tooltip": "The person's pose in the reference image: locates the face."}),
            "appearance_adapter": (loras, {"default": NONE,
                                   "tooltip": "MACE-Dance Adapter.safetensors (body adapter) in models/loras."}),
            "appearance_lora": (loras, {"default": NONE,
                                "tooltip": "MACE-Dance LoRA.safetensors (rank 32) in models/loras."}),
            "lora_strength": ("FLOAT", {"default": DEFAULT_LORA_ALPHA, "min": -2.0, "max": 2.0, "step": 0.05,
                              "tooltip": "LoRA alpha; MACE-Dance applies 0.5."}),
        }}

    def render(self, wan_animate, reference_image, pose, prompt, negative_prompt, width, height, steps, cfg, seed,
               chunk_frames, continue_frames, face_source, reference_pose=None, appearance_adapter=NONE,
               appearance_lora=NONE, lora_strength=DEFAULT_LORA_ALPHA):
        if comfy_bridge.model_management is not None and not comfy_bridge.is_managed(wan_animate):
            comfy_bridge.make_room(_largest_layer_bytes(wan_animate))
        adapter = None if appearance_adapter in (None, NONE) else _resolve("loras", appearance_adapter)
        lora = None if appearance_lora in (None, NONE) else _resolve("loras", appearance_lora)
        with apply_appearance_expert(wan_animate.transformer, adapter, lora, lora_strength):
            frames = render_wan_animate(
                wan_animate, image_from_comfy(reference_image, "reference_image"), pose, prompt=prompt,
                negative_prompt=negative_prompt, num_inference_steps=steps, guidance_scale=cfg, seed=seed,
                chunk_frames=chunk_frames, continue_frames=continue_frames, width=width, height=height,
                reference_pose=reference_pose, face_source=face_source, progress=comfy_bridge.progress_reporter(),
                place=_placer(wan_animate))
        return (frames_to_comfy(np.ascontiguousarray(frames)),)
