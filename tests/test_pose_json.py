"""Pose JSON files: round trip with fps, foreign frame lists, clear errors."""

import json

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.io.pose_json import load_pose_json, save_pose_json
from choreo.pose.keypoint_format import to_pose_keypoint
from choreo.pose.sequence import PoseSequence2D


def _sequence():
    rng = np.random.default_rng(2)
    return PoseSequence2D(rng.uniform(0, 300, (3, 136, 2)).astype(np.float32),
                          np.ones((3, 136), np.float32), 320, 240, 12.5, frozenset({"foot_keypoints_2d"}))


def test_save_then_load_keeps_poses_fps_and_missing_parts(tmp_path):
    seq = _sequence()
    path = save_pose_json(seq, tmp_path / "sub" / "dance.json")
    loaded = load_pose_json(path)
    assert loaded.fps == 12.5 and loaded.missing_parts == seq.missing_parts
    assert to_pose_keypoint(loaded) == to_pose_keypoint(seq)
    assert load_pose_json(path, fps=24.0).fps == 24.0


def test_bare_frame_list_from_other_nodes_loads_at_given_or_default_fps(tmp_path):
    path = tmp_path / "frames.json"
    path.write_text(json.dumps(to_pose_keypoint(_sequence())))
    assert load_pose_json(path).fps == 30.0
    assert load_pose_json(path, fps=15).num_frames == 3


@pytest.mark.parametrize("content, match", [
    ("{broken", "is not valid JSON"),
    (json.dumps({"frames": [], "fps": 30}), "no frames"),
    (json.dumps({"frames": [{"people": []}], "fps": -1}), "'fps' must be a positive number"),
    (json.dumps([{"canvas_width": 8, "canvas_height": 8, "people": [{"pose_keypoints_2d": [1]}]}]),
     r"bad.json.*frame 0, people\[0\].pose_keypoints_2d: expected 54"),
])
def test_malformed_files_raise_naming_the_file_and_problem(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PoseInputError, match=match):
        load_pose_json(path)


def test_missing_file_is_reported_with_its_path(tmp_path):
    with pytest.raises(PoseInputError, match="nope.json' does not exist"):
        load_pose_json(tmp_path / "nope.json")
