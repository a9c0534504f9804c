"""Checkpoints are data: a folder with ``config.json`` and ``model.safetensors``.

Layout (Hugging Face style, so a checkpoint is one folder a user drops into
``ComfyUI/models/choreo/<family>/``)::

    <name>/config.json         {"architecture": "<ConfigClass>", "config": {...}, "metadata": {...}}
    <name>/model.safetensors   the network's state dict, plus extra tensors under "extra."

Nothing is ever unpickled. Configs are frozen dataclasses; unknown or missing
keys are an error naming the key, so a checkpoint never half-loads.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, TypeVar

from .errors import ChoreoError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
EXTRA_PREFIX = "extra."

ConfigT = TypeVar("ConfigT")


class CheckpointError(ChoreoError):
    """A checkpoint folder is missing, incomplete, or does not match the network."""


def save_checkpoint(directory: str | Path, model, config, extra: dict | None = None,
                    metadata: dict[str, Any] | None = None, weights_dtype=None) -> Path:
    """Write ``config.json`` + ``model.safetensors``; ``extra`` holds non-parameter tensors (normalisers).

    weights_dtype : e.g. torch.float16 to halve a shipped file; the model's floating-point weights are
                    stored in it (``extra`` keeps its precision) and loading casts them back to the
                    dtype asked for.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    if weights_dtype is not None:
        tensors = {key: value.to(weights_dtype) if value.is_floating_point() else value
                   for key, value in tensors.items()}
    for key, value in (extra or {}).items():
        tensors[EXTRA_PREFIX + key] = value.detach().cpu().contiguous()
    save_file(tensors, str(directory / WEIGHTS_FILE))
    document = {"architecture": type(config).__name__, "config": dataclasses.asdict(config),
                "metadata": metadata or {}}
    (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2, sort_keys=True))
    return directory


def load_config(directory: str | Path, config_cls: type[ConfigT]) -> ConfigT:
    """The frozen config dataclass stored in ``directory/config.json``."""
    path = _require(Path(directory), CONFIG_FILE)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}). Re-download or re-export the checkpoint.") from error
    if document.get("architecture") != config_cls.__name__:
        raise CheckpointError(f"{path} holds a {document.get('architecture')!r} checkpoint, but this loader needs "
                              f"{config_cls.__name__!r}. Pick a checkpoint of the right model family.")
    values = document.get("config", {})
    names = {field.name for field in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise CheckpointError(f"{path} has config keys {unknown} that {config_cls.__name__} does not know; "
                              "the checkpoint was made by a newer or different version.")
    try:
        return config_cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})
    except (TypeError, ValueError) as error:  # a value the config itself refuses (edited or damaged file)
        raise CheckpointError(f"{path} holds a {config_cls.__name__} this version refuses: {error} Fix that value "
                              "or re-export the checkpoint.") from error


def load_metadata(directory: str | Path) -> dict[str, Any]:
    return json.loads(_require(Path(directory), CONFIG_FILE).read_text()).get("metadata", {})


def load_model(directory: str | Path, config_cls: type[ConfigT], build: Callable[[ConfigT], Any],
               device: str = "cpu", dtype=None):
    """(model in eval mode, config, extra tensors) from a checkpoint folder.

    Every parameter must be present and every shape must match; extra tensors
    (keys starting with ``extra.``) are returned separately.
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    config = load_config(directory, config_cls)
    tensors = load_file(str(_require(directory, WEIGHTS_FILE)), device=str(device))
    extra = {key[len(EXTRA_PREFIX):]: value for key, value in tensors.items() if key.startswith(EXTRA_PREFIX)}
    state = {key: value for key, value in tensors.items() if not key.startswith(EXTRA_PREFIX)}
    model = build(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{directory} does not match {type(model).__name__}: missing {missing[:5]}"
                              f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                              f"{'...' if len(unexpected) > 5 else ''}.")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(f"{directory}: {key} has shape {tuple(value.shape)}, the network expects "
                                  f"{tuple(expected[key].shape)}.")
    model.load_state_dict(state)
    model = model.to(device=device, dtype=dtype) if dtype is not None else model.to(device)
    return model.eval(), config, extra


def find_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint folders (those holding config.json and model.safetensors) under ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(path.parent for path in root.rglob(CONFIG_FILE) if (path.parent / WEIGHTS_FILE).is_file())


def _require(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing. A Choreo checkpoint is a folder with "
                              f"{CONFIG_FILE} and {WEIGHTS_FILE}; put it under ComfyUI/models/choreo/<family>/.")
    return path
