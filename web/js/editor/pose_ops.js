// Pure pose edits. Each takes the shown pose (Float32Array of 136*3: x, y, conf, as EditPreview.poseAt draws
// it) and an edit context (edit_model.js editContext: the shown mid-hip `root`, the joints the keyframe at the
// playhead already pins `keyed`, the `locked` joints), and returns the joints to pin as {index: [x, y]}.
//
// The apply step (choreo/edit/apply.py) keeps every bone at its length: a pinned joint turns the bone from its
// parent towards its pin, both hips pinned move the root (everything follows), and only a keyframe pinning
// the whole body can change its size. So every edit here is built as a change of bone directions plus a move
// of the root, by forward kinematics over the shown pose: each pin is where the render will put that joint,
// and what the artist drops is what the render shows.

import { HIPS, MIRROR, NUM_KEYPOINTS, PARENT, ROOT, TOPO_ORDER } from "./layout.js";
import { SCALE_TOLERANCE } from "./edit_model.js";

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

/** Midpoint of the hips of a pose laid out as 136*3 (x, y, conf). */
export function midHip(pose) {
  return [(pose[HIPS[0] * 3] + pose[HIPS[1] * 3]) / 2, (pose[HIPS[0] * 3 + 1] + pose[HIPS[1] * 3 + 1]) / 2];
}

/** The shown root: the context's (EditPreview.poseAt's rootOut), else the midpoint of the shown hips. */
function rootOf(pose, ctx) {
  return ctx.root || midHip(pose);
}

/**
 * Re-pose the shown skeleton by forward kinematics and return the pins that make the render show it.
 * `shift`: move of the root (mid-hip) in px. `turnTo(j, parentXY)`: the new direction [dx, dy] of the bone into
 * joint j given where its parent now is, or null to let j follow its parent rigidly. Bone lengths are those
 * shown; locked joints stay put and their children hang off them unchanged, as in the apply step.
 * Pins: turned joints, both hips when the root moves, and the joints already pinned in this keyframe (where
 * they now are, so a pinned hand follows a turned arm; re-pinning an unmoved one changes nothing rendered).
 */
export function repose(pose, ctx, { shift = [0, 0], turnTo = () => null }) {
  const root = rootOf(pose, ctx);
  const newRoot = [root[0] + shift[0], root[1] + shift[1]];
  const rootMoves = shift[0] !== 0 || shift[1] !== 0;
  const moved = new Float64Array(NUM_KEYPOINTS * 2);
  const turn = new Float64Array(NUM_KEYPOINTS);
  const pins = {};
  for (const j of TOPO_ORDER) {
    const p = PARENT[j];
    const [x, y] = xy(pose, j);
    if (ctx.locked.has(j)) {
      moved[j * 2] = x;
      moved[j * 2 + 1] = y;
      continue;
    }
    const [ox, oy] = p === ROOT ? root : xy(pose, p);
    const [nx, ny] = p === ROOT ? newRoot : [moved[p * 2], moved[p * 2 + 1]];
    const vx = x - ox;
    const vy = y - oy;
    const direction = turnTo(j, [nx, ny]);
    if (direction && Math.hypot(direction[0], direction[1]) > 1e-9) {
      const length = Math.hypot(vx, vy);
      const norm = Math.hypot(direction[0], direction[1]);
      turn[j] = Math.atan2(direction[1], direction[0]) - Math.atan2(vy, vx);
      moved[j * 2] = nx + (length * direction[0]) / norm;
      moved[j * 2 + 1] = ny + (length * direction[1]) / norm;
      pins[j] = [moved[j * 2], moved[j * 2 + 1]];
      continue;
    }
    turn[j] = p === ROOT ? 0 : turn[p];
    const c = Math.cos(turn[j]);
    const s = Math.sin(turn[j]);
    moved[j * 2] = nx + c * vx - s * vy;
    moved[j * 2 + 1] = ny + s * vx + c * vy;
    if ((rootMoves && HIPS.includes(j)) || ctx.keyed.has(j)) pins[j] = [moved[j * 2], moved[j * 2 + 1]];
  }
  return pins;
}

/**
 * Drag joint j towards `pointer`. A hip is where the body hangs from, so dragging one moves the whole body and
 * the hip lands on the pointer. Any other joint turns the bone from its parent (the neck: from the mid-hip, so
 * the upper body leans) towards the pointer, keeping the bone's length; what hangs below follows rigidly.
 */
