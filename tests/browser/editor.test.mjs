// Browser test of the Choreo keyframe editor in real headless Chromium (see README.md).
// Serves the fixture page, the pack's web/js as /extensions/choreo/ and recorded /api/choreo responses,
// then drives the editor: open, draw, drag, keyframe in the widget JSON, undo, retiming keyframes on the
// timeline, stale banner, "never ran" message, and timings of drags, keyframe drags and scrubbing on a
// 3-minute, 30 fps sequence.

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, existsSync, rmSync, copyFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const FIXTURE = join(HERE, "fixture");
const RECORDED = join(FIXTURE, "recorded");
const WEB_JS = join(REPO, "web", "js");
// The committed docs/editor_*.png are refreshed only on request (CHOREO_UPDATE_DOCS=1).
const shotPath = (name) => (process.env.CHOREO_UPDATE_DOCS
  ? join(REPO, "docs", name)
  : join(process.env.CHOREO_ARTIFACTS || tmpdir(), name));
const SCREENSHOT = shotPath("editor_screenshot.png");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json",
  ".wav": "audio/wav", ".png": "image/png" };

const failures = [];
function check(condition, what) {
  console.log(`${condition ? "ok  " : "FAIL"} ${what}`);
  if (!condition) failures.push(what);
}

function makeFixture() {
  const python = process.env.PYTHON || "python3";
  const run = spawnSync(python, [join(HERE, "make_fixture.py"), RECORDED], { stdio: "inherit" });
  if (run.status !== 0) throw new Error(`make_fixture.py failed (${python}, status ${run.status})`);
}

function send(res, status, body, type = "application/json") {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(body);
}

function sendFile(res, path) {
  if (!existsSync(path)) return send(res, 404, JSON.stringify({ error: "not found" }));
  send(res, 200, readFileSync(path), TYPES[extname(path)] || "application/octet-stream");
}

/** Serve one file under `root`, refusing paths that climb out of it. */
function serveUnder(res, root, rel) {
  const path = normalize(join(root, decodeURIComponent(rel)));
  if (!path.startsWith(root)) return send(res, 403, JSON.stringify({ error: "forbidden" }));
  sendFile(res, path);
}

const savedPoses = [];
const editorRequests = []; // paths and queries of GET /api/choreo/editor/..., in order
function route(req, res) {
  const url = new URL(req.url, "http://fixture");
  const p = url.pathname;
  let m;
  if (req.method === "POST" && p === "/api/choreo/poses") {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      const pose = JSON.parse(body);
      savedPoses.push(pose);
      send(res, 200, JSON.stringify({ saved: pose.name }));
    });
    return;
  }
  if ((m = p.match(/^\/api\/choreo\/editor\/(\d+(?::\d+)*)$/))) {
    editorRequests.push(`${p}${url.search}`);
    const file = join(RECORDED, `editor_${m[1].replace(/:/g, "-")}.json`);
    if (!existsSync(file)) return send(res, 404, JSON.stringify({ error: `node ${m[1]} has not run yet` }));
    return sendFile(res, file);
  }
  if ((m = p.match(/^\/api\/choreo\/editor\/(\d+)\/audio$/))) return sendFile(res, join(RECORDED, `audio_${m[1]}.wav`));
  if ((m = p.match(/^\/api\/choreo\/editor\/(\d+)\/image$/))) return sendFile(res, join(RECORDED, `image_${m[1]}.png`));
  if (p === "/api/choreo/poses") return sendFile(res, join(RECORDED, "poses.json"));
  if ((m = p.match(/^\/api\/choreo\/poses\/([\w-]+)$/))) return sendFile(res, join(RECORDED, `pose_${m[1]}.json`));
  if (p.startsWith("/extensions/choreo/")) return serveUnder(res, WEB_JS, p.slice("/extensions/choreo/".length));
  return serveUnder(res, FIXTURE, p === "/" ? "index.html" : p.slice(1));
}

function summary(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return { n: 0 };
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  return { n: v.length, mean: +(v.reduce((a, b) => a + b, 0) / v.length).toFixed(3), p50: at(0.5), p95: at(0.95),
    max: v[v.length - 1] };
}

const readNumbers = (text) => (text ? text.split(",").map(Number) : []);

async function widgetDoc(page, nodeId) {
  return page.evaluate((id) => {
    const node = window.fixture.nodes.find((n) => n.id === id);
    return JSON.parse(node.widgets.find((w) => w.name === "keyframes_json").value);
  }, nodeId);
}

async function openEditor(page, nodeId) {
  await page.click(`.node[data-node-id="${nodeId}"] button`);
  await page.waitForSelector('.choreo-editor[data-state="ready"], .choreo-editor[data-state="error"]');
}

async function closeEditor(page) {
  await page.keyboard.press("Escape");
  await page.waitForSelector(".choreo-editor", { state: "detached" });
}

