"""Puppet renderer: set-up time, frames/s at 512x768, and example frames (docs/puppet/).

Dances the bundled demo character and, when ../shared/data/images is present, the
three reference photos there (with hand-placed reference poses: no detector
weights are available offline) to the bundled demo track.

    python bench/bench_puppet.py
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from choreo.io.audio_files import load_audio  # noqa: E402
from choreo.io.image_files import load_image  # noqa: E402
from choreo.motion.choreographer import choreograph  # noqa: E402
from choreo.music.analyze import analyze_music  # noqa: E402
from choreo.pipeline import DanceJob, reference_for  # noqa: E402
from choreo.pose.projection import project_motion  # noqa: E402
from choreo.pose.reference import reference_from_pose_keypoint  # noqa: E402
from choreo.pose.retarget import skeleton_from_reference  # noqa: E402
from choreo.render.puppet import build_puppet, iter_puppet_frames  # noqa: E402

IMAGES = REPO.parent / "shared" / "data" / "images"
DOCS = REPO / "docs" / "puppet"
# Hand-placed OpenPose body points (x, y) in each photo's pixels; unseen joints are left out.
PHOTO_POSES = {
    "astronaut.png": {"nose": (224, 140), "neck": (224, 215), "right_shoulder": (125, 265), "left_shoulder": (318, 262),
                      "right_elbow": (70, 400), "right_wrist": (150, 480), "left_elbow": (350, 410),
                      "left_wrist": (300, 470), "right_eye": (205, 125), "left_eye": (245, 125),
                      "right_ear": (180, 135), "left_ear": (265, 135)},
    "camera.png": {"nose": (205, 150), "neck": (178, 190), "right_shoulder": (158, 220), "left_shoulder": (198, 210),
                   "right_elbow": (128, 300), "right_wrist": (228, 200), "left_elbow": (258, 250),
                   "left_wrist": (278, 190), "right_hip": (112, 380), "left_hip": (124, 380),
                   "right_knee": (120, 470), "left_knee": (132, 470)},
    "grace_hopper.jpg": {"nose": (256, 240), "neck": (256, 350), "right_shoulder": (86, 390),
                         "left_shoulder": (426, 390), "right_eye": (220, 200), "left_eye": (292, 200),
                         "right_ear": (170, 215), "left_ear": (342, 215)},
}
NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
         "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
         "right_ear", "left_ear")


def pose_keypoint(points: dict, width: int, height: int) -> list[dict]:
    flat = []
    for name in NAMES:
        x, y = points.get(name, (0, 0))
        flat += [float(x), float(y), 1.0 if name in points else 0.0]
    return [{"canvas_width": width, "canvas_height": height, "people": [{"pose_keypoints_2d": flat}]}]


def dance_for(image: np.ndarray, reference, analysis):
    motion = choreograph(analysis, seed=3)
    motion = motion.with_skeleton(skeleton_from_reference(reference, motion.skeleton))
    return project_motion(motion, reference.canvas_width, reference.canvas_height, reference=reference)


def measure(name: str, image: np.ndarray, reference, analysis, rows: list, frames_to_save=(0, 45, 90, 135, 180)):
    started = time.perf_counter()
    puppet = build_puppet(image, reference)
    setup_s = time.perf_counter() - started
    pose = dance_for(image, reference, analysis).slice_frames(0, 240)
    started = time.perf_counter()
    frames = {}
    for index, frame in enumerate(iter_puppet_frames(puppet, pose)):
        if index in frames_to_save:
            frames[index] = frame
    fps = pose.num_frames / (time.perf_counter() - started)
    height, width = image.shape[:2]
    thumb_width = 200
    thumb_height = int(round(thumb_width * height / width))
    strip = np.concatenate([cv2.resize(f, (thumb_width, thumb_height), interpolation=cv2.INTER_AREA)
                            for f in frames.values()], axis=1)
    DOCS.mkdir(parents=True, exist_ok=True)
    out = DOCS / f"{Path(name).stem}.jpg"
    cv2.imwrite(str(out), strip[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    rows.append((name, f"{width}x{height}", f"{setup_s:.2f}", f"{fps:.1f}", str(out.relative_to(REPO))))


def main() -> None:
    analysis = analyze_music(load_audio(REPO / "assets" / "demo_track.ogg"))
    rows: list[tuple] = []
    demo = load_image(REPO / "assets" / "demo_character.png")
    measure("demo_character.png", demo, reference_for(DanceJob(), demo), analysis, rows)
    if IMAGES.is_dir():
        for name, points in PHOTO_POSES.items():
            image = load_image(IMAGES / name)
            height, width = image.shape[:2]
            reference = reference_from_pose_keypoint(pose_keypoint(points, width, height), (width, height))
            measure(name, image, reference, analysis, rows)
    else:
        print(f"(no {IMAGES}: photos skipped)")
    print("| picture | size | set-up s | frames/s | example frames |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
