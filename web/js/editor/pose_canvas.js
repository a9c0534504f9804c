// The skeleton view: draws one frame in OpenPose colours over the dimmed reference image, and turns pointer
// gestures into pose edits (turn a limb, move/scale body, select). The view can show more than the picture:
// joints of a dance often leave the frame, so it zooms (wheel, about the pointer) and pans (middle-button
// drag, or Alt+drag) beyond it, and fit() frames any region (by default the picture and every joint).

import {
  BODY_COLORS_RGB, BODY_LIMBS, FACE_START, FEET_BONES, FEET_START, HAND_BONES, LEFT_HAND_START,
  NUM_FACE, NUM_HAND, NUM_KEYPOINTS, RIGHT_HAND_START,
} from "./layout.js";
import { centroid, rotateLimb, scaleJoints, translateJoints, visibleJoints } from "./pose_ops.js";

const rgb = ([r, g, b], a = 1) => `rgba(${r},${g},${b},${a})`;

function hsvToRgb(h) {
  const f = (n) => {
    const k = (n + h * 6) % 6;
    return Math.round(255 * (1 - Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

const HAND_COLORS = HAND_BONES.map((_, i) => rgb(hsvToRgb(i / HAND_BONES.length)));
const PICK_RADIUS_CSS = 12;
const OUTSIDE_COLOR = "#202124"; // the view around the picture
const MAX_ZOOM = 16; // times the fitted scale
const MIN_ZOOM = 1 / 8;

/**
 * The picture-pixel box [x0, y0, x1, y1] holding the picture (width x height) and every joint with a positive
 * confidence in any of the numFrames frames of `keypoints` ((T * 136 * 3) x, y, confidence), plus a margin
 * of 4% of the larger side: the view the editor opens with, so joints outside the picture stay reachable.
 */
export function danceExtent(keypoints, numFrames, width, height) {
  let [x0, y0, x1, y1] = [0, 0, width, height];
  const n = Math.min(numFrames * NUM_KEYPOINTS, Math.floor(keypoints.length / 3));
  for (let i = 0; i < n; i++) {
    if (!(keypoints[i * 3 + 2] > 0)) continue;
    const x = keypoints[i * 3];
    const y = keypoints[i * 3 + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < x0) x0 = x; else if (x > x1) x1 = x;
    if (y < y0) y0 = y; else if (y > y1) y1 = y;
  }
  const margin = 0.04 * Math.max(width, height);
  return [x0 - margin, y0 - margin, x1 + margin, y1 + margin];
}

/**
 * Draws poses and reports edits. `hooks`: isKeyed(j), isLocked(j), context() -> the edit context of the
 * playhead (edit_model.js editContext), onGestureStart(), onEdit(joints), onGestureEnd(),
 * onSelectionChange(selection), onHover(j), onLimbGrab(j) -> true when the limb into j is foreshortened
 * (its reach is then drawn while dragging), onViewChange(). The caller owns the pose: it calls setPose()
 * with the edited frame, then draw(). Coordinates in edits are picture pixels (width x height); the canvas
 * element fills its container and maps them with the view {scale: CSS px per picture px, x, y: CSS px}.
 */
export class PoseCanvas {
  constructor(canvas, width, height, hooks) {
    this.canvas = canvas;
    this.width = width;
    this.height = height;
    this.view = { scale: 1, x: 0, y: 0 };
    this.fitScale = 1;
    this.cssW = 1;
    this.cssH = 1;
    this.dpr = 1;
    this.pan = null;
    this.userView = false; // true once the artist zoomed or panned: a window resize then keeps the view
    this.ctx = canvas.getContext("2d");
    this.hooks = hooks;
    this.pose = new Float32Array(NUM_KEYPOINTS * 3);
    this.image = null;
    this.selection = new Set();
    this.hover = -1;
    this.mode = "joint";
    this.gesture = null;
    this.pendingMove = null;
    this.rafId = 0;
    this.lineWidth = Math.max(2, Math.round(Math.min(width, height) / 110));
    canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    canvas.addEventListener("pointercancel", (e) => this.onPointerUp(e));
    canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener("auxclick", (e) => e.preventDefault());
  }

  /** Match the backing store to the element's CSS size (on open and on window resize). */
  resize() {
    const rect = this.canvas.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.cssW = Math.max(1, rect.width);
    this.cssH = Math.max(1, rect.height);
    this.canvas.width = Math.round(this.cssW * this.dpr);
    this.canvas.height = Math.round(this.cssH * this.dpr);
  }

  /** Frame the picture-pixel box [x0, y0, x1, y1] in the view, centred (the picture itself by default). */
  fit(box = [0, 0, this.width, this.height]) {
    const [x0, y0, x1, y1] = box;
    const scale = Math.min(this.cssW / Math.max(x1 - x0, 1), this.cssH / Math.max(y1 - y0, 1));
    this.fitScale = scale;
    this.userView = false;
    this.setView(scale, (this.cssW - scale * (x0 + x1)) / 2, (this.cssH - scale * (y0 + y1)) / 2);
  }

  setView(scale, x, y) {
    this.view = { scale, x, y };
    const ds = this.canvas.dataset; // read by the browser test to find joints on screen
    ds.viewScale = String(scale);
    ds.viewX = String(x);
    ds.viewY = String(y);
    ds.dpr = String(this.dpr);
    this.hooks.onViewChange?.();
  }

  /** Zoom by `factor` keeping the picture point under CSS point (cx, cy) in place. */
  zoomAt(factor, cx, cy) {
    const { scale, x, y } = this.view;
    const next = Math.min(Math.max(scale * factor, this.fitScale * MIN_ZOOM), this.fitScale * MAX_ZOOM);
    this.userView = true;
    const px = (cx - x) / scale;
    const py = (cy - y) / scale;
    this.setView(next, cx - px * next, cy - py * next);
    this.draw();
  }

  onWheel(e) {
    e.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    this.zoomAt(Math.exp(-e.deltaY / 300), e.clientX - rect.left, e.clientY - rect.top);
  }

  /** The reference image drawn dimmed behind the skeleton (an HTMLImageElement, or null). */
  setImage(image) {
    this.image = image;
  }

  /** Show this pose (Float32Array 136*3); copied so the caller may reuse its buffer. */
  setPose(pose) {
    this.pose.set(pose);
  }

  /** Picture pixels per CSS pixel, for pick radii. */
  scale() {
    return 1 / this.view.scale;
  }

  /** The picture point under a pointer event. */
  toCanvas(e) {
    const rect = this.canvas.getBoundingClientRect();
    const { scale, x, y } = this.view;
    return [(e.clientX - rect.left - x) / scale, (e.clientY - rect.top - y) / scale];
  }

  /** The joint under canvas point (x, y): body and feet win over the hand and face points they overlap. */
  pick(x, y) {
    const r2 = (PICK_RADIUS_CSS * this.scale()) ** 2;
    let best = -1;
    let bestD = Infinity;
    for (let j = 0; j < NUM_KEYPOINTS; j++) {
      if (this.pose[j * 3 + 2] <= 0) continue;
      const d = (this.pose[j * 3] - x) ** 2 + (this.pose[j * 3 + 1] - y) ** 2;
      const bias = j < FACE_START ? 0.25 : 1;
      if (d < r2 && d * bias < bestD) {
        bestD = d * bias;
        best = j;
      }
    }
    return best;
  }

  onPointerDown(e) {
    if (e.button === 1 || (e.button === 0 && e.altKey)) { // middle button, or Alt+drag: pan the view
      e.preventDefault();
      this.canvas.setPointerCapture(e.pointerId);
      this.pan = { x: e.clientX, y: e.clientY, view: { ...this.view } };
      return;
    }
    if (e.button !== 0) return;
    this.canvas.setPointerCapture(e.pointerId);
    const [x, y] = this.toCanvas(e);
    const start = { x, y, pose: Float32Array.from(this.pose) };
    const ctx = this.hooks.context();
    if (this.mode === "body") {
      // The render can resize only the whole body, so shift+drag scales all of it whatever is selected.
      const scale = e.shiftKey;
      const joints = this.selection.size && !scale ? [...this.selection] : visibleJoints(this.pose);
      this.gesture = { kind: scale ? "scale" : "move", start, ctx, joints, pivot: centroid(this.pose, joints) };
      this.hooks.onGestureStart();
      return;
    }
    const j = this.pick(x, y);
    if (j < 0) {
      this.gesture = { kind: "box", start, additive: e.shiftKey, x, y };
      return;
    }
    if (e.shiftKey) {
      if (this.selection.has(j)) this.selection.delete(j); else this.selection.add(j);
      this.hooks.onSelectionChange(this.selection);
      this.draw();
      return;
    }
    if (!this.selection.has(j)) {
      this.selection = new Set([j]);
      this.hooks.onSelectionChange(this.selection);
    }
    if (this.hooks.isLocked(j)) {
      this.draw();
      return;
    }
    const grab = [this.pose[j * 3] - x, this.pose[j * 3 + 1] - y];
    const kind = this.selection.size > 1 ? "move" : "rotate";
    this.gesture = { kind, joint: j, grab, start, ctx, joints: [...this.selection] };
    if (kind === "rotate") this.gesture.foreshortened = Boolean(this.hooks.onLimbGrab?.(j));
    this.hooks.onGestureStart();
  }

  onPointerMove(e) {
    if (this.pan) {
      const { view } = this.pan;
      this.userView = true;
      this.setView(view.scale, view.x + e.clientX - this.pan.x, view.y + e.clientY - this.pan.y);
      this.draw();
      return;
    }
    if (!this.gesture) {
      const [x, y] = this.toCanvas(e);
      const j = this.pick(x, y);
      if (j !== this.hover) {
        this.hover = j;
        this.hooks.onHover(j);
        this.draw();
      }
      return;
    }
    // Coalesce: only the latest pointer position is processed, once per animation frame.
    this.pendingMove = { point: this.toCanvas(e), shift: e.shiftKey, timeStamp: e.timeStamp };
    if (!this.rafId) this.rafId = requestAnimationFrame(() => this.flushMove());
  }

  flushMove() {
    this.rafId = 0;
    const move = this.pendingMove;
    const g = this.gesture;
    this.pendingMove = null;
    if (!move || !g) return;
    const [x, y] = move.point;
    if (g.kind === "box") {
      g.x = x;
      g.y = y;
      this.draw();
      return;
    }
    const pose = g.start.pose;
    const dx = x - g.start.x;
    const dy = y - g.start.y;
    let edit;
    if (g.kind === "rotate") edit = rotateLimb(pose, g.joint, [x + g.grab[0], y + g.grab[1]], g.ctx);
    else if (g.kind === "move") edit = translateJoints(pose, g.joints, dx, dy, g.ctx);
    else edit = scaleJoints(pose, g.joints, Math.exp(-dy / 200), g.pivot);
    this.hooks.onEdit(edit, move.timeStamp);
  }

  onPointerUp(e) {
    if (this.pan) {
      this.pan = null;
      if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
      return;
    }
    const g = this.gesture;
    if (!g) return;
    if (this.pendingMove) {
      cancelAnimationFrame(this.rafId);
      this.flushMove();
    }
    this.gesture = null;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    if (g.kind === "box") {
      const [x0, x1] = [Math.min(g.start.x, g.x), Math.max(g.start.x, g.x)];
      const [y0, y1] = [Math.min(g.start.y, g.y), Math.max(g.start.y, g.y)];
      if (!g.additive) this.selection = new Set();
      for (const j of visibleJoints(this.pose)) {
        const px = this.pose[j * 3];
        const py = this.pose[j * 3 + 1];
        if (px >= x0 && px <= x1 && py >= y0 && py <= y1) this.selection.add(j);
      }
      this.hooks.onSelectionChange(this.selection);
      this.draw();
      return;
    }
    this.hooks.onGestureEnd();
  }

  /** Draw the current pose, selection, hover and box; one full redraw costs well under a millisecond. */
  draw() {
    const { ctx, canvas, pose } = this;
    const W = this.width;
    const H = this.height;
    const { scale, x: viewX, y: viewY } = this.view;
    const d = this.dpr;
    ctx.globalAlpha = 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = OUTSIDE_COLOR;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(d * scale, 0, 0, d * scale, d * viewX, d * viewY);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, W, H);
    if (this.image && this.image.complete && this.image.naturalWidth) {
      ctx.globalAlpha = 0.35;
      ctx.drawImage(this.image, 0, 0, W, H);
      ctx.globalAlpha = 1;
    }
    const vis = (j) => pose[j * 3 + 2] > 0;
    const line = (a, b, color, width) => {
      if (!vis(a) || !vis(b)) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(pose[a * 3], pose[a * 3 + 1]);
      ctx.lineTo(pose[b * 3], pose[b * 3 + 1]);
      ctx.stroke();
    };
    const dot = (j, color, r) => {
      if (!vis(j)) return;
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(pose[j * 3], pose[j * 3 + 1], r, 0, Math.PI * 2);
      ctx.fill();
    };
    const lw = this.lineWidth;
    ctx.strokeStyle = "rgba(255,255,255,0.25)"; // the picture's edge: what the render will show
    ctx.lineWidth = 1 / scale;
    ctx.strokeRect(0, 0, W, H);
    ctx.lineCap = "round";
    BODY_LIMBS.forEach(([a, b], i) => line(a, b, rgb(BODY_COLORS_RGB[i], 0.7), lw * 1.6));
    FEET_BONES.forEach(([a, b], i) => line(a, b, rgb(BODY_COLORS_RGB[i < 3 ? 11 : 8], 0.7), lw));
    for (const start of [LEFT_HAND_START, RIGHT_HAND_START]) {
      HAND_BONES.forEach(([a, b], i) => line(start + a, start + b, HAND_COLORS[i], Math.max(1, lw * 0.5)));
      for (let k = 0; k < NUM_HAND; k++) dot(start + k, "rgb(0,0,255)", Math.max(1.5, lw * 0.5));
    }
    for (let k = 0; k < NUM_FACE; k++) dot(FACE_START + k, "#fff", Math.max(1, lw * 0.4));
    for (let j = 0; j < FEET_START; j++) dot(j, rgb(BODY_COLORS_RGB[j]), lw * 1.2);
    for (let j = FEET_START; j < FACE_START; j++) dot(j, "#ddd", lw);
    const ring = (j, color, r, dash) => {
      if (!vis(j)) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = Math.max(1.5, lw * 0.4);
      ctx.setLineDash(dash);
      ctx.beginPath();
      ctx.arc(pose[j * 3], pose[j * 3 + 1], r, 0, Math.PI * 2);
      ctx.stroke();
      ctx.setLineDash([]);
    };
    for (let j = 0; j < NUM_KEYPOINTS; j++) {
      if (this.hooks.isKeyed(j) && j < FACE_START) ring(j, "rgba(0,220,255,0.9)", lw * 2.2, []);
      if (this.hooks.isLocked(j)) ring(j, "rgba(160,160,160,0.95)", lw * 2.8, [3, 3]);
    }
    for (const j of this.selection) ring(j, "#ffd400", lw * 3, []);
    if (this.hover >= 0) ring(this.hover, "#fff", lw * 3.4, []);
    const g = this.gesture;
    if (g && g.kind === "rotate" && g.foreshortened) {
      // The limb can only turn: show the circle its end can reach, so a drag beyond it is understood.
      const j = g.joint;
      const p = this.hooks.parentOf ? this.hooks.parentOf(j) : -1;
      if (p >= 0 && vis(j) && vis(p)) {
        const r = Math.hypot(pose[j * 3] - pose[p * 3], pose[j * 3 + 1] - pose[p * 3 + 1]);
        ctx.strokeStyle = "rgba(255,120,60,0.9)";
        ctx.lineWidth = Math.max(1, lw * 0.4);
        ctx.setLineDash([4, 4]);
        ctx.beginPath();
        ctx.arc(pose[p * 3], pose[p * 3 + 1], Math.max(r, 1), 0, Math.PI * 2);
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }
    if (g && g.kind === "box") {
      ctx.strokeStyle = "#ffd400";
      ctx.lineWidth = 1;
      ctx.setLineDash([5, 4]);
      ctx.strokeRect(g.start.x, g.start.y, g.x - g.start.x, g.y - g.start.y);
      ctx.setLineDash([]);
    }
  }
}
