"""Command line for the main job: python -m choreo --audio song.mp3 --image me.png --out dance.mp4

With no arguments it dances the bundled demo character to the bundled demo track.
Problems with the inputs end in one line "error: ..." and exit code 2, before the
slow stages start wherever they can be checked up front.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Callable

from .errors import ChoreoError
from .io.image_files import WORK_MAX_SIDE_PX
from .motion.choreographer import STYLES
from .music.analyze import BEAT_TRACKERS, DEFAULT_BEAT_TRACKER
from .music.tempo_octave import HINT_RANGE_BPM, TEMPO_CHOICES
from .pipeline import ASSETS_DIR, DEMO_AUDIO, DEMO_IMAGE, DanceJob, make_dance_video
from .pose.projection import Camera
from .pose.reference import REFERENCE_SOURCES
from .progress import FrameProgress
from .render.dance_frames import DRAW_STYLES, RENDERERS

DEFAULT_OUT = Path("out/dance.mp4")
FPS_RANGE = (1.0, 120.0)  # the Save Dance Video node's range; below 1 fps nothing looks like dancing
ENERGY_RANGE = (0.0, 2.0)  # the Choreograph node's range: 0 stands still, 2 doubles every move

# Core messages are written for ComfyUI's error dialog; on a terminal the same advice is given in flags.
# Applied in order: a longer phrase comes before the shorter phrase it contains.
CLI_WORDING = {
    "Trim it first (e.g. ComfyUI's TrimAudioDuration node).":
        "Trim it first (e.g. ffmpeg -i song.mp3 -t 1800 short.mp3).",
    "Put the ONNX file in ComfyUI/models/choreo/rtmlib/ (or rtmlib's cache ~/.cache/rtmlib/hub/checkpoints/).":
        "Check the --rtmlib-model path.",
    "Or connect a POSE_KEYPOINT reference, or use the default body.":
        "Or give the picture's pose with --pose-json, or leave out --rtmlib-model.",
    "connect a POSE_KEYPOINT reference, or use the default body.":
        "give the picture's pose with --pose-json.",
    "tempo_hint_bpm ": "--tempo-hint ",
    "Connect a pose with the person visible, or use the default body.":
        "Give a --pose-json with the person visible, or leave --pose-json out.",
    "Connect the POSE_KEYPOINT output of a pose detector or editor.":
        "Save the pose again from a pose detector or editor.",
    "Save it again from a pose node.": "Save it again from a pose detector or editor.",
}


def cli_wording(message: str) -> str:
    """``message`` with ComfyUI-only advice (sockets, nodes, model folders) replaced by the CLI flag to use."""
    for node_words, cli_words in CLI_WORDING.items():
        message = message.replace(node_words, cli_words)
    return message


def number_in(low: float, high: float, kind: Callable[[str], float] = float) -> Callable[[str], float]:
    """An argparse ``type`` accepting numbers in [low, high]; argparse names the flag in its error."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
        return value

    return parse


