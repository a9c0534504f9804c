// The full-window keyframe editor: toolbar, stale-edit banner, pose view, pose library, timeline, playback
// and keyboard shortcuts. The edit document lives only in the node's keyframes_json widget; this module
// writes it back there after every change.

import { EditPreview, EASES, History, deleteKeyframe, editContext, keyframeAt, moveKeyframes, parseDocument,
  pinJoints as pinDocumentJoints, retimeConflicts, serializeDocument, setKeyframesEase, toggleLocks }
  from "./edit_model.js";
import { EditorDataError, loadEditorData } from "./editor_data.js";
import { FACE_START, NUM_KEYPOINTS, PARENT, ROOT, keypointName } from "./layout.js";
import { PoseCanvas, danceExtent } from "./pose_canvas.js";
import { createLibraryPanel, fitLibraryPose } from "./pose_library.js";
import { capture, centroid, copyPose, mirrorJoints, visibleJoints } from "./pose_ops.js";
import { EDITOR_CSS } from "./styles.js";
import { Timeline, barBeat, nearestBeat } from "./timeline.js";

const HELP = [
  ["Pose", "Drag a joint to turn its limb about the parent joint (bone length kept; hand and face follow). "
    + "Drag the neck to lean the upper body, a hip to move the body. A limb pointing at the camera is short "
    + "and can only turn: its reach is drawn dashed; turn its parent instead."],
  ["Body mode (B)", "Drag moves, shift+drag scales the whole body."],
  ["Select", "Shift+click joints, or drag on empty space."],
  ["View", "Wheel zooms, middle-drag or Alt+drag pans, F fits the dance (joints outside the picture too)."],
  ["Timeline", "Drag a key to retime it (Alt: ignore snap); shift+click keys or drag in the key lane to select "
    + "several; right-click a key for its ease or to delete it."],
  ["Keys", "Space play · ←/→ frame · Shift+←/→ beat · K key · Del delete key · Ctrl+Z / Ctrl+Shift+Z"],
  ["Pose tools", "C/V copy/paste · M mirror · L lock · B body · ? this help · Esc close"],
];

// Icons drawn with currentColor on a 24 px grid, like the frontend's own icon buttons.
const ICON_PATHS = {
  play: "M7 5v14l12-7z",
  pause: "M7 5h4v14H7zM13 5h4v14h-4z",
  prevBeat: "M18 6v12l-9-6zM6 6h2v12H6z",
  nextBeat: "M6 6v12l9-6zM16 6h2v12h-2z",
  key: "M12 3l7 9-7 9-7-9zM12 8v8M8 12h8",
  delete: "M5 7h14M10 7V5h4v2M7 7l1 13h8l1-13",
  snap: "M6 4v8a6 6 0 0 0 12 0V4h-4v8a2 2 0 0 1-4 0V4zM6 7h4M14 7h4",
  snapKeys: "M8 4l4 5 4-5zM12 11v9M6 20h12",
  mirror: "M12 3v18M9 6L4 12l5 6zM15 6l5 6-5 6z",
  lock: "M6 11h12v9H6zM8 11V8a4 4 0 0 1 8 0v3",
  copy: "M9 9h10v11H9zM5 15V4h10",
  paste: "M8 5h8v3H8zM6 6H5v15h14V6h-1",
  fit: "M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5",
  undo: "M9 7L4 12l5 5M4 12h11a5 5 0 0 1 0 10h-3",
  redo: "M15 7l5 5-5 5M20 12H9a5 5 0 0 0 0 10h3",
  help: "M9 9a3 3 0 1 1 4 2.8c-.6.3-1 .9-1 1.6V15M12 18v.5",
  close: "M6 6l12 12M18 6L6 18",
};

const icon = (name) => `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${ICON_PATHS[name]}"/></svg>`;

const SAMPLE_LIMIT = 600;
const FORESHORTENED = 0.5; // a bone shorter than this fraction of its longest in the dance points at the camera

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function iconButton(act, title, extra = "") {
  return `<button data-act="${act}" class="icon" title="${title}" aria-label="${title}"${extra}>${icon(act)}</button>`;
}

