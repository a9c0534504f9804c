"""What each Pose Keyframe Editor node saw in its last run, for the editor's HTTP routes.

Entries are keyed by (workflow id, node id): node ids restart at 1 in every
workflow, so two open workflows would otherwise share one editor. The node id
is the executed (unique) id, "12:5" for node 5 inside subgraph node 12; the
workflow id is the UI workflow's ``id`` (a UUID the frontend saves with it),
"" when the prompt carried none.

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


_entries: OrderedDict[tuple[str, str], EditorEntry] = OrderedDict()
_lock = threading.Lock()


def store(node_id: str, entry: EditorEntry, workflow_id: str = "") -> None:
    """Keep ``entry`` as the last run of node ``node_id`` in workflow ``workflow_id``."""
    key = (workflow_id, node_id)
    with _lock:
        _entries[key] = entry
        _entries.move_to_end(key)
        while len(_entries) > MAX_NODES:
            _entries.popitem(last=False)


def lookup(node_id: str, workflow_id: str | None = None) -> EditorEntry | None:
    """The last run of ``node_id`` in ``workflow_id``; None when that node has not run there.

    A run whose prompt named no workflow (stored under "") answers for any workflow id. ``workflow_id=None``
    (a client that does not know its workflow) gets the most recent run of that node id in any workflow.
    """
    with _lock:
        if workflow_id is None:
            for (_, stored_node), entry in reversed(_entries.items()):
                if stored_node == node_id:
                    return entry
            return None
        return _entries.get((workflow_id, node_id)) or _entries.get(("", node_id))


def clear() -> None:
    with _lock:
        _entries.clear()
