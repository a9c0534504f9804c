"""Choreo: music-to-dance video authoring for ComfyUI.

ComfyUI imports this file as a package named after the pack's folder, so every
import below is relative and the pack loads under any folder name.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.comfy_bridge import register_model_folders
from .nodes.demo_inputs import install_demo_inputs

register_model_folders()
install_demo_inputs()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
