"""CHAMP renderer nodes: load the public CHAMP weights, render a reference person along body guidance passes.

Memory inside ComfyUI: each CHAMP network (ReferenceNet, denoiser, guidance encoders, VAE, image encoder) gets a
ComfyUI ModelPatcher living as long as the loaded pipeline, and the renderer asks ComfyUI to load each stage's
networks (reference, denoising, decoding); ComfyUI keeps what fits and offloads under memory pressure. Outside
ComfyUI the loader's ``offload`` option moves stage by stage instead.

Folders (ComfyUI/models/...): the HF repo ``fudan-generative-ai/champ`` cloned as ``choreo/champ/`` holds everything
(``champ/`` with CHAMP's seven files, ``stable-diffusion-v1-5/``, ``sd-vae-ft-mse/``, ``image_encoder/``). Also
accepted: CHAMP's files directly in ``choreo/<name>/`` (``.pth`` or ``.safetensors`` repacks with the same keys) and
the three diffusers/transformers folders in ``diffusers/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..choreo.generators.champ import (DEFAULT_OVERLAP_FRAMES, DEFAULT_SEGMENT_FRAMES, DENOISING_UNET, DTYPES,
                                       PARTS, ChampFiles, ChampPipeline, load_champ_cached, missing_files,
                                       pipeline_part, render_champ)
from . import comfy_bridge
from .convert import frames_to_comfy, image_from_comfy
from .socket_types import CATEGORY

CHAMP = "CHOREO_CHAMP"  # choreo.generators.champ.ChampPipeline
# input name (as Render Body Passes names its outputs) -> (CHAMP guidance type, tooltip)
GUIDANCE_INPUTS = {
    "depth": ("depth", "Depth pass (Render Body Passes), one frame per video frame."),
    "normal": ("normal", "Surface-normal pass, same frames as the others."),
    "semantic": ("semantic_map", "Semantic body-part map in CHAMP's colours on black (CHAMP's semantic_map)."),
    "skeleton": ("dwpose", "DWPose/OpenPose skeleton drawn on black (CHAMP's dwpose)."),
}
DEFAULTS = {"champ": "champ", "base_model": "stable-diffusion-v1-5", "vae": "sd-vae-ft-mse",
            "image_encoder": "image_encoder"}  # the folder names of the HF repo fudan-generative-ai/champ
CHAMP_MARKERS = tuple(f"{sub}{DENOISING_UNET}{suffix}" for sub in ("", "champ/") for suffix in (".pth", ".safetensors"))


def _subfolders(roots: list[Path]) -> list[str]:
    """Names of the folders one level inside ``roots``, without repeats."""
    names = []
    for root in roots:
        if root.is_dir():
            names += [child.name for child in sorted(root.iterdir()) if child.is_dir()]
    return list(dict.fromkeys(names))


def _diffusers_roots() -> list[Path]:
    if comfy_bridge.folder_paths is None:
        return [Path.cwd() / "models_user" / "diffusers"]
    return [Path(path) for path in comfy_bridge.folder_paths.get_folder_paths("diffusers")]


def champ_folders() -> list[str]:
    """Folders in ComfyUI/models/choreo holding CHAMP's denoising UNet (directly or in ``champ/``), default first."""
    roots = comfy_bridge.model_folders("choreo")
    found = [name for name in _subfolders(roots)
             if any((root / name / marker).is_file() for root in roots for marker in CHAMP_MARKERS)]
    return list(dict.fromkeys([DEFAULTS["champ"], *found]))


def _part_roots() -> list[Path]:
    """Where the SD-1.5, VAE and image-encoder folders are looked for: inside each CHAMP folder (an HF clone),
    then ComfyUI/models/diffusers."""
    roots = comfy_bridge.model_folders("choreo")
    return [root / name for name in champ_folders() for root in roots if (root / name).is_dir()] + _diffusers_roots()


def _find(roots: list[Path], name: str, markers: tuple[str, ...]) -> Path:
    """``<root>/<name>[/<sub>]`` for the first root and sub-folder whose config marker exists (else the first guess)."""
    for root in roots:
        for marker in markers:
            if (root / name / marker).is_file():
                return (root / name / marker).parent
    return (roots[0] if roots else Path()) / name / Path(markers[0]).parent


