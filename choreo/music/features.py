"""Per-frame music features that condition dance models, one row per motion frame.

Extractors live in a registry keyed by name. "edge_librosa" reproduces EDGE's 35-d
recipe exactly (resample to fps x 512 Hz, hop 512, so one feature frame is one
motion frame at any fps). "jukebox" and "wav2vec2" wrap large pretrained models,
imported only when asked for, with a clear error when they are not installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import librosa
import numpy as np

from ..errors import ChoreoError
from ..timeline import num_frames_for
from .audio import Audio

EDGE_HOP_LENGTH = 512
TEMPO_SAMPLE_RATE = 22050  # EDGE takes start_bpm from librosa.load's default rate
EDGE_COLUMNS = (("onset_envelope",) + tuple(f"mfcc_{i}" for i in range(20))
                + tuple(f"chroma_cens_{i}" for i in range(12)) + ("onset_peak", "beat"))
WAV2VEC2_SAMPLE_RATE = 16000
# Weights a Wav2Vec2 folder is loaded from: safetensors only. The others are pickles (or formats that can hold
# them), and unpickling a downloaded file can run any code it names.
SAFETENSORS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


@dataclass(frozen=True)
class MusicFeatures:
    """values : (T, C) float32, row t describes the music at t / fps seconds; columns names the C columns."""

    values: np.ndarray
    fps: float
    extractor: str
    columns: tuple[str, ...]

    @property
    def num_frames(self) -> int:
        return self.values.shape[0]


def _fit_length(values: np.ndarray, num_frames: int) -> np.ndarray:
    """(num_frames, C): trim, or pad by repeating the last row (the last partial frame of a hop grid)."""
    if len(values) >= num_frames:
        return values[:num_frames]
    pad = np.repeat(values[-1:], num_frames - len(values), axis=0) if len(values) else np.zeros((num_frames, values.shape[1]))
    return np.concatenate([values, pad], axis=0)


def _edge_librosa(audio: Audio, fps: float, model_path: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """EDGE's baseline features (models.md 1.1): (T, 35) onset, 20 MFCC, 12 CENS, onset peaks, beats."""
    sample_rate = int(round(fps * EDGE_HOP_LENGTH))
    mono = audio.mono()
    signal = librosa.resample(mono, orig_sr=audio.sample_rate, target_sr=sample_rate)
    tempo_signal = librosa.resample(mono, orig_sr=audio.sample_rate, target_sr=TEMPO_SAMPLE_RATE)
    envelope = librosa.onset.onset_strength(y=signal, sr=sample_rate)
    mfcc = librosa.feature.mfcc(y=signal, sr=sample_rate, n_mfcc=20).T
    chroma = librosa.feature.chroma_cens(y=signal, sr=sample_rate, hop_length=EDGE_HOP_LENGTH, n_chroma=12).T
    peaks = librosa.onset.onset_detect(onset_envelope=envelope, sr=sample_rate, hop_length=EDGE_HOP_LENGTH)
    peak_onehot = np.zeros_like(envelope)
    peak_onehot[peaks] = 1.0
    start_bpm = float(librosa.feature.tempo(y=tempo_signal, sr=TEMPO_SAMPLE_RATE)[0])
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=sample_rate, hop_length=EDGE_HOP_LENGTH,
                                       start_bpm=start_bpm, tightness=100)
    beat_onehot = np.zeros_like(envelope)
    beat_onehot[beats] = 1.0
    length = min(len(envelope), len(mfcc), len(chroma))
    values = np.concatenate([envelope[:length, None], mfcc[:length], chroma[:length],
                             peak_onehot[:length, None], beat_onehot[:length, None]], axis=1)
    return values, EDGE_COLUMNS


