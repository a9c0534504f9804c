// The music timeline under the pose view: waveform, beats, downbeats, sections, keyframe diamonds, playhead.
// The music (sections, ruler, waveform, beats) is drawn into a cached layer that changes only with the view;
// each repaint blits it and draws the key lane and playhead on top, so scrubbing and dragging keyframes
// never re-rasterise the waveform.
//
// Keyframes are retimed here: drag a diamond (snapping to beats when the editor's snap is on, Alt/Option held
// to place it freely), Shift+click or drag a box in the key lane to select several and move them together,
// right-click for the ease menu. The timeline only proposes moves; the editor applies them to the document.

import { BEAT_RGB, DOWNBEAT_RGB, WAVEFORM_RGB, css, sectionRGB } from "./palette.js";

const SECTION_H = 18;
const RULER_H = 14;
const KEY_H = 20;
const KEY_R = 6; // half the diamond's width, CSS px
const KEY_PICK_PX = 8; // a press this close to a diamond grabs it
const DRAG_START_PX = 3; // a press that moves less than this is a click
const KEY_COLOR = "#00dcff";
const SELECTED_COLOR = "#ffd400";

/** Beat and downbeat times converted to frame indices (sorted, within the sequence). */
export function beatFrames(music, fps, numFrames) {
  const toFrames = (times) => (times || []).map((t) => Math.round(t * fps)).filter((f) => f >= 0 && f < numFrames);
  return { beats: toFrames(music && music.beat_times_s), downbeats: toFrames(music && music.downbeat_times_s) };
}

/**
 * Bar and beat of `frame` counted from the downbeats: {bar, beat} with beat 1 on every downbeat, bars
 * numbered from the first downbeat (bar 1); beats before it are a pickup, bar 0, numbered so the last one
 * before the downbeat is beat `beatsPerBar`. Without downbeats, bars are counted from the first beat.
 * null before the first beat. `beats` and `downbeats` are sorted frame indices (downbeats a subset).
 */
export function barBeat(beats, downbeats, frame, beatsPerBar = 4) {
  let index = -1;
  for (let i = 0; i < beats.length && beats[i] <= frame; i++) index = i;
  if (index < 0) return null;
  const isDown = new Set(downbeats);
  const first = beats.findIndex((b) => isDown.has(b));
  if (first < 0) return { bar: Math.floor(index / beatsPerBar) + 1, beat: (index % beatsPerBar) + 1 };
  if (index < first) {
    const beat = (((beatsPerBar - (first - index)) % beatsPerBar) + beatsPerBar) % beatsPerBar + 1;
    return { bar: 0, beat };
  }
  let bar = 0;
  let lastDown = first;
  for (let i = first; i <= index; i++) {
    if (isDown.has(beats[i])) {
      bar++;
      lastDown = i;
    }
  }
  return { bar, beat: index - lastDown + 1 };
}

/** The beat frame nearest to `frame`, or `frame` itself when there are no beats. */
export function nearestBeat(beats, frame) {
  let best = frame;
  let bestD = Infinity;
  for (const b of beats) {
    const d = Math.abs(b - frame);
    if (d < bestD) { bestD = d; best = b; }
  }
  return best;
}

/**
 * The shift, in frames, that puts the grabbed keyframe `grab` at `target` while every keyframe in `frames`
 * stays within [0, numFrames - 1] (a group stops at the edge keeping its spacing). 0 is always allowed, so
 * keyframes already outside the range can still be pressed without jumping.
 */
export function clampShift(frames, grab, target, numFrames) {
  const lo = Math.min(0, -Math.min(...frames));
  const hi = Math.max(0, numFrames - 1 - Math.max(...frames));
  return Math.min(Math.max(target - grab, lo), hi);
}

