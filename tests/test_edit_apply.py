"""Applying editor keyframes: exact hits, preserved bones, smooth blends, locks; and regeneration around them."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from conftest import load_pack
from edit_synthetic import synthetic_dance

PACK = load_pack()
edit = importlib.import_module(f"{PACK.__name__}.choreo.edit")
joint_space = importlib.import_module(f"{PACK.__name__}.choreo.edit.joint_space")
PoseInputError = PACK.choreo.errors.PoseInputError

R_SHOULDER, R_ELBOW, R_WRIST, R_ANKLE, L_ANKLE = 2, 3, 4, 10, 13


def rotated(points: np.ndarray, pivot: int, joints: list[int], angle_deg: float) -> dict[str, list[float]]:
    """Targets: ``joints`` of one frame (136, 2) rotated about ``pivot`` (what the editor's rotate tool writes)."""
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = (points[joints] - points[pivot]) @ rotation.T + points[pivot]
    return {str(j): [float(x), float(y)] for j, (x, y) in zip(joints, moved)}


def document(keyframes: list[dict], blend_frames: int = 6, locked: list[int] = ()):
    return edit.EditDocument(blend_frames=blend_frames, locked_joints=tuple(locked), keyframes=tuple(
        edit.Keyframe(k["frame"], k.get("ease", "smooth"),
                      tuple(sorted((int(j), x, y) for j, (x, y) in k["joints"].items()))) for k in keyframes))


def arm_edits(seq, blend_frames: int = 6, second_ease: str = "smooth"):
    kp = seq.keypoints_px.astype(np.float64)
    return document([
        {"frame": 30, "joints": rotated(kp[30], R_SHOULDER, [R_ELBOW, R_WRIST], 50)},
        {"frame": 60, "ease": second_ease, "joints": rotated(kp[60], R_SHOULDER, [R_ELBOW, R_WRIST], -40)},
        {"frame": 95, "joints": rotated(kp[95], R_ELBOW, [R_WRIST], 70)},
    ], blend_frames)


def assert_targets_hit(result, doc):
    for keyframe in doc.keyframes:
        for joint, x, y in keyframe.joints:
            if joint not in doc.locked_joints:
                np.testing.assert_allclose(result.keypoints_px[keyframe.frame, joint], [x, y], atol=1e-3)


def bone_lengths(seq) -> np.ndarray:
    return joint_space.to_joint_space(seq.keypoints_px).length_px


def test_a_document_without_keyframes_returns_the_input_unchanged():
    seq = synthetic_dance(40)
    assert edit.apply_edits(seq, edit.parse_edit_document("{}")) is seq
    assert edit.apply_edits(seq, edit.parse_edit_document("")) is seq
    assert edit.apply_edits(seq, document([], locked=[R_ANKLE])) is seq


def test_keyframed_joints_land_exactly_on_their_targets():
    seq = synthetic_dance()
    doc = arm_edits(seq)
    assert_targets_hit(edit.apply_edits(seq, doc), doc)


def test_bone_lengths_are_preserved_on_every_frame():
    seq = synthetic_dance()
    result = edit.apply_edits(seq, arm_edits(seq))
    np.testing.assert_allclose(bone_lengths(result), bone_lengths(seq), atol=1e-3)


def test_edits_fade_in_and_out_over_the_blend_window_only():
    seq = synthetic_dance()
    blend = 8
    moved = np.abs(edit.apply_edits(seq, arm_edits(seq, blend)).keypoints_px - seq.keypoints_px).max(axis=(1, 2))
    assert moved[: 30 - blend].max() < 1e-3 and moved[95 + blend:].max() < 1e-3
    assert moved[30 - blend + 1] > 1e-3 and moved[95 + blend - 1] > 1e-3


def test_motion_is_continuous_at_blend_boundaries():
    seq = synthetic_dance()
    blend = 10
    result = edit.apply_edits(seq, arm_edits(seq, blend))
    steps = lambda s: np.linalg.norm(np.diff(s.keypoints_px.astype(np.float64), axis=0), axis=-1).max(axis=1)
    displacement = np.linalg.norm(result.keypoints_px - seq.keypoints_px, axis=-1).max()
    # a smoothstep ramp over `blend` frames moves at most 1.5 x displacement / blend per frame on top of the dance
    bound = steps(seq).max() + 1.5 * displacement / blend + 1e-3
    assert steps(result).max() <= bound
    for boundary in (30 - blend, 95 + blend):  # the ramps start and end with zero slope: no cut, no kick
        window = slice(boundary - 2, boundary + 1)
        assert np.abs(steps(result)[window] - steps(seq)[window]).max() < 0.05 * displacement


def test_hold_ease_keeps_the_previous_keyframe_until_the_next():
    seq = synthetic_dance()
    result = edit.apply_edits(seq, arm_edits(seq, second_ease="hold"))
    before = joint_space.to_joint_space(seq.keypoints_px).angle_rad
    after = joint_space.to_joint_space(result.keypoints_px).angle_rad
    turn = joint_space.wrap_angle(after[:, R_ELBOW] - before[:, R_ELBOW])
    np.testing.assert_allclose(turn[30:60], turn[30], atol=1e-4)
    assert abs(turn[60] - turn[59]) > 0.5
    assert_targets_hit(result, arm_edits(seq, second_ease="hold"))


def test_locked_joints_never_move():
    seq = synthetic_dance()
    kp = seq.keypoints_px.astype(np.float64)
    whole_body = {str(j): [float(x) + 25.0, float(y) - 15.0] for j, (x, y) in enumerate(kp[50])}
    doc = document([{"frame": 50, "joints": whole_body}], blend_frames=6, locked=[R_ANKLE, L_ANKLE])
    result = edit.apply_edits(seq, doc)
    np.testing.assert_array_equal(result.keypoints_px[:, [R_ANKLE, L_ANKLE]], seq.keypoints_px[:, [R_ANKLE, L_ANKLE]])
    np.testing.assert_allclose(result.keypoints_px[50, R_WRIST], whole_body[str(R_WRIST)], atol=1e-3)


def test_a_whole_body_move_and_scale_is_hit_exactly():
    seq = synthetic_dance()
    kp = seq.keypoints_px.astype(np.float64)
    center = kp[50, :18].mean(axis=0)
    moved = (kp[50] - center) * 1.1 + center + [30.0, -20.0]
    doc = document([{"frame": 50, "joints": {str(j): list(map(float, p)) for j, p in enumerate(moved)}}])
    result = edit.apply_edits(seq, doc)
    assert_targets_hit(result, doc)
    np.testing.assert_allclose(bone_lengths(result)[50], 1.1 * bone_lengths(seq)[50], atol=1e-3)
    np.testing.assert_allclose(bone_lengths(result)[:40], bone_lengths(seq)[:40], atol=1e-3)


def test_an_unreachable_target_lands_as_close_as_the_bone_allows():
    seq = synthetic_dance(20)
    elbow = seq.keypoints_px[10, R_ELBOW].astype(np.float64)
    far = elbow + [500.0, 0.0]
    result = edit.apply_edits(seq, document([{"frame": 10, "joints": {str(R_WRIST): list(far)}}]))
    wrist = result.keypoints_px[10, R_WRIST]
    forearm = np.linalg.norm(seq.keypoints_px[10, R_WRIST] - seq.keypoints_px[10, R_ELBOW])
    np.testing.assert_allclose(wrist, elbow + [forearm, 0.0], atol=1e-3)


def test_a_keyframe_past_the_end_is_refused_with_the_fix():
    seq = synthetic_dance(20)
    with pytest.raises(PoseInputError, match=r"keyframes\[0\] is at frame 25 .* 20 frames"):
        edit.apply_edits(seq, document([{"frame": 25, "joints": {"4": [1.0, 2.0]}}]))


def test_three_minutes_with_fifty_whole_body_keyframes_all_land():
    seq = synthetic_dance(180 * 30)
    kp = seq.keypoints_px.astype(np.float64)
    frames = np.linspace(20, seq.num_frames - 20, 50).astype(int)
    doc = document([{"frame": int(f), "joints": {str(j): [float(x) + 10.0, float(y)] for j, (x, y) in
                                                 enumerate(kp[f])}} for f in frames])
    assert_targets_hit(edit.apply_edits(seq, doc), doc)


def fake_generator(reference, shift_px: float = 40.0):
    """generate(seed): the reference dance moved sideways and swung differently, same clock and canvas."""
    def generate(seed: int):
        other = synthetic_dance(reference.num_frames, seed=seed + 7)
        return other.__class__(other.keypoints_px + np.float32(shift_px), other.confidence, reference.canvas_width,
                               reference.canvas_height, reference.fps)
    return generate


def test_temporal_regeneration_keeps_keyframes_and_takes_new_frames_elsewhere():
    seq = synthetic_dance()
    doc = arm_edits(seq)
    generate = fake_generator(seq)
    result = edit.regenerate_around_edits(seq, doc, generate, mode="temporal", seed=3, keep_margin_frames=4)
    assert_targets_hit(result, doc)
    new = generate(3)
    np.testing.assert_allclose(result.keypoints_px[:10], new.keypoints_px[:10], atol=1e-3)
    np.testing.assert_allclose(bone_lengths(result)[26:35], bone_lengths(seq)[26:35], atol=1e-3)


def test_joint_regeneration_keeps_keyed_and_locked_joints_and_bone_lengths():
    seq = synthetic_dance()
    kp = seq.keypoints_px.astype(np.float64)
    doc = document([{"frame": 30, "joints": rotated(kp[30], R_SHOULDER, [R_ELBOW, R_WRIST], 50)}], locked=[L_ANKLE])
    generate = fake_generator(seq)
    result = edit.regenerate_around_edits(seq, doc, generate, mode="joints", seed=1)
    assert_targets_hit(result, doc)
    np.testing.assert_array_equal(result.keypoints_px[:, L_ANKLE], seq.keypoints_px[:, L_ANKLE])
    free_bones = [j for j in range(136) if j not in (L_ANKLE,) and joint_space.PARENT[j] != L_ANKLE]
    np.testing.assert_allclose(bone_lengths(result)[:, free_bones], bone_lengths(seq)[:, free_bones], atol=1e-3)
    new_angles = joint_space.to_joint_space(generate(1).keypoints_px).angle_rad
    got_angles = joint_space.to_joint_space(result.keypoints_px).angle_rad
    left_knee = 12
    np.testing.assert_allclose(joint_space.wrap_angle(got_angles[:, left_knee] - new_angles[:, left_knee]), 0,
                               atol=1e-4)


def test_regeneration_refuses_a_generator_on_another_clock():
    seq = synthetic_dance(30)
    with pytest.raises(PoseInputError, match="30 at 30 fps"):
        edit.regenerate_around_edits(seq, arm_edits(synthetic_dance(100)), lambda seed: synthetic_dance(40))
