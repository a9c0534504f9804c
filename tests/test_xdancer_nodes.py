"""X-Dancer nodes through the pack as ComfyUI loads it: the bundled demo model generates, encodes and decodes."""

from __future__ import annotations

import importlib

import numpy as np
import pytest


@pytest.fixture(scope="module")
def xnodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.xdancer_nodes")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_demo_model_generates_two_seconds_and_tokens_decode_back(xnodes, click_song, click_song_features):
    _, music, reference = click_song
    names = xnodes.ChoreoLoadXDancer.INPUT_TYPES()["required"]["checkpoint"][0]
    assert names[0] == xnodes.DEMO_NAME
    (model,) = xnodes.ChoreoLoadXDancer().load(xnodes.DEMO_NAME)
    features = click_song_features(model.music_extractor)
    assert xnodes.ChoreoLoadXDancer().load(xnodes.DEMO_NAME)[0] is model  # one cached copy
    pose, tokens = xnodes.ChoreoXDancerGenerate().generate(model, features, reference, seed=1, temperature=1.0,
                                                            top_k=0, top_p=0.9, music=music)
    assert pose.num_frames == 60 and pose.fps == 30.0 and (pose.canvas_width, pose.canvas_height) == (256, 384)
    assert tokens["tokens"].shape == (60, 5, 6) and tokens["fps"] == 30.0 and tokens["confidence"].shape == (60, 60)
    assert np.isfinite(pose.keypoints_px).all() and pose.confidence[:, :18].mean() > 0.5
    (decoded,) = xnodes.ChoreoDecodePoseTokens().decode(model, tokens, reference)
    assert np.array_equal(decoded.keypoints_px, pose.keypoints_px)
    (encoded,) = xnodes.ChoreoEncodePoseTokens().encode(model, pose, reference)
    assert encoded["tokens"].shape == (60, 5, 6) and encoded["fps"] == 30.0


def test_unknown_checkpoint_and_mismatched_features_are_explained(pack, xnodes, click_song, click_song_features):
    _, _, reference = click_song
    errors = importlib.import_module(f"{pack.__name__}.choreo.errors")
    with pytest.raises(errors.ChoreoError, match="not in"):
        xnodes.ChoreoLoadXDancer().load("no_such_model")
    (model,) = xnodes.ChoreoLoadXDancer().load(xnodes.DEMO_NAME)
    features = click_song_features(model.music_extractor)
    slow = features.__class__(features.values, 15.0, features.extractor, features.columns)
    with pytest.raises(errors.ChoreoError, match="fps"):
        xnodes.ChoreoXDancerGenerate().generate(model, slow, reference, 0, 1.0, 0, 0.9)
