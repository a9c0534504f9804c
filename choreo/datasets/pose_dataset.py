"""Pose datasets for the X-Dancer motion models: normalised whole-body poses with music, in shards.

A dataset is a folder::

    dataset.json         {"format": "choreo.pose_dataset", "version": 1, "fps", "segment_frames", "stride_frames",
                          "music_extractor", "music_columns", "music_mean", "music_std", "num_segments",
                          "shards": [{"file", "segments"}], "sources": {...}}
    shard_00000.npz      poses (N, T, 60, 3) float32: the tokenizer's 60 joints (x, y, confidence), normalised to
                         each clip's own body frame by ``generators.xdancer.to_tokenizer_input``;
                         music (N, T, C) float32 per-frame music features on the same clock (zeros without music);
                         has_music (N,) bool
    shard_00000.json     one entry per segment: clip name, source, first frame

Clips are cut into T-frame segments (default 128: the GPT trains on 64-frame windows and samples its cross-segment
context from the 64 frames before them) every ``stride_frames``. Sources:

- ``synthetic``: random synthetic songs, analysed, danced by the beat choreographer (several seeds and styles per
  song) and projected with random camera yaw and framing: demo data, not real dance.
- ``videos:DIR``: dance videos with music; frames decoded with ffmpeg (imageio-ffmpeg) at the dataset fps,
  whole-body poses per frame with an rtmlib/DWPose ONNX model, the audio track's music features.
- ``poses:DIR``: pose sequences already on disk: Choreo pose JSON (``*.json``) or 3D motion NPZ (``*.npz`` from
  Save Dance Video, projected frontally), with a song of the same stem beside them (wav/flac/ogg/mp3) if any.
- ``aistpp2d:DIR``: AIST++ ``keypoints2d`` pickles (views x T x 17 COCO points), each camera view a clip, read
  with ``aistpp.restricted_load`` (numpy arrays and builtin containers only, never plain ``pickle.load``);
  songs from ``--music-dir`` by the music id in the sequence name.

Example::

    python -m choreo.datasets.pose_dataset build --source synthetic --out data/synthetic --count 64
    python -m choreo.datasets.pose_dataset build --source videos:my_dances --pose-model rtmw-x.onnx --out data/mine
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import ChoreoError
from ..io.audio_files import load_audio
from ..io.motion_files import load_motion_npz
from ..io.pose_json import load_pose_json
from ..motion.choreographer import STYLES, choreograph
from ..music.analyze import analyze_music
from ..music.audio import Audio
from ..music.features import MusicFeatures, extract_music_features
from ..pose import rtmpose
from ..pose.layout import B, BODY, NUM_KEYPOINTS, PARTS
from ..pose.projection import Camera, project_motion
from ..pose.reference import DETECTION_THRESHOLD, MIN_BODY_KEYPOINTS
from ..pose.sequence import PoseSequence2D
from .aistpp import restricted_load

FORMAT_NAME = "choreo.pose_dataset"
FORMAT_VERSION = 1
INDEX_FILE = "dataset.json"
DEFAULT_FPS = 30.0
DEFAULT_SEGMENT_FRAMES = 128
DEFAULT_STRIDE_FRAMES = 32
DEFAULT_SHARD_SEGMENTS = 512
NUM_TOKENIZER_JOINTS = 60
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
AUDIO_SAMPLE_RATE = 22050
# AIST++ cameras film 1920x1080; its keypoints2d are in those pixels.
AISTPP_CANVAS = (1920, 1080)
AISTPP_FPS = 60.0
_AISTPP_MUSIC_ID = re.compile(r"(?:^|_)(m[A-Z]{2}\d)(?:_|$)")
# Synthetic source: one song is analysed once and danced several times.
SYNTHETIC_DANCES_PER_SONG = 4
SYNTHETIC_CANVAS = (512, 768)


class DatasetError(ChoreoError):
    """A dataset source or folder is missing, malformed or empty."""


@dataclass(frozen=True)
class Clip:
    """One dancer on one song, ready to be cut into segments.

    poses : (T, 60, 3) float32 tokenizer joints (x, y, confidence), normalised to the clip's body frame.
    music : (T, C) float32 music features at the same fps, or None when the clip has no song.
    """

    name: str
    source: str
    poses: np.ndarray
    music: np.ndarray | None


# ---------------------------------------------------------------- normalisation


def clip_reference(seq: PoseSequence2D) -> PoseSequence2D:
    """The clip's own body frame: its first frame showing at least ``MIN_BODY_KEYPOINTS`` body keypoints."""
    seen = np.count_nonzero(seq.confidence[:, BODY] > 0, axis=1) >= MIN_BODY_KEYPOINTS
    if not seen.any():
        raise DatasetError(f"no frame of this pose sequence shows {MIN_BODY_KEYPOINTS} or more body keypoints; "
                           "it has no dancer to learn from. Drop the clip.")
    return seq.frame(int(np.argmax(seen)))


