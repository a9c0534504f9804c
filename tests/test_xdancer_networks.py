"""X-Dancer networks: the compositional pose tokenizer and the music-to-token GPT."""

from __future__ import annotations

import pytest
import torch

from models.motion_gpt import MotionGPT, MotionGPTConfig, sample_logits
from models.pose_vqvae import PART_JOINTS, EMACodebook, PoseVQVAE, PoseVQVAEConfig, confidence_weighted_l1


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_tokenizer(**changes) -> PoseVQVAE:
    torch.manual_seed(0)
    values = dict(hidden=16, decoder_hidden=64, decoder_layers=2, codebook_size=32)
    values.update(changes)
    return PoseVQVAE(PoseVQVAEConfig(**values))


def tiny_gpt(**changes) -> MotionGPT:
    torch.manual_seed(0)
    values = dict(codebook_size=16, n_layer=2, n_head=2, n_embd=32, block_frames=8, num_music_context_tokens=2,
                  motion_context_frames=2, dropout=0.0)
    values.update(changes)
    return MotionGPT(MotionGPTConfig(**values))


def random_poses(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(batch, 60, 2, generator=g), torch.rand(batch, 60, 1, generator=g)], -1)


def test_parts_cover_the_60_joints_once():
    joints = sorted(j for part in PART_JOINTS.values() for j in part)
    assert joints == list(range(60))
    assert tuple(PART_JOINTS) == ("upper_body", "lower_body", "head", "left_hand", "right_hand")


def test_tokenizer_shapes_multi_part_and_single_codebook():
    poses = random_poses(4)
    model = tiny_tokenizer()
    recon, losses, tokens = model(poses)
    assert recon.shape == (4, 60, 3) and tokens.shape == (4, 5, 6) and tokens.dtype == torch.long
    assert set(losses) == {"coords", "confidence", "commitment", "total"}
    model.eval()
    assert model.encode(poses).shape == (4, 5, 6)
    decoded = model.decode(model.encode(poses))
    assert decoded.shape == (4, 60, 3) and 0 <= decoded[..., 2].min() and decoded[..., 2].max() <= 1
    baseline = tiny_tokenizer(single_codebook=True)
    assert baseline(poses)[2].shape == (4, 1, 30)
    assert baseline.eval().decode(baseline.encode(poses)).shape == (4, 60, 3)


def test_eval_encode_matches_training_quantisation():
    model = tiny_tokenizer()
    poses = random_poses(8)
    model(poses)  # initialise the codebooks from data
    model.eval()
    with torch.no_grad():
        _, _, tokens = model(poses)
    assert torch.equal(tokens, model.encode(poses))


def test_ema_update_moves_the_used_code_toward_the_data():
    codebook = EMACodebook(4, 2, decay=0.5, dead_code_threshold=0.0)
    codebook.initialised.fill_(1.0)
    codebook.embedding.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0], [10.0, -10.0]]))
    codebook.embed_sum.copy_(codebook.embedding)
    data = torch.full((16, 2), 2.0)
    for _ in range(6):
        codebook.update(data, codebook.nearest(data))
    assert torch.linalg.norm(codebook.embedding[0] - 2.0) < 0.2
    assert torch.allclose(codebook.embedding[1], torch.tensor([10.0, 10.0]), atol=0.05)  # unused codes stay put


def test_dead_code_restart_revives_unused_codes_from_the_batch():
    codebook = EMACodebook(8, 3, decay=0.99, dead_code_threshold=0.5)
    codebook.initialised.fill_(1.0)
    codebook.cluster_size.fill_(5.0)
    codebook.cluster_size[[2, 6]] = 0.0
    batch = torch.randn(32, 3)
    assert codebook.restart_dead_codes(batch) == 2
    for code in (2, 6):
        assert (codebook.embedding[code] == batch).all(1).any()
        assert codebook.cluster_size[code] == 1.0
    assert codebook.restart_dead_codes(batch) == 0


def test_confidence_weighted_loss_ignores_zero_confidence_joints():
    target = torch.zeros(1, 4, 2)
    confidence = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    predicted = target.clone()
    predicted[0, 2:] = 100.0
    assert confidence_weighted_l1(predicted, target, confidence) == 0.0
    predicted[0, 0] = 1.0
    assert confidence_weighted_l1(predicted, target, confidence) == pytest.approx(0.5)


def test_tokens_do_not_depend_on_coordinates_of_absent_joints():
    model = tiny_tokenizer()
    poses = random_poses(3)
    model(poses)
    model.eval()
    poses[:, 20:30, 2] = 0.0
    moved = poses.clone()
    moved[:, 20:30, :2] += 50.0
    assert torch.equal(model.encode(poses), model.encode(moved))


