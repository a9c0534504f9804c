"""3D motion files: an EDGE-style NPZ for the pipeline and a BVH for Blender and other DCC tools.

NPZ keys (all float32 unless noted):
  smpl_poses (T, 72) axis-angle radians, z-up root (EDGE's saved-motion layout);
  smpl_trans (T, 3) metres; full_pose (T, 24, 3) joint positions, metres, z up;
  edge_151 (T, 151) EDGE's frame layout; foot_contacts (T, 4); fps () float64;
  rest_offsets_m (24, 3) float64. Loading reads the rotations from ``edge_151`` (exact
  to float32) rather than from the axis-angle copy.

BVH: y up, **metres** (Blender imports it at true size with the default scale 1.0),
the SMPL-24 joints with their rest offsets as the hierarchy (the rest pose is SMPL's
T-pose facing +z), a 6-channel root (position + rotation) and 3 rotation channels
per joint in ``Zrotation Xrotation Yrotation`` order, i.e. R = Rz @ Rx @ Ry with
degrees. Leaves (head, feet, hands) end in End Sites. Our z-up world maps to BVH's
y-up world by (x, y, z) -> (x, z, -y), the inverse of ``skeleton.UPRIGHT``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MotionInputError
from ..motion.motion3d import Motion3D, estimate_foot_contacts
from ..motion.rotations import euler_to_matrix
from ..motion.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, UPRIGHT, Skeleton, forward_kinematics

NPZ_KEYS = ("smpl_poses", "smpl_trans", "full_pose", "edge_151", "foot_contacts", "fps", "rest_offsets_m")
Z_UP_TO_BVH = UPRIGHT.T  # maps z-up world vectors to BVH's y-up world
BVH_EULER_ORDER = "zxy"
_END_SITE_FRACTION = 0.5  # a leaf's End Site continues its bone by half its length


def save_motion_npz(motion: Motion3D, path: str | Path) -> Path:
    """Write ``motion`` with the keys listed in the module docstring; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    poses, trans = motion.to_smpl()
    np.savez(out, smpl_poses=poses, smpl_trans=trans, full_pose=motion.joint_positions(), edge_151=motion.to_edge(),
             foot_contacts=motion.foot_contacts.astype(np.float32), fps=np.float64(motion.fps),
             rest_offsets_m=motion.skeleton.rest_offsets_m.astype(np.float64))
    return out


def load_motion_npz(path: str | Path) -> Motion3D:
    """Read a file written by ``save_motion_npz``."""
    src = Path(path)
    if not src.is_file():
        raise MotionInputError(f"motion file {src} does not exist; check the path.")
    with np.load(src) as data:
        missing = [key for key in NPZ_KEYS if key not in data.files]
        if missing:
            raise MotionInputError(
                f"motion file {src} lacks keys {missing}; it was not written by Choreo's save_motion_npz "
                f"(expected {list(NPZ_KEYS)}).")
        offsets = np.asarray(data["rest_offsets_m"], np.float64)
        if offsets.shape != (NUM_JOINTS, 3):
            raise MotionInputError(f"motion file {src}: rest_offsets_m must be (24, 3), got {offsets.shape}.")
        motion = Motion3D.from_edge(data["edge_151"], fps=float(data["fps"]), skeleton=Skeleton(offsets))
        # from_edge clips contacts to [0, 1]; keep the stored values as written
        contacts = np.asarray(data["foot_contacts"], np.float32)
    if contacts.shape != motion.foot_contacts.shape:
        raise MotionInputError(f"motion file {src}: foot_contacts must be {motion.foot_contacts.shape}, "
                               f"got {contacts.shape}.")
    return Motion3D(motion.root_translation_m, motion.rotations, contacts, motion.fps, motion.skeleton)


def _children() -> list[list[int]]:
    children: list[list[int]] = [[] for _ in range(NUM_JOINTS)]
    for joint in range(1, NUM_JOINTS):
        children[PARENTS[joint]].append(joint)
    return children


def bvh_joint_order() -> tuple[int, ...]:
    """SMPL joint indices in the depth-first order a BVH lists them (and its MOTION channels)."""
    children = _children()
    order: list[int] = []
    stack = [0]
    while stack:
        joint = stack.pop()
        order.append(joint)
        stack.extend(reversed(children[joint]))
    return tuple(order)