function buildDom() {
  const root = el("div", { class: "choreo-editor", role: "dialog", "aria-label": "Choreo keyframe editor" });
  root.append(el("style", {}, EDITOR_CSS));
  root.innerHTML += `
    <div class="choreo-toolbar">
      <span class="choreo-title">Keyframes</span>
      ${iconButton("play", "Play / pause (Space)")}
      ${iconButton("prevBeat", "Previous beat (Shift+Left)")}
      ${iconButton("nextBeat", "Next beat (Shift+Right)")}
      <span class="choreo-frame" title="frame / last frame · time · bar and beat (bar 0: pickup before the first downbeat) · ◆ on a keyframe"></span>
      <span class="sep"></span>
      ${iconButton("key", "Set key at the playhead (K)")}
      ${iconButton("delete", "Delete the key at the playhead (Del)")}
      <label class="choreo-ease" title="Ease of new keys, and of the key at the playhead">ease
        <select data-act="ease">${EASES.map((e) => `<option>${e}</option>`).join("")}</select></label>
      ${iconButton("snap", "Snap to beat: the playhead, new and dragged keys (Alt: free)")}
      ${iconButton("snapKeys", "Snap keys: move every keyframe to its nearest beat")}
      <span class="sep"></span>
      <span class="choreo-group" role="group" aria-label="Edit mode">
        <button data-act="mode-joint" class="on" title="Joint mode: drag turns a limb">Joint</button><button
          data-act="mode-body" title="Body mode: drag moves, shift+drag scales (B)">Body</button></span>
      ${iconButton("mirror", "Mirror the selection or body (M)")}
      ${iconButton("lock", "Lock / unlock the selected joints (L)")}
      ${iconButton("copy", "Copy the pose (C)")}
      ${iconButton("paste", "Paste the pose (V)")}
      <span class="sep"></span>
      ${iconButton("fit", "Fit the view to the dance, joints outside the picture included (F)")}
      ${iconButton("undo", "Undo (Ctrl+Z)")}
      ${iconButton("redo", "Redo (Ctrl+Shift+Z)")}
      <span class="spacer"></span>
      ${iconButton("help", "Help and shortcuts (?)", ' aria-expanded="false"')}
      ${iconButton("close", "Close (Esc)")}
    </div>
    <div class="choreo-banner">
      <span>These edits were made on a different pose sequence (the upstream result changed since).</span>
      <button data-act="keepStale">Keep edits</button><button data-act="clearStale">Clear edits</button>
    </div>
    <div class="choreo-message"></div>
    <div class="choreo-main">
      <div class="choreo-stage"><canvas class="choreo-pose"></canvas>
        <div class="choreo-help" role="region" aria-label="Help and shortcuts"></div></div>
      <div class="choreo-side"></div>
    </div>
    <canvas class="choreo-timeline"></canvas>
    <div class="choreo-status"></div>`;
  const help = root.querySelector(".choreo-help");
  for (const [title, text] of HELP) help.append(el("h4", {}, title), el("p", {}, text));
  return root;
}

function pushSample(list, value) {
  list.push(Math.round(value * 1000) / 1000);
  if (list.length > SAMPLE_LIMIT) list.shift();
}

/**
 * Open the editor over the page for one node. `widget` is the node's keyframes_json widget; `blendWidget`
 * its blend_frames widget (optional). Returns a close function. Errors that keep the editor from working
 * (node never ran, server too old) are shown inside the overlay instead of thrown.
 */
