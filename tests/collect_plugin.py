"""Pytest plugin: collect the repository root as a plain directory, not a Python package.

The root holds the ComfyUI entry ``__init__.py``. Pytest would otherwise treat
the root as a package and import that file under the checkout's folder name
before any test runs; node tests load the pack themselves, the way ComfyUI
does (see ``conftest.load_pack``).
"""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector):
    if path == REPO_ROOT:
        return pytest.Dir.from_parent(parent, path=path)
    return None
