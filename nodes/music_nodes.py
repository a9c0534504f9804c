"""Nodes that listen to the music: beat/bar/section analysis and per-frame features."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from ..choreo.errors import ChoreoError
from ..choreo.music.analyze import BEAT_TRACKERS, DEFAULT_BEAT_TRACKER, analyze_music
from ..choreo.music.features import EXTRACTORS, extract_music_features, wav2vec2_model_folders
from ..choreo.music.preview import draw_analysis_preview
from ..choreo.music.tempo_octave import HINT_RANGE_BPM, TEMPO_CHOICES
from . import comfy_bridge
from .convert import audio_from_comfy
from .socket_types import CATEGORY, MUSIC, MUSIC_FEATURES

logger = logging.getLogger(__name__)
FPS_INPUT = ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0,
                       "tooltip": "Frame rate of the dance, frames per second. Every later node keeps this clock, "
                                  "so video and music stay in sync."})


WAV2VEC2_KEY = "choreo_wav2vec2"  # folder_paths key; users add folders to it in extra_model_paths.yaml
WAV2VEC2_FAMILY = "wav2vec2"  # ComfyUI/models/choreo/wav2vec2
NO_MODEL = "(none)"


def register_wav2vec2_folder() -> None:
    """Register ComfyUI/models/choreo/wav2vec2 as ``WAV2VEC2_KEY``, the only place Wav2Vec2 models are read from."""
    folder_paths = comfy_bridge.folder_paths
    if folder_paths is not None:
        folder_paths.add_model_folder_path(WAV2VEC2_KEY, str(comfy_bridge.choreo_models_directory(WAV2VEC2_FAMILY)))


def wav2vec2_models() -> dict[str, Path]:
    """Dropdown name -> model folder, from the registered Wav2Vec2 folders (``./models_user/choreo/wav2vec2``
    outside ComfyUI)."""
    folder_paths = comfy_bridge.folder_paths
    if folder_paths is not None and WAV2VEC2_KEY in folder_paths.folder_names_and_paths:
        roots = [Path(path) for path in folder_paths.get_folder_paths(WAV2VEC2_KEY)]
    else:
        roots = [comfy_bridge.choreo_models_directory(WAV2VEC2_FAMILY)]
    return wav2vec2_model_folders(roots)


class ChoreoAnalyzeMusic:
    DESCRIPTION = ("Finds the beats, bars (downbeats and meter), tempo curve, loudness and song sections "
                   "(repeats share a letter) of a song, on the dance's frame clock. Shows a preview of the analysis, "
                   "and a warning when the music has no clear beat. When the beats come out twice or half as fast "
                   "as you count, set tempo or tempo_hint_bpm.")
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
            "tempo": (list(TEMPO_CHOICES), {"default": "auto",
                      "tooltip": "auto: the beat a dancer counts (fast songs whose every other beat is only "
                                 "hi-hat are counted in half time). half / double: count at half or twice that "
                                 "speed; the beats stay on the same grid and the bars are found again."}),
            "tempo_hint_bpm": ("FLOAT", {"default": 0.0, "min": 0.0, "max": HINT_RANGE_BPM[1], "step": 1.0,
                               "tooltip": "The tempo you count, beats per minute: the beats move to the octave "
                                          "(x2, /2) nearest it, before half / double. 0 = no hint; else "
                                          f"{HINT_RANGE_BPM[0]:g} to {HINT_RANGE_BPM[1]:g}."}),
        }, "optional": {
            "beat_tracker": (list(BEAT_TRACKERS), {"default": DEFAULT_BEAT_TRACKER,
                             "tooltip": "learned (default): Choreo's small beat/downbeat network, trained on "
                                        "rendered MIDI and real soundtracks, its beats checked against the bass "
                                        "(a louder off-beat hi-hat does not fool it); where the network is unsure "
                                        "the rule-based tracker takes over; bass and chord accents help find "
                                        "the bar line. dsp: the rule-based tracker alone (spectral flux, bass "
                                        "and chord accents). network: the network alone, without those checks "
                                        "(for comparison). See the README."}),
        }}

    def analyze(self, audio, fps, tempo="auto", tempo_hint_bpm=0.0, beat_tracker=DEFAULT_BEAT_TRACKER):
        core_audio = audio_from_comfy(audio)
        analysis = analyze_music(core_audio, fps=fps, progress=comfy_bridge.progress_reporter(), tempo=tempo,
                                 tempo_hint_bpm=tempo_hint_bpm, beat_tracker=beat_tracker)
        preview = draw_analysis_preview(core_audio, analysis)
        ui = {"images": [_save_temp_png(preview, "choreo_music")], "text": list(analysis.notes)}
        for note in analysis.notes:
            logger.warning("Analyze Music: %s", note)
        return {"ui": ui, "result": (analysis, float(analysis.tempo_bpm), analysis.num_frames, float(fps))}


class ChoreoMusicFeatures:
    DESCRIPTION = ("Per-frame music features for learned dance generators: EDGE's 35-d librosa recipe, the same "
                   "plus the beat and bar phase (edge_librosa_beats: from the Analyze Music wired in, else from a "
                   "default analysis), Jukebox (needs jukemirlib and a GPU) or Wav2Vec2 (a model folder with "
                   "safetensors weights in ComfyUI/models/choreo/wav2vec2).")
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
                                     "CPU, no weights. edge_librosa_beats: those 35 plus sin/cos of the beat and "
                                     "bar phase (39 columns; for models trained with it). jukebox: 4800-d Jukebox features via jukemirlib (GPU). "
                                     "wav2vec2: hidden states of the Wav2Vec2 model chosen below."}),
        }, "optional": {
            "wav2vec2_model": ([NO_MODEL, *wav2vec2_models()], {"default": NO_MODEL,
                               "tooltip": "For extractor wav2vec2 only: a Hugging Face Wav2Vec2 folder (config.json "
                                          "and model.safetensors, e.g. facebook/wav2vec2-base) inside "
                                          "ComfyUI/models/choreo/wav2vec2; refresh after adding one."}),
            "analysis": (MUSIC, {"tooltip": "For extractor edge_librosa_beats only: the Analyze Music output of the "
                                            "same audio at the same fps, so the phase follows its beats (tempo, "
                                            "hint and tracker settings). Not wired: a default analysis is run."}),
        }}

    def extract(self, audio, fps, extractor, wav2vec2_model=NO_MODEL, analysis=None):
        model_path = self._wav2vec2_folder(wav2vec2_model) if extractor == "wav2vec2" else None
        return (extract_music_features(audio_from_comfy(audio), fps=fps, extractor=extractor, model_path=model_path,
                                       analysis=analysis),)

    @staticmethod
    def _wav2vec2_folder(name: str) -> Path:
        """The listed folder called ``name``; never a path typed into the prompt."""
        models = wav2vec2_models()
        if name in models:
            return models[name]
        where = comfy_bridge.choreo_models_directory(WAV2VEC2_FAMILY)
        if name == NO_MODEL:
            raise ChoreoError(f"extractor 'wav2vec2' needs wav2vec2_model: put a Hugging Face Wav2Vec2 folder "
                              f"(config.json and model.safetensors) in {where}, refresh, and choose it.")
        raise ChoreoError(f"wav2vec2_model {name!r} is not a model folder in {where}; choose one of "
                          f"{sorted(models) or 'the folders you put there (none yet)'}.")


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
