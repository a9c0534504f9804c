"""SMPL body meshes and joints for Choreo's 3D dances, through the ``smplx`` package.

How a ``Motion3D`` drives smplx's ``SMPLLayer`` (the rotation-matrix form of ``smplx.SMPL``):

* Rotations go in unchanged: ``global_orient`` = ``motion.rotations[:, 0]``, ``body_pose`` =
  ``motion.rotations[:, 1:]``. This is the same as giving ``smplx.SMPL`` the axis-angle
  ``poses[:, :3]`` / ``poses[:, 3:]`` of ``motion.to_smpl()``. Choreo's root rotation already
  carries the y-up -> z-up change (``skeleton.UPRIGHT``), so the mesh comes out in Choreo's
  z-up world, metres.
* Translation: smplx rotates the body about the template's pelvis joint ``J0`` (offset from
  the origin, about 0.24 m below it in the real template) and then adds ``transl``, so the
  posed pelvis is at ``J0 + transl``. Choreo's ``root_translation_m`` *is* the pelvis (EDGE's
  convention; ``from_smpl`` and the AIST++ loader put AIST++'s ``smpl_trans`` there directly).
  So ``transl = root_translation_m - J0(betas)``: the mesh pelvis lands exactly on Choreo's.
  (A mesh made with smplx straight from AIST++'s ``smpl_trans`` is therefore displaced by
  ``J0`` from the same dance in Choreo: EDGE's convention drops ``J0``; poses are identical.)
* Proportions: SMPL's joints come from ``J_regressor @`` the shaped template, so they depend
  on ``betas``, while a ``Motion3D`` carries its own ``Skeleton``. The dance is first
  retargeted to the body's skeleton with ``Motion3D.with_skeleton`` (same rotations, root
  translation scaled by leg length, as everywhere else in Choreo), so feet stay on the floor for
  any body shape. The neutral model at ``betas = 0`` should give Choreo's default skeleton
  (``skeleton.py`` takes its offsets from the neutral template), so the scale is then ~1.

The result's joints therefore equal ``forward_kinematics`` of the retargeted motion.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import ChoreoError, MotionInputError
from .motion3d import Motion3D
from .skeleton import NUM_JOINTS, PARENTS, Skeleton
from .smpl_mesh import BodyMeshSequence
from ..io.smpl_model_files import read_smpl_model, smpl_gender

DEFAULT_CHUNK_FRAMES = 64  # frames per smplx call: ~30 MB of float32 skinning transforms; larger was no faster on CPU


class SMPLBody:
    """A loaded SMPL model: smplx's ``SMPLLayer`` plus the arrays Choreo needs beside it.

    layer  : ``smplx.SMPLLayer`` holding the model as buffers (CPU unless moved).
    gender : "neutral", "male" or "female".
    source : the file it was read from.
    """

    def __init__(self, layer: torch.nn.Module, gender: str, source: Path) -> None:
        self.layer = layer
        self.gender = gender
        self.source = source
        self.faces = np.asarray(layer.faces, dtype=np.int32)
        self.num_betas = int(layer.num_betas)

    def rest_joints_m(self, betas: np.ndarray) -> np.ndarray:
        """(24, 3) float64 rest joints of the shaped template, metres, SMPL's y-up body frame."""
        template = self.layer.v_template.detach().cpu().double().numpy()
        shapedirs = self.layer.shapedirs.detach().cpu().double().numpy()
        regressor = self.layer.J_regressor.detach().cpu().double().numpy()
        return regressor @ (template + shapedirs @ np.asarray(betas, np.float64))

    def skeleton(self, betas: np.ndarray) -> Skeleton:
        """Choreo's bone geometry of this body shape (offsets between the rest joints)."""
        joints = self.rest_joints_m(betas)
        offsets = joints - joints[list((0,) + PARENTS[1:])]
        return Skeleton(offsets)


def load_smpl_body(path: str | Path, dtype: torch.dtype = torch.float32) -> SMPLBody:
    """An ``SMPLBody`` from an SMPL ``.npz`` or official ``.pkl`` (read without running pickled code).

    dtype : precision of the smplx computation: float32 is fast, float64 removes its rounding
            (the returned arrays are float32 either way).
    """
    try:
        import smplx
        from smplx.utils import Struct
    except ImportError as error:
        raise ChoreoError("the SMPL body nodes need the smplx package: pip install smplx (ComfyUI's Python).") \
            from error
    src = Path(path)
    arrays = read_smpl_model(src)
    gender = smpl_gender(src.name)
    # smplx prints a note for models with fewer than 300 shape components (all official SMPL files)
    with contextlib.redirect_stdout(io.StringIO()):
        layer = smplx.SMPLLayer(str(src), data_struct=Struct(**arrays), num_betas=arrays["shapedirs"].shape[-1],
                                gender=gender, dtype=dtype)
    return SMPLBody(layer.eval(), gender, src)


