"""X-Dancer renderer nodes: load SD1.5 + AnimateDiff + our ReferenceNet/token decoder, render pose tokens to video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..choreo.checkpoints import find_checkpoints
from ..choreo.errors import ChoreoError
from ..choreo.generators.xdancer import TOKENIZER_JOINTS
from ..choreo.model_cache import MODEL_CACHE, cache_key
from ..choreo.render.xdancer import render_xdancer
from ..choreo.render.xdancer.loading import load_xdancer_components
from . import comfy_bridge
from .convert import image_from_comfy
from .socket_types import CATEGORY, POSE, POSE_TOKENS, XDANCER_RENDERER as RENDERER

RENDERER_FAMILY = "xdancer_renderer"
FROM_CHECKPOINT = "(motion modules of the renderer checkpoint)"
NONE_FOUND = "(none found)"
DTYPES = {"auto": None, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def _comfy_folder_files(key: str, folder_marker: str) -> dict[str, Path]:
    """Name -> path of the files ComfyUI lists under a folder_paths key, plus sub-folders holding
    ``folder_marker`` (diffusers folders), named with a trailing slash."""
    folder_paths = comfy_bridge.folder_paths
    if folder_paths is None or key not in folder_paths.folder_names_and_paths:
        return {}
    found = {name: Path(folder_paths.get_full_path(key, name)) for name in folder_paths.get_filename_list(key)}
    for root in map(Path, folder_paths.folder_names_and_paths[key][0]):
        for marker in sorted(root.glob(f"*/{folder_marker}")) if root.is_dir() else []:
            folder = marker.parents[len(Path(folder_marker).parts) - 1]
            found.setdefault(folder.name + "/", folder)
    return found


def base_models() -> dict[str, Path]:
    return {**_comfy_folder_files("checkpoints", "unet/config.json"),
            **_comfy_folder_files("diffusers", "unet/config.json")}


def motion_modules() -> dict[str, Path]:
    return _comfy_folder_files("animatediff_models", "config.json")


def renderer_checkpoints() -> dict[str, Path]:
    root = comfy_bridge.choreo_models_directory(RENDERER_FAMILY)
    return {path.relative_to(root).as_posix(): path for path in find_checkpoints(root)}


def _networks(components) -> list:
    """The renderer's torch networks, loaded together by ComfyUI (the two encoders are optional)."""
    return [module for module in (components.vae, components.denoising_unet, components.reference_unet,
                                  components.token_decoder, components.image_encoder, components.text_encoder)
            if module is not None]


def _choices(found: dict) -> list[str]:
    return list(found) or [NONE_FOUND]


