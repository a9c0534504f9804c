"""X-Dancer on the core data model: layout mapping, checkpoints, long and constrained generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from choreo.checkpoints import CheckpointError
from choreo.edit.keyframes import EditDocument, Keyframe
from choreo.edit.regenerate import keep_mask, regenerate_around_edits
from choreo.errors import PoseInputError
from choreo.generators.xdancer import (TOKENIZER_JOINTS, XDancerInputError, XDancerModels, context_frames,
                                       decode_pose_tokens, encode_pose_tokens, from_tokenizer_output,
                                       generate_xdancer_motion, load_xdancer, part_layout_joints,
                                       reference_body_frame, save_xdancer, to_tokenizer_input, window_starts,
                                       xdancer_generator)
from choreo.music.features import MusicFeatures
from choreo.pose.layout import B, FACE, FEET
from choreo.pose.reference import default_reference_pose
from choreo.pose.sequence import PoseSequence2D
from models.motion_gpt import MotionGPT, MotionGPTConfig
from models.pose_vqvae import PoseVQVAE, PoseVQVAEConfig


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models() -> XDancerModels:
    """Untrained tiny networks: generation mechanics do not depend on what the weights learned."""
    torch.manual_seed(0)
    tokenizer = PoseVQVAE(PoseVQVAEConfig(hidden=16, decoder_hidden=32, decoder_layers=1, codebook_size=32))
    tokenizer(torch.randn(256, 60, 3).clamp(0, 1))  # data-initialise the codebooks
    gpt = MotionGPT(MotionGPTConfig(codebook_size=32, n_layer=1, n_head=2, n_embd=32, block_frames=64,
                                    num_music_context_tokens=2, dropout=0.0))
    return XDancerModels(tokenizer.eval(), gpt.eval(), np.zeros(35, np.float32), np.ones(35, np.float32), 30.0,
                         "edge_librosa")


@pytest.fixture(scope="module")
def reference() -> PoseSequence2D:
    return default_reference_pose(512, 768)


def features(num_frames: int, fps: float = 30.0) -> MusicFeatures:
    values = np.random.default_rng(0).normal(size=(num_frames, 35)).astype(np.float32)
    return MusicFeatures(values, fps, "edge_librosa", tuple(f"c{i}" for i in range(35)))


def moving_sequence(reference: PoseSequence2D, num_frames: int) -> PoseSequence2D:
    """The reference pose swaying sideways, on a canvas twice the reference's size."""
    shift = 20.0 * np.sin(np.arange(num_frames) / 3.0)[:, None, None] * np.array([1.0, 0.0])
    points = (reference.keypoints_px[0][None] + shift) * 2.0
    confidence = np.repeat(reference.confidence[:1], num_frames, 0)
    return PoseSequence2D(points.astype(np.float32), confidence, reference.canvas_width * 2,
                          reference.canvas_height * 2, 30.0)


def test_layout_round_trip_136_to_60_to_136_on_the_kept_joints(reference):
    seq = moving_sequence(reference, 5)
    poses = to_tokenizer_input(seq, reference)
    assert poses.shape == (5, 60, 3)
    back = from_tokenizer_output(poses, reference, 30.0)
    kept = list(TOKENIZER_JOINTS)
    assert np.allclose(back.keypoints_px[:, kept], seq.keypoints_px[:, kept] / 2.0, atol=1e-3)
    assert np.array_equal(back.confidence[:, kept], seq.confidence[:, kept])
    assert (back.confidence[:, FEET] == 0).all() and (back.confidence[:, FACE] == 0).all()
    assert {"foot_keypoints_2d", "face_keypoints_2d"} <= back.missing_parts


def test_normalised_coordinates_are_in_reference_torso_units(reference):
    poses = to_tokenizer_input(reference, reference)
    neck = poses[0, B["neck"], :2]
    hips = poses[0, [B["right_hip"], B["left_hip"]], :2].mean(0)
    assert np.allclose(hips, 0.0, atol=1e-5) and np.linalg.norm(neck) == pytest.approx(1.0, abs=1e-5)
    assert reference_body_frame(reference).unit_px > 10


def test_reference_without_a_body_is_refused(reference):
    empty = PoseSequence2D.empty(1, 512, 768, 30.0)
    with pytest.raises(PoseInputError, match="neither hips nor neck"):
        to_tokenizer_input(reference, empty)


def test_encode_decode_tokens_shapes(models, reference):
    seq = moving_sequence(reference, 7)
    tokens = encode_pose_tokens(models, seq, reference)
    assert tokens.shape == (7, 5, 6) and tokens.dtype == np.int64
    decoded = decode_pose_tokens(models, tokens, reference, 30.0)
    assert decoded.num_frames == 7 and decoded.canvas_width == reference.canvas_width
    with pytest.raises(XDancerInputError, match="0..31"):
        decode_pose_tokens(models, tokens + 100, reference, 30.0)


def test_window_starts_and_context_frames():
    assert window_starts(150, 64, 12) == [0, 52, 104]
    assert window_starts(64, 64, 12) == [0]
    assert window_starts(10, 64, 12) == [0]
    assert context_frames(52, 116, 8).tolist() == [52, 61, 70, 79, 88, 97, 106, 115]
    with pytest.raises(XDancerInputError, match="overlap"):
        window_starts(100, 16, 16)


