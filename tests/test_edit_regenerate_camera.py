"""Regenerate Around Edits sees its new frames from the camera (and with the proportions) of Project 3D to 2D."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from conftest import load_pack
from test_edit_apply import R_ELBOW, R_WRIST, rotated
from test_editor_routes import synthetic_music

PACK = load_pack()
editor_nodes = importlib.import_module(f"{PACK.__name__}.nodes.editor_nodes")
pose_nodes = importlib.import_module(f"{PACK.__name__}.nodes.pose_nodes")
reference_module = importlib.import_module(f"{PACK.__name__}.choreo.pose.reference")
smoothing = importlib.import_module(f"{PACK.__name__}.choreo.pose.smoothing")
choreograph = importlib.import_module(f"{PACK.__name__}.choreo.motion.choreographer").choreograph
Skeleton = PACK.choreo.motion.skeleton.Skeleton

NUM_FRAMES, KEY_FRAME, SEED = 120, 60, 11
CAMERA = ("perspective", 40.0, 10.0, 4.0)  # projection, yaw_deg, pitch_deg, distance_m


def long_legged_reference():
    """A reference whose legs are 30 % longer than the default body's, so retargeting shows."""
    lengths = Skeleton.default().bone_lengths_m.copy()
    lengths[[4, 5, 7, 8]] *= 1.3
    return reference_module.default_reference_pose(512, 768, Skeleton.default().with_bone_lengths(lengths))


def project(motion, reference, match_proportions: bool):
    return pose_nodes.ChoreoProjectMotion().project(motion, reference, match_proportions, *CAMERA, True, True)[0]


@pytest.mark.parametrize("match_proportions", [False, True])
def test_regenerated_frames_equal_a_fresh_projection_with_the_same_camera(match_proportions):
    music, reference = synthetic_music(NUM_FRAMES), long_legged_reference()
    pose = project(choreograph(music, seed=0), reference, match_proportions)
    document = json.dumps({"blend_frames": 6, "keyframes": [
        {"frame": KEY_FRAME, "joints": rotated(pose.keypoints_px[KEY_FRAME].astype(np.float64), R_ELBOW, [R_WRIST],
                                               60)}]})
    regenerated = editor_nodes.ChoreoRegenerateAroundEdits().regenerate(
        pose, document, music, reference, "temporal", SEED, "mixed", 1.0, 6)[0]
    fresh = project(choreograph(music, seed=SEED), reference, match_proportions)
    untouched = np.abs(np.arange(NUM_FRAMES) - KEY_FRAME) > 20  # beyond keep margin + cross-fade + edit blend
    np.testing.assert_allclose(regenerated.keypoints_px[untouched], fresh.keypoints_px[untouched], atol=1e-2)
    np.testing.assert_array_equal(regenerated.confidence[untouched], fresh.confidence[untouched])
    assert regenerated.projection_settings == pose.projection_settings


def test_projection_settings_survive_the_editor_and_smoothing():
    music, reference = synthetic_music(40), long_legged_reference()
    pose = project(choreograph(music, seed=0), reference, False)
    settings = pose.projection_settings
    assert (settings.camera.projection, settings.camera.yaw_deg, settings.camera.pitch_deg) == CAMERA[:3]
    assert settings.match_proportions is False
    edited = editor_nodes.ChoreoPoseKeyframeEditor().edit(pose, "{}", 6)["result"][0]
    assert edited.projection_settings == settings
    assert smoothing.smooth_pose_sequence(edited).projection_settings == settings
