"""The whole-body 2D keypoint layout shared by every 2D pose in Choreo.

It is ComfyUI's ``POSE_KEYPOINT`` person, flattened in a fixed order so a frame is
one (K, 2) array: OpenPose COCO-18 body, 6 feet points (DWPose order), 70 face
points (68 + two pupils), 21 left-hand and 21 right-hand points. K = 136.
"""

from __future__ import annotations

BODY_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)
FEET_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
NUM_FACE = 70
NUM_HAND = 21

# (POSE_KEYPOINT key, first index, count) for each part, in layout order.
PARTS: tuple[tuple[str, int, int], ...] = (
    ("pose_keypoints_2d", 0, 18),
    ("foot_keypoints_2d", 18, 6),
    ("face_keypoints_2d", 24, NUM_FACE),
    ("hand_left_keypoints_2d", 94, NUM_HAND),
    ("hand_right_keypoints_2d", 115, NUM_HAND),
)
NUM_KEYPOINTS = 136
BODY = slice(0, 18)
FEET = slice(18, 24)
FACE = slice(24, 94)
LEFT_HAND = slice(94, 115)
RIGHT_HAND = slice(115, 136)

B = {name: i for i, name in enumerate(BODY_NAMES)}
F = {name: 18 + i for i, name in enumerate(FEET_NAMES)}

# OpenPose body limbs (pairs of body indices) with OpenPose's colours, in drawing order.
BODY_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
BODY_COLORS_RGB: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
# Hand bones in the 21-point hand layout: wrist 0, then 4 points per finger.
HAND_BONES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 1 + 4 * finger + k - 1, 1 + 4 * finger + k) for finger in range(5) for k in range(4)
)
FEET_BONES: tuple[tuple[int, int], ...] = (
    (B["left_ankle"], F["left_big_toe"]), (B["left_ankle"], F["left_small_toe"]), (B["left_ankle"], F["left_heel"]),
    (B["right_ankle"], F["right_big_toe"]), (B["right_ankle"], F["right_small_toe"]), (B["right_ankle"], F["right_heel"]),
)
# Left/right partner of every keypoint, for mirroring.
def _mirror_table() -> tuple[int, ...]:
    table = list(range(NUM_KEYPOINTS))
    for name, i in B.items():
        other = name.replace("left", "@").replace("right", "left").replace("@", "right")
        table[i] = B[other]
    for name, i in F.items():
        other = name.replace("left", "@").replace("right", "left").replace("@", "right")
        table[i] = F[other]
    for k in range(NUM_HAND):
        table[LEFT_HAND.start + k] = RIGHT_HAND.start + k
        table[RIGHT_HAND.start + k] = LEFT_HAND.start + k
    # Face: iBUG-68 contour 0..16 mirrors to 16..0, brows 17..21 <-> 26..22, nose tip row
    # 31..35 <-> 35..31, eyes 36..41 <-> 45..42 style; pupils 68 <-> 69.
    face_pairs = [(i, 16 - i) for i in range(17)] + [(17 + i, 26 - i) for i in range(5)]
    face_pairs += [(27 + i, 27 + i) for i in range(4)] + [(31 + i, 35 - i) for i in range(5)]
    face_pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    face_pairs += [(48, 54), (49, 53), (50, 52), (51, 51), (55, 59), (56, 58), (57, 57)]
    face_pairs += [(60, 64), (61, 63), (62, 62), (65, 67), (66, 66), (68, 69)]
    for a, b in face_pairs:
        table[FACE.start + a] = FACE.start + b
        table[FACE.start + b] = FACE.start + a
    return tuple(table)


MIRROR = _mirror_table()
