"""The CPU puppet renderer: the reference picture itself, cut out and moved by the dance.

In the spirit of AnimatedDrawings, with classic image processing and no weights:

1. **cut-out**: GrabCut separates the figure from the background, seeded by the
   reference skeleton (thin strokes along the bones are surely the figure, thick
   strokes probably, far from the body surely not); a user mask overrides it;
2. **background plate**: the figure's hole is filled by inpainting, so what the
   dancer uncovers shows background rather than a ghost or a stretched edge;
3. **layers**: figure pixels nearest an arm bone form that arm's layer, the rest
   the body layer; arms are drawn after the body, so they pass in front of it;
4. **skinning**: each bone moves by a 2D similarity (rotation about its parent
   joint, mild stretch along the bone) from the reference pose to the frame's
   pose; a pixel follows a smooth blend of its nearby bones (inverse linear-blend
   skinning evaluated on a coarse grid), so limbs bend at the joints instead of
   tearing.

Set-up (segmentation, inpainting) runs once per picture; each frame is a few
``cv2.remap`` calls, fast enough for real-time previews on a laptop CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ..errors import ImageInputError, PoseInputError
from ..pose.layout import B
from ..pose.sequence import PoseSequence2D

# Bones as (parent keypoint, child keypoint); -1 stands for the mid-hip point.
MID_HIP = -1
ARM_BONES = {
    "left_arm": ((B["left_shoulder"], B["left_elbow"]), (B["left_elbow"], B["left_wrist"])),
    "right_arm": ((B["right_shoulder"], B["right_elbow"]), (B["right_elbow"], B["right_wrist"])),
}
BODY_BONES = (
    (MID_HIP, B["neck"]), (B["neck"], B["nose"]), (B["neck"], B["left_shoulder"]), (B["neck"], B["right_shoulder"]),
    (MID_HIP, B["left_hip"]), (MID_HIP, B["right_hip"]),
    (B["left_hip"], B["left_knee"]), (B["left_knee"], B["left_ankle"]),
    (B["right_hip"], B["right_knee"]), (B["right_knee"], B["right_ankle"]),
)
LAYER_ORDER = ("body", "left_arm", "right_arm")
# How far (in body heights) a layer reaches beyond its posed bones: hair and clothes, hands past the wrists.
LAYER_MARGIN = {"body": 0.3, "left_arm": 0.15, "right_arm": 0.15}
# Skinning weight width per layer, body heights: arms bend sharply at the elbow, the torso smoothly.
LAYER_FALLOFF = {"body": 0.05, "left_arm": 0.015, "right_arm": 0.015}
# A pixel whose inverse-then-forward skinning misses it by more than this (body heights) is not drawn.
ROUND_TRIP_TOLERANCE = 0.02


@dataclass(frozen=True)
class PuppetConfig:
    """Knobs of the puppet renderer; lengths are fractions of the reference body height.

    grabcut_iterations : GrabCut refinement passes at set-up.
    core_radius        : half-width of the strokes that are surely the figure.
    body_radius        : half-width of the strokes that are probably the figure.
    arm_radius         : pixels this close to an arm bone (and nearest to it) belong to that arm.
    grid_step_px       : spacing of the grid on which the skinning is evaluated.
    max_stretch        : largest bone length change allowed, as a ratio either way.
    inpaint_radius_px  : radius of the background inpainting.
    """

    grabcut_iterations: int = 3
    core_radius: float = 0.012
    body_radius: float = 0.07
    arm_radius: float = 0.06
    grid_step_px: int = 8
    max_stretch: float = 1.25
    inpaint_radius_px: int = 5


@dataclass(frozen=True)
class Puppet:
    """Everything computed once per picture: background plate, layers and the reference bones."""

    background: np.ndarray  # (H, W, 3) uint8, the figure inpainted away
    layers: dict[str, np.ndarray]  # name -> (H, W, 4) float32 premultiplied RGBA of that part
    layer_bones: dict[str, tuple[tuple[int, int], ...]]
    reference_points: np.ndarray  # (18 + 1, 2) float64 body keypoints, the last row the mid-hip
    reference_valid: np.ndarray  # (18 + 1,) bool
    body_height_px: float
    config: PuppetConfig

    def render_frame(self, keypoints_px: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8: the puppet in the pose given by (136, 2) keypoints and (136,) confidences."""
        points, valid = _body_points(keypoints_px, confidence)
        canvas = self.background.copy()
        for name in LAYER_ORDER:
            bones = [bone for bone in self.layer_bones[name] if self._usable(bone, valid)]
            targets = points
            if not bones:
                bones = [bone for bone in self.layer_bones[name] if self.reference_valid[list(bone)].all()]
                targets = self.reference_points
            if not bones:
                continue
            x0, y0, x1, y1 = self._output_box(bones, targets, LAYER_MARGIN[name])
            if x1 <= x0 or y1 <= y0:
                continue
            map_x, map_y, keep = self._source_map(bones, targets, x0, y0, x1 - x0, y1 - y0, LAYER_FALLOFF[name])
            layer = cv2.remap(self.layers[name], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            alpha = layer[..., 3:4] * keep
            region = canvas[y0:y1, x0:x1].astype(np.float32)
            region *= 1.0 - alpha
            region += layer[..., :3] * keep
            canvas[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
        return canvas

    def _usable(self, bone: tuple[int, int], valid: np.ndarray) -> bool:
        return bool(self.reference_valid[list(bone)].all() and valid[list(bone)].all())

    def _output_box(self, bones, targets: np.ndarray, margin: float) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) that can receive the layer: its posed bones grown by ``margin`` body heights."""
        height, width = self.background.shape[:2]
        ends = targets[np.array(bones).ravel()]
        grow = margin * self.body_height_px
        x0, y0 = np.floor(ends.min(axis=0) - grow).astype(int)
        x1, y1 = np.ceil(ends.max(axis=0) + grow).astype(int)
        return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)

    def _source_map(self, bones, targets: np.ndarray, x0: int, y0: int, width: int, height: int,
                    falloff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Backward map (output pixel -> reference pixel) of a box and its (h, w, 1) validity, from a coarse grid.

        Grid cell i is evaluated at pixel (i + 0.5) * step - 0.5, the sample position
        cv2.resize assumes, so the upsampled map lines up with the pixels exactly.
        """
        step = self.config.grid_step_px
        cells_x, cells_y = -(-width // step), -(-height // step)
        grid_x, grid_y = np.meshgrid(x0 + (np.arange(cells_x) + 0.5) * step - 0.5,
                                     y0 + (np.arange(cells_y) + 0.5) * step - 0.5)
        pixels = np.stack([grid_x, grid_y], axis=-1)
        sigma = falloff * self.body_height_px
        transforms = []
        for parent, child in bones:
            a0, b0 = self.reference_points[parent], self.reference_points[child]
            a1, b1 = targets[parent], targets[child]
            rotation, scale = _similarity(b0 - a0, b1 - a1, self.config.max_stretch)
            transforms.append((a0, b0, a1, b1, rotation, scale))
        weight = np.stack([np.exp(-0.5 * (_segment_distance(pixels, a1, b1) / sigma) ** 2) + 1e-12
                           for _, _, a1, b1, _, _ in transforms])
        weight /= weight.sum(axis=0, keepdims=True)
        source = sum(w[..., None] * (a0 + ((pixels - a1) @ rotation) / scale)
                     for w, (a0, _, a1, _, rotation, scale) in zip(weight, transforms))
        # Inverse skinning also "finds" a source for output pixels no figure pixel moves to
        # (e.g. beside a raised arm); skin the source forward again and keep only round trips.
        forward_weight = np.stack([np.exp(-0.5 * (_segment_distance(source, a0, b0) / sigma) ** 2) + 1e-12
                                   for a0, b0, _, _, _, _ in transforms])
        forward_weight /= forward_weight.sum(axis=0, keepdims=True)
        back = sum(w[..., None] * (a1 + scale * ((source - a0) @ rotation.T))
                   for w, (a0, _, a1, _, rotation, scale) in zip(forward_weight, transforms))
        error = np.linalg.norm(back - pixels, axis=-1)
        keep = np.clip(2.0 - error / (ROUND_TRIP_TOLERANCE * self.body_height_px), 0.0, 1.0)
        packed = np.dstack([source, keep]).astype(np.float32)
        full = cv2.resize(packed, (cells_x * step, cells_y * step), interpolation=cv2.INTER_LINEAR)[:height, :width]
        return (np.ascontiguousarray(full[..., 0]), np.ascontiguousarray(full[..., 1]),
                np.ascontiguousarray(full[..., 2:3]))


def build_puppet(image_rgb: np.ndarray, reference: PoseSequence2D, mask: np.ndarray | None = None,
                 config: PuppetConfig = PuppetConfig()) -> Puppet:
    """Cut the figure out of ``image_rgb`` (H, W, 3) uint8 and rig it to the one-frame ``reference`` pose.

    mask : optional (H, W) float 0..1 figure mask (e.g. ComfyUI's MASK, 1 = figure); replaces GrabCut.
    """
    image = np.ascontiguousarray(np.asarray(image_rgb, dtype=np.uint8))
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageInputError(f"the puppet picture must be (H, W, 3) RGB, got shape {image.shape}.")
    height, width = image.shape[:2]
    if (reference.canvas_width, reference.canvas_height) != (width, height):
        raise PoseInputError(
            f"the reference pose is on a {reference.canvas_width}x{reference.canvas_height} canvas but the picture is "
            f"{width}x{height} px; make the reference pose from this picture (Reference Pose node) or resize it.")
    points, valid = _body_points(reference.keypoints_px[0], reference.confidence[0], assume_hips=True)
    if not valid[[B["neck"], MID_HIP]].all():
        raise PoseInputError("the reference pose needs at least the neck and one hip to rig the picture; "
                             "connect a POSE_KEYPOINT of the person or use the default body.")
    body_height = _body_height(points, valid, height)
    bones = [bone for bone in BODY_BONES + ARM_BONES["left_arm"] + ARM_BONES["right_arm"] if valid[list(bone)].all()]
    if mask is not None:
        figure = _user_mask(mask, width, height)
    else:
        figure = _grabcut_figure(image, points, valid, bones, body_height, config)
    if figure.sum() < 0.002 * width * height:
        raise ImageInputError("no figure was found around the reference pose; connect a MASK of the person "
                              "(1 = person) or check that the pose matches the picture.")
    background = _background_plate(image, figure, config)
    owner = _arm_owner(points, valid, body_height, config, width, height)
    soft = cv2.GaussianBlur(figure.astype(np.float32), (0, 0), 1.0)
    layers = {}
    for name in LAYER_ORDER:
        region = (owner == name) if name != "body" else ~np.isin(owner, list(ARM_BONES))
        alpha = soft * region
        layers[name] = np.dstack([image.astype(np.float32) * alpha[..., None], alpha]).astype(np.float32)
    layer_bones = {"body": BODY_BONES, **ARM_BONES}
    return Puppet(background, layers, layer_bones, points, valid, body_height, config)


def iter_puppet_frames(puppet: Puppet, pose: PoseSequence2D) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames of the puppet dancing ``pose`` (same canvas as the puppet)."""
    height, width = puppet.background.shape[:2]
    if (pose.canvas_width, pose.canvas_height) != (width, height):
        raise PoseInputError(f"the dance is on a {pose.canvas_width}x{pose.canvas_height} canvas but the puppet "
                             f"picture is {width}x{height} px; project the dance onto this picture's reference pose.")
    for frame in range(pose.num_frames):
        yield puppet.render_frame(pose.keypoints_px[frame], pose.confidence[frame])


def _body_points(keypoints_px: np.ndarray, confidence: np.ndarray,
                 assume_hips: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(19, 2) body keypoints plus the mid-hip as the last row, and (19,) validity.

    With ``assume_hips`` a portrait cut off above the waist still gets a mid-hip:
    below the neck by 1.6 shoulder widths (typical proportions), off the picture.
    """
    points = np.asarray(keypoints_px[:18], dtype=np.float64).copy()
    valid = np.asarray(confidence[:18]) > 0.05
    hips = [B["left_hip"], B["right_hip"]]
    seen = [h for h in hips if valid[h]]
    mid_hip = points[seen].mean(axis=0) if seen else np.zeros(2)
    shoulders = [B["left_shoulder"], B["right_shoulder"]]
    if not seen and assume_hips and valid[B["neck"]] and valid[shoulders].all():
        width = float(np.linalg.norm(points[shoulders[0]] - points[shoulders[1]]))
        mid_hip = points[B["neck"]] + np.array([0.0, 1.6 * width])
        seen = shoulders
    return np.vstack([points, mid_hip]), np.append(valid, bool(seen))


def _body_height(points: np.ndarray, valid: np.ndarray, image_height: int) -> float:
    """Reference body height, px: head to ankles when seen, else a multiple of the torso."""
    torso = np.linalg.norm(points[B["neck"]] - points[MID_HIP])
    ankles = [a for a in (B["left_ankle"], B["right_ankle"]) if valid[a]]
    if ankles and valid[B["nose"]]:
        return float(max(points[ankles, 1].max() - points[B["nose"], 1] + 0.25 * torso, 3.0 * torso))
    return float(max(3.3 * torso, 0.2 * image_height))


def _segment_distance(pixels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each (..., 2) pixel to the segment a-b."""
    ab = b - a
    t = np.clip(((pixels - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(pixels - (a + t[..., None] * ab), axis=-1)


def _similarity(reference_vector: np.ndarray, target_vector: np.ndarray, max_stretch: float) -> tuple[np.ndarray, float]:
    """Rotation matrix (applied to row vectors as ``v @ R``) and scale taking one bone direction to another."""
    angle = np.arctan2(target_vector[1], target_vector[0]) - np.arctan2(reference_vector[1], reference_vector[0])
    cos, sin = np.cos(angle), np.sin(angle)
    # v @ rotation undoes the rotation by ``angle`` (the inverse map needs it).
    rotation = np.array([[cos, -sin], [sin, cos]])
    length0 = max(float(np.linalg.norm(reference_vector)), 1e-6)
    scale = float(np.clip(np.linalg.norm(target_vector) / length0, 1.0 / max_stretch, max_stretch))
    return rotation, scale


def _draw_bones(shape: tuple[int, int], points: np.ndarray, bones, radius_px: float) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    thickness = max(1, int(round(2 * radius_px)))
    for parent, child in bones:
        a, b = points[parent], points[child]
        cv2.line(canvas, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, thickness, cv2.LINE_8)
    return canvas.astype(bool)


def _grabcut_figure(image: np.ndarray, points: np.ndarray, valid: np.ndarray, bones, body_height: float,
                    config: PuppetConfig) -> np.ndarray:
    """(H, W) bool figure mask from GrabCut seeded by the skeleton, computed at <= 384 px for speed."""
    height, width = image.shape[:2]
    scale = min(1.0, 384.0 / max(height, width))
    small = cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)
    small_points = points * scale
    shape = small.shape[:2]
    probable = _draw_bones(shape, small_points, bones, config.body_radius * body_height * scale)
    core = _draw_bones(shape, small_points, bones, config.core_radius * body_height * scale)
    if valid[B["nose"]]:
        # The head reaches about one neck-to-nose length above the nose (the crown, hair).
        neck_to_nose = points[B["nose"]] - points[B["neck"]]
        centre = (points[B["nose"]] + 0.35 * neck_to_nose) * scale
        radius = 1.05 * float(np.linalg.norm(neck_to_nose)) * scale
        probable_u8 = probable.astype(np.uint8)
        cv2.circle(probable_u8, (int(centre[0]), int(centre[1])), int(radius), 1, -1)
        probable = probable_u8.astype(bool)
    seeds = np.full(shape, cv2.GC_BGD, np.uint8)
    near = cv2.dilate(probable.astype(np.uint8), np.ones((3, 3), np.uint8),
                      iterations=max(1, int(0.12 * body_height * scale)))
    seeds[near > 0] = cv2.GC_PR_BGD
    seeds[probable] = cv2.GC_PR_FGD
    seeds[core] = cv2.GC_FGD
    background_model, foreground_model = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(small[..., ::-1].copy(), seeds, None, background_model, foreground_model,
                config.grabcut_iterations, cv2.GC_INIT_WITH_MASK)
    figure = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    figure = cv2.morphologyEx(figure, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels = cv2.connectedComponents(figure)
    keep = np.unique(labels[core & (figure > 0)])
    figure = np.isin(labels, keep[keep > 0]).astype(np.uint8)
    return cv2.resize(figure, (width, height), interpolation=cv2.INTER_LINEAR) > 0


def _user_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    values = np.asarray(mask, dtype=np.float32)
    if values.ndim == 3:
        values = values[0]
    if values.shape != (height, width):
        values = cv2.resize(values, (width, height), interpolation=cv2.INTER_LINEAR)
    return values > 0.5


def _background_plate(image: np.ndarray, figure: np.ndarray, config: PuppetConfig) -> np.ndarray:
    """The picture with the figure inpainted away (at half size for speed, pasted into the hole only)."""
    height, width = image.shape[:2]
    hole = cv2.dilate(figure.astype(np.uint8), np.ones((5, 5), np.uint8), iterations=2)
    half = (max(1, width // 2), max(1, height // 2))
    filled = cv2.inpaint(cv2.resize(image, half, interpolation=cv2.INTER_AREA),
                         cv2.resize(hole, half, interpolation=cv2.INTER_NEAREST),
                         config.inpaint_radius_px, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.where(hole[..., None] > 0, filled, image)


def _arm_owner(points: np.ndarray, valid: np.ndarray, body_height: float, config: PuppetConfig,
               width: int, height: int) -> np.ndarray:
    """(H, W) str array: 'left_arm' / 'right_arm' for pixels of the arms, else 'body'.

    A pixel belongs to an arm when an arm bone is its nearest bone, it lies within
    ``arm_radius`` of it, and it is outside the torso (the shoulder-hip quadrilateral,
    slightly grown), so the shirt does not tear open when an arm lifts.
    """
    pixels = np.stack(np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)), axis=-1)
    body_bones = [bone for bone in BODY_BONES if valid[list(bone)].all()]
    body_distance = np.min([_segment_distance(pixels, points[a], points[b]) for a, b in body_bones], axis=0)
    torso = np.zeros((height, width), np.uint8)
    corners = [B["left_shoulder"], B["right_shoulder"], B["right_hip"], B["left_hip"]]
    if valid[corners].all():
        cv2.fillConvexPoly(torso, np.rint(points[corners]).astype(np.int32), 1)
        grow = max(1, int(0.02 * body_height))
        torso = cv2.dilate(torso, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    owner = np.full((height, width), "body", dtype="<U9")
    for name, bones in ARM_BONES.items():
        usable = [bone for bone in bones if valid[list(bone)].all()]
        if not usable:
            continue
        distance = np.min([_segment_distance(pixels, points[a], points[b]) for a, b in usable], axis=0)
        owner[(distance < body_distance) & (distance < config.arm_radius * body_height) & (torso == 0)] = name
    return owner
