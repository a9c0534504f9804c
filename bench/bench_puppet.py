"""Puppet renderer: set-up time, frames/s at 512x768, and example frames (docs/puppet/).

Dances the bundled demo character and, when ../shared/data/images is present, the
three reference photos there (with hand-placed reference poses: no detector
weights are available offline) to the bundled demo track; two photos also with a
hand-traced person mask, as a segmenter would give. Writes 4-frame strips to
docs/puppet/<picture>_after.jpg and <picture>_after_outline.jpg (<picture>.jpg
are the frames of the earlier renderer, kept for comparison).

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
# Hand-traced outlines of the person (x, y), standing in for a segmenter's mask (the pipeline passes
# MediaPipe's); the puppet is rendered once with its own GrabCut cut-out and once with this mask.
PHOTO_OUTLINES = {
    "astronaut.png": [(200, 18), (235, 15), (270, 25), (295, 50), (300, 85), (292, 115), (280, 140), (285, 155),
                      (300, 170), (305, 200), (302, 240), (330, 265), (350, 290), (360, 330), (362, 360), (330, 352),
                      (300, 370), (285, 400), (278, 440), (280, 511), (22, 511), (20, 420), (25, 330), (40, 290),
                      (80, 240), (120, 215), (115, 190), (130, 160), (160, 145), (175, 135), (160, 110), (155, 70),
                      (165, 40)],
    "grace_hopper.jpg": [(250, 22), (275, 25), (310, 40), (345, 65), (355, 85), (370, 100), (372, 130), (370, 160),
                         (365, 175), (372, 200), (365, 240), (355, 275), (340, 300), (330, 320), (345, 335), (380, 350),
                         (440, 370), (480, 390), (500, 410), (511, 440), (511, 599), (15, 599), (20, 520), (30, 420),
                         (45, 390), (90, 365), (150, 345), (195, 330), (175, 300), (165, 260), (155, 220), (150, 180),
                         (148, 140), (150, 110), (170, 70), (180, 45), (215, 28)],
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


def outline_mask(outline: list, width: int, height: int) -> np.ndarray:
    """A soft (H, W) float32 0..1 person mask from a traced outline, like a segmenter's output."""
    mask = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [np.array(outline, np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), 1.5)


def measure(name: str, image: np.ndarray, reference, analysis, rows: list, mask: np.ndarray | None = None,
            cut: str = "GrabCut", suffix: str = "_after", frames_to_save=(0, 60, 90, 210)):
    started = time.perf_counter()
    puppet = build_puppet(image, reference, mask=mask)
    setup_s = time.perf_counter() - started
    pose = dance_for(image, reference, analysis).slice_frames(0, 240)
    started = time.perf_counter()
    frames = {}
    for index, frame in enumerate(iter_puppet_frames(puppet, pose)):
        if index in frames_to_save:
            frames[index] = frame
    fps = pose.num_frames / (time.perf_counter() - started)
    height, width = image.shape[:2]
    thumb_width = 240
    thumb_height = int(round(thumb_width * height / width))
    strip = np.concatenate([cv2.resize(f, (thumb_width, thumb_height), interpolation=cv2.INTER_AREA)
                            for f in frames.values()], axis=1)
    DOCS.mkdir(parents=True, exist_ok=True)
    out = DOCS / f"{Path(name).stem}{suffix}.jpg"
    cv2.imwrite(str(out), strip[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    rows.append((name, f"{width}x{height}", cut, f"{setup_s:.2f}", f"{fps:.1f}", str(out.relative_to(REPO)),
                 " ".join(puppet.notes) or "-"))


def main() -> None:
    analysis = analyze_music(load_audio(REPO / "assets" / "demo_track.ogg"))
    rows: list[tuple] = []
    demo = load_image(REPO / "assets" / "demo_character.png")
    fit = reference_for(DanceJob(), demo)  # a ReferenceFit (pose, mask) or, before it existed, the pose itself
    mask = getattr(fit, "mask", None)
    measure("demo_character.png", demo, getattr(fit, "pose", fit), analysis, rows, mask=mask,
            cut="GrabCut" if mask is None else "reference mask")
    if IMAGES.is_dir():
        for name, points in PHOTO_POSES.items():
            image = load_image(IMAGES / name)
            height, width = image.shape[:2]
            reference = reference_from_pose_keypoint(pose_keypoint(points, width, height), (width, height))
            measure(name, image, reference, analysis, rows)
            if name in PHOTO_OUTLINES:
                mask = outline_mask(PHOTO_OUTLINES[name], width, height)
                measure(name, image, reference, analysis, rows, mask=mask, cut="traced mask", suffix="_after_outline")
    else:
        print(f"(no {IMAGES}: photos skipped)")
    print("| picture | size | cut-out | set-up s | frames/s | example frames | puppet notes |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
