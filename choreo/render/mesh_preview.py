"""A CPU preview of posed body meshes: flat-shaded triangles drawn far to near (painter's algorithm).

The camera and canvas placement are those of Choreo's 3D -> 2D projector
(``pose.projection``): the same orbiting ``Camera`` about the mean pelvis, and the same
similarity (scale + offset) that ``project_motion`` applies, recovered by fitting the mesh's
own limb joints onto the keypoints ``project_motion`` returns. So the mesh lines up with the
projected skeleton, filling the canvas or standing on a reference person alike.

Each face is lit by one light near the camera (Lambert, plus ambient); faces turned away
from the camera are skipped, the rest are sorted by depth and filled with OpenCV. No
z-buffer: on a closed body the painter's order only errs where triangles interpenetrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ..errors import ImageInputError
from ..motion.motion3d import Motion3D
from ..motion.skeleton import JOINT
from ..pose.layout import B
from ..pose.projection import Camera, project_motion
from ..pose.sequence import PoseSequence2D

# SMPL joints that project_motion places exactly at the OpenPose keypoint of the same name.
LIMB_JOINTS = ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
               "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
_SUBPIXEL_BITS = 4  # OpenCV fixed-point vertices: 1/16 px
_MAX_COORD_PX = 1e6  # clamp before the fixed-point conversion (points behind a perspective camera)


@dataclass(frozen=True)
class MeshStyle:
    """Colours (RGB 0..255) and lighting of the preview.

    light_camera : direction towards the light in camera axes (right, viewing, up); the
                   default sits in front of the body, a little above and to the left.
    """

    body_rgb: tuple[int, int, int] = (200, 196, 188)
    background_rgb: tuple[int, int, int] = (24, 24, 28)
    ambient: float = 0.25
    light_camera: tuple[float, float, float] = (-0.3, -1.0, 0.5)


@dataclass(frozen=True)
class MeshView:
    """Where world points land on the canvas.

    camera         : the projector's camera (orbit, projection, distance).
    pivot_m        : (3,) point the camera orbits, metres (the motion's mean pelvis).
    scale_px_per_m : canvas pixels per metre of the image plane at the pivot.
    offset_px      : (2,) canvas position of the pivot, pixels (x right, y down).
    width, height  : canvas, pixels.
    """

    camera: Camera
    pivot_m: np.ndarray
    scale_px_per_m: float
    offset_px: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ImageInputError(f"canvas must be at least 1x1 px, got {self.width}x{self.height}.")


def camera_space(points_m: np.ndarray, view: MeshView) -> np.ndarray:
    """(..., 3) world points, metres -> (..., 3) camera axes (right, depth away from the camera, up)."""
    return (np.asarray(points_m, np.float64) - view.pivot_m) @ view.camera.camera_to_world()


def to_canvas(local_m: np.ndarray, view: MeshView) -> np.ndarray:
    """(..., 3) camera-space points -> (..., 2) canvas pixels, the projector's camera model."""
    right, depth, up = local_m[..., 0], local_m[..., 1], local_m[..., 2]
    if view.camera.projection == "perspective":
        distance = view.camera.distance_m
        factor = distance / np.maximum(depth + distance, 0.05 * distance)
        right, up = right * factor, up * factor
    return np.stack([right, -up], axis=-1) * view.scale_px_per_m + view.offset_px


def view_like_projection(motion: Motion3D, width: int, height: int, camera: Camera = Camera(),
                         reference: PoseSequence2D | None = None) -> MeshView:
    """The view in which ``motion``'s joints land where ``project_motion`` puts their keypoints.

    motion    : the dance the mesh follows (after retargeting to the body, see ``smpl_body``).
    width, height, camera, reference : as for ``project_motion`` (reference: a person to stand on).
    Without a reference the framing is that of ``project_motion`` with face and hands on (its default).
    """
    pose = project_motion(motion, width, height, camera=camera, reference=reference)
    pivot = motion.root_translation_m.astype(np.float64).mean(axis=0)
    unit = MeshView(camera, pivot, 1.0, np.zeros(2), width, height)
    joints = motion.joint_positions()[:, [JOINT[name] for name in LIMB_JOINTS]]
    plane = to_canvas(camera_space(joints, unit), unit).reshape(-1, 2)
    target = pose.keypoints_px[:, [B[name] for name in LIMB_JOINTS]].reshape(-1, 2).astype(np.float64)
    # least-squares similarity without rotation: target = scale * plane + offset (exact here)
    plane_mean, target_mean = plane.mean(axis=0), target.mean(axis=0)
    spread = ((plane - plane_mean) ** 2).sum()
    scale = ((plane - plane_mean) * (target - target_mean)).sum() / max(spread, 1e-12)
    return MeshView(camera, pivot, float(scale), target_mean - scale * plane_mean, int(width), int(height))


def render_mesh_frame(vertices_m: np.ndarray, faces: np.ndarray, view: MeshView,
                      style: MeshStyle = MeshStyle()) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of one posed mesh.

    vertices_m : (V, 3) world positions, metres, z up.
    faces      : (F, 3) vertex indices of a closed mesh; either winding works (found from the
                 sign of the enclosed volume).
    """
    image = np.empty((view.height, view.width, 3), np.uint8)
    image[:] = style.background_rgb
    local = camera_space(vertices_m, view)
    tri = local[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    if np.einsum("ij,ij->", tri[:, 0], normals) < 0:  # 6x the signed volume: negative = clockwise winding
        normals = -normals
    centroids = tri.mean(axis=1)
    if view.camera.projection == "perspective":
        to_camera = np.array([0.0, -view.camera.distance_m, 0.0]) - centroids
    else:
        to_camera = np.array([0.0, -1.0, 0.0])
    visible = np.nonzero(np.einsum("ij,ij->i", normals, np.broadcast_to(to_camera, normals.shape)) > 0)[0]
    visible = visible[np.argsort(-centroids[visible, 1], kind="stable")]
    unit_normals = normals[visible] / np.maximum(np.linalg.norm(normals[visible], axis=1, keepdims=True), 1e-12)
    light = np.asarray(style.light_camera, np.float64)
    lambert = np.clip(unit_normals @ (light / np.linalg.norm(light)), 0.0, 1.0)
    shade = style.ambient + (1.0 - style.ambient) * lambert
    colours = np.clip(shade[:, None] * np.asarray(style.body_rgb, np.float64), 0, 255).astype(np.int32).tolist()
    canvas = np.clip(to_canvas(local, view), -_MAX_COORD_PX, _MAX_COORD_PX)
    fixed = np.round(canvas * (1 << _SUBPIXEL_BITS)).astype(np.int32)[faces[visible]]
    for points, colour in zip(fixed, colours):
        cv2.fillConvexPoly(image, points, colour, cv2.LINE_8, _SUBPIXEL_BITS)
    return image


def iter_mesh_frames(vertices_m: np.ndarray, faces: np.ndarray, view: MeshView,
                     style: MeshStyle = MeshStyle()) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames of a mesh sequence (T, V, 3) world metres, one at a time."""
    faces = np.asarray(faces, np.int64)
    for frame in vertices_m:
        yield render_mesh_frame(frame, faces, view, style)
