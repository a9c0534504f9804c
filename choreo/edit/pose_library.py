"""The pose library: starter poses shipped with the pack plus the user's saved poses and short moves.

Each pose is one JSON file named after the pose in one of two folders. Names
are restricted to ``[A-Za-z0-9 _-]{1,64}`` so a name can never leave its
folder; files are written atomically (temporary file, then rename), so a
failed save never damages a stored pose. Starter poses are read-only.

File format (both folders)::

    {"name": "arms_up", "canvas_width": 512, "canvas_height": 768,
     "keypoints": [[x, y, c] x 136]            # one pose, or a list of such frames (a short move)
    }

Starter files may instead hold one POSE_KEYPOINT person, ``"people": [{"pose_keypoints_2d": [...]}]``
(18 body points and any other parts), plus free metadata such as ``description``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PoseInputError
from ..io.atomic import write_atomically
from ..pose.layout import NUM_KEYPOINTS, PARTS

NAME_PATTERN = re.compile(r"[A-Za-z0-9 _-]{1,64}")
MAX_FRAMES = 600  # 20 s at 30 fps: a library entry is a pose or a short move, not a dance
MAX_CANVAS_PX = 16384


class PoseNotFoundError(PoseInputError):
    """No pose of that name in the library."""


class PoseExistsError(PoseInputError):
    """Saving would replace a starter pose, or a user pose without ``overwrite``."""


@dataclass(frozen=True)
class LibraryPose:
    """keypoints : (F, 136, 3) float32 x_px, y_px, confidence on a canvas of canvas_width x canvas_height."""

    name: str
    source: str
    canvas_width: int
    canvas_height: int
    keypoints: np.ndarray

    def to_json(self) -> dict:
        frames = self.keypoints.round(3).tolist()
        return {"name": self.name, "canvas_width": self.canvas_width, "canvas_height": self.canvas_height,
                "keypoints": frames[0] if len(frames) == 1 else frames}


def check_name(name: object) -> str:
    """The name itself if it is a valid pose name, else PoseInputError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or not name.strip():
        raise PoseInputError(f"pose name {name!r} is not allowed: use 1 to 64 letters, digits, spaces, '_' or '-' "
                             "(no slashes, dots or other characters).")
    return name


class PoseLibrary:
    """Starter poses (read-only) and user poses (read-write) in two folders."""

    def __init__(self, starter_dir: Path, user_dir: Path):
        self.starter_dir = Path(starter_dir)
        self.user_dir = Path(user_dir)

    def entries(self) -> list[dict]:
        """[{"name", "source": "starter" | "user", "frames"}] sorted by source then name; unreadable files skipped."""
        entries, seen = [], set()
        for source, folder in (("starter", self.starter_dir), ("user", self.user_dir)):
            for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                name = path.stem
                if not NAME_PATTERN.fullmatch(name) or name.lower() in seen:
                    continue
                try:
                    pose = self._read(path, name, source)
                except PoseInputError:
                    continue
                seen.add(name.lower())
                entries.append({"name": name, "source": source, "frames": int(len(pose.keypoints))})
        return entries

    def load(self, name: str) -> LibraryPose:
        check_name(name)
        for source, folder in (("starter", self.starter_dir), ("user", self.user_dir)):
            path = folder / f"{name}.json"
            if path.is_file():
                return self._read(path, name, source)
        raise PoseNotFoundError(f"no pose named {name!r} in the library; GET /choreo/poses lists the names.")

    def save(self, name: str, canvas_width: object, canvas_height: object, keypoints: object,
             overwrite: bool = False) -> Path:
        """Validate and write a user pose; returns its path. Nothing is written when anything is invalid."""
        check_name(name)
        if (self.starter_dir / f"{name}.json").exists() or name.lower() in self._starter_names():
            raise PoseExistsError(f"{name!r} is a starter pose and cannot be replaced; save under another name.")
        width = _canvas_size(canvas_width, "canvas_width")
        height = _canvas_size(canvas_height, "canvas_height")
        frames = parse_keypoints(keypoints)
        path = self.user_dir / f"{name}.json"
        if path.exists() and not overwrite:
            raise PoseExistsError(f"a user pose named {name!r} exists; send \"overwrite\": true to replace it.")
        pose = LibraryPose(name, "user", width, height, frames)
        return write_atomically(path, lambda file: json.dump(pose.to_json(), file), binary=False)

    def _starter_names(self) -> set[str]:
        return {path.stem.lower() for path in self.starter_dir.glob("*.json")} if self.starter_dir.is_dir() else set()

    @staticmethod
    def _read(path: Path, name: str, source: str) -> LibraryPose:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PoseInputError(f"pose file {path} cannot be read ({error}); fix or delete it.") from None
        if not isinstance(data, dict):
            raise PoseInputError(f"pose file {path} must hold a JSON object.")
        width = _canvas_size(data.get("canvas_width"), f"{path.name} canvas_width")
        height = _canvas_size(data.get("canvas_height"), f"{path.name} canvas_height")
        if "keypoints" in data:
            frames = parse_keypoints(data["keypoints"])
        else:
            frames = _from_people(data.get("people"), path.name)
        return LibraryPose(name, source, width, height, frames)


def parse_keypoints(raw: object) -> np.ndarray:
    """(F, 136, 3) float32 from [[x, y, c] x 136] or a list of such frames; PoseInputError otherwise."""
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise PoseInputError(f"keypoints must be [[x, y, confidence] x {NUM_KEYPOINTS}] or a list of such frames "
                             "(numbers only, every frame the same size).") from None
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (NUM_KEYPOINTS, 3):
        raise PoseInputError(f"keypoints have shape {array.shape}; expected ({NUM_KEYPOINTS}, 3) or "
                             f"(frames, {NUM_KEYPOINTS}, 3) as x, y, confidence in canvas pixels.")
    if not 1 <= len(array) <= MAX_FRAMES:
        raise PoseInputError(f"a library entry holds 1 to {MAX_FRAMES} frames, got {len(array)}.")
    if not np.all(np.isfinite(array)):
        raise PoseInputError("keypoints contain NaN or infinite values.")
    return array.astype(np.float32)


def _from_people(people: object, file_name: str) -> np.ndarray:
    if not (isinstance(people, list) and people and isinstance(people[0], dict)):
        raise PoseInputError(f"pose file {file_name} needs \"keypoints\" or \"people\": [{{\"pose_keypoints_2d\": "
                             "[...]}].")
    frame = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for key, start, count in PARTS:
        values = people[0].get(key)
        if values is None:
            continue
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
        if flat.size != 3 * count or not np.all(np.isfinite(flat)):
            raise PoseInputError(f"pose file {file_name}: {key} must hold {3 * count} finite numbers, got "
                                 f"{flat.size}.")
        frame[start:start + count] = flat.reshape(count, 3)
    return frame[None]


def _canvas_size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CANVAS_PX:
        raise PoseInputError(f"{name} is {value!r}; it must be an integer number of pixels in 1..{MAX_CANVAS_PX}.")
    return value
