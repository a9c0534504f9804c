"""Regenerate Around Edits with the one-hot pose DiT (issue 14 item 4): a tiny random Pose DiT re-dances around an
arm keyframe in both modes; the keyframe lands exactly, the rest is the DiT's new motion."""

from __future__ import annotations

import importlib
import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import REPO_ROOT
from test_edit_apply import R_ELBOW, R_SHOULDER, R_WRIST, rotated

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEY_FRAME, MARGIN_FRAMES, BLEND_FRAMES = 30, 4, 4
L_WRIST, L_ANKLE = 7, 13
DEMO = REPO_ROOT / "assets" / "checkpoints" / "pose_dit" / "demo"
FAR_FRAMES = [f for f in range(60) if abs(f - KEY_FRAME) > MARGIN_FRAMES + BLEND_FRAMES]  # the input weighs 0


@pytest.fixture(scope="module")
def modules(pack):
    def module(name):
        return importlib.import_module(f"{pack.__name__}.{name}")
    return {name: module(path) for name, path in (("nodes", "nodes.editor_nodes"), ("dit", "choreo.generators.pose_dit"),
                                                  ("edit", "choreo.edit"))}


@pytest.fixture(scope="module")
def tiny_dit(pack, modules):
    """A random pose DiT on 35-d edge_librosa features at 30 fps, one 64-frame segment."""
    import torch

    onehot = importlib.import_module(f"{pack.__name__}.choreo.pose.onehot_image").OneHotConfig(num_bins=32)
    vae = importlib.import_module(f"{pack.__name__}.models.pose_image_vae")
    dit = importlib.import_module(f"{pack.__name__}.models.pose_dit")
    torch.manual_seed(0)
    return modules["dit"].PoseDiTModels(
        vae.PoseImageVAE(vae.PoseImageVAEConfig(block_out_channels=(8, 8, 8, 8))).eval(),
        dit.PoseDiT(dit.PoseDiTConfig(latent_channels=48, latent_bins=4, hidden=32, num_layers=1, num_heads=2,
                                      rope_axes=(4, 6, 6))).eval(),
        np.zeros(35, np.float32), np.ones(35, np.float32), 30.0, "edge_librosa", 64, onehot,
        modules["dit"].DEFAULT_BODY_BOX)


@pytest.fixture(scope="module")
def dance(pack, click_song):
    """(features, music, reference, pose, keyframes JSON): the choreographer's 2 s dance projected onto the
    reference, with the right arm turned at KEY_FRAME."""
    features, music, reference = click_song
    motion = importlib.import_module(f"{pack.__name__}.choreo.motion.choreographer").choreograph(music, seed=0)
    project = pack.NODE_CLASS_MAPPINGS["ChoreoProjectMotion"]()
    pose = project.project(motion, reference, True, "orthographic", 0.0, 0.0, 4.0, True, True)[0]
    assert pose.num_frames == 60 and features.num_frames >= 60
    kp = pose.keypoints_px.astype(np.float64)
    document = json.dumps({"blend_frames": BLEND_FRAMES, "keyframes": [
        {"frame": KEY_FRAME, "joints": rotated(kp[KEY_FRAME], R_SHOULDER, [R_ELBOW, R_WRIST], 60)}]})
    return features, music, reference, pose, document


def run(modules, dance, model, mode, **extra):
    features, music, reference, pose, document = dance
    node = modules["nodes"].ChoreoRegenerateAroundEdits()
    return node.regenerate(pose, document, music, reference, mode, 3, "mixed", 1.0, MARGIN_FRAMES,
                           pose_dit_model=model, **{"music_features": features, **extra})[0]


def assert_keyframe_lands(result, document):
    joints = json.loads(document)["keyframes"][0]["joints"]
    for joint in (R_ELBOW, R_WRIST):
        np.testing.assert_allclose(result.keypoints_px[KEY_FRAME, joint], joints[str(joint)], atol=1e-3)


def test_the_node_offers_the_pose_dit_inputs_last_with_tooltips(modules):
    optional = modules["nodes"].ChoreoRegenerateAroundEdits.INPUT_TYPES()["optional"]
    assert list(optional) == ["motion", "pose_dit_model", "music_features"]
    assert optional["pose_dit_model"][0] == "CHOREO_POSE_DIT_MODEL"
    assert optional["music_features"][0] == "CHOREO_MUSIC_FEATURES"
    assert all(entry[1]["tooltip"] for entry in optional.values())


