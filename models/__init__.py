"""Networks, one per file, pure torch: no ComfyUI and no Choreo imports.

Each file reads top to bottom (blocks, config dataclass, model) in the spirit of
nanoGPT; samplers, data and training loops live in ``choreo/`` and load these
through ``choreo.networks.network_module``.
"""
