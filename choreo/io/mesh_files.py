"""Body-mesh files: posed SMPL meshes as one NPZ, written atomically.

NPZ keys: vertices (T, V, 3) float32 metres, z up; faces (F, 3) int32; joints (T, 24, 3)
float32 metres, z up (SMPL-24 order); fps () float64; betas (B,) float32; gender () str.
A reader sees either the old file or the complete new one, never a half-written file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import MotionInputError
from ..motion.smpl_mesh import BodyMeshSequence
from .atomic import save_npz_atomic

MESH_NPZ_KEYS = ("vertices", "faces", "joints", "fps", "betas", "gender")


def save_body_mesh_npz(mesh: BodyMeshSequence, path: str | Path) -> Path:
    """Write ``mesh`` with the keys in the module docstring; returns the path."""
    return save_npz_atomic(path, vertices=mesh.vertices_m.astype(np.float32), faces=mesh.faces.astype(np.int32),
                           joints=mesh.joints_m.astype(np.float32), fps=np.float64(mesh.fps),
                           betas=mesh.betas.astype(np.float32), gender=np.str_(mesh.gender))


def load_body_mesh_npz(path: str | Path) -> BodyMeshSequence:
    """Read a file written by ``save_body_mesh_npz`` (no pickles)."""
    src = Path(path)
    if not src.is_file():
        raise MotionInputError(f"mesh file {src} does not exist; check the path.")
    try:
        with np.load(src, allow_pickle=False) as data:
            missing = [key for key in MESH_NPZ_KEYS if key not in data.files]
            if missing:
                raise MotionInputError(f"mesh file {src} lacks keys {missing}; it was not written by Choreo's "
                                       f"save_body_mesh_npz (expected {list(MESH_NPZ_KEYS)}).")
            arrays = {key: data[key] for key in MESH_NPZ_KEYS}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        if isinstance(error, MotionInputError):
            raise
        raise MotionInputError(f"mesh file {src} is damaged or not an .npz ({type(error).__name__}: {error}); "
                               "export the mesh again with save_body_mesh_npz.") from error
    return BodyMeshSequence(arrays["vertices"], arrays["joints"], arrays["faces"], float(arrays["fps"]),
                            arrays["betas"], str(arrays["gender"]))
