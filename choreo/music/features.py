"""Per-frame music features that condition dance models, one row per motion frame.

Extractors live in a registry keyed by name. "edge_librosa" reproduces EDGE's 35-d
recipe exactly (resample to fps x 512 Hz, hop 512, so one feature frame is one
motion frame at any fps). "edge_librosa_beats" adds the beat and bar phase of a
``MusicAnalysis`` (the beats a dance follows) as four smooth columns. "jukebox" and
"wav2vec2" wrap large pretrained models, imported only when asked for, with a clear
error when they are not installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import librosa
import numpy as np

from ..errors import ChoreoError
from ..timeline import num_frames_for
from .analysis import MusicAnalysis
from .analyze import analyze_music
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
PHASE_COLUMNS = ("beat_phase_sin", "beat_phase_cos", "bar_phase_sin", "bar_phase_cos")


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


def _edge_librosa(audio: Audio, fps: float, model_path: str | None,
                  analysis: MusicAnalysis | None) -> tuple[np.ndarray, tuple[str, ...]]:
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


def _jukebox(audio: Audio, fps: float, model_path: str | None,
             analysis: MusicAnalysis | None) -> tuple[np.ndarray, tuple[str, ...]]:
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


def _wav2vec2(audio: Audio, fps: float, model_path: str | None,
              analysis: MusicAnalysis | None) -> tuple[np.ndarray, tuple[str, ...]]:
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


def _count_at(positions: np.ndarray, marks: np.ndarray, fallback_interval: float) -> np.ndarray:
    """Continuous count of increasing ``marks`` at ``positions`` (same unit): k at the k-th mark, linear between
    marks, and before the first / after the last mark continued with the nearest interval between marks
    (``fallback_interval`` when there is one mark or none)."""
    if len(marks) == 0:
        return positions / fallback_interval
    if len(marks) == 1:
        return (positions - marks[0]) / fallback_interval
    counts = np.interp(positions, marks, np.arange(len(marks), dtype=np.float64))
    before, after = positions < marks[0], positions > marks[-1]
    counts[before] = (positions[before] - marks[0]) / (marks[1] - marks[0])
    counts[after] = len(marks) - 1 + (positions[after] - marks[-1]) / (marks[-1] - marks[-2])
    return counts


def beat_phase_features(analysis: MusicAnalysis, num_frames: int) -> np.ndarray:
    """Where each frame falls in its beat and bar, as (T, 4) float32 sin/cos of the beat and bar phase.

    Why: a dance lands its accents on the beats it was choreographed to. EDGE's features carry those only as
    a one-frame spike from librosa's own tracker, often on other beats than the dance's; a phase that rises
    smoothly from 0 at each beat (or downbeat) to 1 at the next tells the network at every frame how far the
    next accent is. sin/cos make the wrap-around at 1 -> 0 continuous.

    analysis   : beats (``beat_times_s``) and downbeats (``downbeat_times_s``, seconds) on the frame clock
                 ``analysis.fps``; row t is the time t / fps.
    num_frames : T rows to return.
    Returns columns ``PHASE_COLUMNS``: sin(2 pi b), cos(2 pi b), sin(2 pi r), cos(2 pi r), where the beat phase b
    rises linearly in time from 0 at a beat to 1 at the next, and the bar phase r rises linearly in beats from 0
    at a downbeat to 1 at the next. Before the first and after the last beat (downbeat), the phase goes on
    with the nearest beat period (bar length in beats); with fewer than two beats the period is
    60 / ``tempo_bpm``, and without downbeats a bar is ``beats_per_bar`` beats counted from the first beat.

    >>> beat_phase_features(analysis, analysis.num_frames).shape  # doctest: +SKIP
    (num_frames, 4)
    """
    times_s = np.arange(num_frames, dtype=np.float64) / analysis.fps
    beats_s = np.asarray(analysis.beat_times_s, np.float64)
    beat_count = _count_at(times_s, beats_s, 60.0 / analysis.tempo_bpm)
    downbeats_s = np.asarray(analysis.downbeat_times_s, np.float64)
    if len(downbeats_s) and len(beats_s):
        downbeat_counts = _count_at(downbeats_s, beats_s, 60.0 / analysis.tempo_bpm)
        bar_count = _count_at(beat_count, downbeat_counts, float(analysis.beats_per_bar))
    else:
        bar_count = beat_count / analysis.beats_per_bar
    angles = 2 * np.pi * np.stack([beat_count % 1.0, bar_count % 1.0], axis=1)
    return np.stack([np.sin(angles[:, 0]), np.cos(angles[:, 0]), np.sin(angles[:, 1]), np.cos(angles[:, 1])],
                    axis=1).astype(np.float32)


def _edge_librosa_beats(audio: Audio, fps: float, model_path: str | None,
                        analysis: MusicAnalysis | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """EDGE's 35 columns unchanged, then the 4 beat/bar phase columns of ``analysis`` (``beat_phase_features``)."""
    if analysis is None:
        raise ChoreoError("extractor 'edge_librosa_beats' needs a music analysis (extract_music_features makes one).")
    edge, columns = _edge_librosa(audio, fps, model_path, None)
    edge = _fit_length(np.asarray(edge, np.float32), num_frames_for(audio.duration_s, fps))
    return np.concatenate([edge, beat_phase_features(analysis, len(edge))], axis=1), columns + PHASE_COLUMNS


