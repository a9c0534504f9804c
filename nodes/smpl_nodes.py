"""SMPL body nodes: load a user-supplied SMPL model, put the 3D dance on its mesh, preview and export it."""

from __future__ import annotations

from pathlib import Path

import torch

from ..choreo.io.mesh_files import save_body_mesh_npz
from ..choreo.io.smpl_model_files import SMPLModelError, find_smpl_model_files, missing_models_help
from ..choreo.motion.smpl_body import load_smpl_body, parse_betas, pose_body, retarget_to_body
from ..choreo.pose.projection import Camera
from ..choreo.render.mesh_preview import iter_mesh_frames, view_like_projection
from . import comfy_bridge
from .pose_nodes import camera_inputs
from .socket_types import CATEGORY, MOTION, POSE, SMPL_BODY

NO_MODEL = "(no SMPL model found: see this input's tooltip)"
DTYPES = ("float32", "float64")
POSE_SHARE = 0.2  # share of the progress bar for posing the mesh; rendering takes the rest


def smpl_model_choices() -> dict[str, Path]:
    """Display name -> SMPL file in the folders registered for ComfyUI/models/smpl."""
    return find_smpl_model_files(comfy_bridge.model_folders("smpl"))


class ChoreoLoadSMPLBody:
    DESCRIPTION = ("Loads an SMPL body model you downloaded yourself (licence-gated, never shipped with Choreo) "
                   "from ComfyUI/models/smpl: the official .pkl files are read without chumpy and without running "
                   "pickled code, or a converted .npz. Gender comes from the file (neutral, male, female).")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "load"
    RETURN_TYPES = (SMPL_BODY,)
    RETURN_NAMES = ("smpl_body",)
    OUTPUT_TOOLTIPS = ("The body model for SMPL Mesh from 3D Dance.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = list(smpl_model_choices()) or [NO_MODEL]
        return {"required": {
            "model_file": (names, {"default": names[0],
                           "tooltip": "An SMPL file in ComfyUI/models/smpl (sub-folders too): SMPL_NEUTRAL/MALE/"
                                      "FEMALE.pkl or .npz, or the official basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
                                      " / basicmodel_m|f_lbs_10_207_0_v1.1.0.pkl. Register at "
                                      "https://smpl.is.tue.mpg.de to download them, then refresh."}),
            "dtype": (list(DTYPES), {"default": "float32",
                      "tooltip": "Precision of the mesh computation: float32 is fast; float64 only for exact "
                                 "joint comparisons."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, model_file):
        """At prompt validation: a missing SMPL file is refused before anything runs."""
        if model_file not in smpl_model_choices():
            return (f"SMPL model {model_file!r} is not available. "
                    f"{missing_models_help(comfy_bridge.model_folders('smpl'))}")
        return True

    def load(self, model_file, dtype):
        choices = smpl_model_choices()
        if model_file not in choices:
            found = f" Found: {sorted(choices)}." if choices else ""
            raise SMPLModelError(f"SMPL model {model_file!r} is not available. "
                                 f"{missing_models_help(comfy_bridge.model_folders('smpl'))}{found}")
        return (load_smpl_body(choices[model_file], dtype=getattr(torch, dtype)),)


class ChoreoSMPLMesh:
    DESCRIPTION = ("Puts a 3D dance on an SMPL body: the mesh (6890 vertices) and SMPL's 24 joints per frame, "
                   "retargeted to the body's proportions (feet stay on the floor), with a shaded CPU preview framed "
                   "like Project 3D to 2D so it lines up with the skeleton; optionally saves vertices, faces and "
                   "joints as an NPZ in ComfyUI/output. The preview is a whole IMAGE batch in memory "
                   "(width x height x 12 bytes a frame: 3 minutes at 512x512 is ~17 GB), so preview long songs "
                   "small.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "mesh"
    OUTPUT_NODE = True
    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("images", "fps")
    OUTPUT_TOOLTIPS = ("One shaded preview frame of the body mesh per motion frame.", "Frame rate for video nodes.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion": (MOTION, {"tooltip": "3D dance from a generator node."}),
            "smpl_body": (SMPL_BODY, {"tooltip": "From Load SMPL Body Model."}),
            "betas": ("STRING", {"default": "",
                      "tooltip": "Body shape: up to 10 comma-separated SMPL shape coefficients, e.g. '1.0, -0.5'; "
                                 "missing ones are 0 (empty = the average body). About -2..2 looks natural."}),
            "width": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 8,
                      "tooltip": "Preview width, pixels."}),
            "height": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 8,
                       "tooltip": "Preview height, pixels."}),
            **camera_inputs(),
            "save_npz": ("BOOLEAN", {"default": False,
                         "tooltip": "Also write vertices (T, 6890, 3), faces, joints (T, 24, 3) in metres, z up, "
                                    "and fps to an NPZ in ComfyUI/output (~83 kB per frame)."}),
            "filename_prefix": ("STRING", {"default": "choreo/smpl_mesh",
                                "tooltip": "Path under ComfyUI/output for the NPZ; a counter is appended."}),
        }, "optional": {
            "reference_pose": (POSE, {"tooltip": "Stand the body on this person, as Project 3D to 2D does "
                                                 "(rescaled to this canvas); without it the dance fills the frame."}),
        }}

    def mesh(self, motion, smpl_body, betas, width, height, projection, yaw_deg, pitch_deg, distance_m, save_npz,
             filename_prefix, reference_pose=None):
        shape = parse_betas(betas, smpl_body.num_betas)
        report = comfy_bridge.progress_reporter()
        mesh = pose_body(smpl_body, motion, shape, progress=lambda fraction: report(POSE_SHARE * fraction))
        camera = Camera(projection=projection, yaw_deg=yaw_deg, pitch_deg=pitch_deg, distance_m=distance_m)
        view = view_like_projection(retarget_to_body(smpl_body, motion, shape), width, height, camera,
                                    reference=reference_pose)
        frames = torch.empty((mesh.num_frames, height, width, 3), dtype=torch.float32)
        for index, frame in enumerate(iter_mesh_frames(mesh.vertices_m, mesh.faces, view)):
            frames[index] = torch.from_numpy(frame).to(torch.float32).div_(255.0)
            if index % 8 == 0:
                report(POSE_SHARE + (1.0 - POSE_SHARE) * index / mesh.num_frames)
        report(1.0)
        text = []
        if save_npz:
            folder, stem, subfolder = comfy_bridge.save_path(filename_prefix, width, height)
            path = save_body_mesh_npz(mesh, folder / f"{stem}.npz")
            text.append(str(Path(subfolder) / path.name))
        return {"ui": {"text": text}, "result": (frames, float(motion.fps))}
