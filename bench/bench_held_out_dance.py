"""Dance on music none of the generators trained on: the choreographer and every learned demo, side by side.

Run as `python bench/bench_held_out_dance.py [--engine DIR] [--clips 8] [--seconds 15] [--steps 50]
[--shared-clips N] [--expert NAME=PATH ...] [--xdancer NAME=PATH ...] [--pose-dit NAME=PATH ...]`. Prints markdown
tables only; nothing here asserts. One torch thread. Each learned model reads the music features it was trained with; a beat-aware extractor
(edge_librosa_beats) takes its beats from ``analyze_music`` of the clip, as Analyze Music gives them to a user.

Music: the test split of the training-data engine (songs no demo was trained on: the split is by song,
``choreo.datasets.dance_engine``), and the clips of ../shared/data/music (a dev check; some come from
the reserved evaluation packages, so nothing is tuned on them). Beats are the clip's labels where it has
them, else ``analyze_music``'s.

Per system and clip, seeds 0 and 1 (the motion columns read seed 0):
- BAS aligned vs half-beat shifted (Bailando, sigma 3 frames), each the mean of the two seeds (one seed's
  10-15 s is a noisy sample): dancing on the beat scores clearly higher aligned; the summary counts the
  clips where aligned > shifted.
- mean joint speed (m/s) and the joint-mean jerk profile's median / p99 / max (m/s³), next to AIST++;
- foot skating (m/s while the model's own contacts say planted);
- seed distance: RMS root-relative joint distance between seeds 0 and 1, as a share of the real AIST++
  spread (RMS distance of root-relative poses from their mean); the issue's target is >= 50 %;
- longest run of near-identical bars (RMS root-relative distance < 5 cm between neighbouring bars).
X-Dancer and the Pose DiT are 2D: BAS only (18 body points in px, z = 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from choreo.generators.motion_expert import generate_dance, load_motion_expert  # noqa: E402
from choreo.generators.pose_dit import generate_pose_dit, load_pose_dit  # noqa: E402
from choreo.generators.xdancer import generate_xdancer_motion, load_xdancer  # noqa: E402
from choreo.io.audio_files import load_audio  # noqa: E402
from choreo.motion import metrics  # noqa: E402
from choreo.motion.beat_snap import snap_motion_to_beats, snap_poses_to_beats  # noqa: E402
from choreo.motion.choreographer import choreograph  # noqa: E402
from choreo.music.analyze import analyze_music  # noqa: E402
from choreo.music.features import extract_music_features  # noqa: E402
from choreo.pose.reference import default_reference_pose  # noqa: E402

FPS = 30.0
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEMO_ROOT = REPO_ROOT / "assets" / "checkpoints"
DEFAULT_ENGINE = Path.home() / ".cache" / "choreo" / "dance_engine"
SIMILAR_BAR_TOLERANCE_M = 0.05


def engine_test_clips(engine: Path, count: int) -> list[tuple[str, Path, np.ndarray | None]]:
    """(name, wav, labelled beats or None) of the first ``count`` test-split clips, one per clip."""
    manifest = engine / "manifest_test.jsonl"
    if not manifest.is_file():
        return []
    by_song: dict[str, list] = {}
    for line in manifest.read_text().splitlines():
        item = json.loads(line)
        song = by_song.setdefault(item["song_id"], [])
        if all(clip[0] != item["clip_id"] for clip in song):
            song.append((item["clip_id"], engine / item["audio"], None))
    # round-robin over songs, so a few clips already cover every held-out song
    rounds = max(len(song) for song in by_song.values()) if by_song else 0
    ordered = [song[i] for i in range(rounds) for song in by_song.values() if i < len(song)]
    return ordered[:count]


def shared_clips() -> list[tuple[str, Path, np.ndarray | None]]:
    music_dir = SHARED_DATA / "music"
    if not (music_dir / "manifest.json").is_file():
        return []
    manifest = json.loads((music_dir / "manifest.json").read_text())
    return [(Path(c["file"]).stem, music_dir / c["file"], np.asarray(c["beats"]) if c.get("beats") else None)
            for c in manifest["clips"]]


def real_aist() -> tuple[list[np.ndarray], float]:
    """AIST++ slices (joint positions) and their pose spread (m); ([], nan) when absent."""
    slices = [np.loadtxt(path, delimiter=",").reshape(-1, 24, 3) for path in sorted((SHARED_DATA / "dance").glob("*.csv"))]
    if not slices:
        return [], float("nan")
    poses = np.concatenate([p - p[:, :1] for p in slices])
    return slices, float(np.sqrt(((poses - poses.mean(axis=0)) ** 2).sum(axis=-1).mean()))


def motion_stats(positions: np.ndarray) -> tuple[float, float, float, float]:
    """(mean joint speed m/s, median, p99, max joint-mean jerk m/s³)."""
    jerk = metrics.jerk_profile(positions, FPS)[2:-2]
    return (float(metrics.kinetic_speed(positions).mean() * FPS), float(np.median(jerk)),
            float(np.percentile(jerk, 99)), float(jerk.max()))


def seed_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt((((a - a[:, :1]) - (b - b[:, :1])) ** 2).sum(axis=-1).mean()))


def systems(experts: dict[str, Path], xdancers: dict[str, Path], pose_dits: dict[str, Path], steps: int,
            guidance_weight: float = 2.0):
    """name -> (function(analysis, features, seed) -> Motion3D or PoseSequence2D, its music extractor)."""
    found = {"choreographer": (lambda analysis, features, seed: choreograph(analysis, seed=seed), "edge_librosa")}
    for name, path in experts.items():
        expert = load_motion_expert(path)
        found[name] = ((lambda expert: lambda analysis, features, seed: generate_dance(
            expert, features, seed=seed, num_inference_steps=steps, guidance_weight=guidance_weight))(expert),
            expert.metadata.get("extractor", "edge_librosa"))
    reference = default_reference_pose(512, 768)
    for name, path in xdancers.items():
        models = load_xdancer(path)
        found[name] = ((lambda models: lambda analysis, features, seed: generate_xdancer_motion(
            models, features, reference, seed=seed, window=min(64, models.gpt.config.block_frames),
            overlap=12)[0])(models), models.music_extractor)
    for name, path in pose_dits.items():
        models = load_pose_dit(path)
        found[name] = ((lambda models: lambda analysis, features, seed: generate_pose_dit(
            models, features, reference, seed=seed, guidance_scale=2.0, num_inference_steps=25))(models),
            models.music_extractor)
    return found


def snapped(make):
    """``make`` followed by Snap to Beats on the clip's Analyze Music beats (what a user's workflow has)."""
    def make_snapped(analysis, features, seed):
        dance = make(analysis, features, seed)
        snap = snap_poses_to_beats if hasattr(dance, "keypoints_px") else snap_motion_to_beats
        return snap(dance, analysis.beat_times_s)[0]
    return make_snapped


def mean_scores(dances: list[np.ndarray], beat_frames: np.ndarray) -> dict[float, float]:
    """BAS aligned (key 0.0) and half a beat late (0.5), each the mean over the dances (one per seed)."""
    scores = [metrics.shifted_beat_align_scores(dance, beat_frames, fractions=(0.5,)) for dance in dances]
    return {key: float(np.mean([score[key] for score in scores])) for key in (0.0, 0.5)}


def clip_rows(name: str, make, extractor: str, clips, spread: float) -> list[str]:
    rows, aligned_wins, summary = [], 0, []
    for clip, wav, labelled in clips:
        audio = load_audio(wav)
        analysis = analyze_music(audio, fps=FPS)
        features = extract_music_features(audio, fps=FPS, extractor=extractor, analysis=analysis)
        beats_s = labelled if labelled is not None else analysis.beat_times_s
        dances = [make(analysis, features, seed) for seed in (0, 1)]
        if hasattr(dances[0], "keypoints_px"):  # 2D (X-Dancer): BAS only
            body = [metrics.planar_points(d.keypoints_px[:, :18]) for d in dances]
            scores = mean_scores(body, beats_s * FPS)
            rows.append(f"| {clip} | {scores[0.0]:.3f} | {scores[0.5]:.3f} | – | – | – | – |")
        else:
            positions = [d.joint_positions().astype(np.float64) for d in dances]
            scores = mean_scores(positions, beats_s * FPS)
            speed, jerk50, jerk99, jerk_max = motion_stats(positions[0])
            downbeats = np.rint(analysis.downbeat_times_s * FPS).astype(int)
            variety = seed_distance(positions[0], positions[1]) / spread
            run = metrics.longest_similar_bar_run(positions[0], downbeats, SIMILAR_BAR_TOLERANCE_M)
            skate = metrics.foot_skating_m_per_s(positions[0], dances[0].foot_contacts, FPS)
            rows.append(f"| {clip} | {scores[0.0]:.3f} | {scores[0.5]:.3f} | {speed:.2f} "
                        f"| {jerk50:.0f} / {jerk99:.0f} / {jerk_max:.0f} | {skate:.1e} | {variety:.0%} | {run} |")
            summary.append((speed, jerk99, variety, run))
        aligned_wins += scores[0.0] > scores[0.5]
    mean = np.mean([[float(r.split("|")[2]), float(r.split("|")[3])] for r in rows], axis=0)
    tail = f"| **{name}: mean** | {mean[0]:.3f} | {mean[1]:.3f} | aligned > shifted on {aligned_wins}/{len(rows)} "
    if summary:
        s = np.asarray(summary)
        tail += f"| p99 jerk mean {s[:, 1].mean():.0f} | | variety mean {s[:, 2].mean():.0%} | max run {s[:, 3].max():.0f} |"
    else:
        tail += "| | | | |"
    return rows + [tail]


def aist_rows(slices: list[np.ndarray]) -> list[str]:
    rows = []
    for index, positions in enumerate(slices):
        speed, jerk50, jerk99, jerk_max = motion_stats(positions)
        rows.append(f"| AIST++ slice {index} | | | {speed:.2f} | {jerk50:.0f} / {jerk99:.0f} / {jerk_max:.0f} "
                    f"| | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", type=Path, default=DEFAULT_ENGINE, help="dance engine folder (its test split)")
    parser.add_argument("--clips", type=int, default=8, help="test-split clips to dance to")
    parser.add_argument("--shared-clips", type=int, default=None, help="dev clips to dance to (default: all)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps of the Motion Experts")
    parser.add_argument("--guidance", type=float, default=2.0,
                        help="EDGE's classifier-free guidance weight (2 = EDGE's default; MACE ignores it)")
    parser.add_argument("--expert", action="append", default=[], metavar="NAME=PATH",
                        help="an extra Motion Expert checkpoint folder to score (e.g. one still training)")
    parser.add_argument("--xdancer", action="append", default=[], metavar="NAME=PATH",
                        help="an extra X-Dancer model folder (tokenizer/ and gpt/) to score")
    parser.add_argument("--pose-dit", action="append", default=[], metavar="NAME=PATH",
                        help="an extra one-hot pose DiT folder (autoencoder/ and dit/) to score")
    parser.add_argument("--only", nargs="*", help="score only these systems")
    parser.add_argument("--snap", action="store_true",
                        help="also score every system retimed onto Analyze Music's beats (choreo.motion.beat_snap), "
                             "as NAME+snap")
    args = parser.parse_args()
    torch.set_num_threads(1)
    experts = {path.parent.name: path.parent for path in sorted((DEMO_ROOT / "motion_expert").glob("*/model.safetensors"))}
    experts.update(dict(item.split("=", 1) for item in args.expert))
    xdancers = {"xdancer_demo": DEMO_ROOT / "xdancer" / "demo"}
    xdancers.update(dict(item.split("=", 1) for item in args.xdancer))
    pose_dits = {"pose_dit_demo": DEMO_ROOT / "pose_dit" / "demo"}
    pose_dits.update(dict(item.split("=", 1) for item in args.pose_dit))
    slices, spread = real_aist()
    header = ["| clip | BAS aligned | BAS half-beat shifted | mean joint speed m/s | jerk median / p99 / max m/s³ "
              "| skating m/s | seed distance / AIST++ spread | longest near-identical bar run |",
              "|---|---|---|---|---|---|---|---|"]
    sets = [("engine test split", engine_test_clips(args.engine, args.clips)),
            ("../shared/data/music", shared_clips()[:args.shared_clips])]
    found = {name: system for name, system in systems(experts, xdancers, pose_dits, args.steps, args.guidance).items()
             if not args.only or name in args.only}
    if args.snap:
        found.update({f"{name}+snap": (snapped(make), extractor) for name, (make, extractor) in list(found.items())})
    for name, (make, extractor) in found.items():
        for set_name, clips in sets:
            if not clips:
                print(f"\n({set_name} absent: {name} skipped there)")
                continue
            print(f"\n## {name} on {set_name} ({len(clips)} clips, seeds 0 and 1)\n")
            print("\n".join(header + clip_rows(name, make, extractor, clips, spread)))
    print("\n## Real AIST++ slices (reference)\n")
    print("\n".join(header + aist_rows(slices)))


if __name__ == "__main__":
    main()
