"""One-hot pose images and their VAE latents (HotDance representation, issue 14 items 1-2)."""

from __future__ import annotations

import numpy as np
import pytest

from choreo.errors import PoseInputError
from choreo.pose.layout import BODY, LEFT_HAND, RIGHT_HAND
from choreo.pose.onehot_image import OneHotConfig, channel_of, onehot_to_pose, pose_to_onehot, scale_hands
from choreo.pose.sequence import PoseSequence2D

WIDTH_PX, HEIGHT_PX, FPS = 512, 768, 30.0


def random_pose(num_frames: int = 6, seed: int = 0, margin_px: float = 0.0) -> PoseSequence2D:
    """Keypoints uniform over the canvas (inside ``margin_px``), confidences in [0.05, 1]."""
    rng = np.random.default_rng(seed)
    low = np.array([margin_px, margin_px])
    high = np.array([WIDTH_PX - margin_px, HEIGHT_PX - margin_px])
    keypoints_px = rng.uniform(low, high, (num_frames, 136, 2)).astype(np.float32)
    confidence = rng.uniform(0.05, 1.0, (num_frames, 136)).astype(np.float32)
    return PoseSequence2D(keypoints_px, confidence, WIDTH_PX, HEIGHT_PX, FPS)


def bins_of(pose: PoseSequence2D, config: OneHotConfig) -> np.ndarray:
    """(T, K, 2) bin of each encoded coordinate, worked out directly from the paper's floor(W * coord)."""
    coord_norm = pose.keypoints_px[:, config.keypoint_indices] / np.array([WIDTH_PX, HEIGHT_PX])
    return np.floor(config.num_bins * coord_norm).astype(int)


def test_shape_is_two_channels_per_keypoint_by_bins_by_frames():
    pose = random_pose(num_frames=7)
    assert pose_to_onehot(pose, OneHotConfig(num_bins=256)).shape == (36, 256, 7)
    assert pose_to_onehot(pose, OneHotConfig(num_bins=64, hands=True)).shape == (120, 64, 7)
    assert OneHotConfig(hands=True).num_channels == 120


def test_channel_holds_confidence_at_floor_bin_with_unit_peak_gaussian():
    pose = random_pose(num_frames=1)
    config = OneHotConfig(num_bins=128, sigma_bins=3.0)
    image = pose_to_onehot(pose, config)
    slot, axis = 5, 1
    hot_bin = bins_of(pose, config)[0, slot, axis]
    column = image[channel_of(slot, axis), :, 0]
    expected = pose.confidence[0, slot] * np.exp(-0.5 * ((np.arange(128) - hot_bin) / 3.0) ** 2)
    np.testing.assert_allclose(column, expected, rtol=1e-5, atol=1e-9)
    assert column.argmax() == hot_bin and column.max() == pose.confidence[0, slot]


def test_plain_one_hot_when_sigma_is_zero():
    image = pose_to_onehot(random_pose(num_frames=2), OneHotConfig(num_bins=64, sigma_bins=0.0))
    assert ((image > 0).sum(axis=1) == 1).all()


@pytest.mark.parametrize("num_bins", [64, 256, 512])
@pytest.mark.parametrize("sigma_bins", [0.0, 2.0])
def test_round_trip_is_exact_to_the_bin_and_within_half_a_bin(num_bins, sigma_bins):
    pose = random_pose(seed=num_bins)
    config = OneHotConfig(num_bins=num_bins, sigma_bins=sigma_bins, hands=True)
    decoded = onehot_to_pose(pose_to_onehot(pose, config), WIDTH_PX, HEIGHT_PX, FPS, config)
    np.testing.assert_array_equal(bins_of(decoded, config), bins_of(pose, config))
    error_px = np.abs(decoded.keypoints_px - pose.keypoints_px)[:, config.keypoint_indices]
    half_bin_px = 0.5 * np.array([WIDTH_PX, HEIGHT_PX]) / num_bins
    assert (error_px <= half_bin_px + 1e-4).all()
    np.testing.assert_array_equal(pose_to_onehot(decoded, config), pose_to_onehot(pose, config))