/** Draw one keyframe marker centred at (x, y): smooth a diamond, linear a hollow diamond, hold a square. */
function drawKey(ctx, x, y, ease, color) {
  ctx.beginPath();
  if (ease === "hold") {
    ctx.rect(x - KEY_R + 1, y - KEY_R + 1, 2 * KEY_R - 2, 2 * KEY_R - 2);
  } else {
    ctx.moveTo(x, y - KEY_R);
    ctx.lineTo(x + KEY_R, y);
    ctx.lineTo(x, y + KEY_R);
    ctx.lineTo(x - KEY_R, y);
    ctx.closePath();
  }
  if (ease === "linear") {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.stroke();
  } else {
    ctx.fillStyle = color;
    ctx.fill();
  }
}

/**
 * Canvas timeline. `hooks`:
 * - onSeek(frame) while clicking or dragging on the music, and on a click on a diamond;
 * - keyframes() -> [{frame, ease}] to draw;
 * - snap(frame, altKey) -> frame (the nearest beat when the editor's snap is on and Alt is not held);
 * - beginKeyDrag(frames), moveKeys(shift) -> the shift applied (the editor refuses moves onto other
 *   keyframes), keysMoved(timeStamp) to redraw the pose and this timeline, endKeyDrag(cancelled);
 * - keyMenu(frames, clientX, clientY) on a right-click on a diamond; onSelect(frames) after box or shift selection.
 * Zoom with the wheel, scroll with shift+wheel.
 */
