"""A dancer's poses from a video (a Wan-Dancer render, a phone clip), so any dance can be edited in Choreo.

Each frame starts from the crop the previous frame's landmarks point to (one BlazePose pass, as
MediaPipe tracks); a frame where that crop loses the body gets the full photo search again. The
result keeps the video's own frame clock. Per-frame detection jitters a little: the Smooth Pose
Sequence filter is the usual next step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import PoseInputError
from .layout import NUM_KEYPOINTS
from .mediapipe_models import MediaPipeModels, find_models
from .person_detector import DetectedPerson, detect_person, follow_person
from .sequence import PoseSequence2D


def poses_from_video(frames: Iterable[np.ndarray], fps: float, person_index: int = 0,
                     models: MediaPipeModels | None = None, model_folders: Iterable[Path] = (),
                     with_parts: bool = False, progress: Callable[[int], None] = lambda frames_done: None,
                     ) -> PoseSequence2D:
    """Track one person through ``frames`` ((H, W, 3) uint8 RGB, all the same size) at ``fps``.

    person_index : which person of the first frame where anyone is found (0 = the largest).
    with_parts   : also run the face-mesh and hand models on every frame (about 3x slower).
    progress     : called with the number of frames done after each frame (and may raise to stop).
    returns      : PoseSequence2D with one frame per video frame; frames with nobody have confidence 0.
    Raises PoseInputError when there are no frames or nobody is found in any of them.
    """
    if not fps > 0:
        raise PoseInputError(f"fps must be positive, got {fps}. Give the video's frame rate.")
    models = models or find_models(model_folders)
    points: list[np.ndarray] = []
    confidence: list[np.ndarray] = []
    canvas: tuple[int, int] | None = None
    person: DetectedPerson | None = None
    for index, frame in enumerate(frames):
        height, width = np.asarray(frame).shape[:2]
        if canvas is None:
            canvas = (width, height)
        elif canvas != (width, height):
            raise PoseInputError(f"video frame {index} is {width}x{height} px but frame 0 is "
                                 f"{canvas[0]}x{canvas[1]} px; give frames of one size.")
        person = follow_person(frame, person, models, with_parts=with_parts) if person is not None else None
        if person is None:
            try:
                person = detect_person(frame, person_index, models, with_parts=with_parts)
            except PoseInputError:
                person = None
        if person is None:
            points.append(np.zeros((NUM_KEYPOINTS, 2), np.float32))
            confidence.append(np.zeros(NUM_KEYPOINTS, np.float32))
        else:
            points.append(person.pose.keypoints_px[0])
            confidence.append(person.pose.confidence[0])
        progress(index + 1)
    if canvas is None:
        raise PoseInputError("The video has no frames. Connect the frames of a video (an IMAGE batch).")
    if not any(c.any() for c in confidence):
        raise PoseInputError(f"No person was found in any of the {len(points)} video frames. Use a video in which "
                             "one person is clearly visible.")
    return PoseSequence2D(np.stack(points), np.stack(confidence), canvas[0], canvas[1], float(fps))