def _jukebox(audio: Audio, fps: float, model_path: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Jukebox layer-66 embeddings (4800-d) via jukemirlib, resampled to the frame clock."""
    try:
        import jukemirlib
    except ImportError as error:
        raise ChoreoError(
            "music feature extractor 'jukebox' needs jukemirlib: `pip install jukemirlib`. It also needs a CUDA GPU "
            "and downloads ~10 GB of Jukebox weights on first use; use extractor='edge_librosa' on CPU.") from error
    signal = librosa.resample(audio.mono(), orig_sr=audio.sample_rate, target_sr=jukemirlib.JUKEBOX_SAMPLE_RATE)
    embeddings = jukemirlib.extract(audio=signal, layers=[66], downsample_target_rate=fps)[66]
    return np.asarray(embeddings), tuple(f"jukebox_{i}" for i in range(np.shape(embeddings)[1]))


def wav2vec2_model_folders(roots: list[Path]) -> dict[str, Path]:
    """Name -> folder of every sub-folder of ``roots`` holding a Hugging Face ``config.json``, named by its path
    below its root (the first root wins a name). Folders without safetensors weights are listed too, so that
    choosing one explains why it is refused (``check_wav2vec2_folder``)."""
    found: dict[str, Path] = {}
    for root in roots:
        for config in sorted(root.rglob("config.json")) if root.is_dir() else []:
            if config.parent != root:
                found.setdefault(config.parent.relative_to(root).as_posix(), config.parent)
    return found


def check_wav2vec2_folder(model_path: str | Path | None) -> Path:
    """The model folder, if it holds ``config.json`` and safetensors weights; ``ChoreoError`` saying what to do."""
    folder = Path(model_path) if model_path else None
    if folder is None or not (folder / "config.json").is_file():
        raise ChoreoError(f"music feature extractor 'wav2vec2' needs a local Hugging Face model folder with "
                          f"config.json and model.safetensors; got {model_path!r}. Download e.g. "
                          "facebook/wav2vec2-base (config.json and model.safetensors) into ComfyUI/models/choreo/"
                          "wav2vec2/<name>.")
    if not any((folder / name).is_file() for name in SAFETENSORS_WEIGHTS):
        pickled = [name for name in PICKLED_WEIGHTS if (folder / name).is_file()]
        held = f"only {', '.join(pickled)}" if pickled else "no weights"
        raise ChoreoError(f"Wav2Vec2 model folder {folder} has {held}, no model.safetensors. Choreo loads "
                          "safetensors only: pytorch_model.bin and the like are pickles, which can run code when "
                          "loaded. Download the model's model.safetensors into the folder (Hugging Face lists it "
                          "under 'Files'), or convert a model you trust with Wav2Vec2Model.from_pretrained(folder)"
                          ".save_pretrained(folder).")
    return folder


def _wav2vec2(audio: Audio, fps: float, model_path: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Last hidden state of a local Hugging Face Wav2Vec2 model, linearly interpolated to the frame clock.

    Only safetensors weights of a local folder are read (``check_wav2vec2_folder``): nothing is downloaded and
    no pickle is loaded.
    """
    try:
        import torch
        from transformers import Wav2Vec2Model
    except ImportError as error:
        raise ChoreoError("music feature extractor 'wav2vec2' needs torch and transformers: "
                          "`pip install torch transformers`.") from error
    folder = check_wav2vec2_folder(model_path)
    model = Wav2Vec2Model.from_pretrained(folder, use_safetensors=True, local_files_only=True).eval()
    signal = librosa.resample(audio.mono(), orig_sr=audio.sample_rate, target_sr=WAV2VEC2_SAMPLE_RATE)
    signal = (signal - signal.mean()) / (signal.std() + 1e-7)
    with torch.no_grad():
        hidden = model(torch.from_numpy(signal[None].astype(np.float32))).last_hidden_state[0].numpy()
    hidden_times_s = (np.arange(len(hidden)) + 0.5) * (len(signal) / WAV2VEC2_SAMPLE_RATE) / len(hidden)
    frame_times_s = np.arange(num_frames_for(audio.duration_s, fps)) / fps
    values = np.stack([np.interp(frame_times_s, hidden_times_s, column) for column in hidden.T], axis=1)
    return values, tuple(f"wav2vec2_{i}" for i in range(hidden.shape[1]))


EXTRACTORS: dict[str, Callable[[Audio, float, str | None], tuple[np.ndarray, tuple[str, ...]]]] = {
    "edge_librosa": _edge_librosa,
    "jukebox": _jukebox,
    "wav2vec2": _wav2vec2,
}


def extract_music_features(audio: Audio, fps: float = 30.0, extractor: str = "edge_librosa",
                           model_path: str | None = None) -> MusicFeatures:
    """Music features with exactly num_frames_for(duration_s, fps) rows.

    audio      : the song; fps : motion frame rate, frames per second.
    extractor  : a key of EXTRACTORS. model_path : local folder with config.json and model.safetensors
                 (wav2vec2 only; see ``check_wav2vec2_folder``).

    >>> extract_music_features(audio, fps=30).values.shape  # doctest: +SKIP
    (num_frames, 35)
    """
    if extractor not in EXTRACTORS:
        raise ChoreoError(f"unknown music feature extractor {extractor!r}; choose one of {sorted(EXTRACTORS)}.")
    if not fps > 0:
        raise ChoreoError(f"fps must be positive, got {fps!r}.")
    audio.check_analysable()
    values, columns = EXTRACTORS[extractor](audio, fps, model_path)
    values = _fit_length(np.asarray(values, dtype=np.float32), num_frames_for(audio.duration_s, fps))
    return MusicFeatures(values=values, fps=float(fps), extractor=extractor, columns=columns)