def make_clip(seq: PoseSequence2D, music: MusicFeatures | None, name: str, source: str) -> Clip:
    """Normalise ``seq`` with the tokenizer's input transform and pair it frame by frame with ``music``."""
    from ..generators.xdancer import to_tokenizer_input

    poses = np.asarray(to_tokenizer_input(seq, clip_reference(seq)), np.float32)
    values = None
    if music is not None:
        if abs(music.fps - seq.fps) > 1e-6:
            raise DatasetError(f"clip {name}: music features at {music.fps} fps, poses at {seq.fps} fps; "
                               "extract both at the dataset fps.")
        length = min(len(poses), music.num_frames)
        poses, values = poses[:length], np.asarray(music.values[:length], np.float32)
    return Clip(name, source, poses, values)


def resample_sequence(seq: PoseSequence2D, fps: float) -> PoseSequence2D:
    """Nearest-frame resampling onto ``fps`` (frame t at t / fps seconds), e.g. AIST++'s 60 fps to 30."""
    if abs(seq.fps - fps) < 1e-6:
        return seq
    count = int(np.floor(seq.num_frames / seq.fps * fps + 1e-6))
    index = np.minimum(np.rint(np.arange(count) / fps * seq.fps).astype(np.int64), seq.num_frames - 1)
    return PoseSequence2D(seq.keypoints_px[index], seq.confidence[index], seq.canvas_width, seq.canvas_height,
                          float(fps), seq.missing_parts)


# ---------------------------------------------------------------- writing and reading


