"""Motion Expert benchmark: CPU sampling time per backbone, BAS of the demo model, skating and jitter vs AIST++.

Run as `python bench/bench_motion_expert.py [--steps 50]`. Prints markdown tables only; nothing here asserts.

1. Sampling time for 10 s of motion (300 frames at 30 fps) on this CPU, random weights at the bundled
   demo's size (MACE: one pass, length extrapolation; EDGE: 150-frame windows at 75-frame stride, classifier-
   free guidance = 2 network passes per step).
2. BAS (Bailando, sigma 3 frames) of each bundled demo checkpoint's dances on ../shared/data/music clips against the
   clip's beats (ground truth when labelled, else analysed) and against the same beats shifted by half a beat.
   A model that dances on the beat scores clearly higher aligned than shifted.
3. Seams and seeds of the EDGE demo on the first two clips: per-frame joint jump (cm/frame, mean over joints)
   at window seams vs inside windows, and the seed-to-seed distance (RMS joint distance between seeds 0 and 1,
   root-relative) as a fraction of the real AIST++ spread (RMS distance of root-relative poses from their mean).
4. Foot skating (m/s while a contact is predicted) and jitter (median joint-mean jerk, m/s³) of the demo
   model's dances next to the real AIST++ slices in ../shared/data/dance (skating there uses contacts
   estimated from foot speed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from choreo.checkpoints import load_config  # noqa: E402
from choreo.generators.motion_expert import MotionExpert, generate_dance, load_motion_expert  # noqa: E402
from choreo.generators.normalizer import MinMaxNormalizer  # noqa: E402
from choreo.motion import metrics  # noqa: E402
from choreo.motion.motion3d import estimate_foot_contacts  # noqa: E402
from choreo.music.features import MusicFeatures, extract_music_features  # noqa: E402
from models.edge import EDGEConfig, EDGEDenoiser  # noqa: E402
from models.mace import MACEConfig, MACEDenoiser  # noqa: E402

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEMO_ROOT = REPO_ROOT / "assets" / "checkpoints" / "motion_expert"
DEMO = DEMO_ROOT / "mace_demo"
FPS = 30.0


def random_expert(family: str) -> MotionExpert:
    """Random weights at the demo's size (EDGE: same widths, EDGE's 150-frame horizon)."""
    mace = load_config(DEMO, MACEConfig) if (DEMO / "config.json").is_file() else MACEConfig(
        latent_dim=64, ff_dim=128, num_layers=2, num_heads=4, music_encoder_layers=1, d_state=8, horizon=90)
    if family == "mace":
        network, config = MACEDenoiser(mace), mace
    else:
        config = EDGEConfig(music_dim=mace.music_dim, latent_dim=mace.latent_dim, ff_dim=mace.ff_dim,
                            num_layers=mace.num_layers, num_heads=mace.num_heads, horizon=150,
                            music_in_motion_tokens=mace.music_in_motion_tokens)
        network = EDGEDenoiser(config)
    normalizer = MinMaxNormalizer(torch.ones(151), torch.zeros(151))
    return MotionExpert(family, network.eval(), config, normalizer, FPS, config.horizon)


def timing_rows(steps: int) -> list[str]:
    rows = ["| backbone | params | scheme | DDIM steps | seconds for 10 s of motion | threads |",
            "|---|---|---|---|---|---|"]
    for family, scheme in (("mace", "one pass, 300 frames"), ("edge", "3 windows x 150, CFG")):
        expert = random_expert(family)
        music_dim = expert.config.music_dim
        features = MusicFeatures(np.random.default_rng(0).random((300, music_dim)).astype(np.float32), FPS, "random",
                                 tuple(str(i) for i in range(music_dim)))
        generate_dance(expert, features, num_frames=60, num_inference_steps=2)
        started = time.perf_counter()
        generate_dance(expert, features, num_inference_steps=steps)
        elapsed = time.perf_counter() - started
        params = sum(p.numel() for p in expert.network.parameters())
        rows.append(f"| {family} | {params / 1e6:.2f} M | {scheme} | {steps} | {elapsed:.1f} "
                    f"| {torch.get_num_threads()} |")
    return rows


def features_for(expert: MotionExpert, audio) -> MusicFeatures:
    """The music features ``expert`` was trained with (a beat-aware extractor reads Analyze Music's beats)."""
    from choreo.music.analyze import analyze_music
    from choreo.music.features import BEAT_AWARE_EXTRACTORS

    extractor = expert.metadata.get("extractor", "edge_librosa")
    analysis = analyze_music(audio, fps=FPS) if extractor in BEAT_AWARE_EXTRACTORS else None
    return extract_music_features(audio, fps=FPS, extractor=extractor, analysis=analysis)


def demo_rows(demo: Path, steps: int) -> list[str]:
    music_dir = SHARED_DATA / "music"
    if not music_dir.is_dir():
        return ["(../shared/data/music absent: BAS skipped)"]
    from choreo.io.audio_files import load_audio
    from choreo.music.analyze import analyze_music

    expert = load_motion_expert(demo)
    manifest = json.loads((music_dir / "manifest.json").read_text())
    rows = ["| clip | beats | BAS aligned | BAS half-beat shifted | skating m/s | median jerk m/s³ | mean joint speed m/s |",
            "|---|---|---|---|---|---|---|"]
    for clip in manifest["clips"]:
        audio = load_audio(music_dir / clip["file"])
        features = features_for(expert, audio)
        if clip.get("beats"):
            beats_s, source = np.asarray(clip["beats"]), "labelled"
        else:
            beats_s, source = analyze_music(audio, fps=FPS).beat_times_s, "analysed"
        motion = generate_dance(expert, features, seed=0, num_inference_steps=steps)
        positions = motion.joint_positions().astype(np.float64)
        scores = metrics.shifted_beat_align_scores(positions, beats_s * FPS, fractions=(0.5,))
        rows.append(f"| {Path(clip['file']).stem} | {source} | {scores[0.0]:.3f} | {scores[0.5]:.3f} "
                    f"| {metrics.foot_skating_m_per_s(positions, motion.foot_contacts, FPS):.3f} "
                    f"| {np.median(metrics.jerk_profile(positions, FPS)[2:-2]):.0f} "
                    f"| {metrics.kinetic_speed(positions).mean() * FPS:.2f} |")
    if len(rows) > 2:
        aligned = np.mean([float(r.split("|")[3]) for r in rows[2:]])
        shifted = np.mean([float(r.split("|")[4]) for r in rows[2:]])
        rows.append(f"| **mean** | | {aligned:.3f} | {shifted:.3f} | | | |")
    return rows


def _root_relative(positions: np.ndarray) -> np.ndarray:
    return positions - positions[:, :1]


def real_pose_spread_m() -> float:
    """RMS distance (m) of the real AIST++ root-relative poses from their mean pose; nan when absent."""
    slices = [np.loadtxt(path, delimiter=",").reshape(-1, 24, 3) for path in sorted((SHARED_DATA / "dance").glob("*.csv"))]
    if not slices:
        return float("nan")
    poses = np.concatenate([_root_relative(p) for p in slices])
    return float(np.sqrt(((poses - poses.mean(axis=0)) ** 2).sum(axis=-1).mean()))


def seam_and_seed_rows(demo: Path, steps: int, num_clips: int = 2) -> list[str]:
    """Jump at window seams vs inside windows, and seed-to-seed distance, for the EDGE demo."""
    music_dir = SHARED_DATA / "music"
    if not music_dir.is_dir() or not (demo / "model.safetensors").is_file():
        return ["(music or EDGE demo absent: seams skipped)"]
    from choreo.generators.motion_expert import window_starts
    from choreo.io.audio_files import load_audio

    expert = load_motion_expert(demo)
    spread = real_pose_spread_m()
    manifest = json.loads((music_dir / "manifest.json").read_text())
    rows = ["| clip | frames | seam jump cm/frame (mean, max) | inside windows cm/frame (median, p99, max) "
            "| seed distance / real spread |", "|---|---|---|---|---|"]
    for clip in manifest["clips"][:num_clips]:
        features = features_for(expert, load_audio(music_dir / clip["file"]))
        dances = [generate_dance(expert, features, seed=seed, num_inference_steps=steps).joint_positions()
                  for seed in (0, 1)]
        positions = dances[0].astype(np.float64)
        jump_cm = 100 * np.linalg.norm(np.diff(positions, axis=0), axis=-1).mean(axis=-1)   # jump_cm[f-1]: f-1 -> f
        half = expert.horizon // 2
        starts = window_starts(len(positions), expert.horizon)
        seams = sorted({f for s in starts[1:] for f in (s, s + half) if 0 < f < len(positions)})
        inside = np.delete(jump_cm, [f - 1 for f in seams])
        at_seams = jump_cm[[f - 1 for f in seams]]
        distance = np.sqrt(((_root_relative(dances[0]) - _root_relative(dances[1])) ** 2).sum(axis=-1).mean())
        rows.append(f"| {Path(clip['file']).stem} | {len(positions)} | {at_seams.mean():.2f}, {at_seams.max():.2f} "
                    f"| {np.median(inside):.2f}, {np.percentile(inside, 99):.2f}, {inside.max():.2f} "
                    f"| {distance / spread:.0%} |")
    return rows


def aist_rows() -> list[str]:
    dance_dir = SHARED_DATA / "dance"
    if not dance_dir.is_dir():
        return ["(../shared/data/dance absent: AIST++ comparison skipped)"]
    rows = ["| real AIST++ slice | frames | skating m/s (estimated contacts) | median jerk m/s³ | mean joint speed m/s |",
            "|---|---|---|---|---|"]
    for path in sorted(dance_dir.glob("*.csv")):
        positions = np.loadtxt(path, delimiter=",").reshape(-1, 24, 3)
        contacts = estimate_foot_contacts(positions, FPS)
        rows.append(f"| {path.stem} | {len(positions)} | {metrics.foot_skating_m_per_s(positions, contacts, FPS):.3f} "
                    f"| {np.median(metrics.jerk_profile(positions, FPS)[2:-2]):.0f} "
                    f"| {metrics.kinetic_speed(positions).mean() * FPS:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps (50 = EDGE/MACE)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print("## Sampling time, 10 s of motion, random weights at demo size\n")
    print("\n".join(timing_rows(args.steps)))
    for demo in sorted(path.parent for path in DEMO_ROOT.glob("*/model.safetensors")):
        print(f"\n## Bundled demo {demo.name} on ../shared/data/music (25 s clips, seed 0)\n")
        print("\n".join(demo_rows(demo, args.steps)))
    edge_demo = DEMO_ROOT / "edge_demo"
    print(f"\n## Seams and seeds of {edge_demo.name} (first two clips, seeds 0 and 1)\n")
    print("\n".join(seam_and_seed_rows(edge_demo, args.steps)))
    print("\n## Real AIST++ slices (reference for skating and jitter)\n")
    print("\n".join(aist_rows()))


if __name__ == "__main__":
    main()
