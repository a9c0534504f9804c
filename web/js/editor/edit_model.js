// The edit document (sparse keyframes stored in the node's keyframes_json widget) and its live preview.
//
// The preview is a port of apply_edits in choreo/edit/apply.py, so what the artist sees while editing is what
// the render gets (tests/test_editor_parity.py runs both on the same documents and compares every frame):
// - the pose is a tree rooted at the mid-hip (layout.js PARENT); a keyed joint turns the bone from its parent
//   towards its target, keeping the bone's length, so a target out of reach lands on the line towards it;
// - a keyframe that keys both hips also moves the root, by the shift of the hips' midpoint, and one that keys
//   at least WHOLE_BODY_MIN_JOINTS body joints scales every bone by the median ratio of keyed bone lengths;
// - each joint's turn is interpolated between the keyframes that list it with the ease of the later one, and
//   faded in (with the first keyframe's ease) and out (smoothly) over `blend_frames` around them;
// - locked joints stay at their source position and their keyframe targets are ignored;
// - unkeyed joints follow their parent rigidly, so hands and face follow their limbs.
// Change apply.py and this file together.

import { BODY_START, FEET_START, HIPS, NUM_KEYPOINTS, PARENT, ROOT, TOPO_ORDER } from "./layout.js";

export const EASES = ["linear", "smooth", "hold"];
const DOCUMENT_VERSION = 1;
const DEFAULT_BLEND_FRAMES = 6;

/** A fresh document, used when the widget holds "{}" or nothing usable. */
export function emptyDocument(fingerprint = "", blendFrames = DEFAULT_BLEND_FRAMES) {
  return { version: DOCUMENT_VERSION, source_fingerprint: fingerprint, blend_frames: blendFrames,
    keyframes: [], locked_joints: [] };
}

/**
 * Parse the widget text into a normalised document; never throws, so a hand-mangled widget cannot stop the
 * editor from opening. Returns {doc, error} where error is a message or null.
 */
export function parseDocument(text) {
  let raw;
  try {
    raw = JSON.parse(text && text.trim() ? text : "{}");
  } catch (err) {
    return { doc: emptyDocument(), error: `keyframes_json is not valid JSON (${err.message}); starting empty.` };
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    return { doc: emptyDocument(), error: "keyframes_json is not a JSON object; starting empty." };
  }
  const doc = emptyDocument(typeof raw.source_fingerprint === "string" ? raw.source_fingerprint : "",
    Number.isInteger(raw.blend_frames) && raw.blend_frames >= 0 ? raw.blend_frames : DEFAULT_BLEND_FRAMES);
  for (const kf of Array.isArray(raw.keyframes) ? raw.keyframes : []) {
    if (!kf || !Number.isInteger(kf.frame) || kf.frame < 0) continue;
    const joints = {};
    for (const [key, xy] of Object.entries(kf.joints || {})) {
      const j = Number(key);
      if (Number.isInteger(j) && j >= 0 && j < NUM_KEYPOINTS && Array.isArray(xy)
          && Number.isFinite(xy[0]) && Number.isFinite(xy[1])) joints[j] = [xy[0], xy[1]];
    }
    doc.keyframes.push({ frame: kf.frame, ease: EASES.includes(kf.ease) ? kf.ease : "smooth", joints });
  }
  doc.keyframes.sort((a, b) => a.frame - b.frame);
  doc.locked_joints = (Array.isArray(raw.locked_joints) ? raw.locked_joints : [])
    .filter((j) => Number.isInteger(j) && j >= 0 && j < NUM_KEYPOINTS);
  return { doc, error: null };
}

/** "3 keyframes" for the document text in the widget ("no keyframes" for {} or text that is not a document). */
export function keyframeSummary(text) {
  const { doc } = parseDocument(text);
  const count = doc.keyframes.length;
  return count ? `${count} keyframe${count === 1 ? "" : "s"}` : "no keyframes";
}

const round2 = (v) => Math.round(v * 100) / 100;