/** The pose view's mapping: CSS px = box + view + scale * picture px; backing px = dpr * (view + scale * px). */
async function poseView(page) {
  const box = await page.locator(".choreo-pose").boundingBox();
  const ds = await page.$eval(".choreo-pose", (c) => ({ ...c.dataset }));
  return { box, scale: +ds.viewScale, x: +ds.viewX, y: +ds.viewY, dpr: +ds.dpr };
}

/** CSS position of keypoint j of the displayed pose, from the recorded source (unedited frames). */
async function jointOnScreen(page, keypoints, frame, j) {
  const v = await poseView(page);
  const o = (frame * 136 + j) * 3;
  return { x: v.box.x + v.x + keypoints[o] * v.scale, y: v.box.y + v.y + keypoints[o + 1] * v.scale, scale: v.scale };
}

/** RGBA of the pose view at picture point [x, y]. */
async function pixelAt(page, point) {
  const v = await poseView(page);
  const at = [v.dpr * (v.x + point[0] * v.scale), v.dpr * (v.y + point[1] * v.scale)];
  return page.$eval(".choreo-pose", (c, [x, y]) => [...c.getContext("2d")
    .getImageData(Math.round(x), Math.round(y), 1, 1).data], at);
}

/** Drag in CSS pixels from `from` by `by`, in ten steps, with shift held when asked. */
async function drag(page, from, by, shift = false) {
  if (shift) await page.keyboard.down("Shift");
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(from.x + (by.x * i) / 10, from.y + (by.y * i) / 10);
  await page.mouse.up();
  if (shift) await page.keyboard.up("Shift");
}

const at = (kp, frame, j) => [kp[(frame * 136 + j) * 3], kp[(frame * 136 + j) * 3 + 1]];
const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/**
 * The drags whose meaning follows the render's bone tree (node 7, on beats no edit reaches): the neck turns
 * about the mid-hip keeping the spine's length, a hip moves the whole body, shift+drag in body mode scales it.
 */
async function checkBodyDrags(page, keypoints) {
  await page.keyboard.press("Shift+ArrowRight");
  const neckFrame = +(await page.$eval(".choreo-editor", (e) => e.dataset.frame));
  const neck = await jointOnScreen(page, keypoints, neckFrame, 1);
  await drag(page, neck, { x: 30, y: 10 });
  const neckKey = (await widgetDoc(page, 7)).keyframes.find((k) => k.frame === neckFrame);
  const hips = [at(keypoints, neckFrame, 8), at(keypoints, neckFrame, 11)];
  const mid = [(hips[0][0] + hips[1][0]) / 2, (hips[0][1] + hips[1][1]) / 2];
  const from = at(keypoints, neckFrame, 1);
  const pointer = [from[0] + 30 / neck.scale, from[1] + 10 / neck.scale];
  const turn = Math.atan2(pointer[1] - mid[1], pointer[0] - mid[0]);
  const spine = dist(from, mid);
  const expected = [mid[0] + spine * Math.cos(turn), mid[1] + spine * Math.sin(turn)];
  const got = neckKey && neckKey.joints["1"];
  check(Boolean(got) && Object.keys(neckKey.joints).join() === "1" && dist(got, expected) < 2,
    `a neck drag at frame ${neckFrame} turns the spine about the mid-hip, neck at ${JSON.stringify(got)} `
    + `(expected ~${expected.map((v) => v.toFixed(1))}, spine length kept, hips not pinned)`);

  await page.keyboard.press("Shift+ArrowRight");
  await page.keyboard.press("Shift+ArrowRight");
  const hipFrame = +(await page.$eval(".choreo-editor", (e) => e.dataset.frame));
  const hip = await jointOnScreen(page, keypoints, hipFrame, 8);
  await drag(page, hip, { x: 20, y: -15 });
  const hipKey = (await widgetDoc(page, 7)).keyframes.find((k) => k.frame === hipFrame);
  const shift = [20 / hip.scale, -15 / hip.scale];
  const moved = (j) => { const [x, y] = at(keypoints, hipFrame, j); return [x + shift[0], y + shift[1]]; };
  check(Boolean(hipKey) && Object.keys(hipKey.joints).join() === "8,11"
    && dist(hipKey.joints["8"], moved(8)) < 2 && dist(hipKey.joints["11"], moved(11)) < 2,
  `a hip drag at frame ${hipFrame} pins both hips moved by the drag (${JSON.stringify(hipKey && hipKey.joints)})`);
  const ankle = await pixelAt(page, moved(10));
  check(ankle[2] > 200 && ankle[0] < 100,
    `the whole body follows the hip: the right ankle is drawn moved too (pixel ${ankle})`);

  await page.keyboard.press("Shift+ArrowRight");
  const scaleFrame = +(await page.$eval(".choreo-editor", (e) => e.dataset.frame));
  await page.keyboard.press("b");
  const box = await page.locator(".choreo-pose").boundingBox();
  await drag(page, { x: box.x + box.width / 2, y: box.y + box.height / 2 }, { x: 0, y: -40 }, true);
  await page.keyboard.press("b");
  const scaleKey = (await widgetDoc(page, 7)).keyframes.find((k) => k.frame === scaleFrame);
  const factor = Math.exp(40 / hip.scale / 200);
  const ratio = scaleKey && dist(scaleKey.joints["10"], scaleKey.joints["13"])
    / dist(at(keypoints, scaleFrame, 10), at(keypoints, scaleFrame, 13));
  check(Boolean(scaleKey) && Object.keys(scaleKey.joints).length === 136 && Math.abs(ratio - factor) < 0.01,
    `shift+drag in body mode scales the whole body at frame ${scaleFrame} `
    + `(ankle spacing x${ratio && ratio.toFixed(3)}, expected x${factor.toFixed(3)})`);
}

