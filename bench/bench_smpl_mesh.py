"""SMPL mesh speed: smplx forward per frame by chunk size, a 3-minute song, and the CPU preview's frames/s.

Without a licensed SMPL file it uses Choreo's synthetic capsule body, which has SMPL's array
sizes (6890 vertices, 207 pose blend shapes, 10 betas) and 13248 faces (SMPL: 13776).

    python bench/bench_smpl_mesh.py [--model ComfyUI/models/smpl/SMPL_NEUTRAL.pkl]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from choreo.io.atomic import save_npz_atomic  # noqa: E402
from choreo.motion.motion3d import Motion3D  # noqa: E402
from choreo.motion.rotations import axis_angle_to_matrix  # noqa: E402
from choreo.motion.skeleton import UPRIGHT  # noqa: E402
from choreo.motion.smpl_body import DEFAULT_CHUNK_FRAMES, load_smpl_body, pose_body, retarget_to_body  # noqa: E402
from choreo.motion.smpl_synthetic import synthetic_smpl_arrays  # noqa: E402
from choreo.pose.projection import Camera  # noqa: E402
from choreo.render.mesh_preview import iter_mesh_frames, view_like_projection  # noqa: E402

SONG_FRAMES = 3 * 60 * 30  # a 3-minute song at 30 fps


def dance(num_frames: int, seed: int = 0) -> Motion3D:
    """Random joint rotations about an upright body (speed does not depend on the pose)."""
    rng = np.random.default_rng(seed)
    rotations = axis_angle_to_matrix(rng.normal(0.0, 0.3, (num_frames, 24, 3)))
    rotations[:, 0] = UPRIGHT @ rotations[:, 0]
    root = np.array([0.0, 0.0, 0.95]) + 0.05 * rng.standard_normal((num_frames, 3))
    return Motion3D(root.astype(np.float32), rotations.astype(np.float32), np.zeros((num_frames, 4), np.float32), 30.0)


def timed(function, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` calls, seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="an SMPL .npz/.pkl (default: the synthetic body)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.model or save_npz_atomic(Path(folder) / "SMPL_NEUTRAL.npz", **synthetic_smpl_arrays())
        body = load_smpl_body(path)
    print(f"model: {'synthetic capsule body' if args.model is None else args.model.name}, "
          f"{body.layer.v_template.shape[0]} vertices, {len(body.faces)} faces; "
          f"torch threads {torch.get_num_threads()}")
    print("\n| smplx forward (float32, CPU) | ms per frame | frames/s |")
    print("|---|---|---|")
    for chunk in (1, 16, 64, 256):
        motion = dance(max(chunk, 64))
        seconds = timed(lambda: pose_body(body, motion, chunk_frames=chunk))
        print(f"| chunks of {chunk} frames | {1000 * seconds / motion.num_frames:.2f} | "
              f"{motion.num_frames / seconds:.0f} |")
    song = dance(SONG_FRAMES)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = timed(lambda: pose_body(body, song), repeats=1)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| 3-minute song ({SONG_FRAMES} frames, chunks of {DEFAULT_CHUNK_FRAMES}) | "
          f"{1000 * seconds / SONG_FRAMES:.2f} | {SONG_FRAMES / seconds:.0f} (total {seconds:.1f} s; "
          f"peak RSS {rss_before:.0f} -> {rss_after:.0f} MB, "
          f"output {SONG_FRAMES * body.layer.v_template.shape[0] * 12 / 2**20:.0f} MB) |")

    clip = dance(60, seed=1)
    mesh = pose_body(body, clip)
    on_body = retarget_to_body(body, clip)
    print("\n| preview 512x512 | frames/s |")
    print("|---|---|")
    for camera in (Camera(), Camera("perspective", yaw_deg=30.0, pitch_deg=15.0)):
        view = view_like_projection(on_body, 512, 512, camera)
        seconds = timed(lambda: sum(1 for _ in iter_mesh_frames(mesh.vertices_m, mesh.faces, view)), repeats=2)
        print(f"| {camera.projection} | {clip.num_frames / seconds:.1f} |")


if __name__ == "__main__":
    main()