export function openEditor({ api, nodeId, workflowId = null, widget, blendWidget, onChange = null }) {
  const root = buildDom();
  document.body.append(root);
  const $ = (sel) => root.querySelector(sel);
  const message = $(".choreo-message");
  const status = $(".choreo-status");
  const say = (text) => { status.textContent = text; };
  const cleanups = [];
  let session = null;
  const close = () => {
    cleanups.forEach((fn) => fn());
    root.remove();
  };
  root.querySelector('[data-act="close"]').addEventListener("click", close);
  // Escape first closes the key menu or cancels a keyframe drag; otherwise it closes the editor.
  const onEscape = (e) => {
    if (e.key !== "Escape") return;
    if (session && session.escape()) {
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    close();
  };
  window.addEventListener("keydown", onEscape, true);
  cleanups.push(() => window.removeEventListener("keydown", onEscape, true));
  root.dataset.state = "loading";
  say("Loading the pose sequence…");
  const helpButton = root.querySelector('[data-act="help"]');
  helpButton.addEventListener("click", () => {
    const shown = root.querySelector(".choreo-help").classList.toggle("show");
    helpButton.classList.toggle("on", shown);
    helpButton.setAttribute("aria-expanded", String(shown));
  });

  loadEditorData(api, nodeId, workflowId).then((data) => {
    if (!root.isConnected) return;
    say("Press ? for help and shortcuts.");
    session = startSession(root, data, { api, widget, blendWidget, say, cleanups, onChange });
    cleanups.push(session.stop);
    root.dataset.state = "ready";
  }).catch((err) => {
    message.textContent = err instanceof EditorDataError ? err.message : `The editor failed to start: ${err.message}`;
    message.classList.add("show");
    $(".choreo-main").style.display = "none";
    $(".choreo-timeline").style.display = "none";
    root.dataset.state = "error";
    say("");
    if (!(err instanceof EditorDataError)) console.error("[Choreo] keyframe editor:", err);
  });
  return close;
}

function startSession(root, data, { api, widget, blendWidget, say, cleanups, onChange }) {
  const $ = (sel) => root.querySelector(sel);
  const parsed = parseDocument(widget.value);
  let doc = parsed.doc;
  if (parsed.error) say(parsed.error);
  if (blendWidget && Number.isInteger(blendWidget.value)) doc.blend_frames = blendWidget.value;
  const history = new History();
  const preview = new EditPreview(data.keypoints, data.numFrames);
  preview.setDocument(doc);
  const pose = new Float32Array(NUM_KEYPOINTS * 3);
  const shownRoot = new Float64Array(2); // the edited mid-hip of the shown frame
  const stats = { dragLatency: [], dragWork: [], scrub: [], keyDragLatency: [], keyDragWork: [] };
  const state = { frame: 0, playing: false, snap: false, ease: "smooth", clipboard: null, currentKey: null };
  let playRaf = 0;
  let playClock = null;
  let keyDrag = null; // {before: document text, frames, shift applied, follow: playhead frame or null, refused}
  let keyMenu = null;

  const banner = $(".choreo-banner");
  if (doc.keyframes.length && doc.source_fingerprint && doc.source_fingerprint !== data.fingerprint) {
    banner.classList.add("show");
  }

  const audio = data.audioURL ? new Audio(data.audioURL) : null;
  if (audio) audio.preload = "auto";

  const poseCanvas = new PoseCanvas($(".choreo-pose"), data.width, data.height, {
    isKeyed: (j) => Boolean(state.currentKey && state.currentKey.joints[j]),
    isLocked: (j) => doc.locked_joints.includes(j),
    context: () => poseContext(),
    onGestureStart: () => history.record(serializeDocument(doc)),
    onEdit: (edit, timeStamp) => {
      const t0 = performance.now();
      pinJoints(edit);
      render();
      const t1 = performance.now();
      pushSample(stats.dragWork, t1 - t0);
      pushSample(stats.dragLatency, t1 - timeStamp);
      root.dataset.dragLatencyMs = stats.dragLatency.join(",");
      root.dataset.dragWorkMs = stats.dragWork.join(",");
    },
    onGestureEnd: () => {
      const text = serializeDocument(doc);
      if (history.past[history.past.length - 1] === text) history.past.pop(); else writeWidget();
    },
    onSelectionChange: (sel) => say(`${sel.size} joint(s) selected${sel.size === 1 ? `: ${keypointName([...sel][0])}` : ""}`),
    onHover: (j) => { if (j >= 0) say(`${keypointName(j)} (${j})`); },
    onLimbGrab: (j) => {
      const note = foreshortening(j);
      if (note) say(note);
      root.dataset.foreshortened = note ? String(j) : "";
      return Boolean(note);
    },
    parentOf: (j) => (PARENT[j] === ROOT ? -1 : PARENT[j]),
  });
  const longestBone = new Map(); // joint -> longest length of the bone into it over the dance, px

  /**
   * Why a limb barely moves under a drag: the bone into `j` is much shorter here than elsewhere in the dance
   * (it points at the camera), and a drag only turns it. A message for the status line, or null.
   */
  function foreshortening(j) {
    const p = PARENT[j];
    if (p === ROOT || j >= FACE_START || pose[j * 3 + 2] <= 0 || pose[p * 3 + 2] <= 0) return null;
    if (!longestBone.has(j)) {
      let longest = 0;
      const kp = data.keypoints;
      for (let t = 0; t < data.numFrames; t++) {
        const o = t * NUM_KEYPOINTS * 3;
        if (kp[o + j * 3 + 2] <= 0 || kp[o + p * 3 + 2] <= 0) continue;
        longest = Math.max(longest, Math.hypot(kp[o + j * 3] - kp[o + p * 3], kp[o + j * 3 + 1] - kp[o + p * 3 + 1]));
      }
      longestBone.set(j, longest);
    }
    const longest = longestBone.get(j);
    const now = Math.hypot(pose[j * 3] - pose[p * 3], pose[j * 3 + 1] - pose[p * 3 + 1]);
    if (longest < 10 || now >= FORESHORTENED * longest) return null;
    return `${keypointName(j)} is foreshortened here: the bone from ${keypointName(p)} is ${Math.round(now)} px, `
      + `up to ${Math.round(longest)} px elsewhere (it points at the camera). A drag only turns it about `
      + `${keypointName(p)} within the dashed circle; turn ${keypointName(p)} instead, or key a frame where it is longer.`;
  }
  if (data.imageURL) {
    const image = new Image();
    image.onload = () => render();
    image.src = data.imageURL;
    poseCanvas.setImage(image);
  }

  const timeline = new Timeline($(".choreo-timeline"), data, {
    onSeek: (frame) => {
      const t0 = performance.now();
      pause();
      seek(frame);
      pushSample(stats.scrub, performance.now() - t0);
      root.dataset.scrubMs = stats.scrub.join(",");
    },
    keyframes: () => doc.keyframes,
    snap: (frame, altKey) => (state.snap && !altKey ? nearestBeat(timeline.beats, frame) : frame),
    beginKeyDrag: (frames) => {
      pause();
      closeKeyMenu();
      keyDrag = { before: serializeDocument(doc), frames, shift: 0, t0: 0, refused: [],
        follow: frames.includes(state.frame) ? state.frame : null };
    },
    moveKeys: (shift) => {
      keyDrag.t0 = performance.now();
      const current = keyDrag.frames.map((f) => f + keyDrag.shift);
      keyDrag.refused = retimeConflicts(doc, current, shift - keyDrag.shift);
      if (shift !== keyDrag.shift && moveKeyframes(doc, current, shift - keyDrag.shift, data.numFrames)) {
        keyDrag.shift = shift;
        preview.setDocument(doc);
        if (keyDrag.follow !== null) state.frame = keyDrag.follow + shift;
      }
      return keyDrag.shift;
    },
    keysMoved: (timeStamp) => {
      render();
      say(keyDrag.refused.length ? refusedText(keyDrag.refused) : retimeText(keyDrag.frames, keyDrag.shift));
      const t1 = performance.now();
      pushSample(stats.keyDragWork, t1 - keyDrag.t0);
      pushSample(stats.keyDragLatency, t1 - timeStamp);
      root.dataset.keyDragWorkMs = stats.keyDragWork.join(",");
      root.dataset.keyDragLatencyMs = stats.keyDragLatency.join(",");
    },
    endKeyDrag: (cancelled) => {
      const drag = keyDrag;
      keyDrag = null;
      if (cancelled) {
        doc = parseDocument(drag.before).doc;
        preview.setDocument(doc);
        if (drag.follow !== null) state.frame = drag.follow;
        say("Move cancelled.");
      } else if (drag.shift) {
        history.record(drag.before); // the whole drag is one undo step
        writeWidget();
        say(retimeText(drag.frames, drag.shift).replace("Moving", "Moved"));
      } else {
        say(drag.refused.length ? refusedText(drag.refused) : "");
      }
      render();
    },
    keyMenu: (frames, clientX, clientY) => openKeyMenu(frames, clientX, clientY),
    onSelect: (frames) => say(frames.length ? `${frames.length} key(s) selected: ${frames.join(", ")}` : ""),
  });

  function retimeText(frames, shift) {
    const sign = shift >= 0 ? "+" : "−";
    const moved = frames.length === 1 ? `key ${frames[0]} → ${frames[0] + shift}` : `${frames.length} keys`;
    return `Moving ${moved} (${sign}${Math.abs(shift)} frame(s))`;
  }

  function refusedText(frames) {
    return `Frame ${frames.join(", ")} already holds a keyframe: keys never land on another key `
      + "(delete that one first, or drop elsewhere).";
  }

  /** The right-click menu of the keyframes at `frames`: their ease, or delete them (each one undo step). */
  function openKeyMenu(frames, clientX, clientY) {
    closeKeyMenu();
    const keys = frames.map((f) => keyframeAt(doc, f)).filter(Boolean);
    if (!keys.length) return;
    keyMenu = el("div", { class: "choreo-keymenu", role: "menu" });
    const one = keys.length === 1;
    keyMenu.append(el("div", { class: "title" }, one ? `Key at frame ${keys[0].frame}` : `${keys.length} keys`));
    for (const name of EASES) {
      const all = keys.every((kf) => kf.ease === name);
      const item = el("button", { role: "menuitemradio", "aria-checked": String(all), "data-ease": name,
        class: all ? "on" : "" }, `${name} ease`);
      item.addEventListener("click", () => {
        closeKeyMenu();
        if (keys.some((kf) => kf.ease !== name)) change((d) => setKeyframesEase(d, frames, name));
        say(`Ease of ${one ? `key ${keys[0].frame}` : `${keys.length} keys`}: ${name}.`);
      });
      keyMenu.append(item);
    }
    const remove = el("button", { role: "menuitem", "data-menu": "delete" }, one ? "Delete key" : "Delete keys");
    remove.addEventListener("click", () => {
      closeKeyMenu();
      change((d) => frames.forEach((f) => deleteKeyframe(d, f)));
    });
    keyMenu.append(remove);
    root.append(keyMenu);
    const box = keyMenu.getBoundingClientRect();
    keyMenu.style.left = `${Math.max(0, Math.min(clientX, window.innerWidth - box.width - 4))}px`;
    keyMenu.style.top = `${Math.max(0, clientY - box.height)}px`;
  }

  function closeKeyMenu() {
    if (!keyMenu) return false;
    keyMenu.remove();
    keyMenu = null;
    return true;
  }

  const onPressOutsideMenu = (e) => { if (keyMenu && !keyMenu.contains(e.target)) closeKeyMenu(); };
  root.addEventListener("pointerdown", onPressOutsideMenu, true);

  const library = createLibraryPanel({
    api, width: data.width, height: data.height, say,
    currentPose: () => pose,
    selectedJoints: () => [...poseCanvas.selection],
    insert: (keypoints, joints) => change(() => pinJoints(fitLibraryPose(keypoints, pose, joints, poseContext()))),
  });
  $(".choreo-side").prepend(library.element);
  library.refresh();

  function writeWidget() {
    doc.source_fingerprint = data.fingerprint;
    banner.classList.remove("show");
    const text = serializeDocument(doc);
    widget.value = text;
    if (typeof widget.callback === "function") widget.callback(text);
    if (onChange) onChange(text);
    root.dataset.documentRevision = String(Number(root.dataset.documentRevision || 0) + 1);
  }

  /** Run one undoable change to the document, then save it to the widget and redraw. */
  function change(fn) {
    history.record(serializeDocument(doc));
    fn(doc);
    preview.setDocument(doc);
    writeWidget();
    timeline.pruneSelection();
    render();
  }

  /** Pin joints at the playhead (locked joints are left alone); used live during drags. */
  function pinJoints(edit) {
    if (!pinDocumentJoints(doc, state.frame, edit, state.ease)) return;
    preview.setDocument(doc);
  }

  /** What a pose edit at the playhead needs: the shown root, the joints pinned there, the locked joints. */
  function poseContext() {
    return editContext(doc, state.frame, shownRoot);
  }

  function restore(text) {
    if (text === null) return;
    closeKeyMenu();
    doc = parseDocument(text).doc;
    preview.setDocument(doc);
    writeWidget();
    timeline.pruneSelection();
    render();
  }

  /** "45 / 299 · 1.50 s · bar 1 beat 4 ◆": bar and beat from the downbeats (bar 0 is a pickup). */
  function frameLabel() {
    const t = state.frame / data.fps;
    const perBar = (data.music && data.music.beats_per_bar) || 4;
    const where = barBeat(timeline.beats, [...timeline.downbeats], state.frame, perBar);
    const beatText = where ? ` · bar ${where.bar} beat ${where.beat}` : "";
    const key = state.currentKey ? " ◆" : "";
    return `${state.frame} / ${data.numFrames - 1} · ${t.toFixed(2)} s${beatText}${key}`;
  }

  function render() {
    state.currentKey = keyframeAt(doc, state.frame) || null;
    preview.poseAt(state.frame, pose, shownRoot);
    poseCanvas.setPose(pose);
    poseCanvas.draw();
    timeline.setFrame(state.frame);
    timeline.draw();
    $(".choreo-frame").textContent = frameLabel();
    root.dataset.frame = String(state.frame);
    // On a key the dropdown shows (and sets) that key's ease; elsewhere the ease new keys get.
    $('[data-act="ease"]').value = state.currentKey ? state.currentKey.ease : state.ease;
  }

  function seek(frame) {
    state.frame = Math.min(Math.max(Math.round(frame), 0), data.numFrames - 1);
    if (audio && !state.playing) audio.currentTime = state.frame / data.fps;
    render();
  }

  function stepBeat(direction) {
    const beats = timeline.beats;
    const target = direction > 0 ? beats.find((b) => b > state.frame) : [...beats].reverse().find((b) => b < state.frame);
    if (target !== undefined) seek(target);
  }

  function tick() {
    if (!state.playing) return;
    const seconds = playClock === null ? audio.currentTime : (performance.now() - playClock) / 1000;
    const frame = Math.floor(seconds * data.fps);
    if (frame >= data.numFrames || (playClock === null && audio.ended)) {
      pause();
      return;
    }
    if (frame !== state.frame) {
      state.frame = frame;
      render();
    }
    playRaf = requestAnimationFrame(tick);
  }

  function play() {
    if (state.playing) return;
    if (state.frame >= data.numFrames - 1) state.frame = 0;
    state.playing = true;
    showPlaying(true);
    const startClock = () => { playClock = performance.now() - (state.frame / data.fps) * 1000; };
    if (audio) {
      playClock = null;
      audio.currentTime = state.frame / data.fps;
      audio.play().catch(() => {
        startClock();
        say("Audio could not play here; previewing silently.");
      });
    } else {
      startClock();
    }
    playRaf = requestAnimationFrame(tick);
  }

  function showPlaying(playing) {
    const button = $('[data-act="play"]');
    button.innerHTML = icon(playing ? "pause" : "play");
    button.classList.toggle("on", playing);
  }

  function pause() {
    if (!state.playing) return;
    state.playing = false;
    cancelAnimationFrame(playRaf);
    if (audio) audio.pause();
    showPlaying(false);
  }

  const selectedOrVisible = () => (poseCanvas.selection.size ? [...poseCanvas.selection] : visibleJoints(pose));

  const actions = {
    play: () => (state.playing ? pause() : play()),
    prevBeat: () => stepBeat(-1),
    nextBeat: () => stepBeat(1),
    key: () => {
      if (state.snap) seek(nearestBeat(timeline.beats, state.frame));
      change(() => pinJoints(capture(pose, selectedOrVisible())));
    },
    delete: () => {
      if (keyframeAt(doc, state.frame)) change((d) => deleteKeyframe(d, state.frame));
    },
    snap: () => {
      state.snap = !state.snap;
      $('[data-act="snap"]').classList.toggle("on", state.snap);
    },
    snapKeys: () => {
      let stayed = 0;
      change((d) => {
        for (const frame of d.keyframes.map((kf) => kf.frame)) {
          const beat = nearestBeat(timeline.beats, frame);
          if (beat !== frame && !moveKeyframes(d, [frame], beat - frame, data.numFrames)) stayed++;
        }
      });
      if (stayed) say(`${stayed} key(s) stayed off the beat: their beat already holds a keyframe.`);
    },
    "mode-joint": () => setMode("joint"),
    "mode-body": () => setMode(poseCanvas.mode === "body" ? "joint" : "body"),
    mirror: () => {
      const joints = selectedOrVisible();
      change(() => pinJoints(mirrorJoints(pose, joints, centroid(pose, joints)[0], poseContext())));
    },
    lock: () => {
      if (!poseCanvas.selection.size) return say("Select joints to lock or unlock first.");
      change((d) => toggleLocks(d, [...poseCanvas.selection]));
    },
    copy: () => {
      state.clipboard = { pose: Float32Array.from(pose), joints: selectedOrVisible() };
      say(`Copied ${state.clipboard.joints.length} joint(s) from frame ${state.frame}.`);
    },
    paste: () => {
      if (!state.clipboard) return say("Copy a pose first (C).");
      const { pose: copied, joints } = state.clipboard;
      change(() => pinJoints(copyPose(pose, joints.filter((j) => pose[j * 3 + 2] > 0), copied, poseContext())));
    },
    undo: () => restore(history.undo(serializeDocument(doc))),
    redo: () => restore(history.redo(serializeDocument(doc))),
    fit: () => fitView(),
    keepStale: () => change(() => {}),
    clearStale: () => change((d) => { d.keyframes = []; }),
  };

  function fitView() {
    poseCanvas.fit(extent);
    render();
  }

  function setMode(mode) {
    poseCanvas.mode = mode;
    for (const m of ["joint", "body"]) $(`[data-act="mode-${m}"]`).classList.toggle("on", m === mode);
  }

  root.querySelectorAll("button[data-act]").forEach((button) => {
    const fn = actions[button.dataset.act];
    if (fn) button.addEventListener("click", () => fn());
  });
  $('[data-act="ease"]').addEventListener("change", (e) => {
    state.ease = e.target.value;
    if (state.currentKey && state.currentKey.ease !== state.ease) {
      change(() => { keyframeAt(doc, state.frame).ease = state.ease; });
    }
  });

  const keyMap = {
    " ": "play", k: "key", delete: "delete", backspace: "delete", c: "copy", v: "paste", m: "mirror", l: "lock",
    b: "mode-body", f: "fit", "?": "help",
  };
  const onKeyDown = (e) => {
    if (timeline.draggingKeys()) { // no shortcuts mid-drag; Alt is read by the timeline, Escape cancels
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    if (e.target.closest && e.target.closest("input, select, textarea")) return;
    const key = e.key.toLowerCase();
    let act = null;
    if ((e.ctrlKey || e.metaKey) && key === "z") act = e.shiftKey ? "redo" : "undo";
    else if ((e.ctrlKey || e.metaKey) && key === "y") act = "redo";
    else if (e.ctrlKey || e.metaKey || e.altKey) return;
    else if (key === "arrowleft" || key === "arrowright") {
      const dir = key === "arrowright" ? 1 : -1;
      pause();
      if (e.shiftKey) stepBeat(dir); else seek(state.frame + dir);
    } else {
      act = keyMap[key] || null;
    }
    if (act === "help") $('[data-act="help"]').click();
    else if (act) actions[act]();
    e.preventDefault();
    e.stopPropagation();
  };
  window.addEventListener("keydown", onKeyDown, true);

  // The view first frames the picture and every joint of the dance, so joints that leave the picture can be
  // reached; a window resize refits it unless the artist zoomed or panned.
  const extent = danceExtent(data.keypoints, data.numFrames, data.width, data.height);
  const layout = () => {
    poseCanvas.resize();
    if (!poseCanvas.userView) poseCanvas.fit(extent);
    timeline.resize();
    render();
  };
  window.addEventListener("resize", layout);
  layout();

  return {
    escape: () => closeKeyMenu() || timeline.cancelKeyDrag(),
    stop: () => {
      pause();
      closeKeyMenu();
      timeline.cancelKeyDrag(); // closing mid-drag: put the keys back and drop the drag's window listeners
      root.removeEventListener("pointerdown", onPressOutsideMenu, true);
      window.removeEventListener("keydown", onKeyDown, true);
      window.removeEventListener("resize", layout);
      if (audio) audio.removeAttribute("src");
    },
  };
}