class DatasetWriter:
    """Cuts clips into segments and writes them in shards; ``close()`` writes ``dataset.json``."""

    def __init__(self, out_dir: str | Path, fps: float = DEFAULT_FPS, segment_frames: int = DEFAULT_SEGMENT_FRAMES,
                 stride_frames: int = DEFAULT_STRIDE_FRAMES, shard_segments: int = DEFAULT_SHARD_SEGMENTS,
                 music_extractor: str = "edge_librosa"):
        if segment_frames < 2 or stride_frames < 1 or shard_segments < 1:
            raise DatasetError(f"segment_frames must be >= 2 and stride/shard sizes >= 1, got {segment_frames}, "
                               f"{stride_frames}, {shard_segments}.")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if (self.out_dir / INDEX_FILE).exists():
            raise DatasetError(f"{self.out_dir} already holds a dataset ({INDEX_FILE}); choose an empty --out folder.")
        self.fps, self.segment_frames, self.stride_frames = float(fps), int(segment_frames), int(stride_frames)
        self.shard_segments, self.music_extractor = int(shard_segments), music_extractor
        self.music_columns: int | None = None
        self.shards: list[dict] = []
        self.sources: dict[str, int] = {}
        self.skipped: list[str] = []
        self._pending: list[tuple[np.ndarray, np.ndarray, bool, dict]] = []
        self._music_sum = self._music_sq = None
        self._music_count = 0

    def add(self, clip: Clip) -> int:
        """Add a clip's segments; returns how many (0 when it is shorter than one segment)."""
        if clip.poses.ndim != 3 or clip.poses.shape[1:] != (NUM_TOKENIZER_JOINTS, 3):
            raise DatasetError(f"clip {clip.name}: poses must be (T, {NUM_TOKENIZER_JOINTS}, 3), "
                               f"got {clip.poses.shape}.")
        if clip.music is not None:
            if self.music_columns is None:
                self.music_columns = clip.music.shape[1]
            if clip.music.shape[1] != self.music_columns:
                raise DatasetError(f"clip {clip.name}: {clip.music.shape[1]} music feature columns, earlier clips "
                                   f"had {self.music_columns}; use one extractor for the whole dataset.")
            self._accumulate_music(clip.music)
        length = len(clip.poses)
        starts = range(0, length - self.segment_frames + 1, self.stride_frames)
        if len(starts) == 0:
            self.skipped.append(f"{clip.name} ({length} frames < {self.segment_frames})")
            return 0
        for start in starts:
            stop = start + self.segment_frames
            music = clip.music[start:stop] if clip.music is not None else None
            self._pending.append((clip.poses[start:stop], music, clip.music is not None,
                                  {"clip": clip.name, "source": clip.source, "start_frame": int(start)}))
            if len(self._pending) >= self.shard_segments:
                self._flush()
        self.sources[clip.source] = self.sources.get(clip.source, 0) + len(starts)
        return len(starts)

    def close(self) -> Path:
        """Write the last shard and ``dataset.json``; returns the dataset folder."""
        self._flush()
        if not self.shards:
            raise DatasetError(f"no segment of {self.segment_frames} frames was found; skipped clips: "
                               f"{self.skipped[:10]}. Add longer clips or lower --segment-frames.")
        columns = self.music_columns or 0
        mean = (self._music_sum / max(self._music_count, 1)) if columns else np.zeros(0)
        std = np.sqrt(np.maximum(self._music_sq / max(self._music_count, 1) - mean**2, 0.0)) if columns else mean
        index = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": self.fps,
                 "segment_frames": self.segment_frames, "stride_frames": self.stride_frames,
                 "num_joints": NUM_TOKENIZER_JOINTS, "music_extractor": self.music_extractor,
                 "music_columns": columns, "music_mean": [float(v) for v in mean],
                 "music_std": [float(max(v, 1e-6)) for v in std],
                 "num_segments": sum(shard["segments"] for shard in self.shards), "shards": self.shards,
                 "sources": self.sources, "skipped_clips": self.skipped}
        (self.out_dir / INDEX_FILE).write_text(json.dumps(index, indent=1))
        return self.out_dir

    def _accumulate_music(self, music: np.ndarray) -> None:
        values = music.astype(np.float64)
        if self._music_sum is None:
            self._music_sum, self._music_sq = np.zeros(values.shape[1]), np.zeros(values.shape[1])
        self._music_sum += values.sum(0)
        self._music_sq += np.square(values).sum(0)
        self._music_count += len(values)

    def _flush(self) -> None:
        if not self._pending:
            return
        name = f"shard_{len(self.shards):05d}"
        columns = self.music_columns or 0
        poses = np.stack([entry[0] for entry in self._pending]).astype(np.float32)
        music = np.stack([entry[1] if entry[1] is not None else np.zeros((self.segment_frames, columns), np.float32)
                          for entry in self._pending]).astype(np.float32)
        has_music = np.array([entry[2] for entry in self._pending], bool)
        np.savez(self.out_dir / f"{name}.npz", poses=poses, music=music, has_music=has_music)
        (self.out_dir / f"{name}.json").write_text(json.dumps([entry[3] for entry in self._pending]))
        self.shards.append({"file": f"{name}.npz", "segments": len(self._pending)})
        self._pending = []


@dataclass(frozen=True)
class PoseDataset:
    """A whole dataset in memory.

    poses     : (N, T, 60, 3) float32; music : (N, T, C) float32; has_music : (N,) bool.
    info      : the ``dataset.json`` document (fps, music_mean / music_std, ...).
    """

    poses: np.ndarray
    music: np.ndarray
    has_music: np.ndarray
    info: dict

    @property
    def num_segments(self) -> int:
        return len(self.poses)


def load_dataset(directory: str | Path) -> PoseDataset:
    """Read every shard of a dataset folder (written by ``DatasetWriter``) into memory."""
    directory = Path(directory)
    index_path = directory / INDEX_FILE
    if not index_path.is_file():
        raise DatasetError(f"{directory} is not a pose dataset (no {INDEX_FILE}). Build one with "
                           "`python -m choreo.datasets.pose_dataset build --source ... --out DIR`.")
    info = json.loads(index_path.read_text())
    if info.get("format") != FORMAT_NAME or info.get("version") != FORMAT_VERSION:
        raise DatasetError(f"{index_path} is format {info.get('format')!r} v{info.get('version')}; this version "
                           f"reads {FORMAT_NAME!r} v{FORMAT_VERSION}. Rebuild the dataset.")
    poses, music, has_music = [], [], []
    for shard in info["shards"]:
        with np.load(directory / shard["file"], allow_pickle=False) as data:
            poses.append(data["poses"])
            music.append(data["music"])
            has_music.append(data["has_music"])
    return PoseDataset(np.concatenate(poses), np.concatenate(music), np.concatenate(has_music), info)


