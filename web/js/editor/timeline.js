// The music timeline under the pose view: waveform, beats, downbeats, sections, keyframe diamonds, playhead.
// Everything but the playhead is drawn into a cached layer, so scrubbing repaints one image and one line.

const SECTION_H = 18;
const RULER_H = 14;
const KEY_H = 16;
const SECTION_COLORS = ["#3a4a6b", "#5a3a6b", "#3a6b55", "#6b5a3a", "#6b3a44", "#3a606b"];

/** Beat and downbeat times converted to frame indices (sorted, within the sequence). */
export function beatFrames(music, fps, numFrames) {
  const toFrames = (times) => (times || []).map((t) => Math.round(t * fps)).filter((f) => f >= 0 && f < numFrames);
  return { beats: toFrames(music && music.beat_times_s), downbeats: toFrames(music && music.downbeat_times_s) };
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
 * Canvas timeline. `hooks`: onSeek(frame) while clicking or dragging, keyframes() -> frames to draw,
 * snap(frame) -> frame (snap to beat when enabled). Zoom with the wheel, scroll with shift+wheel.
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
    this.scrubbing = false;
    canvas.addEventListener("pointerdown", (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.scrubbing = true;
      this.seekTo(e);
    });
    canvas.addEventListener("pointermove", (e) => { if (this.scrubbing) this.seekTo(e); });
    canvas.addEventListener("pointerup", () => { this.scrubbing = false; });
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

  /** Mark the cached layer dirty (keyframes or view changed). */
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

  seekTo(e) {
    const rect = this.canvas.getBoundingClientRect();
    const frame = Math.round((e.clientX - rect.left + this.scrollPx) / this.pxPerFrame);
    this.hooks.onSeek(this.hooks.snap(Math.min(Math.max(frame, 0), this.numFrames - 1)));
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
    sections.forEach((s, i) => {
      const x0 = this.frameToX(s.start_s * this.fps);
      const x1 = this.frameToX(s.end_s * this.fps);
      if (x1 < 0 || x0 > W) return;
      ctx.fillStyle = SECTION_COLORS[i % SECTION_COLORS.length];
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
      ctx.fillStyle = "#4f8fd8";
      ctx.fill(path);
      ctx.restore();
    }
    let beatsDrawn = 0;
    let downbeatsDrawn = 0;
    for (const b of this.beats) {
      if (b < first || b > last) continue;
      const x = this.frameToX(b);
      const down = this.downbeats.has(b);
      ctx.fillStyle = down ? "rgba(255,200,60,0.95)" : "rgba(255,255,255,0.35)";
      ctx.fillRect(x - (down ? 1 : 0.5), waveTop, down ? 2 : 1, waveH);
      if (down) downbeatsDrawn++; else beatsDrawn++;
    }
    ctx.fillStyle = "#0e0f12";
    ctx.fillRect(0, H - KEY_H, W, KEY_H);
    let keysDrawn = 0;
    for (const f of this.hooks.keyframes()) {
      const x = this.frameToX(f);
      if (x < -8 || x > W + 8) continue;
      const y = H - KEY_H / 2;
      ctx.fillStyle = "#00dcff";
      ctx.beginPath();
      ctx.moveTo(x, y - 6);
      ctx.lineTo(x + 6, y);
      ctx.lineTo(x, y + 6);
      ctx.lineTo(x - 6, y);
      ctx.closePath();
      ctx.fill();
      keysDrawn++;
    }
    const ds = this.canvas.dataset;
    ds.beatsDrawn = String(beatsDrawn);
    ds.downbeatsDrawn = String(downbeatsDrawn);
    ds.keyframesDrawn = String(keysDrawn);
    ds.visibleFrames = `${first}-${last}`;
    this.layerValid = true;
  }

  /** Repaint: the cached layer (rebuilt if dirty) plus the playhead. */
  draw() {
    if (!this.layerValid) this.drawLayer();
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.layer, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const x = this.frameToX(this.frame);
    ctx.fillStyle = "#ff4040";
    ctx.fillRect(x - 1, 0, 2, this.cssH);
  }
}
