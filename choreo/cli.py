"""Command line for the main job: ``python -m choreo --audio song.mp3 --image me.png --out dance.mp4``.

With no arguments it dances the bundled demo character to the bundled demo track.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import ChoreoError
from .motion.choreographer import STYLES
from .pipeline import DEMO_AUDIO, DEMO_IMAGE, DanceJob, make_dance_video
from .render.dance_frames import DRAW_STYLES, RENDERERS
from .pose.projection import Camera


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m choreo", description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=DEMO_AUDIO, help="song file (wav, flac, ogg, mp3, ...)")
    parser.add_argument("--image", type=Path, default=DEMO_IMAGE, help="picture of the dancer (png, jpg)")
    parser.add_argument("--out", type=Path, default=Path("out/dance.mp4"), help="output mp4 path")
    parser.add_argument("--fps", type=float, default=30.0, help="video frame rate (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same dance")
    parser.add_argument("--style", choices=STYLES, default="mixed", help="dance style")
    parser.add_argument("--energy", type=float, default=1.0, help="size of the moves (default 1)")
    parser.add_argument("--draw", choices=sorted(DRAW_STYLES), default="dwpose", help="skeleton drawing convention")
    parser.add_argument("--renderer", choices=RENDERERS, default="puppet",
                        help="puppet: the picture itself dances; or a skeleton over the picture / on black")
    parser.add_argument("--pose-json", type=Path, help="reference pose of the image (POSE_KEYPOINT JSON)")
    parser.add_argument("--rtmlib-model", type=Path, help="whole-body ONNX model to detect the reference pose")
    parser.add_argument("--yaw", type=float, default=0.0, help="camera yaw in degrees (0 = front)")
    parser.add_argument("--no-data", action="store_true", help="skip the .pose.json/.npz/.bvh files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    job = DanceJob(audio_path=args.audio, image_path=args.image, out_path=args.out, fps=args.fps, seed=args.seed,
                   style=args.style, energy_scale=args.energy, draw_style=args.draw,
                   renderer=args.renderer, pose_json=args.pose_json, rtmlib_model=args.rtmlib_model,
                   camera=Camera(yaw_deg=args.yaw), export_data=not args.no_data)
    started = time.perf_counter()
    try:
        result = make_dance_video(job, log=lambda message: print(f"  {message}", flush=True))
    except ChoreoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {result.video_path} ({result.pose.num_frames} frames at {job.fps:g} fps, "
          f"{time.perf_counter() - started:.1f} s)")
    return 0