/** Keyframe diamonds on the timeline: CSS x of a frame, the key lane's y, pixels per frame. */
async function timelineGeometry(page) {
  const box = await page.locator(".choreo-timeline").boundingBox();
  const ds = await page.$eval(".choreo-timeline", (c) => ({ ...c.dataset }));
  const pxPerFrame = +ds.pxPerFrame;
  return { box, pxPerFrame, y: box.y + +ds.keyLaneY, x: (frame) => box.x + frame * pxPerFrame - +ds.scrollPx };
}

const timelineData = (page) => page.$eval(".choreo-timeline", (c) => ({ ...c.dataset }));
const statusText = (page) => page.$eval(".choreo-status", (e) => e.textContent);
const nextPaint = (page) => page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => ok())));
const framesOf = (doc) => doc.keyframes.map((k) => k.frame);

/** Press the diamond of `frame`, move the pointer by `byPx` in ten steps, optionally leave the button down. */
async function dragKey(page, frame, byPx, { release = true } = {}) {
  const tl = await timelineGeometry(page);
  const x = tl.x(frame);
  await page.mouse.move(x, tl.y);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(x + (byPx * i) / 10, tl.y);
  await nextPaint(page);
  if (release) await page.mouse.up();
}

/** Click the diamond of `frame` (shift held when asked). */
async function clickKey(page, frame, shift = false) {
  const tl = await timelineGeometry(page);
  if (shift) await page.keyboard.down("Shift");
  await page.mouse.click(tl.x(frame), tl.y);
  if (shift) await page.keyboard.up("Shift");
}

const RETIME_DOC = {
  version: 1, source_fingerprint: "5eedc0de".repeat(4), blend_frames: 6, locked_joints: [],
  keyframes: [
    { frame: 15, ease: "smooth", joints: { 4: [150, 330], 7: [370, 330] } },
    { frame: 45, ease: "linear", joints: { 4: [160, 200] } },
    { frame: 60, ease: "hold", joints: { 7: [360, 210] } },
  ],
};

/**
 * Retiming on node 7 (120 BPM at 30 fps: a beat every 15 frames, 300 frames), starting from RETIME_DOC:
 * drag by beats with snap on, undo, a drop onto another keyframe refused, multi-select moves, clamping at
 * both ends with Alt placing freely, Escape cancelling a drag, and the ease menu on right-click.
 */
