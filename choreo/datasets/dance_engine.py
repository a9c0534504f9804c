"""The training-data engine: the beat choreographer dancing to real music, in both trainers' layouts.

Learned dance generators need many (music, motion) pairs; real dance capture is scarce and
licence-bound, while free music is plentiful. The engine takes real songs (audio inside Debian
packages, the rendered-MIDI corpus of ``music_corpus``, or any folder), cuts them into clips,
skips clips without a clear beat, and has the beat choreographer dance each clip several times
with seeded variety (``dance_variety``). A model trained on it learns the choreographer's
beat-timed dancing on real music; it is not real dance.

Layout of ``--out``::

    audio/<clip>.wav                           the clip's music, mono 22.05 kHz
    motion/<dance>.npz                         the 3D dance with its own skeleton (``save_motion_npz``)
    motion_expert/<split>/motion/<dance>.npy   FineDance body layout (T, 135): ``--data finedance:DIR``
    motion_expert/<split>/music_wav/<dance>.wav  hard link to the clip's wav
    xdancer/<split>/dataset.json + shards      pose dataset (2D whole body, confidences, music features)
    manifest_{train,validation,test}.jsonl     one line per dance: song, clip, source, licence, variation
    engine.json                                config, counts, hours of audio, skipped tracks and clips

Splits are by song (``music_corpus.split_of`` of a content hash, or the corpus's own split), so
every clip and dance of a song share one split, and the MIDI corpus and this engine agree.

    python -m choreo.datasets.dance_engine build --out ~/.cache/choreo/dance_engine \\
        --debian-package freedroidrpg-data --folder my_songs --music-corpus ~/.cache/choreo/music_corpus
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile

from ..errors import ChoreoError
from ..io.audio_files import load_audio
from ..io.motion_files import save_motion_npz
from ..motion.choreographer import choreograph
from ..music.analysis import MusicAnalysis
from ..music.analyze import CLEAR_BEAT_MIN_CLARITY, analyze_music
from ..music.audio import Audio
from ..music.features import EXTRACTORS, extract_music_features
from ..pose.projection import Camera, project_motion
from .dance_variety import VarietyConfig, draw_variation, mirror_motion, reframe, varied_skeleton
from .debian_midi import (AUDIO_SUFFIXES, CorpusError, check_package_allowed, package_audio_files,
                          package_licence, unpack_package)
from .finedance import finedance_frames
from .music_corpus import DEFAULT_CACHE, SPLITS, split_of, write_split_manifests
from .pose_dataset import DatasetError, DatasetWriter, make_clip

SAMPLE_RATE = 22050
CANVAS = (512, 768)  # width, height in pixels: the pose dataset's portrait canvas


@dataclass(frozen=True)
class EngineConfig:
    """What to build from which music. Clip lengths in seconds; ``min_beat_clarity`` as ``beat_clarity``."""

    folders: tuple[str, ...] = ()
    debian_packages: tuple[str, ...] = ()
    music_corpora: tuple[str, ...] = ()
    seed: int = 0
    dances_per_clip: int = 2
    max_tracks_per_source: int = 0  # stop a source after this many danced tracks (0: all), to bound build time
    clip_min_s: float = 10.0
    clip_max_s: float = 30.0
    # Twice the analyser's "clear beat" line: training dances should follow an unmistakable beat. Game sound
    # effects loop near 5 (a geyser hiss scored 5.4, cave ambience 3-4) while soundtracks score 40-55.
    min_beat_clarity: float = 2 * CLEAR_BEAT_MIN_CLARITY
    fps: float = 30.0
    extractor: str = "edge_librosa"
    segment_frames: int = 128
    stride_frames: int = 32
    variety: VarietyConfig = VarietyConfig()


@dataclass(frozen=True)
class Track:
    """One recording to cut and dance; ``split`` decided per song (all renders of a MIDI song share it).

    recording_id names its clips and dances and finds duplicates: the song id for audio files (a
    content hash), the render's clip id for the MIDI corpus, whose songs have several renders, and
    its own content hash for a faster copy of a song (which shares the original's song id).
    """

    song_id: str
    path: Path
    source: str
    licence: str
    split: str
    details: dict
    recording_id: str = ""

    @property
    def key(self) -> str:
        return self.recording_id or self.song_id


def content_song_id(path: Path) -> str:
    """``audio-<first 16 hex of SHA-256>``: the same recording gets one id (and one split) wherever it is found."""
    return "audio-" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _audio_tracks(files: list[Path], root: Path, source: str, licence: str) -> list[Track]:
    """One track per file. A faster copy (``<name>_fast.ogg`` beside ``<name>.ogg``, as SuperTuxKart ships)
    takes its original's song id and split, so one song never sits in two splits."""
    present = set(files)
    tracks = []
    for path in files:
        original = path.with_name(path.stem.removesuffix("_fast") + path.suffix)
        is_copy = original != path and original in present
        song_id = content_song_id(original if is_copy else path)
        tracks.append(Track(song_id, path, source, licence, split_of(song_id),
                            {"path": path.relative_to(root).as_posix()},
                            recording_id=content_song_id(path) if is_copy else ""))
    return tracks


def folder_tracks(folder: Path) -> list[Track]:
    """Every audio file under ``folder`` (sorted); the licence is the user's to know."""
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise CorpusError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {folder}; check --folder.")
    return _audio_tracks(files, folder, f"folder:{folder.name}", f"given by the user (folder {folder})")


def debian_tracks(package: str, cache_dir: Path) -> list[Track]:
    """Every audio file in a Debian package (reserved packages refused), with the package's licence summary."""
    root = unpack_package(package, cache_dir)
    tracks = _audio_tracks(package_audio_files(root), root, f"debian:{package}", package_licence(root, package))
    deb = (root / ".deb-name").read_text()
    return [dataclasses.replace(track, details={**track.details, "package": package, "deb": deb})
            for track in tracks]


def corpus_tracks(corpus: Path) -> list[Track]:
    """The rendered clips of a ``music_corpus`` folder, keeping its song split and pointing at its labels."""
    tracks = []
    for split in SPLITS:
        manifest = corpus / f"manifest_{split}.jsonl"
        if not manifest.is_file():
            raise CorpusError(f"{corpus} is not a music corpus (no {manifest.name}); build one with "
                              "`python -m choreo.datasets.music_corpus build`.")
        for line in manifest.read_text().splitlines():
            row = json.loads(line)
            if "audio" in row:
                tracks.append(Track(row["song_id"], corpus / row["audio"], f"midi_corpus:{row['source']}",
                                    row["licence"], row["split"], {"labels": f"{corpus}/{row['labels']}"},
                                    recording_id=row["clip_id"]))
    return tracks


def clip_bounds_s(duration_s: float, clip_min_s: float, clip_max_s: float) -> list[tuple[float, float]]:
    """Equal cuts of a track, each between ``clip_min_s`` and ``clip_max_s`` long; none when it is too short.

    >>> clip_bounds_s(50.0, 10.0, 30.0)
    [(0.0, 25.0), (25.0, 50.0)]
    """
    if duration_s < clip_min_s:
        return []
    count = int(np.ceil(duration_s / clip_max_s))
    length_s = duration_s / count  # >= clip_max_s / 2 >= clip_min_s (checked in build)
    return [(round(index * length_s, 3), round((index + 1) * length_s, 3)) for index in range(count)]


def with_labelled_beats(analysis: MusicAnalysis, beats_s: list[float], downbeats_s: list[float],
                        start_s: float) -> MusicAnalysis:
    """The analysis of a clip starting at ``start_s`` of a labelled song, with the labels' exact beats and bars.

    The MIDI corpus knows its beats from the tempo map, so its dances land on true beats rather
    than on the tracker's estimate; loudness, onsets and sections stay as analysed. Beats before
    the clip's first labelled downbeat count back from it. A clip with fewer than two labelled
    beats or no downbeat keeps the analysis unchanged.
    """
    beats = np.asarray(beats_s, np.float64) - start_s
    downbeats = np.asarray(downbeats_s, np.float64) - start_s
    beats = beats[(beats >= 0) & (beats < analysis.duration_s)]
    downbeats = downbeats[(downbeats >= 0) & (downbeats < analysis.duration_s)]
    first = np.flatnonzero(np.isin(beats, downbeats))
    if len(beats) < 2 or len(first) == 0:
        return analysis
    bar_lengths = np.diff(first)
    beats_per_bar = int(np.bincount(bar_lengths).argmax()) if len(bar_lengths) else analysis.beats_per_bar
    beat_in_bar = np.empty(len(beats), np.int64)
    for index in range(len(beats)):
        started = first[first <= index]
        beat_in_bar[index] = index - started[-1] if len(started) else (index - first[0]) % beats_per_bar
    return dataclasses.replace(analysis, beat_times_s=beats, downbeat_times_s=beats[first], beats_per_bar=beats_per_bar,
                               beat_in_bar=beat_in_bar, tempo_bpm=float(60.0 / np.median(np.diff(beats))))


def mono_22k(path: Path) -> np.ndarray:
    """The track as (N,) float32 mono at 22.05 kHz, the rate analysis and features work at."""
    import librosa

    audio = load_audio(path)
    mono = audio.mono()
    if audio.sample_rate != SAMPLE_RATE:
        mono = librosa.resample(mono, orig_sr=audio.sample_rate, target_sr=SAMPLE_RATE)
    return np.asarray(mono, np.float32)


def check_build_request(out: Path, debian_packages: tuple[str, ...], clip_min_s: float, clip_max_s: float) -> None:
    """Refuse a build before any work: a reserved package, clip lengths that cannot cut evenly, a used folder."""
    for package in debian_packages:
        check_package_allowed(package)  # before any work, so a reserved name never touches the cache
    if not 0 < 2 * clip_min_s <= clip_max_s:
        raise CorpusError(f"--clip-max ({clip_max_s:g} s) must be at least twice --clip-min "
                          f"({clip_min_s:g} s, > 0) so every track longer than --clip-min can be cut evenly.")
    if out.exists() and any(out.iterdir()):
        raise CorpusError(f"output folder {out} is not empty; pass a new folder or delete it first.")


@dataclass(frozen=True)
class Cut:
    """One clip of a track: its id, where it sits in the track (seconds) and its mono SAMPLE_RATE samples."""

    clip_id: str
    start_s: float
    stop_s: float
    samples: np.ndarray


def left_out(track: Track, cut: Cut, why: str) -> str:
    """The ``skipped`` line for a cut a builder leaves out: which clip, which file, where in it, why."""
    return f"{cut.clip_id} ({track.path.name} {cut.start_s:.0f}-{cut.stop_s:.0f} s: {why})"


def track_cuts(tracks: Iterable[Track], clip_min_s: float, clip_max_s: float, skipped: list[str],
               source_is_full: Callable[[str], bool] = lambda source: False) -> Iterator[tuple[Track, list[Cut]]]:
    """Each track with its even cuts (``clip_bounds_s``), decoded once; what is left out goes to ``skipped``.

    Left out: tracks of a source ``source_is_full`` says has enough (asked lazily, so the caller's
    counts of earlier tracks count), repeats of audio already seen, files that do not decode, and
    tracks shorter than ``clip_min_s`` (yielded with no cuts, so the caller still sees them).
    """
    seen: set[str] = set()
    for track in tracks:
        name = f"{track.source}/{track.details.get('path', track.path.name)}"
        if source_is_full(track.source):
            skipped.append(f"{name} (enough tracks from {track.source}: --max-tracks reached)")
            continue
        if track.key in seen:
            skipped.append(f"{name} (same audio as an earlier track)")
            continue
        seen.add(track.key)
        try:
            mono = mono_22k(track.path)
        except ChoreoError as error:
            skipped.append(f"{name} ({error})")
            continue
        bounds = clip_bounds_s(len(mono) / SAMPLE_RATE, clip_min_s, clip_max_s)
        if not bounds:
            skipped.append(f"{name} ({len(mono) / SAMPLE_RATE:.1f} s, shorter than --clip-min {clip_min_s:g} s)")
        yield track, [Cut(f"{track.key}-c{index:03d}", start_s, stop_s,
                          mono[int(round(start_s * SAMPLE_RATE)):int(round(stop_s * SAMPLE_RATE))])
                      for index, (start_s, stop_s) in enumerate(bounds)]


class _Outputs:
    """The engine's files: a pose-dataset writer per split (made on first use), manifests, motion folders."""

    def __init__(self, out: Path, config: EngineConfig):
        self.out, self.config = out, config
        self.writers: dict[str, DatasetWriter] = {}
        self.rows: list[dict] = []
        for folder in ("audio", "motion"):
            (out / folder).mkdir(parents=True, exist_ok=True)

    def add_dance(self, split: str, dance_id: str, clip_wav: Path, motion, seq, features, source: str) -> None:
        save_motion_npz(motion, self.out / "motion" / f"{dance_id}.npz")
        expert = self.out / "motion_expert" / split
        (expert / "motion").mkdir(parents=True, exist_ok=True)
        (expert / "music_wav").mkdir(parents=True, exist_ok=True)
        np.save(expert / "motion" / f"{dance_id}.npy", finedance_frames(motion))
        os.link(clip_wav, expert / "music_wav" / f"{dance_id}.wav")  # same bytes, no second copy
        if split not in self.writers:
            self.writers[split] = DatasetWriter(self.out / "xdancer" / split, self.config.fps,
                                                self.config.segment_frames, self.config.stride_frames,
                                                music_extractor=self.config.extractor)
        self.writers[split].add(make_clip(seq, features, dance_id, source))

    def close(self) -> None:
        write_split_manifests(self.out, self.rows)
        for writer in self.writers.values():
            try:
                writer.close()
            except DatasetError:  # a split whose clips are all shorter than one segment: no pose dataset
                pass


def _dance_clip(track: Track, clip_id: str, audio: Audio, start_s: float, outputs: _Outputs,
                config: EngineConfig) -> str | None:
    """Dance one clip ``dances_per_clip`` times; returns why it was skipped, or None."""
    try:
        audio.check_analysable(clip_id)
    except ChoreoError as error:
        return str(error)
    analysis = analyze_music(audio, fps=config.fps)
    clarity = analysis.beat_clarity or 0.0
    if clarity < config.min_beat_clarity:
        return f"beat clarity {clarity:.1f} below --min-beat-clarity {config.min_beat_clarity:g}: no clear beat"
    if "labels" in track.details:
        labels = json.loads(Path(track.details["labels"]).read_text())
        analysis = with_labelled_beats(analysis, labels["beats_s"], labels["downbeats_s"], start_s)
    # the beats the dance follows, so that beat-aware features (edge_librosa_beats) describe the same beats
    features = extract_music_features(audio, fps=config.fps, extractor=config.extractor, analysis=analysis)
    clip_wav = outputs.out / "audio" / f"{clip_id}.wav"
    soundfile.write(clip_wav, audio.mono(), SAMPLE_RATE, subtype="PCM_16")
    for dance in range(config.dances_per_clip):
        dance_id = f"{clip_id}-d{dance}"
        variation = draw_variation(config.variety, config.seed, dance_id)
        motion = choreograph(analysis, seed=variation.choreography_seed, style=variation.style,
                             energy_scale=variation.energy_scale, skeleton=varied_skeleton(variation))
        if variation.mirrored:
            motion = mirror_motion(motion)
        camera = Camera(yaw_deg=variation.yaw_deg, pitch_deg=variation.pitch_deg)
        seq = reframe(project_motion(motion, *CANVAS, camera=camera), variation)
        outputs.add_dance(track.split, dance_id, clip_wav, motion, seq, features, track.source)
        outputs.rows.append({
            "dance_id": dance_id, "clip_id": clip_id, "song_id": track.song_id, "split": track.split,
            "source": track.source, "licence": track.licence, "start_s": start_s,
            "duration_s": round(audio.duration_s, 3), "num_frames": motion.num_frames, "fps": config.fps,
            "tempo_bpm": round(analysis.tempo_bpm, 2), "beats_per_bar": analysis.beats_per_bar,
            "beats_from": "labels" if "labels" in track.details else "analysis",
            "beat_clarity": round(clarity, 2), "audio": f"audio/{clip_id}.wav", "motion": f"motion/{dance_id}.npz",
            "variation": variation.to_json(), **track.details})
    return None


def audio_tracks(folders: tuple[str, ...], debian_packages: tuple[str, ...], cache_dir: Path,
                 log: Callable[[str], None]) -> Iterator[Track]:
    """The tracks of every folder, then of every Debian package (each unpacked when its turn comes)."""
    for folder in folders:
        yield from folder_tracks(Path(folder))
    for package in debian_packages:
        found = debian_tracks(package, cache_dir)
        log(f"debian:{package}: {len(found)} audio files")
        yield from found


def _tracks(config: EngineConfig, cache_dir: Path, log: Callable[[str], None]) -> Iterator[Track]:
    yield from audio_tracks(config.folders, config.debian_packages, cache_dir, log)
    for corpus in config.music_corpora:
        yield from corpus_tracks(Path(corpus))


def build_dances(out: Path, config: EngineConfig, cache_dir: Path = DEFAULT_CACHE / "debian",
                 log: Callable[[str], None] = lambda message: None) -> dict:
    """Build the dance dataset into the new folder ``out``; returns the summary also written to ``engine.json``."""
    check_build_request(out, config.debian_packages, config.clip_min_s, config.clip_max_s)
    if config.dances_per_clip < 1:
        raise CorpusError(f"--dances-per-clip must be at least 1, got {config.dances_per_clip}.")
    started = time.monotonic()
    outputs = _Outputs(out, config)
    skipped: list[str] = []
    tracks_used = clips_used = 0
    clip_audio_s = 0.0
    danced_per_source: dict[str, int] = {}

    def source_is_full(source: str) -> bool:
        return 0 < config.max_tracks_per_source <= danced_per_source.get(source, 0)

    for track, cuts in track_cuts(_tracks(config, cache_dir, log), config.clip_min_s, config.clip_max_s, skipped,
                                  source_is_full):
        danced = 0
        for cut in cuts:
            why = _dance_clip(track, cut.clip_id, Audio.from_array(cut.samples, SAMPLE_RATE, cut.clip_id),
                              cut.start_s, outputs, config)
            if why is not None:
                skipped.append(left_out(track, cut, why))
                continue
            danced += 1
            clip_audio_s += cut.stop_s - cut.start_s
        tracks_used += danced > 0
        danced_per_source[track.source] = danced_per_source.get(track.source, 0) + (danced > 0)
        clips_used += danced
        if cuts:
            log(f"{track.source} {track.path.name}: {danced}/{len(cuts)} clips danced ({track.split})")
    outputs.close()
    rows = outputs.rows
    summary = {"config": dataclasses.asdict(config), "build_time_s": round(time.monotonic() - started, 1),
               "tracks": tracks_used, "clips": clips_used, "dances": len(rows),
               "clip_audio_hours": round(clip_audio_s / 3600, 4),
               "dance_hours": round(sum(row["duration_s"] for row in rows) / 3600, 4),
               "splits": {split: {"songs": len({r["song_id"] for r in rows if r["split"] == split}),
                                  "clips": len({r["clip_id"] for r in rows if r["split"] == split}),
                                  "dances": sum(r["split"] == split for r in rows)} for split in SPLITS},
               "sources": {source: {"licence": next(r["licence"] for r in rows if r["source"] == source),
                                    "songs": len({r["song_id"] for r in rows if r["source"] == source})}
                           for source in sorted({r["source"] for r in rows})},
               "skipped": skipped}
    (out / "engine.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.datasets.dance_engine",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build a dance dataset folder from real music")
    build.add_argument("--out", required=True, type=Path, help="new dataset folder")
    build.add_argument("--folder", action="append", default=[], help="a folder of audio files (repeatable)")
    build.add_argument("--debian-package", action="append", default=[], metavar="PKG",
                       help="take the audio files of this Debian package (repeatable)")
    build.add_argument("--music-corpus", action="append", default=[], metavar="DIR",
                       help="a folder built by choreo.datasets.music_corpus (its rendered clips; repeatable)")
    build.add_argument("--seed", type=int, default=EngineConfig.seed, help="seed of every variation drawn")
    build.add_argument("--dances-per-clip", type=int, default=EngineConfig.dances_per_clip)
    build.add_argument("--max-tracks", type=int, default=0,
                       help="danced tracks per source at most (0: all); the rest are listed as skipped")
    build.add_argument("--clip-min", type=float, default=EngineConfig.clip_min_s, help="shortest clip, seconds")
    build.add_argument("--clip-max", type=float, default=EngineConfig.clip_max_s, help="longest clip, seconds")
    build.add_argument("--min-beat-clarity", type=float, default=EngineConfig.min_beat_clarity,
                       help="clips whose beat clarity is lower are skipped (no clear beat)")
    build.add_argument("--extractor", choices=sorted(EXTRACTORS), default=EngineConfig.extractor,
                       help="music features stored with the poses (edge_librosa_beats: with the danced beats' phase)")
    build.add_argument("--cache", type=Path, default=DEFAULT_CACHE / "debian", help="unpacked Debian packages")
    args = parser.parse_args(argv)
    config = EngineConfig(tuple(args.folder), tuple(args.debian_package), tuple(args.music_corpus), args.seed,
                          args.dances_per_clip, args.max_tracks, args.clip_min, args.clip_max, args.min_beat_clarity,
                          extractor=args.extractor)
    if not (config.folders or config.debian_packages or config.music_corpora):
        parser.error("name some music: --folder, --debian-package or --music-corpus")
    try:
        summary = build_dances(args.out, config, args.cache, log=lambda message: print(f"  {message}", flush=True))
    except ChoreoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({key: summary[key] for key in ("tracks", "clips", "dances", "clip_audio_hours", "splits",
                                                    "build_time_s")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
