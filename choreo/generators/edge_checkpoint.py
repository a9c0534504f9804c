"""Convert EDGE's public ``checkpoint.pt`` into a Choreo checkpoint folder, without running pickled code.

EDGE (Stanford-TML/EDGE) saves ``torch.save({"ema_state_dict", "model_state_dict",
"optimizer_state_dict", "normalizer"})`` where ``normalizer`` is a pickled
``dataset.preprocess.Normalizer`` holding EDGE's ``dataset.scaler.MinMaxScaler``. Loading it
normally imports EDGE's code and runs whatever the pickle names. Here torch's weights-only
unpickler reads it (tensors and containers only), with two additions to its allow-list: EDGE's two
classes as inert stand-ins that only record their attributes, and numpy's array reconstruction as
the recording stand-ins of ``choreo.io.safe_unpickle`` (plain numeric arrays only; numpy never sees
pickled state). Anything else is refused with an error naming it.

The EMA weights are mapped onto ``models.edge.EDGEDenoiser`` by the explicit table
``edge_key_table`` (every shape checked), the scaler's ``min_`` / ``scale_`` become the extra
tensors ``normalizer_min`` / ``normalizer_scale``, and the folder is written by
``choreo.checkpoints.save_checkpoint``.

The public checkpoint is the Jukebox model (music_dim 4800): its music features come from
jukemirlib (OpenAI Jukebox layer 66 activations at 30 fps), which needs a CUDA GPU and ~10 GB of
Jukebox weights; Choreo's 35-d librosa features do not fit it.

CLI::

    python -m choreo.generators.edge_checkpoint checkpoint.pt out_dir
"""

from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path

import torch

from ..checkpoints import CheckpointError, save_checkpoint
from ..io.safe_unpickle import NUMPY_GLOBALS, InertObject, materialise
from ..networks import network_module
from .normalizer import MinMaxNormalizer

EDGE_HEADS = 8
_ROTARY_KEY = re.compile(r"^(.*\.)?rotary\.freqs$")


class InertNormalizer(InertObject):
    """Stand-in for EDGE's ``dataset.preprocess.Normalizer``: records attributes, runs nothing."""


class InertMinMaxScaler(InertObject):
    """Stand-in for EDGE's ``dataset.scaler.MinMaxScaler``: records attributes, runs nothing."""


_STAND_INS = {
    ("dataset.preprocess", "Normalizer"): InertNormalizer,
    ("dataset.scaler", "MinMaxScaler"): InertMinMaxScaler,
    ("dataset.preprocess", "MinMaxScaler"): InertMinMaxScaler,
}
_GLOBAL_NAME = re.compile(r"GLOBAL ([\w.]+)")


def _safe_globals() -> list[tuple[object, str]]:
    """(stand-in, pickled name) pairs added to torch's weights-only allow-list while loading."""
    names = {**_STAND_INS, **NUMPY_GLOBALS}
    return [(stand_in, f"{module}.{name}") for (module, name), stand_in in names.items()]


def _torch_trusts_numpy() -> bool:
    """Whether this torch's own weights-only allow-list resolves numpy names (then ours would be bypassed)."""
    from torch import _weights_only_unpickler as wo

    allowed = getattr(wo, "_get_allowed_globals", lambda: {})()
    return any(f"{module}.{name}" in allowed for module, name in NUMPY_GLOBALS)


