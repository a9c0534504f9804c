"""MusicInfuser nodes: load Mochi + the MusicInfuser adapter + Wav2Vec2, and turn music into a dance video.

Memory inside ComfyUI: each network (T5-XXL, Wav2Vec2, the Mochi transformer with its adapter, the VAE) gets a
ComfyUI ModelPatcher that lives as long as the loaded model; every stage asks ComfyUI to load only its own
networks, so on a 24 GB card T5 (~9.5 GB bf16) and the transformer (~21 GB bf16 with the adapter) take turns
and ComfyUI offloads whatever else it holds under pressure. Outside ComfyUI the generator moves the stage's
networks to the GPU itself.
"""

from __future__ import annotations

from pathlib import Path

from ..choreo.checkpoints import CheckpointError
from ..choreo.generators.musicinfuser import (DEFAULT_FRAMES, DEFAULT_GUIDANCE, DEFAULT_HEIGHT, DEFAULT_STEPS,
                                              DEFAULT_WIDTH, MusicInfuserFiles, check_files, generate_music_video,
                                              load_musicinfuser)
from . import comfy_bridge
from .convert import audio_from_comfy, audio_to_comfy
from .music_nodes import wav2vec2_models
from .socket_types import CATEGORY, MUSIC

MUSICINFUSER = "CHOREO_MUSICINFUSER"  # choreo.generators.musicinfuser.LoadedMusicInfuser (+ its VAE tiling choice)
SOURCES = ("diffusers folder", "single file transformer")
DTYPES = ("bf16", "fp16", "fp32")
DEFAULT_MOCHI = "mochi-1-preview"
DEFAULT_TRANSFORMER = "mochi_preview_bf16.safetensors"
DEFAULT_ADAPTER = "musicinfuser.safetensors"
DEFAULT_WAV2VEC2 = "wav2vec2-base-960h"


def _resolve_folder(key: str, name: str, marker: str, what: str) -> Path:
    folders = comfy_bridge.marked_sub_folders(key, marker)
    if name in folders:
        return folders[name]
    if Path(name).is_dir():
        return Path(name)
    roots = [str(p) for p in comfy_bridge.registered_folders(key)] or [f"ComfyUI/models/{key}"]
    raise CheckpointError(f"{what} folder {name!r} was not found in {roots}; download it there (a folder with "
                          f"{marker}) and press R to refresh.")


def _resolve_file(key: str, name: str, what: str) -> Path:
    if comfy_bridge.folder_paths is None:
        if Path(name).is_file():
            return Path(name)
        raise CheckpointError(f"{what} file {name!r} was not found; put it in ComfyUI/models/{key}.")
    path = comfy_bridge.folder_paths.get_full_path(key, name)
    if path is None:
        raise CheckpointError(f"{what} file {name!r} was not found in ComfyUI/models/{key}; download it there and "
                              "press R to refresh.")
    return Path(path)


def _resolve_wav2vec2(name: str) -> Path:
    """The pack's Wav2Vec2 folders (ComfyUI/models/choreo/wav2vec2/<name>, shared with Music Features)."""
    folders = wav2vec2_models()
    if name in folders:
        return folders[name]
    if Path(name).is_dir():
        return Path(name)
    raise CheckpointError(f"Wav2Vec2 folder {name!r} was not found in "
                          f"{comfy_bridge.choreo_models_directory('wav2vec2')}; download facebook/wav2vec2-base-960h "
                          "(config.json + model.safetensors) there as wav2vec2-base-960h/ and press R to refresh.")


def _files(source, mochi_folder, transformer, musicinfuser, wav2vec2) -> MusicInfuserFiles:
    return MusicInfuserFiles(
        mochi_folder=_resolve_folder("diffusers", mochi_folder, "model_index.json", "Mochi-1-preview (diffusers)"),
        musicinfuser=_resolve_file("loras", musicinfuser, "MusicInfuser"),
        wav2vec2=_resolve_wav2vec2(wav2vec2),
        transformer=_resolve_file("diffusion_models", transformer, "Mochi transformer")
        if source == SOURCES[1] else None)


