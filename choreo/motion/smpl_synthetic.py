"""A synthetic body in SMPL's exact array layout, for tests and benchmarks without the licensed files.

It is a capsule figure, not a human: one closed ellipsoid per bone (rigidly skinned to the
bone's parent joint) plus a head, 6890 vertices like SMPL (unused ones sit at the pelvis).
What it guarantees is what the tests need: ``J_regressor @ v_template`` equals the rest joints
of a Choreo ``Skeleton`` exactly (each joint is the mean of six marker vertices around it),
the pelvis sits off the origin as in the real template (so translation handling is exercised),
shape coefficients move the joints (beta 0 scales the body, beta 1 widens it), and pose blend
shapes are small random offsets.
"""

from __future__ import annotations

import numpy as np

from .skeleton import NUM_JOINTS, PARENTS, Skeleton
from ..io.smpl_model_files import NUM_POSE_BASIS, NUM_VERTICES

# Rest pelvis of the synthetic template, metres, SMPL's y-up body frame (the real neutral one is ~(0, -0.24, 0.03)).
SYNTHETIC_PELVIS_M = np.array([0.002, -0.23, 0.028])
NUM_SYNTHETIC_BETAS = 10
_RINGS, _SEGMENTS = 12, 23  # per ellipsoid: 12 x 23 + 2 poles = 278 vertices, 552 faces
_MARKER_OFFSET_M = 0.01
_LIMB_RADIUS_M = 0.045
_TORSO_RADIUS_M = 0.11
_HEAD_RADIUS_M = 0.1
_TORSO_JOINTS = (3, 6, 9)  # spine bones: thick


def rest_joints_m(skeleton: Skeleton, pelvis_m: np.ndarray = SYNTHETIC_PELVIS_M) -> np.ndarray:
    """(24, 3) float64 rest joint positions, metres, y up: the pelvis plus the skeleton's offsets."""
    joints = np.empty((NUM_JOINTS, 3))
    joints[0] = pelvis_m
    for joint in range(1, NUM_JOINTS):
        joints[joint] = joints[PARENTS[joint]] + skeleton.rest_offsets_m[joint]
    return joints


def _ellipsoid(centre: np.ndarray, axis: np.ndarray, half_length: float,
               radius: float) -> tuple[np.ndarray, np.ndarray]:
    """((R*S+2, 3) vertices, (2*R*S, 3) faces, counter-clockwise from outside) of a UV ellipsoid along ``axis``."""
    axis = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    side = np.cross(axis, helper)
    side /= np.linalg.norm(side)
    other = np.cross(axis, side)
    polar = np.linspace(0.0, np.pi, _RINGS + 2)[1:-1]
    azimuth = np.linspace(0.0, 2 * np.pi, _SEGMENTS, endpoint=False)
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    ring = (np.cos(p)[..., None] * half_length * axis + np.sin(p)[..., None] * radius
            * (np.cos(a)[..., None] * side + np.sin(a)[..., None] * other)).reshape(-1, 3)
    vertices = np.concatenate([[half_length * axis], ring, [-half_length * axis]]) + centre
    top, bottom = 0, 1 + _RINGS * _SEGMENTS

    def index(r: int, s: int) -> int:
        return 1 + r * _SEGMENTS + s % _SEGMENTS

    faces = [(top, index(0, s), index(0, s + 1)) for s in range(_SEGMENTS)]
    for r in range(_RINGS - 1):
        for s in range(_SEGMENTS):
            faces += [(index(r, s), index(r + 1, s), index(r, s + 1)),
                      (index(r, s + 1), index(r + 1, s), index(r + 1, s + 1))]
    faces += [(bottom, index(_RINGS - 1, s + 1), index(_RINGS - 1, s)) for s in range(_SEGMENTS)]
    return vertices, np.array(faces, dtype=np.int64)


def synthetic_smpl_arrays(skeleton: Skeleton | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """The seven SMPL arrays (``smpl_model_files.SMPL_KEYS``) of the capsule body.

    skeleton : bone geometry whose rest joints ``J_regressor @ v_template`` reproduces (default Choreo's).
    seed     : draws the pose blend shapes and the small shape directions 2..9.
    """
    skeleton = skeleton or Skeleton.default()
    rng = np.random.default_rng(seed)
    joints = rest_joints_m(skeleton)
    parts, faces, owners = [], [], []
    bones = [(PARENTS[j], joints[PARENTS[j]], joints[j]) for j in range(1, NUM_JOINTS)]
    bones.append((15, joints[15], joints[15] + np.array([0.0, 1.2 * _HEAD_RADIUS_M, 0.0])))  # head
    for owner, start, end in bones:
        radius = _TORSO_RADIUS_M if owner in _TORSO_JOINTS or (owner == 0 and end[1] > start[1]) else _LIMB_RADIUS_M
        if owner == 15:
            radius = _HEAD_RADIUS_M
        half = 0.5 * np.linalg.norm(end - start) + 0.5 * radius
        vertices, part_faces = _ellipsoid(0.5 * (start + end), end - start, half, radius)
        faces.append(part_faces + sum(len(p) for p in parts))
        parts.append(vertices)
        owners.append(np.full(len(vertices), owner))
    markers = (joints[:, None, :] + _MARKER_OFFSET_M * np.concatenate([np.eye(3), -np.eye(3)])[None]).reshape(-1, 3)
    marker_start = sum(len(p) for p in parts)
    parts.append(markers)
    owners.append(np.repeat(np.arange(NUM_JOINTS), 6))
    padding = NUM_VERTICES - marker_start - len(markers)
    parts.append(np.repeat(joints[:1], padding, axis=0))
    owners.append(np.zeros(padding, dtype=np.int64))
    v_template = np.concatenate(parts)
    owner = np.concatenate(owners)

    j_regressor = np.zeros((NUM_JOINTS, NUM_VERTICES))
    for joint in range(NUM_JOINTS):
        j_regressor[joint, marker_start + 6 * joint: marker_start + 6 * joint + 6] = 1.0 / 6.0
    shapedirs = np.zeros((NUM_VERTICES, 3, NUM_SYNTHETIC_BETAS))
    shapedirs[:, :, 0] = 0.03 * v_template  # +1 beta: 3 % larger about the origin
    shapedirs[:, 0, 1] = 0.05 * v_template[:, 0]  # +1 beta: 5 % wider
    shapedirs[:, :, 2:] = 0.002 * rng.standard_normal((NUM_VERTICES, 3, NUM_SYNTHETIC_BETAS - 2))
    kintree = np.array([[2**32 - 1, *PARENTS[1:]], list(range(NUM_JOINTS))], dtype=np.int64)
    return {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "posedirs": 3e-4 * rng.standard_normal((NUM_VERTICES, 3, NUM_POSE_BASIS)),
        "J_regressor": j_regressor,
        "weights": np.eye(NUM_JOINTS)[owner],
        "kintree_table": kintree,
        "f": np.concatenate(faces).astype(np.uint32),
    }
