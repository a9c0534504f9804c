"""Choreo core: music analysis, motion generation, pose tools and rendering.

Pure Python + numpy; nothing here imports ComfyUI, so the same engine serves the
ComfyUI nodes, the command line, the tests and the benchmarks.
"""

__version__ = "0.1.0"
