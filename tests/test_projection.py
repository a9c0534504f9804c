"""3D -> 2D projection: geometry of the view, synthesised parts, canvas placement."""


import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.motion.motion3d import Motion3D
from choreo.motion.rotations import axis_angle_to_matrix
from choreo.motion.skeleton import JOINT, SMPL_REST_OFFSETS_M, UPRIGHT, Skeleton
from choreo.pose.layout import B, FACE, LEFT_HAND
from choreo.pose.projection import Camera, project_motion


def t_pose(num_frames=1, skeleton=None):
    skeleton = skeleton or Skeleton.default()
    rotations = np.broadcast_to(np.eye(3, dtype=np.float32), (num_frames, 24, 3, 3)).copy()
    rotations[:, 0] = UPRIGHT
    root = np.tile(np.array([[0.0, 0.0, skeleton.pelvis_height_m()]], np.float32), (num_frames, 1))
    return Motion3D(root, rotations, np.ones((num_frames, 4), np.float32), 30.0, skeleton)


def _length(points, a, b):
    return float(np.linalg.norm(points[B[a]] - points[B[b]]))


def test_orthographic_frontal_bone_lengths_are_proportional_to_3d():
    planar = SMPL_REST_OFFSETS_M.copy()
    planar[:, 2] = 0.0  # all bones in the frontal plane, so nothing is foreshortened
    motion = t_pose(skeleton=Skeleton(planar))
    keypoints = project_motion(motion, 512, 512).keypoints_px[0]
    joints = motion.joint_positions()[0]
    bones = [("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
             ("left_knee", "left_ankle"), ("right_shoulder", "left_shoulder")]
    ratios = [_length(keypoints, a, b) / np.linalg.norm(joints[JOINT[a]] - joints[JOINT[b]]) for a, b in bones]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-4)


def test_yaw_90_shows_the_body_in_profile():
    motion = t_pose()
    front = project_motion(motion, 512, 512).keypoints_px[0]
    side = project_motion(motion, 512, 512, Camera(yaw_deg=90)).keypoints_px[0]
    scale = _length(front, "neck", "right_hip") / _length(side, "neck", "right_hip")
    shoulders = ("right_shoulder", "left_shoulder")
    assert _length(side, *shoulders) * scale < 0.15 * _length(front, *shoulders)


def test_face_and_far_ear_are_hidden_when_seen_from_behind_or_side():
    behind = project_motion(t_pose(), 256, 256, Camera(yaw_deg=180))
    assert not behind.confidence[0, FACE].any() and behind.confidence[0, B["nose"]] == 0
    assert behind.confidence[0, B["neck"]] == 1
    side = project_motion(t_pose(), 256, 256, Camera(yaw_deg=90))
    assert side.confidence[0, B["right_ear"]] == 0 and side.confidence[0, B["left_ear"]] == 1


def test_without_reference_body_fills_80_percent_of_height_centred_feet_low():
    seq = project_motion(t_pose(), 400, 1000)
    points = seq.keypoints_px[0][seq.confidence[0] > 0]
    height = points[:, 1].max() - points[:, 1].min()
    assert height <= 0.8 * 1000 + 1e-3
    assert points[:, 0].max() - points[:, 0].min() == pytest.approx(0.9 * 400, rel=1e-4)
    assert points[:, 1].max() == pytest.approx(900, abs=1e-3)
    assert (points[:, 0].max() + points[:, 0].min()) / 2 == pytest.approx(200, abs=1e-3)


def test_reference_fit_places_the_body_onto_the_reference_person():
    motion = t_pose()
    base = project_motion(motion, 640, 480)
    reference = base.__class__(base.keypoints_px * 0.5 + np.float32([100, 40]), base.confidence, 640, 480, 30.0)
    fitted = project_motion(motion, 640, 480, reference=reference)
    np.testing.assert_allclose(fitted.keypoints_px, reference.keypoints_px, atol=1e-3)


def test_reference_on_another_canvas_is_rescaled_to_the_output_canvas():
    motion = t_pose()
    reference = project_motion(motion, 320, 240)
    fitted = project_motion(motion, 640, 480, reference=reference)
    np.testing.assert_allclose(fitted.keypoints_px, reference.keypoints_px * 2, atol=1e-3)


def test_hands_follow_the_wrist_rotation():
    straight = t_pose()
    bent_rotations = straight.rotations.copy()
    bent_rotations[:, JOINT["left_wrist"]] = axis_angle_to_matrix(np.array([0.0, 0.0, np.pi / 2]))
    bent = Motion3D(straight.root_translation_m, bent_rotations, straight.foot_contacts, 30.0)
    reference = project_motion(straight, 512, 512)
    before = reference.keypoints_px[0, LEFT_HAND]
    after = project_motion(bent, 512, 512, reference=reference).keypoints_px[0, LEFT_HAND]
    tip_before, tip_after = before[12] - before[0], after[12] - after[0]
    assert tip_before[0] > 0 and abs(tip_before[1]) < 0.3 * tip_before[0]  # fingers point along the arm
    assert tip_after[1] < 0 and abs(tip_after[0]) < 0.3 * -tip_after[1]  # turned up with the wrist
    assert np.linalg.norm(tip_after) == pytest.approx(np.linalg.norm(tip_before), rel=0.1)


def test_far_perspective_matches_orthographic_and_near_one_differs():
    motion = t_pose()
    ortho = project_motion(motion, 512, 512).keypoints_px
    far = project_motion(motion, 512, 512, Camera("perspective", distance_m=1e4)).keypoints_px
    near = project_motion(motion, 512, 512, Camera("perspective", distance_m=1.0, pitch_deg=30)).keypoints_px
    np.testing.assert_allclose(far, ortho, atol=0.05)
    assert np.abs(near - ortho).max() > 5


def test_disabled_face_and_hands_are_marked_missing():
    seq = project_motion(t_pose(), 128, 128, face=False, hands=False)
    assert seq.missing_parts == {"face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"}
    assert not seq.confidence[0, 24:94].any() and not seq.confidence[0, 94:].any()


def test_three_minutes_at_30_fps_project_to_finite_frames():
    seq = project_motion(t_pose(5400), 720, 1280)
    assert seq.num_frames == 5400 and np.isfinite(seq.keypoints_px).all()


def test_invalid_camera_is_rejected():
    with pytest.raises(PoseInputError, match="projection must be one of"):
        Camera(projection="fisheye")
    with pytest.raises(PoseInputError, match="distance_m must be positive"):
        Camera(distance_m=0)
