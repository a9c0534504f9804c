"""The puppet renderer: animate the reference image itself along a 2D pose sequence.

Set-up (``build_puppet``, once per image): refuse a picture that cannot be rigged, segment the
figure (or take the caller's mask, less any wide blob it is unsure about: a held object stays in
the plate), inpaint the background plate from the whole mask, split the figure into part layers
(the head owns everything above the neck; the torso layer is filled in under the arms, inpainted
from the fabric around them; limbs missing from the picture or hidden are left unrigged), mesh
each layer and bind it to the bones; a body cut off by the bottom edge stays pinned to it; a
profile's head and near arm may only turn a little. Per frame (``Puppet.render_frame``): bone
transforms from the reference pose to the target pose, skin each layer's vertices, and
texture-map the layer from the reference image onto the plate.

Rasterising a layer: every destination pixel learns which triangle covers it (one
``cv2.fillConvexPoly`` per triangle into an id image), each triangle's affine from destination
to source gives the source coordinates, and one ``cv2.remap`` of the RGBA texture samples the
layer bilinearly; the texture's alpha (the part mask, slightly blurred) gives anti-aliased
edges that follow the true outline, not the coarse polygon. This is much faster than a
``warpAffine`` per triangle, and the plate under every layer means nothing is ever stretched
to fill the space the figure left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ...errors import ChoreoError, ImageInputError, PoseInputError
from ...pose.sequence import PoseSequence2D
from .deform import pose_transforms, skin
from .mesh import Mesh, triangulate_mask
from .rig import (ATTACHMENTS, BONE_INDEX, BONES, DRAW_ORDER, anchor_point, body_scale_px, bone_radii, bone_segments,
                  choose_anchors, head_weights, label_parts, profile_near_side, skinning_weights)
from .segmentation import fill_background, segment_figure, unsure_objects

_OFF_CANVAS = -10.0  # source coordinate for pixels no triangle covers: remap's border gives alpha 0


@dataclass(frozen=True)
class PuppetConfig:
    """Knobs of the puppet renderer. Pixel sizes are in reference-image pixels.

    mesh_spacing_px         : distance between mesh vertices; smaller bends more smoothly, renders slower.
    grabcut_iterations      : GrabCut refinement rounds of the figure mask (ignored with a user mask).
    segmentation_max_side_px: long side GrabCut works at (set-up speed).
    confidence_threshold    : keypoints below it count as missing, in the reference and in targets.
    weight_falloff          : power of the inverse bone distance in the skinning weights; higher = stiffer limbs.
    max_influences          : bones per vertex (2–3 keeps joints smooth without mush).
    max_stretch             : how far a bone may lengthen or shorten along its axis, fraction (0.25 = ±25 %).
    inpaint_radius_px       : Telea neighbourhood for the background plate.
    inpaint_dilate_px       : how far past the figure the plate is inpainted (removes the figure's halo).
    inpaint_max_side_px     : long side the plate is inpainted at, then upsampled (it is blurred anyway).
    part_overlap_px         : parts overlap by this much so joints never open a crack.
    edge_softness_px        : blur of the layer alpha: anti-aliased outline.
    border_pin_depth        : a torso or leg cut off by the picture's bottom edge stays pinned to it, fading
                              out over this many shoulder widths above the edge (no cut edge ever shows).
    profile_turn_deg        : in a profile, how far the head and each bone of the near arm may turn from their
                              place in the picture (relative to the body). A dance is frontal: turned all the
                              way, the near arm leaves the body it covers (never seen) and tears away what it
                              holds (a camera), and a face looking sideways turns to the sky.
    seed                    : seed of OpenCV's RNG for GrabCut: the same inputs always give the same puppet.
    """

    mesh_spacing_px: float = 16.0
    grabcut_iterations: int = 4
    segmentation_max_side_px: int = 400
    confidence_threshold: float = 0.3
    weight_falloff: float = 3.0
    max_influences: int = 3
    max_stretch: float = 0.25
    inpaint_radius_px: float = 8.0
    inpaint_dilate_px: int = 6
    inpaint_max_side_px: int = 256
    part_overlap_px: int = 4
    edge_softness_px: float = 0.8
    border_pin_depth: float = 0.6
    profile_turn_deg: float = 25.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("mesh_spacing_px", self.mesh_spacing_px >= 4, "at least 4"),
            ("grabcut_iterations", self.grabcut_iterations >= 1, "at least 1"),
            ("segmentation_max_side_px", self.segmentation_max_side_px >= 64, "at least 64"),
            ("confidence_threshold", 0.0 < self.confidence_threshold <= 1.0, "in (0, 1]"),
            ("weight_falloff", self.weight_falloff > 0, "positive"),
            ("max_influences", self.max_influences >= 1, "at least 1"),
            ("max_stretch", 0.0 <= self.max_stretch < 1.0, "in [0, 1)"),
            ("inpaint_radius_px", self.inpaint_radius_px > 0, "positive"),
            ("inpaint_dilate_px", self.inpaint_dilate_px >= 0, "0 or more"),
            ("inpaint_max_side_px", self.inpaint_max_side_px >= 32, "at least 32"),
            ("part_overlap_px", self.part_overlap_px >= 0, "0 or more"),
            ("edge_softness_px", self.edge_softness_px >= 0, "0 or more"),
            ("border_pin_depth", self.border_pin_depth > 0, "positive"),
            ("profile_turn_deg", 0.0 <= self.profile_turn_deg <= 180.0, "in [0, 180]"),
        )
        for name, ok, need in checks:
            if not ok:
                raise ChoreoError(f"PuppetConfig.{name} must be {need}, got {getattr(self, name)!r}.")


@dataclass(frozen=True)
class PuppetLayer:
    """One body part drawn as one textured mesh.

    part     : name from ``rig.DRAW_ORDER``.
    mesh     : vertices in reference-image pixels (they double as texture coordinates).
    bone_ids : (Bp,) int indices into ``rig.BONES`` that skin this layer.
    weights  : (V, Bp) float32 skinning weights, rows sum to 1.
    texture  : (H, W, 4) uint8 RGBA: the reference image with this part's soft mask as alpha.
    pinned   : (V,) float32 in [0, 1] or None: how much each vertex stays at its reference place
               (a body cut off by the picture's edge stays on that edge).
    """

    part: str
    mesh: Mesh
    bone_ids: np.ndarray
    weights: np.ndarray
    texture: np.ndarray
    pinned: np.ndarray | None = None


@dataclass(frozen=True)
class Puppet:
    """A rigged reference image, ready to render any pose on the same canvas.

    background       : (H, W, 3) uint8 RGB plate with the figure inpainted away.
    figure_mask      : (H, W) bool, the figure that is animated.
    layers           : back to front.
    reference_bones  : (S, 2, 2) float64 bone segments of the reference pose, pixels.
    rigged           : (S,) bool, bones present in the reference (only these move anything).
    anchors          : chosen anchor alternatives per rigged bone (see ``rig.choose_anchors``).
    notes            : short sentences on what this picture cannot show (legs out of the picture, a
                       profile), for callers to print or log once; empty for a frontal full figure.
    turn_limits_rad  : (S,) float64, how far each bone may turn from its reference direction relative
                       to the body (inf: free; a profile's head and near arm: ``profile_turn_deg``).
    """

    config: PuppetConfig
    background: np.ndarray
    figure_mask: np.ndarray
    layers: tuple[PuppetLayer, ...]
    reference_bones: np.ndarray
    rigged: np.ndarray
    anchors: dict[str, tuple[int, int]]
    notes: tuple[str, ...] = ()
    turn_limits_rad: np.ndarray | None = None

    @property
    def canvas_width(self) -> int:
        return self.background.shape[1]

    @property
    def canvas_height(self) -> int:
        return self.background.shape[0]

    def render_frame(self, keypoints_px: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """The reference image posed as one target frame.

        keypoints_px (136, 2) pixels on the reference canvas; confidence (136,) in [0, 1].
        Returns (H, W, 3) uint8 RGB. Bones missing in the target keep their reference angle
        relative to their parent; parts not visible in the reference are not drawn.
        """
        target, valid = bone_segments(np.asarray(keypoints_px, np.float64), np.asarray(confidence, np.float64),
                                      self.anchors, self.config.confidence_threshold)
        transforms = pose_transforms(self.reference_bones, self.rigged, target, valid, self.config.max_stretch,
                                     self.turn_limits_rad)
        frame = self.background.copy()
        for layer in self.layers:
            vertices = skin(layer.mesh.vertices, layer.weights, transforms[layer.bone_ids])
            if layer.pinned is not None:
                vertices += layer.pinned[:, None] * (layer.mesh.vertices - vertices)
            _draw_layer(frame, layer, vertices)
        return frame


def _triangle_source_maps(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per-triangle affine coefficients from destination pixels to source pixels.

    Returns (10, F + 1) float32 rows (ax, bx, cx, ay, by, cy) with src_x = ax*x + bx*y + cx,
    then the source triangle's box (x_min, x_max, y_min, y_max). Edge pixels the raster gives
    a thin triangle lie slightly outside it, where its affine extrapolates wildly; clamping to
    the box keeps them on that triangle's texture. The extra last column (and degenerate,
    folded-flat triangles) maps off the texture.
    """
    d = dst[triangles].astype(np.float64)
    s = src[triangles].astype(np.float64)
    lhs = np.concatenate([d, np.ones((len(triangles), 3, 1))], axis=2)
    det = np.linalg.det(lhs)
    ok = np.abs(det) > 1e-3
    lhs[~ok] = np.eye(3)
    coeffs = np.linalg.solve(lhs, s)  # (F, 3, 2)
    coeffs[~ok] = [[0.0, 0.0], [0.0, 0.0], [_OFF_CANVAS, _OFF_CANVAS]]
    table = np.concatenate([coeffs.transpose(2, 1, 0).reshape(6, -1), [[0], [0], [_OFF_CANVAS], [0], [0], [_OFF_CANVAS]]], 1)
    low, high = s.min(axis=1) - 0.5, s.max(axis=1) + 0.5
    low[~ok], high[~ok] = _OFF_CANVAS, _OFF_CANVAS
    bounds = np.concatenate([np.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1]]), [[_OFF_CANVAS]] * 4], 1)
    return np.concatenate([table, bounds]).astype(np.float32)


