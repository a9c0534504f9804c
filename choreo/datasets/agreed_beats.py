"""Real recordings labelled where two different beat trackers agree: the beat corpus's real-audio half.

Every clip of ``music_corpus`` is rendered MIDI, so the learned tracker has never heard a real
mix (compressed drums, reverb, vocals, guitars). Recordings with a trusted beat grid are rare
here (the free rhythm-game charts are reserved for evaluation), so this builder labels real
soundtracks itself: each clip is analysed by the DSP tracker (onset Viterbi and accent rules)
and by the beat network alone (``beat_tracker="network"``: the default learned tracker leans on the
DSP rules, so it could not disagree with them independently), and kept only where both find the same beats
(beat F >= ``min_beat_f``) and the same bar lines (downbeat F >= ``min_downbeat_f``) in a clear
beat. Two methods that fail differently rarely agree by chance, so the kept labels are
trustworthy; what they cannot teach is the music both get wrong, which is why the kept share is
reported. The labels are the DSP tracker's beats and bars, each beat moved to the midpoint of it
and the learned tracker's matching beat: on the rendered-MIDI validation split (exact labels) the
DSP beats sit 13 ms early (median) and the learned ones 0 ms, so neither alone sets the time.

Same layout as ``music_corpus`` (``audio/``, ``labels/``, ``manifest_<split>.jsonl``,
``corpus.json``), so ``train_beat_tracker --corpus`` pools the two. Splits are by song (a content
hash, ``dance_engine.content_song_id``), so the engine and this corpus agree on every song.

    python -m choreo.datasets.agreed_beats build --out ~/.cache/choreo/agreed_beats \\
        --debian-package supertux-data --debian-package warzone2100-music --folder my_songs
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from ..checkpoints import WEIGHTS_FILE
from ..errors import ChoreoError
from ..music.analysis import MusicAnalysis
from ..music import analyze as analyze_module
from ..music.analyze import CLEAR_BEAT_MIN_CLARITY, SAMPLE_RATE, analyze_music
from ..music.audio import Audio
from .dance_engine import audio_tracks, check_build_request, left_out, track_cuts
from .debian_midi import CorpusError
from .music_corpus import DEFAULT_CACHE, corpus_counts, write_split_manifests

BEAT_TOLERANCE_S = 0.07  # mir_eval's F-measure window, the one the benchmark scores with


@dataclass(frozen=True)
class AgreedBeatsConfig:
    """Which recordings, how they are cut (seconds) and how close the two trackers must agree (F, 0-1)."""

    folders: tuple[str, ...] = ()
    debian_packages: tuple[str, ...] = ()
    clip_min_s: float = 15.0
    clip_max_s: float = 30.0
    min_beat_f: float = 0.9
    min_downbeat_f: float = 0.8
    min_beat_clarity: float = 2 * CLEAR_BEAT_MIN_CLARITY  # the dance engine's line: an unmistakable beat
    max_tracks_per_source: int = 0  # stop a source after this many labelled tracks (0: all)


def agreement(reference: MusicAnalysis, other: MusicAnalysis) -> tuple[float, float]:
    """(beat F, downbeat F) of ``other`` against ``reference``, mir_eval's +-70 ms F-measure."""
    import mir_eval

    def f_measure(reference_s: np.ndarray, estimate_s: np.ndarray) -> float:
        if len(reference_s) == 0 and len(estimate_s) == 0:
            return 1.0
        return float(mir_eval.beat.f_measure(np.asarray(reference_s, float), np.asarray(estimate_s, float),
                                             f_measure_threshold=BEAT_TOLERANCE_S))

    return (f_measure(reference.beat_times_s, other.beat_times_s),
            f_measure(reference.downbeat_times_s, other.downbeat_times_s))


def midpoint_beats(reference_s: np.ndarray, other_s: np.ndarray) -> np.ndarray:
    """(N,) each reference beat moved halfway to the nearest ``other`` beat within BEAT_TOLERANCE_S; else kept.

    >>> midpoint_beats(np.array([1.0, 2.0, 3.0]), np.array([1.02, 2.5])).tolist()
    [1.01, 2.0, 3.0]
    """
    reference_s = np.asarray(reference_s, np.float64)
    if len(other_s) == 0:
        return reference_s.copy()
    other_s = np.asarray(other_s, np.float64)
    nearest = other_s[np.abs(other_s[None, :] - reference_s[:, None]).argmin(axis=1)]  # a few hundred beats
    matched = np.abs(nearest - reference_s) <= BEAT_TOLERANCE_S
    return np.where(matched, 0.5 * (reference_s + nearest), reference_s)


