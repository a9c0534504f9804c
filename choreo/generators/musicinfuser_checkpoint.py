"""MusicInfuser's official checkpoint layout <-> Choreo's modules, both ways, every key and shape checked.

The official ``musicinfuser.safetensors`` (``susunghong/MusicInfuser``, ~1.44 GB bf16) holds what the public
trainer (``SusungHong/MusicInfuser``: ``music_infuser/train.py``, ``lora.py``'s ``LoraLinear``,
``audio_adapter.py``) saves: the LoRA on Genmo's *fused* projections in Genmo's native names,
``blocks.{i}.attn.{qkv_x,qkv_y,proj_x,proj_y}.lora_{A,B}`` (no ``proj_y`` in the last block, which does not
update the text stream), plus ``audio_projection.projection.{0,2}.*`` and
``audio_cross_attn_blocks.{j}.to_{q,k,v,out}.*``; its metadata ``kwargs`` (JSON) holds the LoRA ranks and alphas.
Rank 64 on all four projections of 48 blocks, the projector and 16 ZICA blocks add 719.5 M parameters: 1.439 GB
in bf16, the size of the released file.

A fused-QKV LoRA delta ``B @ A`` with ``B`` of (3D, r) is three LoRAs sharing ``A`` (``models.musicinfuser``
ties them): q, k and v take the row blocks of ``B`` in that order (Genmo's ``qkv.view(3, heads, head_dim)``),
an exact split, so official -> ours -> official is bit-exact.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from ..checkpoints import CheckpointError
from ..networks import network_module

# Genmo's fused projection -> the diffusers layers it becomes (fused ones split in this row order).
FUSED_LORA = {"qkv_x": ("to_q", "to_k", "to_v"), "qkv_y": ("add_q_proj", "add_k_proj", "add_v_proj"),
              "proj_x": ("to_out.0",), "proj_y": ("to_add_out",)}
OFFICIAL_LORA_KEY = re.compile(r"^blocks\.(\d+)\.attn\.(qkv_x|qkv_y|proj_x|proj_y)\.lora_(A|B)$")
OFFICIAL_AUDIO_KEY = re.compile(r"^(audio_projection\.projection\.[02]|audio_cross_attn_blocks\.\d+\.to_(q|k|v|out)"
                                r"|beat_projection)\.(weight|bias)$")
OURS_LORA_KEY = re.compile(r"^transformer\.transformer_blocks\.(\d+)\.attn1\.(\w+(?:\.0)?)"
                           r"\.lora_(A|B)\.default\.weight$")


def adapter_state(model) -> dict:
    """The weights MusicInfuser adds to Mochi, under our module names (LoRA, projector, ZICA, beats)."""
    return {name: value for name, value in model.state_dict().items()
            if ".lora_" in name or not name.startswith("transformer.")}


def official_to_choreo(official: dict, model) -> dict:
    """Map an official-layout ``musicinfuser.safetensors`` state onto ``adapter_state(model)``'s names.

    Every key is mapped and every shape checked; keys the model has no place for, keys the model needs but the
    file lacks, and shape mismatches raise a ``CheckpointError`` naming them. Only the beat projection (ours)
    may be absent: it then stays zero and the model behaves as the official one.
    """
    expected = adapter_state(model)
    out, unknown = {}, []
    for key, value in official.items():
        lora = OFFICIAL_LORA_KEY.match(key)
        if lora:
            block, fused, half = lora.groups()
            targets = FUSED_LORA[fused]
            pieces = [value] * len(targets) if half == "A" else value.chunk(len(targets), dim=0)
            for target, piece in zip(targets, pieces):
                name = f"transformer.transformer_blocks.{block}.attn1.{target}.lora_{half}.default.weight"
                if name not in expected:
                    unknown.append(key)
                    break
                out[name] = piece.clone()
        elif OFFICIAL_AUDIO_KEY.match(key) and key in expected:
            out[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"MusicInfuser file has {len(unknown)} weights this model has no place for (e.g. "
                              f"{sorted(unknown)[:4]}); it does not match this Mochi (blocks, ZICA count) or is not "
                              "a MusicInfuser checkpoint.")
    missing = sorted(key for key in set(expected) - set(out) if not key.startswith("beat_projection."))
    if missing:
        raise CheckpointError(f"MusicInfuser file lacks {len(missing)} weights (e.g. {missing[:4]}); it is "
                              "incomplete or was trained with other LoRA targets or ZICA blocks.")
    for key, value in out.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(f"MusicInfuser file: {key} has shape {tuple(value.shape)}, the model expects "
                                  f"{tuple(expected[key].shape)}; LoRA rank or widths differ from the config.")
    return out


def choreo_to_official(state: dict) -> dict:
    """``adapter_state`` names -> the official layout (q/k/v LoRA fused back; they must share A)."""
    import torch

    out, fused_parts = {}, {}
    for key, value in state.items():
        lora = OURS_LORA_KEY.match(key)
        if lora is None:
            out[key] = value
            continue
        block, target, half = lora.groups()
        fused = next(name for name, targets in FUSED_LORA.items() if target in targets)
        fused_parts.setdefault((block, fused, half), {})[target] = value
    for (block, fused, half), parts in fused_parts.items():
        ordered = [parts[target] for target in FUSED_LORA[fused]]
        if half == "A":
            if any(not _same(ordered[0], other) for other in ordered[1:]):
                raise CheckpointError(f"block {block}: the {'/'.join(FUSED_LORA[fused])} LoRAs have different A "
                                      "matrices, so they cannot be written as one fused-QKV LoRA.")
            value = ordered[0]
        else:
            value = ordered[0] if len(ordered) == 1 else torch.cat(ordered, dim=0)
        out[f"blocks.{block}.attn.{fused}.lora_{half}"] = value
    return out


def _same(a, b) -> bool:
    import torch

    return a.shape == b.shape and torch.equal(a, b)


def read_musicinfuser_file(path: str | Path) -> tuple[dict, dict]:
    """(tensors, metadata kwargs) of a ``musicinfuser.safetensors``; nothing is unpickled."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"MusicInfuser file {path} does not exist. Download musicinfuser.safetensors "
                              "(susunghong/MusicInfuser) into ComfyUI/models/loras.")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    try:
        kwargs = json.loads(metadata.get("kwargs", "{}"))
        choreo = json.loads(metadata.get("choreo_config", "{}"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"MusicInfuser file {path.name} has unreadable metadata ({error}).") from None
    return tensors, {"kwargs": kwargs, "choreo_config": choreo}


def config_from_file(tensors: dict, metadata: dict, num_layers: int):
    """The ``MusicInfuserConfig`` a file was trained with: shapes, LoRA alpha from the metadata, paper defaults."""
    ZICA_BLOCKS = network_module("musicinfuser").ZICA_BLOCKS
    MusicInfuserConfig = network_module("musicinfuser").MusicInfuserConfig

    if metadata.get("choreo_config"):
        fields = dict(metadata["choreo_config"])
        fields["zica_blocks"] = tuple(fields.get("zica_blocks", ZICA_BLOCKS))
        return MusicInfuserConfig(**fields)
    first = tensors.get("audio_projection.projection.0.weight")
    lora_a = tensors.get("blocks.0.attn.qkv_x.lora_A")
    if first is None or lora_a is None:
        raise CheckpointError("MusicInfuser file lacks audio_projection.projection.0.weight or "
                              "blocks.0.attn.qkv_x.lora_A: it is not a MusicInfuser (LoRA + audio) checkpoint.")
    kwargs = metadata.get("kwargs", {})
    rank = int(lora_a.shape[0])
    for part in ("qkv_proj", "out_proj"):
        if kwargs.get(f"{part}_lora_rank", rank) != rank or kwargs.get(f"{part}_lora_alpha", rank) != kwargs.get(
                "qkv_proj_lora_alpha", rank):
            raise CheckpointError(f"MusicInfuser file metadata {kwargs} gives different ranks or alphas for the QKV "
                                  "and output LoRAs; Choreo supports one rank and alpha for both.")
    zica = sorted({int(key.split(".")[1]) for key in tensors if key.startswith("audio_cross_attn_blocks.")})
    blocks = tuple(b for b in ZICA_BLOCKS if b < num_layers)
    if len(zica) != len(blocks):
        raise CheckpointError(f"MusicInfuser file has {len(zica)} ZICA blocks; the paper's layout for a "
                              f"{num_layers}-block Mochi has {len(blocks)} ({blocks}).")
    beats = tensors.get("beat_projection.weight")
    return MusicInfuserConfig(audio_dim=int(first.shape[1]), projector_hidden_dim=int(first.shape[0]),
                              zica_blocks=blocks, lora_rank=rank,
                              lora_alpha=float(kwargs.get("qkv_proj_lora_alpha", rank)),
                              beat_channels=0 if beats is None else int(beats.shape[1]))


def save_musicinfuser_file(model, path: str | Path) -> Path:
    """Write ``model``'s adapter in the official layout (loadable by the official code) plus our config."""
    from ..training.state_files import save_tensors

    config = model.config
    kwargs = {f"{part}_lora_{name}": value for part in ("qkv_proj", "out_proj")
              for name, value in (("rank", config.lora_rank), ("alpha", config.lora_alpha), ("dropout", 0.0))}
    fields = dataclasses.asdict(config)
    save_tensors(choreo_to_official(adapter_state(model)), Path(path),
                 metadata={"kwargs": json.dumps(kwargs), "choreo_config": json.dumps(fields)})
    return Path(path)
