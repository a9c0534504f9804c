"""FineDance-style motion files: SMPL-H rotations in 6D with a root translation, 30 fps, y up.

Layouts recognised by the last axis of a motion ``.npy`` (the ones FineDance's and Lodge's
visualisers accept):

======  ===================================================  ==========================
width   columns                                              body joints kept
======  ===================================================  ==========================
315     3 root translation + 52 joints x 6D (SMPL-H)         joints 0-21
319     4 foot contacts + the 315 above                      joints 0-21 (contacts re-estimated)
135     3 root translation + 22 joints x 6D (SMPL-H body)    joints 0-21
139     4 foot contacts + the 135 above                      joints 0-21 (contacts re-estimated)
======  ===================================================  ==========================

6D is pytorch3d's ``matrix_to_rotation_6d`` (first two rows), as in EDGE. SMPL-H's first 22
joints are SMPL's; SMPL's two hand joints (22, 23) do not exist in SMPL-H (fingers replace them)
and are set to identity. Translation is taken to be in metres, y up (FineDance's visualiser lifts
column 1, the height, by a constant), and is turned to z up like AIST++. Finger joints are dropped.

Not verified here (no FineDance file was available): the 30 fps rate and the metre unit are the
dataset's documentation's claims; pass ``fps`` if a copy differs. Music: ``<root>/music_wav/<stem>.wav``.
Genre: ``<root>/label/<stem[:3]>.json`` key ``style2`` when present (MACE-Dance's convention).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import MotionInputError
from ..motion.motion3d import Motion3D, estimate_foot_contacts
from ..motion.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from ..motion.skeleton import NUM_JOINTS, UPRIGHT, Skeleton, forward_kinematics
from ..music.features import extract_music_features
from .clips import DanceClip

# MACE-Dance's 16 FineDance genres; the index is the genre id (models.md 2.1).
GENRES: tuple[str, ...] = ("Dai", "ShenYun", "Wei", "Korean", "Urban", "Hiphop", "Popping", "Miao", "HanTang",
                           "Breaking", "Kun", "Locking", "Jazz", "Choreography", "Chinese", "DunHuang")
BODY_JOINTS = 22
# width -> (leading contact columns, joints stored)
LAYOUTS = {315: (0, 52), 319: (4, 52), 135: (0, 22), 139: (4, 22)}


def motion_from_finedance(frames: np.ndarray, fps: float = 30.0) -> Motion3D:
    """A z-up Motion3D from one FineDance array (T, 315 | 319 | 135 | 139); see the module table."""
    data = np.asarray(frames, np.float64)
    if data.ndim != 2 or data.shape[1] not in LAYOUTS:
        raise MotionInputError(f"FineDance motion must be (T, W) with W in {sorted(LAYOUTS)}, got {data.shape}.")
    skip, stored = LAYOUTS[data.shape[1]]
    trans = data[:, skip:skip + 3]
    rot6d = data[:, skip + 3:].reshape(len(data), stored, 6)[:, :BODY_JOINTS]
    rotations = np.broadcast_to(np.eye(3), (len(data), NUM_JOINTS, 3, 3)).copy()
    rotations[:, :BODY_JOINTS] = rotation_6d_to_matrix(rot6d)
    rotations[:, 0] = UPRIGHT @ rotations[:, 0]
    trans = trans @ UPRIGHT.T
    skeleton = Skeleton.default()
    contacts = estimate_foot_contacts(forward_kinematics(skeleton, rotations, trans), fps)
    return Motion3D(trans.astype(np.float32), rotations.astype(np.float32), contacts, float(fps), skeleton)


def finedance_frames(motion: Motion3D) -> np.ndarray:
    """(T, 135) float32 FineDance body layout of a z-up Motion3D: the inverse of ``motion_from_finedance``.

    The writer of the dance engine's Motion Expert folders, so they train through ``load_finedance``.
    SMPL's hand joints (22, 23) and the skeleton's proportions are not in this layout (the reader
    rebuilds the default skeleton); keep a ``save_motion_npz`` copy where they matter.
    """
    rotations = np.asarray(motion.rotations, np.float64)[:, :BODY_JOINTS].copy()
    rotations[:, 0] = UPRIGHT.T @ rotations[:, 0]  # z-up world -> FineDance's y-up
    trans = np.asarray(motion.root_translation_m, np.float64) @ UPRIGHT  # row vectors: (U.T t) = t U
    rot6d = matrix_to_rotation_6d(rotations).reshape(motion.num_frames, BODY_JOINTS * 6)
    return np.concatenate([trans, rot6d], axis=1).astype(np.float32)


def genre_of(root: Path, stem: str) -> int:
    """Genre index from ``label/<stem[:3]>.json`` (key ``style2``), 0 when absent or unknown."""
    label = root / "label" / f"{stem[:3]}.json"
    if not label.is_file():
        return 0
    style = json.loads(label.read_text()).get("style2")
    return GENRES.index(style) if style in GENRES else 0


def load_finedance(root: str | Path, fps: float = 30.0, extractor: str = "edge_librosa",
                   limit: int | None = None) -> list[DanceClip]:
    """Clips of a FineDance folder: ``motion/*.npy`` with ``music_wav/<stem>.wav``."""
    from ..io.audio_files import load_audio

    root = Path(root)
    motions = sorted((root / "motion").glob("*.npy"))
    if not motions:
        raise MotionInputError(f"no FineDance motions in {root / 'motion'}; expected <root>/motion/*.npy and "
                               "<root>/music_wav/*.wav.")
    clips = []
    for path in motions[:limit]:
        wav = root / "music_wav" / f"{path.stem}.wav"
        if not wav.is_file():
            raise MotionInputError(f"{path.name} has no music: {wav} is missing.")
        motion = motion_from_finedance(np.load(path, allow_pickle=False), fps)
        features = extract_music_features(load_audio(wav), fps=fps, extractor=extractor)
        clips.append(DanceClip(path.stem, motion, features, genre_of(root, path.stem)))
    return clips