export function rotateLimb(pose, j, pointer, ctx) {
  if (HIPS.includes(j)) return translateJoints(pose, [j], pointer[0] - pose[j * 3], pointer[1] - pose[j * 3 + 1], ctx);
  return repose(pose, ctx, {
    turnTo: (k, [px, py]) => (k === j ? [pointer[0] - px, pointer[1] - py] : null),
  });
}

/**
 * Move `joints` by (dx, dy). With a hip among them the root moves, so the whole body comes along; otherwise each
 * moved joint whose parent stays turns its bone towards its moved position (bones keep their lengths) and the
 * joints below it in the set keep their directions.
 */
export function translateJoints(pose, joints, dx, dy, ctx) {
  const set = new Set(joints);
  const moveRoot = HIPS.some((h) => set.has(h));
  const root = rootOf(pose, ctx);
  return repose(pose, ctx, {
    shift: moveRoot ? [dx, dy] : [0, 0],
    turnTo: (j, [px, py]) => {
      if (!set.has(j) || (moveRoot && HIPS.includes(j))) return null;
      const p = PARENT[j];
      const [ox, oy] = p === ROOT ? root : xy(pose, p);
      if (p === ROOT ? moveRoot : set.has(p)) return [pose[j * 3] - ox, pose[j * 3 + 1] - oy];
      return [pose[j * 3] + dx - px, pose[j * 3 + 1] + dy - py];
    },
  });
}

/**
 * Scale `joints` (the whole body) by `factor` about `pivot`. The apply step reads a change of size only from
 * a keyframe pinning the whole body, and ignores one under SCALE_TOLERANCE, so smaller factors pin the pose
 * unscaled rather than show a size the render would not make.
 */
export function scaleJoints(pose, joints, factor, pivot) {
  const f = Math.abs(factor - 1) < 2 * SCALE_TOLERANCE ? 1 : factor;
  const edit = {};
  for (const j of joints) {
    edit[j] = [pivot[0] + (pose[j * 3] - pivot[0]) * f, pivot[1] + (pose[j * 3 + 1] - pivot[1]) * f];
  }
  return edit;
}

/**
 * Give `joints` the bone directions of `source` (a pose laid out as 136*3) with the shown bone lengths; the
 * root goes to the source's mid-hip when both hips are among them. A joint turns only when it and its
 * parent (both hips for the root) are confident in the source; the others follow their parents rigidly.
 */
export function copyPose(pose, joints, source, ctx) {
  const set = new Set(joints.filter((j) => source[j * 3 + 2] > 0));
  const moveRoot = HIPS.every((h) => set.has(h));
  const sourceRoot = midHip(source);
  const root = rootOf(pose, ctx);
  return repose(pose, ctx, {
    shift: moveRoot ? [sourceRoot[0] - root[0], sourceRoot[1] - root[1]] : [0, 0],
    turnTo: (j) => {
      const p = PARENT[j];
      if (!set.has(j) || (p === ROOT ? !HIPS.every((h) => source[h * 3 + 2] > 0) : source[p * 3 + 2] <= 0)) {
        return null;
      }
      const [px, py] = p === ROOT ? sourceRoot : xy(source, p);
      return [source[j * 3] - px, source[j * 3 + 1] - py];
    },
  });
}

/**
 * Mirror left/right about the vertical line through `pivotX`: each joint takes its partner's mirrored bone
 * direction, keeping its own length, so a whole body swaps sides and a selected left arm copies the right
 * arm's pose. Joints whose partner is not visible keep following their parents.
 */
export function mirrorJoints(pose, joints, pivotX, ctx) {
  const mirrored = new Float32Array(NUM_KEYPOINTS * 3);
  for (let j = 0; j < NUM_KEYPOINTS; j++) {
    const m = MIRROR[j];
    mirrored[j * 3] = 2 * pivotX - pose[m * 3];
    mirrored[j * 3 + 1] = pose[m * 3 + 1];
    mirrored[j * 3 + 2] = pose[m * 3 + 2];
  }
  return copyPose(pose, joints, mirrored, ctx);
}

/** Positions of `joints` as a plain object, for K (pin what is shown). */
export function capture(pose, joints) {
  const out = {};
  for (const j of joints) out[j] = xy(pose, j);
  return out;
}
