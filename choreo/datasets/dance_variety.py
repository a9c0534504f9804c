"""Seeded variety for the dance engine: style, energy, body proportions, camera and mirroring per dance.

One song danced many times teaches a learned generator little unless each dance differs in the
ways real data does: who dances (body proportions within human ranges), how (style, seed,
energy), and how it was filmed (camera yaw and pitch, framing, a mirrored take). Every choice is
drawn from a generator keyed by the dance's identity, so a dance is rebuilt exactly from its
manifest row and adding songs never changes the dances of the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from ..motion.choreographer import STYLES
from ..motion.motion3d import Motion3D
from ..motion.skeleton import MIRROR, Skeleton
from ..pose.sequence import PoseSequence2D

# Bones (by the SMPL joint they end at) scaled together: legs, arms and trunk vary apart, as in people.
LEG_JOINTS = (4, 5, 7, 8, 10, 11)
ARM_JOINTS = (18, 19, 20, 21, 22, 23)
TRUNK_JOINTS = (1, 2, 3, 6, 9, 12, 13, 14, 15, 16, 17)
_MIRROR_X = np.diag([-1.0, 1.0, 1.0])  # x is the dancer's left-right axis in the world and in SMPL's body frame
_MIRROR_CONTACTS = [1, 0, 3, 2]  # foot contacts (L ankle, R ankle, L foot, R foot) swap sides


@dataclass(frozen=True)
class VarietyConfig:
    """Ranges each dance is drawn from (uniform); the defaults stay within adult human proportions."""

    styles: tuple[str, ...] = STYLES
    energy_scale_range: tuple[float, float] = (0.7, 1.3)
    height_scale_range: tuple[float, float] = (0.9, 1.1)  # x SMPL's neutral body, about 1.55-1.9 m tall
    part_scale_range: tuple[float, float] = (0.94, 1.06)  # legs, arms and trunk each, on top of the height
    yaw_range_deg: tuple[float, float] = (-45.0, 45.0)
    pitch_range_deg: tuple[float, float] = (-5.0, 10.0)
    mirror_probability: float = 0.5
    framing_scale_range: tuple[float, float] = (0.55, 1.1)  # dancer size on the canvas, x the projector's fit
    framing_shift_norm: float = 0.2  # largest sideways shift, share of the canvas width


@dataclass(frozen=True)
class Variation:
    """Everything that makes one dance of a clip differ from another; recorded in the manifest."""

    style: str
    choreography_seed: int
    energy_scale: float
    height_scale: float
    leg_scale: float
    arm_scale: float
    trunk_scale: float
    yaw_deg: float
    pitch_deg: float
    mirrored: bool
    framing_scale: float
    framing_shift_x_norm: float
    framing_shift_y_norm: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def key_of(text: str) -> int:
    """A stable 32-bit integer for a name (Python's ``hash`` of a str changes between runs)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def draw_variation(config: VarietyConfig, seed: int, dance_id: str) -> Variation:
    """The variation of dance ``dance_id`` in a build seeded with ``seed``; same inputs, same variation."""
    rng = np.random.default_rng([seed, key_of(dance_id)])

    def uniform(bounds: tuple[float, float]) -> float:
        return round(float(rng.uniform(*bounds)), 4)

    return Variation(
        style=str(config.styles[rng.integers(len(config.styles))]), choreography_seed=int(rng.integers(2**31 - 1)),
        energy_scale=uniform(config.energy_scale_range), height_scale=uniform(config.height_scale_range),
        leg_scale=uniform(config.part_scale_range), arm_scale=uniform(config.part_scale_range),
        trunk_scale=uniform(config.part_scale_range), yaw_deg=uniform(config.yaw_range_deg),
        pitch_deg=uniform(config.pitch_range_deg), mirrored=bool(rng.random() < config.mirror_probability),
        framing_scale=uniform(config.framing_scale_range),
        framing_shift_x_norm=uniform((-config.framing_shift_norm, config.framing_shift_norm)),
        framing_shift_y_norm=uniform((-0.05, 0.1)))


def varied_skeleton(variation: Variation, base: Skeleton | None = None) -> Skeleton:
    """``base`` (SMPL's neutral body) with legs, arms and trunk scaled by the variation, then the height."""
    lengths = (base or Skeleton.default()).bone_lengths_m.copy()
    for joints, scale in ((LEG_JOINTS, variation.leg_scale), (ARM_JOINTS, variation.arm_scale),
                          (TRUNK_JOINTS, variation.trunk_scale)):
        lengths[list(joints)] *= scale
    return (base or Skeleton.default()).with_bone_lengths(lengths * variation.height_scale)


def mirror_motion(motion: Motion3D) -> Motion3D:
    """The dance reflected left-right (x -> -x): the left arm does what the right arm did, body mirrored too.

    Reflecting a rotation is S R S with S = diag(-1, 1, 1); each joint takes its partner's rotation
    (``skeleton.MIRROR``). The skeleton's offsets are mirrored the same way, so joint positions are
    exactly the reflected positions of the partner joints.
    """
    rotations = _MIRROR_X @ np.asarray(motion.rotations, np.float64)[:, list(MIRROR)] @ _MIRROR_X
    offsets = motion.skeleton.rest_offsets_m[list(MIRROR)] @ _MIRROR_X
    return Motion3D((motion.root_translation_m * np.float32([-1, 1, 1])).astype(np.float32),
                    rotations.astype(np.float32), motion.foot_contacts[:, _MIRROR_CONTACTS].copy(), motion.fps,
                    Skeleton(offsets))


def reframe(seq: PoseSequence2D, variation: Variation) -> PoseSequence2D:
    """Scale the dancer about the canvas centre by ``framing_scale`` and shift by the variation's shares."""
    size = np.array([seq.canvas_width, seq.canvas_height], np.float32)
    shift = np.array([variation.framing_shift_x_norm, variation.framing_shift_y_norm], np.float32) * size
    points = (seq.keypoints_px - size / 2) * variation.framing_scale + size / 2 + shift
    return dataclasses.replace(seq, keypoints_px=points.astype(np.float32))
