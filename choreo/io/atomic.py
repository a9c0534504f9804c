"""Write a file so readers see the old file or the complete new one, never half of it.

The content goes to a temporary file in the target's folder, which is then renamed over the
target (a rename within one folder is atomic). ``mkstemp`` creates the temporary file readable
by its owner only; it gets the permissions a plain ``open`` would have given (0666 less the
umask) so outputs stay readable by the web server and the user's other tools.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

import numpy as np


def _plain_open_mode() -> int:
    """0666 less the process umask. Read once at import: changing the umask is process-wide, so doing
    it while ComfyUI's server threads create files could hand them the wrong permissions."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _plain_open_mode()


def write_atomically(path: str | Path, write: Callable[[IO], None], binary: bool = True) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".saving_", suffix=out.suffix or ".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename, so a power cut cannot leave an empty file
        os.chmod(temp_name, FILE_MODE)
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return out


def save_npz_atomic(path: str | Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` written atomically; returns the path."""
    return write_atomically(path, lambda file: np.savez(file, **arrays))
