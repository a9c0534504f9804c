"""Wan 2.2 Animate renderer (diffusers): reference image + Choreo pose sequence -> video, in chained chunks."""

from .adapters import AppearanceExpert, apply_appearance_expert
from .chunks import Chunk, WanAnimateError, plan_chunks, snap_frames, stitch
from .face_video import render_face_video
from .loading import WanAnimateFiles, apply_memory_options, load_wan_animate
from .pipeline import render_wan_animate

__all__ = ["AppearanceExpert", "Chunk", "WanAnimateError", "WanAnimateFiles", "apply_appearance_expert",
           "apply_memory_options", "load_wan_animate", "plan_chunks", "render_face_video", "render_wan_animate",
           "snap_frames", "stitch"]
