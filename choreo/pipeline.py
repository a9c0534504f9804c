"""The main job, end to end: song + picture -> a dance video with the music.

This is the embedded default (beat choreographer, no weights, CPU). The CLI and
the benchmarks call it; the ComfyUI quick-start workflow wires the same steps
as nodes.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .io.audio_files import load_audio
from .io.image_files import WORK_MAX_SIDE_PX, image_size_px, load_image
from .io.motion_files import save_motion_bvh, save_motion_npz
from .io.pose_json import load_pose_json, save_pose_json
from .io.sidecars import sidecar_paths
from .io.video_export import VideoExportError, write_mp4
from .motion.choreographer import choreograph
from .motion.motion3d import Motion3D
from .music.analysis import MusicAnalysis
from .music.analyze import DEFAULT_BEAT_TRACKER, analyze_music
from .music.tempo_octave import check_tempo_choice
from .numba_cache import librosa_kernel_file, numba_cache_is_warm
from .pose.keypoint_format import to_pose_keypoint
from .pose.projection import Camera, project_motion
from .pose.reference import ReferenceFit, fit_reference
from .pose.retarget import skeleton_from_reference
from .pose.sequence import PoseSequence2D
from .render.dance_frames import iter_dance_frames

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
DEMO_AUDIO = ASSETS_DIR / "demo_track.ogg"
DEMO_IMAGE = ASSETS_DIR / "demo_character.png"
DEMO_POSE = ASSETS_DIR / "demo_character_pose.json"
VIDEO_SUFFIX = ".mp4"
OTHER_VIDEO_SUFFIXES = {".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}
POSE_JSON_DECIMALS = 2  # 0.01 px: exact enough for any pose tool, 2.4x smaller than float32 reprs

RenderProgressFn = Callable[[int, int], None]  # (frames written, total frames)


@dataclass(frozen=True)
class DanceJob:
    """Everything the main job needs; paths are the user's files, the rest has working defaults."""

    audio_path: Path = DEMO_AUDIO
    image_path: Path = DEMO_IMAGE
    out_path: Path = Path("out/dance.mp4")
    fps: float = 30.0
    seed: int = 0
    style: str = "mixed"
    energy_scale: float = 1.0
    draw_style: str = "dwpose"
    renderer: str = "puppet"
    pose_json: Path | None = None
    rtmlib_model: Path | None = None
    camera: Camera = field(default_factory=Camera)
    export_data: bool = True
    keep_image_size: bool = False  # False: work at WORK_MAX_SIDE_PX (faster set-up and render, smaller video)
    person_index: int = 0
    reference_source: str = "auto"
    tempo: str = "auto"  # or "half" / "double": the octave the beats are counted at (music.tempo_octave)
    tempo_hint_bpm: float = 0.0  # the tempo the user counts; 0 = none
    beat_tracker: str = DEFAULT_BEAT_TRACKER  # "dsp" or "learned" (music.learned_beats); analyze.BEAT_TRACKERS


@dataclass(frozen=True)
class DanceResult:
    video_path: Path
    analysis: MusicAnalysis
    motion: Motion3D
    pose: PoseSequence2D
    seconds_per_stage: dict[str, float]


def reference_for(job: DanceJob, image_rgb) -> ReferenceFit:
    """The person to fit the dance onto: a pose JSON if given (the demo character has its own), else
    ``fit_reference``: MediaPipe's detector, then rtmlib, then a default body with a warning."""
    pose_json = job.pose_json
    if pose_json is None and Path(job.image_path).resolve() == DEMO_IMAGE.resolve() and DEMO_POSE.exists():
        pose_json = DEMO_POSE
    pose_keypoint = to_pose_keypoint(load_pose_json(pose_json)) if pose_json is not None else None
    source = "rtmlib" if job.rtmlib_model is not None and pose_keypoint is None else job.reference_source
    return fit_reference(image_rgb, pose_keypoint, job.rtmlib_model, job.person_index, source=source)