def read_edge_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, with EDGE's normaliser as an ``InertNormalizer``; no pickled code runs.

    torch's weights-only unpickler reads it (tensors, containers), with EDGE's two classes and numpy's
    array reconstruction allow-listed as the inert stand-ins of ``safe_unpickle``; the normaliser's
    numpy arrays are rebuilt only if they are plain numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"EDGE checkpoint {path} does not exist. Download it with EDGE's download_model.sh.")
    if not hasattr(torch.serialization, "safe_globals") or _torch_trusts_numpy():
        raise CheckpointError(f"converting {path} needs torch 2.6 or newer (weights-only loading with an "
                              f"allow-list); this is torch {torch.__version__}.")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            data = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(data, dict) and "normalizer" in data:
            data["normalizer"] = materialise(data["normalizer"])
    except pickle.UnpicklingError as error:
        match = _GLOBAL_NAME.search(str(error))
        if match is None:
            reason = str(error).rpartition("WeightsUnpickler error:")[2].strip() or str(error)
            raise CheckpointError(f"{path} cannot be read safely: {reason}") from error
        raise CheckpointError(
            f"{path}: refusing to load global {match.group(1)} from the checkpoint: only torch tensors, plain "
            "numpy arrays and EDGE's Normalizer/MinMaxScaler are allowed. The file is not a plain EDGE checkpoint; "
            "do not load it with torch.load(weights_only=False) either.") from error
    except (RuntimeError, EOFError, TypeError, ValueError, AttributeError, IndexError, KeyError, MemoryError,
            OverflowError, RecursionError) as error:
        raise CheckpointError(f"{path} is damaged or not an EDGE checkpoint ({type(error).__name__}: {error}); "
                              "download it again.") from error
    if not isinstance(data, dict) or "ema_state_dict" not in data:
        raise CheckpointError(f"{path} is not an EDGE checkpoint: expected a dict with 'ema_state_dict', got "
                              f"{sorted(data) if isinstance(data, dict) else type(data).__name__}.")
    return data


def edge_normalizer(normalizer) -> MinMaxNormalizer:
    """Min-max statistics from an unpickled ``InertNormalizer`` (its ``scaler``'s ``min_`` and ``scale_``)."""
    scaler = getattr(normalizer, "state", {}).get("scaler")
    if not isinstance(scaler, InertMinMaxScaler) or not {"min_", "scale_"} <= set(scaler.state):
        raise CheckpointError("the EDGE checkpoint's 'normalizer' has no fitted MinMaxScaler (min_, scale_); "
                              "the checkpoint is incomplete.")
    feature_range = tuple(float(v) for v in scaler.state.get("feature_range", (-1, 1)))
    if feature_range != (-1.0, 1.0):
        raise CheckpointError(f"the EDGE normaliser maps to {feature_range}, Choreo expects (-1, 1).")
    return MinMaxNormalizer(torch.as_tensor(scaler.state["scale_"]).float(),
                            torch.as_tensor(scaler.state["min_"]).float())


def edge_key_table(num_layers: int, num_encoder_layers: int = 2) -> dict[str, str]:
    """EDGE ``DanceDecoder`` parameter name -> ``EDGEDenoiser`` parameter name, every one listed."""
    table = {}
    for suffix in ("weight", "bias"):
        table[f"input_projection.{suffix}"] = f"motion_projection.{suffix}"
        table[f"cond_projection.{suffix}"] = f"music_projection.{suffix}"
        for index in (0, 1, 3):
            table[f"non_attn_cond_projection.{index}.{suffix}"] = f"music_pool_projection.{index}.{suffix}"
        table[f"norm_cond.{suffix}"] = f"memory_norm.{suffix}"
        table[f"time_mlp.1.{suffix}"] = f"time_mlp.0.{suffix}"
        table[f"to_time_cond.0.{suffix}"] = f"time_to_film.{suffix}"
        table[f"to_time_tokens.0.{suffix}"] = f"time_to_tokens.{suffix}"
        table[f"final_layer.{suffix}"] = f"output_projection.{suffix}"
    table["null_cond_embed"] = "null_music_tokens"
    table["null_cond_hidden"] = "null_music_pooled"
    attention = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
    for layer in range(num_encoder_layers):
        source, target = f"cond_encoder.{layer}.", f"music_encoder.{layer}."
        for name in attention:
            table[f"{source}self_attn.{name}"] = f"{target}self_attn.{name}"
        for module in ("linear1", "linear2", "norm1", "norm2"):
            for suffix in ("weight", "bias"):
                table[f"{source}{module}.{suffix}"] = f"{target}{module}.{suffix}"
    for layer in range(num_layers):
        source, target = f"seqTransDecoder.stack.{layer}.", f"layers.{layer}."
        for name in attention:
            table[f"{source}self_attn.{name}"] = f"{target}self_attn.{name}"
            table[f"{source}multihead_attn.{name}"] = f"{target}cross_attn.{name}"
        for suffix in ("weight", "bias"):
            for module in ("linear1", "linear2", "norm1", "norm2", "norm3"):
                table[f"{source}{module}.{suffix}"] = f"{target}{module}.{suffix}"
            for film in ("film1", "film2", "film3"):
                table[f"{source}{film}.block.1.{suffix}"] = f"{target}{film}.proj.{suffix}"
    return table


