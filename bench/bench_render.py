"""Benchmark: pose-video drawing and MP4 export speed at 512x768, and peak memory.

Run: ``python bench/bench_render.py``. Prints a markdown table; no speed asserts.
Needs nothing from ../shared: the poses are synthetic (a swaying skeleton with
hands and face) and the overlay image is the demo character when present.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from choreo.io.video_export import write_mp4  # noqa: E402
from choreo.music.audio import Audio  # noqa: E402
from choreo.pose.layout import B, FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND  # noqa: E402
from choreo.pose.sequence import PoseSequence2D  # noqa: E402
from choreo.render.pose_video import PoseDrawStyle, iter_pose_frames, render_pose_frames  # noqa: E402

WIDTH, HEIGHT, NUM_FRAMES, FPS = 512, 768, 300, 30.0
BODY_PX = {
    "nose": (256, 146), "neck": (256, 222), "right_shoulder": (200, 236), "right_elbow": (170, 338),
    "right_wrist": (150, 436), "left_shoulder": (312, 236), "left_elbow": (342, 338), "left_wrist": (362, 436),
    "right_hip": (224, 440), "right_knee": (212, 566), "right_ankle": (204, 688), "left_hip": (288, 440),
    "left_knee": (300, 566), "left_ankle": (308, 688), "right_eye": (238, 128), "left_eye": (274, 128),
    "right_ear": (206, 134), "left_ear": (306, 134),
}


def synthetic_sequence() -> PoseSequence2D:
    """300 frames: body sway, arms waving, hands as finger fans, a face ring; all confidences 1."""
    base = np.zeros((NUM_KEYPOINTS, 2))
    for name, xy in BODY_PX.items():
        base[B[name]] = xy
    t = np.arange(NUM_FRAMES)[:, None] / FPS
    kp = np.repeat(base[None], NUM_FRAMES, 0)
    kp[:, :, 0] += 30 * np.sin(2 * np.pi * 0.5 * t)
    for side, sign in (("right", -1), ("left", 1)):
        wave = 60 * np.sin(2 * np.pi * 1.0 * t + (sign > 0))
        kp[:, B[f"{side}_elbow"], 1] -= 0.5 * wave[:, 0]
        kp[:, B[f"{side}_wrist"], 1] -= wave[:, 0]
    angles = np.linspace(0, 2 * np.pi, 70, endpoint=False)
    kp[:, FACE] = kp[:, B["nose"], None] + 30 * np.stack([np.cos(angles), 1.2 * np.sin(angles)], axis=1)
    fingers = np.array([(np.cos(a) * r, np.sin(a) * r) for a in np.linspace(1.2, 2.2, 5) for r in (12, 20, 27, 33)])
    for hand, wrist, sign in ((LEFT_HAND, B["left_wrist"], 1), (RIGHT_HAND, B["right_wrist"], -1)):
        kp[:, hand.start] = kp[:, wrist]
        kp[:, hand.start + 1:hand.stop] = kp[:, wrist, None] + fingers * [sign, 1]
    conf = np.ones((NUM_FRAMES, NUM_KEYPOINTS), np.float32)
    return PoseSequence2D(kp.astype(np.float32), conf, WIDTH, HEIGHT, FPS)


def overlay_image() -> np.ndarray:
    path = Path(__file__).resolve().parents[1] / "assets" / "demo_character.png"
    if path.is_file():
        from PIL import Image

        return np.asarray(Image.open(path).convert("RGB").resize((WIDTH, HEIGHT)))
    return np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)


def fps_of(run, frames: int = NUM_FRAMES) -> float:
    start = time.perf_counter()
    run()
    return frames / (time.perf_counter() - start)


def main() -> None:
    seq = synthetic_sequence()
    rows = []
    sum(1 for _ in iter_pose_frames(seq.slice_frames(0, 30), PoseDrawStyle.dwpose()))  # warm-up
    for name in ("openpose", "dwpose", "wan_animate"):
        style = getattr(PoseDrawStyle, name)()
        rows.append((f"draw `{name}` (stream)", fps_of(lambda: sum(1 for _ in iter_pose_frames(seq, style)))))
    image = overlay_image()
    still = replace(PoseDrawStyle.wan_animate(), background="image")
    rows.append(("draw `wan_animate` over a still image", fps_of(lambda: sum(1 for _ in iter_pose_frames(seq, still, image)))))
    video_bg = np.repeat(image[None], NUM_FRAMES, 0)
    rows.append(("draw `wan_animate` over a video", fps_of(lambda: sum(1 for _ in iter_pose_frames(seq, still, video_bg)))))
    del video_bg
    frames = render_pose_frames(seq, PoseDrawStyle.wan_animate())
    t = np.arange(int(seq.duration_s * 22050) + 22050) / 22050
    audio = Audio((0.3 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32), 22050)
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("export mp4, no audio", fps_of(lambda: write_mp4(Path(tmp) / "a.mp4", frames, FPS))))
        rows.append(("export mp4 + AAC audio", fps_of(lambda: write_mp4(Path(tmp) / "b.mp4", frames, FPS, audio))))
        del frames
        rows.append(("draw `wan_animate` + export + audio, streamed", fps_of(lambda: write_mp4(
            Path(tmp) / "c.mp4", iter_pose_frames(seq, PoseDrawStyle.wan_animate()), FPS, audio, seq.num_frames))))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{NUM_FRAMES} frames at {WIDTH}x{HEIGHT}\n")
    print("| step | frames/s |\n| --- | ---: |")
    for label, value in rows:
        print(f"| {label} | {value:.0f} |")
    print(f"\nPeak RSS of this process: {peak_mib:.0f} MiB (ffmpeg runs in a child process, not counted).")


if __name__ == "__main__":
    main()
