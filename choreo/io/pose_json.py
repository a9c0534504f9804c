"""Pose sequences as JSON files: POSE_KEYPOINT frames plus the frame rate.

POSE_KEYPOINT has no clock, so a file written here wraps the frame list as
``{"format": "choreo.pose_keypoint", "version": 1, "fps": 30.0, "frames": [...]}``.
Loading also accepts the bare frame list other pose nodes save (controlnet_aux's
``SavePoseKpsAsJsonFile``) and a single frame dict.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import PoseInputError
from ..pose.keypoint_format import from_pose_keypoint, to_pose_keypoint
from ..pose.sequence import PoseSequence2D

FORMAT_NAME = "choreo.pose_keypoint"
FORMAT_VERSION = 1
DEFAULT_FPS = 30.0
BODY_KEY = "pose_keypoints_2d"


def save_pose_json(seq: PoseSequence2D, path: str | Path, decimals: int | None = None) -> Path:
    """Write ``seq`` as POSE_KEYPOINT frames with its fps; returns the path written.

    decimals : round coordinates (px) and confidences to this many decimals and write whole
               numbers without ``.0``; 2 makes a dance's file 2.4x smaller, 0.01 px off
               at most. None writes the exact float32 values.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    frames = to_pose_keypoint(seq)
    if decimals is not None:
        frames = [_rounded_frame(frame, decimals) for frame in frames]
    payload = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": float(seq.fps), "frames": frames}
    target.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")
    return target


def _rounded_frame(frame: dict, decimals: int) -> dict:
    """A POSE_KEYPOINT frame dict with every keypoint value rounded; ``null`` parts stay null."""
    def compact(value: float) -> float | int:
        rounded = round(value, decimals)
        return int(rounded) if rounded.is_integer() else rounded

    people = [{key: None if values is None else [compact(v) for v in values] for key, values in person.items()}
              for person in frame["people"]]
    return {**frame, "people": people}


def load_pose_json(path: str | Path, fps: float | None = None) -> PoseSequence2D:
    """Read a pose JSON file; ``fps`` overrides the file's, else the file's or 30 for bare lists."""
    source = Path(path)
    if not source.is_file():
        raise PoseInputError(f"Pose JSON file '{source}' does not exist. Check the path.")
    try:
        content = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PoseInputError(f"Pose JSON file '{source}' is not valid JSON ({error}). "
                             "Save it again from a pose node.") from error
    frames = content
    file_fps = None
    if isinstance(content, dict) and "frames" in content:
        frames = content["frames"]
        file_fps = content.get("fps")
        if file_fps is not None and (isinstance(file_fps, bool) or not isinstance(file_fps, (int, float))
                                     or not file_fps > 0):
            raise PoseInputError(f"Pose JSON file '{source}': 'fps' must be a positive number, got {file_fps!r}.")
    chosen_fps = fps if fps is not None else (file_fps if file_fps is not None else DEFAULT_FPS)
    try:
        seq = from_pose_keypoint(frames, fps=float(chosen_fps))
    except PoseInputError as error:
        raise PoseInputError(f"Pose JSON file '{source}': {error}") from error
    _check_dancer_visible(seq, source)
    return seq


def _check_dancer_visible(seq: PoseSequence2D, source: Path) -> None:
    """Refuse files that would render no dancer: people without body keypoints, or every point off the canvas."""
    if BODY_KEY in seq.missing_parts:
        raise PoseInputError(f"Pose JSON file '{source}': no person in any frame has '{BODY_KEY}' (the 18 body "
                             "keypoints), so there is no body to dance. Export the pose with its body keypoints.")
    seen = seq.confidence > 0
    if not seen.any():
        return
    x, y = seq.keypoints_px[..., 0], seq.keypoints_px[..., 1]
    on_canvas = seen & (x >= 0) & (x <= seq.canvas_width) & (y >= 0) & (y <= seq.canvas_height)
    if not on_canvas.any():
        seen_px = seq.keypoints_px[seen]
        raise PoseInputError(
            f"Pose JSON file '{source}': every keypoint lies outside its {seq.canvas_width}x{seq.canvas_height} px "
            f"canvas (x {seen_px[:, 0].min():g}..{seen_px[:, 0].max():g}, y {seen_px[:, 1].min():g}.."
            f"{seen_px[:, 1].max():g}), so no dancer would be drawn. Check canvas_width/canvas_height and that "
            "coordinates are pixels (or all 0-1).")
