"""Whether librosa's numba kernels are already compiled, so the CLI can say why a first run waits.

librosa compiles its numba kernels on first use and caches them on disk (next to
its sources, in ``NUMBA_CACHE_DIR`` or in the user's cache folder). With a cold
cache the music analysis spends ~20-30 s compiling once; every later run loads
the cache in about a second. The probe asks numba's own cache locators where the
cache of ``librosa/util/utils.py`` lives and looks for its index files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _probe() -> None:
    """Stands in for a kernel: numba's locators only read its first line number."""


def librosa_kernel_file() -> Path:
    """The librosa module whose numba kernels (peak picking, local maxima) the music analysis compiles.

    Found without importing it: importing ``librosa.util.utils`` is what compiles them.
    """
    return Path(importlib.util.find_spec("librosa").origin).parent / "util" / "utils.py"


def numba_cache_is_warm(source_file: str | Path) -> bool:
    """True when numba holds compiled kernels of ``source_file`` (any ``<module>.*.nbi`` index file).

    Uses numba's locator classes in numba's own order, so ``NUMBA_CACHE_DIR`` and read-only
    installs are honoured. When numba's internals cannot be read it answers True: the
    probe only decides whether to print a note, and a missing note is harmless.
    """
    source = Path(source_file)
    try:
        from numba.core.caching import CacheImpl

        locator_classes = CacheImpl._locator_classes
    except (ImportError, AttributeError):
        return True
    for locator_class in locator_classes:
        locator = locator_class.from_function(_probe, str(source))
        if locator is not None:
            return any(Path(locator.get_cache_path()).glob(f"{source.stem}.*.nbi"))
    return True
