"""A labelled beat / downbeat / meter / tempo corpus from MIDI: composed songs and Debian-packaged MIDI.

Beat trackers need audio with exact labels in every meter and tempo. MIDI gives both: the file's
tempo map and time signatures are the labels (``midi_labels``), and fluidsynth turns the notes
into audio (``midi_render``). Sources are songs composed here from seeds (``midi_songs``) and MIDI
files inside Debian packages the user names (``debian_midi``: ``.mid`` files and MIDI lumps of Doom
WAD archives; evaluation packages refused).

Layout of ``--out``::

    midi/<song>.mid                       the song (packaged files copied unchanged)
    audio/<clip>.wav                      22.05 kHz mono render (absent with --no-render)
    labels/<clip>.json                    beats_s, downbeats_s, meter_per_bar, tempo_curve, source, licence
    manifest_{train,validation,test}.jsonl  one line per clip
    corpus.json                           config, counts, durations, skipped files

Splits are by song, from a hash of the song id, so every render of a song lands in one split
and adding songs never moves old ones.

    python -m choreo.datasets.music_corpus build --out ~/.cache/choreo/music_corpus --synthetic 40 \\
        --debian-package freedink-data --renders 2

Real compositions only (Freedoom's 67 WAD MIDI lumps: 51 pass the grid-fit filter; 6.3 min on 1 core):

    python -m choreo.datasets.music_corpus build --out ~/.cache/choreo/beat_corpus_debian --synthetic 0 \\
        --debian-package freedoom --debian-package freedink-data --debian-package liquidwar-data \\
        --debian-package kobodeluxe-data --debian-package solfege --renders 2
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mido
import numpy as np
import soundfile

from ..errors import ChoreoError
from .debian_midi import CorpusError, check_package_allowed, package_licence, package_midi, unpack_package
from .midi_labels import MidiLabelError, MidiLabels, grid_fit, midi_labels
from .midi_render import SAMPLE_RATE, find_soundfonts, render_midi, vary_midi
from .midi_songs import random_song_spec, write_song

SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
RELEASE_TAIL_S = 1.0  # audio kept after the last note ends, so the final chord decays instead of clicking off
SYNTHETIC_LICENCE = "composed by choreo.datasets.midi_songs (no third-party material)"
DEFAULT_CACHE = Path.home() / ".cache" / "choreo"


@dataclass(frozen=True)
class CorpusConfig:
    """What to build; ``renders_per_song`` 0 writes MIDI and labels only (no fluidsynth needed)."""

    num_synthetic: int = 40
    seed: int = 0
    synthetic_duration_s: float = 30.0
    debian_packages: tuple[str, ...] = ()
    renders_per_song: int = 1
    soundfonts: tuple[str, ...] = ()  # empty: every soundfont installed in /usr/share/sounds/sf2 and sf3
    sample_rate: int = SAMPLE_RATE
    min_grid_fit: float = 0.6  # packaged songs whose notes ignore their own tempo map are skipped (see grid_fit)
    offbeat_share: float = 0.0  # composed songs whose off-beat is the loudest event (midi_songs.random_song_spec)


@dataclass(frozen=True)
class Song:
    """One labelled MIDI song before rendering."""

    song_id: str
    midi: mido.MidiFile
    labels: MidiLabels
    source: str
    licence: str
    details: dict


def write_split_manifests(out: Path, rows: list[dict]) -> None:
    """``manifest_<split>.jsonl`` in ``out``: one JSON line per row whose ``split`` is that split."""
    for split in SPLITS:
        lines = [json.dumps(row) for row in rows if row["split"] == split]
        (out / f"manifest_{split}.jsonl").write_text("".join(line + "\n" for line in lines))


def corpus_counts(rows: list[dict]) -> dict:
    """``splits`` (songs, clips, labelled seconds per split) and ``sources`` (songs per source) of manifest rows."""
    return {"splits": {split: {"songs": len({r["song_id"] for r in rows if r["split"] == split}),
                               "clips": sum(r["split"] == split for r in rows),
                               "label_duration_s": round(sum(r["duration_s"] for r in rows if r["split"] == split), 1)}
                       for split in SPLITS},
            "sources": {source: len({r["song_id"] for r in rows if r["source"] == source})
                        for source in sorted({r["source"] for r in rows})}}


def split_of(song_id: str) -> str:
    """``train``, ``validation`` or ``test`` for a song, from the first 8 bytes of its SHA-256 (80/10/10)."""
    position = int.from_bytes(hashlib.sha256(song_id.encode()).digest()[:8], "big") / 2**64
    edges = np.cumsum(SPLIT_FRACTIONS)
    return SPLITS[int(np.searchsorted(edges, position, side="right"))]


def synthetic_songs(config: CorpusConfig) -> list[Song]:
    """``num_synthetic`` composed songs from seeds ``seed``, ``seed + 1``, ..."""
    songs = []
    for seed in range(config.seed, config.seed + config.num_synthetic):
        spec = random_song_spec(seed, config.synthetic_duration_s, config.offbeat_share)
        midi, labels = write_song(spec)
        songs.append(Song(f"synthetic-{seed:06d}", midi, labels, "synthetic", SYNTHETIC_LICENCE,
                          {"spec": dataclasses.asdict(spec)}))
    return songs


def debian_songs(package: str, cache_dir: Path, skipped: list[str], min_grid_fit: float = 0.6) -> list[Song]:
    """Every labellable MIDI file or WAD MIDI lump in a Debian package; the others are listed in ``skipped``.

    A file is labellable when it reads, has notes, and at least ``min_grid_fit`` of its note
    onsets sit on its own tempo map's grid; below that the tempo map does not describe the music.
    """
    root = unpack_package(package, cache_dir)
    licence = package_licence(root, package)
    found_skips: list[str] = []
    packaged = package_midi(root, found_skips)
    skipped += [f"debian:{package}{reason}" for reason in found_skips]
    songs, seen = [], set()
    for item in packaged:
        where = f"debian:{package}{item.location}"
        digest = hashlib.sha256(item.data).hexdigest()
        if digest in seen:
            skipped.append(f"{where} (duplicate of another file in the package)")
            continue
        seen.add(digest)
        try:
            midi = _parse_midi(item.data, where)
            labels = midi_labels(midi)
        except MidiLabelError as error:
            skipped.append(f"{where} ({error})")
            continue
        fit = grid_fit(midi)
        if fit < min_grid_fit:
            skipped.append(f"{where} (only {fit:.0%} of note onsets on the tempo map's grid, "
                           f"below --min-grid-fit {min_grid_fit:.0%}: the tempo map does not describe the music)")
            continue
        songs.append(Song(f"debian-{package}-{item.song_key}", midi, labels, f"debian:{package}", licence,
                          {"package": package, "path": item.location, "deb": (root / ".deb-name").read_text(),
                           "grid_fit": round(fit, 3)}))
    return songs


def _parse_midi(data: bytes, where: str) -> mido.MidiFile:
    """The MIDI file in ``data``; unreadable bytes raise ``MidiLabelError`` naming ``where``."""
    try:
        return mido.MidiFile(file=io.BytesIO(data))
    except (OSError, ValueError, EOFError, KeyError, IndexError) as error:
        raise MidiLabelError(f"cannot read MIDI file {where}: {error}. Check it opens in a MIDI player.") from error


def _write_song(song: Song, out: Path, config: CorpusConfig, soundfonts: list[Path]) -> list[dict]:
    """Write one song's MIDI, renders and label files; the manifest rows of its clips."""
    midi_path = out / "midi" / f"{song.song_id}.mid"
    song.midi.save(midi_path)
    split = split_of(song.song_id)
    rows = []
    for render in range(max(config.renders_per_song, 1)):
        clip_id = f"{song.song_id}-r{render}"
        row = {"clip_id": clip_id, "song_id": song.song_id, "split": split, "source": song.source,
               "licence": song.licence, "midi": midi_path.relative_to(out).as_posix(),
               "labels": f"labels/{clip_id}.json", "duration_s": song.labels.duration_s}
        record = {**row, **song.labels.to_json(), **song.details}
        if config.renders_per_song > 0:
            seed = int.from_bytes(hashlib.sha256(clip_id.encode()).digest()[:4], "big")
            soundfont = soundfonts[seed % len(soundfonts)]
            varied, variation = vary_midi(song.midi, seed)
            audio = render_midi(varied, soundfont, config.sample_rate)
            audio = audio[: int((song.labels.duration_s + RELEASE_TAIL_S) * config.sample_rate)]
            row["audio"] = f"audio/{clip_id}.wav"
            row["audio_duration_s"] = len(audio) / config.sample_rate
            soundfile.write(out / row["audio"], audio, config.sample_rate, subtype="PCM_16")
            record.update(row, soundfont=soundfont.name, variation=variation, sample_rate=config.sample_rate)
        (out / row["labels"]).write_text(json.dumps(record, indent=1))
        rows.append(row)
    return rows


