"""MediaPipe's landmark sets mapped onto Choreo's 136-point whole body.

BlazePose gives 33 body landmarks (plus 6 for its own crop), the face mesh 468 points
and the hand model 21 points. OpenPose-18 body points map one to one except the neck
(mid-shoulder, as OpenPose defines it). The hand's 21 points are already in OpenPose's
hand order. The 68 iBUG face points are the usual face-mesh subset; the two pupils are
the centres of the eye contours (this face model has no iris).
"""

from __future__ import annotations

import numpy as np

from .layout import B, F, NUM_KEYPOINTS

# BlazePose landmark indices.
BLAZE = {name: i for i, name in enumerate((
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
))}
NUM_BLAZE = 33
# Landmarks 33 and 34 span the crop for the next pass: hip centre and a point a body's height away.
ROI_CENTRE, ROI_SCALE = 33, 34

BODY_FROM_BLAZE = {B[name]: BLAZE[name] for name in B if name in BLAZE}
FEET_FROM_BLAZE = {
    F["left_big_toe"]: BLAZE["left_foot_index"], F["left_heel"]: BLAZE["left_heel"],
    F["right_big_toe"]: BLAZE["right_foot_index"], F["right_heel"]: BLAZE["right_heel"],
}
# BlazePose has no small toe: it is placed a third of the way from the big toe to the heel, a quarter
# of a foot further from the other foot, at half the confidence. (small toe, big toe, heel, other big toe)
SMALL_TOES = ((F["left_small_toe"], F["left_big_toe"], F["left_heel"], F["right_big_toe"]),
              (F["right_small_toe"], F["right_big_toe"], F["right_heel"], F["left_big_toe"]))

# iBUG-68 points from the 468-point face mesh: jaw 17, brows 5 + 5, nose 4 + 5, eyes 6 + 6, lips 12 + 8.
FACE68_FROM_MESH = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)
RIGHT_EYE68, LEFT_EYE68 = slice(36, 42), slice(42, 48)


def body_from_blaze(points_px: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose (33, 2) points and (33,) visibilities -> (136, 2) layout points and (136,) confidences.

    Only the body and feet are filled; face and hands stay 0 (absent) for the part models.
    """
    points = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    confidence = np.zeros(NUM_KEYPOINTS, np.float32)
    for target, source in (*BODY_FROM_BLAZE.items(), *FEET_FROM_BLAZE.items()):
        points[target] = points_px[source]
        confidence[target] = visibility[source]
    shoulders = (BLAZE["right_shoulder"], BLAZE["left_shoulder"])
    points[B["neck"]] = points_px[list(shoulders)].mean(axis=0)
    confidence[B["neck"]] = visibility[list(shoulders)].min()
    for small, big, heel, other in SMALL_TOES:
        toe, back = points[big], points[heel]
        outward = toe - points[other]
        outward /= max(float(np.linalg.norm(outward)), 1e-6)
        points[small] = toe + (back - toe) / 3.0 + outward * 0.25 * float(np.linalg.norm(toe - back))
        confidence[small] = 0.5 * min(confidence[big], confidence[heel])
    return points, confidence


def face_from_mesh(mesh_px: np.ndarray) -> np.ndarray:
    """(468, 2) face-mesh points -> (70, 2): iBUG-68 then right and left pupil."""
    face = mesh_px[list(FACE68_FROM_MESH)]
    pupils = np.stack([face[RIGHT_EYE68].mean(axis=0), face[LEFT_EYE68].mean(axis=0)])
    return np.concatenate([face, pupils]).astype(np.float32)