export class Timeline {
  constructor(canvas, { numFrames, fps, music }, hooks) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.numFrames = numFrames;
    this.fps = fps;
    this.music = music;
    this.hooks = hooks;
    this.frame = 0;
    this.pxPerFrame = 1;
    this.scrollPx = 0;
    this.layer = document.createElement("canvas");
    this.layerValid = false;
    this.wavePath = null;
    this.waveKey = "";
    const { beats, downbeats } = beatFrames(music, fps, numFrames);
    this.beats = beats;
    this.downbeats = new Set(downbeats);
    this.selected = new Set(); // frames of the selected keyframes
    this.gesture = null; // {kind: "scrub" | "box" | "keys", ...} while the pointer is down
    this.pendingMove = null;
    this.rafId = 0;
    this.onModifier = (e) => {
      if (e.key !== "Alt" || !this.gesture || this.gesture.kind !== "keys" || !this.gesture.moved) return;
      e.preventDefault();
      this.dragKeysTo(this.gesture.x, e.altKey, e.timeStamp);
    };
    canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    canvas.addEventListener("pointercancel", (e) => this.onPointerUp(e, true));
    canvas.addEventListener("contextmenu", (e) => this.onContextMenu(e));
    canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
  }

  /** Match the backing store to the element's CSS size; call on open and on window resize. */
  resize() {
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.cssW = Math.max(1, rect.width);
    this.cssH = Math.max(1, rect.height);
    this.canvas.width = Math.round(this.cssW * dpr);
    this.canvas.height = Math.round(this.cssH * dpr);
    this.layer.width = this.canvas.width;
    this.layer.height = this.canvas.height;
    this.dpr = dpr;
    const fit = this.cssW / Math.max(this.numFrames, 1);
    if (!this.fitted) {
      this.pxPerFrame = fit;
      this.fitted = true;
    }
    this.pxPerFrame = Math.max(this.pxPerFrame, fit);
    this.clampScroll();
    this.invalidate();
  }

  /** Mark the cached music layer dirty (zoom, scroll or size changed); keyframes are drawn on every repaint. */
  invalidate() {
    this.layerValid = false;
  }

  clampScroll() {
    const maxScroll = Math.max(0, this.numFrames * this.pxPerFrame - this.cssW);
    this.scrollPx = Math.min(Math.max(0, this.scrollPx), maxScroll);
  }

  frameToX(frame) {
    return frame * this.pxPerFrame - this.scrollPx;
  }

  /** The frame under CSS x, unclamped. */
  xToFrame(x) {
    return Math.round((x + this.scrollPx) / this.pxPerFrame);
  }

  local(e) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  /** Frames of the selected keyframes, in order. */
  selection() {
    return [...this.selected].sort((a, b) => a - b);
  }

  /** Select exactly `frames` (keyframe frames). */
  setSelection(frames) {
    this.selected = new Set(frames);
  }

  /** Drop selected frames that no longer hold a keyframe (after undo, delete, a reload of the document). */
  pruneSelection() {
    const present = new Set(this.hooks.keyframes().map((kf) => kf.frame));
    for (const f of this.selected) if (!present.has(f)) this.selected.delete(f);
  }

  /** The keyframe frame whose diamond is under CSS point (x, y), nearest first; null when none. */
  keyAt(x, y) {
    if (y < this.cssH - KEY_H - 2) return null;
    let best = null;
    let bestD = KEY_PICK_PX;
    for (const { frame } of this.hooks.keyframes()) {
      const d = Math.abs(this.frameToX(frame) - x);
      if (d <= bestD) { bestD = d; best = frame; }
    }
    return best;
  }

  seekTo(e) {
    const frame = Math.min(Math.max(this.xToFrame(this.local(e).x), 0), this.numFrames - 1);
    this.hooks.onSeek(this.hooks.snap(frame, e.altKey));
  }

  onPointerDown(e) {
    if (e.button !== 0) return;
    this.canvas.setPointerCapture(e.pointerId);
    const { x, y } = this.local(e);
    const hit = this.keyAt(x, y);
    if (hit !== null) {
      const wasSelected = this.selected.has(hit);
      if (e.shiftKey) this.selected.add(hit);
      else if (!wasSelected) this.selected = new Set([hit]);
      this.draw();
      this.gesture = { kind: "keys", grab: hit, startX: x, x, shift: e.shiftKey, wasSelected, moved: false,
        frames: this.selection(), applied: 0, proposed: 0 };
    } else if (e.shiftKey || y >= this.cssH - KEY_H) {
      const base = new Set(e.shiftKey ? this.selected : []);
      this.gesture = { kind: "box", startX: x, x, additive: e.shiftKey, base, moved: false };
    } else {
      this.gesture = { kind: "scrub" };
      this.seekTo(e);
    }
  }

  onPointerMove(e) {
    const g = this.gesture;
    if (!g) {
      const { x, y } = this.local(e);
      this.canvas.style.cursor = this.keyAt(x, y) !== null ? "ew-resize" : "";
      return;
    }
    if (g.kind === "scrub") {
      this.seekTo(e);
      return;
    }
    const { x } = this.local(e);
    g.x = x;
    if (!g.moved && Math.abs(x - g.startX) < DRAG_START_PX) return;
    if (g.kind === "box") {
      g.moved = true;
      this.selectBox(g);
      this.draw();
      return;
    }
    if (!g.moved) {
      g.moved = true;
      this.hooks.beginKeyDrag(g.frames);
      window.addEventListener("keydown", this.onModifier, true);
      window.addEventListener("keyup", this.onModifier, true);
    }
    // Coalesce like the pose view: the latest pointer position is applied once per animation frame.
    this.pendingMove = { x, altKey: e.altKey, timeStamp: e.timeStamp };
    if (!this.rafId) this.rafId = requestAnimationFrame(() => this.flushMove());
  }

  flushMove() {
    this.rafId = 0;
    const move = this.pendingMove;
    this.pendingMove = null;
    if (move && this.gesture && this.gesture.kind === "keys") this.dragKeysTo(move.x, move.altKey, move.timeStamp);
  }

  /** Propose the shift that brings the grabbed keyframe under CSS x (snapped, clamped) and draw the result. */
  dragKeysTo(x, altKey, timeStamp) {
    const g = this.gesture;
    const raw = g.grab + Math.round((x - g.startX) / this.pxPerFrame);
    const target = this.hooks.snap(Math.min(Math.max(raw, 0), this.numFrames - 1), altKey);
    g.proposed = clampShift(g.frames, g.grab, target, this.numFrames);
    const applied = this.hooks.moveKeys(g.proposed);
    if (applied !== g.applied) {
      g.applied = applied;
      this.selected = new Set(g.frames.map((f) => f + applied));
    }
    this.hooks.keysMoved(timeStamp); // the editor redraws the pose and this timeline
  }

  /** Select the keyframes inside the box (added to the selection it started from when shift was held). */
  selectBox(g) {
    const toFrame = (x) => (x + this.scrollPx) / this.pxPerFrame;
    const [f0, f1] = [toFrame(Math.min(g.startX, g.x)), toFrame(Math.max(g.startX, g.x))];
    const inside = this.hooks.keyframes().map((kf) => kf.frame).filter((f) => f >= f0 && f <= f1);
    this.selected = new Set([...g.base, ...inside]);
  }

  onPointerUp(e, cancelled = false) {
    const g = this.gesture;
    if (!g) return;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    if (g.kind === "keys" && g.moved) {
      if (this.pendingMove) {
        cancelAnimationFrame(this.rafId);
        this.flushMove();
      }
      this.finishKeyDrag(cancelled);
      return;
    }
    this.gesture = null;
    if (g.kind === "box") {
      if (g.moved) {
        this.hooks.onSelect(this.selection());
      } else {
        // A click in the empty key lane: clear the selection (unless shift) and move the playhead there.
        if (!g.additive) this.selected.clear();
        this.seekTo(e);
      }
    } else if (g.kind === "keys") {
      // A click on a diamond: shift toggles it in the selection; a plain click selects it alone and seeks to it.
      if (g.shift) {
        if (g.wasSelected) this.selected.delete(g.grab);
        this.hooks.onSelect(this.selection());
        this.draw();
      } else {
        this.selected = new Set([g.grab]);
        this.hooks.onSeek(g.grab);
      }
    }
  }

  /** Cancel a keyframe drag in progress (Escape): the editor puts the keyframes back. Returns whether it did. */
  cancelKeyDrag() {
    const g = this.gesture;
    if (!g || g.kind !== "keys" || !g.moved) return false;
    if (this.rafId) cancelAnimationFrame(this.rafId);
    this.rafId = 0;
    this.pendingMove = null;
    this.finishKeyDrag(true);
    return true;
  }

  /** Whether a keyframe drag is in progress. */
  draggingKeys() {
    return Boolean(this.gesture && this.gesture.kind === "keys" && this.gesture.moved);
  }

  finishKeyDrag(cancelled) {
    const g = this.gesture;
    this.gesture = null;
    window.removeEventListener("keydown", this.onModifier, true);
    window.removeEventListener("keyup", this.onModifier, true);
    this.hooks.endKeyDrag(cancelled);
    this.selected = new Set(g.frames.map((f) => f + (cancelled ? 0 : g.applied)));
    this.draw();
  }

  onContextMenu(e) {
    const { x, y } = this.local(e);
    const hit = this.keyAt(x, y);
    if (hit === null || this.gesture) return;
    e.preventDefault();
    if (!this.selected.has(hit)) this.selected = new Set([hit]);
    this.draw();
    this.hooks.keyMenu(this.selection(), e.clientX, e.clientY);
  }

  onWheel(e) {
    e.preventDefault();
    if (e.shiftKey) {
      this.scrollPx += e.deltaY + e.deltaX;
    } else {
      const rect = this.canvas.getBoundingClientRect();
      const anchorX = e.clientX - rect.left;
      const anchorFrame = (anchorX + this.scrollPx) / this.pxPerFrame;
      this.setZoom(this.pxPerFrame * Math.exp(-e.deltaY / 300));
      this.scrollPx = anchorFrame * this.pxPerFrame - anchorX;
    }
    this.clampScroll();
    this.invalidate();
    this.draw();
  }

  /** Set pixels per frame (clamped between fit-all and 40 px per frame). */
  setZoom(pxPerFrame) {
    const fit = this.cssW / Math.max(this.numFrames, 1);
    this.pxPerFrame = Math.min(Math.max(pxPerFrame, fit), 40);
  }

  /** Move the playhead; scrolls the view to keep it visible during playback. */
  setFrame(frame) {
    this.frame = frame;
    const x = this.frameToX(frame);
    if (x < 0 || x > this.cssW) {
      this.scrollPx = frame * this.pxPerFrame - this.cssW * 0.2;
      this.clampScroll();
      this.invalidate();
    }
  }

  /** Waveform as one Path2D in full-length pixel units, rebuilt only when the zoom or height changes. */
  waveform(top, height) {
    const peaks = this.music && this.music.waveform_peaks;
    if (!peaks || !peaks.length) return null;
    const key = `${this.pxPerFrame}:${top}:${height}`;
    if (key === this.waveKey) return this.wavePath;
    const durationFrames = (this.music.duration_s || this.numFrames / this.fps) * this.fps;
    const pxPerPeak = (durationFrames * this.pxPerFrame) / peaks.length;
    const mid = top + height / 2;
    const path = new Path2D();
    for (let i = 0; i < peaks.length; i++) {
      const x = i * pxPerPeak;
      const h = Math.max(0.5, peaks[i] * height * 0.48);
      path.rect(x, mid - h, Math.max(1, pxPerPeak * 0.8), h * 2);
    }
    this.wavePath = path;
    this.waveKey = key;
    return path;
  }

  drawLayer() {
    const ctx = this.layer.getContext("2d");
    const W = this.cssW;
    const H = this.cssH;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = "#16181d";
    ctx.fillRect(0, 0, W, H);
    const waveTop = SECTION_H + RULER_H;
    const waveH = H - waveTop - KEY_H;
    const first = Math.max(0, Math.floor(this.scrollPx / this.pxPerFrame));
    const last = Math.min(this.numFrames - 1, Math.ceil((this.scrollPx + W) / this.pxPerFrame));
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    const sections = (this.music && this.music.sections) || [];
    sections.forEach((s) => {
      const x0 = this.frameToX(s.start_s * this.fps);
      const x1 = this.frameToX(s.end_s * this.fps);
      if (x1 < 0 || x0 > W) return;
      ctx.fillStyle = css(sectionRGB(s.label));
      ctx.fillRect(x0, 0, x1 - x0, SECTION_H);
      ctx.globalAlpha = 0.18;
      ctx.fillRect(x0, waveTop, x1 - x0, waveH);
      ctx.globalAlpha = 1;
      ctx.fillStyle = "#e8e8f0";
      ctx.fillText(s.label || "", Math.max(x0, 0) + 4, SECTION_H / 2);
      ctx.fillStyle = "#c8c8ff";
      ctx.fillRect(x0, 0, 1.5, H - KEY_H);
    });
    const secondStep = this.pxPerFrame * this.fps < 30 ? 10 : 1;
    ctx.fillStyle = "#8a8f99";
    for (let sec = Math.floor(first / this.fps / secondStep) * secondStep; sec * this.fps <= last; sec += secondStep) {
      const x = this.frameToX(sec * this.fps);
      ctx.fillRect(x, SECTION_H, 1, 5);
      ctx.fillText(`${sec}s`, x + 3, SECTION_H + RULER_H / 2);
    }
    if (this.pxPerFrame >= 6) {
      ctx.fillStyle = "rgba(255,255,255,0.12)";
      for (let f = first; f <= last; f++) ctx.fillRect(this.frameToX(f), waveTop, 1, waveH);
    }
    const path = this.waveform(waveTop, waveH);
    if (path) {
      ctx.save();
      ctx.translate(-this.scrollPx, 0);
      ctx.fillStyle = css(WAVEFORM_RGB);
      ctx.fill(path);
      ctx.restore();
    }
    let beatsDrawn = 0;
    let downbeatsDrawn = 0;
    for (const b of this.beats) {
      if (b < first || b > last) continue;
      const x = this.frameToX(b);
      const down = this.downbeats.has(b);
      ctx.fillStyle = down ? css(DOWNBEAT_RGB, 0.95) : css(BEAT_RGB, 0.4);
      ctx.fillRect(x - (down ? 1 : 0.5), waveTop, down ? 2 : 1, waveH);
      if (down) downbeatsDrawn++; else beatsDrawn++;
    }
    ctx.fillStyle = "#0e0f12";
    ctx.fillRect(0, H - KEY_H, W, KEY_H);
    const ds = this.canvas.dataset;
    ds.beatsDrawn = String(beatsDrawn);
    ds.downbeatsDrawn = String(downbeatsDrawn);
    ds.visibleFrames = `${first}-${last}`;
    ds.pxPerFrame = String(this.pxPerFrame);
    ds.scrollPx = String(this.scrollPx);
    ds.keyLaneY = String(H - KEY_H / 2);
    this.layerValid = true;
  }

  /**
   * The key lane: where dragged keys started (faint outlines), the keyframes (selected ones on top), a
   * refused drop (red outline) or the selection box. A few hundred diamonds cost well under a millisecond.
   */
  drawKeys(ctx) {
    const W = this.cssW;
    const y = this.cssH - KEY_H / 2;
    const g = this.gesture;
    const outline = (x, r) => {
      ctx.beginPath();
      ctx.moveTo(x, y - r);
      ctx.lineTo(x + r, y);
      ctx.lineTo(x, y + r);
      ctx.lineTo(x - r, y);
      ctx.closePath();
      ctx.stroke();
    };
    if (g && g.kind === "keys" && g.moved && g.applied) {
      ctx.strokeStyle = "rgba(255,255,255,0.35)";
      ctx.lineWidth = 1;
      for (const f of g.frames) outline(this.frameToX(f), KEY_R);
    }
    let keysDrawn = 0;
    const keys = this.hooks.keyframes();
    for (const selectedPass of [false, true]) {
      for (const kf of keys) {
        if (this.selected.has(kf.frame) !== selectedPass) continue;
        const x = this.frameToX(kf.frame);
        if (x < -8 || x > W + 8) continue;
        drawKey(ctx, x, y, kf.ease, selectedPass ? SELECTED_COLOR : KEY_COLOR);
        keysDrawn++;
      }
    }
    let refused = "";
    if (g && g.kind === "box" && g.moved) {
      const x0 = Math.min(g.startX, g.x);
      ctx.fillStyle = "rgba(255,212,0,0.15)";
      ctx.strokeStyle = SELECTED_COLOR;
      ctx.lineWidth = 1;
      ctx.fillRect(x0, this.cssH - KEY_H, Math.abs(g.x - g.startX), KEY_H);
      ctx.strokeRect(x0 + 0.5, this.cssH - KEY_H + 0.5, Math.abs(g.x - g.startX), KEY_H - 1);
    } else if (g && g.kind === "keys" && g.moved && g.proposed !== g.applied) {
      ctx.strokeStyle = "#ff4040";
      ctx.lineWidth = 2;
      outline(this.frameToX(g.grab + g.proposed), KEY_R + 2);
      refused = String(g.grab + g.proposed);
    }
    // Read by the browser test; written only when changed so playback does not churn attributes.
    const state = {
      keyframesDrawn: String(keysDrawn), keyframes: keys.map((kf) => kf.frame).join(","),
      selectedKeys: this.selection().join(","), refusedDrop: refused,
    };
    const ds = this.canvas.dataset;
    for (const [k, v] of Object.entries(state)) if (ds[k] !== v) ds[k] = v;
  }

  /** Repaint: the cached music layer (rebuilt if dirty), the key lane and the playhead. */
  draw() {
    if (!this.layerValid) this.drawLayer();
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.layer, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.drawKeys(ctx);
    const x = this.frameToX(this.frame);
    ctx.fillStyle = "#ff4040";
    ctx.fillRect(x - 1, 0, 2, this.cssH);
  }
}
