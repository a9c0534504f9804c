"""Poses from a video: one person tracked frame to frame on the video's own clock.

Runs on the stand-in BlazePose of test_person_detector (it reports the body whose hips lie nearest
the crop's centre), so following a moving dancer, losing and finding them again are exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.pose.layout import B
from choreo.pose.mediapipe_layout import BLAZE
from choreo.pose.video_poses import poses_from_video
from test_person_detector import MODELS, _blaze_body, stand_in  # noqa: F401  (stand_in is a fixture)


class MovingScene:
    """The stand-in network's bodies, moved for each frame the test hands out."""

    def __init__(self, pose_net, step_px):
        self.pose_net, self.step_px = pose_net, step_px

    def frames(self, count, missing=()):
        for index in range(count):
            self.pose_net.bodies = [] if index in missing else [_blaze_body(offset=(self.step_px * index, 0.0))]
            yield np.zeros((300, 260, 3), np.uint8)


def test_a_moving_dancer_is_followed_with_one_pass_a_frame(stand_in):  # noqa: F811
    scene = MovingScene(stand_in([_blaze_body()]), step_px=4.0)
    done = []
    pose = poses_from_video(scene.frames(12), fps=24.0, models=MODELS, progress=done.append)
    assert pose.num_frames == 12 and pose.fps == 24.0 and (pose.canvas_width, pose.canvas_height) == (260, 300)
    nose_x = pose.keypoints_px[:, B["nose"], 0]
    np.testing.assert_allclose(nose_x, _blaze_body()[BLAZE["nose"], 0] + 4.0 * np.arange(12), atol=1e-2)
    assert done == list(range(1, 13))
    searched_first_frame = 1 + 4  # the whole-picture crop settles in at most REFINE_PASSES passes
    assert scene.pose_net.calls <= searched_first_frame + 11


def test_frames_without_the_dancer_are_empty_and_the_dancer_is_found_again(stand_in):  # noqa: F811
    scene = MovingScene(stand_in([_blaze_body()]), step_px=2.0)
    pose = poses_from_video(scene.frames(8, missing={3, 4}), fps=30.0, models=MODELS)
    seen = pose.confidence[:, B["neck"]] > 0
    assert seen.tolist() == [True, True, True, False, False, True, True, True]
    np.testing.assert_allclose(pose.keypoints_px[5, B["nose"], 0], _blaze_body()[BLAZE["nose"], 0] + 10.0, atol=1e-2)


def test_a_video_with_nobody_or_no_frames_is_refused(stand_in):  # noqa: F811
    scene = MovingScene(stand_in([]), step_px=0.0)
    with pytest.raises(PoseInputError, match="No person was found in any of the 3 video frames"):
        poses_from_video(scene.frames(3, missing={0, 1, 2}), fps=30.0, models=MODELS)
    with pytest.raises(PoseInputError, match="no frames"):
        poses_from_video([], fps=30.0, models=MODELS)
    with pytest.raises(PoseInputError, match="fps"):
        poses_from_video([], fps=0.0, models=MODELS)


def test_node_reads_the_frames_batch_and_hands_back_native_pose_keypoints(pack, monkeypatch):
    import sys

    import torch

    node_module = sys.modules[f"{pack.__name__}.nodes.pose_nodes"]
    seen = {}

    def fake_poses_from_video(frames, fps, person_index, **kwargs):
        frames = list(frames)
        seen.update(count=len(frames), shape=frames[0].shape, dtype=frames[0].dtype, fps=fps, index=person_index,
                    parts=kwargs["with_parts"])
        for done in range(1, len(frames) + 1):
            kwargs["progress"](done)
        pose = pack.choreo.pose.reference.default_reference_pose(frames[0].shape[1], frames[0].shape[0])
        return pack.choreo.pose.sequence.PoseSequence2D(np.repeat(pose.keypoints_px, len(frames), 0),
                                                        np.repeat(pose.confidence, len(frames), 0),
                                                        pose.canvas_width, pose.canvas_height, fps)

    monkeypatch.setattr(node_module, "poses_from_video", fake_poses_from_video)
    images = torch.rand(5, 48, 40, 3)
    pose, keypoints = pack.NODE_CLASS_MAPPINGS["ChoreoPosesFromVideo"]().extract(images, 25.0, 1, True)
    assert seen == {"count": 5, "shape": (48, 40, 3), "dtype": np.uint8, "fps": 25.0, "index": 1, "parts": True}
    assert pose.num_frames == 5 and pose.fps == 25.0 and len(keypoints) == 5
    assert keypoints[0]["canvas_width"] == 40 and keypoints[0]["people"][0]["pose_keypoints_2d"]


def test_real_tracker_follows_the_demo_character_across_the_picture():
    import cv2

    from choreo.pose import mediapipe_models
    from conftest import REPO_ROOT

    try:
        models = mediapipe_models.find_models()
    except mediapipe_models.MissingModelsError:
        pytest.skip(f"MediaPipe's models are not installed (run `{mediapipe_models.FETCH_COMMAND}`)")
    character = cv2.cvtColor(cv2.imread(str(REPO_ROOT / "assets" / "demo_character.png")), cv2.COLOR_BGR2RGB)
    character = cv2.resize(character, (256, 384), interpolation=cv2.INTER_AREA)
    background = np.full((384, 384, 3), character[5, 5], np.uint8)
    shifts_px = [0, 24, 48, 72, 96]
    frames = []
    for shift in shifts_px:
        frame = background.copy()
        frame[:, shift:shift + 256] = character
        frames.append(frame)
    pose = poses_from_video(frames, fps=30.0, models=models)
    neck_x = pose.keypoints_px[:, B["neck"], 0]
    assert (pose.confidence[:, B["neck"]] > 0).all()
    np.testing.assert_allclose(np.diff(neck_x), np.diff(shifts_px), atol=4.0)
