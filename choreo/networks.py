"""Finds the pack's top-level ``models/`` package (one network per file, pure torch).

``choreo`` is imported two ways: on its own from the repository root (CLI, tests,
benchmarks: ``import choreo``) and as a sub-package of the pack inside ComfyUI
(``<pack>.choreo``). The networks sit beside it in ``models/``, so their import
path depends on which; this is the one place that knows.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_PACK = __name__.rsplit(".", 2)[0] if __name__.count(".") >= 2 else ""


def network_module(name: str) -> ModuleType:
    """``models.<name>`` of this pack, e.g. ``network_module("edge")``."""
    return importlib.import_module(f"{_PACK}.models.{name}" if _PACK else f"models.{name}")
