"""One-hot pose DiT benchmark: round-trip error, demo beat alignment on held-out real music, CPU sampling time.

Run as `python bench/bench_pose_dit.py [--model DIR] [--test-split DIR] [--beats librosa|danced] [--clips N]
[--seconds S] [--steps N] [--threads N]`.

(a) Round trip pose -> body-box one-hot (W bins) -> pose, and the same through the model's trained
    pose-image autoencoder (8x in bins and frames), on
    - the AIST++ slices of ../shared/data/dance, projected as bench_onehot_pose.py does (512 x 768 canvas,
      14 body points), errors in canvas pixels;
    - every 4th segment of the dance engine's test split (~/.cache/choreo/dance_engine/xdancer/test, the
      choreographer's dances on held-out songs), errors in torso units and in pixels for a 120-px torso.
(b) Demo BAS: for the first ``--clips`` songs of the test split (one dance per song, real music the model
    never saw), the first ``--seconds`` of the music features are danced from the clip's first pose
    (seeds 0 and 1) and scored against beats aligned and half a beat late (Bailando's BAS, sigma 3 frames,
    on the 18 body points in px with z = 0; ``choreo.motion.metrics``), averaged over the two seeds.
    Variety: the mean distance (px) between the two seeds' hip-centred body points, next to the same
    distance between the engine's two dances of the clip (``-d0`` and ``-d1``). ``--beats librosa``: the features' beat
    column (librosa's tracker, EDGE's column 34); ``--beats danced``: the beats the engine's dance followed,
    where the beat phase of an ``edge_librosa_beats`` split wraps. The engine's own dance on the same music
    is scored the same way, as the target. A model of ``edge_librosa`` features reads the first 35 columns
    of an ``edge_librosa_beats`` split (the same EDGE columns), so both can be benched on the same clips.
(c) Wall time of one 10 s generation on this CPU (``--threads`` torch threads).
(d) Does the DiT listen to its music: its training loss on held-out segments with their own music, another
    segment's and the null token, at four noise levels (the same three numbers = the music is ignored).
A raw-coordinate model (``train_pose_dit --representation coordinates``, the paper's ablation) skips (a): its
layout is an exact reshape. Prints markdown only.
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
sys.path.insert(0, str(REPO_ROOT / "bench"))

from choreo.datasets.pose_dataset import load_dataset  # noqa: E402
from choreo.generators.pose_dit import (decode_latents, encode_images, generate_pose_dit, load_pose_dit,  # noqa: E402
                                        normalised_to_onehot, onehot_to_normalised)
from choreo.generators.xdancer import from_tokenizer_output, to_tokenizer_input  # noqa: E402
from choreo.motion import metrics  # noqa: E402
from choreo.music.features import MusicFeatures  # noqa: E402

DEMO = REPO_ROOT / "assets" / "checkpoints" / "pose_dit" / "demo"
TEST_SPLIT = Path.home() / ".cache" / "choreo" / "dance_engine" / "xdancer" / "test"
DANCE_DIR = REPO_ROOT.parent / "shared" / "data" / "dance"
BEAT_COLUMN = 34  # EDGE's 35-d librosa features end with the beat one-hot
BEAT_PHASE_COLUMNS = (35, 36)  # edge_librosa_beats: sin, cos of the danced beat phase
TORSO_PX = 120.0


def round_trip_normalised(models, poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot only, one-hot + autoencoder) decodings of body-frame poses (N, T, 60, 3), T a multiple of 8."""
    images = np.stack([normalised_to_onehot(p, models.onehot, models.body_box) for p in poses])
    direct = np.stack([onehot_to_normalised(image, models.onehot, models.body_box) for image in images])
    decoded = decode_latents(models, encode_images(models, images))
    through = np.stack([onehot_to_normalised(image, models.onehot, models.body_box) for image in decoded])
    return direct, through


def error_rows_engine(models, test_split: Path) -> list[str]:
    data = load_dataset(test_split)
    poses = data.poses[::4]
    direct, through = round_trip_normalised(models, poses)
    present = poses[..., :18, 2] > 0
    rows = ["| data | path | mean / p95 / max error, torso units | mean px at a 120-px torso | within 1 bin |",
            "| --- | --- | --- | --- | --- |"]
    bin_units = models.body_box[2] / models.onehot.num_bins
    for name, decoded in (("one-hot only", direct), ("one-hot + autoencoder", through)):
        error = np.linalg.norm(decoded[..., :18, :2] - poses[..., :18, :2], axis=-1)[present]
        within = (np.abs(decoded[..., :18, :2] - poses[..., :18, :2]) <= bin_units).all(-1)[present].mean()
        rows.append(f"| engine test split, {len(poses)} segments x {poses.shape[1]} frames | {name} | "
                    f"{error.mean():.4f} / {np.quantile(error, 0.95):.4f} / {error.max():.4f} | "
                    f"{error.mean() * TORSO_PX:.2f} | {100 * within:.1f} % |")
    return rows