def test_tokenizer_overfits_a_tiny_dataset():
    torch.manual_seed(1)
    poses = random_poses(16, seed=3) * torch.tensor([0.5, 0.5, 1.0])
    poses[..., 2] = (poses[..., 2] > 0.2).float()
    model = tiny_tokenizer(codebook_size=64, dead_code_threshold=0.0)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(160):
        _, losses, _ = model(poses)
        first = first if first is not None else losses["coords"].item()
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        _, losses, _ = model(poses)
    assert losses["coords"].item() < 0.05 < 0.5 < first
    assert losses["confidence"].item() < 0.2


def test_gpt_forward_shapes_loss_and_causality():
    model = tiny_gpt().eval()
    idx = torch.randint(0, 16, (2, 4, 30))
    music = torch.randn(2, 4, 35)
    context = torch.randint(0, 16, (2, 2, 30))
    logits, loss = model(idx, music, context, targets=idx)
    assert logits.shape == (2, 4, 30, 16) and loss.ndim == 0
    assert model(idx, music)[1] is None
    changed = idx.clone()
    changed[:, 2, 7] = (changed[:, 2, 7] + 1) % 16
    after, _ = model(changed, music, context)
    flat_before, flat_after = logits.flatten(1, 2), after.flatten(1, 2)
    position = 2 * 30 + 7
    assert torch.allclose(flat_before[:, :position + 1], flat_after[:, :position + 1], atol=1e-5)
    assert not torch.allclose(flat_before[:, position + 1:], flat_after[:, position + 1:])


def test_gpt_overfits_a_tiny_token_dataset():
    torch.manual_seed(2)
    model = tiny_gpt(n_embd=64)
    idx = torch.randint(0, 16, (4, 3, 30))
    music = torch.randn(4, 3, 35)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        _, loss = model(idx, music, targets=idx)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[0] > 2.0 and losses[-1] < 0.1


@pytest.mark.parametrize("top_k, top_p", [(None, None), (4, None), (None, 0.8)])
def test_kv_cache_generation_equals_no_cache_generation(top_k, top_p):
    model = tiny_gpt().eval()
    music = torch.randn(2, 4, 35)
    context = torch.randint(0, 16, (2, 2, 30))
    forced = torch.full((2, 4, 30), -1)
    forced[:, 0] = torch.randint(0, 16, (2, 30))
    cached = model.generate(music, context, forced, 1.0, top_k, top_p, torch.Generator().manual_seed(5))
    plain = model.generate(music, context, forced, 1.0, top_k, top_p, torch.Generator().manual_seed(5),
                           cache="none")
    assert torch.equal(cached, plain)


def test_same_seed_same_tokens_different_seed_different_tokens():
    model = tiny_gpt().eval()
    music = torch.randn(1, 3, 35)
    first = model.generate(music, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, model.generate(music, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(first, model.generate(music, generator=torch.Generator().manual_seed(1)))


def test_top_k_keeps_only_the_k_most_likely_tokens():
    logits = torch.tensor([[3.0, 2.9, 2.8, 0.0, 0.0, 0.0]]).repeat(2000, 1)
    drawn = sample_logits(logits, top_k=2, generator=torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {0, 1}


def test_top_p_keeps_the_smallest_set_reaching_p():
    probabilities = torch.tensor([[0.5, 0.3, 0.1, 0.1]]).repeat(2000, 1)
    drawn = sample_logits(probabilities.log(), top_p=0.7, generator=torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {0, 1}
    only_top = sample_logits(probabilities.log(), top_p=0.5, generator=torch.Generator().manual_seed(0))
    assert set(only_top.tolist()) == {0}
    assert set(sample_logits(probabilities.log(), temperature=0).tolist()) == {0}


def test_constrained_decoding_forces_given_tokens():
    model = tiny_gpt().eval()
    music = torch.randn(2, 4, 35)
    forced = torch.full((2, 4, 30), -1)
    forced[:, 1] = 3                       # a whole kept frame
    forced[:, 2, 18:30] = 7                # locked hands on another frame
    forced[0, 3, 0] = 9                    # a single token in one batch row only
    out = model.generate(music, forced=forced, generator=torch.Generator().manual_seed(0))
    assert (out[:, 1] == 3).all() and (out[:, 2, 18:30] == 7).all() and out[0, 3, 0] == 9
    assert out.min() >= 0 and out.max() < 16


def test_window_longer_than_the_model_is_refused():
    model = tiny_gpt(block_frames=2).eval()
    with pytest.raises(ValueError, match="at most 2 frames"):
        model.generate(torch.randn(1, 3, 35))