async function checkRetiming(page, keypoints) {
  await page.evaluate((text) => {
    window.fixture.nodes.find((n) => n.id === 7).widgets.find((w) => w.name === "keyframes_json").value = text;
  }, JSON.stringify(RETIME_DOC));
  await openEditor(page, 7);
  const seed = RETIME_DOC.keyframes;
  for (let i = 0; i < 7; i++) await page.keyboard.press("Shift+ArrowRight");
  await page.click('[data-act="snap"]');
  const tl = await timelineGeometry(page);

  // Key 15 dragged six beats and a third (95 frames) to the right: snap puts it on the beat at frame 105,
  // jumping over the keys at 45 and 60. The playhead waits at 105, so the live preview must show its pose.
  await dragKey(page, 15, 95 * tl.pxPerFrame, { release: false });
  const during = await widgetDoc(page, 7);
  const live = await timelineData(page);
  const e = at(keypoints, 105, 3);
  const w = at(keypoints, 105, 4);
  const target = seed[0].joints[4];
  const reach = dist(e, w) / dist(e, target);
  const wrist = [e[0] + (target[0] - e[0]) * reach, e[1] + (target[1] - e[1]) * reach];
  const pixel = await pixelAt(page, wrist);
  check(live.keyframes === "45,60,105" && pixel[1] > 200 && pixel[2] < 120
    && framesOf(during).join() === "15,45,60",
  `while dragging, the timeline and the pose at the playhead (frame 105) update live (keys ${live.keyframes}, `
    + `wrist pixel ${pixel}) and the widget waits for the drop (${framesOf(during)})`);
  await page.mouse.up();
  const moved = await widgetDoc(page, 7);
  const key105 = moved.keyframes.find((k) => k.frame === 105);
  check(framesOf(moved).join() === "45,60,105" && JSON.stringify(key105.joints) === JSON.stringify(seed[0].joints)
    && key105.ease === "smooth"
    && JSON.stringify(moved.keyframes.slice(0, 2)) === JSON.stringify(seed.slice(1)),
  `dragging key 15 by ~6.3 beats with snap on retimes it to the beat at frame 105, pose and ease unchanged `
    + `(keys ${framesOf(moved)})`);
  await page.keyboard.press("Control+z");
  const undone = await widgetDoc(page, 7);
  check(JSON.stringify(undone.keyframes) === JSON.stringify(seed),
    `one undo puts it back at 15 (keys ${framesOf(undone)})`);
  await page.keyboard.press("Control+Shift+z");
  check(framesOf(await widgetDoc(page, 7)).join() === "45,60,105", "redo retimes it again");

  // Dropping key 45 onto key 60 is refused: a red marker and a message while over it, nothing changes on drop.
  await dragKey(page, 45, 15 * tl.pxPerFrame, { release: false });
  const refused = (await timelineData(page)).refusedDrop;
  const message = await statusText(page);
  await page.mouse.up();
  const kept = await widgetDoc(page, 7);
  check(refused === "60" && message.includes("already holds a keyframe")
    && JSON.stringify(kept.keyframes) === JSON.stringify(moved.keyframes),
  `dropping key 45 onto key 60 is refused and destroys nothing (marker at ${refused}, "${message}")`);
  await page.keyboard.press("Control+z");
  check(framesOf(await widgetDoc(page, 7)).join() === "15,45,60", "a refused drop adds no undo step");
  await page.keyboard.press("Control+Shift+z");

  // Shift+click 60 after clicking 45, then drag 45 by two beats: both move, 15 frames apart as before.
  await clickKey(page, 45);
  await clickKey(page, 60, true);
  const picked = (await timelineData(page)).selectedKeys;
  await dragKey(page, 45, 30 * tl.pxPerFrame);
  const pair = await widgetDoc(page, 7);
  const k75 = pair.keyframes.find((k) => k.frame === 75);
  const k90 = pair.keyframes.find((k) => k.frame === 90);
  check(picked === "45,60" && framesOf(pair).join() === "75,90,105" && k75 && k90
    && JSON.stringify(k75.joints) === JSON.stringify(seed[1].joints) && k75.ease === "linear"
    && JSON.stringify(k90.joints) === JSON.stringify(seed[2].joints) && k90.ease === "hold",
  `shift+click selects keys ${picked}; dragging them two beats keeps their spacing (keys ${framesOf(pair)})`);

  // A box drawn in the key lane selects 75, 90 and 105; with Alt held (no snap) a drag far past the end
  // stops the last key on the last frame, 299, the group's spacing kept; without Alt, far past the start, at 0.
  await page.mouse.click(tl.x(200), tl.y);
  await page.mouse.move(tl.x(68), tl.y);
  await page.mouse.down();
  for (let i = 1; i <= 5; i++) await page.mouse.move(tl.x(68 + 8 * i), tl.y);
  await page.mouse.up();
  const boxed = (await timelineData(page)).selectedKeys;
  await page.keyboard.down("Alt");
  await dragKey(page, 105, tl.box.width);
  await page.keyboard.up("Alt");
  const end = await widgetDoc(page, 7);
  check(boxed === "75,90,105" && framesOf(end).join() === "269,284,299",
    `a box selects keys ${boxed}; an Alt+drag past the end clamps them to ${framesOf(end)} (expected 269,284,299)`);
  await dragKey(page, 284, -tl.box.width);
  const start = await widgetDoc(page, 7);
  check(framesOf(start).join() === "0,15,30", `a drag past the start clamps them to ${framesOf(start)}`);

  // Escape mid-drag puts the keys back and leaves the editor open.
  await dragKey(page, 15, 60 * tl.pxPerFrame, { release: false });
  await page.keyboard.press("Escape");
  await page.mouse.up();
  const open = await page.$$eval(".choreo-editor", (els) => els.length);
  check(open === 1 && (await timelineData(page)).keyframes === "0,15,30"
    && framesOf(await widgetDoc(page, 7)).join() === "0,15,30",
  "Escape during a keyframe drag cancels it and keeps the editor open");

  // Right-click a key: its menu sets the ease (one undo step); the widget keeps the rest unchanged.
  await clickKey(page, 30);
  await page.mouse.click(tl.x(30), tl.y, { button: "right" });
  const title = await page.$eval(".choreo-keymenu .title", (el) => el.textContent);
  await page.click('.choreo-keymenu [data-ease="linear"]');
  const eased = await widgetDoc(page, 7);
  const menuGone = await page.$$eval(".choreo-keymenu", (els) => els.length === 0);
  check(title === "Key at frame 30" && menuGone
    && eased.keyframes.map((k) => k.ease).join() === "linear,hold,linear",
  `right-click on key 30 opens its menu ("${title}"); choosing linear changes only its ease `
    + `(${eased.keyframes.map((k) => k.ease)})`);
  await page.keyboard.press("Control+z");
  check((await widgetDoc(page, 7)).keyframes[2].ease === "smooth", "undo restores its ease");
  await closeEditor(page);
}

