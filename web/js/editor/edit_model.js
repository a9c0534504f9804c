// The edit document (sparse keyframes stored in the node's keyframes_json widget) and its live preview.
//
// Preview semantics, mirroring the Python apply step:
// - every keyframe pins the joints it lists to absolute canvas pixels at its frame;
// - a keyed joint becomes a change of its bone (parent -> joint) in joint space: an angle change relative to
//   its parent bone and a log length ratio; the root (neck), or a joint whose parent is not visible, becomes a
//   translation. Unkeyed joints keep their source bone, so hands and face follow their limbs;
// - each joint's changes are interpolated between the keyframes that list it, with the ease of the later
//   keyframe (linear, smooth, hold); before the first and after the last they fade in and out over
//   `blend_frames` frames with a smooth ease;
// - forward kinematics over the source pose of each frame rebuilds positions, so unedited bone lengths hold.

import { NUM_KEYPOINTS, PARENT, TOPO_ORDER } from "./layout.js";

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

/** Move a keyframe to another frame (snap to beat); a keyframe already there absorbs its joints. */
export function moveKeyframe(doc, fromFrame, toFrame) {
  const kf = keyframeAt(doc, fromFrame);
  if (!kf || fromFrame === toFrame) return;
  deleteKeyframe(doc, fromFrame);
  setKeyframeJoints(doc, toFrame, kf.joints, kf.ease);
}

/** Toggle the lock of each joint in `joints` as a group: all become locked unless all already were. */
export function toggleLocks(doc, joints) {
  const locked = new Set(doc.locked_joints);
  const lockAll = joints.some((j) => !locked.has(j));
  for (const j of joints) (lockAll ? locked.add(j) : locked.delete(j));
  doc.locked_joints = [...locked];
}

const TAU = Math.PI * 2;
const wrap = (a) => a - TAU * Math.round(a / TAU);

/** Ease curves for the segment leading into a keyframe; u in [0, 1]. */
export function ease(name, u) {
  if (name === "hold") return u >= 1 ? 1 : 0;
  if (name === "linear") return u;
  return u * u * (3 - 2 * u);
}

/**
 * Per-joint change tracks built from the document, evaluated per frame against the source sequence.
 * `keypoints` is the decoded (T, 136, 3) float32 array; one instance lives as long as the editor is open.
 */
export class EditPreview {
  constructor(keypoints, numFrames) {
    this.src = keypoints;
    this.numFrames = numFrames;
    this.tracks = new Array(NUM_KEYPOINTS).fill(null);
    this.blendFrames = 0;
    this.phi = new Float64Array(NUM_KEYPOINTS);
    this.pose = new Float64Array(NUM_KEYPOINTS * 2);
  }

  /** Rebuild the tracks after any document change (cheap: 136 joints per keyframe). */
  setDocument(doc) {
    this.blendFrames = doc.blend_frames;
    const tracks = new Array(NUM_KEYPOINTS).fill(null);
    for (const kf of doc.keyframes) {
      if (kf.frame >= this.numFrames) continue;
      for (const [j, key] of this.keyframeChanges(kf)) (tracks[j] ||= []).push(key);
    }
    this.tracks = tracks;
  }

