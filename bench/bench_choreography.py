"""Beat choreographer benchmark: beat alignment, repeats, jerk, foot skating, bones, speed, AIST++ statistics.

"near-identical run" is the longest run of consecutive bars whose root-relative joint trajectories lie within
5 cm RMS (``metrics.longest_similar_bar_run``, as in bench_held_out_dance.py): 1 = no bar repeats its neighbour.

Run as `python bench/bench_choreography.py`. Reads ../shared/data/music and
../shared/data/dance (skipped with a message when absent). Prints markdown tables
only; nothing here asserts. BAS: Bailando definition, 30 fps, sigma = 3 frames,
smoothing sigma = 5 frames, whole 25-s clips; music beats as named per row.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from choreo.motion import metrics  # noqa: E402
from choreo.motion.choreographer import choreograph, plan_choreography  # noqa: E402
from choreo.motion.choreographer.timing import beat_grid  # noqa: E402
from choreo.motion.skeleton import PARENTS, Skeleton  # noqa: E402
from choreo.music.analysis import MusicAnalysis, Section  # noqa: E402
from choreo.timeline import num_frames_for  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MUSIC_DIR = SHARED_DATA / "music"
DANCE_DIR = SHARED_DATA / "dance"
FPS = 30.0
SIMILAR_BAR_TOLERANCE_M = 0.05


def analysis_from_beats(beats_s: list[float], downbeats_s: list[float], duration_s: float) -> MusicAnalysis:
    """A MusicAnalysis from ground-truth beats, flat loudness (used when analyze_music is unavailable)."""
    beats = np.asarray(beats_s, dtype=np.float64)
    downbeats = np.asarray(downbeats_s, dtype=np.float64)
    bar_index = np.searchsorted(downbeats, beats + 1e-6) - 1
    beat_in_bar = np.array([np.sum((beats >= downbeats[b]) & (beats < t)) if b >= 0 else i
                            for i, (b, t) in enumerate(zip(bar_index, beats))], dtype=np.int64)
    beats_per_bar = int(np.bincount(bar_index[bar_index >= 0]).max()) if len(downbeats) else 4
    num_frames = num_frames_for(duration_s, FPS)
    flat = np.full(num_frames, 0.7, np.float32)
    tempo = float(60.0 / np.median(np.diff(beats)))
    return MusicAnalysis(duration_s, FPS, tempo, np.full(num_frames, tempo, np.float32), beats, downbeats,
                         beats_per_bar, beat_in_bar, flat.copy(), flat, (Section(0.0, duration_s, "A"),))


def analyse(clip: dict) -> tuple[MusicAnalysis | None, str]:
    try:
        from choreo.io.audio_files import load_audio
        from choreo.music.analyze import analyze_music
        return analyze_music(load_audio(MUSIC_DIR / clip["file"]), fps=FPS), "analyze_music"
    except ImportError:
        if not clip.get("beats"):
            return None, "no analyser, no labels"
        return analysis_from_beats(clip["beats"], clip["downbeats"], clip["duration_s"]), "manifest beats"


def max_repeats(names: list[str]) -> int:
    best = run = 1
    for a, b in zip(names, names[1:]):
        run = run + 1 if a == b else 1
        best = max(best, run)
    return best


def transition_frames(analysis: MusicAnalysis, plan) -> np.ndarray:
    grid = beat_grid(analysis)
    times = grid.beat_to_time_s(np.array([item.start_beat for item in plan[1:]], dtype=np.float64))
    frames = np.rint(times * analysis.fps).astype(int)
    return frames[frames < analysis.num_frames]


def clip_rows() -> list[str]:
    manifest = json.loads((MUSIC_DIR / "manifest.json").read_text())
    rows = ["| clip | analysis | score beats | BAS aligned | BAS +1/4 | BAS +1/2 | BAS +3/4 | max repeats "
            "| near-identical run (seeds 0-4: max / mean) | BAS vs danced beats: aligned / shifted mean "
            "| jerk@transitions m/s³ | jerk inside m/s³ | mean joint speed m/s | skating m/s | PFC | bone std m |",
            "|" + " --- |" * 16]
    for clip in manifest["clips"]:
        analysis, source = analyse(clip)
        name = Path(clip["file"]).stem
        if analysis is None:
            rows.append(f"| {name} | {source} |" + " – |" * 14)
            continue
        plan = plan_choreography(analysis, seed=0)
        motion = choreograph(analysis, plan=plan)
        positions = motion.joint_positions().astype(np.float64)
        beats_s, beat_source = (clip["beats"], "ground truth") if clip.get("beats") else (analysis.beat_times_s, "analysed")
        scores = metrics.shifted_beat_align_scores(positions, np.asarray(beats_s) * FPS)
        own = metrics.shifted_beat_align_scores(positions, analysis.beat_times_s * FPS)
        frames = transition_frames(analysis, plan)
        runs = [similar_run(analysis, positions)] + [
            similar_run(analysis, choreograph(analysis, seed=seed).joint_positions()) for seed in range(1, 5)]
        profile = metrics.jerk_profile(positions, FPS)
        near = np.zeros(len(profile), bool)
        for frame in frames:
            near[max(0, frame - 2):frame + 3] = True
        rows.append(
            f"| {name} | {source} | {beat_source} | {scores[0.0]:.3f} | {scores[0.25]:.3f} | {scores[0.5]:.3f} "
            f"| {scores[0.75]:.3f} | {max_repeats([p.name for p in plan])} | {max(runs)} / {np.mean(runs):.2f} "
            f"| {own[0.0]:.3f} / {np.mean([own[f] for f in (0.25, 0.5, 0.75)]):.3f} "
            f"| {metrics.max_jerk_at(positions, FPS, frames):.1f} | {profile[~near].max():.1f} "
            f"| {speed_stats(positions)[0]:.2f} "
            f"| {metrics.foot_skating_m_per_s(positions, motion.foot_contacts, FPS):.2e} "
            f"| {metrics.physical_foot_contact(positions, FPS):.3f} | {metrics.bone_length_std_m(positions):.1e} |")
    return rows


def similar_run(analysis: MusicAnalysis, positions: np.ndarray) -> int:
    """Longest run of near-identical bars of a dance, bars from the music's downbeats."""
    downbeats = np.rint(np.asarray(analysis.downbeat_times_s) * analysis.fps).astype(int)
    return metrics.longest_similar_bar_run(positions, downbeats, SIMILAR_BAR_TOLERANCE_M)


