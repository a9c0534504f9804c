"""X-Dancer motion benchmark: tokenizer error per part (multi-part vs whole-body codebook), GPT speed, demo BAS.

Run as `python bench/bench_xdancer.py [--tokenizer-steps N] [--bas-clips N] [--bas-seconds S]
[--speed-seconds S] [--repeats N] [--skip a,b,c]`.
Prints markdown tables only; nothing here asserts. Uses 1 torch thread unless --threads says otherwise.

(a) Both tokenizers (the paper's 5-part codebooks and the single whole-body codebook with the
    same 30 tokens per frame) train for the same steps and batch on the same poses: the beat
    choreographer's dances on synthetic beat grids (tempos 84-150 BPM, several seeds), projected
    to 2D on a 512 x 512 canvas with hands (body about 410 px tall). Error = mean absolute
    coordinate error (L1 per coordinate, as the paper's "L1 per joint") in px of that canvas on
    held-out dances, over joints whose true confidence is > 0.
(b) GPT sampling speed. Time for 10 s of dance (300 frames at 30 fps, windows of 32 frames
    overlapping by 8, the whole generate_xdancer_motion call, tokenizer included) with the demo
    checkpoint on random music features: dynamic KV cache (a new shape every token) vs static cache
    (decode_step, fixed shapes), eager, on the CPU; and, only when torch.cuda.is_available(), the
    same two and the static cache compiled (CUDA graphs, compile=True) on the GPU. Best of --repeats runs; the
    compiled row's first call (compilation) is reported apart. Then tokens/s per window size for the
    three cache modes on the CPU.
(c) With assets/checkpoints/xdancer/demo present: BAS of its dances on ../shared/data/music
    (25-s clips cut to --bas-seconds) against the labelled beats and the half-beat-shifted beats,
    on the 18 body joints in px with z = 0 (BAS depends only on motion-speed minima).
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

from choreo.generators.xdancer import (XDancerModels, generate_xdancer_motion, load_xdancer,  # noqa: E402
                                       reference_body_frame, to_tokenizer_input)
from choreo.motion import metrics  # noqa: E402
from choreo.motion.choreographer import choreograph  # noqa: E402
from choreo.music.analysis import MusicAnalysis, Section  # noqa: E402
from choreo.music.features import MusicFeatures  # noqa: E402
from choreo.pose.projection import project_motion  # noqa: E402
from choreo.pose.reference import default_reference_pose  # noqa: E402
from choreo.pose.smoothing import smooth_pose_sequence  # noqa: E402
from choreo.timeline import num_frames_for  # noqa: E402
from models.motion_gpt import MotionGPT, MotionGPTConfig  # noqa: E402
from models.pose_vqvae import PART_JOINTS, PoseVQVAE, PoseVQVAEConfig  # noqa: E402

MUSIC_DIR = REPO_ROOT.parent / "shared" / "data" / "music"
DEMO = REPO_ROOT / "assets" / "checkpoints" / "xdancer" / "demo"
FPS = 30.0
CANVAS = 512
GROUPS = {"upper body": PART_JOINTS["upper_body"], "lower body": PART_JOINTS["lower_body"],
          "head": PART_JOINTS["head"], "hands": PART_JOINTS["left_hand"] + PART_JOINTS["right_hand"],
          "all 60": tuple(range(60))}


def grid_analysis(bpm: float, duration_s: float) -> MusicAnalysis:
    """A steady 4/4 beat grid with flat loudness, for the choreographer."""
    beats = np.arange(0.0, duration_s, 60.0 / bpm)
    num_frames = num_frames_for(duration_s, FPS)
    flat = np.full(num_frames, 0.7, np.float32)
    return MusicAnalysis(duration_s, FPS, bpm, np.full(num_frames, bpm, np.float32), beats, beats[::4], 4,
                         np.arange(len(beats)) % 4, flat.copy(), flat, (Section(0.0, duration_s, "A"),))


def choreographed_poses(count: int, seed: int, duration_s: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 60, 3) normalised tokenizer inputs and (N,) px per unit, from ``count`` projected dances."""
    rng = np.random.default_rng(seed)
    poses, units = [], []
    for i in range(count):
        motion = choreograph(grid_analysis(float(rng.uniform(84, 150)), duration_s), seed=seed * 1000 + i)
        seq = project_motion(motion, CANVAS, CANVAS)
        reference = seq.frame(0)
        poses.append(to_tokenizer_input(seq, reference))
        units.append(np.full(seq.num_frames, reference_body_frame(reference).unit_px))
    return np.concatenate(poses), np.concatenate(units)


