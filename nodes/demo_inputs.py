"""Copies the bundled demo song and character into ComfyUI's input folder.

The quick-start workflow's LoadAudio and LoadImage nodes name these files, so a
new user can press Run straight away. Existing files are never overwritten.
This runs while ComfyUI imports the pack, so a folder that cannot be written
(read-only install, full disk) only logs a warning: the nodes must still load.
Each copy is atomic, so a failure leaves no half-written demo file behind.
"""

from __future__ import annotations

import logging

from ..choreo.io.atomic import write_atomically
from .comfy_bridge import PACK_DIR, input_directory

LOG = logging.getLogger(__name__)
DEMO_FILES = {"demo_track.ogg": "choreo_demo_track.ogg", "demo_character.png": "choreo_demo_character.png",
              "demo_character_pose.json": "choreo_demo_character_pose.json"}


def install_demo_inputs() -> list[str]:
    """Copy the missing demo files into the input folder; returns the names copied (those before a failure)."""
    target_dir = input_directory()
    if target_dir is None:
        return []
    copied = []
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        for source_name, target_name in DEMO_FILES.items():
            source, target = PACK_DIR / "assets" / source_name, target_dir / target_name
            if source.exists() and not target.exists():
                data = source.read_bytes()
                write_atomically(target, lambda file: file.write(data))
                copied.append(target_name)
    except OSError as error:
        LOG.warning("Choreo could not copy its demo files into ComfyUI's input folder %s (%s); the nodes work, but "
                    "the example workflows need %s there: make the folder writable or copy them from %s.",
                    target_dir, error, ", ".join(DEMO_FILES.values()), PACK_DIR / "assets")
    return copied