def _draw_layer(frame: np.ndarray, layer: PuppetLayer, vertices: np.ndarray) -> None:
    """Texture-map one skinned layer onto ``frame`` (H, W, 3) uint8 in place."""
    h, w = frame.shape[:2]
    x0, y0 = np.floor(vertices.min(axis=0)).astype(int)
    x1, y1 = np.ceil(vertices.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    triangles = layer.mesh.triangles
    ids = np.full((y1 - y0, x1 - x0), len(triangles), np.int32)
    corners = np.rint((vertices - (x0, y0)) * 16.0).astype(np.int32)[triangles]
    for index, corner in enumerate(corners):
        cv2.fillConvexPoly(ids, corner, index, cv2.LINE_8, 4)
    table = _triangle_source_maps(vertices, layer.mesh.vertices, triangles)
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    map_x = table[0][ids] * xs + table[1][ids] * ys + table[2][ids]
    map_y = table[3][ids] * xs + table[4][ids] * ys + table[5][ids]
    map_x = np.minimum(np.maximum(map_x, table[6][ids]), table[7][ids])
    map_y = np.minimum(np.maximum(map_y, table[8][ids]), table[9][ids])
    rgba = cv2.remap(layer.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = rgba[..., 3].astype(np.float32) * (1.0 / 255.0)
    crop = frame[y0:y1, x0:x1]
    crop[...] = cv2.blendLinear(np.ascontiguousarray(rgba[..., :3]), crop, alpha, 1.0 - alpha)


def _bleed_colours(image_rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy of the image whose pixels outside ``mask`` take the nearest figure colour.

    Bilinear sampling at the soft outline then mixes figure with figure, not with the old
    background, so a moved limb carries no halo of the place it came from.
    """
    outside = (~mask).astype(np.uint8)
    _, labels = cv2.distanceTransformWithLabels(outside, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(mask)
    source = np.zeros(int(labels.max()) + 1, np.int64)
    source[labels[ys, xs]] = ys * mask.shape[1] + xs
    flat = image_rgb.reshape(-1, 3)
    return flat[source[labels]].reshape(image_rgb.shape)


def _validate(image_rgb: np.ndarray, reference: PoseSequence2D, mask: np.ndarray | None) -> None:
    if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        got = f"{image_rgb.shape} {image_rgb.dtype}" if isinstance(image_rgb, np.ndarray) else type(image_rgb).__name__
        raise ImageInputError(f"puppet image must be an (H, W, 3) uint8 RGB array, got {got}; "
                              "convert it (drop alpha, scale 0..1 floats by 255) before building the puppet.")
    h, w = image_rgb.shape[:2]
    if reference.num_frames < 1:
        raise PoseInputError("reference pose is empty (0 frames); give the pose detected on the reference image.")
    if (reference.canvas_width, reference.canvas_height) != (w, h):
        raise ImageInputError(
            f"reference pose canvas is {reference.canvas_width}x{reference.canvas_height} px but the image is {w}x{h} px; "
            "detect the reference pose on this very image, or resize the image to the pose canvas before rigging.")
    if mask is not None and (not isinstance(mask, np.ndarray) or mask.shape != (h, w)):
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ImageInputError(f"puppet mask must be ({h}, {w}) like the image, got {got}; resize the MASK to the image.")


_ARM_BONES = ("upper_arm", "forearm", "hand")


def _check_riggable(keypoints: np.ndarray, confidence: np.ndarray, threshold: float, width: int, height: int) -> float:
    """Refuse a picture whose person cannot be rigged; returns the body scale in pixels.

    Raises ImageInputError when the pose has too few confident body keypoints (no person),
    when most of them lie outside the picture, or when the person is too small (shoulder
    width, or its profile-safe estimate ``rig.body_scale_px``, under 12 px or 3 % of the picture).
    """
    body = confidence[:18] >= threshold
    count = int(body.sum())
    if count < 3:
        raise ImageInputError(
            f"no person to animate: the reference pose has {count} confident body keypoint(s) (confidence >= {threshold}); "
            "give a picture with one clearly visible person (head and shoulders at least), or connect the pose "
            "detected on this very picture.")
    points = keypoints[:18][body]
    inside = int(np.sum((points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)))
    if inside < 0.5 * count:
        raise ImageInputError(
            f"the reference pose lies mostly outside the picture ({inside} of {count} body keypoints inside "
            f"{width}x{height} px); detect the pose on this very picture, or give a picture with the person in frame.")
    scale = body_scale_px(keypoints, confidence, threshold)
    needed = max(12.0, 0.03 * max(width, height))
    if scale < needed:
        raise ImageInputError(
            f"the person is too small to animate: about {scale:.0f} px across the shoulders in a {width}x{height} px "
            f"picture (needs at least {needed:.0f} px: 12 px and 3 % of the picture's long side); crop the picture around the person "
            "or give a closer photo.")
    return scale


def _under_the_arms(parts: dict[str, np.ndarray], figure: np.ndarray, scale: float, profile: bool) -> np.ndarray:
    """Figure pixels covered by an arm inside the torso's outline, (H, W) bool.

    The torso layer also covers them (with colours filled in from the torso), so an arm that
    swings away uncovers the body it lay on, not a pale patch of background plate. A torso cut
    off by the bottom edge reaches along that edge as far as the figure does there (a hand
    resting on the belly covers body, not background). In a profile the near arm lies in front
    of a torso far narrower than ``scale``: the outline is then the torso's whole one.
    """
    under = np.zeros(figure.shape, bool)
    if "torso" not in parts:
        return under
    # the torso's main block: shoulder caps and slivers reaching into the arms do not widen it
    block_px = max(3, int(round((0.06 if profile else 0.3) * scale)) | 1)
    block = cv2.morphologyEx(parts["torso"].astype(np.uint8), cv2.MORPH_OPEN,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (block_px, block_px)))
    contours, _ = cv2.findContours(block, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return under
    outline = [c[:, 0, :] for c in contours]
    bottom = np.flatnonzero(parts["torso"][-1])
    if len(bottom):
        row = np.concatenate([[0], figure[-1].astype(np.int8), [0]])
        starts, ends = np.flatnonzero(np.diff(row) == 1), np.flatnonzero(np.diff(row) == -1) - 1
        touching = (ends >= bottom.min()) & (starts <= bottom.max())
        y = figure.shape[0] - 1
        outline.append(np.array([[x, y] for a, b in zip(starts[touching], ends[touching]) for x in (a, b)], np.int32))
    hull = np.zeros(figure.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.concatenate(outline).astype(np.int32)), 1)
    for arm in ("r_arm", "l_arm"):
        if arm in parts:
            under |= parts[arm] & (hull > 0) & figure
    # no ragged slivers along the hull's edge: they would show as torn strips when the arm moves
    size = max(3, int(round(0.06 * scale)) | 1)
    return cv2.morphologyEx(under.astype(np.uint8), cv2.MORPH_OPEN, np.ones((size, size), np.uint8)) > 0


def _fabric(image_rgb: np.ndarray, source: np.ndarray, hole: np.ndarray, scale_px: float) -> np.ndarray:
    """The ``source`` pixels (H, W) bool of the body's main colour around ``hole``.

    The median colour of the source within 0.15 shoulder widths of the hole is the fabric's;
    pixels far from it (over 2.5 times the ring's median distance, at least 48 in summed RGB)
    are a badge, a flag wrongly cut out with the body, a strap: inpainting would smear them.
    """
    grow = max(3, int(round(0.15 * scale_px)) | 1)
    ring = (cv2.dilate(hole.astype(np.uint8), np.ones((grow, grow), np.uint8)) > 0) & source
    if ring.sum() < 16:
        return source
    colours = image_rgb.astype(np.int32)
    fabric = np.median(colours[ring], axis=0)
    distance = np.abs(colours - fabric).sum(-1)
    tolerance = max(48.0, 2.5 * float(np.median(distance[ring])))
    near = source & (distance <= tolerance)
    return near if near[ring].sum() >= 16 else source


def _fill_from(image_rgb: np.ndarray, source: np.ndarray, hole: np.ndarray, scale_px: float) -> np.ndarray:
    """The image with ``hole`` (H, W) bool painted from the ``source`` pixels around it.

    Telea inpainting grows the colours of the fabric pixels (``_fabric``) next to the hole
    inwards, so an uncovered stretch of suit takes the suit's own colour and shading, not a
    broad mean of the whole body (a helmet or a dark belt would tint that mean) nor a badge's
    colour. Every other pixel is unknown, so background never bleeds in. It runs on the hole's
    box at about 48 px per shoulder width (set-up time), blurred a little against Telea's
    streaks, then upsampled.
    """
    if not source.any() or not hole.any():
        return image_rgb
    source = _fabric(image_rgb, source, hole, scale_px)
    h, w = hole.shape
    margin = int(round(0.3 * scale_px)) + 2
    ys, xs = np.nonzero(hole)
    y0, y1 = max(0, ys.min() - margin), min(h, ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(w, xs.max() + margin + 1)
    if not source[y0:y1, x0:x1].any():
        y0, y1, x0, x1 = 0, h, 0, w
    factor = min(1.0, 48.0 / max(scale_px, 1.0))
    size = (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor)))
    crop = image_rgb[y0:y1, x0:x1]
    known = cv2.resize(source[y0:y1, x0:x1].astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.99
    if not known.any():
        known = cv2.resize(source[y0:y1, x0:x1].astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    filled = cv2.inpaint(small, (~known).astype(np.uint8), 3.0, cv2.INPAINT_TELEA)
    filled = cv2.GaussianBlur(filled, (0, 0), 1.0)
    painted = cv2.resize(filled, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    result = image_rgb.copy()
    region = hole[y0:y1, x0:x1]
    result[y0:y1, x0:x1][region] = painted[region]
    return result


def _bottom_pin(vertices: np.ndarray, height: int, depth_px: float) -> np.ndarray:
    """(V,) float32: 1 on the picture's bottom edge, easing to 0 at ``depth_px`` above it (smoothstep)."""
    t = np.clip(1.0 - (height - 1 - vertices[:, 1]) / max(depth_px, 1.0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


_CHECKED_JOINTS = {"r_upper_arm": "right elbow", "r_forearm": "right wrist", "l_upper_arm": "left elbow",
                   "l_forearm": "left wrist", "r_thigh": "right knee", "r_shin": "right ankle",
                   "l_thigh": "left knee", "l_shin": "left ankle"}


def _hidden_limbs(anchors: dict[str, tuple[int, int]], keypoints: np.ndarray, confidence: np.ndarray, threshold: float,
                  figure: np.ndarray, scale: float) -> tuple[dict[str, tuple[int, int]], tuple[str, ...]]:
    """Drop limb bones whose elbow, wrist, knee or ankle is not on the person (hidden behind an object).

    Rigging them would swing whatever covers the joint (a helmet held in front of the arm) or
    a sliver of sleeve. A dropped bone takes its children with it; their pixels stay with the
    parent part. Returns the remaining anchors and the joints found hidden.
    """
    h, w = figure.shape
    grow = max(3, int(round(0.05 * scale)))
    on_person = cv2.dilate(figure.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0
    dropped: set[str] = set()
    hidden = []
    for bone in BONES:
        if bone.name not in anchors:
            continue
        if bone.parent in dropped:
            dropped.add(bone.name)
        elif bone.name in _CHECKED_JOINTS:
            end = anchor_point(bone.end[anchors[bone.name][1]], keypoints, confidence, threshold)
            x, y = int(round(end[0])), int(round(end[1]))
            if not (0 <= x < w and 0 <= y < h and on_person[y, x]):
                dropped.add(bone.name)
                hidden.append(_CHECKED_JOINTS[bone.name])
    return {name: pick for name, pick in anchors.items() if name not in dropped}, tuple(hidden)


def _notes(anchors: dict[str, tuple[int, int]], near_side: str | None, hidden: tuple[str, ...] = ()) -> tuple[str, ...]:
    notes = []
    if hidden:
        notes.append("Not on the person in the picture (hidden behind something, or outside the mask): "
                     f"{', '.join(hidden)}; that part of the limb does not dance.")
    if not any(BONES[BONE_INDEX[name]].part in ("r_leg", "l_leg") for name in anchors):
        notes.append("Waist-up or three-quarter picture: only the upper body dances; the legs are not (fully) in "
                     "the picture, so the body stays on the picture's bottom edge.")
    if near_side:
        far = "left" if near_side == "right" else "right"
        notes.append(f"Profile picture (seen from the {near_side}): the body cannot turn towards the camera, the far "
                     f"({far}) arm is not animated and the head and near arm only sway a little; a frontal or "
                     "three-quarter photo dances best.")
    return tuple(notes)


def build_puppet(image_rgb: np.ndarray, reference: PoseSequence2D, mask: np.ndarray | None = None,
                 config: PuppetConfig = PuppetConfig()) -> Puppet:
    """Rig a reference image for animation; the costly set-up, done once per image.

    image_rgb : (H, W, 3) uint8 RGB.
    reference : the pose of the figure in that image, canvas H x W; frame 0 is used.
    mask      : optional (H, W) float 0..1 (or bool) figure mask; replaces the automatic GrabCut
                for the cut-out (>= 0.5) and for the background plate (>= 0.1, grown and inpainted).
    Raises ImageInputError (size mismatch, no person or too few keypoints, keypoints outside the
    picture, person too small, no figure found) or PoseInputError (no torso in the pose).
    Deterministic: the same inputs and config give byte-identical puppets and frames.
    What the picture cannot show (no legs, a profile) is listed in ``Puppet.notes``.

    Example:
        puppet = build_puppet(image, reference_pose)
        frames = list(iter_puppet_frames(puppet, dance_pose))
    """
    _validate(image_rgb, reference, mask)
    h, w = image_rgb.shape[:2]
    keypoints = reference.keypoints_px[0].astype(np.float64)
    confidence = reference.confidence[0].astype(np.float64)
    threshold = config.confidence_threshold
    scale = _check_riggable(keypoints, confidence, threshold, w, h)
    anchors = choose_anchors(keypoints, confidence, threshold)
    if "spine" not in anchors:
        raise PoseInputError("reference pose has no torso: it needs a confident neck plus both shoulders or both hips "
                             f"(confidence >= {threshold}); check the pose was detected on this image.")
    if not {"r_shin", "l_shin"} & set(anchors):  # thighs alone would tear the hips and coat: legs go with the torso
        anchors = {name: pick for name, pick in anchors.items() if BONES[BONE_INDEX[name]].part not in ("r_leg", "l_leg")}
    near_side = profile_near_side(keypoints, confidence, threshold)
    if near_side:  # the far arm lies behind the body: its pixels are torso or near arm
        far = "l_" if near_side == "right" else "r_"
        anchors = {name: pick for name, pick in anchors.items() if not (name.startswith(far) and name.endswith(_ARM_BONES))}
    if mask is not None:
        soft = np.clip(np.nan_to_num(np.asarray(mask, np.float32)), 0.0, 1.0)
        objects = unsure_objects(soft, scale)  # a held helmet: neither cut out nor inpainted, it stays in the plate
        figure, plate_hole = (soft >= 0.5) & ~objects, (soft >= 0.1) & ~objects
    else:
        figure = segment_figure(image_rgb, keypoints, confidence, threshold, config.grabcut_iterations,
                                config.segmentation_max_side_px, config.seed)
        plate_hole = figure
    if figure.sum() < max(64, 0.002 * h * w):
        raise ImageInputError("no person region found in the image around the reference pose; "
                              "connect a MASK of the figure (white = figure) to the puppet node.")
    anchors, hidden = _hidden_limbs(anchors, keypoints, confidence, threshold, figure, scale)
    segments, rigged = bone_segments(keypoints, confidence, anchors, threshold)
    radii = bone_radii(segments, rigged, cv2.distanceTransform(figure.astype(np.uint8), cv2.DIST_L2, 5), scale)
    parts = label_parts(figure, segments, rigged, radii, scale)
    background = fill_background(image_rgb, plate_hole, max(config.inpaint_dilate_px, int(round(0.04 * scale))),
                                 config.inpaint_radius_px, config.inpaint_max_side_px)
    colours = _bleed_colours(image_rgb, figure)
    under_arms = _under_the_arms(parts, figure, scale, near_side is not None)
    overlap = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.part_overlap_px + 1,) * 2)
    layers = []
    for part in DRAW_ORDER:
        if part not in parts:
            continue
        part_mask = (cv2.dilate(parts[part].astype(np.uint8), overlap) > 0) & figure
        texture_rgb = colours
        if part == "torso" and under_arms.any():
            part_mask |= under_arms
            grow = max(2, int(round(0.03 * scale)))  # the arm's fringe the torso claimed goes too
            hole = (cv2.dilate(under_arms.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0) & part_mask
            texture_rgb = _fill_from(colours, parts["torso"] & ~hole, hole, scale)
        mesh = triangulate_mask(part_mask, config.mesh_spacing_px, margin_px=2)
        if len(mesh.triangles) == 0:
            continue
        alpha = part_mask.astype(np.float32)
        if config.edge_softness_px > 0:
            alpha = cv2.GaussianBlur(alpha, (0, 0), config.edge_softness_px)
        texture = np.dstack([texture_rgb, np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)])
        bone_ids = np.array([i for i, bone in enumerate(BONES)
                             if rigged[i] and (bone.part == part or bone.name in ATTACHMENTS[part])], np.int64)
        if part == "head":
            body = np.array([BONES[i].part == "torso" for i in bone_ids])
            body_weights = np.zeros((len(mesh.vertices), len(bone_ids)), np.float32)
            body_weights[:, body] = skinning_weights(mesh.vertices, segments, radii, bone_ids[body],
                                                     config.weight_falloff, config.max_influences)
            weights = head_weights(mesh.vertices, segments, rigged, bone_ids, body_weights, scale)
        else:
            weights = skinning_weights(mesh.vertices, segments, radii, bone_ids, config.weight_falloff,
                                       config.max_influences)
        pinned = None
        if part in ("torso", "r_leg", "l_leg") and parts[part][-1].any():
            pinned = _bottom_pin(mesh.vertices, h, config.border_pin_depth * scale)
        layers.append(PuppetLayer(part, mesh, bone_ids, weights, texture, pinned))
    notes = _notes(anchors, near_side, hidden)
    turn_limits = np.full(len(BONES), np.inf)
    if near_side:
        near = "r_" if near_side == "right" else "l_"
        for name in [near + bone for bone in _ARM_BONES] + ["head"]:
            turn_limits[BONE_INDEX[name]] = np.radians(config.profile_turn_deg)
    return Puppet(config, background, figure, tuple(layers), segments, rigged, anchors, notes, turn_limits)


def iter_puppet_frames(puppet: Puppet, poses: PoseSequence2D) -> Iterator[np.ndarray]:
    """Render every frame of a pose sequence; yields (H, W, 3) uint8 RGB, one per pose frame."""
    if (poses.canvas_width, poses.canvas_height) != (puppet.canvas_width, puppet.canvas_height):
        raise PoseInputError(
            f"pose sequence canvas is {poses.canvas_width}x{poses.canvas_height} px but the puppet's image is "
            f"{puppet.canvas_width}x{puppet.canvas_height} px; retarget the poses onto the reference image's canvas first.")
    for frame in range(poses.num_frames):
        yield puppet.render_frame(poses.keypoints_px[frame], poses.confidence[frame])
