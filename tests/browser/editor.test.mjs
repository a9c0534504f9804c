// Browser test of the Choreo keyframe editor in real headless Chromium (see README.md).
// Serves the fixture page, the pack's web/js as /extensions/choreo/ and recorded /api/choreo responses,
// then drives the editor: open, draw, drag, keyframe in the widget JSON, undo, stale banner, "never ran"
// message, and timings of drags and scrubbing on a 3-minute, 30 fps sequence.

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
// The committed docs/editor_screenshot.png is refreshed only on request (CHOREO_UPDATE_DOCS=1).
const SCREENSHOT = process.env.CHOREO_UPDATE_DOCS
  ? join(REPO, "docs", "editor_screenshot.png")
  : join(process.env.CHOREO_ARTIFACTS || tmpdir(), "editor_screenshot.png");
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
  if ((m = p.match(/^\/api\/choreo\/editor\/(\d+)$/))) {
    const file = join(RECORDED, `editor_${m[1]}.json`);
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

/** CSS position of keypoint j of the displayed pose, from the recorded source (unedited frames). */
async function jointOnScreen(page, keypoints, frame, j) {
  const box = await page.locator(".choreo-pose").boundingBox();
  const canvasW = await page.$eval(".choreo-pose", (c) => c.width);
  const s = box.width / canvasW;
  const o = (frame * 136 + j) * 3;
  return { x: box.x + keypoints[o] * s, y: box.y + keypoints[o + 1] * s, scale: s };
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
  const ankle = await page.$eval(".choreo-pose", (c, [x, y]) => [...c.getContext("2d")
    .getImageData(Math.round(x), Math.round(y), 1, 1).data], moved(10));
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

    await page.keyboard.press("Shift+ArrowRight");
    const beatFrame = +(await page.$eval(".choreo-editor", (e) => e.dataset.frame));
    check(beatFrame === 15, `shift+right jumps to the next beat (frame ${beatFrame}, expected 15)`);

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
    const wristPixel = await page.$eval(".choreo-pose", (c, [x, y]) => [...c.getContext("2d")
      .getImageData(Math.round(x), Math.round(y), 1, 1).data], expected);
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
    await page.keyboard.press("k");
    const keyed = await widgetDoc(page, 7);
    check(keyed.keyframes.length === 2 && keyed.keyframes[1].frame === 45
      && Object.keys(keyed.keyframes[1].joints).length === 136, "K pins the whole body at the playhead (frame 45)");
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
    const stats = await page.$eval(".choreo-editor", (e) => ({ latency: e.dataset.dragLatencyMs,
      work: e.dataset.dragWorkMs, scrub: e.dataset.scrubMs }));
    const dragWork = summary(readNumbers(stats.work));
    const dragLatency = summary(readNumbers(stats.latency));
    const scrub = summary(readNumbers(stats.scrub));
    console.log("timings on 5400 frames (ms):");
    console.log(`  drag update (edit + redraw)       ${JSON.stringify(dragWork)}`);
    console.log(`  drag pointer event -> redrawn     ${JSON.stringify(dragLatency)}`);
    console.log(`  scrub frame (seek + redraw)       ${JSON.stringify(scrub)}`);
    check(dragWork.n > 10 && dragWork.p95 < 16.7, "a drag update fits in one 60 Hz frame (p95 < 16.7 ms)");
    check(scrub.n > 10 && scrub.p95 < 16.7, "a scrub frame fits in one 60 Hz frame (p95 < 16.7 ms)");
    await closeEditor(page);
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
