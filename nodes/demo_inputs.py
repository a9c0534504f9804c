"""Copies the bundled demo song and character into ComfyUI's input folder.

The quick-start workflow's LoadAudio and LoadImage nodes name these files, so a
new user can press Run straight away. Existing files are never overwritten.
"""

from __future__ import annotations

import shutil

from .comfy_bridge import PACK_DIR, input_directory

DEMO_FILES = {"demo_track.ogg": "choreo_demo_track.ogg", "demo_character.png": "choreo_demo_character.png",
              "demo_character_pose.json": "choreo_demo_character_pose.json"}


def install_demo_inputs() -> None:
    target_dir = input_directory()
    if target_dir is None:
        return
    target_dir.mkdir(parents=True, exist_ok=True)
    for source_name, target_name in DEMO_FILES.items():
        source, target = PACK_DIR / "assets" / source_name, target_dir / target_name
        if source.exists() and not target.exists():
            shutil.copyfile(source, target)
