"""One-hot pose DiT benchmark: round-trip error, demo beat alignment on held-out real music, CPU sampling time.

Run as `python bench/bench_pose_dit.py [--model DIR] [--clips N] [--seconds S] [--steps N] [--threads N]`.

(a) Round trip pose -> body-box one-hot (W bins) -> pose, and the same through the model's trained
    pose-image autoencoder (8x in bins and frames), on
    - the AIST++ slices of ../shared/data/dance, projected as bench_onehot_pose.py does (512 x 768 canvas,
      14 body points), errors in canvas pixels;
    - every 4th segment of the dance engine's test split (~/.cache/choreo/dance_engine/xdancer/test, the
      choreographer's dances on held-out songs), errors in torso units and in pixels for a 120-px torso.
(b) Demo BAS: for the first ``--clips`` songs of the test split (one dance per song, real music the model
    never saw), the first ``--seconds`` of the music features are danced from the clip's first pose
    (seed 0) and scored against the features' beat column (librosa beats), aligned and half a beat late
    (Bailando's BAS, sigma 3 frames, on the 18 body points in px with z = 0; ``choreo.motion.metrics``).
    The engine's own dance on the same music is scored the same way, as the target.
(c) Wall time of one 10 s generation on this CPU (``--threads`` torch threads).
Prints markdown only.
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
TORSO_PX = 120.0


def round_trip_normalised(models, poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot only, one-hot + autoencoder) decodings of body-frame poses (N, T, 60, 3), T a multiple of 8."""
    images = np.stack([normalised_to_onehot(p, models.onehot, models.body_box) for p in poses])
    direct = np.stack([onehot_to_normalised(image, models.onehot, models.body_box) for image in images])
    decoded = decode_latents(models, encode_images(models, images))
    through = np.stack([onehot_to_normalised(image, models.onehot, models.body_box) for image in decoded])
    return direct, through


def error_rows_engine(models) -> list[str]:
    data = load_dataset(TEST_SPLIT)
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


def test_clips(max_clips: int, seconds: float) -> list[dict]:
    """Clips of the held-out songs, taken from each song in turn: the first dance's poses (T, 60, 3) and raw music (T, C), segments joined by start frame."""
    data = load_dataset(TEST_SPLIT)
    entries = []
    for shard in data.info["shards"]:
        entries += json.loads((TEST_SPLIT / shard["file"].replace(".npz", ".json")).read_text())
    clips: dict[str, dict] = {}
    for index, entry in enumerate(entries):
        if not entry["clip"].endswith("-d0"):
            continue
        clip = clips.setdefault(entry["clip"].rsplit("-d", 1)[0], {"parts": []})
        clip["parts"].append((entry["start_frame"], index))
    frames_needed = int(round(seconds * data.info["fps"]))
    by_song: dict[str, list[dict]] = {}
    for name, clip in clips.items():
        length = max(start for start, _ in clip["parts"]) + data.poses.shape[1]
        if length < frames_needed:
            continue
        poses = np.zeros((length, 60, 3), np.float32)
        music = np.zeros((length, data.music.shape[-1]), np.float32)
        for start, index in clip["parts"]:
            poses[start:start + data.poses.shape[1]] = data.poses[index]
            music[start:start + data.poses.shape[1]] = data.music[index]
        by_song.setdefault(name.rsplit("-c", 1)[0], []).append(
            {"song": name, "poses": poses[:frames_needed], "music": music[:frames_needed]})
    chosen = []
    for round_index in range(max(map(len, by_song.values()), default=0)):  # clips taken from every song in turn
        chosen += [songs[round_index] for songs in by_song.values() if round_index < len(songs)]
    chosen = chosen[:max_clips]
    return chosen


def body_bas(keypoints_px: np.ndarray, beats: np.ndarray) -> tuple[float, float]:
    body = np.concatenate([keypoints_px[:, :18], np.zeros((len(keypoints_px), 18, 1))], axis=-1)
    scores = metrics.shifted_beat_align_scores(body, beats, fractions=(0.5,))
    return scores[0.0], scores[0.5]


def body_motion(keypoints_px: np.ndarray) -> tuple[float, float]:
    """Mean speed (px/frame) and mean acceleration magnitude (px/frame², jitter) of the 18 body points."""
    body = keypoints_px[:, :18].astype(np.float64)
    speed = np.linalg.norm(np.diff(body, axis=0), axis=-1).mean()
    acceleration = np.linalg.norm(np.diff(body, n=2, axis=0), axis=-1).mean()
    return float(speed), float(acceleration)


def bas_rows(models, clips: list[dict], steps: int, cfg: float) -> list[str]:
    from choreo.pose.reference import default_reference_pose

    canvas = default_reference_pose(512, 768)
    rows = ["| clip of a held-out song | frames | beats | demo BAS aligned / half-beat shifted | engine dance (target) aligned "
            "/ shifted | body speed px/frame demo / target | body acceleration px/frame² demo / target |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    totals = []
    for clip in clips:
        features = MusicFeatures(clip["music"], models.fps, models.music_extractor,
                                 tuple(str(i) for i in range(clip["music"].shape[1])))
        beats = np.flatnonzero(clip["music"][:, BEAT_COLUMN] > 0.5).astype(np.float64)
        truth = from_tokenizer_output(clip["poses"], canvas, models.fps)  # the engine's dance on a 512x768 canvas
        reference = truth.frame(0)
        generated = generate_pose_dit(models, features, reference, seed=0, guidance_scale=cfg,
                                      num_inference_steps=steps)
        demo, target = body_bas(generated.keypoints_px, beats), body_bas(truth.keypoints_px, beats)
        motion = body_motion(generated.keypoints_px) + body_motion(truth.keypoints_px)
        totals.append(demo + target + motion)
        rows.append(f"| {clip['song']} | {len(clip['music'])} | {len(beats)} | {demo[0]:.3f} / "
                    f"{demo[1]:.3f} | {target[0]:.3f} / {target[1]:.3f} | {motion[0]:.2f} / {motion[2]:.2f} | "
                    f"{motion[1]:.2f} / {motion[3]:.2f} |")
    mean = np.mean(totals, axis=0)
    rows.append(f"| **mean of {len(clips)}** | | | **{mean[0]:.3f} / {mean[1]:.3f}** | {mean[2]:.3f} / {mean[3]:.3f} | "
                f"{mean[4]:.2f} / {mean[6]:.2f} | {mean[5]:.2f} / {mean[7]:.2f} |")
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
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--cfg", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip", default="", help="comma list of sections to skip: roundtrip, bas, timing")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    models = load_pose_dit(args.model)
    skip = set(args.skip.split(","))
    print(f"# Pose DiT benchmark: {args.model.relative_to(REPO_ROOT) if args.model.is_relative_to(REPO_ROOT) else args.model}"
          f", W = {models.onehot.num_bins} bins over {models.body_box[2]} torso units, {args.threads} torch thread(s)\n")
    if "roundtrip" not in skip:
        print("## (a) Round trip, argmax with centroid refinement\n")
        print("\n".join(error_rows_aist(models)))
        print()
        print("\n".join(error_rows_engine(models)))
        print()
    if "bas" not in skip:
        print(f"## (b) BAS on held-out real music, first {args.seconds:g} s, seed 0, {args.steps} steps, "
              f"CFG {args.cfg}\n")
        print("\n".join(bas_rows(models, test_clips(args.clips, args.seconds), args.steps, args.cfg)))
        print()
    if "timing" not in skip:
        print("## (c) Sampling time\n")
        print(timing_row(models, args.steps, args.cfg))


if __name__ == "__main__":
    main()