const frameText = (page) => page.$eval(".choreo-frame", (e) => e.textContent);

/**
 * The editor at a laptop and a desktop size: the toolbar is one row that fits (nothing wraps or spills) and
 * does not shift while the frame label changes, and the help opens as a panel that shows all of its text.
 */
async function checkLayout(page, width, height, screenshot) {
  await page.setViewportSize({ width, height });
  await openEditor(page, 7);
  const bar = await page.$eval(".choreo-toolbar", (t) => {
    const rects = [...t.children].filter((c) => c.getClientRects().length).map((c) => c.getBoundingClientRect());
    return { height: t.getBoundingClientRect().height, top: Math.min(...rects.map((r) => r.top)),
      bottom: Math.max(...rects.map((r) => r.bottom)), right: Math.max(...rects.map((r) => r.right)),
      spill: t.scrollWidth - t.clientWidth };
  });
  check(bar.height <= 40 && bar.bottom - bar.top <= 32 && bar.spill <= 0 && bar.right <= width,
    `at ${width}x${height} the toolbar is one row that fits (height ${bar.height}px, items span `
    + `${bar.bottom - bar.top}px vertically, right edge ${Math.round(bar.right)}px, spill ${bar.spill}px)`);
  const keyX = () => page.$eval('[data-act="key"]', (b) => b.getBoundingClientRect().x);
  const before = { x: await keyX(), label: await frameText(page) };
  const tl = await page.locator(".choreo-timeline").boundingBox();
  await page.mouse.click(tl.x + tl.width - 3, tl.y + tl.height / 2);
  const after = { x: await keyX(), label: await frameText(page) };
  check(before.label !== after.label && before.x === after.x,
    `the toolbar does not shift as the frame label changes ("${before.label}" -> "${after.label}", `
    + `key button at x ${before.x} -> ${after.x})`);
  await page.keyboard.press("?");
  const help = await page.$eval(".choreo-help", (h) => {
    const r = h.getBoundingClientRect();
    return { shown: r.height > 0, top: r.top, bottom: r.bottom, left: r.left, right: r.right,
      cut: h.scrollHeight - h.clientHeight, text: h.textContent };
  });
  check(help.shown && help.top >= 0 && help.left >= 0 && help.bottom <= height && help.right <= width
    && help.cut <= 0 && help.text.includes("Esc close"),
  `at ${width}x${height} "?" opens the help panel fully visible (box ${[help.left, help.top, help.right, help.bottom]
    .map(Math.round)}, ${help.cut}px cut)`);
  if (!screenshot.help) await page.keyboard.press("?");
  await page.mouse.move(width / 2, 40);
  await page.screenshot({ path: shotPath(screenshot.name) });
  console.log(`screenshot: ${shotPath(screenshot.name)}`);
  await closeEditor(page);
}

/**
 * Node 11 (1280x720): the left wrist leaves the picture, and the view opens fitted to the whole dance, so the
 * wrist is on screen and can be dragged; zoom and pan change the view, F fits it again. The right forearm is
 * foreshortened in the first second: pressing its wrist says why a drag barely moves it.
 */