def build_corpus(out: Path, config: CorpusConfig, cache_dir: Path = DEFAULT_CACHE / "debian",
                 log: Callable[[str], None] = lambda message: None) -> dict:
    """Build the corpus into the new folder ``out``; returns the summary also written to ``corpus.json``."""
    for package in config.debian_packages:
        check_package_allowed(package)  # before any work, so a reserved name never touches the cache
    if not 0.0 <= config.offbeat_share <= 1.0:
        raise CorpusError(f"offbeat_share {config.offbeat_share} is not a share; give a number from 0 to 1.")
    if out.exists() and any(out.iterdir()):
        raise CorpusError(f"output folder {out} is not empty; pass a new folder or delete it first.")
    soundfonts = [Path(path) for path in config.soundfonts] or find_soundfonts()
    if config.renders_per_song > 0 and not soundfonts:
        raise CorpusError("no soundfont found in /usr/share/sounds/sf2 or sf3; install one (Debian: "
                          "`apt-get install fluid-soundfont-gm`), pass --soundfont FILE, or use --no-render.")
    started = time.monotonic()
    for folder in ("midi", "audio", "labels"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    songs = synthetic_songs(config)
    for package in config.debian_packages:
        found = debian_songs(package, cache_dir, skipped, config.min_grid_fit)
        log(f"debian:{package}: {len(found)} MIDI songs")
        songs += found
    rows = []
    for index, song in enumerate(songs):
        rows += _write_song(song, out, config, soundfonts)
        log(f"[{index + 1}/{len(songs)}] {song.song_id}: {song.labels.duration_s:.1f} s, "
            f"{len(song.labels.beats_s)} beats, meters {sorted(set(song.labels.bar_meters))}")
    write_split_manifests(out, rows)
    summary = {"config": dataclasses.asdict(config), "soundfonts": [path.name for path in soundfonts],
               "build_time_s": round(time.monotonic() - started, 1), "skipped": skipped, **corpus_counts(rows)}
    (out / "corpus.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.datasets.music_corpus",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build a labelled music corpus folder")
    build.add_argument("--out", required=True, type=Path, help="new corpus folder")
    build.add_argument("--synthetic", type=int, default=CorpusConfig.num_synthetic, help="composed songs")
    build.add_argument("--seed", type=int, default=CorpusConfig.seed, help="first composed song's seed")
    build.add_argument("--duration", type=float, default=CorpusConfig.synthetic_duration_s,
                       help="composed song length, seconds")
    build.add_argument("--debian-package", action="append", default=[], metavar="PKG",
                       help="take the MIDI files of this Debian package (repeatable)")
    build.add_argument("--renders", type=int, default=CorpusConfig.renders_per_song,
                       help="audio renders per song (soundfont, instrument and mix varied)")
    build.add_argument("--no-render", action="store_true", help="write MIDI and labels only")
    build.add_argument("--soundfont", action="append", default=[], help="soundfont file (repeatable)")
    build.add_argument("--min-grid-fit", type=float, default=CorpusConfig.min_grid_fit,
                       help="packaged MIDI: least share of note onsets on the file's own beat grid (0-1)")
    build.add_argument("--offbeat-share", type=float, default=CorpusConfig.offbeat_share,
                       help="composed songs: share whose off-beats are louder than the beat (0-1)")
    build.add_argument("--cache", type=Path, default=DEFAULT_CACHE / "debian", help="unpacked Debian packages")
    args = parser.parse_args(argv)
    config = CorpusConfig(args.synthetic, args.seed, args.duration, tuple(args.debian_package),
                          0 if args.no_render else args.renders, tuple(args.soundfont),
                          min_grid_fit=args.min_grid_fit, offbeat_share=args.offbeat_share)
    try:
        summary = build_corpus(args.out, config, args.cache, log=lambda message: print(f"  {message}", flush=True))
    except ChoreoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({key: summary[key] for key in ("splits", "sources", "build_time_s")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
