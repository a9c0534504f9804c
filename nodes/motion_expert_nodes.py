"""Nodes of the learned Motion Experts (MACE-Dance, EDGE): load, generate, in-paint, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..choreo.checkpoints import CheckpointError, find_checkpoints
from ..choreo.edit import keep_mask, parse_edit_document
from ..choreo.errors import MotionInputError
from ..choreo.generators.motion_expert import (ALL_GENRES, AUTO_GENRE, INPAINT_MODES, generate_dance, inpaint_dance,
                                               load_motion_expert, parse_joint_list)
from ..choreo.io.motion_files import save_motion_bvh, save_motion_npz
from . import comfy_bridge
from .socket_types import CATEGORY, MOTION, MUSIC, MUSIC_FEATURES, MOTION_EXPERT

BUNDLED_DIR = comfy_bridge.PACK_DIR / "assets" / "checkpoints" / "motion_expert"
BUNDLED_PREFIX = "bundled/"
DTYPES = ("float32", "bfloat16", "float16")
EXPORT_FORMATS = ("both", "npz", "bvh")


def expert_choices() -> dict[str, Path]:
    """Display name -> checkpoint folder: the bundled demos, then ComfyUI/models/choreo/motion_expert/**."""
    choices = {BUNDLED_PREFIX + path.relative_to(BUNDLED_DIR).as_posix(): path
               for path in find_checkpoints(BUNDLED_DIR)}
    user_root = comfy_bridge.choreo_models_directory("motion_expert")
    for path in find_checkpoints(user_root):
        choices[path.relative_to(user_root).as_posix()] = path
    return choices


def _seed_input(tooltip: str) -> tuple:
    return ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True, "tooltip": tooltip})


def _sampling_inputs() -> dict:
    return {
        "beta": ("FLOAT", {"default": 0.5, "min": 0.05, "max": 1.0, "step": 0.05,
                 "tooltip": "MACE only: the diversity dial of guidance-free training. 1 = plain conditional "
                            "(most varied), lower = stronger music guidance (0.5 ~ classifier-free weight 2)."}),
        "guidance_weight": ("FLOAT", {"default": 2.0, "min": 0.0, "max": 10.0, "step": 0.1,
                            "tooltip": "EDGE only: classifier-free guidance weight (1 = conditional, 2 = EDGE's "
                                       "default). Ramped up over the first half of sampling for long songs."}),
        "genre": ([AUTO_GENRE] + list(ALL_GENRES), {"default": AUTO_GENRE,
                  "tooltip": "MACE only: dance genre, if the checkpoint was trained on it (AIST++ codes, FineDance "
                             "names or choreographer styles; the bundled demo knows none: keep auto); auto = the "
                             "checkpoint's 'unknown' genre."}),
        "num_inference_steps": ("INT", {"default": 50, "min": 1, "max": 1000, "step": 1,
                                "tooltip": "DDIM denoising steps (50 = EDGE/MACE). Fewer is faster and rougher."}),
    }


class ChoreoLoadMotionExpert:
    DESCRIPTION = ("Loads a learned music-to-3D-dance model (MACE-Dance Motion Expert or EDGE) from a Choreo "
                   "checkpoint folder (config.json + model.safetensors) in ComfyUI/models/choreo/motion_expert, "
                   "or the bundled demo (tiny, trained on the beat choreographer's dances: a smoke test, not art).")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "load"
    RETURN_TYPES = (MOTION_EXPERT,)
    RETURN_NAMES = ("motion_expert",)
    OUTPUT_TOOLTIPS = ("The loaded network with its normaliser, ready for Generate 3D Dance / 3D In-paint.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = sorted(expert_choices()) or [BUNDLED_PREFIX + "mace_demo"]
        default = BUNDLED_PREFIX + "mace_demo" if BUNDLED_PREFIX + "mace_demo" in names else names[0]
        return {"required": {
            "checkpoint": (names, {"default": default,
                           "tooltip": "A folder under ComfyUI/models/choreo/motion_expert (made by "
                                      "choreo.training.train_motion_expert or the EDGE converter), or bundled/…"}),
            "dtype": (list(DTYPES), {"default": "float32",
                      "tooltip": "Weight precision. float32 on CPU; bfloat16/float16 halve memory on a GPU."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, checkpoint):
        """At prompt validation: a missing checkpoint folder is refused before anything runs."""
        if checkpoint not in expert_choices():
            return (f"motion expert checkpoint {checkpoint!r} was not found; put its folder (config.json + "
                    f"model.safetensors) in {comfy_bridge.choreo_models_directory('motion_expert')} and refresh.")
        return True

    def load(self, checkpoint, dtype):
        choices = expert_choices()
        if checkpoint not in choices:
            raise CheckpointError(f"motion expert checkpoint {checkpoint!r} was not found; put checkpoint folders in "
                                  f"{comfy_bridge.choreo_models_directory('motion_expert')} and refresh. "
                                  f"Found: {sorted(choices)}.")
        import torch

        expert = load_motion_expert(choices[checkpoint], dtype=getattr(torch, dtype))
        return (comfy_bridge.manage(expert, [expert.network]),)


class ChoreoGenerate3DDance:
    DESCRIPTION = ("Generates a 3D dance (SMPL-24) for the whole song with a Motion Expert: MACE dances the song "
                   "in one pass (BiMamba length extrapolation), EDGE in overlapping 5 s windows kept consistent "
                   "at every denoising step. Same seed, same dance.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "generate"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("3D dance on the music's frame clock, foot contacts from the model.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion_expert": (MOTION_EXPERT, {"tooltip": "From Load Motion Expert."}),
            "music_features": (MUSIC_FEATURES, {"tooltip": "From Music Features with the extractor the model was "
                                                           "trained on, same fps (the bundled demos: "
                                                           "edge_librosa_beats, with Analyze Music wired to its "
                                                           "analysis)."}),
            "seed": _seed_input("Noise seed; the same seed gives the same dance."),
            **_sampling_inputs(),
        }, "optional": {
            "num_frames": ("INT", {"default": 0, "min": 0, "max": 216000, "step": 1,
                           "tooltip": "Frames to generate; 0 = the music's length (or the music analysis's)."}),
            "music": (MUSIC, {"tooltip": "Optional music analysis: its frame count sets the length when "
                                         "num_frames is 0."}),
        }}

    def generate(self, motion_expert, music_features, seed, beta, guidance_weight, genre, num_inference_steps,
                 num_frames=0, music=None):
        comfy_bridge.load_models(motion_expert, [motion_expert.network])
        length = num_frames or (music.num_frames if music is not None else None)
        motion = generate_dance(motion_expert, music_features, seed=seed, num_frames=length, beta=beta,
                                guidance_weight=guidance_weight, genre=None if genre == AUTO_GENRE else genre,
                                num_inference_steps=num_inference_steps, progress=comfy_bridge.progress_reporter())
        return (motion,)


class Choreo3DInpaint:
    DESCRIPTION = ("Re-dances part of a 3D dance with a Motion Expert by masked denoising: 'temporal' regenerates "
                   "a time span (or everything away from the editor's keyframes), 'joints' regenerates all but the "
                   "listed joints, 'root' keeps the path across the floor and regenerates the body. Kept parts are "
                   "exact; the new motion flows into them.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "inpaint"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("The dance with the masked part regenerated.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion_expert": (MOTION_EXPERT, {"tooltip": "From Load Motion Expert."}),
            "music_features": (MUSIC_FEATURES, {"tooltip": "The features the dance was generated from."}),
            "motion": (MOTION, {"tooltip": "The dance to edit (same length as the music features or shorter)."}),
            "mode": (list(INPAINT_MODES), {"default": INPAINT_MODES[0],
                     "tooltip": "temporal: regenerate the span below (or the frames away from the edits' "
                                "keyframes); joints: keep the listed joints, regenerate the rest; root: keep the "
                                "root trajectory, regenerate the body."}),
            "start_s": ("FLOAT", {"default": 2.0, "min": 0.0, "max": 7200.0, "step": 0.1,
                        "tooltip": "temporal mode: start of the span to regenerate, seconds."}),
            "end_s": ("FLOAT", {"default": 4.0, "min": 0.0, "max": 7200.0, "step": 0.1,
                      "tooltip": "temporal mode: end of the span to regenerate, seconds."}),
            "joints": ("STRING", {"default": "lower_body",
                       "tooltip": "joints mode: joints to KEEP, comma-separated SMPL names or indices or groups "
                                  "(lower_body, upper_body, left_arm, right_arm, left_leg, right_leg, spine_head)."}),
            "seed": _seed_input("Noise seed of the regenerated part."),
            **_sampling_inputs(),
        }, "optional": {
            "edits_json": ("STRING", {"forceInput": True,
                           "tooltip": "temporal mode: the Pose Keyframe Editor's edits; frames near its keyframes "
                                      "are kept and the rest regenerated (overrides start_s/end_s)."}),
        }}

    def inpaint(self, motion_expert, music_features, motion, mode, start_s, end_s, joints, seed, beta,
                guidance_weight, genre, num_inference_steps, edits_json=None):
        keep_frames = keep_joints = None
        if mode == "temporal":
            if edits_json:
                keep_frames = keep_mask(motion.num_frames, parse_edit_document(edits_json))
            else:
                if not end_s > start_s:
                    raise MotionInputError(f"end_s ({end_s}) must be after start_s ({start_s}).")
                times_s = np.arange(motion.num_frames) / motion.fps
                keep_frames = (times_s < start_s) | (times_s >= end_s)
        elif mode == "joints":
            keep_joints = parse_joint_list(joints)
        comfy_bridge.load_models(motion_expert, [motion_expert.network])
        result = inpaint_dance(motion_expert, music_features, motion, keep_frames=keep_frames,
                               keep_joints=keep_joints, root_trajectory=mode == "root", seed=seed, beta=beta,
                               guidance_weight=guidance_weight, genre=None if genre == AUTO_GENRE else genre,
                               num_inference_steps=num_inference_steps, progress=comfy_bridge.progress_reporter())
        return (result,)


class ChoreoExportMotion:
    DESCRIPTION = ("Writes a 3D dance to ComfyUI/output as NPZ (SMPL poses and translation, joint positions, "
                   "EDGE 151-d frames) and/or BVH (metres, y up: File > Import > BVH in Blender).")
    CATEGORY = f"{CATEGORY}/export"
    FUNCTION = "export"
    OUTPUT_NODE = True
    RETURN_TYPES = ()
    OUTPUT_TOOLTIPS = ()

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion": (MOTION, {"tooltip": "The 3D dance to save."}),
            "filename_prefix": ("STRING", {"default": "choreo/motion",
                                "tooltip": "Path under ComfyUI/output; a counter is appended."}),
            "formats": (list(EXPORT_FORMATS), {"default": "both", "tooltip": "Which files to write."}),
        }}

    def export(self, motion, filename_prefix, formats):
        folder, stem, subfolder = comfy_bridge.save_path(filename_prefix, 0, 0)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        if formats in ("both", "npz"):
            written.append(save_motion_npz(motion, folder / f"{stem}.npz"))
        if formats in ("both", "bvh"):
            written.append(save_motion_bvh(motion, folder / f"{stem}.bvh"))
        files = [{"filename": path.name, "subfolder": subfolder, "type": "output"} for path in written]
        return {"ui": {"text": [str(Path(subfolder) / path.name) for path in written], "files": files}, "result": ()}
