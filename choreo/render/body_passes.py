"""CHAMP's four guidance passes of a posed body, on the CPU: depth, surface normal, semantic parts, DWPose skeleton.

CHAMP (and M2PEnc, which predicts its guidance) conditions its video UNet on renders of a posed body:
a depth map, a normal map, a semantic map of body parts and a DWPose skeleton. This module makes all
four from any ``PosedBody`` (``motion.anny_body``), framed exactly like Project 3D to 2D
(``mesh_preview.view_like_projection``: the projector's camera and canvas fit), so the passes line up
with the projected skeleton to a pixel.

The rasteriser is a z-buffer vectorised with numpy: every front-facing triangle lists the pixel
centres of its bounding box, keeps those inside its edges, and the nearest candidate of each pixel
wins (one sort over all candidates; no Python loop over triangles). The winner's barycentric weights
then give all three mesh passes at once:

* depth    : camera depth (metres along the view) mapped linearly from ``near_value`` (near end of the
             dance's depth range) to ``far_value`` (far end); background 0. The range is fixed for the
             whole sequence (from its joints, plus a margin), so brightness does not flicker (CHAMP's
             compositor normalises each frame on its own instead).
* normal   : the interpolated vertex normal in camera axes (x right, y up, z towards the camera) as
             RGB = (n + 1) / 2; background 0. CHAMP's Blender material also turns the normal into camera
             space (a World -> Camera Vector Transform) before its math nodes; their exact signs and
             scales were not decoded, so this is Blender's camera convention, unverified beyond that.
* semantic : CHAMP's colours: SMPL-24 part ``j`` (the joint whose bone moves the vertex most) drawn
             as ``cv2.COLORMAP_VIRIDIS`` at ``10 j``, each pixel taking the part of its nearest triangle
             corner; background black. Checked against CHAMP's ``smpl_mesh_info.npy``: its 6890 vertex
             colours are exactly these 24, stored BGR and reversed to RGB by its Blender script.
* skeleton : the DWPose drawing of ``project_motion``'s 136 keypoints (``render.pose_video``).

Perspective views interpolate depth perspective-correctly (1 / depth is affine on screen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ..errors import ImageInputError
from ..motion.anny_body import PosedBody
from ..motion.motion3d import Motion3D
from ..motion.skeleton import NUM_JOINTS
from ..pose.projection import Camera, project_motion
from ..pose.sequence import PoseSequence2D
from .frame_range import pose_at_frames
from .mesh_preview import MeshView, camera_space, to_canvas, view_like_projection
from .pose_video import PoseDrawStyle, iter_pose_frames

PASSES = ("depth", "normal", "semantic", "skeleton")
SEMANTIC_LABEL_STEP = 10  # CHAMP colours part j with viridis(10 j)
_INSIDE_EPS = -1e-7  # barycentric slack so pixels on a shared edge are not lost to rounding
_MAX_CANDIDATES = 4_000_000  # pixel candidates per rasteriser batch: ~200 MB of temporaries
_DEPTH_LEVELS_PER_M = 1e6  # z-buffer resolution: 1 micrometre
_MAX_DEPTH_LEVEL = 2 ** 31 - 1  # depth differences over ~2 km saturate (all far behind the dancer)


def semantic_colours_rgb() -> np.ndarray:
    """(24, 3) uint8 RGB colour of each SMPL-24 part in CHAMP's semantic maps (viridis at 10 j)."""
    levels = (np.arange(NUM_JOINTS) * SEMANTIC_LABEL_STEP).astype(np.uint8)[:, None]
    return cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS)[:, 0, ::-1].copy()


@dataclass(frozen=True)
class PassStyle:
    """How depth is shaded (the other passes have fixed conventions).

    near_value, far_value : depth brightness 0..1 at the near and far ends of the depth range; the
                            far end stays above 0 so a distant body never merges into the background.
    depth_margin_m        : added to both ends of the joints' depth range for the body's flesh, metres.
    """

    near_value: float = 1.0
    far_value: float = 0.25
    depth_margin_m: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.far_value < self.near_value <= 1.0:
            raise ImageInputError(f"PassStyle needs 0 <= far_value < near_value <= 1, got far {self.far_value}, "
                                  f"near {self.near_value}.")
        if self.depth_margin_m < 0:
            raise ImageInputError(f"PassStyle depth_margin_m must be >= 0, got {self.depth_margin_m}.")


@dataclass(frozen=True)
class Raster:
    """What the z-buffer saw at each pixel.

    triangle : (H, W) int32 index of the visible face, -1 for background.
    weights  : (H, W, 3) float32 perspective-correct barycentric weights of its corners (0 on background).
    depth_m  : (H, W) float32 camera depth, metres along the view (inf on background).
    """

    triangle: np.ndarray
    weights: np.ndarray
    depth_m: np.ndarray