/** Compact JSON for the widget: coordinates to 0.01 px so saved workflows stay small and diffable. */
export function serializeDocument(doc) {
  return JSON.stringify({
    version: DOCUMENT_VERSION,
    source_fingerprint: doc.source_fingerprint,
    blend_frames: doc.blend_frames,
    keyframes: doc.keyframes.map((kf) => ({
      frame: kf.frame, ease: kf.ease,
      joints: Object.fromEntries(Object.entries(kf.joints).map(([j, xy]) => [j, [round2(xy[0]), round2(xy[1])]])),
    })),
    locked_joints: [...doc.locked_joints].sort((a, b) => a - b),
  });
}

/** The keyframe at exactly `frame`, or undefined. */
export function keyframeAt(doc, frame) {
  return doc.keyframes.find((kf) => kf.frame === frame);
}

/**
 * Pin joints at `frame`, merging into an existing keyframe there (its ease kept) or creating one with `ease`.
 * `joints` maps keypoint index -> [x, y] in canvas pixels. Mutates and returns doc (callers snapshot for undo).
 */
export function setKeyframeJoints(doc, frame, joints, ease = "smooth") {
  let kf = keyframeAt(doc, frame);
  if (!kf) {
    kf = { frame, ease, joints: {} };
    doc.keyframes.push(kf);
    doc.keyframes.sort((a, b) => a.frame - b.frame);
  }
  for (const [j, xy] of Object.entries(joints)) kf.joints[j] = [xy[0], xy[1]];
  return doc;
}

/** Remove the keyframe at `frame`; returns whether one existed. */
export function deleteKeyframe(doc, frame) {
  const before = doc.keyframes.length;
  doc.keyframes = doc.keyframes.filter((kf) => kf.frame !== frame);
  return doc.keyframes.length !== before;
}

/**
 * Frames where retiming the keyframes at `frames` by `shift` frames would land on a keyframe that is not
 * moving (sorted; empty when the move is free).
 */
export function retimeConflicts(doc, frames, shift) {
  const moving = new Set(frames);
  const staying = new Set(doc.keyframes.filter((kf) => !moving.has(kf.frame)).map((kf) => kf.frame));
  return frames.map((f) => f + shift).filter((f) => staying.has(f)).sort((a, b) => a - b);
}

/**
 * Retime the keyframes at `frames` together by `shift` frames (spacing, poses and eases unchanged).
 * Refused, leaving doc untouched, when a keyframe would leave [0, numFrames - 1] or land on a keyframe that
 * is not moving: a retime never merges or destroys keyframes. Returns whether the keyframes moved.
 */
export function moveKeyframes(doc, frames, shift, numFrames = Infinity) {
  const moving = new Set(frames);
  const keys = doc.keyframes.filter((kf) => moving.has(kf.frame));
  if (!shift || !keys.length) return false;
  if (keys.some((kf) => kf.frame + shift < 0 || kf.frame + shift > numFrames - 1)) return false;
  if (retimeConflicts(doc, frames, shift).length) return false;
  for (const kf of keys) kf.frame += shift;
  doc.keyframes.sort((a, b) => a.frame - b.frame);
  return true;
}

/** Set the ease of the keyframes at `frames`; returns how many changed. */
export function setKeyframesEase(doc, frames, ease) {
  if (!EASES.includes(ease)) throw new Error(`unknown ease "${ease}"; use one of ${EASES.join(", ")}`);
  let changed = 0;
  for (const f of frames) {
    const kf = keyframeAt(doc, f);
    if (kf && kf.ease !== ease) { kf.ease = ease; changed++; }
  }
  return changed;
}

/** Toggle the lock of each joint in `joints` as a group: all become locked unless all already were. */
export function toggleLocks(doc, joints) {
  const locked = new Set(doc.locked_joints);
  const lockAll = joints.some((j) => !locked.has(j));
  for (const j of joints) (lockAll ? locked.add(j) : locked.delete(j));
  doc.locked_joints = [...locked];
}

/**
 * Pin `joints` ({index: [x, y]}) at `frame` like setKeyframeJoints, leaving locked joints out (the apply step
 * ignores their targets). Returns whether anything was pinned.
 */