# ---------------------------------------------------------------- synthetic source


def synthetic_song(rng: np.random.Generator, duration_s: float, sample_rate: int = AUDIO_SAMPLE_RATE) -> Audio:
    """A random drum-and-bass loop: tempo 84-140 BPM, kick / snare / hi-hat pattern, a bass line and noise bursts."""
    tempo_bpm = float(rng.uniform(84.0, 140.0))
    beat_s = 60.0 / tempo_bpm
    count = int(duration_s * sample_rate)
    signal = 0.003 * rng.standard_normal(count)
    times = np.arange(count) / sample_rate

    def hit(start_s: float, length_s: float, tone_hz: float | None, gain: float, decay_s: float) -> None:
        start = int(start_s * sample_rate)
        stop = min(start + int(length_s * sample_rate), count)
        if start >= stop:
            return
        local = times[: stop - start]
        body = np.sin(2 * np.pi * tone_hz * local) if tone_hz else rng.standard_normal(stop - start)
        signal[start:stop] += gain * body * np.exp(-local / decay_s)

    four_on_floor = rng.random() < 0.5
    sixteenth_hats = rng.random() < 0.4
    bass_notes = rng.choice([41.2, 43.7, 49.0, 55.0, 61.7, 65.4], size=4)
    swing = float(rng.uniform(0.0, 0.15))
    for beat, start_s in enumerate(np.arange(0.0, duration_s, beat_s)):
        position = beat % 4
        if four_on_floor or position in (0, 2):
            hit(start_s, 0.25, 55.0, 0.9, 0.08)
        if position in (1, 3):
            hit(start_s, 0.2, None, 0.45, 0.05)
        for sub in range(4 if sixteenth_hats else 2):
            offset = sub / (4 if sixteenth_hats else 2) + (swing if sub % 2 else 0.0)
            hit(start_s + offset * beat_s, 0.05, None, 0.12, 0.01)
        hit(start_s, beat_s * 0.9, float(bass_notes[(beat // 4) % 4]) * 2, 0.25, beat_s * 0.5)
    peak = np.max(np.abs(signal))
    return Audio.from_array((0.9 * signal / peak).astype(np.float32), sample_rate, name="synthetic song")


def synthetic_clips(count: int, seed: int = 0, duration_s: float = 12.0, fps: float = DEFAULT_FPS,
                    extractor: str = "edge_librosa",
                    progress: Callable[[float], None] | None = None,
                    ) -> Iterator[tuple[PoseSequence2D, MusicFeatures, str]]:
    """``count`` choreographer dances: (2D poses, music features, name); a few dances per synthetic song.

    Each dance gets a random style, seed, camera yaw (-35..35 degrees) and framing (body height 45-90% of the
    canvas, shifted sideways), so the data covers the placements a reference image may have.
    """
    rng = np.random.default_rng(seed)
    report = progress or (lambda fraction: None)
    made = 0
    while made < count:
        audio = synthetic_song(rng, duration_s)
        analysis = analyze_music(audio, fps=fps)
        features = extract_music_features(audio, fps=fps, extractor=extractor)
        for _ in range(min(SYNTHETIC_DANCES_PER_SONG, count - made)):
            style = str(rng.choice(STYLES))
            motion = choreograph(analysis, seed=int(rng.integers(2**31 - 1)), style=style)
            camera = Camera(yaw_deg=float(rng.uniform(-35.0, 35.0)), pitch_deg=float(rng.uniform(-5.0, 10.0)))
            seq = project_motion(motion, *SYNTHETIC_CANVAS, camera=camera)
            yield _reframe(seq, rng), features, f"synthetic_{made:05d}_{style}"
            made += 1
            report(made / count)


def _reframe(seq: PoseSequence2D, rng: np.random.Generator) -> PoseSequence2D:
    """Scale the dancer about the canvas centre by 0.55-1.1 and shift by up to 20% of the width."""
    scale = float(rng.uniform(0.55, 1.1))
    centre = np.array([seq.canvas_width, seq.canvas_height], np.float32) / 2
    shift = np.array([rng.uniform(-0.2, 0.2) * seq.canvas_width, rng.uniform(-0.05, 0.1) * seq.canvas_height])
    points = (seq.keypoints_px - centre) * scale + centre + shift.astype(np.float32)
    return PoseSequence2D(points.astype(np.float32), seq.confidence, seq.canvas_width, seq.canvas_height, seq.fps,
                          seq.missing_parts)


# ---------------------------------------------------------------- pose files


def _song_named(folder: Path, stem: str) -> Path | None:
    """``folder/stem.<audio suffix>`` if one exists."""
    for suffix in AUDIO_SUFFIXES:
        candidate = folder / (stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def _song_beside(path: Path) -> Path | None:
    return _song_named(path.parent, path.name.removesuffix(".pose.json").removesuffix(".json").removesuffix(".npz"))


def pose_file_clips(directory: str | Path, fps: float = DEFAULT_FPS,
                    extractor: str = "edge_librosa") -> Iterator[tuple[PoseSequence2D, MusicFeatures | None, str]]:
    """Pose JSON files and 3D motion NPZ files (projected frontally) under ``directory``, with their songs."""
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".json", ".npz") and p.is_file())
    if not files:
        raise DatasetError(f"no pose files (*.json, *.npz) under {directory}. Save poses with Save Dance Video "
                           "or point --source poses: at the right folder.")
    for path in files:
        if path.suffix == ".npz":
            seq = project_motion(load_motion_npz(path), *SYNTHETIC_CANVAS)
        else:
            seq = load_pose_json(path)
        seq = resample_sequence(seq, fps)
        song = _song_beside(path)
        features = extract_music_features(load_audio(song), fps=fps, extractor=extractor) if song else None
        yield seq, features, str(path.relative_to(directory))


# ---------------------------------------------------------------- AIST++ keypoints2d


def _aistpp_music_id(name: str) -> str | None:
    match = _AISTPP_MUSIC_ID.search(name)
    return match.group(1) if match else None


def coco17_to_sequence(keypoints: np.ndarray, fps: float, canvas: tuple[int, int] = AISTPP_CANVAS,
                       threshold: float = DETECTION_THRESHOLD) -> PoseSequence2D:
    """(T, 17, 3) COCO keypoints (x, y, score) in pixels -> PoseSequence2D with body points only.

    The neck is the mid-shoulder point; confidences are 1 where the score passes ``threshold`` and the point is
    finite, else 0 (DWPose's convention). Face, feet and hands are absent (confidence 0, marked missing).
    """
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (17, 3):
        raise DatasetError(f"COCO keypoints must be (T, 17, 3), got {keypoints.shape}.")
    finite = np.isfinite(keypoints).all(axis=2)
    seen = (finite & (np.nan_to_num(keypoints[..., 2]) > threshold)).astype(np.float32)
    points = np.zeros((len(keypoints), NUM_KEYPOINTS, 2), np.float32)
    confidence = np.zeros((len(keypoints), NUM_KEYPOINTS), np.float32)
    layout = rtmpose.WHOLEBODY_TO_LAYOUT[:17]
    points[:, layout] = np.nan_to_num(keypoints[..., :2]) * seen[..., None]
    confidence[:, layout] = seen
    shoulders = [B["right_shoulder"], B["left_shoulder"]]
    confidence[:, B["neck"]] = confidence[:, shoulders].min(axis=1)
    points[:, B["neck"]] = points[:, shoulders].mean(axis=1) * confidence[:, B["neck"], None]
    missing = frozenset(key for key, _, _ in PARTS if key != "pose_keypoints_2d")
    return PoseSequence2D(points, confidence, canvas[0], canvas[1], float(fps), missing)


def aistpp_clips(directory: str | Path, music_dir: str | Path | None = None, fps: float = DEFAULT_FPS,
                 views: Iterable[int] | None = None, extractor: str = "edge_librosa",
                 ) -> Iterator[tuple[PoseSequence2D, MusicFeatures | None, str]]:
    """Every camera view of every AIST++ ``keypoints2d`` pickle under ``directory`` as a clip at ``fps``."""
    files = sorted(Path(directory).rglob("*.pkl"))
    if not files:
        raise DatasetError(f"no AIST++ keypoints2d pickles (*.pkl) under {directory}. Download the AIST++ "
                           "annotations and point --source aistpp2d: at their keypoints2d folder.")
    songs: dict[str, MusicFeatures] = {}
    for path in files:
        content = restricted_load(path)
        if not isinstance(content, dict) or "keypoints2d" not in content:
            raise DatasetError(f"{path} has no 'keypoints2d' entry; it is not an AIST++ keypoints2d file.")
        keypoints = np.asarray(content["keypoints2d"])
        if keypoints.ndim != 4 or keypoints.shape[2:] != (17, 3):
            raise DatasetError(f"{path}: keypoints2d must be (views, T, 17, 3), got {keypoints.shape}.")
        features = None
        song_id = _aistpp_music_id(path.stem)
        song = _song_named(Path(music_dir), song_id) if music_dir is not None and song_id else None
        if song is not None:
            if song_id not in songs:
                songs[song_id] = extract_music_features(load_audio(song), fps=fps, extractor=extractor)
            features = songs[song_id]
        for view in (range(len(keypoints)) if views is None else views):
            seq = resample_sequence(coco17_to_sequence(keypoints[view], AISTPP_FPS), fps)
            yield seq, features, f"{path.stem}/view{view}"


# ---------------------------------------------------------------- dance videos


def extract_audio(video_path: str | Path) -> Audio:
    """The video's sound track as mono Audio at 22,050 Hz, decoded with imageio-ffmpeg's ffmpeg."""
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "audio.wav"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(video_path), "-vn", "-ac", "1",
                   "-ar", str(AUDIO_SAMPLE_RATE), "-f", "wav", str(wav)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
            raise DatasetError(f"could not read a sound track from {video_path} ({result.stderr.strip()[-300:]}). "
                               "Dance videos need their music; skip silent videos.")
        return load_audio(wav)


def video_poses(video_path: str | Path, pose_model: str | Path, det_model: str | Path | None = None,
                fps: float = DEFAULT_FPS, threshold: float = DETECTION_THRESHOLD,
                progress: Callable[[float], None] | None = None) -> PoseSequence2D:
    """Whole-body poses of the main dancer in every frame of a video, resampled to ``fps`` by ffmpeg.

    pose_model : RTMW / DWPose whole-body SimCC ONNX model (required).
    det_model  : YOLOX person detector; without it the person box follows the previous frame's keypoints
                 (the whole frame until a person is found).
    """
    import imageio_ffmpeg

    pose_session = rtmpose.load_session(pose_model, "Whole-body pose")
    det_session = rtmpose.load_session(det_model, "Person detector") if det_model is not None else None
    reader = imageio_ffmpeg.read_frames(str(video_path), output_params=["-vf", f"fps={fps}"])
    meta = next(reader)
    width, height = meta["size"]
    expected = max(1, int(meta.get("duration", 0) * fps))
    report = progress or (lambda fraction: None)
    points, confidence, box = [], [], None
    for raw in reader:
        image = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
        if det_session is not None:
            box = rtmpose.detect_largest_person(det_session, image)
        full = np.array([0.0, 0.0, width, height])
        keypoints, scores = rtmpose.estimate_wholebody(pose_session, image, full if box is None else box)
        frame_points, frame_conf = rtmpose.wholebody_to_layout(keypoints, scores, threshold)
        points.append(frame_points)
        confidence.append(frame_conf)
        if det_session is None:
            box = _box_around(frame_points, frame_conf, width, height)
        report(min(len(points) / expected, 1.0))
    if not points:
        raise DatasetError(f"{video_path} has no video frames ffmpeg can decode.")
    return PoseSequence2D(np.asarray(points, np.float32), np.asarray(confidence, np.float32), width, height, fps)


def _box_around(points: np.ndarray, confidence: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """The seen keypoints' box grown by 20% per side, for tracking without a detector; None if too few points."""
    seen = points[confidence > 0]
    if len(seen) < MIN_BODY_KEYPOINTS:
        return None
    low, high = seen.min(0), seen.max(0)
    margin = 0.2 * (high - low)
    return np.clip(np.concatenate([low - margin, high + margin]), 0, [width, height, width, height])


def video_clips(directory: str | Path, pose_model: str | Path | None, det_model: str | Path | None = None,
                fps: float = DEFAULT_FPS, extractor: str = "edge_librosa",
                ) -> Iterator[tuple[PoseSequence2D, MusicFeatures, str]]:
    """Every dance video under ``directory``: detected poses and its sound track's features."""
    if pose_model is None:
        raise DatasetError(f"videos need a whole-body pose model: pass --pose-model PATH. {rtmpose.MODEL_HELP}")
    files = sorted(p for p in Path(directory).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise DatasetError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) under {directory}.")
    for path in files:
        features = extract_music_features(extract_audio(path), fps=fps, extractor=extractor)
        yield video_poses(path, pose_model, det_model, fps), features, path.name


# ---------------------------------------------------------------- building


def build_dataset(source: str, out_dir: str | Path, fps: float = DEFAULT_FPS,
                  segment_frames: int = DEFAULT_SEGMENT_FRAMES, stride_frames: int = DEFAULT_STRIDE_FRAMES,
                  shard_segments: int = DEFAULT_SHARD_SEGMENTS, extractor: str = "edge_librosa",
                  count: int = 64, seed: int = 0, duration_s: float = 12.0, pose_model: str | Path | None = None,
                  det_model: str | Path | None = None, music_dir: str | Path | None = None,
                  log: Callable[[str], None] = lambda message: None) -> Path:
    """Build a dataset folder from ``source`` (``synthetic``, ``videos:DIR``, ``poses:DIR``, ``aistpp2d:DIR``)."""
    kind, _, path = source.partition(":")
    if kind == "synthetic":
        clips = synthetic_clips(count, seed, duration_s, fps, extractor)
    elif kind == "videos" and path:
        clips = video_clips(path, pose_model, det_model, fps, extractor)
    elif kind == "poses" and path:
        clips = pose_file_clips(path, fps, extractor)
    elif kind == "aistpp2d" and path:
        clips = aistpp_clips(path, music_dir, fps, extractor=extractor)
    else:
        raise DatasetError(f"unknown dataset source {source!r}; use synthetic, videos:DIR, poses:DIR or aistpp2d:DIR.")
    writer = DatasetWriter(out_dir, fps, segment_frames, stride_frames, shard_segments, extractor)
    for seq, features, name in clips:
        try:
            clip = make_clip(seq, features, name, kind)
        except DatasetError as error:
            writer.skipped.append(f"{name} ({error})")
            log(f"skipped {name}: {error}")
            continue
        log(f"{name}: {len(clip.poses)} frames, {writer.add(clip)} segments")
    return writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.datasets.pose_dataset", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build a sharded dataset folder")
    build.add_argument("--source", required=True, help="synthetic | videos:DIR | poses:DIR | aistpp2d:DIR")
    build.add_argument("--out", required=True, type=Path, help="new dataset folder")
    build.add_argument("--fps", type=float, default=DEFAULT_FPS)
    build.add_argument("--segment-frames", type=int, default=DEFAULT_SEGMENT_FRAMES)
    build.add_argument("--stride-frames", type=int, default=DEFAULT_STRIDE_FRAMES)
    build.add_argument("--shard-segments", type=int, default=DEFAULT_SHARD_SEGMENTS)
    build.add_argument("--extractor", default="edge_librosa", help="music feature extractor")
    build.add_argument("--count", type=int, default=64, help="synthetic: number of dances")
    build.add_argument("--seed", type=int, default=0, help="synthetic: random seed")
    build.add_argument("--duration", type=float, default=12.0, help="synthetic: song length, seconds")
    build.add_argument("--pose-model", type=Path, help="videos: whole-body ONNX model (RTMW / DWPose)")
    build.add_argument("--det-model", type=Path, help="videos: YOLOX person detector ONNX (optional)")
    build.add_argument("--music-dir", type=Path, help="aistpp2d: folder of the AIST++ songs (mBR0.wav, ...)")
    args = parser.parse_args(argv)
    try:
        out = build_dataset(args.source, args.out, args.fps, args.segment_frames, args.stride_frames,
                            args.shard_segments, args.extractor, args.count, args.seed, args.duration,
                            args.pose_model, args.det_model, args.music_dir,
                            log=lambda message: print(f"  {message}", flush=True))
    except ChoreoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    info = json.loads((out / INDEX_FILE).read_text())
    print(f"wrote {out}: {info['num_segments']} segments of {info['segment_frames']} frames in "
          f"{len(info['shards'])} shard(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