def rasterize(vertices_m: np.ndarray, faces: np.ndarray, view: MeshView) -> Raster:
    """Z-buffer one mesh: the nearest front-facing triangle at each pixel centre.

    vertices_m : (V, 3) world positions, metres, z up.
    faces      : (F, 3) vertex indices, counter-clockwise seen from outside (back faces are culled).
    view       : camera and canvas placement (``mesh_preview.view_like_projection``).
    Pixel (row, col) samples canvas point (x = col, y = row), the convention of OpenCV's drawing.
    """
    faces = np.asarray(faces, np.int64)
    local = camera_space(vertices_m, view)
    screen = to_canvas(local, view)
    if view.camera.projection == "perspective":
        inverse_depth = 1.0 / np.maximum(local[:, 1] + view.camera.distance_m, 0.05 * view.camera.distance_m)
    else:
        inverse_depth = np.ones(len(local))
    height, width = view.height, view.width
    triangle = np.full(height * width, -1, np.int32)
    best = np.full(height * width, np.inf)
    weights = np.zeros((height * width, 3), np.float32)

    corners = screen[faces]  # (F, 3, 2)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # y down: front faces have negative area
    front = np.nonzero(area < -1e-12)[0]
    corners, e1, e2, area = corners[front], e1[front], e2[front], area[front]
    low = np.ceil(np.minimum(np.minimum(corners[:, 0], corners[:, 1]), corners[:, 2])).astype(np.int64)
    high = np.floor(np.maximum(np.maximum(corners[:, 0], corners[:, 1]), corners[:, 2])).astype(np.int64)
    np.maximum(low, 0, out=low)
    np.minimum(high, [width - 1, height - 1], out=high)
    span = np.maximum(high - low + 1, 0)
    count = span[:, 0] * span[:, 1]
    keep = np.nonzero(count > 0)[0]
    if len(keep) == 0:
        return _raster(triangle, weights, best, height, width)
    # per kept triangle: barycentric weights w1, w2 as affine functions a x + b y + c of the pixel centre
    inv_area = 1.0 / area
    x0, y0 = corners[:, 0, 0], corners[:, 0, 1]
    w1_coef = np.stack([e2[:, 1], -e2[:, 0], e2[:, 0] * y0 - e2[:, 1] * x0], axis=1) * inv_area[:, None]
    w2_coef = np.stack([-e1[:, 1], e1[:, 0], e1[:, 1] * x0 - e1[:, 0] * y0], axis=1) * inv_area[:, None]

    # batches of triangles whose candidate pixels fit the memory bound
    ends = np.cumsum(count[keep])
    cuts = np.searchsorted(ends, np.arange(_MAX_CANDIDATES, ends[-1], _MAX_CANDIDATES), side="right")
    for batch in np.split(keep, np.unique(cuts)):
        if len(batch) == 0:
            continue
        per = count[batch]
        tri = np.repeat(batch, per)
        step = np.arange(len(tri)) - np.repeat(np.cumsum(per) - per, per)
        row, col = np.divmod(step, span[tri, 0])
        px = low[tri, 0] + col
        py = low[tri, 1] + row
        fx, fy = px.astype(np.float64), py.astype(np.float64)
        c1, c2 = w1_coef[tri], w2_coef[tri]
        w1 = c1[:, 0] * fx + c1[:, 1] * fy + c1[:, 2]
        w2 = c2[:, 0] * fx + c2[:, 1] * fy + c2[:, 2]
        w0 = 1.0 - w1 - w2
        inside = np.nonzero((w0 >= _INSIDE_EPS) & (w1 >= _INSIDE_EPS) & (w2 >= _INSIDE_EPS))[0]
        tri, pixel = tri[inside], py[inside] * width + px[inside]
        corner_ids = faces[front[tri]]  # (N, 3)
        bary = np.stack([w0[inside], w1[inside], w2[inside]], axis=1) * inverse_depth[corner_ids]
        bary /= bary.sum(axis=1, keepdims=True)
        depth = np.einsum("ij,ij->i", bary, local[corner_ids, 1])
        # nearest candidate per pixel: one sort on (pixel, depth) packed into an int64 key
        low_depth = depth.min()
        levels = np.minimum((depth - low_depth) * _DEPTH_LEVELS_PER_M, _MAX_DEPTH_LEVEL).astype(np.int64)
        order = np.argsort((pixel << 32) | levels)
        pixel_sorted = pixel[order]
        first = np.ones(len(order), bool)
        first[1:] = pixel_sorted[1:] != pixel_sorted[:-1]
        winner = order[first]
        pixel, depth = pixel_sorted[first], depth[winner]
        nearer = depth < best[pixel]
        pixel, winner = pixel[nearer], winner[nearer]
        best[pixel] = depth[nearer]
        triangle[pixel] = front[tri[winner]]
        weights[pixel] = bary[winner]
    return _raster(triangle, weights, best, height, width)


def _raster(triangle: np.ndarray, weights: np.ndarray, depth: np.ndarray, height: int, width: int) -> Raster:
    return Raster(triangle.reshape(height, width), weights.reshape(height, width, 3),
                  depth.reshape(height, width).astype(np.float32))


