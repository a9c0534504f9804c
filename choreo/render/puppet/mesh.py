"""Triangle mesh of a figure (or body-part) mask: contour samples + interior grid + Delaunay.

The mesh is grown a few pixels past the mask so its triangles cover the mask's soft edge;
the visible outline comes from the mask's alpha, not from the polygon, which keeps edges
smooth with a coarse mesh (coarse = fast to rasterise per frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay, QhullError


@dataclass(frozen=True)
class Mesh:
    """vertices (V, 2) float32 pixels (x, y) on the reference image; triangles (F, 3) int32."""

    vertices: np.ndarray
    triangles: np.ndarray

    @classmethod
    def empty(cls) -> "Mesh":
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 3), np.int32))


def _contour_samples(region: np.ndarray, step_px: float) -> np.ndarray:
    """Points every ``step_px`` along every outer and hole boundary of a uint8 mask. Returns (N, 2)."""
    contours, _ = cv2.findContours(region, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    samples = []
    for contour in contours:
        pts = contour[:, 0, :].astype(np.float64)
        if len(pts) < 3:
            continue
        closed = np.vstack([pts, pts[:1]])
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
        stops = np.arange(0.0, arc[-1], step_px)
        samples.append(np.stack([np.interp(stops, arc, closed[:, 0]), np.interp(stops, arc, closed[:, 1])], 1))
    return np.concatenate(samples) if samples else np.zeros((0, 2))


def triangulate_mask(mask: np.ndarray, spacing_px: float, margin_px: int) -> Mesh:
    """Mesh covering ``mask`` grown by ``margin_px``, with vertices about ``spacing_px`` apart.

    mask (H, W) bool. Triangles whose centroid or any edge midpoint falls outside the grown
    mask are dropped, so no triangle bridges a concavity (between the legs, under an arm);
    near-flat slivers along the outline are dropped too (they add nothing but sampling error).
    Triangles come worst-shaped first: the renderer draws in this order, so a pixel on a shared
    edge ends up owned by the better-shaped neighbour, whose affine extrapolates least.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin_px + 1, 2 * margin_px + 1))
    region = cv2.dilate(mask.astype(np.uint8), kernel) if margin_px > 0 else mask.astype(np.uint8)
    h, w = region.shape
    boundary = _contour_samples(region, max(2.0, 0.6 * spacing_px))
    inside = cv2.distanceTransform(region, cv2.DIST_L2, 3) > 0.45 * spacing_px
    gy, gx = np.mgrid[spacing_px / 2:h:spacing_px, spacing_px / 2:w:spacing_px]
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    grid = grid[inside[gy.ravel().astype(int), gx.ravel().astype(int)]]
    points = np.unique(np.round(np.concatenate([boundary, grid]), 2), axis=0)
    if len(points) < 3:
        return Mesh.empty()
    try:
        triangles = Delaunay(points).simplices
    except QhullError:  # collinear or degenerate point sets
        return Mesh.empty()
    corners = points[triangles]
    tolerant = cv2.dilate(region, np.ones((5, 5), np.uint8))  # edges along the outline graze it by rounding
    probes = [corners.mean(axis=1)] + [(corners[:, a] + corners[:, b]) / 2 for a, b in ((0, 1), (1, 2), (2, 0))]
    keep = np.ones(len(triangles), bool)
    for probe in probes:
        px = np.clip(np.rint(probe[:, 0]).astype(int), 0, w - 1)
        py = np.clip(np.rint(probe[:, 1]).astype(int), 0, h - 1)
        keep &= tolerant[py, px] > 0
    edges_sq = sum(((corners[:, a] - corners[:, b]) ** 2).sum(-1) for a, b in ((0, 1), (1, 2), (2, 0)))
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    quality = 2.0 * np.sqrt(3.0) * np.abs(cross) / np.maximum(edges_sq, 1e-9)  # 1 = equilateral, 0 = flat
    keep &= quality > 0.02
    triangles = triangles[keep][np.argsort(quality[keep], kind="stable")]
    if len(triangles) == 0:
        return Mesh.empty()
    used, remap = np.unique(triangles, return_inverse=True)
    return Mesh(points[used].astype(np.float32), remap.reshape(-1, 3).astype(np.int32))
