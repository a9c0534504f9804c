"""The one-hot pose DiT network (issue 14 item 3): time-shared RoPE indices, the paper's frame mask, shapes,
guidance dropout, and a tiny overfit run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from choreo.generators.pose_dit import DEFAULT_BODY_BOX, frame_mask, normalised_to_onehot, reference_poses
from choreo.pose.onehot_image import OneHotConfig
from models.pose_dit import PoseDiT, PoseDiTConfig, apply_rope, rope_angles, rope_positions
from models.pose_image_vae import PoseImageVAE, PoseImageVAEConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = PoseDiTConfig(latent_channels=8, latent_bins=4, music_dim=5, hidden=32, num_layers=2, num_heads=2,
                     rope_axes=(4, 6, 6))


def test_time_shared_positions_put_music_token_t_on_pose_column_t():
    positions = rope_positions(rows=3, columns=4).tolist()
    music, pose = positions[:4], positions[4:]
    assert music == [[0, 0, t] for t in range(4)]
    assert pose == [[0, w, t] for w in range(3) for t in range(4)]


def test_default_positions_index_music_on_the_first_axis_as_text_tokens():
    positions = rope_positions(rows=2, columns=3, time_shared=False).tolist()
    assert positions[:3] == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
    assert positions[3:] == [[0, w, t] for w in range(2) for t in range(3)]


def test_rope_makes_attention_scores_depend_on_the_time_offset_only():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    axes = (4, 6, 6)

    def score(query_position, key_position):
        angles_q = rope_angles(torch.tensor([query_position]), axes, 10000.0)
        angles_k = rope_angles(torch.tensor([key_position]), axes, 10000.0)
        return float((apply_rope(q, angles_q) * apply_rope(k, angles_k)).sum())

    # a pose token (0, w, t) and music token (0, 0, t'): the same score for equal t - t' and w.
    assert score([0, 2, 5], [0, 0, 5]) == pytest.approx(score([0, 2, 9], [0, 0, 9]), abs=1e-5)
    assert score([0, 2, 5], [0, 0, 5]) != pytest.approx(score([0, 2, 5], [0, 0, 1]), abs=1e-3)
    assert torch.allclose(apply_rope(q, torch.zeros(1, 8)), q)  # position 0 rotates nothing


@pytest.mark.parametrize("num_aware, full_columns, partial_phases", [(0, 0, 0), (16, 2, 0), (19, 2, 3), (7, 0, 7)])
def test_frame_mask_is_the_papers_construction(num_aware, full_columns, partial_phases):
    mask = frame_mask(np.arange(40) < num_aware)
    assert mask.shape == (8, 5)
    expected = np.zeros((8, 5), np.float32)
    expected[:, :full_columns] = 1  # M[:, :, 0:q] = 1, q = N // 8
    expected[:partial_phases, full_columns] = 1 if partial_phases else 0  # M[0:r, :, q] = 1, r = N % 8
    np.testing.assert_array_equal(mask, expected)


def test_frame_mask_marks_any_frame_by_its_column_and_phase_and_leaves_padding_shape_only():
    aware = np.zeros(20, bool)
    aware[[3, 10, 19]] = True
    mask = frame_mask(aware)
    assert mask.shape == (8, 3) and mask.sum() == 3
    assert mask[3, 0] == mask[2, 1] == mask[3, 2] == 1


def test_reference_poses_encode_to_the_papers_reference_image():
    """X_ref_repeat: the reference's one-hot repeated over time, pose-aware frames' one-hots in place."""
    rng = np.random.default_rng(0)
    reference, truth = np.zeros((60, 3), np.float32), np.zeros((10, 60, 3), np.float32)
    reference[:18] = np.c_[rng.uniform(-2, 2, (18, 2)), np.ones(18)]
    truth[:, :18] = np.concatenate([rng.uniform(-2, 2, (10, 18, 2)), np.ones((10, 18, 1))], -1)
    aware = np.arange(10) < 4
    poses = reference_poses(reference, 10, aware, truth)
    np.testing.assert_array_equal(poses[:4], truth[:4])
    np.testing.assert_array_equal(poses[4:], np.repeat(reference[None], 6, axis=0))
    onehot, box = OneHotConfig(num_bins=32), DEFAULT_BODY_BOX
    image = normalised_to_onehot(poses, onehot, box)
    np.testing.assert_array_equal(image[:, :, :4], normalised_to_onehot(truth, onehot, box)[:, :, :4])
    np.testing.assert_array_equal(image[:, :, 4:], np.repeat(normalised_to_onehot(reference[None], onehot, box),
                                                             6, axis=2))


def test_dit_predicts_latent_shaped_noise_and_the_null_music_token_changes_it():
    torch.manual_seed(0)
    model = PoseDiT(TINY)
    for block in model.blocks:  # leave adaLN-Zero's start so the music reaches the output
        torch.nn.init.normal_(block.modulation.weight, std=0.1)
    torch.nn.init.normal_(model.final.weight, std=0.1)
    noisy, reference = torch.randn(2, 8, 4, 6), torch.randn(2, 8, 4, 6)
    mask = torch.zeros(2, 8, 4, 6)
    music = torch.randn(2, 48, 5)
    t = torch.tensor([10, 500])
    out = model(noisy, t, reference, mask, music)
    assert out.shape == noisy.shape
    dropped = model(noisy, t, reference, mask, music, keep_music=torch.tensor([True, False]))
    assert torch.equal(dropped[0], out[0]) and not torch.allclose(dropped[1], out[1])
    assert TINY.in_channels == 8 + 8 + 8


def test_config_rejects_rope_axes_that_do_not_fill_a_head():
    with pytest.raises(ValueError, match="rope_axes"):
        PoseDiTConfig(hidden=32, num_heads=2, rope_axes=(4, 4, 4))


def test_autoencoder_downsamples_eight_times_in_bins_and_frames():
    vae = PoseImageVAE(PoseImageVAEConfig(block_out_channels=(8, 8, 8, 8)))
    posterior = vae.encode(torch.zeros(2, 3, 32, 48)).latent_dist
    assert posterior.mode().shape == (2, 4, 4, 6)
    assert vae.decode(posterior.mode()).sample.shape == (2, 3, 32, 48)


def test_tiny_dit_overfits_one_batch():
    """Epsilon-prediction loss on a fixed batch and fixed noise falls well below its start (about 1)."""
    torch.manual_seed(0)
    model = PoseDiT(TINY)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x0, reference = torch.randn(4, 8, 4, 6), torch.randn(4, 8, 4, 6)
    mask, music = torch.zeros(4, 8, 4, 6), torch.randn(4, 48, 5)
    t = torch.tensor([100, 300, 500, 700])
    noise = torch.randn_like(x0)
    alpha_bar = torch.tensor([0.9, 0.6, 0.3, 0.1]).view(-1, 1, 1, 1)
    noisy = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
    losses = []
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(model(noisy, t, reference, mask, music), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 0.8 and losses[-1] < 0.2 * losses[0]


def test_music_in_pose_tokens_reaches_the_pose_tokens_of_its_own_column_only():
    """With the blocks at their adaLN-Zero start (identity), the output of column t can only see the music of t."""
    torch.manual_seed(0)
    noisy, reference, mask = torch.randn(1, 8, 4, 6), torch.randn(1, 8, 4, 6), torch.zeros(1, 8, 4, 6)
    music = torch.randn(1, 48, 5)
    changed = music.clone()
    changed[:, 16:24] += 1.0                                               # column 2's eight frames
    t = torch.tensor([100])
    for direct in (True, False):
        model = PoseDiT(dataclasses.replace(TINY, music_in_pose_tokens=direct)).eval()
        torch.nn.init.normal_(model.final.weight, std=0.1)
        difference = (model(noisy, t, reference, mask, changed) - model(noisy, t, reference, mask, music)).abs()
        per_column = difference.amax(dim=(0, 1, 2))
        if direct:
            assert per_column[2] > 1e-4 and per_column[[0, 1, 3, 4, 5]].max() == 0
        else:
            assert per_column.max() == 0                                   # only attention could carry it
