// The 136-keypoint whole-body layout, mirrored from choreo/pose/layout.py.
// Body 0-17 (OpenPose COCO-18 order), feet 18-23, face 24-93, left hand 94-114, right hand 115-135.

export const NUM_KEYPOINTS = 136;
export const BODY_START = 0;
export const FEET_START = 18;
export const FACE_START = 24;
export const NUM_FACE = 70;
export const LEFT_HAND_START = 94;
export const RIGHT_HAND_START = 115;
export const NUM_HAND = 21;

export const BODY_NAMES = [
  "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
  "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
  "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
];
export const FEET_NAMES = [
  "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
];

export const NECK = 1;
export const HIPS = [8, 11];
/**
 * Parent index of the joints that hang off the virtual mid-hip point (the neck and both hips): the kinematic
 * tree is rooted at the midpoint of the hips, as in choreo/edit/joint_space.py.
 */
export const ROOT = -1;

export const BODY_LIMBS = [
  [1, 2], [1, 5], [2, 3], [3, 4], [5, 6], [6, 7], [1, 8], [8, 9], [9, 10],
  [1, 11], [11, 12], [12, 13], [1, 0], [0, 14], [14, 16], [0, 15], [15, 17],
];
export const BODY_COLORS_RGB = [
  [255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
  [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
  [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85],
];

/** Hand bones in the 21-point hand layout: wrist 0, then 4 points per finger. */
export const HAND_BONES = [];
for (let finger = 0; finger < 5; finger++) {
  for (let k = 0; k < 4; k++) {
    HAND_BONES.push([k === 0 ? 0 : 1 + 4 * finger + k - 1, 1 + 4 * finger + k]);
  }
}

const LEFT_ANKLE = 13;
const RIGHT_ANKLE = 10;
export const FEET_BONES = [
  [LEFT_ANKLE, 18], [LEFT_ANKLE, 19], [LEFT_ANKLE, 20],
  [RIGHT_ANKLE, 21], [RIGHT_ANKLE, 22], [RIGHT_ANKLE, 23],
];

function swapSide(name) {
  return name.replace("left", "@").replace("right", "left").replace("@", "right");
}

function buildMirror() {
  const table = Array.from({ length: NUM_KEYPOINTS }, (_, i) => i);
  BODY_NAMES.forEach((name, i) => { table[i] = BODY_NAMES.indexOf(swapSide(name)); });
  FEET_NAMES.forEach((name, i) => { table[FEET_START + i] = FEET_START + FEET_NAMES.indexOf(swapSide(name)); });
  for (let k = 0; k < NUM_HAND; k++) {
    table[LEFT_HAND_START + k] = RIGHT_HAND_START + k;
    table[RIGHT_HAND_START + k] = LEFT_HAND_START + k;
  }
  const pairs = [];
  for (let i = 0; i < 17; i++) pairs.push([i, 16 - i]);
  for (let i = 0; i < 5; i++) pairs.push([17 + i, 26 - i]);
  for (let i = 0; i < 4; i++) pairs.push([27 + i, 27 + i]);
  for (let i = 0; i < 5; i++) pairs.push([31 + i, 35 - i]);
  pairs.push([36, 45], [37, 44], [38, 43], [39, 42], [40, 47], [41, 46]);
  pairs.push([48, 54], [49, 53], [50, 52], [51, 51], [55, 59], [56, 58], [57, 57]);
  pairs.push([60, 64], [61, 63], [62, 62], [65, 67], [66, 66], [68, 69]);
  for (const [a, b] of pairs) {
    table[FACE_START + a] = FACE_START + b;
    table[FACE_START + b] = FACE_START + a;
  }
  return table;
}

/** Left/right partner of every keypoint, for mirroring (same table as layout.MIRROR in Python). */
export const MIRROR = buildMirror();

function buildParents() {
  const parent = new Int16Array(NUM_KEYPOINTS).fill(ROOT);
  for (const [a, b] of BODY_LIMBS) if (!HIPS.includes(b)) parent[b] = a;
  parent[NECK] = ROOT;
  for (const [a, b] of FEET_BONES) parent[b] = a;
  for (let i = FACE_START; i < FACE_START + NUM_FACE; i++) parent[i] = 0;
  const handRoots = [[LEFT_HAND_START, 7], [RIGHT_HAND_START, 4]];
  for (const [start, wrist] of handRoots) {
    parent[start] = wrist;
    for (const [a, b] of HAND_BONES) parent[start + b] = start + a;
  }
  return parent;
}

/**
 * Parent of each keypoint in the kinematic tree (ROOT for the neck and the hips), the same tree as PARENT in
 * choreo/edit/joint_space.py: OpenPose draws neck-to-hip lines, but the bones are mid-hip-to-neck and
 * mid-hip-to-hip, so the preview and the Python apply step turn the same bones. tests/test_editor_parity.py
 * checks the two trees are equal.
 */
export const PARENT = buildParents();

function buildOrder() {
  const order = [];
  for (let j = 0; j < NUM_KEYPOINTS; j++) if (PARENT[j] === ROOT) order.push(j);
  for (let head = 0; head < order.length; head++) {
    for (let j = 0; j < NUM_KEYPOINTS; j++) if (PARENT[j] === order[head]) order.push(j);
  }
  return Int16Array.from(order);
}

/** Keypoints ordered parents-before-children, for forward kinematics in one pass. */
export const TOPO_ORDER = buildOrder();

/** Human-readable name of a keypoint, shown in the editor's status line. */
export function keypointName(j) {
  if (j < FEET_START) return BODY_NAMES[j];
  if (j < FACE_START) return FEET_NAMES[j - FEET_START];
  if (j < LEFT_HAND_START) return `face_${j - FACE_START}`;
  if (j < RIGHT_HAND_START) return `left_hand_${j - LEFT_HAND_START}`;
  return `right_hand_${j - RIGHT_HAND_START}`;
}
