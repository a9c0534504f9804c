"""Rotation conversions in numpy: axis-angle, matrices, quaternions and the 6D form.

Matrices are the canonical form in Choreo (no sign or order ambiguity); the others
exist for file formats (SMPL axis-angle, EDGE 6D) and for interpolation (quaternion
slerp). Quaternions are (w, x, y, z). All functions broadcast over leading axes.
The 6D form follows pytorch3d's ``matrix_to_rotation_6d`` as used by EDGE: the
first two *rows* of the matrix, flattened.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

_EPS = 1e-8


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula.

    axis_angle : (..., 3) float, radians times unit axis.
    returns    : (..., 3, 3) float.
    """
    aa = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, _EPS)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    skew = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), skew.shape)
    return eye + s * skew + (1.0 - c) * (skew @ skew)


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """Shepperd's method, numerically stable for every angle; returns w >= 0.

    matrix : (..., 3, 3).  returns : (..., 4) as (w, x, y, z).
    """
    m = np.asarray(matrix, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Four candidate solutions; pick, per element, the one with the largest divisor.
    q_abs = np.sqrt(np.maximum(0.0, np.stack([
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ], axis=-1)))
    candidates = np.stack([
        np.stack([q_abs[..., 0] ** 2, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], q_abs[..., 1] ** 2, m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], q_abs[..., 2] ** 2, m[..., 2, 1] + m[..., 1, 2]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 2, 0] + m[..., 0, 2], m[..., 2, 1] + m[..., 1, 2], q_abs[..., 3] ** 2], -1),
    ], axis=-2)
    candidates = candidates / (2.0 * np.maximum(q_abs[..., None], 0.1))
    best = np.argmax(q_abs, axis=-1)
    quat = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    return np.where(quat[..., :1] < 0, -quat, quat)


def quaternion_to_matrix(quat: np.ndarray) -> np.ndarray:
    """quat : (..., 4) (w, x, y, z), any norm.  returns : (..., 3, 3)."""
    q = np.asarray(quat, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


def quaternion_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """quat : (..., 4) (w, x, y, z).  returns : (..., 3), angle in [0, pi]."""
    q = np.asarray(quat, dtype=np.float64)
    q = np.where(q[..., :1] < 0, -q, q)
    sin_half = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    return q[..., 1:] * angle / np.maximum(sin_half, _EPS)


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """matrix : (..., 3, 3).  returns : (..., 3), the SMPL pose parameterisation."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def matrix_to_rotation_6d(matrix: np.ndarray) -> np.ndarray:
    """EDGE's 6D form: first two rows of R.  matrix : (..., 3, 3).  returns : (..., 6)."""
    m = np.asarray(matrix)
    return m[..., :2, :].reshape(m.shape[:-2] + (6,))


def rotation_6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """Gram-Schmidt back to a proper rotation (Zhou et al. 2019), rows as in pytorch3d.

    d6 : (..., 6).  returns : (..., 3, 3).
    """
    d = np.asarray(d6, dtype=np.float64)
    a1, a2 = d[..., :3], d[..., 3:]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), _EPS)
    b2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = b2 / np.maximum(np.linalg.norm(b2, axis=-1, keepdims=True), _EPS)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-2)


def euler_to_matrix(angles_rad: np.ndarray, order: str = "xyz") -> np.ndarray:
    """Intrinsic Euler angles to matrices, R = R_order[0] @ R_order[1] @ R_order[2].

    angles_rad : (..., 3) radians, one per letter of ``order``.
    """
    angles = np.asarray(angles_rad, dtype=np.float64)
    result = None
    for i, axis in enumerate(order):
        vec = np.zeros(angles.shape[:-1] + (3,))
        vec[..., "xyz".index(axis)] = angles[..., i]
        rot = axis_angle_to_matrix(vec)
        result = rot if result is None else result @ rot
    return result


def slerp(q0: np.ndarray, q1: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """Shortest-path spherical interpolation of (w, x, y, z) quaternions.

    q0, q1 : (..., 4).  weight : broadcastable to (...,), 0 gives q0, 1 gives q1.
    """
    a = np.asarray(q0, dtype=np.float64)
    b = np.asarray(q1, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    safe = np.where(near, 1.0, sin_theta)
    wa = np.where(near, 1.0 - w, np.sin((1.0 - w) * theta) / safe)
    wb = np.where(near, w, np.sin(w * theta) / safe)
    out = wa * a + wb * b
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def low_pass_rotations(matrices: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian low-pass of rotation tracks along axis 0: (T, ..., 3, 3) in, same out.

    Quaternions are sign-aligned frame to frame (so the filter never averages q with -q), filtered
    per component and renormalised: for the small frame-to-frame steps of a dance this equals filtering
    on the rotation manifold to first order. Edges are held (``mode="nearest"``).
    """
    if sigma_frames <= 0 or len(matrices) < 2:
        return matrices
    quats = matrix_to_quaternion(matrices)
    flips = np.sum(quats[1:] * quats[:-1], axis=-1) < 0
    signs = np.concatenate([np.ones((1,) + flips.shape[1:]), np.cumprod(np.where(flips, -1.0, 1.0), axis=0)])
    smooth = gaussian_filter1d(quats * signs[..., None], sigma_frames, axis=0, mode="nearest")
    return quaternion_to_matrix(smooth / np.linalg.norm(smooth, axis=-1, keepdims=True))
