"""Where the data files written beside a dance video go.

A video's side files share its full stem: ``take.v2_00001_.mp4`` gets
``take.v2_00001_.pose.json``, ``.npz`` and ``.bvh``. ``Path.with_suffix`` would cut
such a stem at its first dot (``take.npz``) and every render would overwrite the
last one's data, so both the CLI pipeline and the export nodes name them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SidecarPaths:
    """The data files beside one video."""

    pose_json: Path
    motion_npz: Path
    motion_bvh: Path


def sidecar_path(video_path: str | Path, suffix: str) -> Path:
    """``video_path`` with its last extension replaced by ``suffix`` (which may itself hold dots).

    >>> sidecar_path("out/take.v2_00001_.mp4", ".pose.json").as_posix()
    'out/take.v2_00001_.pose.json'
    """
    video = Path(video_path)
    return video.with_name(video.stem + suffix)


def sidecar_paths(video_path: str | Path) -> SidecarPaths:
    """The pose JSON, motion NPZ and BVH paths that belong to ``video_path``."""
    return SidecarPaths(sidecar_path(video_path, ".pose.json"), sidecar_path(video_path, ".npz"),
                        sidecar_path(video_path, ".bvh"))