  /** Joint-space changes that reproduce keyframe `kf` exactly on its own frame. */
  keyframeChanges(kf) {
    const base = kf.frame * NUM_KEYPOINTS * 3;
    const s = this.src;
    const P = this.pose;
    const phi = this.phi;
    const changes = [];
    for (const j of TOPO_ORDER) {
      const p = PARENT[j];
      const sx = s[base + j * 3];
      const sy = s[base + j * 3 + 1];
      const keyed = kf.joints[j];
      const parentVisible = p >= 0 && s[base + p * 3 + 2] > 0;
      if (s[base + j * 3 + 2] <= 0 || !parentVisible) {
        const x = keyed ? keyed[0] : sx;
        const y = keyed ? keyed[1] : sy;
        P[j * 2] = x;
        P[j * 2 + 1] = y;
        phi[j] = p >= 0 && parentVisible ? phi[p] : 0;
        if (keyed) changes.push([j, { frame: kf.frame, ease: kf.ease, dTheta: 0, dLogLen: 0, dx: x - sx, dy: y - sy }]);
        continue;
      }
      const vx = sx - s[base + p * 3];
      const vy = sy - s[base + p * 3 + 1];
      const vLen = Math.hypot(vx, vy);
      if (keyed && vLen > 1e-3) {
        const ux = keyed[0] - P[p * 2];
        const uy = keyed[1] - P[p * 2 + 1];
        phi[j] = wrap(Math.atan2(uy, ux) - Math.atan2(vy, vx));
        P[j * 2] = keyed[0];
        P[j * 2 + 1] = keyed[1];
        changes.push([j, { frame: kf.frame, ease: kf.ease, dTheta: wrap(phi[j] - phi[p]),
          dLogLen: Math.log(Math.max(Math.hypot(ux, uy), 1e-3) / vLen), dx: keyed[0] - sx, dy: keyed[1] - sy }]);
      } else {
        phi[j] = phi[p];
        const c = Math.cos(phi[p]);
        const n = Math.sin(phi[p]);
        P[j * 2] = P[p * 2] + c * vx - n * vy;
        P[j * 2 + 1] = P[p * 2 + 1] + n * vx + c * vy;
      }
    }
    return changes;
  }

  /** Interpolated change of one track at frame t, written into `out` [dTheta, dLogLen, dx, dy]. */
  sample(track, t, out) {
    const first = track[0];
    const last = track[track.length - 1];
    let a;
    let b;
    let w;
    if (t <= first.frame || t >= last.frame) {
      const key = t <= first.frame ? first : last;
      const dist = Math.abs(t - key.frame);
      const B = this.blendFrames;
      w = dist === 0 ? 1 : B > 0 && dist < B ? ease("smooth", 1 - dist / B) : 0;
      out[0] = key.dTheta * w; out[1] = key.dLogLen * w; out[2] = key.dx * w; out[3] = key.dy * w;
      return;
    }
    let lo = 0;
    let hi = track.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (track[mid].frame <= t) lo = mid; else hi = mid;
    }
    a = track[lo];
    b = track[hi];
    w = ease(b.ease, (t - a.frame) / (b.frame - a.frame));
    out[0] = a.dTheta + wrap(b.dTheta - a.dTheta) * w;
    out[1] = a.dLogLen + (b.dLogLen - a.dLogLen) * w;
    out[2] = a.dx + (b.dx - a.dx) * w;
    out[3] = a.dy + (b.dy - a.dy) * w;
  }

  /**
   * The edited pose at frame t into `out` (Float32Array of 136*3: x, y, conf), by forward kinematics over the
   * source pose of that frame. Called once per drawn frame, so it allocates nothing.
   */
  poseAt(t, out) {
    const s = this.src;
    const base = t * NUM_KEYPOINTS * 3;
    const phi = this.phi;
    const d = [0, 0, 0, 0];
    for (const j of TOPO_ORDER) {
      const p = PARENT[j];
      const o = j * 3;
      const sx = s[base + o];
      const sy = s[base + o + 1];
      const conf = s[base + o + 2];
      out[o + 2] = conf;
      const track = this.tracks[j];
      if (track) this.sample(track, t, d); else d[0] = d[1] = d[2] = d[3] = 0;
      const parentVisible = p >= 0 && s[base + p * 3 + 2] > 0;
      if (conf <= 0 || !parentVisible) {
        out[o] = sx + d[2];
        out[o + 1] = sy + d[3];
        phi[j] = p >= 0 && parentVisible ? phi[p] : 0;
        continue;
      }
      phi[j] = phi[p] + d[0];
      const vx = sx - s[base + p * 3];
      const vy = sy - s[base + p * 3 + 1];
      const scale = Math.exp(d[1]);
      const c = Math.cos(phi[j]) * scale;
      const n = Math.sin(phi[j]) * scale;
      out[o] = out[p * 3] + c * vx - n * vy;
      out[o + 1] = out[p * 3 + 1] + n * vx + c * vy;
    }
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
