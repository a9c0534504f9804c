"""Pose video drawing: OpenPose / DWPose look, confidence gating, backgrounds, streaming."""

from dataclasses import replace

import numpy as np
import pytest

from choreo.errors import ImageInputError
from choreo.pose.layout import B, BODY_COLORS_RGB, FACE, LEFT_HAND, NUM_KEYPOINTS
from choreo.pose.sequence import PoseSequence2D
from choreo.render.pose_video import (PoseDrawStyle, draw_pose_frame, iter_pose_frames,
                                      render_pose_frames)

W, H = 128, 160


def standing_pose() -> tuple[np.ndarray, np.ndarray]:
    """A symmetric stick figure with a face ring and a left hand fan; all confidences 1."""
    kp = np.zeros((NUM_KEYPOINTS, 2))
    body = {"nose": (64, 30), "neck": (64, 50), "right_shoulder": (44, 50), "right_elbow": (34, 75),
            "right_wrist": (30, 100), "left_shoulder": (84, 50), "left_elbow": (94, 75), "left_wrist": (98, 100),
            "right_hip": (54, 100), "right_knee": (52, 125), "right_ankle": (50, 150), "left_hip": (74, 100),
            "left_knee": (76, 125), "left_ankle": (78, 150), "right_eye": (59, 26), "left_eye": (69, 26),
            "right_ear": (54, 28), "left_ear": (74, 28)}
    for name, xy in body.items():
        kp[B[name]] = xy
    angles = np.linspace(0, 2 * np.pi, 70, endpoint=False)
    kp[FACE] = np.stack([64 + 8 * np.cos(angles), 30 + 8 * np.sin(angles)], axis=1)
    kp[LEFT_HAND] = [98, 100]
    kp[LEFT_HAND.start + 1:LEFT_HAND.stop] = [(98 + 2 * (i % 4 + 1), 100 + 3 * (i // 4)) for i in range(20)]
    conf = np.ones(NUM_KEYPOINTS)
    conf[LEFT_HAND.stop:] = 0.0  # right hand absent
    return kp, conf


def draw(style: PoseDrawStyle, kp=None, conf=None) -> np.ndarray:
    default_kp, default_conf = standing_pose()
    kp = default_kp if kp is None else kp
    conf = default_conf if conf is None else conf
    return draw_pose_frame(kp, conf, style, np.zeros((H, W, 3), np.uint8))


def test_frame_is_uint8_rgb_of_canvas_size():
    frame = draw(PoseDrawStyle.dwpose())
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    assert frame.any()


def test_body_limbs_use_openpose_colours_at_sixty_percent():
    frame = draw(PoseDrawStyle.openpose())
    # the neck -> right hip limb (index 6 in OpenPose order) passes midway at (59, 75)
    expected = (np.array(BODY_COLORS_RGB[6]) * 0.6).astype(np.uint8)
    np.testing.assert_array_equal(frame[75, 59], expected)
    # joint circles are drawn at full colour on top: the left knee (body index 12)
    np.testing.assert_array_equal(frame[125, 76], BODY_COLORS_RGB[12])


def test_keypoints_with_zero_confidence_are_not_drawn():
    kp, conf = standing_pose()
    conf[B["left_knee"]] = 0.0
    frame = draw(PoseDrawStyle.openpose(), kp, conf)
    assert not frame[110:140, 70:84].any()  # neither the knee nor its two limbs
    low = conf.copy()
    low[B["left_knee"]] = 0.2
    assert not draw(PoseDrawStyle.openpose(), kp, low)[110:140, 70:84].any()  # below the 0.3 threshold


def test_wan_animate_draws_body_and_hands_but_no_face_dots():
    body_only = draw(replace(PoseDrawStyle.wan_animate(), hands=False))
    wan = draw(PoseDrawStyle.wan_animate())
    dwpose = draw(PoseDrawStyle.dwpose())
    face_ring = (slice(20, 40), slice(54, 75))
    white = np.all(dwpose[face_ring] == 255, axis=-1)
    assert white.sum() > 20  # DWPose shows white face dots ...
    assert not np.all(wan[face_ring] == 255, axis=-1).any()  # ... Wan-Animate shows none
    hand = (slice(96, 120), slice(96, 110))
    assert (wan[hand] != body_only[hand]).any()  # hands are drawn
    assert np.all(wan[hand] == (0, 0, 255), axis=-1).any()  # DWPose's blue hand points


def test_image_background_is_dimmed_under_the_pose():
    kp, conf = standing_pose()
    seq = PoseSequence2D(kp[None].astype(np.float32), conf[None].astype(np.float32), W, H, 30.0)
    image = np.full((H, W, 3), 200, np.uint8)
    style = replace(PoseDrawStyle.openpose(), background="image", background_brightness=0.5)
    frame = render_pose_frames(seq, style, image)[0]
    assert tuple(frame[5, 5]) == (100, 100, 100)  # far from the skeleton: the image at half brightness
    expected = np.round(0.6 * np.array(BODY_COLORS_RGB[6]) + 0.4 * 100)
    np.testing.assert_allclose(frame[75, 59], expected, atol=1)  # limbs blend at 60 %
    with pytest.raises(ImageInputError, match="background"):
        render_pose_frames(seq, style, None)
    with pytest.raises(ImageInputError, match="resize"):
        render_pose_frames(seq, style, np.zeros((10, 10, 3), np.uint8))


def test_iter_and_render_give_identical_frames():
    kp, conf = standing_pose()
    rng = np.random.default_rng(0)
    kps = (kp[None] + rng.normal(0, 3, (6, NUM_KEYPOINTS, 2))).astype(np.float32)
    seq = PoseSequence2D(kps, np.repeat(conf[None], 6, 0).astype(np.float32), W, H, 30.0)
    frames = list(iter_pose_frames(seq, PoseDrawStyle.dwpose()))
    rendered = render_pose_frames(seq, PoseDrawStyle.dwpose())
    assert rendered.shape == (6, H, W, 3)
    np.testing.assert_array_equal(np.stack(frames), rendered)
    assert not np.shares_memory(frames[0], frames[1])


def test_sizes_scale_with_the_canvas():
    kp, conf = standing_pose()
    small = draw_pose_frame(kp, conf, PoseDrawStyle.openpose(), np.zeros((H, W, 3), np.uint8))
    big = draw_pose_frame(kp * 4, conf, PoseDrawStyle.openpose(), np.zeros((H * 4, W * 4, 3), np.uint8))
    ratio = np.count_nonzero(big.any(-1)) / np.count_nonzero(small.any(-1))
    assert 8 < ratio < 24  # area grows about 16x when both the pose and the strokes scale 4x


def test_nan_keypoints_and_bad_canvas_are_handled():
    kp, conf = standing_pose()
    kp[B["nose"]] = np.nan
    draw(PoseDrawStyle.dwpose(), kp, conf)  # NaN points are skipped, not an error
    with pytest.raises(ImageInputError, match="uint8"):
        draw_pose_frame(kp, conf, PoseDrawStyle.dwpose(), np.zeros((H, W, 3), np.float32))
    with pytest.raises(ImageInputError, match="background"):
        PoseDrawStyle(background="white")
