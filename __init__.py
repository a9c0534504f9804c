"""Choreo: music-to-dance video authoring for ComfyUI.

ComfyUI imports this file as a package named after the pack's folder, so every
import below is relative and the pack loads under any folder name. Outside
ComfyUI (tests, the CLI) the set-up calls do nothing.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.comfy_bridge import register_model_folders
from .nodes.demo_inputs import install_demo_inputs
from .nodes.editor_routes import register_with_comfyui
from .nodes.music_nodes import register_wav2vec2_folder

WEB_DIRECTORY = "./web/js"

register_model_folders()
register_wav2vec2_folder()
install_demo_inputs()
register_with_comfyui()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
