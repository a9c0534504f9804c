// Pure pose edits: each takes the displayed pose (Float32Array of 136*3: x, y, conf) and returns the joints
// to pin as {index: [x, y]}, which the overlay writes into the keyframe at the playhead.

import { MIRROR, NUM_KEYPOINTS, PARENT, descendants } from "./layout.js";

const xy = (pose, j) => [pose[j * 3], pose[j * 3 + 1]];

/** Indices of the joints with confidence > 0 (the ones drawn and editable). */
export function visibleJoints(pose) {
  const out = [];
  for (let j = 0; j < NUM_KEYPOINTS; j++) if (pose[j * 3 + 2] > 0) out.push(j);
  return out;
}

/** Mean position of `joints`, the pivot for scaling and mirroring a selection. */
export function centroid(pose, joints) {
  let x = 0;
  let y = 0;
  for (const j of joints) { x += pose[j * 3]; y += pose[j * 3 + 1]; }
  return [x / Math.max(joints.length, 1), y / Math.max(joints.length, 1)];
}

/**
 * Move joint j to `target`; joints pinned in the same keyframe below it (`keyed`) turn with its bone the way
 * unpinned ones do under forward kinematics, so a pinned hand still follows a dragged wrist.
 */
function dragJoint(pose, j, target, keyed) {
  const edit = { [j]: target };
  const p = PARENT[j];
  const [ox, oy] = xy(pose, j);
  let turn = 0;
  if (p >= 0) {
    const [px, py] = xy(pose, p);
    turn = Math.atan2(target[1] - py, target[0] - px) - Math.atan2(oy - py, ox - px);
  }
  const c = Math.cos(turn);
  const s = Math.sin(turn);
  for (const d of descendants(j)) {
    if (!keyed.has(d)) continue;
    const vx = pose[d * 3] - ox;
    const vy = pose[d * 3 + 1] - oy;
    edit[d] = [target[0] + c * vx - s * vy, target[1] + s * vx + c * vy];
  }
  return edit;
}

/**
 * Turn joint j around its parent towards `pointer`, keeping the bone length: the Python apply step keeps every
 * bone at its own length, so a dragged joint is shown where the render will put it. The root moves freely.
 */
export function rotateLimb(pose, j, pointer, keyed) {
  const p = PARENT[j];
  if (p < 0) return dragJoint(pose, j, pointer, keyed);
  const [px, py] = xy(pose, p);
  const [ox, oy] = xy(pose, j);
  const length = Math.hypot(ox - px, oy - py);
  const angle = Math.atan2(pointer[1] - py, pointer[0] - px);
  return dragJoint(pose, j, [px + length * Math.cos(angle), py + length * Math.sin(angle)], keyed);
}

/**
 * Translate `joints` by (dx, dy), pinning each (the Python apply reads a whole-body move from the pinned
 * hips); pinned descendants not in the set move along.
 */
export function translateJoints(pose, joints, dx, dy, keyed) {
  const set = new Set(joints);
  const edit = {};
  for (const j of joints) edit[j] = [pose[j * 3] + dx, pose[j * 3 + 1] + dy];
  for (const j of joints) {
    for (const d of descendants(j)) {
      if (keyed.has(d) && !set.has(d)) edit[d] = [pose[d * 3] + dx, pose[d * 3 + 1] + dy];
    }
  }
  return edit;
}

/** Scale `joints` by `factor` about `pivot` (whole-body resize); every joint is pinned since lengths change. */
export function scaleJoints(pose, joints, factor, pivot) {
  const edit = {};
  for (const j of joints) {
    edit[j] = [pivot[0] + (pose[j * 3] - pivot[0]) * factor, pivot[1] + (pose[j * 3 + 1] - pivot[1]) * factor];
  }
  return edit;
}

/**
 * Mirror left/right about the vertical line through `pivotX`: each joint takes its partner's reflected
 * position, so a whole body swaps sides and a selected left arm copies the right arm's pose.
 */
export function mirrorJoints(pose, joints, pivotX) {
  const edit = {};
  for (const j of joints) {
    const m = MIRROR[j];
    if (pose[m * 3 + 2] <= 0) continue;
    edit[j] = [2 * pivotX - pose[m * 3], pose[m * 3 + 1]];
  }
  return edit;
}

/** Positions of `joints` as a plain object, for the clipboard and the pose library. */
export function capture(pose, joints) {
  const out = {};
  for (const j of joints) out[j] = xy(pose, j);
  return out;
}