# (audio, fps, model_path, analysis) -> ((T, C) values, C column names); analysis is None for all but beat-aware ones
EXTRACTORS: dict[str, Callable[[Audio, float, str | None, MusicAnalysis | None], tuple[np.ndarray, tuple[str, ...]]]] = {
    "edge_librosa": _edge_librosa,
    "edge_librosa_beats": _edge_librosa_beats,
    "jukebox": _jukebox,
    "wav2vec2": _wav2vec2,
}
BEAT_AWARE_EXTRACTORS = frozenset({"edge_librosa_beats"})  # these read a MusicAnalysis; the others ignore it


def _check_analysis(analysis: MusicAnalysis, audio: Audio, fps: float) -> None:
    """The analysis must describe this audio on this frame clock, or its beats would fall on the wrong frames."""
    if abs(analysis.fps - fps) > 1e-6:
        raise ChoreoError(f"the music analysis is at {analysis.fps:g} fps but the features are asked at {fps:g} fps; "
                          "set the same fps on Analyze Music and Music Features.")
    if abs(analysis.duration_s - audio.duration_s) > 1.0 / fps:
        raise ChoreoError(f"the music analysis lasts {analysis.duration_s:.2f} s but the audio {audio.duration_s:.2f} "
                          "s: it belongs to other audio. Analyse the same audio you extract features from.")


def extract_music_features(audio: Audio, fps: float = 30.0, extractor: str = "edge_librosa",
                           model_path: str | None = None, analysis: MusicAnalysis | None = None) -> MusicFeatures:
    """Music features with exactly num_frames_for(duration_s, fps) rows.

    audio      : the song; fps : motion frame rate, frames per second.
    extractor  : a key of EXTRACTORS. model_path : local folder with config.json and model.safetensors
                 (wav2vec2 only; see ``check_wav2vec2_folder``).
    analysis   : the beats to take the phase from, for ``BEAT_AWARE_EXTRACTORS`` (e.g. the exact beats a
                 training dance followed, or the user's Analyze Music settings); when None they run
                 ``analyze_music(audio, fps)``. Other extractors ignore it.

    >>> extract_music_features(audio, fps=30).values.shape  # doctest: +SKIP
    (num_frames, 35)
    """
    if extractor not in EXTRACTORS:
        raise ChoreoError(f"unknown music feature extractor {extractor!r}; choose one of {sorted(EXTRACTORS)}.")
    if not fps > 0:
        raise ChoreoError(f"fps must be positive, got {fps!r}.")
    audio.check_analysable()
    if extractor in BEAT_AWARE_EXTRACTORS:
        if analysis is None:
            analysis = analyze_music(audio, fps=fps)
        _check_analysis(analysis, audio, fps)
    values, columns = EXTRACTORS[extractor](audio, fps, model_path, analysis)
    values = _fit_length(np.asarray(values, dtype=np.float32), num_frames_for(audio.duration_s, fps))
    return MusicFeatures(values=values, fps=float(fps), extractor=extractor, columns=columns)
