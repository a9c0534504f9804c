"""CHAMP's own network parts on tiny sizes: what starts as identity, what mixes frames, what stays per frame."""

from __future__ import annotations

import pytest
import torch

from models import champ as network
from test_champ_renderer import tiny_config


def test_a_new_motion_module_and_guidance_encoder_change_nothing(one_torch_thread):
    config = tiny_config()
    x = torch.randn(6, 8, 4, 4)
    torch.testing.assert_close(network.TemporalModule(8, config)(x, num_frames=3), x)
    encoder = network.GuidanceEncoder(8, config)
    assert encoder(torch.rand(2, 3, 8, 8)).abs().max() == 0  # zero conv_out: the UNet sees no guidance yet


def test_the_motion_module_mixes_frames_of_one_video_only(one_torch_thread):
    torch.manual_seed(0)
    module = network.TemporalModule(8, tiny_config())
    torch.nn.init.normal_(module.temporal_transformer.proj_out.weight, std=0.1)
    x = torch.randn(6, 8, 4, 4)  # two videos of three frames
    changed = x.clone()
    changed[0] += torch.randn(8, 4, 4)  # first frame of the first video (a constant would be normalised away)
    delta = (module(changed, 3) - module(x, 3)).abs().flatten(1).amax(1)
    assert delta[1] > 1e-4 and delta[2] > 1e-4  # later frames of the same video follow
    assert delta[3:].max() == 0  # the other video does not


def test_guidance_is_encoded_per_frame_at_latent_resolution(one_torch_thread):
    torch.manual_seed(0)
    config = tiny_config()
    encoder = network.GuidanceEncoder(8, config)
    torch.nn.init.normal_(encoder.conv_out.weight, std=0.1)
    frames = torch.rand(3, 3, 16, 16)
    out = encoder(frames)
    assert out.shape == (3, 8, 8, 8)  # one stride-2 step in the tiny config: x2 down
    torch.testing.assert_close(encoder(frames[1:2]), out[1:2])


def test_too_many_frames_for_the_position_table_are_refused(one_torch_thread):
    module = network.TemporalModule(8, tiny_config())  # 8 positions
    with pytest.raises(ValueError, match="9 frames exceed the motion module's 8 frame positions"):
        module(torch.randn(9, 8, 2, 2), num_frames=9)


def test_real_size_denoiser_is_sd15_with_champs_21_motion_modules():
    """SD-1.5's UNet (859,520,964 parameters) plus a motion module after every spatial layer (inference.yaml:
    resolutions 1, 2, 4, 8 and the mid block), built on the meta device."""
    from diffusers import UNet2DConditionModel

    sd15 = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8, layers_per_block=2,
                block_out_channels=(320, 640, 1280, 1280))
    with torch.device("meta"):
        model = network.ChampModel(UNet2DConditionModel(**sd15), UNet2DConditionModel(**sd15), network.ChampConfig())
    state = model.denoiser.unet.state_dict()
    spatial = sum(v.numel() for k, v in state.items() if ".motion_modules." not in k)
    modules = {k.split(".temporal_transformer.")[0] for k in state if ".motion_modules." in k}
    tables = [v.shape for k, v in state.items() if k.endswith("pos_encoder.pe")]
    assert spatial == 859_520_964
    assert len(modules) == 2 * 4 + 1 + 3 * 4  # two per down block, one in the middle, three per up block
    assert len(tables) == 2 * len(modules) and {shape[1] for shape in tables} == {32}
