"""Conversion between ``PoseSequence2D`` and ComfyUI's ``POSE_KEYPOINT`` value.

POSE_KEYPOINT is the lingua franca of pose nodes (controlnet_aux DWPose, ComfyUI
core's SDPose, pose editors), but producers disagree on details: pixels or 0..1
coordinates, ``null`` or absent parts, flat ``[x, y, c, ...]`` lists or nested
triplets, several people per frame. We write one strict form (flat lists, absolute
pixels, real canvas size, ``null`` for parts we never had) and read all of them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..errors import PoseInputError
from .layout import NUM_KEYPOINTS, PARTS
from .sequence import PoseSequence2D

_PART_KEYS = tuple(key for key, _, _ in PARTS)


def to_pose_keypoint(seq: PoseSequence2D) -> list[dict]:
    """One POSE_KEYPOINT frame dict per frame, coordinates in absolute pixels.

    A frame whose confidences are all 0 (no dancer) has ``people: []``; parts in
    ``seq.missing_parts`` are written as ``null``. Floats are the exact float32
    values, so ``to_pose_keypoint(from_pose_keypoint(to_pose_keypoint(s)))`` equals
    ``to_pose_keypoint(s)``.
    """
    frames = []
    triplets = np.concatenate([seq.keypoints_px, seq.confidence[..., None]], axis=-1).astype(np.float32)
    for frame in range(seq.num_frames):
        people = []
        if np.any(seq.confidence[frame] > 0):
            person = {}
            for key, start, count in PARTS:
                values = triplets[frame, start:start + count].reshape(-1)
                person[key] = None if key in seq.missing_parts else [float(v) for v in values]
            people.append(person)
        frames.append({"canvas_width": int(seq.canvas_width), "canvas_height": int(seq.canvas_height),
                       "people": people})
    return frames


def from_pose_keypoint(frames: Any, fps: float = 30.0, canvas_size: tuple[int, int] | None = None,
                       person_index: int | None = None) -> PoseSequence2D:
    """Read any common POSE_KEYPOINT variant into one dancer's ``PoseSequence2D``.

    frames       : list of frame dicts, a single frame dict, or the same as a JSON string.
    fps          : frame rate of the sequence (POSE_KEYPOINT carries none).
    canvas_size  : (width_px, height_px) for frames that lack ``canvas_width/height``.
    person_index : which person to follow; by default each frame's largest person
                   (bounding-box area of its confident keypoints). A frame with no
                   people, or fewer than ``person_index + 1``, becomes an absent frame
                   (all confidences 0).

    Coordinates are taken as 0..1 normalised when every |x|, |y| in the input is <= 1
    (the heuristic controlnet_aux and pose editors use) and scaled by the canvas.
    Confidences are clipped to [0, 1] (some detectors write raw scores above 1).
    A part that is null or absent in every frame ends up in ``missing_parts``.
    """
    frame_list = _as_frame_list(frames)
    width, height = _canvas(frame_list, canvas_size)
    num_frames = len(frame_list)
    data = np.zeros((num_frames, NUM_KEYPOINTS, 3), np.float64)
    seen_parts: set[str] = set()
    found_person = False
    for index, frame in enumerate(frame_list):
        people = frame.get("people")
        if people is None:
            people = []
        if not isinstance(people, list):
            raise PoseInputError(f"POSE_KEYPOINT frame {index}: 'people' must be a list of person dicts, got "
                                 f"{type(people).__name__}. Pass the output of a pose detector or editor unchanged.")
        parsed = [_parse_person(person, index, number) for number, person in enumerate(people)]
        chosen = _choose_person(parsed, person_index)
        if chosen is None:
            continue
        found_person = True
        person_data, present = chosen
        data[index] = person_data
        seen_parts |= present
    if person_index is not None and not found_person and any(f.get("people") for f in frame_list):
        raise PoseInputError(f"POSE_KEYPOINT: person_index {person_index} does not exist in any frame. "
                             "Use a smaller index, or leave it empty to follow the largest person.")
    coords = data[..., :2]
    if np.all(np.abs(coords) <= 1.0) and np.any(coords != 0):
        coords = coords * np.array([width, height], np.float64)
    confidence = np.clip(data[..., 2], 0.0, 1.0)
    missing = frozenset(key for key in _PART_KEYS if key not in seen_parts) if found_person else frozenset()
    return PoseSequence2D(coords.astype(np.float32), confidence.astype(np.float32), width, height, float(fps), missing)


def _as_frame_list(frames: Any) -> list[dict]:
    """Normalise the accepted container shapes to a non-empty list of frame dicts."""
    if isinstance(frames, (str, bytes)):
        try:
            frames = json.loads(frames)
        except json.JSONDecodeError as error:
            raise PoseInputError(f"POSE_KEYPOINT JSON text is not valid JSON ({error}). "
                                 "Pass the list of frame dicts a pose node produces.") from error
    if isinstance(frames, dict):
        frames = [frames]
    if not isinstance(frames, (list, tuple)):
        raise PoseInputError(f"POSE_KEYPOINT must be a list of frame dicts, got {type(frames).__name__}. "
                             "Connect the POSE_KEYPOINT output of a pose detector or editor.")
    if len(frames) == 0:
        raise PoseInputError("POSE_KEYPOINT holds no frames. Connect a pose input with at least one frame.")
    for index, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise PoseInputError(f"POSE_KEYPOINT frame {index} must be a dict with 'people', got "
                                 f"{type(frame).__name__}. Pass the list of frame dicts unchanged.")
        if "people" not in frame:
            raise PoseInputError(f"POSE_KEYPOINT frame {index} has no 'people' key (keys: {sorted(frame)}). "
                                 "Only human poses are supported; animal poses (AP10K) are not.")
    return list(frames)


def _canvas(frames: list[dict], canvas_size: tuple[int, int] | None) -> tuple[int, int]:
    """One canvas for the whole sequence: the frames' own size, else ``canvas_size``."""
    sizes = set()
    for index, frame in enumerate(frames):
        if "canvas_width" in frame or "canvas_height" in frame:
            size = (_positive_int(frame.get("canvas_width"), index, "canvas_width"),
                    _positive_int(frame.get("canvas_height"), index, "canvas_height"))
            sizes.add(size)
            if len(sizes) > 1:
                raise PoseInputError(f"POSE_KEYPOINT frame {index}: canvas {size[0]}x{size[1]} differs from earlier "
                                     f"frames ({sorted(sizes)}). All frames of one sequence must share a canvas.")
    if sizes:
        return sizes.pop()
    if canvas_size is None:
        raise PoseInputError("POSE_KEYPOINT frames have no 'canvas_width'/'canvas_height'. "
                             "Give canvas_size=(width_px, height_px) of the image the poses belong to.")
    return _positive_int(canvas_size[0], 0, "canvas_size width"), _positive_int(canvas_size[1], 0, "canvas_size height")