def timing_rows() -> list[str]:
    duration_s, bpm = 180.0, 118.0
    beats = np.arange(0.0, duration_s, 60.0 / bpm)
    analysis = analysis_from_beats(list(beats), list(beats[::4]), duration_s)
    choreograph(analysis, seed=0)
    runs = []
    for seed in range(3):
        start = time.perf_counter()
        choreograph(analysis, seed=seed)
        runs.append(time.perf_counter() - start)
    return ["| task | frames | best of 3 s | median s |", "| --- | --- | --- | --- |",
            f"| choreograph 3 min at 30 fps | {analysis.num_frames} | {min(runs):.2f} | {np.median(runs):.2f} |"]


def speed_stats(positions: np.ndarray) -> tuple[float, float, float]:
    """(mean joint speed m/s, 95th pct joint speed m/s, median joint-mean jerk m/s³) at 30 fps."""
    speed = np.linalg.norm(np.diff(positions, axis=0), axis=-1) * FPS
    return float(speed.mean()), float(np.percentile(speed, 95)), float(np.median(metrics.jerk_profile(positions, FPS)[1:-2]))


def aist_rows() -> list[str]:
    if not DANCE_DIR.exists():
        return ["(../shared/data/dance absent: AIST++ comparison skipped)"]
    manifest = json.loads((DANCE_DIR / "manifest.json").read_text())
    rows = ["| motion | frames | mean joint speed m/s | p95 joint speed m/s | median jerk m/s³ | BAS aligned | BAS shifted mean |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    ours_bone = Skeleton.default().bone_lengths_m[1:]
    bone_diffs = []
    for item in manifest["items"]:
        positions = np.loadtxt(DANCE_DIR / item["file"], delimiter=",").reshape(-1, 24, 3)
        lengths = np.linalg.norm(positions[:, 1:] - positions[:, list(PARENTS[1:])], axis=-1).mean(axis=0)
        bone_diffs.append(np.abs(lengths - ours_bone).max())
        period = item["beat_period_frames_at_30fps"]
        beats = np.arange(0, len(positions), period)
        scores = metrics.shifted_beat_align_scores(positions, beats)
        mean, p95, jerk = speed_stats(positions)
        rows.append(f"| AIST++ {item['aist_sequence']} slice {item['slice_index']} | {len(positions)} | {mean:.2f} "
                    f"| {p95:.2f} | {jerk:.0f} | {scores[0.0]:.3f} | {np.mean([scores[f] for f in (0.25, 0.5, 0.75)]):.3f} |")
        bpm = item["music_bpm_from_aist_name"]
        beats_s = np.arange(0.0, 20.0, 60.0 / bpm)
        analysis = analysis_from_beats(list(beats_s), list(beats_s[::4]), 20.0)
        for style in ("mixed", "hiphop"):
            ours = choreograph(analysis, seed=1, style=style).joint_positions().astype(np.float64)
            scores = metrics.shifted_beat_align_scores(ours[:150], beats_s[beats_s < 5.0] * FPS)
            mean, p95, jerk = speed_stats(ours)
            rows.append(f"| ours, {style}, {bpm} BPM grid | {len(ours)} | {mean:.2f} | {p95:.2f} | {jerk:.0f} "
                        f"| {scores[0.0]:.3f} | {np.mean([scores[f] for f in (0.25, 0.5, 0.75)]):.3f} |")
    rows.append("")
    rows.append(f"Bone lengths: default skeleton vs AIST++ slices, max |difference| = {max(bone_diffs):.2e} m.")
    rows.append("(AIST++ BAS is scored on 5-s slices against a phase-0 grid at the AIST BPM, so it is phase-dependent; "
                "see metrics.md §1.3. Ours: first 150 frames.)")
    return rows


def tempo_rows() -> list[str]:
    """Synthetic click grids across tempi: does the dance keep full-time hits, how fast and smooth is it?"""
    rows = ["| style | BPM | danced hit interval s | mean joint speed m/s | p95 joint speed m/s | peak jerk m/s³ "
            "| BAS aligned | BAS shifted mean | skating m/s | near-identical run |", "|" + " --- |" * 10]
    for style, bpm, meter in (("hiphop", 100.0, 4), ("hiphop", 140.0, 4), ("hiphop", 170.0, 4), ("house", 180.0, 4),
                              ("pop", 120.0, 4), ("waltz", 90.0, 3), ("waltz", 160.0, 3)):
        beats_s = np.arange(0.0, 20.0, 60.0 / bpm)
        analysis = analysis_from_beats(list(beats_s), list(beats_s[::meter]), 20.0)
        motion = choreograph(analysis, seed=1, style=style)
        positions = motion.joint_positions().astype(np.float64)
        scores = metrics.shifted_beat_align_scores(positions, beats_s * FPS)
        mean, p95, _ = speed_stats(positions)
        interval = float(np.median(np.diff(beat_grid(analysis, style=style).times_s)))
        rows.append(f"| {style} | {bpm:.0f} | {interval:.3f} | {mean:.2f} | {p95:.2f} "
                    f"| {metrics.jerk_profile(positions, FPS).max():.0f} | {scores[0.0]:.3f} "
                    f"| {np.mean([scores[f] for f in (0.25, 0.5, 0.75)]):.3f} "
                    f"| {metrics.foot_skating_m_per_s(positions, motion.foot_contacts, FPS):.2e} "
                    f"| {similar_run(analysis, positions)} |")
    return rows


def main() -> None:
    if not MUSIC_DIR.exists():
        print(f"Music data not found at {MUSIC_DIR}; choreography benchmark skipped.")
        return
    print("## Choreography per clip (seed 0, style mixed, 30 fps)\n")
    print("\n".join(clip_rows()))
    print("\n## Tempo sweep (synthetic click grids, seed 1, 20 s)\n")
    print("\n".join(tempo_rows()))
    print("\n## Speed\n")
    print("\n".join(timing_rows()))
    print("\n## Against real AIST++ motion\n")
    print("\n".join(aist_rows()))


if __name__ == "__main__":
    main()
