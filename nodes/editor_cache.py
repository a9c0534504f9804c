"""What each Pose Keyframe Editor node saw in its last run, for the editor's HTTP routes.

ComfyUI runs nodes on a worker thread and serves routes on the event loop, so
access is locked. Only the last ``MAX_NODES`` editor nodes are kept: a long
session with many workflows must not hold every dance in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..choreo.music.analysis import MusicAnalysis
from ..choreo.pose.sequence import PoseSequence2D

MAX_NODES = 16


@dataclass(frozen=True)
class EditorEntry:
    """One node's last input.

    pose            : the un-edited sequence that reached the node.
    fingerprint     : ``choreo.edit.fingerprint(pose)``.
    blend_frames    : the node's blend window, frames.
    music           : the connected analysis, or None.
    audio_pcm16     : (N,) int16 mono samples of the connected audio, or None.
    sample_rate     : Hz of ``audio_pcm16`` (0 without audio).
    image_jpeg      : the reference image as JPEG bytes, or None.
    """

    pose: PoseSequence2D
    fingerprint: str
    blend_frames: int
    music: MusicAnalysis | None = None
    audio_pcm16: np.ndarray | None = None
    sample_rate: int = 0
    image_jpeg: bytes | None = None


_entries: OrderedDict[str, EditorEntry] = OrderedDict()
_lock = threading.Lock()


def store(node_id: str, entry: EditorEntry) -> None:
    with _lock:
        _entries[node_id] = entry
        _entries.move_to_end(node_id)
        while len(_entries) > MAX_NODES:
            _entries.popitem(last=False)


def lookup(node_id: str) -> EditorEntry | None:
    with _lock:
        return _entries.get(node_id)


def clear() -> None:
    with _lock:
        _entries.clear()
