"""EDGE and MACE denoisers at tiny sizes: shapes, conditioning paths, and that training learns."""

import dataclasses

import pytest
import torch

from choreo.generators.diffusion import CosineSchedule, edge_losses, q_sample
from choreo.generators.torch_kinematics import edge_joint_positions
from models.edge import EDGEConfig, EDGEDenoiser
from models.mace import MACEConfig, MACEDenoiser

TINY_EDGE = EDGEConfig(latent_dim=32, ff_dim=64, num_layers=2, num_heads=4, dropout=0.0)
TINY_MACE = MACEConfig(latent_dim=32, ff_dim=64, num_layers=2, num_heads=4, d_state=4, music_encoder_layers=1,
                       dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batch(seed, batch=2, frames=16, music_dim=35):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, frames, 151, generator=g) * 2 - 1, torch.randint(0, 1000, (batch,), generator=g),
            torch.randn(batch, frames, music_dim, generator=g))


def test_edge_shapes_any_length_and_null_music_changes_output():
    torch.manual_seed(0)
    model = EDGEDenoiser(TINY_EDGE).eval()
    x, t, music = _batch(0)
    with torch.no_grad():
        out = model(x, t, music)
        assert out.shape == x.shape
        assert model(*_batch(1, frames=23)).shape == (2, 23, 151)
        dropped = model(x, t, music, cond_keep=torch.tensor([True, False]))
    torch.testing.assert_close(dropped[0], out[0])
    assert (dropped[1] - out[1]).abs().max() > 1e-4


def test_edge_null_embedding_is_one_token_not_the_window():
    assert EDGEDenoiser(TINY_EDGE).null_music_tokens.shape == (1, 1, 32)


def test_edge_guided_forward_weight_one_is_conditional_and_zero_unconditional():
    torch.manual_seed(0)
    model = EDGEDenoiser(TINY_EDGE).eval()
    x, t, music = _batch(2)
    with torch.no_grad():
        torch.testing.assert_close(model.guided_forward(x, t, music, 1.0), model(x, t, music), atol=1e-5, rtol=1e-5)
        uncond = model(x, t, music, cond_keep=torch.zeros(2, dtype=torch.bool))
        torch.testing.assert_close(model.guided_forward(x, t, music, 0.0), uncond, atol=1e-5, rtol=1e-5)


def test_mace_shapes_beta_and_genre_change_output():
    torch.manual_seed(0)
    model = MACEDenoiser(TINY_MACE).eval()
    x, t, music = _batch(3)
    genre = torch.tensor([0, 4])
    with torch.no_grad():
        out = model(x, t, music, torch.full((2,), 0.75), genre)
        assert out.shape == x.shape
        assert (model(x, t, music, torch.full((2,), 0.2), genre) - out).abs().max() > 1e-4
        assert (model(x, t, music, torch.full((2,), 0.75), torch.tensor([1, 10])) - out).abs().max() > 1e-4
        null = model(x, t, music, torch.full((2,), 0.75), genre, cond_keep=torch.tensor([True, False]))
        assert model(*_batch(4, frames=41)[:3], torch.ones(2), genre).shape == (2, 41, 151)
    torch.testing.assert_close(null[0], out[0])
    assert (null[1] - out[1]).abs().max() > 1e-4


