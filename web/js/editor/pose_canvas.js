// The skeleton view: draws one frame in OpenPose colours over the dimmed reference image at the sequence's
// canvas size, and turns pointer gestures into pose edits (turn a limb, move/scale body, select).

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

/**
 * Draws poses and reports edits. `hooks`: isKeyed(j), isLocked(j), context() -> the edit context of the
 * playhead (edit_model.js editContext), onGestureStart(), onEdit(joints), onGestureEnd(),
 * onSelectionChange(selection), onHover(j). The caller owns the pose: it calls setPose() with the edited
 * frame, then draw().
 */
export class PoseCanvas {
  constructor(canvas, width, height, hooks) {
    this.canvas = canvas;
    canvas.width = width;
    canvas.height = height;
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
  }

  /** The reference image drawn dimmed behind the skeleton (an HTMLImageElement, or null). */
  setImage(image) {
    this.image = image;
  }

  /** Show this pose (Float32Array 136*3); copied so the caller may reuse its buffer. */
  setPose(pose) {
    this.pose.set(pose);
  }

  /** Canvas pixels per CSS pixel, for pick radii and pointer mapping. */
  scale() {
    const rect = this.canvas.getBoundingClientRect();
    return rect.width > 0 ? this.canvas.width / rect.width : 1;
  }

  toCanvas(e) {
    const rect = this.canvas.getBoundingClientRect();
    const s = this.canvas.width / rect.width;
    return [(e.clientX - rect.left) * s, (e.clientY - rect.top) * s];
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
    this.hooks.onGestureStart();
  }

  onPointerMove(e) {
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
    const W = canvas.width;
    const H = canvas.height;
    ctx.globalAlpha = 1;
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
    if (g && g.kind === "box") {
      ctx.strokeStyle = "#ffd400";
      ctx.lineWidth = 1;
      ctx.setLineDash([5, 4]);
      ctx.strokeRect(g.start.x, g.start.y, g.x - g.start.x, g.y - g.start.y);
      ctx.setLineDash([]);
    }
  }
}