class ChoreoLoadXDancerRenderer:
    DESCRIPTION = ("Loads the X-Dancer AdaIN renderer: an SD1.5 base model (ComfyUI/models/checkpoints, .safetensors, "
                   "or a diffusers folder in ComfyUI/models/diffusers), AnimateDiff motion modules "
                   "(ComfyUI/models/animatediff_models, e.g. v3_sd15_mm) and a renderer checkpoint you trained with "
                   "choreo.render.xdancer.training (ComfyUI/models/choreo/xdancer_renderer/<name>/: token decoder + "
                   "ReferenceNet). No official X-Dancer weights exist.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "load"
    RETURN_TYPES = (RENDERER,)
    RETURN_NAMES = ("renderer",)
    OUTPUT_TOOLTIPS = ("Denoising UNet with motion modules, ReferenceNet, token decoder, VAE and scheduler.",)

    @classmethod
    def INPUT_TYPES(cls):
        bases, renderers = _choices(base_models()), _choices(renderer_checkpoints())
        motions = [FROM_CHECKPOINT, *motion_modules()]
        return {"required": {
            "base_model": (bases, {"default": bases[0],
                           "tooltip": "Stable Diffusion 1.5 weights (single .safetensors or diffusers folder)."}),
            "motion_module": (motions, {"default": motions[0],
                              "tooltip": "AnimateDiff motion module for SD1.5, or the fine-tuned one a stage-2 "
                                         "renderer checkpoint carries."}),
            "renderer_checkpoint": (renderers, {"default": renderers[0],
                                    "tooltip": "Your trained renderer folder under "
                                               "ComfyUI/models/choreo/xdancer_renderer."}),
            "dtype": (list(DTYPES), {"default": "auto",
                      "tooltip": "Weights precision; auto = fp16 on a GPU, fp32 on the CPU."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, base_model, motion_module, renderer_checkpoint):
        """At prompt validation: missing weights are refused before anything runs, naming file and folder."""
        checks = [("base_model", base_models(), base_model, "ComfyUI/models/checkpoints or ComfyUI/models/diffusers"),
                  ("renderer_checkpoint", renderer_checkpoints(), renderer_checkpoint,
                   str(comfy_bridge.choreo_models_directory(RENDERER_FAMILY)))]
        if motion_module != FROM_CHECKPOINT:
            checks.append(("motion_module", motion_modules(), motion_module, "ComfyUI/models/animatediff_models"))
        for name, found, choice, folder in checks:
            if choice not in found:
                return f"{name} {choice!r} was not found; put the weights in {folder} and refresh."
        return True

    def load(self, base_model, motion_module, renderer_checkpoint, dtype):
        paths = {"base_model": (base_models(), base_model, "ComfyUI/models/checkpoints"),
                 "renderer_checkpoint": (renderer_checkpoints(), renderer_checkpoint,
                                         str(comfy_bridge.choreo_models_directory(RENDERER_FAMILY)))}
        resolved = {}
        for name, (found, choice, folder) in paths.items():
            if choice not in found:
                raise ChoreoError(f"{name} {choice!r} was not found; put the weights in {folder} and refresh.")
            resolved[name] = found[choice]
        motion = None
        if motion_module != FROM_CHECKPOINT:
            if motion_module not in motion_modules():
                raise ChoreoError(f"motion_module {motion_module!r} is not in ComfyUI/models/animatediff_models.")
            motion = motion_modules()[motion_module]
        torch_dtype = DTYPES[dtype] or (torch.float16 if torch.cuda.is_available() else torch.float32)
        key = cache_key(resolved["renderer_checkpoint"], torch_dtype,
                        variant=(str(resolved["base_model"]), str(motion)))
        components = MODEL_CACHE.get_or_load(key, lambda: load_xdancer_components(
            resolved["base_model"], resolved["renderer_checkpoint"], motion, dtype=torch_dtype))
        return (comfy_bridge.manage(components, _networks(components)),)


class ChoreoXDancerRender:
    DESCRIPTION = ("Renders X-Dancer pose tokens as a video of the person in the reference image: the token decoder "
                   "turns each frame's tokens into AdaIN guidance for the UNet, the ReferenceNet keeps the look, "
                   "the motion modules denoise 16-frame windows together, overlapping windows are blended. "
                   "Needs a GPU for real sizes (about 10-14 GB at 512x768 in fp16, estimated).")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("images", "fps")
    OUTPUT_TOOLTIPS = ("One frame per pose token frame, at the reference size (snapped to multiples of 64 px).",
                       "Frame rate of the tokens, for video nodes.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "renderer": (RENDERER, {"tooltip": "From Load X-Dancer Renderer."}),
            "reference_image": ("IMAGE", {"tooltip": "The person to animate; the video has its size."}),
            "tokens": (POSE_TOKENS, {"tooltip": "From X-Dancer Generate (or Encode Pose Tokens)."}),
            "steps": ("INT", {"default": 25, "min": 1, "max": 200, "tooltip": "Denoising steps (DDIM)."}),
            "cfg": ("FLOAT", {"default": 2.0, "min": 1.0, "max": 20.0, "step": 0.1,
                    "tooltip": "Classifier-free guidance on the reference conditioning (1 = off and twice as fast)."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True,
                     "tooltip": "Noise seed; the same seed gives the same video."}),
            "window": ("INT", {"default": 16, "min": 1, "max": 32,
                       "tooltip": "Frames denoised together by the motion modules (trained at 16)."}),
            "overlap": ("INT", {"default": 4, "min": 0, "max": 31,
                        "tooltip": "Frames shared by neighbouring windows and blended (less than window)."}),
        }, "optional": {
            "pose": (POSE, {"tooltip": "The pose sequence of the tokens (X-Dancer Generate's pose output): its "
                                       "keypoint confidences drive the AdaIN; without it they are all 1."}),
        }}

    def render(self, renderer, reference_image, tokens, steps, cfg, seed, window, overlap, pose=None):
        token_array = np.asarray(tokens["tokens"])
        confidence = tokens.get("confidence")
        if confidence is None and pose is not None:
            if pose.num_frames != token_array.shape[0]:
                raise ChoreoError(f"pose has {pose.num_frames} frames but tokens have {token_array.shape[0]}; "
                                  "connect the pose output of the same X-Dancer Generate node.")
            confidence = pose.confidence[:, list(TOKENIZER_JOINTS)]
        if confidence is None:
            confidence = np.ones((token_array.shape[0], len(TOKENIZER_JOINTS)), dtype=np.float32)
        comfy_bridge.load_models(renderer, _networks(renderer))
        frames = render_xdancer(renderer, image_from_comfy(reference_image, "reference_image"), token_array,
                                np.clip(np.asarray(confidence, dtype=np.float32), 0.0, 1.0), fps=float(tokens["fps"]),
                                num_inference_steps=steps, guidance_scale=cfg, seed=seed, window=window,
                                overlap=overlap, progress=comfy_bridge.progress_reporter())
        return (torch.from_numpy(frames).to(torch.float32).div_(255.0), float(tokens["fps"]))