def train_tokenizer(config: PoseVQVAEConfig, data: torch.Tensor, steps: int, batch: int) -> tuple[PoseVQVAE, float]:
    torch.manual_seed(0)
    model = PoseVQVAE(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        picks = torch.randint(0, len(data), (batch,), generator=generator)
        _, losses, _ = model(data[picks])
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()
        schedule.step()
    return model.eval(), time.perf_counter() - start


def part_errors_px(model: PoseVQVAE, data: torch.Tensor, units: np.ndarray) -> dict[str, float]:
    with torch.no_grad():
        recon = model.decode(model.encode(data)).numpy()
    target = data.numpy()
    error = np.abs(recon[..., :2] - target[..., :2]).mean(-1) * units[:, None]   # (N, 60) px
    present = target[..., 2] > 0
    return {name: float(error[:, list(joints)][present[:, list(joints)]].mean()) for name, joints in GROUPS.items()}


def bench_tokenizers(steps: int, batch: int) -> None:
    train, train_units = choreographed_poses(16, seed=1)
    test, test_units = choreographed_poses(4, seed=2)
    train_t, test_t = torch.as_tensor(train), torch.as_tensor(test)
    base = PoseVQVAEConfig(hidden=64, decoder_hidden=256, decoder_layers=3)
    rows = []
    for name, config in (("5-part codebooks (paper)", base),
                         ("single whole-body codebook", PoseVQVAEConfig(**{**base.__dict__, "single_codebook": True}))):
        model, seconds = train_tokenizer(config, train_t, steps, batch)
        errors = part_errors_px(model, test_t, test_units)
        used = [int(torch.unique(model.encode(train_t)[:, g]).numel()) for g in range(len(config.token_groups))]
        rows.append(f"| {name} | " + " | ".join(f"{errors[g]:.2f}" for g in GROUPS)
                    + f" | {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M | {seconds:.0f} s "
                    f"| {'/'.join(map(str, used))} |")
    print(f"\n### Tokenizer reconstruction, held-out choreographer dances ({len(test)} frames; trained on "
          f"{len(train)} frames, {steps} steps x batch {batch}, AdamW 2e-3 cosine)\n")
    print("L1 per coordinate, px on a 512 x 512 canvas (body about 0.8 x 512 px tall), joints with confidence > 0.\n")
    print("| tokenizer | " + " | ".join(GROUPS) + " | params | train time | codes used per codebook |")
    print("|---" * (len(GROUPS) + 4) + "|")
    print("\n".join(rows))


def speed_models(device: str) -> tuple[XDancerModels, str]:
    """The demo checkpoint, or random weights of its size when it is absent (speed does not depend on training)."""
    if (DEMO / "gpt" / "config.json").is_file():
        return load_xdancer(DEMO, device), "demo checkpoint"
    gpt = MotionGPT(MotionGPTConfig(codebook_size=256, n_layer=2, n_head=4, n_embd=64, block_frames=32,
                                    motion_context_frames=4, dropout=0.0)).eval()
    tokenizer = PoseVQVAE(PoseVQVAEConfig(codebook_size=256, hidden=48, decoder_layers=2)).eval()
    music_dim = gpt.config.music_dim
    return (XDancerModels(tokenizer.to(device), gpt.to(device), np.zeros(music_dim, np.float32),
                          np.ones(music_dim, np.float32), FPS, "edge_librosa"), "random weights of the demo's size")


def best_time_s(run, repeats: int, device: str) -> float:
    """Shortest wall time of ``repeats`` calls of run() (GPU work waited for)."""
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_dance_speed(seconds: float, repeats: int) -> None:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    num_frames = num_frames_for(seconds, FPS)
    rows, source = [], ""
    for device in devices:
        models, source = speed_models(device)
        window = min(32, models.gpt.config.block_frames)
        features = MusicFeatures(np.random.default_rng(0).standard_normal((num_frames, models.gpt.config.music_dim))
                                 .astype(np.float32), models.fps, models.music_extractor,
                                 tuple(f"c{i}" for i in range(models.gpt.config.music_dim)))
        reference = default_reference_pose(512, 768)
        tokens = num_frames * models.gpt.config.tokens_per_frame
        name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
        modes = [("dynamic cache, eager", "dynamic", False), ("static cache, eager", "static", False)]
        if device == "cuda":
            modes.append(("static cache, compiled (CUDA graphs)", "static", True))
        for label, cache, compile in modes:
            def run():
                return generate_xdancer_motion(models, features, reference, seed=0, window=window,
                                               overlap=min(8, window // 4), cache=cache, compile=compile)
            first = ""
            if compile:
                start = time.perf_counter()
                run()
                torch.cuda.synchronize()
                first = f"{time.perf_counter() - start:.1f} s"
            elapsed = best_time_s(run, repeats, device)
            rows.append(f"| {name} | {label} | {elapsed:.2f} s | {tokens / elapsed:.0f} | {first or '-'} |")
    print(f"\n### X-Dancer sampling time for {seconds:g} s of dance ({num_frames} frames, {source}, torch "
          f"{torch.__version__}, best of {repeats})\n")
    if len(devices) == 1:
        print("No GPU here: the GPU rows (eager and compiled) print only when torch.cuda.is_available().\n")
    print("| device | decoding | time | tokens/s | first call (compiles) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


def tokens_per_second(model: MotionGPT, frames: int, cache: str, repeats: int) -> float:
    c = model.config
    music = torch.randn(1, frames, c.music_dim)
    context = torch.randint(0, c.codebook_size, (1, c.motion_context_frames, c.tokens_per_frame))
    elapsed = best_time_s(lambda: model.generate(music, context, top_p=0.9, generator=torch.Generator().manual_seed(0),
                                                 cache=cache), repeats, "cpu")
    return frames * c.tokens_per_frame / elapsed


def bench_gpt_speed(repeats: int) -> None:
    models, source = speed_models("cpu")
    model, config = models.gpt, models.gpt.config
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"\n### GPT sampling speed per window, {source} ({config.n_layer} layers, {config.n_embd} wide, "
          f"{params:.1f} M params), CPU, {torch.get_num_threads()} thread(s), prefix "
          f"{config.num_music_context_tokens} music + {config.motion_context_frames}x30 context tokens, best of "
          f"{repeats}\n")
    print("| window | static cache tokens/s | dynamic cache tokens/s | no cache tokens/s |")
    print("|---|---|---|---|")
    for frames in (2, 8):
        speeds = [tokens_per_second(model, frames, cache, repeats) for cache in ("static", "dynamic", "none")]
        print(f"| {frames} frames ({frames * 30} tokens) | " + " | ".join(f"{v:.0f}" for v in speeds) + " |")
    speeds = [tokens_per_second(model, config.block_frames, cache, repeats) for cache in ("static", "dynamic")]
    print(f"| {config.block_frames} frames | {speeds[0]:.0f} | {speeds[1]:.0f} | - |")


def bench_demo_bas(max_clips: int, seconds: float) -> None:
    if not (DEMO / "gpt").is_dir():
        print(f"\n(c) skipped: no demo checkpoint at {DEMO}.")
        return
    if not (MUSIC_DIR / "manifest.json").is_file():
        print(f"\n(c) skipped: no music at {MUSIC_DIR}.")
        return
    from choreo.io.audio_files import load_audio
    from choreo.music.features import extract_music_features

    models = load_xdancer(DEMO)
    manifest = json.loads((MUSIC_DIR / "manifest.json").read_text())
    reference = default_reference_pose(512, 768)
    rows = []
    for clip in [c for c in manifest["clips"] if c.get("beats")][:max_clips]:
        audio = load_audio(MUSIC_DIR / clip["file"])
        features = extract_music_features(audio, fps=models.fps, extractor=models.music_extractor)
        num_frames = min(features.num_frames, num_frames_for(seconds, models.fps))
        start = time.perf_counter()
        window = min(64, models.gpt.config.block_frames)
        seq, _ = generate_xdancer_motion(models, features, reference, num_frames=num_frames, seed=0, window=window,
                                         overlap=min(12, window // 4))
        elapsed = time.perf_counter() - start
        beats = np.asarray(clip["beats"]) * models.fps
        raw, smooth = body_scores(seq, beats), body_scores(smooth_pose_sequence(seq), beats)
        rows.append(f"| {clip['file']} | {num_frames} | {raw[0]:.3f} / {raw[1]:.3f} | {smooth[0]:.3f} / {smooth[1]:.3f} "
                    f"| {raw[2]:.1f} → {smooth[2]:.1f} | {elapsed:.0f} s |")
    print(f"\n### Demo checkpoint BAS ({DEMO.relative_to(REPO_ROOT)}, seed 0, top-p 0.9; body joints in px, z = 0; "
          "sigma 3 frames; labelled beats), raw and after Smooth Pose Sequence (default One Euro settings)\n")
    print("| clip | frames | BAS aligned / half-beat shifted, raw | same, smoothed | mean body acceleration px/frame², "
          "raw → smoothed | generation time |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


def body_scores(seq, beats: np.ndarray) -> tuple[float, float, float]:
    """BAS aligned, BAS half-beat shifted, and mean acceleration of the 18 body points (jitter)."""
    body_px = seq.keypoints_px[:, :18].astype(np.float64)
    body = metrics.planar_points(body_px)
    scores = metrics.shifted_beat_align_scores(body, beats, fractions=(0.5,))
    acceleration = float(np.linalg.norm(np.diff(body_px, 2, axis=0), axis=-1).mean())
    return scores[0.0], scores[0.5], acceleration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer-steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--bas-clips", type=int, default=3)
    parser.add_argument("--bas-seconds", type=float, default=10.0)
    parser.add_argument("--speed-seconds", type=float, default=10.0, help="(b) seconds of dance to time")
    parser.add_argument("--repeats", type=int, default=3, help="(b) runs per timing; the best is reported")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; 1 because on a busy 2-core machine more threads thrash")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    skip = set(args.skip.split(","))
    if "a" not in skip:
        bench_tokenizers(args.tokenizer_steps, args.batch)
    if "b" not in skip:
        bench_dance_speed(args.speed_seconds, args.repeats)
        bench_gpt_speed(args.repeats)
    if "c" not in skip:
        bench_demo_bas(args.bas_clips, args.bas_seconds)


if __name__ == "__main__":
    main()
