"""Fingerprints of pose sequences, so the editor can tell when its edits were made on another dance."""

from __future__ import annotations

import hashlib

import numpy as np

from ..pose.sequence import PoseSequence2D
from .keyframes import EditDocument


def fingerprint(seq: PoseSequence2D) -> str:
    """40-hex sha1 over fps, canvas size, keypoints rounded to 0.01 px and confidences rounded to 0.001.

    Rounding makes the value stable across float noise (e.g. a re-run on another machine) while any
    visible change to the dance changes it.
    """
    digest = hashlib.sha1()
    digest.update(f"choreo-pose-v1|{seq.fps:.6f}|{seq.canvas_width}x{seq.canvas_height}|{seq.num_frames}|".encode())
    digest.update(np.rint(seq.keypoints_px.astype(np.float64) * 100.0).astype("<i8").tobytes())
    digest.update(np.rint(seq.confidence.astype(np.float64) * 1000.0).astype("<i8").tobytes())
    return digest.hexdigest()


def edits_are_stale(document: EditDocument, source_fingerprint: str) -> bool:
    """True when the document holds edits made on a different source sequence.

    A document without a recorded fingerprint (hand-written) or without keyframes is never stale.
    """
    return (not document.is_empty and bool(document.source_fingerprint)
            and document.source_fingerprint != source_fingerprint)