def _positive_int(value: Any, index: int, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1 or value != int(value):
        raise PoseInputError(f"POSE_KEYPOINT frame {index}: '{key}' must be a positive whole number of pixels, "
                             f"got {value!r}. Fix the canvas size in the pose data.")
    return int(value)


def _parse_person(person: Any, frame: int, number: int) -> tuple[np.ndarray, set[str]]:
    """(136, 3) x, y, c of one person, and the part keys that were present."""
    if not isinstance(person, dict):
        raise PoseInputError(f"POSE_KEYPOINT frame {frame}, people[{number}] must be a dict of keypoint lists, "
                             f"got {type(person).__name__}.")
    data = np.zeros((NUM_KEYPOINTS, 3), np.float64)
    present = set()
    for key, start, count in PARTS:
        values = person.get(key)
        if values is None:
            continue
        data[start:start + count] = _parse_part(values, count, frame, number, key)
        present.add(key)
    return data, present


def _parse_part(values: Any, count: int, frame: int, number: int, key: str) -> np.ndarray:
    where = f"POSE_KEYPOINT frame {frame}, people[{number}].{key}"
    if not isinstance(values, (list, tuple)):
        raise PoseInputError(f"{where} must be a list of numbers, got {type(values).__name__}.")
    if len(values) == 0:
        return np.zeros((count, 3))
    if isinstance(values[0], (list, tuple)):
        if len(values) != count or any(not isinstance(v, (list, tuple)) or len(v) != 3 for v in values):
            raise PoseInputError(f"{where}: expected {count} [x, y, confidence] triplets, got {len(values)} "
                                 "entries or a triplet of another length. Send complete keypoint lists.")
        values = [item for triplet in values for item in triplet]
    if len(values) != 3 * count:
        raise PoseInputError(f"{where}: expected {3 * count} numbers ({count} keypoints as x, y, confidence), "
                             f"got {len(values)}. Send complete keypoint lists, or null for a missing part.")
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise PoseInputError(f"{where}: every value must be a finite number, got {item!r}. "
                                 "Write missing keypoints as 0, 0, 0.")
    return np.asarray(values, np.float64).reshape(count, 3)


def _choose_person(parsed: list[tuple[np.ndarray, set[str]]],
                   person_index: int | None) -> tuple[np.ndarray, set[str]] | None:
    if person_index is not None:
        return parsed[person_index] if 0 <= person_index < len(parsed) else None
    if not parsed:
        return None
    return max(parsed, key=lambda item: _bbox_area(item[0]))


def _bbox_area(data: np.ndarray) -> float:
    points = data[data[:, 2] > 0, :2]
    if len(points) < 2:
        return 0.0
    extent = points.max(axis=0) - points.min(axis=0)
    return float(extent[0] * extent[1])