export function pinJoints(doc, frame, joints, ease = "smooth") {
  const locked = new Set(doc.locked_joints);
  const allowed = Object.fromEntries(Object.entries(joints).filter(([j]) => !locked.has(Number(j))));
  if (!Object.keys(allowed).length) return false;
  setKeyframeJoints(doc, frame, allowed, ease);
  return true;
}

/**
 * What a pose edit at `frame` needs besides the shown pose (see pose_ops.js): the shown mid-hip root `root`
 * ([x, y], from EditPreview.poseAt), the joints the keyframe at `frame` already pins and the locked joints.
 */
export function editContext(doc, frame, root) {
  const kf = keyframeAt(doc, frame);
  return { root: [root[0], root[1]], keyed: new Set(kf ? Object.keys(kf.joints).map(Number) : []),
    locked: new Set(doc.locked_joints) };
}

const TAU = Math.PI * 2;
export const WHOLE_BODY_MIN_JOINTS = 12; // body joints a keyframe must key before a change of size is read from it
export const SCALE_TOLERANCE = 0.005; // relative size changes below this are rounding in the editor, not a scale
const BODY_STOP = FEET_START - BODY_START;
const HAS_CHILDREN = new Uint8Array(NUM_KEYPOINTS);
for (const p of PARENT) if (p !== ROOT) HAS_CHILDREN[p] = 1;

/** Angle mapped to [-pi, pi), as wrap_angle in choreo/edit/joint_space.py. */
export function wrapAngle(a) {
  if (a >= -Math.PI && a < Math.PI) return a;
  const m = (a + Math.PI) % TAU;
  return (m < 0 ? m + TAU : m) - Math.PI;
}

/** numpy.unwrap of a sequence of angles (period 2 pi): consecutive values never jump by more than pi. */
function unwrap(values) {
  const out = values.slice();
  let correction = 0;
  for (let i = 1; i < values.length; i++) {
    const step = values[i] - values[i - 1];
    if (Math.abs(step) >= Math.PI) {
      let folded = (((step + Math.PI) % TAU) + TAU) % TAU - Math.PI;
      if (folded === -Math.PI && step > 0) folded = Math.PI;
      correction += folded - step;
    }
    out[i] = values[i] + correction;
  }
  return out;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Ease curves for the segment leading into a keyframe; u in [0, 1]. */
export function ease(name, u) {
  if (name === "hold") return u >= 1 ? 1 : 0;
  if (name === "linear") return u;
  return u * u * (3 - 2 * u);
}

/**
 * A keyed channel: `frames` increasing, `values` (frames.length x channels), `eases` per keyframe. Sampling
 * follows _offset_curve in apply.py: the keyframe values on their frames, eased in between, faded from 0
 * before the first (with its ease) and back to 0 after the last (smooth) over `blend` frames.
 */
function makeTrack(frames, values, eases, channels) {
  return { frames, values: Float64Array.from(values), eases, channels };
}

function sampleTrack(track, t, blend, out) {
  const { frames, values, eases, channels: C } = track;
  const n = frames.length;
  if (t < frames[0]) {
    const u = blend === 0 ? 0 : Math.min(Math.max((t - (frames[0] - blend)) / blend, 0), 1);
    const w = ease(eases[0], u);
    for (let c = 0; c < C; c++) out[c] = w * values[c];
    return out;
  }
  if (t >= frames[n - 1]) {
    const dt = t - frames[n - 1];
    const u = blend === 0 ? (dt > 0 ? 1 : 0) : Math.min(dt / blend, 1);
    const w = 1 - ease("smooth", u);
    for (let c = 0; c < C; c++) out[c] = w * values[(n - 1) * C + c];
    return out;
  }
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (frames[mid] <= t) lo = mid; else hi = mid;
  }
  const w = ease(eases[hi], (t - frames[lo]) / (frames[hi] - frames[lo]));
  for (let c = 0; c < C; c++) {
    const a = values[lo * C + c];
    out[c] = a + w * (values[hi * C + c] - a);
  }
  return out;
}