def shown(path: Path) -> str:
    """A default path as the help shows it: bundled assets relative to the package."""
    return f"bundled {path.relative_to(ASSETS_DIR.parent)}" if path.is_relative_to(ASSETS_DIR) else str(path)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's flags; every help line states its default."""
    parser = argparse.ArgumentParser(
        prog="python -m choreo",
        description="Dance a picture to a song: writes a video of the picture dancing, with the music. "
                    "With no arguments it dances the bundled demo character to the bundled demo track.")
    parser.add_argument("--audio", type=Path, default=DEMO_AUDIO,
                        help=f"song file: wav, flac, ogg, mp3, m4a, ... (default: {shown(DEMO_AUDIO)})")
    parser.add_argument("--image", type=Path, default=DEMO_IMAGE,
                        help=f"picture of the dancer, png or jpg (default: {shown(DEMO_IMAGE)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output video, must end in .mp4; the data files go beside it (default: %(default)s)")
    parser.add_argument("--fps", type=number_in(*FPS_RANGE), default=30.0,
                        help=f"video frame rate, {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g} (default: %(default)g)")
    parser.add_argument("--seed", type=number_in(0, 2**32 - 1, int), default=0,
                        help="same seed, same dance (default: %(default)s)")
    parser.add_argument("--style", choices=STYLES, default="mixed", help="dance style (default: %(default)s)")
    parser.add_argument("--tempo", choices=TEMPO_CHOICES, default="auto",
                        help="auto: the beat a dancer counts; half or double: count at half or twice that speed "
                             "(default: %(default)s)")
    parser.add_argument("--tempo-hint", type=number_in(0.0, HINT_RANGE_BPM[1]), default=0.0, metavar="BPM",
                        help="the tempo you count: the beats move to the octave nearest it, before --tempo; "
                             f"{HINT_RANGE_BPM[0]:g} to {HINT_RANGE_BPM[1]:g}, 0 = none (default: %(default)g)")
    parser.add_argument("--beat-tracker", choices=BEAT_TRACKERS, default=DEFAULT_BEAT_TRACKER,
                        help="learned: the small beat/downbeat network, its beats checked against the bass, the "
                             "rule-based tracker where it is unsure; dsp: the rule-based tracker alone; network: "
                             "the network alone (default: %(default)s)")
    parser.add_argument("--energy", type=number_in(*ENERGY_RANGE), default=1.0,
                        help=f"size of the moves, {ENERGY_RANGE[0]:g} to {ENERGY_RANGE[1]:g} (default: %(default)g)")
    parser.add_argument("--draw", choices=sorted(DRAW_STYLES), default="dwpose",
                        help="skeleton drawing convention (default: %(default)s)")
    parser.add_argument("--renderer", choices=RENDERERS, default="puppet",
                        help="puppet: the picture itself dances; or a skeleton over the picture or on black "
                             "(default: %(default)s)")
    parser.add_argument("--pose-json", type=Path,
                        help="reference pose of the picture, POSE_KEYPOINT JSON (default: detected in the picture)")
    parser.add_argument("--rtmlib-model", type=Path,
                        help="whole-body ONNX model (RTMW/DWPose) to detect the reference pose with "
                             "(default: the built-in detector)")
    parser.add_argument("--person-index", type=number_in(0, 63, int), default=0,
                        help="which person when the picture shows several: 0 = the largest (default: %(default)s)")
    parser.add_argument("--reference", choices=[s for s in REFERENCE_SOURCES if s != "pose_keypoint"],
                        default="auto",
                        help="where the dancer's pose comes from: auto = --pose-json, else the MediaPipe detector, "
                             "else --rtmlib-model, else a default body (a guess, with a warning); default_body "
                             "asks for the guess (default: %(default)s)")
    parser.add_argument("--yaw", type=number_in(-360.0, 360.0), default=0.0,
                        help="camera yaw in degrees, 0 = front (default: %(default)g)")
    parser.add_argument("--keep-size", action="store_true",
                        help=f"render at the picture's own size; by default a picture larger than "
                             f"{WORK_MAX_SIDE_PX} px is scaled down to {WORK_MAX_SIDE_PX} px on its longer side")
    parser.add_argument("--no-data", action="store_true",
                        help="skip the .pose.json, .npz and .bvh files written beside the video")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 done, 2 a problem with the inputs, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    job = DanceJob(audio_path=args.audio, image_path=args.image, out_path=args.out, fps=args.fps, seed=args.seed,
                   style=args.style, energy_scale=args.energy, draw_style=args.draw,
                   renderer=args.renderer, pose_json=args.pose_json, rtmlib_model=args.rtmlib_model,
                   camera=Camera(yaw_deg=args.yaw), export_data=not args.no_data, keep_image_size=args.keep_size,
                   person_index=args.person_index, reference_source=args.reference,
                   tempo=args.tempo, tempo_hint_bpm=args.tempo_hint, beat_tracker=args.beat_tracker)
    started = time.perf_counter()
    try:
        result = make_dance_video(job, log=lambda message: print(f"  {message}", flush=True),
                                  progress=FrameProgress(sys.stdout))
    except ChoreoError as error:
        print(f"error: {cli_wording(str(error))}", file=sys.stderr)
        return 2
    except OSError as error:  # a disk that filled up or a folder that vanished mid-run
        print(f"error: {error.strerror or error}: {error.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    print(f"wrote {result.video_path} ({result.pose.num_frames} frames at {job.fps:g} fps, "
          f"{time.perf_counter() - started:.1f} s)")
    return 0
