"""MACE-Dance Appearance Expert files on a diffusers ``WanAnimateTransformer3DModel``.

The Appearance Expert fine-tunes Wan2.2-Animate-14B in two files (HF ``GD-ML/MACE-Dance``, gated):

* **Body adapter** (``Adapter.safetensors``): the MACE loader keeps only tensors whose name, after stripping
  one of ``module.pipe.animate_adapter.``, ``pipe.animate_adapter.``, ``module.animate_adapter.``,
  ``animate_adapter.``, starts with ``pose_patch_embedding.``. Wan's ``pose_patch_embedding`` (Conv3d
  latent 16 -> 5120, patch (1, 2, 2)) has the same name in diffusers, so the mapping is the identity table
  ``BODY_ADAPTER_KEYS``; shapes are checked.
* **LoRA** (``LoRA.safetensors``): rank 32 on the DiT blocks' ``q, k, v, o, ffn.0, ffn.2`` in DiffSynth-Studio
  naming, applied with alpha 0.5. DiffSynth fuses ``W += alpha * B @ A`` (no rank scaling), so ``alpha`` here is
  exactly DiffSynth's. ``lora_key_to_diffusers`` maps the names with an explicit table (``LORA_MODULES``).
  The real file's key format is **unverified** (the file is gated); accepted spellings: ``lora_A``/``lora_B`` or
  ``lora_down``/``lora_up``, with or without ``.default``, with prefixes ``diffusion_model.``, ``dit.``,
  ``pipe.dit.``, ``module.``, ``transformer.``; diffusers module names are accepted as they are.

Both are applied as forward hooks (``AppearanceExpert.remove()`` undoes them exactly), so a cached pipeline is
never modified and they work under every offload mode (the hooks run after accelerate has placed the weights).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ...checkpoints import CheckpointError

BODY_ADAPTER_PREFIXES = ("module.pipe.animate_adapter.", "pipe.animate_adapter.", "module.animate_adapter.",
                         "animate_adapter.")
BODY_ADAPTER_KEYS = {  # MACE name after the prefix -> diffusers name
    "pose_patch_embedding.weight": "pose_patch_embedding.weight",
    "pose_patch_embedding.bias": "pose_patch_embedding.bias",
}
LORA_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "pipe.dit.", "dit.", "module.", "transformer.")
LORA_MODULES = {  # Wan / DiffSynth module path inside blocks.N -> diffusers module path
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "cross_attn.k_img": "attn2.add_k_proj",
    "cross_attn.v_img": "attn2.add_v_proj",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}
DEFAULT_LORA_ALPHA = 0.5
_LORA_KEY = re.compile(r"^blocks\.(?P<block>\d+)\.(?P<module>.+)\.lora_(?P<which>A|B|down|up)(?:\.default)?\.weight$")


def _strip(key: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def body_adapter_state(state: dict) -> dict:
    """The body adapter's tensors under diffusers names (MACE's filter + ``BODY_ADAPTER_KEYS``)."""
    out = {}
    for key, value in state.items():
        name = _strip(key, BODY_ADAPTER_PREFIXES)
        if name.startswith("pose_patch_embedding."):
            if name not in BODY_ADAPTER_KEYS:
                raise CheckpointError(f"body adapter tensor {key} is not a pose_patch_embedding weight or bias.")
            out[BODY_ADAPTER_KEYS[name]] = value
    if not out:
        raise CheckpointError(f"the body adapter has no pose_patch_embedding.* tensors (first keys: "
                              f"{sorted(state)[:3]}); is it MACE-Dance's Adapter.safetensors?")
    return out


def lora_key_to_diffusers(key: str) -> tuple[str, str]:
    """(diffusers module path, "A" or "B") for one LoRA tensor name, or a CheckpointError."""
    match = _LORA_KEY.match(_strip(key, LORA_PREFIXES))
    if match is None:
        raise CheckpointError(f"LoRA tensor {key!r} is not blocks.N.<module>.lora_A/lora_B.weight; this LoRA "
                              "format is not supported.")
    module = match["module"]
    diffusers_module = LORA_MODULES.get(module, module if module in LORA_MODULES.values() else None)
    if diffusers_module is None:
        raise CheckpointError(f"LoRA tensor {key!r} targets {module!r}, which has no diffusers mapping "
                              f"(known: {sorted(LORA_MODULES)}).")
    which = "A" if match["which"] in ("A", "down") else "B"
    return f"blocks.{match['block']}.{diffusers_module}", which


def lora_pairs(state: dict) -> dict[str, tuple]:
    """{diffusers module path: (A (rank, in), B (out, rank))}; ``.alpha`` tensors are ignored (DiffSynth does)."""
    halves: dict[str, dict[str, object]] = {}
    for key, value in state.items():
        if key.endswith(".alpha"):
            continue
        module, which = lora_key_to_diffusers(key)
        halves.setdefault(module, {})[which] = value
    incomplete = [module for module, pair in halves.items() if len(pair) != 2]
    if incomplete:
        raise CheckpointError(f"LoRA has a down or up matrix without its partner for {incomplete[:3]}.")
    if not halves:
        raise CheckpointError("the LoRA file holds no tensors.")
    return {module: (pair["A"], pair["B"]) for module, pair in halves.items()}


def _load(path: str | Path, what: str) -> dict:
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist. Put MACE-Dance's Appearance Expert files "
                              "(Adapter.safetensors, LoRA.safetensors) in ComfyUI/models/loras.")
    return load_file(str(path))


@dataclass
class AppearanceExpert:
    """Hooks installed on a transformer; ``remove()`` restores its plain behaviour."""

    handles: list = field(default_factory=list)
    patched_modules: list[str] = field(default_factory=list)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def __enter__(self) -> "AppearanceExpert":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _replace_conv_hook(weight, bias):
    import torch.nn.functional as F

    def hook(module, inputs, output):
        x = inputs[0]
        b = module.bias if bias is None else bias.to(x.device, x.dtype)
        return F.conv3d(x, weight.to(x.device, x.dtype), b, module.stride, module.padding, module.dilation,
                        module.groups)

    return hook


def _lora_hook(down, up, alpha: float):
    def hook(module, inputs, output):
        x = inputs[0]
        return output + alpha * ((x @ down.to(x.device, x.dtype).T) @ up.to(x.device, x.dtype).T)

    return hook


def apply_appearance_expert(transformer, adapter_path: str | Path | None = None, lora_path: str | Path | None = None,
                            lora_alpha: float = DEFAULT_LORA_ALPHA) -> AppearanceExpert:
    """Install the body adapter and/or the LoRA on ``transformer``; returns the handle that removes them."""
    expert = AppearanceExpert()
    modules = dict(transformer.named_modules())
    try:
        if adapter_path is not None:
            adapter = body_adapter_state(_load(adapter_path, "body adapter"))
            conv = transformer.pose_patch_embedding
            for name, value in adapter.items():
                expected = tuple(getattr(conv, name.rsplit(".", 1)[1]).shape)
                if tuple(value.shape) != expected:
                    raise CheckpointError(f"body adapter {name} has shape {tuple(value.shape)}, the transformer's is "
                                          f"{expected}; the adapter is for another model size.")
            hook = _replace_conv_hook(adapter["pose_patch_embedding.weight"], adapter.get("pose_patch_embedding.bias"))
            expert.handles.append(conv.register_forward_hook(hook))
            expert.patched_modules.append("pose_patch_embedding")
        if lora_path is not None:
            for module_name, (down, up) in lora_pairs(_load(lora_path, "LoRA")).items():
                linear = modules.get(module_name)
                if linear is None:
                    raise CheckpointError(f"LoRA targets {module_name}, which this transformer does not have "
                                          f"({transformer.config.num_layers} blocks).")
                if down.shape[1] != linear.in_features or up.shape[0] != linear.out_features or \
                        down.shape[0] != up.shape[1]:
                    raise CheckpointError(f"LoRA for {module_name}: down {tuple(down.shape)} / up {tuple(up.shape)} "
                                          f"do not fit Linear({linear.in_features}, {linear.out_features}).")
                expert.handles.append(linear.register_forward_hook(_lora_hook(down, up, float(lora_alpha))))
                expert.patched_modules.append(module_name)
    except BaseException:
        expert.remove()
        raise
    return expert