/**
 * The editor's live preview: the pose of any frame with the document applied, as apply_edits computes it.
 * `keypoints` is the decoded (T, 136, 3) float32 source; one instance lives as long as the editor is open.
 * setDocument builds per-joint tracks (cheap: work grows with joints x keyframes, not with T); poseAt is
 * forward kinematics over one source frame.
 */
export class EditPreview {
  constructor(keypoints, numFrames) {
    this.src = keypoints;
    this.numFrames = numFrames;
    this.active = false;
    this.blend = 0;
    this.locked = new Uint8Array(NUM_KEYPOINTS);
    this.tracks = new Array(NUM_KEYPOINTS).fill(null);
    this.rootTrack = null;
    this.bonesByFrame = new Map();
    this.turn = new Float64Array(NUM_KEYPOINTS);
    this.scale = new Float64Array(NUM_KEYPOINTS);
    this.points = new Float64Array(NUM_KEYPOINTS * 2);
    this.sample = new Float64Array(3);
  }

  /**
   * Source joint space of frame t (apply.py to_joint_space), cached since the source never changes:
   * {root: [x, y] mid-hip, angle: (136) bone directions in radians, length: (136) bone lengths in px}.
   */
  sourceBones(t) {
    let bones = this.bonesByFrame.get(t);
    if (bones) return bones;
    const s = this.src;
    const base = t * NUM_KEYPOINTS * 3;
    const root = [0.5 * (s[base + HIPS[0] * 3] + s[base + HIPS[1] * 3]),
      0.5 * (s[base + HIPS[0] * 3 + 1] + s[base + HIPS[1] * 3 + 1])];
    const angle = new Float64Array(NUM_KEYPOINTS);
    const length = new Float64Array(NUM_KEYPOINTS);
    for (let j = 0; j < NUM_KEYPOINTS; j++) {
      const p = PARENT[j];
      const vx = s[base + j * 3] - (p === ROOT ? root[0] : s[base + p * 3]);
      const vy = s[base + j * 3 + 1] - (p === ROOT ? root[1] : s[base + p * 3 + 1]);
      angle[j] = Math.atan2(vy, vx);
      length[j] = Math.hypot(vx, vy);
    }
    bones = { root, angle, length };
    if (this.bonesByFrame.size > 4096) this.bonesByFrame.clear();
    this.bonesByFrame.set(t, bones);
    return bones;
  }