async function checkOffPicture(page) {
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.evaluate(() => {
    window.fixture.nodes.find((n) => n.id === 11).widgets.find((w) => w.name === "keyframes_json").value = "{}";
  });
  await openEditor(page, 11);
  const kp = decode(join(RECORDED, "editor_11.json"));
  const view = await poseView(page);
  const wrist = await jointOnScreen(page, kp, 0, 7);
  const inside = (p) => p.x > view.box.x && p.x < view.box.x + view.box.width && p.y > view.box.y
    && p.y < view.box.y + view.box.height;
  check(at(kp, 0, 7)[0] > 512 && inside(wrist),
    `the left wrist outside the picture (x ${at(kp, 0, 7)[0].toFixed(0)} > 512) is on screen after the fit `
    + `(${Math.round(wrist.x)}, ${Math.round(wrist.y)})`);
  await drag(page, wrist, { x: -40, y: -30 });
  const doc = await widgetDoc(page, 11);
  const key = doc.keyframes.find((k) => k.frame === 0);
  check(Boolean(key && key.joints["7"]), `dragging it writes a keyframe for it (${JSON.stringify(key && key.joints)})`);

  const fitted = view.scale;
  await page.mouse.move(view.box.x + view.box.width / 2, view.box.y + view.box.height / 2);
  await page.mouse.wheel(0, -400);
  await page.mouse.move(view.box.x + 50, view.box.y + 50);
  await page.mouse.down({ button: "middle" });
  await page.mouse.move(view.box.x + 120, view.box.y + 90, { steps: 4 });
  await page.mouse.up({ button: "middle" });
  const zoomed = await poseView(page);
  await page.keyboard.press("f");
  const refit = await poseView(page);
  check(zoomed.scale > fitted * 1.5 && Math.abs(zoomed.x - view.x) > 1 && refit.scale === fitted
    && refit.x === view.x && refit.y === view.y,
  `the wheel zooms (x${(zoomed.scale / fitted).toFixed(2)}), a middle-drag pans, F fits the dance again`);

  const right = await jointOnScreen(page, kp, 0, 4);
  await page.mouse.move(right.x, right.y);
  await page.mouse.down();
  await page.mouse.move(right.x + 30, right.y + 5, { steps: 3 });
  const told = await statusText(page);
  const flagged = await page.$eval(".choreo-editor", (e) => e.dataset.foreshortened);
  await page.screenshot({ path: shotPath("editor_off_picture.png") }); // the reach circle of the short forearm
  console.log(`screenshot: ${shotPath("editor_off_picture.png")}`);
  await page.mouse.up();
  check(flagged === "4" && told.includes("foreshortened") && told.includes("20 px"),
    `pressing the foreshortened right wrist says why it barely moves ("${told}")`);
  await closeEditor(page);
}

function decode(file) {
  const data = JSON.parse(readFileSync(file, "utf8"));
  const buf = Buffer.from(data.keypoints, "base64");
  return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
}

