"""The mesh puppet renderer on a tiny drawn character: reproduction, locality, fill, rig maths, errors."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from choreo.errors import ImageInputError
from choreo.pose.layout import B, NUM_KEYPOINTS
from choreo.pose.sequence import PoseSequence2D
from choreo.render.puppet import PuppetConfig, build_puppet, iter_puppet_frames
from choreo.render.puppet.deform import segment_transform, skin

W, H = 192, 288
BACKGROUND = (225, 232, 240)
LEFT_ARM, RIGHT_ARM = (40, 170, 60), (200, 60, 200)
POSE = {
    "nose": (96, 52), "neck": (96, 80), "right_eye": (90, 48), "left_eye": (102, 48),
    "right_shoulder": (74, 86), "left_shoulder": (118, 86), "right_elbow": (56, 122), "left_elbow": (136, 122),
    "right_wrist": (44, 158), "left_wrist": (148, 158), "right_hip": (84, 164), "left_hip": (108, 164),
    "right_knee": (82, 210), "left_knee": (110, 210), "right_ankle": (82, 254), "left_ankle": (110, 254),
}


def keypoints(pose: dict[str, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    kps = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros(NUM_KEYPOINTS, np.float32)
    for name, xy in pose.items():
        kps[B[name]], conf[B[name]] = xy, 1.0
    return kps, conf


def reference(pose: dict = POSE, width: int = W, height: int = H) -> PoseSequence2D:
    kps, conf = keypoints(pose)
    return PoseSequence2D(kps[None], conf[None], width, height, 30.0)


def character() -> np.ndarray:
    """Flat colours: blue torso, skin head, green left arm, magenta right arm, grey legs."""
    img = np.empty((H, W, 3), np.uint8)
    img[:] = BACKGROUND
    p = {k: tuple(int(c) for c in v) for k, v in POSE.items()}
    for side in ("right", "left"):
        cv2.line(img, p[f"{side}_hip"], p[f"{side}_knee"], (90, 90, 100), 14)
        cv2.line(img, p[f"{side}_knee"], p[f"{side}_ankle"], (90, 90, 100), 12)
    cv2.rectangle(img, (74, 82), (118, 168), (50, 80, 200), -1)
    cv2.circle(img, (96, 46), 18, (240, 200, 160), -1)
    for side, colour in (("right", RIGHT_ARM), ("left", LEFT_ARM)):
        cv2.line(img, p[f"{side}_shoulder"], p[f"{side}_elbow"], colour, 11)
        cv2.line(img, p[f"{side}_elbow"], p[f"{side}_wrist"], colour, 9)
    return img


@pytest.fixture(scope="module")
def puppet():
    return build_puppet(character(), reference(), config=PuppetConfig(mesh_spacing_px=8.0))


def colour_mask(img: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.abs(img.astype(int) - colour).sum(-1) < 30


def test_rendering_the_reference_pose_reproduces_the_image(puppet):
    frame = puppet.render_frame(*keypoints(POSE))
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - character()).mean() < 2.0


def test_moving_the_left_forearm_moves_its_pixels_and_not_the_right_arm(puppet):
    pose = dict(POSE)
    elbow = np.array(POSE["left_elbow"], float)
    pose["left_wrist"] = tuple(elbow + (36.0, 0.0))  # forearm swung out horizontally
    frame = puppet.render_frame(*keypoints(pose))
    image = character()
    assert colour_mask(frame, LEFT_ARM)[118:127, 150:170].mean() > 0.5  # arm where the new forearm is
    old_forearm = colour_mask(image, LEFT_ARM) & (np.arange(H)[:, None] > 135)
    assert colour_mask(frame, LEFT_ARM)[old_forearm].mean() < 0.1
    right_arm = cv2.dilate(colour_mask(image, RIGHT_ARM).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    np.testing.assert_array_equal(frame[right_arm], puppet.render_frame(*keypoints(POSE))[right_arm])


def test_background_revealed_behind_a_moved_arm_is_filled(puppet):
    pose = dict(POSE)
    pose["left_elbow"] = (150, 70)
    pose["left_wrist"] = (170, 40)
    frame = puppet.render_frame(*keypoints(pose))
    revealed = colour_mask(character(), LEFT_ARM) & (np.arange(H)[:, None] > 130)
    pixels = frame[revealed].astype(int)
    assert np.abs(pixels - BACKGROUND).sum(-1).mean() < 40  # plate colour: not the arm, not black


def test_a_missing_target_joint_keeps_the_reference_relation_to_its_parent(puppet):
    kps, conf = keypoints(POSE)
    conf[B["left_wrist"]] = 0.0
    np.testing.assert_array_equal(puppet.render_frame(kps, conf), puppet.render_frame(*keypoints(POSE)))


def test_skinning_weights_sum_to_one(puppet):
    for layer in puppet.layers:
        np.testing.assert_allclose(layer.weights.sum(axis=1), 1.0, atol=1e-5)
        assert (layer.weights >= 0).all()


def test_arms_are_drawn_in_front_of_the_torso(puppet):
    order = [layer.part for layer in puppet.layers]
    assert order.index("torso") < order.index("l_arm") and order.index("torso") < order.index("r_arm")


def test_one_triangle_deformation_worked_by_hand():
    # Bone (0,0)->(10,0) moves to (5,5)->(5,15): a quarter turn (x towards y) and a shift of (5,5).
    transform = segment_transform(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([[5.0, 5.0], [5.0, 15.0]]), True, 0.25)
    triangle = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0]], np.float32)
    moved = skin(triangle, np.ones((3, 1), np.float32), transform[None])
    np.testing.assert_allclose(moved, [[5.0, 5.0], [5.0, 15.0], [0.0, 5.0]], atol=1e-5)
    # Twice as long a target is clipped to 1.25x, along the bone only: (10,0)->(12.5,0), (0,5) stays.
    stretched = segment_transform(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([[0.0, 0.0], [20.0, 0.0]]), True, 0.25)
    np.testing.assert_allclose(skin(triangle, np.ones((3, 1), np.float32), stretched[None]),
                               [[0.0, 0.0], [12.5, 0.0], [0.0, 5.0]], atol=1e-5)
    # Half identity, half a (4,0) shift: every vertex moves by (2,0).
    shift = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[1.0, 0.0, 4.0], [0.0, 1.0, 0.0]]])
    np.testing.assert_allclose(skin(triangle, np.full((3, 2), 0.5, np.float32), shift), triangle + [2.0, 0.0], atol=1e-5)


def test_a_user_mask_overrides_the_segmentation():
    mask = np.zeros((H, W), np.float32)
    mask[30:170, 70:122] = 1.0  # head and torso only: the arms stay painted on the background
    rig = build_puppet(character(), reference(), mask=mask)
    np.testing.assert_array_equal(rig.figure_mask, mask >= 0.5)
    pose = dict(POSE)
    pose["left_wrist"] = (172, 122)
    frame = rig.render_frame(*keypoints(pose))
    old_forearm = colour_mask(character(), LEFT_ARM) & (np.arange(H)[:, None] > 135)
    assert colour_mask(frame, LEFT_ARM)[old_forearm].mean() > 0.9


def test_a_waist_up_reference_rigs_only_what_is_visible():
    pose = {k: v for k, v in POSE.items() if not k.endswith(("hip", "knee", "ankle"))}
    rig = build_puppet(character(), reference(pose))
    assert {layer.part for layer in rig.layers}.isdisjoint({"r_leg", "l_leg"})
    frames = list(iter_puppet_frames(rig, reference(POSE)))  # a full-body target: legs are ignored
    assert frames[0].shape == (H, W, 3)


def test_mismatched_canvas_is_rejected_with_the_fix():
    with pytest.raises(ImageInputError, match=r"canvas is 100x100 px but the image is 192x288 px"):
        build_puppet(character(), reference(width=100, height=100))


def test_an_empty_mask_asks_for_a_better_mask():
    with pytest.raises(ImageInputError, match="MASK"):
        build_puppet(character(), reference(), mask=np.zeros((H, W), np.float32))


def test_a_sequence_renders_one_frame_per_pose(puppet):
    kps, conf = keypoints(POSE)
    angles = np.linspace(0.0, math.pi / 2, 4)
    elbow = np.array(POSE["left_elbow"], np.float32)
    frames_kps = np.repeat(kps[None], 4, 0)
    for t, angle in enumerate(angles):
        frames_kps[t, B["left_wrist"]] = elbow + 36 * np.array([math.sin(angle), math.cos(angle)])
    seq = PoseSequence2D(frames_kps, np.repeat(conf[None], 4, 0), W, H, 30.0)
    frames = list(iter_puppet_frames(puppet, seq))
    assert len(frames) == 4 and all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
