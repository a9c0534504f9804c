"""X-Dancer's GPT decodes one token at a time with fixed shapes (static KV cache), with the same tokens."""

import pytest
import torch
import torch.nn.functional as F

from models.motion_gpt import KVCache, MotionGPT, MotionGPTConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_gpt() -> MotionGPT:
    torch.manual_seed(0)
    return MotionGPT(MotionGPTConfig(codebook_size=16, n_layer=2, n_head=2, n_embd=32, block_frames=8,
                                     num_music_context_tokens=2, motion_context_frames=2, dropout=0.0)).eval()


def window(frames: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """music (2, frames, 35), context (2, 2, 30) and forced tokens with every kind of given run."""
    g = torch.Generator().manual_seed(seed)
    music = torch.randn(2, frames, 35, generator=g)
    context = torch.randint(0, 16, (2, 2, 30), generator=g)
    forced = torch.full((2, frames, 30), -1)
    forced[:, 0] = torch.randint(0, 16, (2, 30), generator=g)   # the overlap frame
    forced[:, 1, 12:18] = 5                                       # a locked part (a run of 6 given tokens)
    forced[:, 2, 7] = 3                                           # one given token: a one-token step
    forced[0, -1, 2] = 9                                          # given in one batch row only: sampled
    return music, context, forced


def sample(model: MotionGPT, music, context, forced, cache: str, temperature: float, seed: int = 7, **options):
    return model.generate(music, context, forced, temperature, None, 0.9 if temperature else None,
                          torch.Generator().manual_seed(seed), cache=cache, **options)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_static_cache_gives_the_tokens_of_the_dynamic_cache_and_of_no_cache(temperature):
    model = tiny_gpt()
    music, context, forced = window()
    static = sample(model, music, context, forced, "static", temperature)
    assert torch.equal(static, sample(model, music, context, forced, "dynamic", temperature))
    assert torch.equal(static, sample(model, music, context, forced, "none", temperature))
    assert (static[:, 1, 12:18] == 5).all() and (static[:, 2, 7] == 3).all() and static[0, 3, 2] == 9


def test_every_one_token_step_sees_the_same_shapes_and_the_whole_cache(monkeypatch):
    model = tiny_gpt()
    music, context, forced = window()
    steps, attention_shapes, inside = [], set(), [False]
    attention, decode_step = F.scaled_dot_product_attention, model.decode_step

    def recording_attention(q, k, v, attn_mask=None, **kwargs):
        if inside[0]:
            attention_shapes.add((q.shape, k.shape, v.shape, attn_mask.shape))
        return attention(q, k, v, attn_mask=attn_mask, **kwargs)

    def recording_step(x, position, cache):
        steps.append((x.shape, position.shape, cache.keys.shape))
        inside[0] = True
        try:
            return decode_step(x, position, cache)
        finally:
            inside[0] = False

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording_attention)
    monkeypatch.setattr(model, "decode_step", recording_step)
    sample(model, music, context, forced, "static", 1.0)
    sampled = int((forced < 0).any(0).flatten().sum())
    prefix = 2 + 2 * 30
    total = prefix + 4 * 30
    assert len(steps) >= sampled - 1 and len(set(steps)) == 1
    # q of one token against the whole cache, one shape for every step and layer
    assert attention_shapes == {(torch.Size([2, 2, 1, 16]), torch.Size([2, 2, total, 16]),
                                 torch.Size([2, 2, total, 16]), torch.Size([1, total]))}


def test_the_step_compiles_to_one_graph_for_every_position():
    model = tiny_gpt()
    eager_cache, compiled_cache = (KVCache(model.config, 2, 12, "cpu", torch.float32) for _ in range(2))
    torch._dynamo.reset()
    compiled = torch.compile(model.decode_step, backend="eager", fullgraph=True)   # fullgraph: no graph break
    try:
        with torch.no_grad(), torch._dynamo.config.patch(error_on_recompile=True):  # one graph for all positions
            for position in range(12):
                x = torch.randn(2, 1, 32)
                expected = model.decode_step(x, torch.tensor([position]), eager_cache)
                assert torch.allclose(compiled(x, torch.tensor([position]), compiled_cache), expected, atol=1e-6)
    finally:
        torch._dynamo.reset()
    assert torch.allclose(compiled_cache.keys, eager_cache.keys, atol=1e-6)


def test_compiled_decoding_reuses_one_cache_across_windows_with_the_eager_tokens(monkeypatch):
    """The CUDA path's plumbing on a CPU: a graph-friendly compile stands in for CUDA graphs."""
    model = tiny_gpt()
    compile_eagerly = torch.compile
    monkeypatch.setattr(MotionGPT, "COMPILE_DEVICES", ("cpu",))
    monkeypatch.setattr(torch, "compile", lambda fn, mode, fullgraph: compile_eagerly(fn, backend="eager",
                                                                                      fullgraph=fullgraph))
    torch._dynamo.reset()
    try:
        # with context, then without (a shorter prefix over stale slots), then a shorter window
        for frames, seed, with_context, temperature in ((4, 1, True, 1.0), (4, 2, False, 1.0), (3, 3, True, 0.0)):
            music, context, forced = window(frames, seed)
            context = context if with_context else None
            expected = sample(model, music, context, forced, "static", temperature)
            assert torch.equal(sample(model, music, context, forced, "static", temperature, compile=True), expected)
    finally:
        torch._dynamo.reset()
    (cache, _), = model._decoders.values()
    assert cache.keys.shape[3] == model.config.block_size


def test_bfloat16_static_decoding_gives_valid_tokens():
    model = tiny_gpt().to(torch.bfloat16)
    music, context, forced = window()
    for temperature in (0.0, 1.0):
        out = sample(model, music, context, forced, "static", temperature)
        assert out.shape == (2, 4, 30) and out.min() >= 0 and out.max() < 16
        assert torch.equal(out[:, 0], forced[:, 0]) and (out[:, 1, 12:18] == 5).all()


def test_unknown_cache_and_compile_without_the_static_cache_are_refused():
    model = tiny_gpt()
    music, context, forced = window()
    with pytest.raises(ValueError, match="cache must be 'auto'"):
        sample(model, music, context, forced, "paged", 0.0)
    with pytest.raises(ValueError, match="needs cache='static'"):
        sample(model, music, context, forced, "dynamic", 0.0, compile=True)


def test_auto_cache_steps_with_fixed_shapes_only_when_asked_to_compile_on_a_cpu(monkeypatch):
    model = tiny_gpt()
    music, context, forced = window()
    steps = []
    decode_step = model.decode_step
    monkeypatch.setattr(model, "decode_step", lambda *args: steps.append(1) or decode_step(*args))
    plain = model.generate(music, context, forced, 0.0)                  # auto: the dynamic cache on a CPU
    assert steps == []
    assert torch.equal(model.generate(music, context, forced, 0.0, compile=True), plain)   # eager static here
    assert len(steps) > 0