def parse_betas(text: str, num_betas: int) -> np.ndarray:
    """(num_betas,) float64 shape coefficients from comma-separated numbers; missing trailing values are 0.

    >>> parse_betas("1.5, -0.5", 10)[:3]
    array([ 1.5, -0.5,  0. ])
    """
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    try:
        values = [float(part) for part in parts]
    except ValueError as error:
        raise MotionInputError(f"betas must be comma-separated numbers like '1.0, -0.5', got {text!r}.") from error
    if len(values) > num_betas:
        raise MotionInputError(f"betas has {len(values)} values, the SMPL model has {num_betas} shape "
                               "coefficients; remove the extra ones.")
    if not np.isfinite(values).all():
        raise MotionInputError(f"betas must be finite numbers, got {text!r}.")
    betas = np.zeros(num_betas)
    betas[:len(values)] = values
    return betas


def body_betas(body: SMPLBody, betas: np.ndarray | None) -> np.ndarray:
    """(body.num_betas,) float64: ``betas`` padded with zeros; None = the average body."""
    shape = np.zeros(body.num_betas)
    if betas is not None:
        given = np.asarray(betas, np.float64).ravel()
        if len(given) > body.num_betas:
            raise MotionInputError(f"{len(given)} betas given, but the SMPL model has {body.num_betas} shape "
                                   f"coefficients; pass at most {body.num_betas}.")
        shape[:len(given)] = given
    return shape


def retarget_to_body(body: SMPLBody, motion: Motion3D, betas: np.ndarray | None = None) -> Motion3D:
    """The dance on the body's own skeleton: same rotations, root translation scaled by leg length.

    Its ``joint_positions()`` are the SMPL joints ``pose_body`` returns.
    """
    return motion.with_skeleton(body.skeleton(body_betas(body, betas)))


def pose_body(body: SMPLBody, motion: Motion3D, betas: np.ndarray | None = None,
              chunk_frames: int = DEFAULT_CHUNK_FRAMES,
              progress: Callable[[float], None] | None = None) -> BodyMeshSequence:
    """The SMPL mesh and joints of every frame of ``motion`` (mapping in the module docstring).

    body         : from ``load_smpl_body``.
    motion       : T frames, Choreo's z-up world.
    betas        : (B,) shape coefficients, B <= body.num_betas (rest 0); None = the average body.
    chunk_frames : frames per smplx call; bounds the working memory for long songs.
    progress     : called with the fraction done after each chunk; it may raise to interrupt.
    returns      : vertices (T, 6890, 3) and joints (T, 24, 3) float32, metres, z up.
    """
    if motion.num_frames == 0:
        raise MotionInputError("the motion has no frames to put a body on. Generate or load a motion first.")
    if chunk_frames < 1:
        raise MotionInputError(f"chunk_frames must be at least 1, got {chunk_frames}.")
    shape = body_betas(body, betas)
    on_body = retarget_to_body(body, motion, shape)
    transl = on_body.root_translation_m.astype(np.float64) - body.rest_joints_m(shape)[0]
    layer = body.layer
    buffer = layer.v_template
    vertices = np.empty((motion.num_frames, buffer.shape[0], 3), np.float32)
    joints = np.empty((motion.num_frames, NUM_JOINTS, 3), np.float32)

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=buffer.dtype, device=buffer.device)

    with torch.inference_mode():
        for start in range(0, motion.num_frames, chunk_frames):
            stop = min(start + chunk_frames, motion.num_frames)
            rotations = on_body.rotations[start:stop]
            out = layer(betas=tensor(shape).expand(stop - start, -1),
                        global_orient=tensor(rotations[:, 0]), body_pose=tensor(rotations[:, 1:]),
                        transl=tensor(transl[start:stop]))
            vertices[start:stop] = out.vertices.cpu().numpy()
            joints[start:stop] = out.joints[:, :NUM_JOINTS].cpu().numpy()
            if progress is not None:
                progress(stop / motion.num_frames)
    return BodyMeshSequence(vertices, joints, body.faces.copy(), motion.fps, shape.astype(np.float32), body.gender)