def edge_config_from_state(state: dict[str, torch.Tensor], num_heads: int = EDGE_HEADS):
    """``EDGEConfig`` read off the EDGE state dict's shapes (heads cannot be read: EDGE used 8)."""
    config_cls = network_module("edge").EDGEConfig
    layers = {int(key.split(".")[2]) for key in state if key.startswith("seqTransDecoder.stack.")}
    null_frames = state["null_cond_embed"].shape[1]
    return config_cls(motion_dim=state["input_projection.weight"].shape[1],
                      music_dim=state["cond_projection.weight"].shape[1],
                      latent_dim=state["input_projection.weight"].shape[0],
                      ff_dim=state["seqTransDecoder.stack.0.linear1.weight"].shape[0],
                      num_layers=len(layers), num_heads=num_heads, horizon=null_frames,
                      null_cond_frames=null_frames)


def convert_edge_state(state: dict[str, torch.Tensor], num_heads: int = EDGE_HEADS):
    """(EDGEDenoiser with EDGE's weights, its config) from an EDGE ``DanceDecoder`` state dict."""
    edge = network_module("edge")
    state = {key[len("module."):] if key.startswith("module.") else key: value for key, value in state.items()}
    config = edge_config_from_state(state, num_heads)
    model = edge.EDGEDenoiser(config)
    expected = model.state_dict()
    table = edge_key_table(config.num_layers)
    rotary = {key: value for key, value in state.items() if _ROTARY_KEY.match(key)}
    for key, value in rotary.items():
        default = 1.0 / (10000.0 ** (torch.arange(0, config.latent_dim, 2).float() / config.latent_dim))
        if value.shape != default.shape or not torch.allclose(value.float(), default):
            raise CheckpointError(f"EDGE checkpoint key {key} holds non-default rotary frequencies; "
                                  "EDGEDenoiser supports only EDGE's default rotary embedding.")
    unknown = sorted(set(state) - set(table) - set(rotary))
    missing = sorted(set(table) - set(state))
    if unknown or missing:
        raise CheckpointError(f"EDGE state dict does not match EDGE's DanceDecoder: unknown keys {unknown[:5]}, "
                              f"missing keys {missing[:5]}.")
    converted = {}
    for source, target in table.items():
        value = state[source]
        if value.shape != expected[target].shape:
            raise CheckpointError(f"EDGE key {source} has shape {tuple(value.shape)}, but {target} needs "
                                  f"{tuple(expected[target].shape)}.")
        converted[target] = value.float()
    model.load_state_dict(converted)
    return model.eval(), config


def convert_edge_checkpoint(checkpoint_path: str | Path, out_dir: str | Path, num_heads: int = EDGE_HEADS) -> Path:
    """Write a Choreo checkpoint folder (EMA weights + normaliser tensors) from EDGE's ``checkpoint.pt``."""
    data = read_edge_checkpoint(checkpoint_path)
    model, config = convert_edge_state(data["ema_state_dict"], num_heads)
    normalizer = edge_normalizer(data.get("normalizer"))
    if normalizer.scale.shape[0] != config.motion_dim:
        raise CheckpointError(f"EDGE normaliser has {normalizer.scale.shape[0]} channels, the network "
                              f"{config.motion_dim}.")
    metadata = {"source": "Stanford-TML/EDGE checkpoint.pt (ema_state_dict)", "source_file": Path(checkpoint_path).name,
                "music_features": "jukebox" if config.music_dim == 4800 else "edge_baseline_35"}
    return save_checkpoint(out_dir, model, config, extra=normalizer.to_extra(), metadata=metadata)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert EDGE's checkpoint.pt to a Choreo checkpoint folder.")
    parser.add_argument("checkpoint", help="path to EDGE's checkpoint.pt")
    parser.add_argument("out_dir", help="output folder (config.json + model.safetensors)")
    parser.add_argument("--num-heads", type=int, default=EDGE_HEADS, help="attention heads (EDGE: 8)")
    args = parser.parse_args(argv)
    convert_edge_checkpoint(args.checkpoint, args.out_dir, args.num_heads)


if __name__ == "__main__":
    main()
