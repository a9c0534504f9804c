"""Benchmark the M2PEnc demo: beat alignment of its decoded keypoints on held-out songs, and encoding speed.

    python bench/bench_m2penc.py [--checkpoint assets/checkpoints/m2penc/demo] [--engine ~/.cache/choreo/dance_engine]
                                 [--data ~/.cache/choreo/m2penc_data] [--max-clips 12]

(a) BAS: for each clip of the engine's test songs (never seen in training), encode the music, decode the body
    keypoints at the heatmaps' maxima, interpolate them to 30 fps and score them against the clip's beats
    (``analyze_music``) with ``metrics.shifted_beat_align_scores`` on the 18 points with z = 0, as
    ``bench_xdancer.body_scores``: aligned vs half-beat shifted. The same score of the training target (the
    choreographer's keypoints rendered by ``m2penc_data``, test split) is the reference.
(b) Speed: 10 s of music -> four 512x512 guidance batches at 30 fps (features, encoder, upsampling), one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from choreo.datasets.m2penc_data import load_sample  # noqa: E402
from choreo.generators.m2penc import (encode_music, guidance_images, heatmap_keypoints, load_m2penc,  # noqa: E402
                                      music_from_audio, resample_frames)
from choreo.io.audio_files import load_audio  # noqa: E402
from choreo.motion import metrics  # noqa: E402
from choreo.music.analyze import analyze_music  # noqa: E402
from choreo.music.audio import Audio  # noqa: E402

FPS = 30.0


def body_bas(points_px: np.ndarray, beat_frames: np.ndarray) -> tuple[float, float]:
    """BAS aligned and half-beat shifted of (T, 18, 2) points at 30 fps (z = 0)."""
    scores = metrics.shifted_beat_align_scores(metrics.planar_points(points_px), beat_frames, fractions=(0.5,))
    return scores[0.0], scores[0.5]


def bench_bas(model, engine: Path, data: Path | None, max_clips: int) -> None:
    clips = {}
    for line in (engine / "manifest_test.jsonl").read_text().splitlines():
        entry = json.loads(line)
        clips.setdefault(entry["clip_id"], entry)
    rows, predicted, motion_beats_per_s = [], [], []
    for clip in list(clips.values())[:max_clips]:
        audio = load_audio(engine / clip["audio"])
        beats = analyze_music(audio, fps=FPS).beat_times_s * FPS
        _, heatmaps = encode_music(model, music_from_audio(model, audio))
        points, _ = heatmap_keypoints(heatmaps, 512, 512)
        num_frames = int(len(points) * FPS / model.fps)
        points_30 = resample_frames(points, model.fps, num_frames, FPS)
        aligned, shifted = body_bas(points_30, beats)
        predicted.append((aligned, shifted))
        found = metrics.motion_beats(metrics.planar_points(points_30))
        motion_beats_per_s.append(len(found) / (num_frames / FPS))
        rows.append(f"| {clip['clip_id']} | {clip['tempo_bpm']:.0f} | {num_frames} | {aligned:.3f} / {shifted:.3f} | "
                    f"{float(np.abs(np.diff(points_30, axis=0)).mean()):.2f} |")
    print("\n### (a) Held-out songs: BAS of the decoded keypoints (512 px canvas, 30 fps, z = 0, sigma 3 frames)\n")
    print("| clip | tempo BPM | frames | BAS aligned / half-beat shifted | mean keypoint motion px/frame |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    mean = np.mean(predicted, axis=0)
    print(f"\nM2PEnc demo, mean over {len(predicted)} clips: aligned {mean[0]:.3f}, shifted {mean[1]:.3f}; "
          f"motion beats {np.mean(motion_beats_per_s):.2f} per s")
    if data is not None and (data / "test").is_dir():
        truth_scores = []
        for line in (engine / "manifest_test.jsonl").read_text().splitlines():
            entry = json.loads(line)
            path = data / "test" / f"{entry['dance_id']}.npz"
            if not path.is_file():
                continue
            sample = load_sample(path)
            num_frames = int(sample.num_frames * FPS / sample.fps)
            cells_to_px = 512 / sample.guidance.shape[-1]  # the square map drawn 512 px wide
            points = (resample_frames(sample.keypoints_cells, sample.fps, num_frames, FPS) + 0.5) * cells_to_px - 0.5
            beats = analyze_music(load_audio(engine / entry["audio"]), fps=FPS).beat_times_s * FPS
            truth_scores.append(body_bas(points, beats))
        if truth_scores:
            mean = np.mean(truth_scores, axis=0)
            print(f"Training target (choreographer keypoints, test split, {len(truth_scores)} dances): "
                  f"aligned {mean[0]:.3f}, shifted {mean[1]:.3f}")


def bench_speed(model) -> None:
    rng = np.random.default_rng(0)
    sample_rate = 22050
    audio = Audio.from_array((0.1 * rng.standard_normal(10 * sample_rate)).astype(np.float32), sample_rate)
    started = time.perf_counter()
    music = music_from_audio(model, audio)
    features_s = time.perf_counter() - started
    started = time.perf_counter()
    guidance, _ = encode_music(model, music)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    guidance_images(guidance, model.fps, 300, FPS, 512, 512)
    images_s = time.perf_counter() - started
    print(f"\n### (b) 10 s of music -> 4 x 300 frames of 512x512 (one CPU thread)\n\nfeatures {features_s:.2f} s, "
          f"encoder {encode_s:.2f} s ({len(music)} frames at {model.fps:g} fps), upsampling to images {images_s:.2f} s, "
          f"total {features_s + encode_s + images_s:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REPO_ROOT / "assets" / "checkpoints" / "m2penc" / "demo"))
    parser.add_argument("--engine", default=str(Path.home() / ".cache" / "choreo" / "dance_engine"))
    parser.add_argument("--data", default=str(Path.home() / ".cache" / "choreo" / "m2penc_data"))
    parser.add_argument("--max-clips", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_m2penc(args.checkpoint)
    bench_speed(model)
    bench_bas(model, Path(args.engine).expanduser(), Path(args.data).expanduser(), args.max_clips)


if __name__ == "__main__":
    main()