def test_decoded_confidence_is_the_encoded_one_and_the_minimum_of_the_two_axes():
    pose = random_pose(num_frames=3)
    config = OneHotConfig(num_bins=128)
    image = pose_to_onehot(pose, config)
    np.testing.assert_array_equal(onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config).confidence[:, BODY],
                                  pose.confidence[:, BODY])
    image[channel_of(2, 0)] *= 0.25  # weaken only the x axis of slot 2
    decoded = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config)
    np.testing.assert_allclose(decoded.confidence[:, 2], 0.25 * pose.confidence[:, 2], rtol=1e-6)


def test_absent_keypoints_give_empty_channels_and_decode_absent():
    pose = random_pose(num_frames=4)
    confidence = pose.confidence.copy()
    confidence[1, 3] = 0.0
    pose = PoseSequence2D(pose.keypoints_px, confidence, WIDTH_PX, HEIGHT_PX, FPS)
    config = OneHotConfig(num_bins=64)
    image = pose_to_onehot(pose, config)
    assert not image[[channel_of(3, 0), channel_of(3, 1)], :, 1].any()
    decoded = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config)
    assert decoded.confidence[1, 3] == 0 and (decoded.keypoints_px[1, 3] == 0).all()
    assert decoded.confidence[0, 3] > 0


def test_unencoded_parts_decode_absent_and_marked_missing():
    config = OneHotConfig(num_bins=64)
    decoded = onehot_to_pose(pose_to_onehot(random_pose(), config), WIDTH_PX, HEIGHT_PX, FPS, config)
    assert decoded.missing_parts == {"foot_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
                                     "hand_right_keypoints_2d"}
    assert not decoded.confidence[:, 18:].any()
    assert (decoded.canvas_width, decoded.canvas_height, decoded.fps) == (WIDTH_PX, HEIGHT_PX, FPS)


def test_canvas_edges_map_to_first_and_last_bins_and_outside_points_clip():
    keypoints_px = np.zeros((1, 136, 2), np.float32)
    keypoints_px[0, :4] = [[0.0, 0.0], [WIDTH_PX - 1e-3, HEIGHT_PX - 1e-3], [-40.0, HEIGHT_PX + 40.0],
                           [WIDTH_PX / 2, HEIGHT_PX / 2]]
    pose = PoseSequence2D(keypoints_px, np.ones((1, 136), np.float32), WIDTH_PX, HEIGHT_PX, FPS)
    config = OneHotConfig(num_bins=16, sigma_bins=0.0)
    peak = pose_to_onehot(pose, config)[:8, :, 0].argmax(axis=1).reshape(4, 2)
    np.testing.assert_array_equal(peak, [[0, 0], [15, 15], [0, 15], [8, 8]])


def test_big_hand_scaling_moves_fingers_along_wrist_rays_and_inverts():
    pose = random_pose(num_frames=3)
    scaled = scale_hands(pose.keypoints_px, pose.confidence, 2.5)
    for hand in (LEFT_HAND, RIGHT_HAND):
        wrist = pose.keypoints_px[:, hand.start:hand.start + 1]
        np.testing.assert_allclose(scaled[:, hand] - wrist, 2.5 * (pose.keypoints_px[:, hand] - wrist), atol=1e-3)
    np.testing.assert_array_equal(scaled[:, :94], pose.keypoints_px[:, :94])
    np.testing.assert_allclose(scale_hands(scaled, pose.confidence, 1 / 2.5), pose.keypoints_px, atol=1e-3)


