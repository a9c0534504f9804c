"""Nodes that listen to the music: beat/bar/section analysis and per-frame features."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from ..choreo.music.analyze import analyze_music
from ..choreo.music.features import EXTRACTORS, extract_music_features
from ..choreo.music.preview import draw_analysis_preview
from . import comfy_bridge
from .convert import audio_from_comfy
from .socket_types import CATEGORY, MUSIC, MUSIC_FEATURES

logger = logging.getLogger(__name__)
FPS_INPUT = ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0,
                       "tooltip": "Frame rate of the dance, frames per second. Every later node keeps this clock, "
                                  "so video and music stay in sync."})


class ChoreoAnalyzeMusic:
    DESCRIPTION = ("Finds the beats, bars (downbeats and meter), tempo curve, loudness and song sections "
                   "(repeats share a letter) of a song, on the dance's frame clock. Shows a preview of the analysis, "
                   "and a warning when the music has no clear beat.")
    CATEGORY = f"{CATEGORY}/music"
    FUNCTION = "analyze"
    RETURN_TYPES = (MUSIC, "FLOAT", "INT", "FLOAT")
    RETURN_NAMES = ("music", "tempo_bpm", "num_frames", "fps")
    OUTPUT_TOOLTIPS = ("Beat, bar, tempo, energy and section analysis for the choreographer and the editor.",
                       "Global tempo in beats per minute.",
                       "Number of dance frames that fit in the song at this fps.",
                       "The frame rate, to wire into video nodes.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "audio": ("AUDIO", {"tooltip": "The song (from LoadAudio). Mono or stereo, any sample rate, up to 30 min."}),
            "fps": FPS_INPUT,
        }}

    def analyze(self, audio, fps):
        core_audio = audio_from_comfy(audio)
        analysis = analyze_music(core_audio, fps=fps, progress=comfy_bridge.progress_reporter())
        preview = draw_analysis_preview(core_audio, analysis)
        ui = {"images": [_save_temp_png(preview, "choreo_music")], "text": list(analysis.notes)}
        for note in analysis.notes:
            logger.warning("Analyze Music: %s", note)
        return {"ui": ui, "result": (analysis, float(analysis.tempo_bpm), analysis.num_frames, float(fps))}


class ChoreoMusicFeatures:
    DESCRIPTION = ("Per-frame music features for learned dance generators: EDGE's 35-d librosa recipe, "
                   "Jukebox (needs jukemirlib and a GPU) or Wav2Vec2 (needs a local model folder).")
    CATEGORY = f"{CATEGORY}/music"
    FUNCTION = "extract"
    RETURN_TYPES = (MUSIC_FEATURES,)
    RETURN_NAMES = ("music_features",)
    OUTPUT_TOOLTIPS = ("A (frames x channels) feature matrix on the dance's frame clock.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "audio": ("AUDIO", {"tooltip": "The song (from LoadAudio)."}),
            "fps": FPS_INPUT,
            "extractor": (list(EXTRACTORS), {"default": "edge_librosa",
                          "tooltip": "edge_librosa: EDGE's 35 columns (onset, 20 MFCC, 12 chroma, onset peaks, beats), "
                                     "CPU, no weights. jukebox: 4800-d Jukebox features via jukemirlib (GPU). "
                                     "wav2vec2: hidden states of a local Wav2Vec2 model folder."}),
        }, "optional": {
            "model_path": ("STRING", {"default": "", "tooltip": "Folder of a Hugging Face Wav2Vec2 model "
                                      "(for extractor wav2vec2 only), e.g. ComfyUI/models/choreo/wav2vec2-base."}),
        }}

    def extract(self, audio, fps, extractor, model_path=""):
        options = {"model_path": model_path} if model_path else {}
        return (extract_music_features(audio_from_comfy(audio), fps=fps, extractor=extractor, **options),)


def _save_temp_png(image_rgb: np.ndarray, prefix: str) -> dict:
    """Write a preview PNG to ComfyUI's temp folder and describe it for the node's ``ui``."""
    folder = comfy_bridge.temp_directory()
    folder.mkdir(parents=True, exist_ok=True)
    index = 0
    while (folder / f"{prefix}_{index:05}.png").exists():
        index += 1
    name = f"{prefix}_{index:05}.png"
    Image.fromarray(image_rgb).save(folder / name, compress_level=1)
    return {"filename": name, "subfolder": "", "type": "temp"}
