"""Music analysis benchmark: beat/downbeat accuracy on the labelled clips, speed and memory.

Run as `python bench/bench_music.py`. Reads ../shared/data/music (skipped with a
message when absent). Prints markdown tables only; nothing here asserts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import librosa
import mir_eval
import numpy as np
import soundfile

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from choreo.music.analyze import analyze_music  # noqa: E402
from choreo.music.audio import Audio  # noqa: E402
from choreo.music.features import extract_music_features  # noqa: E402

MUSIC_DIR = REPO_ROOT.parent / "shared" / "data" / "music"
PEAK_RSS_SCRIPT = """
import resource, sys, numpy as np, soundfile
sys.path.insert(0, {repo!r})
from choreo.music.analyze import analyze_music
from choreo.music.audio import Audio
clip, rate = soundfile.read({clip!r}, dtype="float32")
song = np.tile(clip, int(np.ceil(600 * rate / len(clip))))[: 600 * rate]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
analyze_music(Audio.from_array(song, rate))
print(before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def accuracy_table(clips: list[dict]) -> None:
    print("| clip | beat F ours | beat F librosa | downbeat F ours | tempo ours / truth (BPM) | meter ours / truth |")
    print("|---|---|---|---|---|---|")
    ours, theirs, downbeats = [], [], []
    for clip in clips:
        samples, rate = soundfile.read(MUSIC_DIR / clip["file"], dtype="float32")
        analysis = analyze_music(Audio.from_array(samples, rate))
        _, librosa_beats_s = librosa.beat.beat_track(y=librosa.resample(samples, orig_sr=rate, target_sr=22050)
                                                     if rate != 22050 else samples, sr=22050, units="time")
        truth_s = np.array(clip["beats"])
        ours.append(mir_eval.beat.f_measure(truth_s, analysis.beat_times_s))
        theirs.append(mir_eval.beat.f_measure(truth_s, librosa_beats_s))
        downbeats.append(mir_eval.beat.f_measure(np.array(clip["downbeats"]), analysis.downbeat_times_s))
        print(f"| {Path(clip['file']).stem} | {ours[-1]:.3f} | {theirs[-1]:.3f} | {downbeats[-1]:.3f} | "
              f"{analysis.tempo_bpm:.1f} / {clip['tempo_bpm']['median']:.1f} | "
              f"{analysis.beats_per_bar} / {clip['time_signature']} |")
    print(f"| **mean** | **{np.mean(ours):.3f}** | **{np.mean(theirs):.3f}** | **{np.mean(downbeats):.3f}** | | |")
    print(f"\nmin beat F ours: {np.min(ours):.3f}\n")


def speed_and_memory_table(clip_path: Path) -> None:
    samples, rate = soundfile.read(clip_path, dtype="float32")
    three_min = Audio.from_array(np.tile(samples, int(np.ceil(180 * rate / len(samples))))[: 180 * rate], rate)
    print("| measurement | value |")
    print("|---|---|")
    start = time.perf_counter()
    analyze_music(three_min)
    print(f"| analyze_music, 3 min audio | {time.perf_counter() - start:.2f} s |")
    start = time.perf_counter()
    extract_music_features(three_min, fps=30.0)
    print(f"| EDGE features (edge_librosa, 30 fps), 3 min audio | {time.perf_counter() - start:.2f} s |")
    script = PEAK_RSS_SCRIPT.format(repo=str(REPO_ROOT), clip=str(clip_path))
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before_mb, peak_mb = (float(v) for v in output.split())
    print(f"| peak RSS, analyze_music on 10 min audio (subprocess) | {peak_mb:.0f} MB "
          f"({peak_mb - before_mb:.0f} MB above the loaded song and imports) |")


def main() -> None:
    manifest_path = MUSIC_DIR / "manifest.json"
    if not manifest_path.is_file():
        print(f"skipped: no labelled music at {MUSIC_DIR} (expected ../shared/data/music next to the repository).")
        return
    clips = json.loads(manifest_path.read_text())["clips"]
    accuracy_table([clip for clip in clips if clip.get("beats")])
    speed_and_memory_table(MUSIC_DIR / clips[0]["file"])


if __name__ == "__main__":
    main()