def resolve_files(champ: str, base_model: str, vae: str, image_encoder: str) -> ChampFiles:
    """Folder names of the loader's combos -> paths (under ./models_user outside ComfyUI)."""
    champ_dir = _find(comfy_bridge.model_folders("choreo"), champ, CHAMP_MARKERS)
    clone = champ_dir.parent if champ_dir.name == "champ" and champ_dir.parent.name == champ else champ_dir
    roots = [clone, *_diffusers_roots()]
    return ChampFiles(
        champ_dir=champ_dir,
        base_model_dir=_find(roots, base_model, ("unet/config.json",)).parent,
        vae_dir=_find(roots, vae, ("config.json", "vae/config.json")),
        image_encoder_dir=_find(roots, image_encoder, ("config.json", "image_encoder/config.json")))


class ChoreoLoadCHAMP:
    DESCRIPTION = ("Loads CHAMP (Fudan, Apache-2.0): SD-1.5 denoising UNet + ReferenceNet + AnimateDiff motion "
                   "module + guidance encoders for depth, normal, semantic map and DWPose skeleton, the renderer of "
                   "M2PEnc. Clone HF fudan-generative-ai/champ into ComfyUI/models/choreo/champ (CHAMP's .pth "
                   "files are read as plain tensors, nothing is unpickled); SD-1.5, sd-vae-ft-mse and the image "
                   "encoder may instead sit in ComfyUI/models/diffusers.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "load"
    RETURN_TYPES = (CHAMP,)
    RETURN_NAMES = ("champ",)
    OUTPUT_TOOLTIPS = ("The CHAMP renderer with the guidance encoders whose files were found.",)

    @classmethod
    def INPUT_TYPES(cls):
        diffusers = [name for name in _subfolders(_part_roots()) if name != "champ"]
        choices = lambda key: list(dict.fromkeys([DEFAULTS[key], *diffusers]))
        return {"required": {
            "champ": (champ_folders(), {"default": DEFAULTS["champ"],
                      "tooltip": "Folder in ComfyUI/models/choreo: a clone of HF fudan-generative-ai/champ (its "
                                 "champ/ sub-folder holds the files), or denoising_unet, reference_unet, "
                                 "motion_module and guidance_encoder_<type> .pth/.safetensors directly."}),
            "base_model": (choices("base_model"), {"default": DEFAULTS["base_model"],
                           "tooltip": "SD-1.5 diffusers folder, inside the CHAMP folder or in ComfyUI/models/"
                                      "diffusers; unet/config.json is read (its weights only if a CHAMP file lacks "
                                      "keys)."}),
            "vae": (choices("vae"), {"default": DEFAULTS["vae"],
                    "tooltip": "stabilityai/sd-vae-ft-mse diffusers folder, inside the CHAMP folder or in "
                               "ComfyUI/models/diffusers."}),
            "image_encoder": (choices("image_encoder"), {"default": DEFAULTS["image_encoder"],
                              "tooltip": "CLIP ViT-L/14 image encoder of lambdalabs/sd-image-variations-diffusers "
                                         "(its image_encoder/ folder, or the whole repo), inside the CHAMP folder "
                                         "or in ComfyUI/models/diffusers."}),
            "dtype": (list(DTYPES), {"default": "fp16",
                      "tooltip": "Weight precision; fp16 as CHAMP (5.1 GB of weights with the VAE and image "
                                 "encoder). fp32 on CPU."}),
            "offload": ("BOOLEAN", {"default": False,
                        "tooltip": "Outside ComfyUI's memory manager only (scripts): keep weights in CPU memory "
                                   "and move each stage's networks to the GPU while it runs. Inside ComfyUI its "
                                   "manager loads each stage and offloads under memory pressure."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, champ, base_model, vae, image_encoder):
        """At prompt validation: every missing file is named with the folder it belongs in."""
        missing = missing_files(resolve_files(champ, base_model, vae, image_encoder))
        if missing:
            return ("CHAMP files are missing: " + "; ".join(missing) + ". Clone huggingface.co/fudan-generative-"
                    "ai/champ (git lfs) into ComfyUI/models/choreo/champ, or put the files where the tooltips say, "
                    "then press R to refresh.")
        return True

    def load(self, champ, base_model, vae, image_encoder, dtype, offload):
        files = resolve_files(champ, base_model, vae, image_encoder)
        if comfy_bridge.model_management is None:
            return (load_champ_cached(files, dtype=dtype, offload=bool(offload)),)
        # weights wait on the CPU (offload=True) until ComfyUI loads a stage's networks
        adopt = lambda pipe: comfy_bridge.manage(pipe, [pipeline_part(pipe, name) for name in PARTS])
        return (load_champ_cached(files, dtype=dtype, device=comfy_bridge.model_management.get_torch_device(),
                                  offload=True, adopt=adopt),)


class ChoreoCHAMPRender:
    DESCRIPTION = ("Renders the person in the reference image dancing along body guidance passes with CHAMP: any "
                   "subset of depth, normal, semantic map and skeleton, one frame each per video frame. Long "
                   "videos are rendered in segments that each continue the previous one's last frames (M2PEnc's "
                   "noise conditioning). DDIM with zero-SNR v-prediction, 20 steps and cfg 3.5 as CHAMP.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("One frame per guidance frame, at width x height.",)

    @classmethod
    def INPUT_TYPES(cls):
        optional = {name: ("IMAGE", {"tooltip": tooltip}) for name, (_, tooltip) in GUIDANCE_INPUTS.items()}
        return {"required": {
            "champ": (CHAMP, {"tooltip": "From Load CHAMP."}),
            "reference_image": ("IMAGE", {"tooltip": "The person to animate (first image of the batch); stretched "
                                                     "to width x height, so crop it to that aspect first."}),
            "width": ("INT", {"default": 512, "min": 64, "max": 2048, "step": 64,
                      "tooltip": "Output width in px (multiple of 64); CHAMP was trained at 512-768."}),
            "height": ("INT", {"default": 512, "min": 64, "max": 2048, "step": 64,
                       "tooltip": "Output height in px (multiple of 64)."}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 100, "tooltip": "DDIM steps per segment."}),
            "cfg": ("FLOAT", {"default": 3.5, "min": 1.0, "max": 10.0, "step": 0.1,
                    "tooltip": "Classifier-free guidance on the reference; 1.0 runs one pass per step."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True,
                     "tooltip": "Noise seed."}),
            "segment_frames": ("INT", {"default": DEFAULT_SEGMENT_FRAMES, "min": 2, "max": 32,
                               "tooltip": "Frames denoised together (the motion module knows 32 positions)."}),
            "overlap_frames": ("INT", {"default": DEFAULT_OVERLAP_FRAMES, "min": 0, "max": 16,
                               "tooltip": "Frames of the previous segment each segment continues from."}),
        }, "optional": optional}

    def render(self, champ, reference_image, width, height, steps, cfg, seed, segment_frames, overlap_frames,
               depth=None, normal=None, semantic=None, skeleton=None):
        passes = {"depth": depth, "normal": normal, "semantic": semantic, "skeleton": skeleton}
        guidance = {GUIDANCE_INPUTS[name][0]: images for name, images in passes.items() if images is not None}
        report = comfy_bridge.progress_reporter()

        def progress(fraction: float) -> None:
            report(fraction)
            comfy_bridge.check_interrupted()

        frames = render_champ(champ, image_from_comfy(reference_image, "reference_image"), guidance, width=width,
                              height=height, num_inference_steps=steps, guidance_scale=cfg, seed=seed,
                              segment_frames=segment_frames, overlap_frames=overlap_frames, progress=progress,
                              place=_placer(champ))
        return (frames_to_comfy(np.ascontiguousarray(frames)),)


def _placer(pipe: ChampPipeline):
    """The renderer's ``place`` callback when ComfyUI owns the pipeline's memory, else None."""
    if not comfy_bridge.is_managed(pipe):
        return None
    return lambda names: comfy_bridge.load_models(pipe, [pipeline_part(pipe, name) for name in names])