def error_rows_aist(models) -> list[str]:
    if not DANCE_DIR.exists():
        return ["(../shared/data/dance absent: AIST++ round trip skipped)"]
    from bench_onehot_pose import orthographic_body

    manifest = json.loads((DANCE_DIR / "manifest.json").read_text())
    rows = []
    for item in manifest["items"]:
        joints_m = np.loadtxt(DANCE_DIR / item["file"], delimiter=",").reshape(-1, 24, 3)
        seq = orthographic_body(joints_m)
        length = seq.num_frames // 8 * 8
        seq = seq.slice_frames(0, length)
        reference = seq.frame(0)
        normalised = to_tokenizer_input(seq, reference)
        direct, through = round_trip_normalised(models, normalised[None])
        present = seq.confidence[:, :18] > 0
        for name, decoded in (("one-hot only", direct[0]), ("one-hot + autoencoder", through[0])):
            back = from_tokenizer_output(decoded, reference, seq.fps)
            error = np.linalg.norm(back.keypoints_px[:, :18] - seq.keypoints_px[:, :18], axis=-1)[present]
            rows.append(f"| AIST++ {item['aist_sequence']} slice {item['slice_index']} ({length} frames, 512x768 "
                        f"canvas) | {name} | {error.mean():.2f} / {np.quantile(error, 0.95):.2f} / {error.max():.2f} "
                        "px |")
    return ["| data | path | mean / p95 / max error |", "| --- | --- | --- |"] + rows


def test_clips(test_split: Path, max_clips: int, seconds: float) -> list[dict]:
    """Clips of the held-out songs, taken from each song in turn: the first dance's poses (T, 60, 3) and raw music (T, C), segments joined by start frame."""
    data = load_dataset(test_split)
    entries = []
    for shard in data.info["shards"]:
        entries += json.loads((test_split / shard["file"].replace(".npz", ".json")).read_text())
    clips: dict[str, dict] = {}
    for index, entry in enumerate(entries):
        name, dance = entry["clip"].rsplit("-d", 1)
        if dance in ("0", "1"):
            clips.setdefault(name, {"0": [], "1": []})[dance].append((entry["start_frame"], index))
    frames_needed = int(round(seconds * data.info["fps"]))
    by_song: dict[str, list[dict]] = {}
    for name, clip in clips.items():
        joined = {}
        for dance, parts in clip.items():
            length = max((start for start, _ in parts), default=-data.poses.shape[1]) + data.poses.shape[1]
            if length < frames_needed:
                continue
            poses = np.zeros((length, 60, 3), np.float32)
            music = np.zeros((length, data.music.shape[-1]), np.float32)
            for start, index in parts:
                poses[start:start + data.poses.shape[1]] = data.poses[index]
                music[start:start + data.poses.shape[1]] = data.music[index]
            joined[dance] = (poses[:frames_needed], music[:frames_needed])
        if "0" in joined:
            by_song.setdefault(name.rsplit("-c", 1)[0], []).append(
                {"song": name, "poses": joined["0"][0], "music": joined["0"][1],
                 "other_poses": joined["1"][0] if "1" in joined else None, "extractor": data.info["music_extractor"]})
    chosen = []
    for round_index in range(max(map(len, by_song.values()), default=0)):  # clips taken from every song in turn
        chosen += [songs[round_index] for songs in by_song.values() if round_index < len(songs)]
    chosen = chosen[:max_clips]
    return chosen


def model_music(models, clip: dict) -> np.ndarray:
    """The clip's music columns the model reads: all of them, or EDGE's 35 of an edge_librosa_beats split."""
    music, width = clip["music"], models.dit.config.music_dim
    if clip["extractor"] == models.music_extractor:
        return music
    if (clip["extractor"], models.music_extractor) == ("edge_librosa_beats", "edge_librosa"):
        return music[:, :width]
    sys.exit(f"the test split has {clip['extractor']} features; the model reads {models.music_extractor}.")


def beat_frames(clip: dict, beats: str) -> np.ndarray:
    """(N,) float64 beat frames: librosa's (the beat column) or the danced ones (where the beat phase wraps)."""
    if beats == "librosa":
        return np.flatnonzero(clip["music"][:, BEAT_COLUMN] > 0.5).astype(np.float64)
    if clip["extractor"] != "edge_librosa_beats":
        sys.exit("--beats danced needs a test split built with --extractor edge_librosa_beats.")
    sin, cos = clip["music"][:, BEAT_PHASE_COLUMNS[0]], clip["music"][:, BEAT_PHASE_COLUMNS[1]]
    phase = np.arctan2(sin, cos) / (2 * np.pi) % 1.0
    wraps = np.flatnonzero(np.diff(phase) < -0.5) + 1  # the beat lies between frames t - 1 and t
    nearer = np.where(phase[wraps] <= 1 - phase[wraps - 1], wraps, wraps - 1)
    return np.unique(np.concatenate([[0] if phase[0] < 0.05 else [], nearer])).astype(np.float64)