def vertex_normals(vertices_m: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float64 unit normals: the area-weighted mean of the adjacent faces' outward normals."""
    tri = np.asarray(vertices_m, np.float64)[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = twice the area
    flat = faces.reshape(-1)
    normals = np.stack([np.bincount(flat, np.repeat(face_normals[:, axis], 3), minlength=len(vertices_m))
                        for axis in range(3)], axis=1)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def depth_range_m(motion: Motion3D, view: MeshView, style: PassStyle = PassStyle()) -> tuple[float, float]:
    """(near, far) camera depths, metres, spanned by the dance's joints plus ``style.depth_margin_m``."""
    depth = camera_space(motion.joint_positions(), view)[..., 1]
    return float(depth.min()) - style.depth_margin_m, float(depth.max()) + style.depth_margin_m


def mesh_passes(vertices_m: np.ndarray, faces: np.ndarray, part_labels: np.ndarray, view: MeshView,
                depth_range: tuple[float, float], style: PassStyle = PassStyle()
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth, normal and semantic passes of one posed mesh, each (H, W, 3) uint8 RGB.

    vertices_m  : (V, 3) metres, z up.   faces : (F, 3), counter-clockwise seen from outside.
    part_labels : (V,) SMPL-24 part of each vertex.   depth_range : (near, far) metres, see ``depth_range_m``.
    """
    faces = np.asarray(faces, np.int64)
    raster = rasterize(vertices_m, faces, view)
    hit = np.flatnonzero(raster.triangle >= 0)
    corners = faces[raster.triangle.reshape(-1)[hit]]  # (N, 3) vertex ids
    w = raster.weights.reshape(-1, 3)[hit]
    pixels = view.height * view.width

    near, far = depth_range
    closeness = np.clip((far - raster.depth_m.reshape(-1)[hit]) / max(far - near, 1e-9), 0.0, 1.0)
    grey = np.zeros(pixels, np.uint8)
    grey[hit] = 255.0 * (style.far_value + (style.near_value - style.far_value) * closeness) + 0.5
    depth = np.repeat(grey[:, None], 3, axis=1)

    normals_camera = (vertex_normals(vertices_m, faces) @ view.camera.camera_to_world()).astype(np.float32)
    n = (w[:, 0:1] * normals_camera[corners[:, 0]] + w[:, 1:2] * normals_camera[corners[:, 1]]
         + w[:, 2:3] * normals_camera[corners[:, 2]])
    n /= np.maximum(np.sqrt(n[:, 0] ** 2 + n[:, 1] ** 2 + n[:, 2] ** 2), 1e-12)[:, None]
    normal = np.zeros((pixels, 3), np.uint8)
    normal[hit, 0] = 127.5 * (n[:, 0] + 1.0) + 0.5  # x right
    normal[hit, 1] = 127.5 * (n[:, 2] + 1.0) + 0.5  # y up
    normal[hit, 2] = 127.5 * (1.0 - n[:, 1]) + 0.5  # z towards the camera

    nearest = np.where(w[:, 0] >= np.maximum(w[:, 1], w[:, 2]), corners[:, 0],
                       np.where(w[:, 1] >= w[:, 2], corners[:, 1], corners[:, 2]))
    semantic = np.zeros((pixels, 3), np.uint8)
    semantic[hit] = semantic_colours_rgb()[np.asarray(part_labels, np.int64)[nearest]]
    shape = (view.height, view.width, 3)
    depth, normal, semantic = depth.reshape(shape), normal.reshape(shape), semantic.reshape(shape)
    return depth, normal, semantic


def body_view(body: PosedBody, width: int, height: int, camera: Camera = Camera(),
              reference: PoseSequence2D | None = None) -> MeshView:
    """The view of Project 3D to 2D for this body's dance (fills the canvas, or stands on ``reference``)."""
    return view_like_projection(body.motion, width, height, camera, reference)


def iter_body_passes(body: PosedBody, view: MeshView, frames: np.ndarray | None = None,
                     reference: PoseSequence2D | None = None, style: PassStyle = PassStyle(),
                     draw_style: PoseDrawStyle = PoseDrawStyle.dwpose()
                     ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(depth, normal, semantic, skeleton) uint8 (H, W, 3) RGB images per frame, streamed.

    body      : the posed dance; vertices are posed a chunk at a time, so memory stays bounded.
    view      : from ``body_view`` with the same camera and reference.
    frames    : (N,) frame indices to render, in order; None = every frame.
    reference : the reference pose the view was fitted to (the skeleton pass needs the same fit).
    """
    frames = np.arange(body.num_frames) if frames is None else np.asarray(frames, np.int64)
    pose = project_motion(body.motion, view.width, view.height, camera=view.camera, reference=reference)
    skeletons = iter_pose_frames(pose_at_frames(pose, frames), draw_style)
    depth_range = depth_range_m(body.motion, view, style)
    for vertices, skeleton in zip(body.iter_vertices(frames), skeletons):
        yield (*mesh_passes(vertices, body.faces, body.part_labels, view, depth_range, style), skeleton)