  /** Rebuild the tracks after any document change (a few ms for fifty whole-body keyframes). */
  setDocument(doc) {
    const T = this.numFrames;
    const J = NUM_KEYPOINTS;
    const locked = new Uint8Array(J);
    for (const j of doc.locked_joints) locked[j] = 1;
    const keyframes = doc.keyframes.filter((kf) => kf.frame < T && Object.keys(kf.joints).length);
    this.locked = locked;
    this.blend = doc.blend_frames;
    this.active = keyframes.length > 0;
    this.tracks = new Array(J).fill(null);
    this.rootTrack = null;
    if (!this.active) return;
    const K = keyframes.length;
    const B = this.blend;
    const frames = Int32Array.from(keyframes, (kf) => kf.frame);
    const bones = keyframes.map((kf) => this.sourceBones(kf.frame));

    // Unlocked targets as (K, 136) arrays; keyed[k * J + j] says whether keyframe k pins joint j.
    const keyed = new Uint8Array(K * J);
    const tx = new Float64Array(K * J);
    const ty = new Float64Array(K * J);
    const keyCount = new Int32Array(J);
    keyframes.forEach((kf, k) => {
      for (const key in kf.joints) {
        const j = Number(key);
        if (locked[j]) continue;
        keyed[k * J + j] = 1;
        tx[k * J + j] = kf.joints[key][0];
        ty[k * J + j] = kf.joints[key][1];
        keyCount[j]++;
      }
    });

    // The root channel (dx_px, dy_px, log scale) from keyframes that key both hips (apply.py _root_keys).
    const rootFrames = [];
    const rootValues = [];
    const rootEases = [];
    for (let k = 0; k < K; k++) {
      const [a, b] = [k * J + HIPS[0], k * J + HIPS[1]];
      if (!keyed[a] || !keyed[b]) continue;
      rootFrames.push(frames[k]);
      rootValues.push(0.5 * (tx[a] + tx[b]) - bones[k].root[0], 0.5 * (ty[a] + ty[b]) - bones[k].root[1],
        Math.log(this.wholeBodyScale(frames[k], keyed.subarray(k * J, (k + 1) * J),
          tx.subarray(k * J, (k + 1) * J), ty.subarray(k * J, (k + 1) * J), bones[k])));
      rootEases.push(keyframes[k].ease);
    }
    if (rootFrames.length) this.rootTrack = makeTrack(rootFrames, rootValues, rootEases, 3);

    // Joint tracks in tree order: a joint's turn at its keyframes is relative to its parent's edited pose
    // there, so the edited pose of every keyframe frame is built joint by joint alongside the tracks.
    // Rows are (K) per joint, and row J holds the root.
    const px = new Float64Array((J + 1) * K);
    const py = new Float64Array((J + 1) * K);
    const turn = new Float64Array((J + 1) * K);
    const scale = new Float64Array((J + 1) * K);
    const d = this.sample;
    for (let k = 0; k < K; k++) {
      if (this.rootTrack) sampleTrack(this.rootTrack, frames[k], B, d); else d.fill(0);
      px[J * K + k] = bones[k].root[0] + d[0];
      py[J * K + k] = bones[k].root[1] + d[1];
      scale[J * K + k] = Math.exp(d[2]);
    }
    for (let i = 0; i < J; i++) {
      const j = TOPO_ORDER[i];
      const P = (PARENT[j] === ROOT ? J : PARENT[j]) * K;
      const R = j * K;
      if (locked[j]) {
        for (let k = 0; k < K; k++) {
          const o = (frames[k] * J + j) * 3;
          px[R + k] = this.src[o];
          py[R + k] = this.src[o + 1];
          scale[R + k] = 1;
        }
        continue;
      }
      let track = null;
      if (keyCount[j]) {
        const keyFrames = [];
        const offsets = [];
        const eases = [];
        for (let k = 0; k < K; k++) {
          if (!keyed[k * J + j]) continue;
          const angle = bones[k].angle[j];
          const dx = tx[k * J + j] - px[P + k];
          const dy = ty[k * J + j] - py[P + k];
          const needed = Math.sqrt(dx * dx + dy * dy) > 1e-9 ? Math.atan2(dy, dx) : angle + turn[P + k];
          keyFrames.push(frames[k]);
          offsets.push(wrapAngle(needed - angle - turn[P + k]));
          eases.push(keyframes[k].ease);
        }
        track = makeTrack(keyFrames, unwrap(offsets), eases, 1);
        this.tracks[j] = track;
      }
      if (!HAS_CHILDREN[j]) continue; // nothing hangs off a leaf, so its pose at the keyframes is not needed
      for (let k = 0; k < K; k++) {
        const local = track ? sampleTrack(track, frames[k], B, d)[0] : 0;
        const a = bones[k].angle[j] + turn[P + k] + local;
        const reach = scale[P + k] * bones[k].length[j];
        px[R + k] = px[P + k] + reach * Math.cos(a);
        py[R + k] = py[P + k] + reach * Math.sin(a);
        turn[R + k] = turn[P + k] + local;
        scale[R + k] = scale[P + k];
      }
    }
  }

  /**
   * Median ratio of keyed to source bone lengths of a keyframe that keys the whole body, else 1
   * (apply.py _whole_body_scale). keyed, tx, ty: (136) the keyframe's unlocked pins; bones: sourceBones.
   */
  wholeBodyScale(frame, keyed, tx, ty, bones) {
    let body = 0;
    for (let j = 0; j < BODY_STOP; j++) body += keyed[j];
    if (body < WHOLE_BODY_MIN_JOINTS) return 1;
    const s = this.src;
    const base = frame * NUM_KEYPOINTS * 3;
    const ratios = [];
    for (let j = 0; j < NUM_KEYPOINTS; j++) {
      const p = PARENT[j] !== ROOT ? PARENT[j] : (j === HIPS[0] ? HIPS[1] : -1);
      if (!keyed[j] || p < 0 || !keyed[p]) continue;
      const original = PARENT[j] !== ROOT ? bones.length[j]
        : Math.hypot(s[base + j * 3] - s[base + p * 3], s[base + j * 3 + 1] - s[base + p * 3 + 1]);
      if (original > 1e-6) ratios.push(Math.hypot(tx[j] - tx[p], ty[j] - ty[p]) / original);
    }
    if (ratios.length < 3) return 1;
    const ratio = median(ratios);
    return Math.abs(ratio - 1) < SCALE_TOLERANCE ? 1 : ratio;
  }

