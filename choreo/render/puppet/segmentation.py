"""Figure/background separation seeded by the reference pose, and the background plate.

No learnt model: GrabCut (a colour-model graph cut) initialised from the skeleton. Thin
strokes along the bones are sure figure, thick strokes and a body hull are probable figure,
the rest of an expanded box around the keypoints is probable background and everything
outside that box is sure background. The cut is cleaned with morphology and only the blobs
touching the skeleton are kept. GrabCut runs at a reduced size (set-up time, not per frame).

GrabCut's k-means start draws from OpenCV's RNG, which ``segment_figure`` seeds first: the same
picture and pose always give the same cut-out. A segmenter's mask, when given, replaces all this;
``unsure_objects`` then finds what it half-believes is person over a wide area (a held helmet),
which is neither cut out nor inpainted.

The background plate is the image with the whole person mask (grown) inpainted (Telea) at low
resolution and blurred, so where the figure moves away the viewer sees a plausible plate, never
a copy of the figure or stretched pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...pose.layout import B, BODY_LIMBS
from .rig import body_scale_px

_FACE_POINTS = (B["nose"], B["right_eye"], B["left_eye"], B["right_ear"], B["left_ear"])


def _seed_mask(shape: tuple[int, int], points: dict[int, np.ndarray], unit: float) -> tuple[np.ndarray, np.ndarray]:
    """GrabCut's initial labels (H, W) uint8 and the core-stroke mask (H, W) uint8 used to pick blobs.

    unit : the body's size (``rig.body_scale_px``) in pixels of ``shape``.
    """
    h, w = shape
    pts = np.array(list(points.values()))
    x0, y0 = pts.min(axis=0) - (0.45 * unit, 0.7 * unit)
    x1, y1 = pts.max(axis=0) + 0.45 * unit
    hips_seen = B["right_hip"] in points or B["left_hip"] in points
    feet_seen = B["right_ankle"] in points or B["left_ankle"] in points
    if not feet_seen:  # the body goes on below the last keypoint (portrait, cropped legs)
        y1 = h
    labels = np.full(shape, cv2.GC_BGD, np.uint8)
    labels[max(0, int(y0)):int(min(h, y1)), max(0, int(x0)):int(min(w, x1))] = cv2.GC_PR_BGD

    probable = np.zeros(shape, np.uint8)
    core = np.zeros(shape, np.uint8)

    def ip(p: np.ndarray) -> tuple[int, int]:
        return int(round(p[0])), int(round(p[1]))

    for a, b in BODY_LIMBS:
        if a in points and b in points:
            face = a in _FACE_POINTS and b in _FACE_POINTS
            cv2.line(probable, ip(points[a]), ip(points[b]), 1, max(2, int(0.12 * unit if face else 0.3 * unit)))
            cv2.line(core, ip(points[a]), ip(points[b]), 1, max(1, int(0.04 * unit)))
    face = [points[i] for i in _FACE_POINTS if i in points]
    if face:
        centre = np.mean(face, axis=0)
        cv2.circle(probable, ip(centre), max(3, int(0.4 * unit)), 1, -1)
        cv2.circle(core, ip(centre), max(1, int(0.1 * unit)), 1, -1)
        if B["neck"] in points:  # the skull, hair and any hat reach about one neck-to-eyes length above the eyes
            up = centre - points[B["neck"]]
            length = float(np.linalg.norm(up))
            if length > 1.0:
                angle = float(np.degrees(np.arctan2(up[1], up[0])))
                axes = (max(2, int(1.1 * length)), max(2, int(0.35 * unit)))
                cv2.ellipse(probable, ip(centre + 0.3 * up), axes, angle, 0, 360, 1, -1)
    torso = [points[i] for i in (B["neck"], B["right_shoulder"], B["left_shoulder"], B["right_hip"], B["left_hip"]) if i in points]
    if not hips_seen and B["right_shoulder"] in points and B["left_shoulder"] in points:
        drop = np.array([0.0, 1.2 * unit])
        torso += [points[B["right_shoulder"]] + drop, points[B["left_shoulder"]] + drop]
        cv2.line(core, ip(points[B["neck"]] if B["neck"] in points else torso[0]),
                 ip((torso[-1] + torso[-2]) / 2), 1, max(1, int(0.04 * unit)))
    if len(torso) >= 3:
        hull = cv2.convexHull(np.array(torso, np.float32)).astype(np.int32)
        cv2.fillConvexPoly(probable, hull, 1)
    labels[probable > 0] = cv2.GC_PR_FGD
    labels[core > 0] = cv2.GC_FGD
    return labels, core


def _keep_skeleton_blobs(figure: np.ndarray, core: np.ndarray, unit: float) -> np.ndarray:
    """Open/close, keep the connected components touching the core strokes, fill small holes."""
    k = max(3, int(0.04 * unit) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    figure = cv2.morphologyEx(figure, cv2.MORPH_OPEN, kernel)
    figure = cv2.morphologyEx(figure, cv2.MORPH_CLOSE, kernel)
    _, comp = cv2.connectedComponents(figure, connectivity=8)
    touching = np.unique(comp[(core > 0) & (figure > 0)])
    figure = np.isin(comp, touching[touching > 0]).astype(np.uint8)
    holes = (1 - figure).astype(np.uint8)
    count, comp, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    h, w = figure.shape
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        on_border = x == 0 or y == 0 or x + bw == w or y + bh == h
        if not on_border and area < (0.25 * unit) ** 2:
            figure[comp == i] = 1
    return figure


def segment_figure(image_rgb: np.ndarray, keypoints_px: np.ndarray, confidence: np.ndarray, threshold: float,
                   iterations: int, max_side_px: int, seed: int = 0) -> np.ndarray:
    """The figure's mask from GrabCut seeded by the reference pose.

    image_rgb (H, W, 3) uint8; keypoints_px (136, 2) pixels on the image; confidence (136,).
    Runs at most ``max_side_px`` on the long side and upsamples. ``seed`` seeds OpenCV's RNG
    (of the calling thread) right before GrabCut, so the same inputs give the same mask.
    Returns (H, W) bool (all False when nothing was found; the caller turns that into an error).
    """
    h, w = image_rgb.shape[:2]
    scale = min(1.0, max_side_px / max(h, w))
    small = cv2.resize(image_rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    points = {i: keypoints_px[i].astype(np.float64) * scale for i in range(18) if confidence[i] >= threshold}
    if len(points) < 2:
        return np.zeros((h, w), bool)
    unit = max(8.0, body_scale_px(keypoints_px, confidence, threshold) * scale)
    labels, core = _seed_mask(small.shape[:2], points, unit)
    bgd_model, fgd_model = np.zeros((1, 65)), np.zeros((1, 65))
    if np.any(labels == cv2.GC_PR_BGD) or np.any(labels == cv2.GC_BGD):
        # GrabCut's k-means draws from OpenCV's per-thread RNG: seed it, or two runs cut differently.
        cv2.setRNGSeed(seed)
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, None, bgd_model, fgd_model, iterations,
                    cv2.GC_INIT_WITH_MASK)
    figure = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    figure = _keep_skeleton_blobs(figure, core, unit)
    soft = cv2.resize(figure.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return soft >= 0.5


def unsure_objects(soft_mask: np.ndarray, scale_px: float) -> np.ndarray:
    """Wide regions a soft person mask is unsure about (a helmet held against the body): not the person.

    A segmenter's outline or halo is a band of middling values (0.1–0.8) hugging the person;
    an object the person holds or stands against comes out as a wide blob of them reaching
    away from the body. Cut into the figure, its pieces would move with the body while the
    rest stays, and inpainted from the plate it would smear; left out of both it stays still
    and whole in the plate. Wide: it survives an opening with a disc of 0.4 shoulder widths;
    reaching away: part of it lies over half a shoulder width from every sure (>= 0.8) pixel.
    The blob is then grown over the unsure fringe around it.
    soft_mask (H, W) float32 0..1; scale_px : ``rig.body_scale_px``. Returns (H, W) bool.
    """
    unsure = ((soft_mask >= 0.1) & (soft_mask < 0.8)).astype(np.uint8)
    wide = max(3, int(round(0.4 * scale_px)) | 1)
    blobs = cv2.morphologyEx(unsure, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (wide, wide)))
    if not blobs.any():
        return blobs > 0
    away = cv2.distanceTransform((soft_mask < 0.8).astype(np.uint8), cv2.DIST_L2, 5) > 0.5 * scale_px
    _, comp = cv2.connectedComponents(blobs, connectivity=8)
    reaching = np.unique(comp[away & (blobs > 0)])
    blobs = np.isin(comp, reaching[reaching > 0]).astype(np.uint8)
    fringe = max(3, int(round(0.1 * scale_px)) | 1)
    return (cv2.dilate(blobs, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (fringe, fringe))) > 0) & (unsure > 0)


def fill_background(image_rgb: np.ndarray, mask: np.ndarray, dilate_px: int, radius_px: float, max_side_px: int) -> np.ndarray:
    """The image with the figure removed: Telea inpainting at low resolution, blurred, upsampled.

    image_rgb (H, W, 3) uint8; mask (H, W) bool: everything that may be the person (for a
    segmenter's soft mask, its unsure edge too). The hole is the mask grown by ``dilate_px``
    so the figure's halo goes too. Returns (H, W, 3) uint8; pixels outside
    the hole are the original ones, the seam is feathered.
    """
    h, w = mask.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
    hole = cv2.dilate(mask.astype(np.uint8), kernel)
    scale = min(1.0, max_side_px / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
    small_hole = (cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, max(1.0, radius_px * scale), cv2.INPAINT_TELEA)
    sigma = max(1.0, 0.03 * max(size))  # Telea leaves radial streaks across a large hole: soften them
    blurred = cv2.GaussianBlur(filled, (0, 0), sigma)
    filled = np.where(small_hole[..., None] > 0, blurred, filled)
    plate = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), max(1.0, dilate_px / 2))
    alpha = np.maximum(alpha, hole.astype(np.float32))[..., None]
    return np.clip(plate * alpha + image_rgb * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