def test_hand_without_wrist_is_left_unscaled():
    pose = random_pose(num_frames=1)
    confidence = pose.confidence.copy()
    confidence[0, LEFT_HAND.start] = 0.0
    scaled = scale_hands(pose.keypoints_px, confidence, 3.0)
    np.testing.assert_array_equal(scaled[:, LEFT_HAND], pose.keypoints_px[:, LEFT_HAND])
    assert not np.allclose(scaled[:, RIGHT_HAND], pose.keypoints_px[:, RIGHT_HAND])


def test_big_hand_round_trip_undoes_scaling_within_half_a_bin():
    rng = np.random.default_rng(3)
    pose = random_pose(num_frames=4, margin_px=200.0)
    keypoints_px = pose.keypoints_px.copy()
    for hand in (LEFT_HAND, RIGHT_HAND):  # small hands, so the doubled ones stay on the canvas
        keypoints_px[:, hand] = keypoints_px[:, hand.start:hand.start + 1] + rng.uniform(-40, 40, (4, 21, 2))
    pose = PoseSequence2D(keypoints_px, pose.confidence, WIDTH_PX, HEIGHT_PX, FPS)
    config = OneHotConfig(num_bins=256, hands=True, big_hand_scale=2.0)
    decoded = onehot_to_pose(pose_to_onehot(pose, config), WIDTH_PX, HEIGHT_PX, FPS, config)
    half_bin_px = 0.5 * np.array([WIDTH_PX, HEIGHT_PX]) / 256
    hands = np.r_[np.arange(LEFT_HAND.start, LEFT_HAND.stop), np.arange(RIGHT_HAND.start, RIGHT_HAND.stop)]
    error_px = np.abs(decoded.keypoints_px[:, hands] - keypoints_px[:, hands])
    assert (error_px <= half_bin_px * 1.5 + 1e-3).all()  # wrist error + finger error / 2


def test_centroid_refinement_keeps_exact_peaks_and_finds_between_bin_peaks():
    pose = random_pose(num_frames=2)
    config = OneHotConfig(num_bins=128, sigma_bins=2.0)
    image = pose_to_onehot(pose, config)
    plain = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config)
    refined = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config, refine_centroid=True)
    np.testing.assert_allclose(refined.keypoints_px, plain.keypoints_px, atol=1e-3)
    column = np.exp(-0.5 * ((np.arange(128) - 40.5) / 2.0) ** 2)  # peak between bins 40 and 41
    image[channel_of(0, 0), :, 0] = column
    refined = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config, refine_centroid=True)
    assert refined.keypoints_px[0, 0, 0] == pytest.approx((40.5 + 0.5) * WIDTH_PX / 128, abs=0.05)


def test_decoding_rejects_an_image_of_another_config():
    image = pose_to_onehot(random_pose(), OneHotConfig(num_bins=64))
    with pytest.raises(PoseInputError, match="decode with the OneHotConfig"):
        onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, OneHotConfig(num_bins=64, hands=True))


@pytest.mark.parametrize("field, value, message", [("num_bins", 1, "num_bins"), ("sigma_bins", -1.0, "sigma_bins"),
                                                   ("big_hand_scale", 0.5, "big_hand_scale")])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(PoseInputError, match=message):
        OneHotConfig(**{field: value})


# --- latents through a tiny, randomly initialised SD-style VAE -------------------------------------------------

@pytest.fixture(scope="module")
def tiny_vae():
    diffusers = pytest.importorskip("diffusers")
    import torch

    torch.manual_seed(0)
    return diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                                   up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8),
                                   layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=32).eval()


def test_padding_duplicates_last_channel_and_pads_bins_with_zeros_and_frames_with_the_last():
    from choreo.pose.onehot_latents import pad_for_vae

    image = np.random.default_rng(0).uniform(size=(4, 13, 10)).astype(np.float32)
    padded = pad_for_vae(image, 8)
    assert padded.shape == (6, 16, 16)
    np.testing.assert_array_equal(padded[:4, :13, :10], image)
    np.testing.assert_array_equal(padded[4:, :13, :10], np.stack([image[3], image[3]]))
    assert not padded[:, 13:].any()
    np.testing.assert_array_equal(padded[:, :13, 10:], np.repeat(padded[:, :13, 9:10], 6, axis=2))


