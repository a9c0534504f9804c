"""One-hot pose DiT nodes: load a pose-image autoencoder + DiT, generate 2D dance poses from music."""

from __future__ import annotations

from pathlib import Path

from ..choreo.checkpoints import CheckpointError
from ..choreo.generators.pose_dit import (AUTOENCODER_DIR, DIT_DIR, FAMILY, generate_pose_dit, load_pose_dit,
                                          parse_frame_ranges)
from . import comfy_bridge
from .socket_types import CATEGORY, MUSIC, MUSIC_FEATURES, POSE

POSE_DIT_MODEL = "CHOREO_POSE_DIT_MODEL"  # choreo.generators.pose_dit.PoseDiTModels

DEMO_NAME = "demo (bundled, choreographer dances)"
DEMO_DIR = comfy_bridge.PACK_DIR / "assets" / "checkpoints" / FAMILY / "demo"


def pose_dit_checkpoints() -> dict[str, Path]:
    """Combo name -> folder: the bundled demo, then every folder under ComfyUI/models/choreo/pose_dit holding
    autoencoder/ and dit/ checkpoints (named by its path below that folder)."""
    found = {DEMO_NAME: DEMO_DIR}
    root = comfy_bridge.choreo_models_directory(FAMILY)
    if root.is_dir():
        for dit_config in sorted(root.rglob(f"{DIT_DIR}/config.json")):
            folder = dit_config.parent.parent
            if (folder / AUTOENCODER_DIR / "config.json").is_file():
                found[folder.relative_to(root).as_posix()] = folder
    return found


class ChoreoLoadPoseDiT:
    DESCRIPTION = ("Loads a one-hot pose DiT (HotDance): a pose-image autoencoder and a diffusion transformer that "
                   "dances 2D body poses to music. The bundled demo (a few MB, CPU) was trained on the beat "
                   "choreographer's dances to real music, not on real dancers; put your own folders (autoencoder/ "
                   "and dit/) in ComfyUI/models/choreo/pose_dit.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "load"
    RETURN_TYPES = (POSE_DIT_MODEL,)
    RETURN_NAMES = ("pose_dit_model",)
    OUTPUT_TOOLTIPS = ("Autoencoder + DiT, with the music normaliser, frame rate and one-hot layout they were "
                       "trained with.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = list(pose_dit_checkpoints())
        return {"required": {
            "checkpoint": (names, {"default": names[0],
                           "tooltip": "A folder with autoencoder/ and dit/ under ComfyUI/models/choreo/pose_dit, or "
                                      "the bundled demo."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, checkpoint):
        """At prompt validation: a missing checkpoint folder is refused before anything runs."""
        if checkpoint not in pose_dit_checkpoints():
            return (f"Pose DiT checkpoint {checkpoint!r} was not found; put its folder (autoencoder/ and dit/) in "
                    f"{comfy_bridge.choreo_models_directory(FAMILY)} and refresh.")
        return True

    def load(self, checkpoint):
        folders = pose_dit_checkpoints()
        if checkpoint not in folders:
            raise CheckpointError(f"Pose DiT checkpoint {checkpoint!r} is not in "
                                  f"{comfy_bridge.choreo_models_directory(FAMILY)}; choose one of {list(folders)}.")
        models = load_pose_dit(folders[checkpoint])
        return (comfy_bridge.manage(models, models.networks),)


class ChoreoPoseDiTGenerate:
    DESCRIPTION = ("One-hot pose DiT: denoises the dance as a pose image (body keypoints' x and y over time) in step "
                   "with the music features, in segments that share 16 frames, keeping the reference pose's body "
                   "proportions, size and place. Optionally keeps frames of another pose sequence exactly and "
                   "dances around them (in-painting). Same seed, same dance.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "generate"
    RETURN_TYPES = (POSE,)
    RETURN_NAMES = ("pose",)
    OUTPUT_TOOLTIPS = ("2D pose sequence on the reference canvas: 18 body keypoints (hands, feet and face absent).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose_dit_model": (POSE_DIT_MODEL, {"tooltip": "From Load Pose DiT."}),
            "music_features": (MUSIC_FEATURES, {"tooltip": "From Music Features, with the extractor and fps the model "
                                                           "was trained on (for the demo: edge_librosa_beats, its "
                                                           "analysis wired to Analyze Music, 30 fps)."}),
            "reference_pose": (POSE, {"tooltip": "From Reference Pose: the body (proportions, size, place) to dance."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True,
                             "tooltip": "Seed of the diffusion noise; the same seed gives the same dance."}),
            "cfg": ("FLOAT", {"default": 2.0, "min": 0.0, "max": 10.0, "step": 0.1,
                              "tooltip": "Classifier-free guidance on the music: 1 = no guidance, higher follows the "
                                         "music more strongly (and less naturally)."}),
            "steps": ("INT", {"default": 25, "min": 1, "max": 200,
                              "tooltip": "DDIM denoising steps per segment (about 0.1 s each on a CPU for the demo)."}),
            "length_frames": ("INT", {"default": 0, "min": 0, "max": 1_000_000,
                                      "tooltip": "Frames to generate at the features' fps; 0 = the whole song."}),
        }, "optional": {
            "music": (MUSIC, {"tooltip": "From Analyze Music: the dance lasts its num_frames (else the features' "
                                         "length), unless length_frames is set."}),
            "keep_pose": (POSE, {"tooltip": "A pose sequence on the same clock (e.g. edited in the Pose Editor) whose "
                                            "frames in keep_frames are kept exactly; the rest is danced around them."}),
            "keep_frames": ("STRING", {"default": "",
                                       "tooltip": "Frames of keep_pose to keep, e.g. '0-15, 90, 120-150' (inclusive "
                                                  "ranges); empty keeps every frame of keep_pose."}),
        }}

    def generate(self, pose_dit_model, music_features, reference_pose, seed, cfg, steps, length_frames,
                 music=None, keep_pose=None, keep_frames=""):
        comfy_bridge.load_models(pose_dit_model, pose_dit_model.networks)
        num_frames = music.num_frames if music is not None else None
        if length_frames > 0:
            num_frames = length_frames
        num_frames = min(num_frames, music_features.num_frames) if num_frames is not None else None
        frames = parse_frame_ranges(keep_frames) if keep_pose is not None and keep_frames.strip() else None
        pose = generate_pose_dit(pose_dit_model, music_features, reference_pose, num_frames, seed=seed,
                                 guidance_scale=cfg, num_inference_steps=steps,
                                 progress=comfy_bridge.progress_reporter(), keep=keep_pose, keep_frames=frames)
        return (pose,)
