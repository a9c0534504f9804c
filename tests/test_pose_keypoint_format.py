"""POSE_KEYPOINT conversion: lossless round trips and tolerant, explicit reading."""

import json

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.pose.keypoint_format import from_pose_keypoint, to_pose_keypoint
from choreo.pose.sequence import PoseSequence2D


def _random_sequence(num_frames=4, missing=frozenset()):
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 500, (num_frames, 136, 2)).astype(np.float32)
    confidence = (rng.uniform(0, 1, (num_frames, 136)) > 0.3).astype(np.float32)
    return PoseSequence2D(keypoints, confidence, 640, 480, 24.0, frozenset(missing))


def _person(body=None, scale=1.0, offset=0.0):
    if body is None:
        body = [v for i in range(18) for v in (offset + scale * i, offset + scale * 2 * i, 1.0)]
    return {"pose_keypoints_2d": body, "face_keypoints_2d": None,
            "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}


def test_round_trip_to_from_to_is_exact():
    seq = _random_sequence(missing={"face_keypoints_2d"})
    first = to_pose_keypoint(seq)
    back = from_pose_keypoint(first, fps=24.0)
    assert to_pose_keypoint(back) == first
    kept = np.r_[0:24, 94:136]
    np.testing.assert_array_equal(back.keypoints_px[:, kept], seq.keypoints_px[:, kept])
    np.testing.assert_array_equal(back.confidence[:, kept], seq.confidence[:, kept])
    assert not back.confidence[:, 24:94].any()
    assert back.missing_parts == {"face_keypoints_2d"}


def test_written_frames_are_flat_pixel_lists_with_null_missing_parts():
    frame = to_pose_keypoint(_random_sequence(1, missing={"hand_left_keypoints_2d"}))[0]
    assert (frame["canvas_width"], frame["canvas_height"]) == (640, 480)
    person = frame["people"][0]
    assert len(person["pose_keypoints_2d"]) == 54 and len(person["foot_keypoints_2d"]) == 18
    assert len(person["face_keypoints_2d"]) == 210 and len(person["hand_right_keypoints_2d"]) == 63
    assert person["hand_left_keypoints_2d"] is None
    json.dumps(frame)


def test_frame_without_dancer_is_written_with_no_people_and_read_back_empty():
    seq = PoseSequence2D.empty(2, 100, 100, 30.0)
    frames = to_pose_keypoint(seq)
    assert frames[0]["people"] == []
    back = from_pose_keypoint(frames)
    assert back.num_frames == 2 and not back.confidence.any()


def test_normalised_coordinates_are_scaled_by_canvas():
    body = [0.5, 0.25, 1.0] * 18
    seq = from_pose_keypoint([{"canvas_width": 200, "canvas_height": 400, "people": [_person(body)]}])
    np.testing.assert_allclose(seq.keypoints_px[0, 0], [100.0, 100.0])


def test_null_and_absent_parts_become_missing_with_zero_confidence():
    seq = from_pose_keypoint({"canvas_width": 64, "canvas_height": 64, "people": [_person()]})
    assert seq.missing_parts == {"face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
                                 "foot_keypoints_2d"}
    assert not seq.confidence[0, 18:].any() and seq.confidence[0, :18].all()


def test_largest_person_is_followed_unless_an_index_is_given():
    small, large = _person(scale=1.0), _person(scale=5.0, offset=10.0)
    frames = [{"canvas_width": 500, "canvas_height": 500, "people": [small, large]}]
    assert from_pose_keypoint(frames).keypoints_px[0, 17, 0] == pytest.approx(10 + 5 * 17)
    assert from_pose_keypoint(frames, person_index=0).keypoints_px[0, 17, 0] == pytest.approx(17)


def test_nested_triplets_json_string_and_missing_canvas_with_canvas_size():
    nested = [[3.0 + i, 4.0, 1.0] for i in range(18)]
    text = json.dumps([{"people": [{"pose_keypoints_2d": nested}]}])
    seq = from_pose_keypoint(text, canvas_size=(320, 240))
    assert (seq.canvas_width, seq.canvas_height) == (320, 240)
    np.testing.assert_allclose(seq.keypoints_px[0, 2], [5.0, 4.0])


def test_confidences_above_one_are_clipped():
    body = [10.0, 20.0, 3.5] * 18
    seq = from_pose_keypoint({"canvas_width": 64, "canvas_height": 64, "people": [_person(body)]})
    assert seq.confidence.max() == 1.0


@pytest.mark.parametrize("frames, match", [
    ([], "no frames"),
    ("{not json", "not valid JSON"),
    (42, "must be a list of frame dicts"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": []}, "x"], "frame 1 must be a dict"),
    ([{"canvas_width": 10, "canvas_height": 10}], "frame 0 has no 'people'"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": {}}], "frame 0: 'people' must be a list"),
    ([{"people": []}], "canvas_size"),
    ([{"canvas_width": 0, "canvas_height": 10, "people": []}], "'canvas_width' must be a positive"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": []},
      {"canvas_width": 20, "canvas_height": 10, "people": []}], "frame 1: canvas 20x10 differs"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": [1.0] * 50}]}],
     r"frame 0, people\[0\].pose_keypoints_2d: expected 54 numbers"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": [{"face_keypoints_2d": [[1, 2]] * 70}]}],
     r"face_keypoints_2d: expected 70 \[x, y, confidence\] triplets"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": ["a"] * 54}]}],
     "finite number"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": [float("nan")] * 54}]}],
     "finite number"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": "1,2,3"}]}],
     "must be a list of numbers"),
    ([{"canvas_width": 10, "canvas_height": 10, "people": ["person"]}], r"people\[0\] must be a dict"),
])
def test_malformed_input_raises_with_location_and_fix(frames, match):
    with pytest.raises(PoseInputError, match=match):
        from_pose_keypoint(frames)


def test_person_index_that_never_exists_is_an_error():
    frames = [{"canvas_width": 10, "canvas_height": 10, "people": [_person()]}]
    with pytest.raises(PoseInputError, match="person_index 3 does not exist"):
        from_pose_keypoint(frames, person_index=3)