def body_bas(keypoints_px: np.ndarray, beats: np.ndarray) -> tuple[float, float]:
    scores = metrics.shifted_beat_align_scores(metrics.planar_points(keypoints_px[:, :18]), beats, fractions=(0.5,))
    return scores[0.0], scores[0.5]


def body_motion(keypoints_px: np.ndarray) -> tuple[float, float]:
    """Mean speed (px/frame) and mean acceleration magnitude (px/frame², jitter) of the 18 body points."""
    body = keypoints_px[:, :18].astype(np.float64)
    speed = np.linalg.norm(np.diff(body, axis=0), axis=-1).mean()
    acceleration = np.linalg.norm(np.diff(body, n=2, axis=0), axis=-1).mean()
    return float(speed), float(acceleration)


def hip_centred_distance(a_px: np.ndarray, b_px: np.ndarray) -> float:
    """Mean px distance between the 18 body points of two sequences, each centred on its mid-hip per frame."""
    def centred(points: np.ndarray) -> np.ndarray:
        body = points[:, :18].astype(np.float64)
        return body - body[:, [8, 11]].mean(axis=1, keepdims=True)  # OpenPose-18: 8 right hip, 11 left hip
    return float(np.linalg.norm(centred(a_px) - centred(b_px), axis=-1).mean())