def _comfy_placer(loaded):
    """The generator's stage callback when ComfyUI owns the networks' memory, else None (the generator places)."""
    if not comfy_bridge.is_managed(loaded):
        return None
    networks = loaded.networks()
    return lambda names: comfy_bridge.load_models(loaded, [networks[name] for name in names])


class ChoreoLoadMusicInfuser:
    DESCRIPTION = ("Loads MusicInfuser (music-conditioned Genmo Mochi-1: zero-initialised music cross-attention "
                   "and rank-64 LoRA) for MusicInfuser Generate. Needs the Mochi-1-preview diffusers folder in "
                   "models/diffusers (or its transformer as one file in models/diffusion_models, the folder then "
                   "giving T5, VAE and configs), musicinfuser.safetensors in models/loras and the "
                   "facebook/wav2vec2-base-960h folder in models/choreo/wav2vec2.")
    CATEGORY = f"{CATEGORY}/video"
    FUNCTION = "load"
    RETURN_TYPES = (MUSICINFUSER,)
    RETURN_NAMES = ("musicinfuser",)
    OUTPUT_TOOLTIPS = ("Mochi with MusicInfuser's adapter, T5, VAE and the Wav2Vec2 music encoder.",)

    @classmethod
    def INPUT_TYPES(cls):
        found = comfy_bridge.marked_sub_folders("diffusers", "model_index.json")
        mochi = list(dict.fromkeys([DEFAULT_MOCHI, *found]))
        wav2vec2 = list(dict.fromkeys([DEFAULT_WAV2VEC2, *wav2vec2_models()]))
        return {"required": {
            "source": (list(SOURCES), {"default": SOURCES[0],
                       "tooltip": "Where Mochi's transformer is: inside the diffusers folder, or one file in Genmo's "
                                  "native key names (dit.safetensors / ComfyUI's mochi_preview_bf16) in "
                                  "models/diffusion_models."}),
            "mochi_folder": (mochi, {"default": DEFAULT_MOCHI,
                             "tooltip": "genmo/mochi-1-preview in diffusers layout, in models/diffusers (with a "
                                        "single-file transformer its transformer/ needs only config.json)."}),
            "transformer": (comfy_bridge.safetensors_choices("diffusion_models", DEFAULT_TRANSFORMER),
                            {"tooltip": "single file transformer: Mochi-1 DiT in models/diffusion_models (bf16, "
                                        "~20 GB; fp8-scaled files are not supported)."}),
            "musicinfuser": (comfy_bridge.safetensors_choices("loras", DEFAULT_ADAPTER),
                             {"tooltip": "MusicInfuser adapter (susunghong/MusicInfuser, 1.44 GB) in models/loras."}),
            "wav2vec2": (wav2vec2, {"default": DEFAULT_WAV2VEC2,
                         "tooltip": "facebook/wav2vec2-base-960h folder (config.json + model.safetensors, "
                                    "~380 MB) in models/choreo/wav2vec2 (shared with Music Features)."}),
            "dtype": (list(DTYPES), {"default": "bf16",
                      "tooltip": "Precision of the transformer, adapter and T5 (VAE and Wav2Vec2 stay fp32). bf16 "
                                 "as MusicInfuser was trained; fp32 only for tiny tests or CPUs."}),
            "vae_tiling": ("BOOLEAN", {"default": True,
                           "tooltip": "Decode the video in tiles: bounds the VAE's memory at 848x480 (24 GB cards)."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, source, mochi_folder, transformer, musicinfuser, wav2vec2):
        """At prompt validation: a missing folder or file is refused before anything runs, naming where it goes."""
        try:
            check_files(_files(source, mochi_folder, transformer, musicinfuser, wav2vec2))
        except CheckpointError as error:
            return str(error)
        return True

    def load(self, source, mochi_folder, transformer, musicinfuser, wav2vec2, dtype, vae_tiling):
        loaded = load_musicinfuser(_files(source, mochi_folder, transformer, musicinfuser, wav2vec2), dtype=dtype)
        comfy_bridge.manage(loaded, loaded.networks().values())
        return ({"loaded": loaded, "vae_tiling": bool(vae_tiling)},)


class ChoreoMusicInfuserGenerate:
    DESCRIPTION = ("Generates a dance video to the music with MusicInfuser (no pose stage): the prompt says who "
                   "dances where, the music drives the motion. Paper defaults: 145 frames at 30 fps (trained on 73; "
                   "longer extrapolates), 64 steps, CFG 6, 848x480. The audio output is the music cut to the "
                   "video's length so both end together. Same seed, same video.")
    CATEGORY = f"{CATEGORY}/video"
    FUNCTION = "generate"
    RETURN_TYPES = ("IMAGE", "AUDIO")
    RETURN_NAMES = ("images", "audio")
    OUTPUT_TOOLTIPS = ("The video frames at 30 fps.", "The music trimmed to the video (frames / 30 s).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "musicinfuser": (MUSICINFUSER, {"tooltip": "From Load MusicInfuser."}),
            "prompt": ("STRING", {"default": "a professional female dancer dancing K-pop in an advanced dance "
                                             "setting in a studio with a white background, captured from a front "
                                             "view", "multiline": True,
                       "tooltip": "Who dances, where, and the camera (the official example prompt)."}),
            "audio": ("AUDIO", {"tooltip": "The music; the video starts with it."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True,
                     "tooltip": "Noise seed; the same seed gives the same video."}),
            "frames": ("INT", {"default": DEFAULT_FRAMES, "min": 0, "max": 1801, "step": 1,
                       "tooltip": "Video frames at 30 fps, 6k + 1 (73 = 2.4 s as trained, 145 = 4.8 s); 0 = as long "
                                  "as the music lasts. The music must cover frames / 30 s."}),
            "steps": ("INT", {"default": DEFAULT_STEPS, "min": 1, "max": 200,
                      "tooltip": "Denoising steps (64 = paper)."}),
            "cfg": ("FLOAT", {"default": DEFAULT_GUIDANCE, "min": 1.0, "max": 20.0, "step": 0.1,
                    "tooltip": "Text classifier-free guidance (6 = paper); the music conditions both passes. "
                               "1 = one pass per step, half the time."}),
            "width": ("INT", {"default": DEFAULT_WIDTH, "min": 16, "max": 2048, "step": 16,
                      "tooltip": "Video width in px, multiple of 16 (848 = trained)."}),
            "height": ("INT", {"default": DEFAULT_HEIGHT, "min": 16, "max": 2048, "step": 16,
                       "tooltip": "Video height in px, multiple of 16 (480 = trained)."}),
        }, "optional": {
            "music_analysis": (MUSIC, {"tooltip": "Only for adapters fine-tuned with beat channels "
                                                  "(train_musicinfuser --beat-channels 2): Analyze Music's beats and "
                                                  "downbeats of the same audio. The official weights have none."}),
        }}

    def generate(self, musicinfuser, prompt, audio, seed, frames, steps, cfg, width, height, music_analysis=None):
        loaded = musicinfuser["loaded"]
        video = generate_music_video(loaded, audio_from_comfy(audio), prompt, seed=seed, num_frames=frames,
                                     num_inference_steps=steps, guidance_scale=cfg, width=width, height=height,
                                     analysis=music_analysis, vae_tiling=musicinfuser["vae_tiling"],
                                     place=_comfy_placer(loaded),
                                     progress=comfy_bridge.progress_reporter(steps))
        return (video.frames, audio_to_comfy(video.audio))
