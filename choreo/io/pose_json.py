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


def save_pose_json(seq: PoseSequence2D, path: str | Path) -> Path:
    """Write ``seq`` as POSE_KEYPOINT frames with its fps; returns the path written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": float(seq.fps),
               "frames": to_pose_keypoint(seq)}
    target.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")
    return target


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
        return from_pose_keypoint(frames, fps=float(chosen_fps))
    except PoseInputError as error:
        raise PoseInputError(f"Pose JSON file '{source}': {error}") from error
