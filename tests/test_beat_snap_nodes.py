"""Snap to Beats nodes, loaded the way ComfyUI loads the pack: documented inputs, a late dance put on the beat."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from choreo.motion import metrics
from choreo.pose.sequence import PoseSequence2D
from test_beat_snap import swinging_arms


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.beat_snap_nodes")


def test_nodes_document_every_input(nodes, pack):
    for cls in (nodes.ChoreoSnapMotionToBeats, nodes.ChoreoSnapPoseToBeats):
        for name, entry in cls.INPUT_TYPES()["required"].items():
            assert entry[1].get("tooltip"), f"{cls.__name__}.{name}"
        assert len(cls.DESCRIPTION) > 40 and len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)
    assert {"ChoreoSnapMotionToBeats", "ChoreoSnapPoseToBeats"} <= set(pack.NODE_CLASS_MAPPINGS)


def test_a_late_dance_comes_out_on_the_click_tracks_beats(nodes, click_song):
    _, music, _ = click_song                                   # 2 s at 120 BPM, beats from Analyze Music
    beat_frames = music.beat_times_s * 30.0
    # The warp keeps the clip's first and last frames where they are, so a beat on either edge scores the same
    # before and after: score the beats a snap can move.
    beat_frames = beat_frames[(beat_frames >= 1.0) & (beat_frames <= 58.0)]
    motion = swinging_arms(60, late_frames=5.3)
    (snapped,) = nodes.ChoreoSnapMotionToBeats().snap(motion=motion, music=music, max_shift_beats=0.5,
                                                      max_stretch=1.6)
    assert snapped.num_frames == 60
    late, on_beat = (metrics.beat_align_score(m.joint_positions(), beat_frames) for m in (motion, snapped))
    assert on_beat > late + 0.15  # a 2 s clip: its edge pairs keep less of the gain (beat_snap's docstring)

    seq = PoseSequence2D.empty(60, 512, 512, 30.0)
    keypoints, confidence = seq.keypoints_px.copy(), seq.confidence.copy()
    keypoints[:, :18] = 256 + 200 * motion.joint_positions()[:, 6:][..., [0, 2]]
    confidence[:, :18] = 1.0
    (snapped_pose,) = nodes.ChoreoSnapPoseToBeats().snap(pose=PoseSequence2D(keypoints, confidence, 512, 512, 30.0),
                                                         music=music, max_shift_beats=0.5, max_stretch=1.6)
    body = np.concatenate([snapped_pose.keypoints_px[:, :18], np.zeros((60, 18, 1))], -1)
    assert snapped_pose.num_frames == 60 and metrics.beat_align_score(body, beat_frames) > late + 0.15