def _fixed_eval_loss(predict, x0, music, schedule):
    g = torch.Generator().manual_seed(123)
    t = torch.tensor([10, 200, 500, 900] * (x0.shape[0] // 2))
    x0 = x0.repeat(2, 1, 1)
    noise = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        return torch.mean((predict(q_sample(x0, t, noise, schedule), t, music.repeat(2, 1, 1)) - x0) ** 2).item()


def _overfit(model, predict, train_predict, steps, seed):
    torch.manual_seed(seed)
    schedule = CosineSchedule()
    g = torch.Generator().manual_seed(seed)
    x0 = (torch.rand(2, 16, 151, generator=g) * 2 - 1) * 0.8
    music = torch.randn(2, 16, 35, generator=g)
    before = _fixed_eval_loss(predict, x0, music, schedule)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        t = torch.randint(0, 1000, (2,), generator=g)
        noisy = q_sample(x0, t, torch.randn(x0.shape, generator=g), schedule)
        losses = edge_losses(train_predict(noisy, t, music), x0, edge_joint_positions)
        optimizer.zero_grad()
        losses.total.backward()
        optimizer.step()
    model.eval()
    return before, _fixed_eval_loss(predict, x0, music, schedule)


def test_edge_tiny_overfits_two_sequences():
    torch.manual_seed(0)
    model = EDGEDenoiser(TINY_EDGE)
    before, after = _overfit(model, lambda x, t, m: model(x, t, m), lambda x, t, m: model(x, t, m), 150, seed=0)
    assert after < 0.5 * before


def test_mace_tiny_overfits_two_sequences_with_guidance_free_training():
    torch.manual_seed(0)
    model = MACEDenoiser(TINY_MACE)
    genre = torch.tensor([2, 5])
    g = torch.Generator().manual_seed(1)

    def train(x, t, music):
        return model.guidance_free_forward(x, t, music, torch.rand(2, generator=g), genre)

    def predict(x, t, music):
        return model(x, t, music, torch.ones(x.shape[0]), genre.repeat(x.shape[0] // 2))

    before, after = _overfit(model, predict, train, 120, seed=1)
    assert after < 0.5 * before


def _decoder_input(model, forward):
    """The motion tokens entering the first decoder layer when ``forward()`` runs."""
    seen = []
    handle = model.layers[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    with torch.no_grad():
        forward()
    handle.remove()
    return seen[0]


def _silence_music_encoder(model) -> None:
    """Make the music encoder the identity, so encoded token t depends on music frame t alone."""
    if isinstance(model, EDGEDenoiser):
        layers = [(layer.self_attn.out_proj, layer.linear2) for layer in model.music_encoder]
    else:
        layers = [(layer.mamba.forward_mamba.out_proj, layer.mamba.backward_mamba.out_proj)
                  for layer in model.music_layers]
    for linear in (linear for pair in layers for linear in pair):
        torch.nn.init.zeros_(linear.weight)
        if linear.bias is not None:
            torch.nn.init.zeros_(linear.bias)


@pytest.mark.parametrize("family", ["edge", "mace"])
def test_music_in_motion_tokens_hands_each_frame_its_own_music(family):
    """The frame-aligned path: music frame 5 reaches motion token 5 only; without it no music reaches the tokens."""
    x, t, music = _batch(0, batch=1)
    changed = music.clone()
    changed[:, 5] += 1.0
    for direct in (True, False):
        torch.manual_seed(0)
        if family == "edge":
            model = EDGEDenoiser(dataclasses.replace(TINY_EDGE, music_in_motion_tokens=direct)).eval()
            run = lambda m: model(x, t, m)                                              # noqa: E731
        else:
            model = MACEDenoiser(dataclasses.replace(TINY_MACE, music_in_motion_tokens=direct)).eval()
            beta, genre = torch.tensor([0.75]), torch.tensor([0])
            run = lambda m: model(x, t, m, beta, genre)                                 # noqa: E731
        _silence_music_encoder(model)
        per_frame = (_decoder_input(model, lambda: run(changed)) - _decoder_input(model, lambda: run(music))).abs()
        per_frame = per_frame.amax(dim=(0, 2))
        if direct:
            assert per_frame[5] > 1e-4 and torch.cat([per_frame[:5], per_frame[6:]]).max() == 0
        else:
            assert per_frame.max() == 0


def test_music_in_motion_tokens_refuses_music_of_another_length():
    model = EDGEDenoiser(dataclasses.replace(TINY_EDGE, music_in_motion_tokens=True)).eval()
    x, t, _ = _batch(0, frames=16)
    with pytest.raises(ValueError, match="one music frame per motion frame"):
        model(x, t, torch.randn(2, 12, 35))