def test_temporal_mode_keeps_the_edited_frames_and_the_dit_dances_the_rest(modules, dance, tiny_dit):
    features, _, reference, pose, document = dance
    result = run(modules, dance, tiny_dit, "temporal")
    assert result.num_frames == 60 and (result.canvas_width, result.canvas_height) == (256, 384)
    assert_keyframe_lands(result, document)
    edits = modules["edit"].parse_edit_document(document)
    edited = modules["edit"].apply_edits(pose, edits)
    near = list(range(KEY_FRAME - MARGIN_FRAMES, KEY_FRAME + MARGIN_FRAMES + 1))
    np.testing.assert_allclose(result.keypoints_px[near, :18], edited.keypoints_px[near, :18], atol=1e-2)
    moved = np.linalg.norm(result.keypoints_px[FAR_FRAMES, :18] - pose.keypoints_px[FAR_FRAMES, :18], axis=-1)
    assert moved.mean() > 2.0  # pixels: new motion away from the keyframe
    # ... and that motion is the DiT's, in-painted around the kept frames (same seed, same constraints)
    keep = modules["edit"].keep_mask(60, edits, MARGIN_FRAMES)
    direct = modules["dit"].generate_pose_dit(tiny_dit, features, reference, 60, seed=3, keep=edited, keep_frames=keep)
    np.testing.assert_allclose(result.keypoints_px[FAR_FRAMES, :18], direct.keypoints_px[FAR_FRAMES, :18], atol=1e-2)


def test_joints_mode_keeps_the_keyed_chain_and_the_dit_moves_the_other_joints(modules, dance, tiny_dit):
    _, _, _, pose, document = dance
    result = run(modules, dance, tiny_dit, "joints")
    assert_keyframe_lands(result, document)
    kept = np.flatnonzero(modules["edit"].regenerate.kept_joints(modules["edit"].parse_edit_document(document)))
    assert {R_SHOULDER, R_ELBOW, R_WRIST} <= set(kept) and L_ANKLE not in kept
    np.testing.assert_allclose(result.keypoints_px[FAR_FRAMES][:, kept], pose.keypoints_px[FAR_FRAMES][:, kept],
                               atol=1e-2)
    for joint in (L_WRIST, L_ANKLE):
        moved = np.linalg.norm(result.keypoints_px[:, joint] - pose.keypoints_px[:, joint], axis=-1)
        assert moved.mean() > 2.0, joint


def test_missing_or_short_music_features_are_named(modules, dance, tiny_dit):
    features = dance[0]
    error = modules["dit"].PoseDiTInputError
    with pytest.raises(error, match="no music_features"):
        run(modules, dance, tiny_dit, "temporal", music_features=None)
    short = replace(features, values=features.values[:30])
    with pytest.raises(error, match="music features have 30 frames but the pose has 60"):
        run(modules, dance, tiny_dit, "joints", music_features=short)


@pytest.mark.skipif(not (DEMO / "dit" / "model.safetensors").is_file(), reason="demo checkpoint not built")
@pytest.mark.parametrize("mode", ["temporal", "joints"])
def test_the_bundled_demo_re_dances_around_the_keyframe(pack, modules, dance, mode, click_song_features):
    pose_dit_nodes = importlib.import_module(f"{pack.__name__}.nodes.pose_dit_nodes")
    (model,) = pose_dit_nodes.ChoreoLoadPoseDiT().load(pose_dit_nodes.DEMO_NAME)
    pose, document = dance[3], dance[4]
    result = run(modules, dance, model, mode, music_features=click_song_features(model.music_extractor))
    assert_keyframe_lands(result, document)
    assert np.isfinite(result.keypoints_px[:, :18]).all()
    moved = np.linalg.norm(result.keypoints_px[FAR_FRAMES, :18] - pose.keypoints_px[FAR_FRAMES, :18], axis=-1)
    assert moved.mean() > 5.0  # pixels (the demo measured 38 temporal, 26 joints)
