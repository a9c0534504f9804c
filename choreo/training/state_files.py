"""Resumable training state as safetensors + JSON (no pickles), shared by both trainers.

Each file is replaced atomically (``io.atomic``) and callers write ``state.json`` last, so a run
stopped in the middle of a save resumes from the previous complete one instead of a torn file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io.atomic import write_atomically


def save_tensors(tensors: dict, path: Path, metadata: dict[str, str] | None = None) -> None:
    """CPU copies of ``tensors`` as one safetensors file."""
    from safetensors.torch import save

    payload = save({key: value.detach().cpu().contiguous() for key, value in tensors.items()}, metadata)
    write_atomically(path, lambda file: file.write(payload))


def save_json(document: dict[str, Any], path: Path) -> None:
    write_atomically(path, lambda file: json.dump(document, file, indent=1), binary=False)


def save_optimizer(optimizer, path: Path) -> None:
    """AdamW state as safetensors (``state.<param>.<name>`` tensors) with the param groups in the metadata."""
    import torch

    state = optimizer.state_dict()
    tensors = {f"state.{index}.{name}": value if torch.is_tensor(value) else torch.tensor(value)
               for index, entries in state["state"].items() for name, value in entries.items()}
    save_tensors(tensors, path, metadata={"param_groups": json.dumps(state["param_groups"])})


def load_optimizer(optimizer, path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        groups = json.loads(handle.metadata()["param_groups"])
        entries: dict[int, dict[str, Any]] = {}
        for key in handle.keys():
            _, index, name = key.split(".", 2)
            entries.setdefault(int(index), {})[name] = handle.get_tensor(key)
    optimizer.load_state_dict({"state": entries, "param_groups": groups})
