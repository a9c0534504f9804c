"""One-hot pose image benchmark: how far the exact round trip pose -> one-hot -> argmax moves keypoints, in pixels.

Run as `python bench/bench_onehot_pose.py [--vae DIR]`. Reads the AIST++ joint slices in
../shared/data/dance (skipped with a message when absent). Choreo has no helper that turns
joint positions into a Motion3D (no inverse kinematics), so ``project_motion`` cannot take
them: the 24 SMPL joints are projected here with a plain orthographic front camera (image
right = the clip's mean left-hip-minus-right-hip direction, image up = z), the clip's
bounding box scaled to fit 80 % of the canvas height and 90 % of its width, centred
(the fill of ``project_motion``), so no point leaves the canvas. 14 of the 18 OpenPose body
points are SMPL joints (nose = SMPL head); eyes and ears have no SMPL joint and are absent.
With ``--vae DIR`` (a diffusers AutoencoderKL folder; also looked for in the Hugging Face
cache as sd-vae-ft-mse) the same is measured through the VAE. Prints markdown only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from choreo.pose.layout import B  # noqa: E402
from choreo.pose.onehot_image import OneHotConfig, onehot_to_pose, pose_to_onehot  # noqa: E402
from choreo.pose.sequence import PoseSequence2D  # noqa: E402

DANCE_DIR = REPO_ROOT.parent / "shared" / "data" / "dance"
CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX, FPS = 512, 768, 30.0
FILL_HEIGHT, FILL_WIDTH = 0.8, 0.9
# OpenPose body point <- SMPL-24 joint index (AIST++ / SMPL joint order).
SMPL_OF_BODY = {"nose": 15, "neck": 12, "right_shoulder": 17, "right_elbow": 19, "right_wrist": 21,
                "left_shoulder": 16, "left_elbow": 18, "left_wrist": 20, "right_hip": 2, "right_knee": 5,
                "right_ankle": 8, "left_hip": 1, "left_knee": 4, "left_ankle": 7}
HF_VAE_CACHE = Path.home() / ".cache" / "huggingface" / "hub"


def orthographic_body(joints_m: np.ndarray) -> PoseSequence2D:
    """(T, 24, 3) SMPL joints, metres, z up -> OpenPose body points on the canvas, front view."""
    side = (joints_m[:, 1] - joints_m[:, 2]).mean(axis=0) * np.array([1.0, 1.0, 0.0])
    right = side / np.linalg.norm(side)
    image_m = np.stack([joints_m @ right, -joints_m[..., 2]], axis=-1)  # (T, 24, 2), y down
    low, high = image_m.reshape(-1, 2).min(axis=0), image_m.reshape(-1, 2).max(axis=0)
    scale_px_per_m = min(FILL_WIDTH * CANVAS_WIDTH_PX / (high[0] - low[0]),
                         FILL_HEIGHT * CANVAS_HEIGHT_PX / (high[1] - low[1]))
    centre_px = np.array([CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX]) / 2
    placed_px = (image_m - (low + high) / 2) * scale_px_per_m + centre_px
    pose = PoseSequence2D.empty(len(joints_m), CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX, FPS)
    keypoints_px, confidence = pose.keypoints_px.copy(), pose.confidence.copy()
    for name, joint in SMPL_OF_BODY.items():
        keypoints_px[:, B[name]] = placed_px[:, joint]
        confidence[:, B[name]] = 1.0
    return PoseSequence2D(keypoints_px, confidence, CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX, FPS)


def error_stats_px(decoded: PoseSequence2D, pose: PoseSequence2D) -> tuple[float, float]:
    """Mean and max Euclidean distance, pixels, over keypoints present in ``pose``."""
    present = pose.confidence > 0
    distance = np.linalg.norm(decoded.keypoints_px - pose.keypoints_px, axis=-1)[present]
    return float(distance.mean()), float(distance.max())


def left_edge_error_px(pose: PoseSequence2D, num_bins: int) -> tuple[float, float]:
    """The same statistics for the paper's eq. 1 decoding, coordinate = argmax / W (the bin's left edge)."""
    px_per_bin = np.array([CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX]) / num_bins
    edge_px = np.floor(pose.keypoints_px / px_per_bin) * px_per_bin
    present = pose.confidence > 0
    distance = np.linalg.norm(edge_px - pose.keypoints_px, axis=-1)[present]
    return float(distance.mean()), float(distance.max())


def find_vae(explicit: str | None) -> Path | None:
    """A local diffusers AutoencoderKL folder, or None; nothing is downloaded."""
    if explicit:
        return Path(explicit)
    for snapshot in sorted(HF_VAE_CACHE.glob("models--*--sd-vae-ft-*/snapshots/*")):
        if (snapshot / "config.json").exists():
            return snapshot
    return None


def round_trip_rows(poses: dict[str, PoseSequence2D]) -> list[str]:
    rows = ["| slice | W | px per bin (x, y) | argmax at bin centre: mean / max px | centroid-refined: mean / max px "
            "| paper eq. 1 (bin left edge): mean / max px | bins equal on re-encoding |", "|" + " --- |" * 7]
    for name, pose in poses.items():
        for num_bins in (256, 512):
            config = OneHotConfig(num_bins=num_bins, sigma_bins=2.0)
            image = pose_to_onehot(pose, config)
            decoded = onehot_to_pose(image, CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX, FPS, config)
            refined = onehot_to_pose(image, CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX, FPS, config, refine_centroid=True)
            same_bins = np.array_equal(pose_to_onehot(decoded, config), image)
            centre, centroid = error_stats_px(decoded, pose), error_stats_px(refined, pose)
            edge = left_edge_error_px(pose, num_bins)
            rows.append(f"| {name} | {num_bins} | {CANVAS_WIDTH_PX / num_bins:.2f}, {CANVAS_HEIGHT_PX / num_bins:.2f} "
                        f"| {centre[0]:.3f} / {centre[1]:.3f} | {centroid[0]:.3f} / {centroid[1]:.3f} "
                        f"| {edge[0]:.3f} / {edge[1]:.3f} | {same_bins} |")
    return rows


def vae_rows(poses: dict[str, PoseSequence2D], vae_dir: Path | None) -> list[str]:
    if vae_dir is None:
        return ["VAE round trip skipped: no SD VAE found locally (pass --vae DIR with a diffusers AutoencoderKL, "
                "e.g. stabilityai/sd-vae-ft-mse)."]
    from diffusers import AutoencoderKL

    from choreo.pose.onehot_latents import decode_onehot_latents, encode_onehot_latents

    vae = AutoencoderKL.from_pretrained(vae_dir, local_files_only=True).eval()
    rows = [f"VAE: {vae_dir}", "", "| slice | W | mean / max px | keypoints within 1 bin | latents shape |",
            "| --- | --- | --- | --- | --- |"]
    for name, pose in poses.items():
        for num_bins in (256, 512):
            config = OneHotConfig(num_bins=num_bins, sigma_bins=2.0)
            latents = encode_onehot_latents(pose_to_onehot(pose, config), vae)
            decoded = onehot_to_pose(decode_onehot_latents(latents, vae), CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX, FPS,
                                     config, refine_centroid=True)
            mean, worst = error_stats_px(decoded, pose)
            present = pose.confidence > 0
            bin_px = np.array([CANVAS_WIDTH_PX, CANVAS_HEIGHT_PX]) / num_bins
            within = (np.abs(decoded.keypoints_px - pose.keypoints_px) <= bin_px).all(axis=-1)[present].mean()
            rows.append(f"| {name} | {num_bins} | {mean:.2f} / {worst:.2f} | {100 * within:.1f} % "
                        f"| {tuple(latents.latents.shape)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", help="a local diffusers AutoencoderKL folder")
    args = parser.parse_args()
    if not DANCE_DIR.exists():
        print("(../shared/data/dance absent: one-hot round-trip benchmark skipped)")
        return
    manifest = json.loads((DANCE_DIR / "manifest.json").read_text())
    poses = {}
    for item in manifest["items"]:
        joints_m = np.loadtxt(DANCE_DIR / item["file"], delimiter=",").reshape(-1, 24, 3)
        poses[f"{item['aist_sequence']} slice {item['slice_index']}"] = orthographic_body(joints_m)
    print(f"## One-hot round trip (no VAE), canvas {CANVAS_WIDTH_PX}x{CANVAS_HEIGHT_PX} px, sigma 2 bins, "
          "14 body points x 150 frames per slice\n")
    print("\n".join(round_trip_rows(poses)))
    print()
    print("\n".join(vae_rows(poses, find_vae(args.vae))))


if __name__ == "__main__":
    main()