  /**
   * The edited pose at frame t into `out` (Float32Array of 136*3: x, y, conf) and, when given, the edited
   * mid-hip root into `rootOut` ([x, y]). Called once per drawn frame, so it allocates nothing.
   */
  poseAt(t, out, rootOut = null) {
    const s = this.src;
    const base = t * NUM_KEYPOINTS * 3;
    const P = this.points;
    const turn = this.turn;
    const scale = this.scale;
    const d = this.sample;
    const srcRootX = 0.5 * (s[base + HIPS[0] * 3] + s[base + HIPS[1] * 3]);
    const srcRootY = 0.5 * (s[base + HIPS[0] * 3 + 1] + s[base + HIPS[1] * 3 + 1]);
    if (!this.active) {
      for (let i = 0; i < NUM_KEYPOINTS * 3; i++) out[i] = s[base + i];
      if (rootOut) { rootOut[0] = srcRootX; rootOut[1] = srcRootY; }
      return out;
    }
    if (this.rootTrack) sampleTrack(this.rootTrack, t, this.blend, d); else d.fill(0);
    const rootX = srcRootX + d[0];
    const rootY = srcRootY + d[1];
    const rootScale = Math.exp(d[2]);
    for (const j of TOPO_ORDER) {
      const o = j * 3;
      const p = PARENT[j];
      out[o + 2] = s[base + o + 2];
      if (this.locked[j]) {
        P[j * 2] = s[base + o];
        P[j * 2 + 1] = s[base + o + 1];
        turn[j] = 0;
        scale[j] = 1;
      } else {
        const track = this.tracks[j];
        const local = track ? sampleTrack(track, t, this.blend, d)[0] : 0;
        const fromRoot = p === ROOT;
        turn[j] = (fromRoot ? 0 : turn[p]) + local;
        scale[j] = fromRoot ? rootScale : scale[p];
        const vx = s[base + o] - (fromRoot ? srcRootX : s[base + p * 3]);
        const vy = s[base + o + 1] - (fromRoot ? srcRootY : s[base + p * 3 + 1]);
        const angle = Math.atan2(vy, vx) + turn[j];
        const reach = scale[j] * Math.sqrt(vx * vx + vy * vy);
        P[j * 2] = (fromRoot ? rootX : P[p * 2]) + reach * Math.cos(angle);
        P[j * 2 + 1] = (fromRoot ? rootY : P[p * 2 + 1]) + reach * Math.sin(angle);
      }
      out[o] = P[j * 2];
      out[o + 1] = P[j * 2 + 1];
    }
    if (rootOut) { rootOut[0] = rootX; rootOut[1] = rootY; }
    return out;
  }
}

/**
 * Undo/redo over document snapshots (serialised JSON), so every change, whatever produced it, is undoable.
 */
export class History {
  constructor(limit = 200) {
    this.limit = limit;
    this.past = [];
    this.future = [];
  }

  /** Remember `snapshot` (the state before a change) and forget the redo branch. */
  record(snapshot) {
    if (this.past[this.past.length - 1] === snapshot) return;
    this.past.push(snapshot);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }

  /** The snapshot to restore, given the current one; null when there is nothing to undo. */
  undo(current) {
    if (!this.past.length) return null;
    this.future.push(current);
    return this.past.pop();
  }

  /** The snapshot to restore, given the current one; null when there is nothing to redo. */
  redo(current) {
    if (!this.future.length) return null;
    this.past.push(current);
    return this.future.pop();
  }
}
