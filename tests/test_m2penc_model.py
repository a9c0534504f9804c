"""M2PEnc network: output shapes on any clip length, heatmap decoding, config checks, and it can learn."""

from __future__ import annotations

import pytest
import torch

from models.m2penc import GUIDANCE_CHANNELS, M2PEnc, M2PEncConfig, decode_heatmaps, guidance_slices

TINY = M2PEncConfig(music_dim=5, grid=8, channels=(4, 8), attention_layers=1, num_heads=2, num_keypoints=3, groups=2)


def test_music_becomes_guidance_maps_and_heatmaps_frame_for_frame(one_torch_thread):
    torch.manual_seed(0)
    with torch.no_grad():
        guidance, heatmaps = M2PEnc(TINY)(torch.randn(2, 7, 5))
    assert guidance.shape == (2, 7, 10, 8, 8) and heatmaps.shape == (2, 7, 3, 8, 8)
    assert 0.0 <= float(guidance.min()) and float(guidance.max()) <= 1.0


def test_guidance_channels_are_depth_normal_semantic_skeleton_in_champs_input_order():
    slices = guidance_slices()
    assert [name for name, _ in GUIDANCE_CHANNELS] == ["depth", "normal", "semantic", "skeleton"]
    assert slices["depth"] == slice(0, 1) and slices["skeleton"] == slice(7, 10)


def test_a_frame_only_sees_its_neighbours_through_convolution_and_attention(one_torch_thread):
    """Changing the music of the last frame changes the maps of the first (3D attention reaches across time)."""
    torch.manual_seed(0)
    network = M2PEnc(TINY).eval()
    music = torch.randn(1, 6, 5)
    changed = music.clone()
    changed[0, -1] += 3.0
    with torch.no_grad():
        first, _ = network(music)
        second, _ = network(changed)
    assert not torch.allclose(first[0, 0], second[0, 0])


def test_heatmap_peaks_decode_to_column_row_of_the_maximum():
    heatmaps = torch.zeros(2, 8, 8)
    heatmaps[0, 5, 2] = 1.0  # row 5, column 2
    heatmaps[1, 0, 7] = 0.5
    xy, peak = decode_heatmaps(heatmaps)
    assert xy.tolist() == [[2.0, 5.0], [7.0, 0.0]] and peak.tolist() == [1.0, 0.5]


def test_grid_that_the_levels_cannot_halve_is_refused():
    with pytest.raises(ValueError, match="divisible"):
        M2PEncConfig(grid=10, channels=(4, 8, 16))


def test_tiny_encoder_overfits_one_clip(one_torch_thread):
    torch.manual_seed(0)
    network = M2PEnc(TINY)
    music = torch.randn(1, 6, 5)
    target_guidance = torch.rand(1, 6, 10, 8, 8)
    target_heatmaps = torch.rand(1, 6, 3, 8, 8)
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        guidance, heatmaps = network(music)
        loss = (guidance - target_guidance).abs().mean() + ((heatmaps - target_heatmaps) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
