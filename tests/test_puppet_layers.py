"""The puppet renderer, end to end on a drawn figure: sleeves move, background fills, arms stay in front."""

import numpy as np
from PIL import Image, ImageDraw

from choreo.pose.layout import B, NUM_KEYPOINTS
from choreo.pose.sequence import PoseSequence2D
from choreo.render.puppet import build_puppet, iter_puppet_frames

WIDTH, HEIGHT = 160, 240
BACKGROUND = (235, 230, 220)
SHIRT, LEFT_SLEEVE, RIGHT_SLEEVE, TROUSERS, SKIN = (200, 40, 40), (40, 160, 40), (40, 40, 200), (30, 50, 120), (240, 200, 160)
JOINTS = {"nose": (80, 38), "neck": (80, 62), "left_shoulder": (98, 66), "right_shoulder": (62, 66),
          "left_elbow": (122, 92), "right_elbow": (38, 92), "left_wrist": (140, 118), "right_wrist": (20, 118),
          "left_hip": (92, 130), "right_hip": (68, 130), "left_knee": (94, 176), "right_knee": (66, 176),
          "left_ankle": (96, 220), "right_ankle": (64, 220)}


def character() -> np.ndarray:
    """A drawn figure with distinct colours per part, arms held away from the body."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    j = JOINTS
    draw.ellipse([66, 20, 94, 56], fill=SKIN)
    draw.rectangle([62, 62, 98, 132], fill=SHIRT)
    for side, colour in (("left", LEFT_SLEEVE), ("right", RIGHT_SLEEVE)):
        draw.line([j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]], fill=colour, width=9)
    for side in ("left", "right"):
        draw.line([j[f"{side}_hip"], j[f"{side}_knee"], j[f"{side}_ankle"]], fill=TROUSERS, width=11)
    return np.asarray(image)


def pose_of(joints: dict) -> PoseSequence2D:
    keypoints = np.zeros((1, NUM_KEYPOINTS, 2), np.float32)
    confidence = np.zeros((1, NUM_KEYPOINTS), np.float32)
    for name, xy in joints.items():
        keypoints[0, B[name]] = xy
        confidence[0, B[name]] = 1.0
    return PoseSequence2D(keypoints, confidence, WIDTH, HEIGHT, 30.0)


def colour_mask(frame: np.ndarray, colour) -> np.ndarray:
    return np.abs(frame.astype(int) - np.array(colour)).sum(axis=-1) < 60


def test_the_reference_pose_reproduces_the_picture():
    image = character()
    puppet = build_puppet(image, pose_of(JOINTS))
    frame = next(iter_puppet_frames(puppet, pose_of(JOINTS)))
    assert frame.shape == image.shape and frame.dtype == np.uint8
    assert np.abs(frame.astype(float) - image).mean() < 3.0


def test_lifting_one_forearm_moves_that_sleeve_only_and_fills_the_background_behind_it():
    image = character()
    puppet = build_puppet(image, pose_of(JOINTS))
    lifted = dict(JOINTS, left_wrist=(146, 66))
    frame = next(iter_puppet_frames(puppet, pose_of(lifted)))
    before, after = colour_mask(image, LEFT_SLEEVE), colour_mask(frame, LEFT_SLEEVE)
    assert after[60:72, 136:150].any() and not before[60:72, 136:150].any()  # the hand is up now
    assert not after[112:122, 134:146].any()  # and no longer where it hung
    revealed = frame[112:122, 134:146].reshape(-1, 3).astype(int)
    assert np.abs(revealed - np.array(BACKGROUND)).sum(axis=-1).mean() < 40  # background, not black or sleeve
    np.testing.assert_array_equal(colour_mask(frame, RIGHT_SLEEVE), colour_mask(
        next(iter_puppet_frames(puppet, pose_of(JOINTS))), RIGHT_SLEEVE))


def test_arms_are_drawn_in_front_of_the_torso():
    puppet = build_puppet(character(), pose_of(JOINTS))
    across = dict(JOINTS, left_elbow=(96, 100), left_wrist=(72, 104))
    frame = next(iter_puppet_frames(puppet, pose_of(across)))
    assert colour_mask(frame, LEFT_SLEEVE)[96:108, 74:94].mean() > 0.3
