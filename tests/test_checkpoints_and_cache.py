"""Checkpoint folders round-trip exactly and refuse mismatches; the model cache loads once."""

from dataclasses import dataclass

import pytest
import torch

from choreo.checkpoints import CheckpointError, find_checkpoints, load_config, load_model, save_checkpoint
from choreo.model_cache import ModelCache, cache_key, module_size_bytes


@dataclass(frozen=True)
class TinyConfig:
    width: int = 4
    depth: int = 2


class Tiny(torch.nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(config.width, config.width) for _ in range(config.depth))


def test_checkpoint_round_trip_keeps_weights_config_and_extra_tensors(tmp_path):
    model = Tiny(TinyConfig())
    save_checkpoint(tmp_path / "tiny", model, TinyConfig(), extra={"mean": torch.arange(3.0)}, metadata={"demo": True})
    loaded, config, extra = load_model(tmp_path / "tiny", TinyConfig, Tiny)
    assert config == TinyConfig()
    torch.testing.assert_close(loaded.layers[1].weight, model.layers[1].weight)
    torch.testing.assert_close(extra["mean"], torch.arange(3.0))
    assert find_checkpoints(tmp_path) == [tmp_path / "tiny"]


def test_checkpoint_mismatches_are_named(tmp_path):
    save_checkpoint(tmp_path / "tiny", Tiny(TinyConfig()), TinyConfig())
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "tiny", TinyConfig, lambda c: Tiny(TinyConfig(depth=3)))
    with pytest.raises(CheckpointError, match=r"has shape \(4,\), the network expects \(5,\)"):
        load_model(tmp_path / "tiny", TinyConfig, lambda c: Tiny(TinyConfig(width=5, depth=2)))
    with pytest.raises(CheckpointError, match="ComfyUI/models/choreo"):
        load_model(tmp_path / "absent", TinyConfig, Tiny)

    @dataclass(frozen=True)
    class OtherConfig:
        width: int = 4

    with pytest.raises(CheckpointError, match="'TinyConfig' checkpoint"):
        load_config(tmp_path / "tiny", OtherConfig)


def test_cache_loads_a_model_once_for_two_users_and_evicts_least_recent(tmp_path):
    save_checkpoint(tmp_path / "a", Tiny(TinyConfig()), TinyConfig())
    cache = ModelCache(budget_bytes=module_size_bytes(Tiny(TinyConfig())) + 1)
    key = cache_key(tmp_path / "a", dtype=torch.float32, device="cpu")
    first = cache.get_or_load(key, lambda: load_model(tmp_path / "a", TinyConfig, Tiny))
    second = cache.get_or_load(cache_key(tmp_path / "a", torch.float32, "cpu"),
                               lambda: load_model(tmp_path / "a", TinyConfig, Tiny))
    assert first[0] is second[0] and cache.loads == 1
    cache.get_or_load("other", lambda: Tiny(TinyConfig()))
    assert key not in cache and len(cache) == 1