def bas_rows(models, clips: list[dict], steps: int, cfg: float, beats_from: str) -> list[str]:
    from choreo.pose.reference import default_reference_pose

    canvas = default_reference_pose(512, 768)
    rows = ["| clip of a held-out song | frames | beats | demo BAS aligned / half-beat shifted | engine dance (target) aligned "
            "/ shifted | body speed px/frame demo / target | body acceleration px/frame² demo / target "
            "| variety px demo seeds / engine dances |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    totals, wins = [], 0
    for clip in clips:
        music = model_music(models, clip)
        features = MusicFeatures(music, models.fps, models.music_extractor, tuple(str(i) for i in range(music.shape[1])))
        beats = beat_frames(clip, beats_from)
        truth = from_tokenizer_output(clip["poses"], canvas, models.fps)  # the engine's dance on a 512x768 canvas
        reference = truth.frame(0)
        dances = [generate_pose_dit(models, features, reference, seed=seed, guidance_scale=cfg,
                                    num_inference_steps=steps).keypoints_px for seed in (0, 1)]
        demo = tuple(np.mean([body_bas(dance, beats) for dance in dances], axis=0))
        target = body_bas(truth.keypoints_px, beats)
        motion = tuple(np.mean([body_motion(dance) for dance in dances], axis=0)) + body_motion(truth.keypoints_px)
        other = clip["other_poses"]
        engine_variety = (hip_centred_distance(truth.keypoints_px, from_tokenizer_output(other, canvas, models.fps)
                                               .keypoints_px) if other is not None else float("nan"))
        variety = (hip_centred_distance(*dances), engine_variety)
        totals.append(demo + target + motion + variety)
        wins += demo[0] > demo[1]
        rows.append(f"| {clip['song']} | {len(clip['music'])} | {len(beats)} | {demo[0]:.3f} / "
                    f"{demo[1]:.3f} | {target[0]:.3f} / {target[1]:.3f} | {motion[0]:.2f} / {motion[2]:.2f} | "
                    f"{motion[1]:.2f} / {motion[3]:.2f} | {variety[0]:.1f} / {variety[1]:.1f} |")
    mean = np.nanmean(totals, axis=0)
    rows.append(f"| **mean of {len(clips)}** | | | **{mean[0]:.3f} / {mean[1]:.3f}** (aligned higher on {wins}/"
                f"{len(clips)}) | {mean[2]:.3f} / {mean[3]:.3f} | {mean[4]:.2f} / {mean[6]:.2f} | "
                f"{mean[5]:.2f} / {mean[7]:.2f} | {mean[8]:.1f} / {mean[9]:.1f} |")
    return rows


def music_use_rows(models, test_split: Path, num_segments: int = 64, seed: int = 0) -> list[str]:
    """The DiT's training loss on held-out segments with their own music, another segment's, and the null token.

    A DiT that uses its music does clearly worse with the wrong music; one that ignores it scores the same
    three ways. Loss in the DiT's own target (noise or clean latents), shape-only references, no frame mask.
    """
    import torch

    from choreo.generators.diffusion import CosineSchedule, q_sample
    from choreo.generators.pose_dit import encode_poses, reference_poses
    from choreo.networks import network_module

    data = load_dataset(test_split)
    picks = np.flatnonzero(data.has_music)[::4][:num_segments]
    poses, num_frames = data.poses[picks], data.poses.shape[1]
    width = models.dit.config.music_dim
    music = (data.music[picks][..., :width] - models.music_mean) / np.maximum(models.music_std, 1e-6)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        x0 = encode_poses(models, poses)
        references = encode_poses(models, np.stack([reference_poses(p[rng.integers(num_frames)], num_frames)
                                                    for p in poses]))
        own = torch.as_tensor(music.astype(np.float32), device=x0.device)
        choices = {"own music": (own, True), "another segment's": (own.roll(1, dims=0), True),
                   "null token": (own, False)}
        mask = torch.zeros(len(x0), models.dit.config.frames_per_column, *x0.shape[2:], device=x0.device)
        schedule = CosineSchedule()
        rows = [f"| noise step t (of {schedule.num_steps}) | " + " | ".join(choices) + " | wrong music, % worse |",
                "| --- | --- | --- | --- | --- |"]
        for t in (200, 500, 800, 950):
            generator = torch.Generator().manual_seed(seed + t)
            noise = torch.randn(x0.shape, generator=generator).to(x0.device)
            steps = torch.full((len(x0),), t, device=x0.device)
            noisy = q_sample(x0, steps, noise, schedule)
            target = network_module("pose_dit").denoising_target(models.dit.config, x0, noise)
            losses = [float(((models.dit(noisy, steps, references, mask, chosen,
                                         torch.full((len(x0),), keep, device=x0.device)) - target) ** 2).mean())
                      for chosen, keep in choices.values()]
            rows.append(f"| {t} | " + " | ".join(f"{loss:.4f}" for loss in losses)
                        + f" | {100 * (losses[1] / losses[0] - 1):+.1f} |")
    return rows


def timing_row(models, steps: int, cfg: float) -> str:
    from choreo.pose.reference import default_reference_pose

    frames = int(10 * models.fps)
    values = np.random.default_rng(0).standard_normal((frames, models.dit.config.music_dim)).astype(np.float32)
    features = MusicFeatures(values, models.fps, models.music_extractor, tuple(str(i) for i in range(values.shape[1])))
    reference = default_reference_pose(512, 768)
    generate_pose_dit(models, features, reference, num_frames=16, num_inference_steps=1)  # warm up
    started = time.perf_counter()
    generate_pose_dit(models, features, reference, seed=0, guidance_scale=cfg, num_inference_steps=steps)
    return f"10 s ({frames} frames, {steps} DDIM steps, CFG {cfg}): {time.perf_counter() - started:.2f} s wall"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEMO)
    parser.add_argument("--test-split", type=Path, default=TEST_SPLIT, help="pose dataset of held-out songs")
    parser.add_argument("--beats", choices=("librosa", "danced"), default="librosa",
                        help="BAS against librosa's beats (EDGE's beat column) or the beats the dance followed "
                             "(needs an edge_librosa_beats split)")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--cfg", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip", default="", help="comma list of sections to skip: roundtrip, bas, music, timing")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    models = load_pose_dit(args.model)
    skip = set(args.skip.split(","))
    name = args.model.relative_to(REPO_ROOT) if args.model.is_relative_to(REPO_ROOT) else args.model
    layout = (f"W = {models.onehot.num_bins} bins over {models.body_box[2]} torso units"
              if models.representation == "onehot" else "raw coordinates (the ablation)")
    print(f"# Pose DiT benchmark: {name}, {layout}, {args.threads} torch thread(s)\n")
    if models.representation == "coordinates":
        skip.add("roundtrip")  # an exact reshape: nothing to measure
    if "roundtrip" not in skip:
        print("## (a) Round trip, argmax with centroid refinement\n")
        print("\n".join(error_rows_aist(models)))
        print()
        print("\n".join(error_rows_engine(models, args.test_split)))
        print()
    if "bas" not in skip:
        print(f"## (b) BAS on held-out real music ({args.test_split}), {args.beats} beats, first {args.seconds:g} "
              f"s, seed 0, {args.steps} steps, CFG {args.cfg}\n")
        print("\n".join(bas_rows(models, test_clips(args.test_split, args.clips, args.seconds), args.steps, args.cfg,
                                  args.beats)))
        print()
    if "timing" not in skip:
        print("## (c) Sampling time\n")
        print(timing_row(models, args.steps, args.cfg))
        print()
    if "music" not in skip:
        print(f"## (d) Does it listen to its music? {models.dit.config.prediction} loss on held-out segments\n")
        print("\n".join(music_use_rows(models, args.test_split)))
        print()


if __name__ == "__main__":
    main()
