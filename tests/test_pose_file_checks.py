"""Pose files and POSE_KEYPOINT references that would render no dancer are refused; the loader node re-runs
when its file changes."""

import importlib
import json

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.io.pose_json import load_pose_json
from choreo.pose.reference import reference_from_pose_keypoint


def _frame(body_xy: float, canvas: int = 512, **parts) -> dict:
    person = {"pose_keypoints_2d": [body_xy, body_xy, 1.0] * 18, **parts}
    return {"canvas_width": canvas, "canvas_height": canvas, "people": [person]}


def test_pose_file_without_body_keypoints_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "hands_only.json"
    frame = {"canvas_width": 512, "canvas_height": 512,
             "people": [{"hand_left_keypoints_2d": [100.0, 100.0, 1.0] * 21}]}
    path.write_text(json.dumps([frame]))
    with pytest.raises(PoseInputError, match=r"hands_only\.json.*'pose_keypoints_2d'"):
        load_pose_json(path)


def test_pose_file_with_every_keypoint_far_off_the_canvas_is_refused(tmp_path):
    path = tmp_path / "far.json"
    path.write_text(json.dumps([_frame(-1000.0), _frame(-1000.0)]))
    with pytest.raises(PoseInputError, match=r"far\.json.*every keypoint lies outside its 512x512 px canvas"):
        load_pose_json(path)


def test_pose_file_with_the_dancer_partly_off_the_canvas_still_loads(tmp_path):
    path = tmp_path / "partly.json"
    path.write_text(json.dumps([_frame(-1000.0), _frame(200.0)]))
    assert load_pose_json(path).num_frames == 2


def test_reference_pose_keypoint_far_off_the_image_is_refused():
    with pytest.raises(PoseInputError, match=r"0 body keypoints on the 512x512 px image; at least 4"):
        reference_from_pose_keypoint([_frame(-1000.0)], (512, 512))


def test_reference_pose_keypoint_on_the_image_is_accepted():
    reference = reference_from_pose_keypoint([_frame(256.0)], (512, 512))
    np.testing.assert_allclose(reference.keypoints_px[0, :18], 256.0)


def test_load_pose_keypoint_node_hash_changes_when_the_file_is_edited_in_place(pack, tmp_path, monkeypatch):
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(tmp_path))
    node = importlib.import_module(f"{pack.__name__}.nodes.pose_nodes").ChoreoLoadPoseKeypoint
    path = tmp_path / "pose.json"
    path.write_text(json.dumps([_frame(100.0)]))
    before = node.IS_CHANGED(pose_file="pose.json")
    assert node.IS_CHANGED(pose_file="pose.json") == before
    path.write_text(json.dumps([_frame(300.0)]))
    assert node.IS_CHANGED(pose_file="pose.json") != before
    (frames,) = node().load("pose.json")
    assert frames[0]["people"][0]["pose_keypoints_2d"][:2] == [300.0, 300.0]