def _matrix_to_euler_zxy(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) radians (z, x, y) with R = Rz(z) @ Rx(x) @ Ry(y)."""
    m = np.asarray(matrix, np.float64)
    x = np.arcsin(np.clip(m[..., 2, 1], -1.0, 1.0))
    cos_x = np.sqrt(m[..., 2, 0] ** 2 + m[..., 2, 2] ** 2)
    regular = cos_x > 1e-6
    z = np.where(regular, np.arctan2(-m[..., 0, 1], m[..., 1, 1]), np.arctan2(m[..., 1, 0], m[..., 0, 0]))
    y = np.where(regular, np.arctan2(-m[..., 2, 0], m[..., 2, 2]), 0.0)  # gimbal lock: fold y into z
    return np.stack([z, x, y], axis=-1)


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def save_motion_bvh(motion: Motion3D, path: str | Path) -> Path:
    """Write a y-up, metre BVH of ``motion`` (layout in the module docstring); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    children = _children()
    offsets = motion.skeleton.rest_offsets_m
    lines = ["HIERARCHY"]

    def write_joint(joint: int, depth: int) -> None:
        pad = "  " * depth
        if joint == 0:
            lines.append(f"ROOT {JOINT_NAMES[0]}")
            channels = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
        else:
            lines.append(f"{pad}JOINT {JOINT_NAMES[joint]}")
            channels = "CHANNELS 3 Zrotation Xrotation Yrotation"
        lines.extend([f"{pad}{{", f"{pad}  OFFSET {_fmt(offsets[joint])}", f"{pad}  {channels}"])
        for child in children[joint]:
            write_joint(child, depth + 1)
        if not children[joint]:
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET {_fmt(offsets[joint] * _END_SITE_FRACTION)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    write_joint(0, 0)
    rotations = motion.rotations.astype(np.float64)
    rotations[:, 0] = Z_UP_TO_BVH @ rotations[:, 0]
    euler_deg = np.degrees(_matrix_to_euler_zxy(rotations[:, bvh_joint_order()]))
    root_pos = motion.root_translation_m.astype(np.float64) @ Z_UP_TO_BVH.T
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.10f}"]
    lines += [_fmt(np.concatenate([root_pos[t], euler_deg[t].ravel()])) for t in range(motion.num_frames)]
    out.write_text("\n".join(lines) + "\n")
    return out


def _parse_bvh(text: str, src: Path) -> tuple[list[str], dict[str, np.ndarray], dict[str, list[str]], float, np.ndarray]:
    """(joint names in file order, offsets, channel names, frame time, (T, C) channel values)."""
    tokens = text.split()
    names: list[str] = []
    offsets: dict[str, np.ndarray] = {}
    channels: dict[str, list[str]] = {}
    i = 0
    current: list[str] = []
    try:
        while tokens[i] != "MOTION":
            token = tokens[i]
            if token in ("ROOT", "JOINT"):
                current.append(tokens[i + 1])
                names.append(tokens[i + 1])
                i += 2
            elif token == "End":
                current.append("")
                i += 2
            elif token == "OFFSET":
                if current[-1]:
                    offsets[current[-1]] = np.array(tokens[i + 1:i + 4], np.float64)
                i += 4
            elif token == "CHANNELS":
                count = int(tokens[i + 1])
                channels[current[-1]] = tokens[i + 2:i + 2 + count]
                i += 2 + count
            elif token == "}":
                current.pop()
                i += 1
            else:
                i += 1
        num_frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array(tokens[i + 6:], np.float64)
    except (IndexError, ValueError) as exc:
        raise MotionInputError(f"BVH file {src} is malformed ({exc}); re-export it.") from exc
    width = sum(len(c) for c in channels.values())
    if values.size != num_frames * width:
        raise MotionInputError(f"BVH file {src} has {values.size} motion values, expected {num_frames} x {width}.")
    return names, offsets, channels, frame_time, values.reshape(num_frames, width)


def load_motion_bvh(path: str | Path) -> Motion3D:
    """Read an SMPL-24 BVH in the layout ``save_motion_bvh`` writes (any rotation channel order).

    Foot contacts are not stored in BVH, so they are re-estimated from the joint speeds.
    """
    src = Path(path)
    if not src.is_file():
        raise MotionInputError(f"BVH file {src} does not exist; check the path.")
    names, offsets, channels, frame_time, values = _parse_bvh(src.read_text(), src)
    if sorted(names) != sorted(JOINT_NAMES):
        raise MotionInputError(
            f"BVH file {src} is not an SMPL-24 skeleton (joints {names[:5]}...); only Choreo's BVH layout loads.")
    num_frames = len(values)
    rotations = np.empty((num_frames, NUM_JOINTS, 3, 3))
    root_pos = np.zeros((num_frames, 3))
    column = 0
    for name in names:
        joint = JOINT_NAMES.index(name)
        names_here = channels[name]
        block = values[:, column:column + len(names_here)]
        column += len(names_here)
        rot_axes = "".join(c[0].lower() for c in names_here if c.endswith("rotation"))
        rot_values = np.radians(block[:, [k for k, c in enumerate(names_here) if c.endswith("rotation")]])
        rotations[:, joint] = euler_to_matrix(rot_values, rot_axes)
        for k, channel in enumerate(names_here):
            if channel.endswith("position"):
                root_pos[:, "XYZ".index(channel[0])] = block[:, k]
    rotations[:, 0] = UPRIGHT @ rotations[:, 0]
    skeleton = Skeleton(np.stack([offsets[name] for name in JOINT_NAMES]))
    fps = round(1.0 / frame_time, 6)  # Frame Time is written to 1e-10 s; this recovers e.g. 30.0 exactly
    trans = root_pos @ UPRIGHT.T
    contacts = estimate_foot_contacts(forward_kinematics(skeleton, rotations, trans), fps)
    return Motion3D(trans.astype(np.float32), rotations.astype(np.float32), contacts, fps, skeleton)