def check_output_path(out_path: str | Path) -> Path:
    """Refuse an output path that would only fail after minutes of work; create its folder.

    It must not be a folder, must end in .mp4, and its folder must be creatable and writable
    (checked by creating and removing a probe file there: permission bits alone misjudge ACLs and mounts).
    """
    out = Path(out_path)
    if out.is_dir():
        raise VideoExportError(f"output {str(out)!r} is a folder; give a file name such as "
                               f"{str(out / 'dance.mp4')!r}.")
    if out.suffix.lower() != VIDEO_SUFFIX:
        other_video = out.suffix.lower() in OTHER_VIDEO_SUFFIXES
        fixed = out.with_suffix(VIDEO_SUFFIX) if other_video else out.with_name(out.name + VIDEO_SUFFIX)
        raise VideoExportError(f"output {str(out)!r} must end in {VIDEO_SUFFIX} (Choreo writes H.264 MP4), "
                               f"e.g. {str(fixed)!r}.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as error:
        raise VideoExportError(f"cannot write into folder {str(out.parent)!r} ({error.strerror or error}). "
                               "Choose an output path in a folder you can write to.") from error
    return out


def working_image(job: DanceJob, log: Callable[[str], None]) -> np.ndarray:
    """(H, W, 3) uint8 picture to dance, scaled down to ``WORK_MAX_SIDE_PX`` unless ``job.keep_image_size``."""
    width, height = image_size_px(job.image_path)
    image_rgb = load_image(job.image_path, max_side_px=None if job.keep_image_size else WORK_MAX_SIDE_PX)
    if image_rgb.shape[:2] != (height, width):
        log(f"picture is {width}x{height} px; working at {image_rgb.shape[1]}x{image_rgb.shape[0]} px "
            "(keep the original size with --keep-size)")
    return image_rgb


def make_dance_video(job: DanceJob, log: Callable[[str], None] = lambda message: None,
                     progress: RenderProgressFn | None = None) -> DanceResult:
    """Run the whole job and write ``job.out_path`` (+ .pose.json, .npz, .bvh when ``export_data``).

    log      : receives one line per stage (timings, what was chosen, warnings).
    progress : called as ``progress(frames_written, total_frames)`` while rendering, from (0, total).
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now
        log(f"{stage}: {timings[stage]:.2f} s")

    check_tempo_choice(job.tempo, job.tempo_hint_bpm)
    out_path = check_output_path(job.out_path)
    audio = load_audio(job.audio_path)
    image_rgb = working_image(job, log)
    lap("load")
    fit = reference_for(job, image_rgb)
    if fit.warning:
        log(f"warning: {fit.warning}")
    reference = fit.pose
    lap(f"fit the person ({fit.source})")
    if not numba_cache_is_warm(librosa_kernel_file()):
        log("first run: compiling the audio analysis (once, ~30 s)")
    analysis = analyze_music(audio, fps=job.fps, tempo=job.tempo, tempo_hint_bpm=job.tempo_hint_bpm,
                             beat_tracker=job.beat_tracker)
    log(f"tempo {analysis.tempo_bpm:.1f} BPM, {len(analysis.beat_times_s)} beats, "
        f"{analysis.beats_per_bar}/4 meter, sections {''.join(s.label for s in analysis.sections)}")
    for note in analysis.notes:
        log(f"warning: {note}")
    lap("analyze music")
    motion = choreograph(analysis, seed=job.seed, style=job.style, energy_scale=job.energy_scale)
    lap("choreograph")
    motion = motion.with_skeleton(skeleton_from_reference(reference, motion.skeleton))
    pose = project_motion(motion, reference.canvas_width, reference.canvas_height, camera=job.camera,
                          reference=reference)
    lap("retarget and project")
    frames = iter_dance_frames(pose, job.renderer, reference_image=image_rgb, draw_style=job.draw_style,
                               reference_pose=reference, figure_mask=fit.mask,
                               note=lambda sentence: log(f"note: {sentence}"))
    report = (lambda fraction: progress(round(fraction * pose.num_frames), pose.num_frames)) if progress else None
    if progress:
        progress(0, pose.num_frames)
    write_mp4(out_path, frames, fps=job.fps, audio=audio, num_frames=pose.num_frames, progress=report)
    lap("render and encode")
    if job.export_data:
        sidecars = sidecar_paths(out_path)
        save_pose_json(pose, sidecars.pose_json, decimals=POSE_JSON_DECIMALS)
        save_motion_npz(motion, sidecars.motion_npz)
        save_motion_bvh(motion, sidecars.motion_bvh)
        lap("export data")
    return DanceResult(out_path, analysis, motion, pose, timings)
