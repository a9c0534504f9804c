"""M2PEnc nodes: load the music-to-pose encoder, turn a song into CHAMP's four guidance passes (IMAGE batches)."""

from __future__ import annotations

from pathlib import Path

from ..choreo.checkpoints import CheckpointError, find_checkpoints
from ..choreo.errors import ChoreoError
from ..choreo.generators.m2penc import (DEFAULT_OVERLAP_FRAMES, decoded_pose, encode_music, guidance_images,
                                        load_m2penc, music_for_model, music_from_audio)
from ..choreo.render.frame_range import DEFAULT_MAX_BATCH_GIB, check_batch_bytes, image_batch_bytes
from ..choreo.timeline import num_frames_for
from . import comfy_bridge
from .convert import audio_from_comfy
from .socket_types import CATEGORY, MUSIC_FEATURES, POSE

M2PENC = "CHOREO_M2PENC"  # choreo.generators.m2penc.M2PEncModel
BUNDLED_DIR = comfy_bridge.PACK_DIR / "assets" / "checkpoints" / "m2penc"
BUNDLED_PREFIX = "bundled/"
DEFAULT_CHECKPOINT = BUNDLED_PREFIX + "demo"
PASS_NAMES = ("depth", "normal", "semantic", "skeleton")  # as Render Body Passes names its outputs


def encoder_choices() -> dict[str, Path]:
    """Display name -> checkpoint folder: the bundled demo, then ComfyUI/models/choreo/m2penc/**."""
    choices = {BUNDLED_PREFIX + path.relative_to(BUNDLED_DIR).as_posix(): path for path in find_checkpoints(BUNDLED_DIR)}
    user_root = comfy_bridge.choreo_models_directory("m2penc")
    for path in find_checkpoints(user_root):
        choices[path.relative_to(user_root).as_posix()] = path
    return choices


class ChoreoLoadM2PEnc:
    DESCRIPTION = ("Loads an M2PEnc music-to-pose encoder (config.json + model.safetensors) from "
                   "ComfyUI/models/choreo/m2penc, or the bundled demo: 4 MB, trained for 12 CPU-minutes on the beat "
                   "choreographer's dances (27, on 18 real songs) rendered on the anny body, not on real dancers; "
                   "32x32 maps at 15 fps, so expect a blurry figure.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "load"
    RETURN_TYPES = (M2PENC,)
    RETURN_NAMES = ("m2penc",)
    OUTPUT_TOOLTIPS = ("The encoder with its music normaliser, for M2PEnc Encode.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = sorted(encoder_choices()) or [DEFAULT_CHECKPOINT]
        default = DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT in names else names[0]
        return {"required": {
            "checkpoint": (names, {"default": default,
                           "tooltip": "A folder under ComfyUI/models/choreo/m2penc (made by "
                                      "choreo.training.train_m2penc), or bundled/demo."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, checkpoint):
        """At prompt validation: a missing checkpoint folder is refused before anything runs."""
        if checkpoint not in encoder_choices():
            return (f"M2PEnc checkpoint {checkpoint!r} was not found; put its folder (config.json + "
                    f"model.safetensors) in {comfy_bridge.choreo_models_directory('m2penc')} and refresh.")
        return True

    def load(self, checkpoint):
        choices = encoder_choices()
        if checkpoint not in choices:
            raise CheckpointError(f"M2PEnc checkpoint {checkpoint!r} was not found; put checkpoint folders in "
                                  f"{comfy_bridge.choreo_models_directory('m2penc')} and refresh. "
                                  f"Found: {sorted(choices)}.")
        model = load_m2penc(choices[checkpoint])
        return (comfy_bridge.manage(model, [model.network]),)


class ChoreoM2PEncEncode:
    DESCRIPTION = ("Turns music into CHAMP's four guidance passes with M2PEnc: depth, normal, semantic and "
                   "skeleton IMAGE batches on your frame clock, named and ordered like Render Body Passes so they "
                   "plug into CHAMP Render. The encoder's square maps are interpolated in time and scaled to fit "
                   "the canvas, centred on black. Also gives the body keypoints decoded from its heatmaps.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "encode"
    RETURN_TYPES = ("IMAGE", "IMAGE", "IMAGE", "IMAGE", POSE, "FLOAT")
    RETURN_NAMES = (*PASS_NAMES, "pose", "fps")
    OUTPUT_TOOLTIPS = ("Depth pass: grey, brighter is nearer; background black.",
                       "Normal pass: camera axes as RGB; background black.",
                       "Semantic pass: body parts in CHAMP's viridis colours; background black.",
                       "DWPose-style skeleton on black.",
                       "The 18 body keypoints at the heatmaps' maxima (hands and face absent), on the same canvas.",
                       "Frame rate of the batches, frames per second.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "m2penc": (M2PENC, {"tooltip": "From Load M2PEnc."}),
            "width": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 8,
                      "tooltip": "Pass width, pixels (CHAMP Render's width)."}),
            "height": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 8,
                       "tooltip": "Pass height, pixels (CHAMP Render's height)."}),
            "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0,
                    "tooltip": "Frame rate of the output batches, frames per second (the video's)."}),
            "frame_count": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                            "tooltip": "Frames to output; 0 = the whole song at fps."}),
            "overlap_frames": ("INT", {"default": DEFAULT_OVERLAP_FRAMES, "min": 0, "max": 64,
                               "tooltip": "Encoder frames shared (cross-faded) by consecutive windows of a long "
                                          "song, at the encoder's own fps."}),
            "max_batch_gib": ("FLOAT", {"default": DEFAULT_MAX_BATCH_GIB, "min": 0.1, "max": 1024.0, "step": 0.5,
                              "tooltip": "Refuse (before encoding) when the four batches together would exceed "
                                         "this many GiB as float32."}),
        }, "optional": {
            "audio": ("AUDIO", {"tooltip": "The song; features are extracted as the encoder was trained."}),
            "music_features": (MUSIC_FEATURES, {"tooltip": "Instead of audio: Music Features with the encoder's "
                                                           "extractor (edge_librosa for the demo) at 30 fps."}),
        }}

    def encode(self, m2penc, width, height, fps, frame_count, overlap_frames, max_batch_gib, audio=None,
               music_features=None):
        if music_features is not None:
            music, duration_s = music_for_model(m2penc, music_features), music_features.num_frames / music_features.fps
        elif audio is not None:
            song = audio_from_comfy(audio)
            music, duration_s = music_from_audio(m2penc, song), song.duration_s
        else:
            raise ChoreoError("M2PEnc Encode needs music: connect audio (Load Audio) or music_features.")
        num_frames = frame_count or num_frames_for(duration_s, fps)
        check_batch_bytes(len(PASS_NAMES) * image_batch_bytes(num_frames, width, height), max_batch_gib,
                          f"four passes of {num_frames} frames of {width}x{height}",
                          "Lower frame_count, fps, width or height, or raise max_batch_gib.")
        comfy_bridge.load_models(m2penc, [m2penc.network])
        report = comfy_bridge.progress_reporter()

        def progress(fraction: float) -> None:
            report(fraction)
            comfy_bridge.check_interrupted()

        guidance, heatmaps = encode_music(m2penc, music, overlap_frames, progress)
        images = guidance_images(guidance, m2penc.fps, num_frames, fps, width, height)
        pose = decoded_pose(heatmaps, m2penc.fps, num_frames, fps, width, height)
        return (*(images[name] for name in PASS_NAMES), pose, float(fps))