def test_latents_have_four_channels_per_triplet_on_an_eighth_grid(tiny_vae):
    from choreo.pose.onehot_latents import encode_onehot_latents, vae_downsampling

    assert vae_downsampling(tiny_vae) == 8
    image = pose_to_onehot(random_pose(num_frames=20), OneHotConfig(num_bins=64))  # C = 36 -> G = 12
    latents = encode_onehot_latents(image, tiny_vae)
    assert tuple(latents.latents.shape) == (48, 8, 3)  # 64 / 8 bins, ceil(20 / 8) columns
    assert (latents.num_channels, latents.num_bins, latents.num_frames) == (36, 64, 20)
    odd = encode_onehot_latents(image[:35, :60], tiny_vae)  # 35 channels -> 12 triplets, 60 bins -> 64
    assert tuple(odd.latents.shape) == (48, 8, 3)


def test_encode_decode_argmax_runs_end_to_end(tiny_vae):
    from choreo.pose.onehot_latents import decode_onehot_latents, encode_onehot_latents

    config = OneHotConfig(num_bins=64, hands=True, big_hand_scale=1.5)
    image = pose_to_onehot(random_pose(num_frames=12), config)
    decoded_image = decode_onehot_latents(encode_onehot_latents(image, tiny_vae, triplets_per_batch=16), tiny_vae)
    assert decoded_image.shape == image.shape and decoded_image.dtype == np.float32
    assert decoded_image.min() >= 0 and decoded_image.max() <= 1
    poses = onehot_to_pose(decoded_image, WIDTH_PX, HEIGHT_PX, FPS, config)
    assert poses.num_frames == 12 and np.isfinite(poses.keypoints_px).all()


def test_peak_tracking_equals_argmax_on_an_exact_encoding_of_smooth_motion():
    config = OneHotConfig(num_bins=128, sigma_bins=2.0)
    pose = random_pose(num_frames=1, margin_px=40.0)
    frames = 12
    drift_px = np.linspace(0.0, 30.0, frames)[:, None, None] * np.array([1.0, -1.0])
    moving = PoseSequence2D((pose.keypoints_px + drift_px).astype(np.float32), np.ones((frames, 136), np.float32),
                            WIDTH_PX, HEIGHT_PX, FPS)  # full confidence: every one-bin move gains more than 0.05
    image = pose_to_onehot(moving, config)
    plain = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config)
    tracked = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config, track_penalty=0.05)
    np.testing.assert_array_equal(tracked.keypoints_px, plain.keypoints_px)
    np.testing.assert_array_equal(tracked.confidence, plain.confidence)


def test_peak_tracking_ignores_a_one_frame_spurious_blob_that_argmax_jumps_to():
    config = OneHotConfig(num_bins=64, sigma_bins=2.0)
    pose = random_pose(num_frames=1, margin_px=40.0)
    still = PoseSequence2D(np.repeat(pose.keypoints_px, 5, 0), np.ones((5, 136), np.float32), WIDTH_PX, HEIGHT_PX, FPS)
    image = pose_to_onehot(still, config) * 0.8
    true_bin = int(image[channel_of(0, 0), :, 2].argmax())
    far_bin = (true_bin + 32) % 64
    image[channel_of(0, 0), far_bin, 2] = 0.9  # a stronger, spurious peak in frame 2 only
    plain = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config)
    tracked = onehot_to_pose(image, WIDTH_PX, HEIGHT_PX, FPS, config, track_penalty=0.05)
    assert plain.keypoints_px[2, 0, 0] != plain.keypoints_px[1, 0, 0]
    np.testing.assert_array_equal(tracked.keypoints_px[:, 0], np.repeat(plain.keypoints_px[1:2, 0], 5, axis=0))
    assert tracked.confidence[2, 0] == pytest.approx(0.8, abs=1e-6)