def label_clip(audio: Audio, clip_id: str, config: AgreedBeatsConfig) -> tuple[dict | None, str]:
    """(label record, why) for one clip: the record is None when the clip is skipped, and ``why`` says why.

    mir_eval ignores beats in the first 5 s, so agreement is judged on the rest of the clip; the
    labels still cover all of it (the DSP tracker's beats from the first one).
    """
    try:
        audio.check_analysable(clip_id)
    except ChoreoError as error:
        return None, str(error)
    dsp = analyze_music(audio, beat_tracker="dsp")
    clarity = dsp.beat_clarity or 0.0
    if clarity < config.min_beat_clarity:
        return None, f"beat clarity {clarity:.1f} below {config.min_beat_clarity:g}: no clear beat"
    learned = analyze_music(audio, beat_tracker="network")  # the network alone: "learned" leans on DSP rules
    beat_f, downbeat_f = agreement(dsp, learned)
    scores = f"beat F {beat_f:.2f}, downbeat F {downbeat_f:.2f}"
    if beat_f < config.min_beat_f or downbeat_f < config.min_downbeat_f:
        return None, f"trackers disagree ({scores}; need {config.min_beat_f:g} / {config.min_downbeat_f:g})"
    beats_s = midpoint_beats(dsp.beat_times_s, learned.beat_times_s)
    record = {"beats_s": np.round(beats_s, 4).tolist(),
              "downbeats_s": np.round(beats_s[dsp.beat_in_bar == 0], 4).tolist(),
              "beats_per_bar": dsp.beats_per_bar, "tempo_bpm": round(float(dsp.tempo_bpm), 2),
              "beat_clarity": round(clarity, 2), "agreement": {"beat_f": round(beat_f, 3),
                                                               "downbeat_f": round(downbeat_f, 3)},
              "labels_from": "beats halfway between the dsp and learned trackers', bars from the dsp tracker; "
                             "kept where both agree"}
    return record, scores


def _judging_weights_digest() -> str:
    """First 16 hex of the SHA-256 of the learned tracker's weights, which judge the agreement.

    Checked before any work: without them no clip could be labelled.
    """
    weights = analyze_module.DEFAULT_CHECKPOINT_DIR / WEIGHTS_FILE  # the ones analyze_music will load
    if not weights.is_file():
        raise CorpusError(f"{weights} is missing; the agreed-beats corpus needs the learned beat tracker to judge "
                          "agreement. Restore assets/checkpoints/beat_tracker from the repository.")
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:16]


def build_agreed_beats(out: Path, config: AgreedBeatsConfig, cache_dir: Path = DEFAULT_CACHE / "debian",
                       log: Callable[[str], None] = lambda message: None) -> dict:
    """Build the corpus into the new folder ``out``; returns the summary also written to ``corpus.json``."""
    check_build_request(out, config.debian_packages, config.clip_min_s, config.clip_max_s)
    judging_weights = _judging_weights_digest()
    started = time.monotonic()
    for folder in ("audio", "labels"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    skipped: list[str] = []
    clips_tried = 0
    labelled_per_source: dict[str, int] = {}

    def source_is_full(source: str) -> bool:
        return 0 < config.max_tracks_per_source <= labelled_per_source.get(source, 0)

    tracks = audio_tracks(config.folders, config.debian_packages, cache_dir, log)
    for track, cuts in track_cuts(tracks, config.clip_min_s, config.clip_max_s, skipped, source_is_full):
        kept = 0
        for cut in cuts:
            clips_tried += 1
            record, why = label_clip(Audio.from_array(cut.samples, SAMPLE_RATE), cut.clip_id, config)
            if record is None:
                skipped.append(left_out(track, cut, why))
                continue
            row = {"clip_id": cut.clip_id, "song_id": track.song_id, "split": track.split, "source": track.source,
                   "licence": track.licence, "audio": f"audio/{cut.clip_id}.wav",
                   "labels": f"labels/{cut.clip_id}.json", "start_s": cut.start_s,
                   "duration_s": round(cut.stop_s - cut.start_s, 3)}
            soundfile.write(out / row["audio"], cut.samples, SAMPLE_RATE, subtype="PCM_16")
            (out / row["labels"]).write_text(json.dumps({**row, **record, **track.details}, indent=1))
            rows.append(row)
            kept += 1
        labelled_per_source[track.source] = labelled_per_source.get(track.source, 0) + (kept > 0)
        if cuts:
            log(f"{track.source} {track.path.name}: {kept}/{len(cuts)} clips agreed ({track.split})")
    write_split_manifests(out, rows)
    summary = {"config": dataclasses.asdict(config), "learned_tracker_sha256": judging_weights,
               "build_time_s": round(time.monotonic() - started, 1), "clips_tried": clips_tried,
               "clips_kept": len(rows), "skipped": skipped, **corpus_counts(rows)}
    (out / "corpus.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.datasets.agreed_beats",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="label real recordings where the DSP and learned trackers agree")
    build.add_argument("--out", required=True, type=Path, help="new corpus folder")
    build.add_argument("--folder", action="append", default=[], help="folder of audio files (repeatable)")
    build.add_argument("--debian-package", action="append", default=[], metavar="PKG",
                       help="take the audio files of this Debian package (repeatable)")
    defaults = AgreedBeatsConfig()
    for name in ("clip_min_s", "clip_max_s", "min_beat_f", "min_downbeat_f", "min_beat_clarity",
                 "max_tracks_per_source"):
        default = getattr(defaults, name)
        build.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    build.add_argument("--cache", type=Path, default=DEFAULT_CACHE / "debian", help="unpacked Debian packages")
    args = parser.parse_args(argv)
    config = AgreedBeatsConfig(tuple(args.folder), tuple(args.debian_package), args.clip_min_s, args.clip_max_s,
                               args.min_beat_f, args.min_downbeat_f, args.min_beat_clarity,
                               args.max_tracks_per_source)
    if not config.folders and not config.debian_packages:
        parser.error("name at least one --folder or --debian-package")
    try:
        summary = build_agreed_beats(args.out, config, args.cache,
                                     log=lambda message: print(f"  {message}", flush=True))
    except ChoreoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({key: summary[key] for key in ("splits", "sources", "clips_tried", "clips_kept",
                                                    "build_time_s")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
