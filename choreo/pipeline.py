"""The main job, end to end: song + picture -> a dance video with the music.

This is the embedded default (beat choreographer, no weights, CPU). The CLI and
the benchmarks call it; the ComfyUI quick-start workflow wires the same steps
as nodes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .io.audio_files import load_audio
from .io.image_files import load_image
from .io.motion_files import save_motion_bvh, save_motion_npz
from .io.pose_json import load_pose_json, save_pose_json
from .io.video_export import write_mp4
from .motion.choreographer import choreograph
from .motion.motion3d import Motion3D
from .music.analysis import MusicAnalysis
from .music.analyze import analyze_music
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
    person_index: int = 0
    reference_source: str = "auto"


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


def make_dance_video(job: DanceJob, log: Callable[[str], None] = lambda message: None) -> DanceResult:
    """Run the whole job and write ``job.out_path`` (+ .pose.json, .npz, .bvh when ``export_data``)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now
        log(f"{stage}: {timings[stage]:.2f} s")

    audio = load_audio(job.audio_path)
    image_rgb = load_image(job.image_path)
    lap("load")
    fit = reference_for(job, image_rgb)
    if fit.warning:
        log(f"warning: {fit.warning}")
    reference = fit.pose
    lap(f"fit the person ({fit.source})")
    analysis = analyze_music(audio, fps=job.fps)
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
    out_path = Path(job.out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter_dance_frames(pose, job.renderer, reference_image=image_rgb, draw_style=job.draw_style,
                               reference_pose=reference, figure_mask=fit.mask)
    write_mp4(out_path, frames, fps=job.fps, audio=audio, num_frames=pose.num_frames)
    lap("render and encode")
    if job.export_data:
        stem = out_path.with_suffix("")
        save_pose_json(pose, stem.with_suffix(".pose.json"))
        save_motion_npz(motion, stem.with_suffix(".npz"))
        save_motion_bvh(motion, stem.with_suffix(".bvh"))
        lap("export data")
    return DanceResult(out_path, analysis, motion, pose, timings)
