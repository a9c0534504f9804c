"""Music analysis benchmark: beat / downbeat / meter / tempo per clip for each beat tracker, speed and memory.

Run as `python bench/bench_music.py [--corpus DIR ...]`. Reads ../shared/data/music (a dev check,
skipped with a message when absent) and the *test* split of each corpus folder given (default: the
corpora under ~/.cache/choreo that exist; built by `python -m choreo.datasets.music_corpus build`).
Every clip is analysed in the same run by analyze_music with the learned tracker, with the DSP
tracker, and by librosa.beat.beat_track (beats only: it has no downbeats or meter). Beat and
downbeat F are mir_eval's (+-70 ms). Prints markdown tables only; nothing here asserts.
``--learned-weights DIR`` scores another checkpoint folder (config.json + model.safetensors) as the
learned tracker, e.g. a fresh training run before it replaces assets/checkpoints/beat_tracker.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import librosa
import mir_eval
import numpy as np
import soundfile

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import choreo.music.analyze as analyze_module  # noqa: E402
from choreo.music.analyze import analyze_music  # noqa: E402
from choreo.music.audio import Audio  # noqa: E402
from choreo.music.features import extract_music_features  # noqa: E402

MUSIC_DIR = REPO_ROOT.parent / "shared" / "data" / "music"
CACHE_DIR = Path.home() / ".cache" / "choreo"
DEFAULT_CORPORA = (CACHE_DIR / "beat_corpus", CACHE_DIR / "music_corpus", CACHE_DIR / "beat_corpus_debian")
TRACKERS = ("learned", "dsp")
PEAK_RSS_SCRIPT = """
import pathlib, resource, sys, numpy as np, soundfile
sys.path.insert(0, {repo!r})
import choreo.music.analyze as analyze_module
from choreo.music.analyze import analyze_music
analyze_module.DEFAULT_CHECKPOINT_DIR = pathlib.Path({weights!r})
from choreo.music.audio import Audio
clip, rate = soundfile.read({clip!r}, dtype="float32")
song = np.tile(clip, int(np.ceil(600 * rate / len(clip))))[: 600 * rate]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
analyze_music(Audio.from_array(song, rate), beat_tracker={tracker!r})
print(before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


@dataclass(frozen=True)
class LabelledClip:
    """One clip with its ground truth, from either source."""

    name: str
    path: Path
    beats_s: np.ndarray
    downbeats_s: np.ndarray
    meter: int | None  # beats per bar when constant, else None
    tempo_bpm: float


def shared_clips() -> list[LabelledClip]:
    manifest = json.loads((MUSIC_DIR / "manifest.json").read_text())
    return [LabelledClip(Path(c["file"]).stem, MUSIC_DIR / c["file"], np.array(c["beats"]), np.array(c["downbeats"]),
                         int(c["time_signature"].split("/")[0]), float(c["tempo_bpm"]["median"]))
            for c in manifest["clips"] if c.get("beats")]


def corpus_test_clips(corpus: Path) -> list[LabelledClip]:
    clips = []
    for line in (corpus / "manifest_test.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        labels = json.loads((corpus / json.loads(line)["labels"]).read_text())
        beats_s = np.array(labels["beats_s"])
        meters = sorted({bar["meter"] for bar in labels["meter_per_bar"]})
        full_bar_beats = max(bar["beats"] for bar in labels["meter_per_bar"])  # the clip's last bar may be cut
        clips.append(LabelledClip(f"{labels['clip_id']} ({', '.join(meters)})", corpus / labels["audio"],
                                  beats_s, np.array(labels["downbeats_s"]),
                                  full_bar_beats if len(meters) == 1 else None,
                                  float(60.0 / np.median(np.diff(beats_s)))))
    return clips


def meter_right(ours: int, truth: int | None) -> bool | None:
    """Exact, or 2 counted as 4 (Choreo counts 2-beat bars in fours, as dancers do); None for changing meters."""
    return None if truth is None else ours == truth or (truth == 2 and ours == 4)


def accuracy_table(title: str, clips: list[LabelledClip]) -> None:
    print(f"\n### {title}\n")
    print("| clip | beat F learned / dsp / librosa | downbeat F learned / dsp | meter learned / dsp / truth "
          "| tempo learned / dsp / librosa / truth (BPM) |")
    print("|---|---|---|---|---|")
    beat_f = {name: [] for name in (*TRACKERS, "librosa")}
    downbeat_f = {name: [] for name in TRACKERS}
    meter_ok = {name: [] for name in TRACKERS}
    for clip in clips:
        samples, rate = soundfile.read(clip.path, dtype="float32")
        audio = Audio.from_array(samples, rate)
        results = {name: analyze_music(audio, beat_tracker=name) for name in TRACKERS}
        mono = audio.mono()
        librosa_bpm, librosa_beats_s = librosa.beat.beat_track(
            y=librosa.resample(mono, orig_sr=rate, target_sr=22050) if rate != 22050 else mono, sr=22050,
            units="time")
        for name, analysis in results.items():
            beat_f[name].append(mir_eval.beat.f_measure(clip.beats_s, analysis.beat_times_s))
            downbeat_f[name].append(mir_eval.beat.f_measure(clip.downbeats_s, analysis.downbeat_times_s))
            meter_ok[name].append(meter_right(analysis.beats_per_bar, clip.meter))
        beat_f["librosa"].append(mir_eval.beat.f_measure(clip.beats_s, librosa_beats_s))
        learned, dsp = results["learned"], results["dsp"]
        print(f"| {clip.name} | {beat_f['learned'][-1]:.3f} / {beat_f['dsp'][-1]:.3f} / {beat_f['librosa'][-1]:.3f} "
              f"| {downbeat_f['learned'][-1]:.3f} / {downbeat_f['dsp'][-1]:.3f} "
              f"| {learned.beats_per_bar} / {dsp.beats_per_bar} / {clip.meter or 'changes'} "
              f"| {learned.tempo_bpm:.1f} / {dsp.tempo_bpm:.1f} / {float(np.atleast_1d(librosa_bpm)[0]):.1f} / "
              f"{clip.tempo_bpm:.1f} |")
    print(f"| **mean** | **{np.mean(beat_f['learned']):.3f} / {np.mean(beat_f['dsp']):.3f} / "
          f"{np.mean(beat_f['librosa']):.3f}** | **{np.mean(downbeat_f['learned']):.3f} / "
          f"{np.mean(downbeat_f['dsp']):.3f}** | | |")
    for name in (*TRACKERS, "librosa"):
        scores = np.array(beat_f[name])
        line = f"{name}: beat F min {scores.min():.3f}, clips >= 0.90: {np.sum(scores >= 0.9)}/{len(scores)}"
        if name in TRACKERS:
            judged = [ok for ok in meter_ok[name] if ok is not None]
            not_two = [f for f, clip in zip(downbeat_f[name], clips) if clip.meter not in (2, None)]
            line += (f"; meter right {sum(judged)}/{len(judged)} constant-meter clips (2 counted as 4 is right); "
                     f"downbeat F mean without 2-beat bars {np.mean(not_two) if not_two else float('nan'):.3f}")
        print(f"\n{line}")


def speed_and_memory_table(clip_path: Path) -> None:
    samples, rate = soundfile.read(clip_path, dtype="float32")
    three_min = Audio.from_array(np.tile(samples, int(np.ceil(180 * rate / len(samples))))[: 180 * rate], rate)
    print("\n| measurement | value |")
    print("|---|---|")
    for name in TRACKERS:
        analyze_music(three_min, beat_tracker=name)  # warm: numba and the weights' first read
        start = time.perf_counter()
        analyze_music(three_min, beat_tracker=name)
        print(f"| analyze_music ({name}), 3 min audio | {time.perf_counter() - start:.2f} s |")
    from choreo.music.analyze import spectral_descriptors
    from choreo.music.learned_beats import decode, load_beat_tracker

    log_mel = spectral_descriptors(librosa.resample(three_min.mono(), orig_sr=rate, target_sr=22050)
                                   if rate != 22050 else three_min.mono())["log_mel"]
    tracker = load_beat_tracker(analyze_module.DEFAULT_CHECKPOINT_DIR)
    start = time.perf_counter()
    activations = tracker.activations(log_mel)
    print(f"| learned tracker network (numpy), 3 min audio | {time.perf_counter() - start:.2f} s |")
    start = time.perf_counter()
    decode(activations, 22050 / 256)
    print(f"| learned tracker decoding (beat + bar Viterbi), 3 min audio | {time.perf_counter() - start:.2f} s |")
    start = time.perf_counter()
    extract_music_features(three_min, fps=30.0)
    print(f"| EDGE features (edge_librosa, 30 fps), 3 min audio | {time.perf_counter() - start:.2f} s |")
    for name in TRACKERS:
        script = PEAK_RSS_SCRIPT.format(repo=str(REPO_ROOT), clip=str(clip_path), tracker=name,
                                        weights=str(analyze_module.DEFAULT_CHECKPOINT_DIR))
        output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        before_mb, peak_mb = (float(v) for v in output.split())
        print(f"| peak RSS, analyze_music ({name}) on 10 min audio (subprocess) | {peak_mb:.0f} MB "
              f"({peak_mb - before_mb:.0f} MB above the loaded song and imports) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", type=Path, help="corpus folder whose test split is scored")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed and memory table")
    parser.add_argument("--learned-weights", type=Path, metavar="DIR",
                        help="checkpoint folder scored as the learned tracker (default: the bundled one)")
    args = parser.parse_args()
    if args.learned_weights:
        # analyze_music reads the learned tracker from this module global at call time
        analyze_module.DEFAULT_CHECKPOINT_DIR = args.learned_weights.expanduser().resolve()
    print(f"learned tracker weights: {analyze_module.DEFAULT_CHECKPOINT_DIR}")
    corpora = args.corpus or [path for path in DEFAULT_CORPORA if (path / "manifest_test.jsonl").is_file()]
    for corpus in corpora:
        accuracy_table(f"corpus test split: {corpus}", corpus_test_clips(corpus))
    if not (MUSIC_DIR / "manifest.json").is_file():
        print(f"skipped: no labelled music at {MUSIC_DIR} (expected ../shared/data/music next to the repository).")
        return
    clips = shared_clips()
    accuracy_table(f"dev clips: {MUSIC_DIR}", clips)
    if not args.no_speed:
        speed_and_memory_table(clips[0].path)


if __name__ == "__main__":
    main()