def test_long_generation_has_the_right_length_and_consistent_overlaps(models, reference, monkeypatch):
    calls = []
    generate = models.gpt.generate

    def recording(music, context, forced, *args, **kwargs):
        out = generate(music, context, forced, *args, **kwargs)
        calls.append((music.shape[1], None if context is None else context.clone(), forced.clone(), out.clone()))
        return out

    monkeypatch.setattr(models.gpt, "generate", recording)
    fractions = []
    seq, tokens = generate_xdancer_motion(models, features(160), reference, num_frames=150, seed=3,
                                          progress=fractions.append)
    assert seq.num_frames == 150 and tokens.shape == (150, 5, 6) and seq.fps == 30.0
    assert (seq.canvas_width, seq.canvas_height) == (reference.canvas_width, reference.canvas_height)
    assert [c[0] for c in calls] == [64, 64, 46]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 4
    assert np.array_equal(tokens[0], encode_pose_tokens(models, reference, reference)[0])
    assert calls[0][1] is None
    for (_, _, _, previous), (_, context, forced, _) in zip(calls, calls[1:]):
        # the 12 overlap frames are given: the last 12 of the previous window
        assert torch.equal(forced[0, :12], previous[0, -12:])
        assert (forced[0, 12:] == -1).all()
        assert torch.equal(context[0], previous[0, context_frames(0, previous.shape[1], 8)])
    for window, start in zip(calls, (0, 52, 104)):
        assert np.array_equal(tokens[start:start + window[0]], window[3][0].numpy().reshape(-1, 5, 6))


def test_same_seed_same_dance(models, reference):
    a = generate_xdancer_motion(models, features(20), reference, seed=1, window=12, overlap=4)[1]
    b = generate_xdancer_motion(models, features(20), reference, seed=1, window=12, overlap=4)[1]
    c = generate_xdancer_motion(models, features(20), reference, seed=2, window=12, overlap=4)[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_progress_can_interrupt(models, reference):
    class Stop(Exception):
        pass

    def progress(fraction):
        if fraction > 0:
            raise Stop

    with pytest.raises(Stop):
        generate_xdancer_motion(models, features(40), reference, window=16, overlap=4, progress=progress)


def test_constrained_generation_keeps_keyframes_and_locked_parts(models, reference):
    keep = moving_sequence(reference, 24)
    kept_tokens = encode_pose_tokens(models, keep, reference)
    seq, tokens = generate_xdancer_motion(models, features(24), reference, window=16, overlap=4, keep=keep,
                                          keep_frames=[5, 20])
    assert np.array_equal(tokens[[5, 20]], kept_tokens[[5, 20]])
    kept = list(TOKENIZER_JOINTS)
    assert np.allclose(seq.keypoints_px[[5, 20]][:, kept], keep.keypoints_px[[5, 20]][:, kept] / 2.0, atol=1e-3)
    seq, tokens = generate_xdancer_motion(models, features(24), reference, window=16, overlap=4, keep=keep,
                                          keep_parts=["left_hand", "head"])
    assert np.array_equal(tokens[:, [2, 3]], kept_tokens[:, [2, 3]])
    hand = list(part_layout_joints("left_hand"))
    assert np.allclose(seq.keypoints_px[:, hand], keep.keypoints_px[:, hand] / 2.0, atol=1e-3)
    with pytest.raises(XDancerInputError, match="unknown part"):
        generate_xdancer_motion(models, features(24), reference, keep=keep, keep_parts=["tail"])


def test_generator_plugs_into_regenerate_around_edits(models, reference):
    before = moving_sequence(reference, 30)
    before = PoseSequence2D(before.keypoints_px / 2.0, before.confidence, reference.canvas_width,
                            reference.canvas_height, 30.0)
    elbow, wrist = before.keypoints_px[10, B["right_elbow"]], before.keypoints_px[10, B["right_wrist"]]
    turn = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    target = elbow + turn @ (wrist - elbow)  # within the forearm's reach
    edits = EditDocument(blend_frames=2, keyframes=(Keyframe(10, joints=((B["right_wrist"], *map(float, target)),)),))
    generate = xdancer_generator(models, features(30), reference, window=16, overlap=4, keep=before,
                                 keep_frames=keep_mask(30, edits))
    result = regenerate_around_edits(before, edits, generate, seed=4)
    assert result.num_frames == 30
    assert np.allclose(result.keypoints_px[10, B["right_wrist"]], target, atol=1e-2)


def test_inputs_that_do_not_fit_the_model_are_refused(models, reference):
    with pytest.raises(XDancerInputError, match="24 fps"):
        generate_xdancer_motion(models, features(40, fps=24.0), reference)
    with pytest.raises(XDancerInputError, match="num_frames"):
        generate_xdancer_motion(models, features(40), reference, num_frames=41)
    with pytest.raises(XDancerInputError, match="window"):
        generate_xdancer_motion(models, features(40), reference, window=65)


def test_checkpoint_round_trip_and_cache(models, reference, tmp_path):
    save_xdancer(tmp_path / "demo", models)
    loaded = load_xdancer(tmp_path / "demo")
    assert loaded is load_xdancer(tmp_path / "demo")
    assert loaded.fps == 30.0 and loaded.music_extractor == "edge_librosa"
    a = generate_xdancer_motion(models, features(20), reference, window=16, overlap=4)[1]
    b = generate_xdancer_motion(loaded, features(20), reference, window=16, overlap=4)[1]
    assert np.array_equal(a, b)
    with pytest.raises(CheckpointError, match="tokenizer/"):
        load_xdancer(tmp_path)