async function main() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}; apt-get install chromium or set CHROMIUM_PATH`);
  makeFixture();
  const server = createServer(route);
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = mkdtempSync(join(tmpdir(), "choreo-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) errors.push(`console: ${msg.text()}`);
  });
  page.on("response", (res) => {
    const path = new URL(res.url()).pathname;
    if (res.status() >= 400 && path !== "/api/choreo/editor/9" && path !== "/favicon.ico") {
      errors.push(`HTTP ${res.status()} ${path}`);
    }
  });
  try {
    await page.goto(base);
    await page.waitForFunction(() => window.fixture && window.fixture.ready);
    check(await page.evaluate(() => window.fixture.app.extensions.map((e) => e.name).join()) === "Choreo.KeyframeEditor",
      "exactly one extension, Choreo.KeyframeEditor, is registered");
    check(await page.evaluate(() => {
      const node = window.fixture.nodes[0];
      const w = node.widgets.find((x) => x.name === "keyframes_json");
      const b = node.widgets.find((x) => x.type === "button");
      return w.hidden && w.options.hidden && b && b.serialize === false;
    }), "keyframes_json is hidden and the button widget does not serialise");

    await openEditor(page, 7);
    check(await page.$eval(".choreo-editor", (e) => e.dataset.state) === "ready", "the overlay opens on node 7");
    const beats = await page.$eval(".choreo-timeline", (c) => ({ beats: +c.dataset.beatsDrawn, down: +c.dataset.downbeatsDrawn }));
    check(beats.beats > 0 && beats.down > 0, `beat markers are drawn (${beats.beats} beats, ${beats.down} downbeats)`);
    const lit = await page.$eval(".choreo-pose", (c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 300) n++;
      return n;
    });
    check(lit > 2000, `the frame's skeleton is drawn (${lit} bright pixels)`);

    check(await page.$eval('[data-act="ease"]', (s) => s.value) === "smooth",
      "the ease dropdown shows smooth, the ease new keys get");
    const labelAt0 = await frameText(page);
    await page.keyboard.press("Shift+ArrowRight");
    const beatFrame = +(await page.$eval(".choreo-editor", (e) => e.dataset.frame));
    check(beatFrame === 15, `shift+right jumps to the next beat (frame ${beatFrame}, expected 15)`);
    const labelAt15 = await frameText(page);
    for (let i = 0; i < 3; i++) await page.keyboard.press("Shift+ArrowRight");
    const labelAt60 = await frameText(page);
    for (let i = 0; i < 3; i++) await page.keyboard.press("Shift+ArrowLeft");
    check(labelAt0.includes("bar 1 beat 1") && labelAt15.includes("bar 1 beat 2") && labelAt60.includes("bar 2 beat 1"),
      `bars count from the downbeats: "${labelAt0}", "${labelAt15}", downbeat 60: "${labelAt60}"`);

    const keypoints = decode(join(RECORDED, "editor_7.json"));
    const wrist = await jointOnScreen(page, keypoints, beatFrame, 4);
    const move = { x: 40, y: -60 };
    await page.mouse.move(wrist.x, wrist.y);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(wrist.x + (move.x * i) / 10, wrist.y + (move.y * i) / 10);
    await page.mouse.up();
    const doc = await widgetDoc(page, 7);
    const key = doc.keyframes.find((k) => k.frame === beatFrame);
    const o = (beatFrame * 136 + 4) * 3;
    const pointer = [keypoints[o] + move.x / wrist.scale, keypoints[o + 1] + move.y / wrist.scale];
    const e = (beatFrame * 136 + 3) * 3;
    const forearm = Math.hypot(keypoints[o] - keypoints[e], keypoints[o + 1] - keypoints[e + 1]);
    const turn = Math.atan2(pointer[1] - keypoints[e + 1], pointer[0] - keypoints[e]);
    const expected = [keypoints[e] + forearm * Math.cos(turn), keypoints[e + 1] + forearm * Math.sin(turn)];
    const got = key && key.joints["4"];
    check(Boolean(got) && Math.hypot(got[0] - expected[0], got[1] - expected[1]) < 2,
      `the drag wrote a keyframe at frame ${beatFrame} turning the forearm, wrist at ${JSON.stringify(got)} `
      + `(expected ~${expected.map((v) => v.toFixed(1))}, forearm length kept)`);
    check(doc.source_fingerprint === "5eedc0de".repeat(4), "the document carries the source fingerprint");
    const wristPixel = await pixelAt(page, expected);
    check(wristPixel[1] > 200 && wristPixel[2] < 120, `the moved wrist is drawn at its new place (pixel ${wristPixel})`);
    const changes = await page.evaluate(() => window.fixture.nodes[0].changes.length);
    check(changes >= 1, `the widget callback ran (${changes} call(s))`);

    await page.keyboard.press("Control+z");
    const undone = await widgetDoc(page, 7);
    check(undone.keyframes.length === 0, "undo removes the keyframe from the widget JSON");
    await page.keyboard.press("Control+Shift+z");
    const redone = await widgetDoc(page, 7);
    check(redone.keyframes.length === 1 && redone.keyframes[0].frame === beatFrame, "redo brings it back");

    const poseBox = await page.locator(".choreo-pose").boundingBox();
    await page.mouse.click(poseBox.x + 4, poseBox.y + 4);
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("Shift+ArrowRight");
    const shownEase = await page.$eval('[data-act="ease"]', (s) => s.value);
    await page.keyboard.press("k");
    const keyed = await widgetDoc(page, 7);
    check(keyed.keyframes.length === 2 && keyed.keyframes[1].frame === 45
      && Object.keys(keyed.keyframes[1].joints).length === 136, "K pins the whole body at the playhead (frame 45)");
    check(keyed.keyframes[1].ease === shownEase,
      `the new key gets the ease the dropdown showed (${keyed.keyframes[1].ease}, shown ${shownEase})`);
    await page.keyboard.press("ArrowRight");
    await page.selectOption('[data-act="ease"]', "linear");
    await page.keyboard.press("k");
    const relinear = (await widgetDoc(page, 7)).keyframes.find((k) => k.frame === 46);
    await page.keyboard.press("Control+z");
    await page.keyboard.press("ArrowLeft");
    await page.selectOption('[data-act="ease"]', "smooth");
    check(Boolean(relinear) && relinear.ease === "linear", "choosing linear off a key makes the next new key linear");
    await page.keyboard.press("Shift+ArrowLeft");
    await page.keyboard.press("Shift+ArrowLeft");
    await page.selectOption('[data-act="ease"]', "hold");
    await page.mouse.move(10, 10);
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    if (process.env.CHOREO_ARTIFACTS && process.env.CHOREO_UPDATE_DOCS) {
      mkdirSync(process.env.CHOREO_ARTIFACTS, { recursive: true });
      copyFileSync(SCREENSHOT, join(process.env.CHOREO_ARTIFACTS, "editor_screenshot.png"));
    }
    console.log(`screenshot: ${SCREENSHOT}`);
    await checkBodyDrags(page, keypoints);
    await closeEditor(page);
    const nodeText = await page.$eval('.node[data-node-id="7"]', (e) => e.textContent);
    const savedDoc = await widgetDoc(page, 7);
    const serialises = await page.evaluate(() => window.fixture.nodes[0].widgets
      .find((w) => w.name === "keyframes_json").serialize !== false);
    check(nodeText.includes(`${savedDoc.keyframes.length} keyframes`) && !nodeText.includes("source_fingerprint")
      && serialises,
    `the node shows a summary, not the raw JSON, which still serialises ("${nodeText.trim()}")`);
    await checkRetiming(page, keypoints);

    await openEditor(page, 5);
    check(await page.$eval(".choreo-editor", (e) => e.dataset.state) === "ready"
      && editorRequests[editorRequests.length - 1]
        === "/api/choreo/editor/12:5?workflow=f1x7ure0-0000-4000-8000-000000000001",
    `node 5 inside subgraph node 12 opens under its executed id and workflow (${editorRequests.at(-1)})`);
    await closeEditor(page);

    await openEditor(page, 9);
    const message = await page.$eval(".choreo-message", (e) => e.textContent);
    check(message.includes("Run the workflow once"), `a node that never ran explains what to do ("${message}")`);
    await closeEditor(page);

    await openEditor(page, 10);
    check(await page.$eval(".choreo-banner", (e) => e.classList.contains("show")), "stale edits show the banner");
    await page.click('[data-act="clearStale"]');
    const cleared = await widgetDoc(page, 10);
    check(cleared.keyframes.length === 0 && cleared.source_fingerprint === "5eedc0de".repeat(4),
      "clearing stale edits empties the document and adopts the new fingerprint");
    await closeEditor(page);

    await openEditor(page, 8);
    const tl = await page.locator(".choreo-timeline").boundingBox();
    await page.mouse.move(tl.x + 5, tl.y + tl.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 150; i++) await page.mouse.move(tl.x + 5 + ((tl.width - 10) * i) / 150, tl.y + tl.height / 2);
    await page.mouse.up();
    const scrubFrame = +(await page.$eval(".choreo-editor", (e) => e.dataset.frame));
    check(scrubFrame > 5000, `scrubbing across the 3-minute timeline reaches the end (frame ${scrubFrame})`);
    const long = decode(join(RECORDED, "editor_8.json"));
    const elbow = await jointOnScreen(page, long, scrubFrame, 3);
    await page.mouse.move(elbow.x, elbow.y);
    await page.mouse.down();
    for (let i = 1; i <= 120; i++) {
      await page.mouse.move(elbow.x + 50 * Math.sin(i / 10), elbow.y + 30 * Math.cos(i / 10));
    }
    await page.mouse.up();
    // Whole-body keys spread over the song (K at a tenth, three tenths, ... of it), then the first one is
    // dragged across half the timeline, through the others' neighbourhoods.
    for (const at of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      await page.mouse.click(tl.x + tl.width * at, tl.y + tl.height / 2);
      await page.keyboard.press("k");
    }
    const longKeys = (await timelineData(page)).keyframes.split(",").map(Number);
    const longTl = await timelineGeometry(page);
    const grab = longKeys[0];
    await page.mouse.move(longTl.x(grab), longTl.y);
    await page.mouse.down();
    for (let i = 1; i <= 120; i++) await page.mouse.move(longTl.x(grab) + (tl.width * 0.5 * i) / 120, longTl.y);
    await page.mouse.up();
    const retimed = await widgetDoc(page, 8);
    check(retimed.keyframes.length === longKeys.length && !framesOf(retimed).includes(grab),
      `on the 3-minute sequence key ${grab} was dragged to ${framesOf(retimed).filter((f) => !longKeys.includes(f))} `
      + `among ${longKeys.length - 1} other whole-body keys`);
    const stats = await page.$eval(".choreo-editor", (e) => ({ latency: e.dataset.dragLatencyMs,
      work: e.dataset.dragWorkMs, scrub: e.dataset.scrubMs, keyWork: e.dataset.keyDragWorkMs,
      keyLatency: e.dataset.keyDragLatencyMs }));
    const dragWork = summary(readNumbers(stats.work));
    const dragLatency = summary(readNumbers(stats.latency));
    const scrub = summary(readNumbers(stats.scrub));
    const keyWork = summary(readNumbers(stats.keyWork));
    const keyLatency = summary(readNumbers(stats.keyLatency));
    console.log("timings on 5400 frames (ms):");
    console.log(`  drag update (edit + redraw)       ${JSON.stringify(dragWork)}`);
    console.log(`  drag pointer event -> redrawn     ${JSON.stringify(dragLatency)}`);
    console.log(`  scrub frame (seek + redraw)       ${JSON.stringify(scrub)}`);
    console.log(`  key drag update (retime + redraw) ${JSON.stringify(keyWork)}`);
    console.log(`  key drag pointer event -> redrawn ${JSON.stringify(keyLatency)}`);
    // Timings are printed, never asserted (a loaded CI machine is not a regression); the checks only make
    // sure every interaction was measured, i.e. the drags and the scrub really ran frame by frame.
    check(dragWork.n > 10 && scrub.n > 10 && keyWork.n > 10, "drag, scrub and key drag were each measured");
    await closeEditor(page);
    await checkOffPicture(page);
    await checkLayout(page, 1600, 900, { name: "editor_1600x900.png", help: false });
    await checkLayout(page, 1280, 720, { name: "editor_1280x720.png", help: true });
    check(errors.length === 0, `no page errors${errors.length ? `: ${errors.join(" | ")}` : ""}`);
  } finally {
    await context.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`\n${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log("\nall browser checks passed");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
