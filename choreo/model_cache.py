"""One cache for every network the pack loads, shared by all nodes and the CLI.

Keyed by (file or folder, dtype, device): two nodes naming the same checkpoint
get the same module, loaded once. Outside ComfyUI it is an LRU bounded by a
memory budget; inside ComfyUI the loader nodes additionally give each loaded model
ComfyUI ``ModelPatcher``s that live as long as it (``nodes.comfy_bridge.manage``),
so VRAM is shared with the rest of the graph and an evicted entry frees its weights.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Hashable

DEFAULT_BUDGET_BYTES = 8 * 1024**3


def module_size_bytes(module: Any) -> int:
    """Bytes of a torch module's parameters and buffers (0 for anything else)."""
    tensors = list(getattr(module, "parameters", lambda: [])()) + list(getattr(module, "buffers", lambda: [])())
    return sum(t.numel() * t.element_size() for t in tensors)


def cache_key(path: str | Path, dtype: Any = None, device: Any = None, variant: Hashable = None) -> tuple:
    """A key that changes when the file on disk changes (resolved path, size, mtime)."""
    resolved = Path(path).resolve()
    stamp = (resolved.stat().st_mtime_ns, resolved.stat().st_size) if resolved.exists() else (0, 0)
    return (str(resolved), stamp, str(dtype), str(device), variant)


class ModelCache:
    """Least-recently-used cache of loaded networks under a byte budget."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES):
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
        value = load()
        size = module_size_bytes(value[0] if isinstance(value, tuple) else value)
        with self._lock:
            self.loads += 1
            self._entries[key] = (value, size)
            self._entries.move_to_end(key)
            while len(self._entries) > 1 and self.total_bytes() > self.budget_bytes:
                self._entries.popitem(last=False)
        return value

    def total_bytes(self) -> int:
        return sum(size for _, size in self._entries.values())

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MODEL_CACHE = ModelCache()
