"""EDGE checkpoint converter: a tiny checkpoint in EDGE's exact layout converts and loads; code never runs."""

import os
import pickle
import sys
import textwrap

import pytest
import torch
import torch.nn as nn

from choreo.checkpoints import CheckpointError, load_model
from choreo.generators.edge_checkpoint import convert_edge_checkpoint, main
from choreo.generators.normalizer import MinMaxNormalizer
from models.edge import EDGEConfig, EDGEDenoiser

# EDGE's module tree (Stanford-TML/EDGE model/model.py, DanceDecoder), rebuilt only for its parameter
# names: nn.Module naming then yields exactly the keys of EDGE's state dict.
LATENT, FF, LAYERS, HEADS, MUSIC, FRAMES = 16, 32, 2, 4, 6, 150


class _Rotary(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("freqs", 1.0 / (10000 ** (torch.arange(0, LATENT, 2).float() / LATENT)))


class _EncoderLayer(nn.Module):
    def __init__(self, rotary):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(LATENT, HEADS, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(LATENT, FF), nn.Linear(FF, LATENT)
        self.norm1, self.norm2 = nn.LayerNorm(LATENT), nn.LayerNorm(LATENT)
        self.rotary = rotary


class _FiLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Mish(), nn.Linear(LATENT, 2 * LATENT))


class _DecoderLayer(_EncoderLayer):
    def __init__(self, rotary):
        super().__init__(rotary)
        self.multihead_attn = nn.MultiheadAttention(LATENT, HEADS, batch_first=True)
        self.norm3 = nn.LayerNorm(LATENT)
        self.film1, self.film2, self.film3 = _FiLM(), _FiLM(), _FiLM()


class _Stack(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.stack = layers


class _DanceDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rotary = _Rotary()
        self.abs_pos_encoding = nn.Identity()
        self.time_mlp = nn.Sequential(nn.Identity(), nn.Linear(LATENT, 4 * LATENT), nn.Mish())
        self.to_time_cond = nn.Sequential(nn.Linear(4 * LATENT, LATENT))
        self.to_time_tokens = nn.Sequential(nn.Linear(4 * LATENT, 2 * LATENT), nn.Identity())
        self.null_cond_embed = nn.Parameter(torch.randn(1, FRAMES, LATENT))
        self.null_cond_hidden = nn.Parameter(torch.randn(1, LATENT))
        self.norm_cond = nn.LayerNorm(LATENT)
        self.input_projection = nn.Linear(151, LATENT)
        self.cond_encoder = nn.Sequential(*[_EncoderLayer(self.rotary) for _ in range(2)])
        self.cond_projection = nn.Linear(MUSIC, LATENT)
        self.non_attn_cond_projection = nn.Sequential(nn.LayerNorm(LATENT), nn.Linear(LATENT, LATENT), nn.SiLU(),
                                                      nn.Linear(LATENT, LATENT))
        self.seqTransDecoder = _Stack(nn.ModuleList([_DecoderLayer(self.rotary) for _ in range(LAYERS)]))
        self.final_layer = nn.Linear(LATENT, 151)


FAKE_SCALER = '''
import torch

class MinMaxScaler:
    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False):
        self.feature_range, self.copy, self.clip = feature_range, copy, clip

    def fit(self, X):
        data_min, data_max = torch.min(X, axis=0)[0], torch.max(X, axis=0)[0]
        self.n_samples_seen_ = X.shape[0]
        self.scale_ = (self.feature_range[1] - self.feature_range[0]) / (data_max - data_min)
        self.min_ = self.feature_range[0] - data_min * self.scale_
        self.data_min_, self.data_max_, self.data_range_ = data_min, data_max, data_max - data_min
        return self
'''

FAKE_PREPROCESS = '''
from .scaler import MinMaxScaler

class Normalizer:
    def __init__(self, data):
        flat = data.reshape(-1, data.shape[-1])
        self.scaler = MinMaxScaler((-1, 1), clip=True)
        self.scaler.fit(flat)
'''


@pytest.fixture
def edge_dataset_module(tmp_path, monkeypatch):
    """EDGE's ``dataset`` package, importable only while the test writes its checkpoint."""
    package = tmp_path / "fake_edge" / "dataset"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "scaler.py").write_text(textwrap.dedent(FAKE_SCALER))
    (package / "preprocess.py").write_text(textwrap.dedent(FAKE_PREPROCESS))
    monkeypatch.syspath_prepend(str(package.parent))
    import dataset.preprocess

    yield dataset.preprocess
    for name in ("dataset", "dataset.preprocess", "dataset.scaler"):
        sys.modules.pop(name, None)


def _write_edge_checkpoint(path, preprocess, prefix=""):
    torch.manual_seed(0)
    ema, model = _DanceDecoder(), _DanceDecoder()
    motion = torch.randn(3, 20, 151) * 2 + 1
    checkpoint = {"ema_state_dict": {prefix + key: value for key, value in ema.state_dict().items()},
                  "model_state_dict": model.state_dict(),
                  "optimizer_state_dict": torch.optim.Adam(model.parameters()).state_dict(),
                  "normalizer": preprocess.Normalizer(motion)}
    torch.save(checkpoint, path)
    return ema, motion


@pytest.mark.parametrize("prefix", ["", "module."])
def test_tiny_edge_checkpoint_converts_and_loads(tmp_path, edge_dataset_module, prefix):
    source = tmp_path / "checkpoint.pt"
    ema, motion = _write_edge_checkpoint(source, edge_dataset_module, prefix)
    for name in ("dataset", "dataset.preprocess", "dataset.scaler"):
        sys.modules.pop(name, None)
    sys.path[:] = [entry for entry in sys.path if "fake_edge" not in entry]

    convert_edge_checkpoint(source, tmp_path / "converted")
    model, config, extra = load_model(tmp_path / "converted", EDGEConfig, EDGEDenoiser)

    assert config == EDGEConfig(music_dim=MUSIC, latent_dim=LATENT, ff_dim=FF, num_layers=LAYERS, num_heads=8,
                                horizon=FRAMES, null_cond_frames=FRAMES)
    state = model.state_dict()
    edge = ema.state_dict()
    torch.testing.assert_close(state["layers.1.film3.proj.weight"],
                               edge["seqTransDecoder.stack.1.film3.block.1.weight"])
    torch.testing.assert_close(state["layers.0.cross_attn.in_proj_weight"],
                               edge["seqTransDecoder.stack.0.multihead_attn.in_proj_weight"])
    torch.testing.assert_close(state["time_mlp.0.bias"], edge["time_mlp.1.bias"])
    torch.testing.assert_close(state["null_music_tokens"], edge["null_cond_embed"])
    normalizer = MinMaxNormalizer.from_extra(extra)
    flat = motion.reshape(-1, 151)
    torch.testing.assert_close(normalizer.normalize(flat).amin(0), -torch.ones(151), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalizer.unnormalize(normalizer.normalize(flat)), flat, atol=1e-4, rtol=1e-5)
    with torch.no_grad():
        out = model(torch.zeros(1, FRAMES, 151), torch.tensor([10]), torch.zeros(1, FRAMES, MUSIC))
        shorter = model(torch.zeros(1, 40, 151), torch.tensor([10]), torch.zeros(1, 40, MUSIC),
                        cond_keep=torch.tensor([False]))
    assert out.shape == (1, FRAMES, 151) and shorter.shape == (1, 40, 151)


def test_cli_writes_a_checkpoint_folder(tmp_path, edge_dataset_module):
    _write_edge_checkpoint(tmp_path / "checkpoint.pt", edge_dataset_module)
    main([str(tmp_path / "checkpoint.pt"), str(tmp_path / "out")])
    assert (tmp_path / "out" / "config.json").is_file() and (tmp_path / "out" / "model.safetensors").is_file()


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"ema_state_dict": {}, "normalizer": _Exploit(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"refusing to load global (posix|os)\.system"):
        convert_edge_checkpoint(tmp_path / "evil.pt", tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_unknown_class_in_plain_pickle_is_named(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"ema_state_dict": {}, "normalizer": pickle.PickleError("x")}, path)
    with pytest.raises(CheckpointError, match=r"_pickle\.PickleError|pickle\.PickleError"):
        convert_edge_checkpoint(path, tmp_path / "out")
