// The pose library panel: save the displayed pose (or the selected joints) and insert a stored pose at the
// playhead, fitted onto the dancer so a library pose made on another canvas lands in place.

import { listPoses, loadPose, savePose } from "./editor_data.js";
import { NUM_KEYPOINTS, ROOT } from "./layout.js";

const HIPS = [8, 11];

function torsoLength(points, get) {
  const [nx, ny] = get(points, ROOT);
  const hx = (get(points, HIPS[0])[0] + get(points, HIPS[1])[0]) / 2;
  const hy = (get(points, HIPS[0])[1] + get(points, HIPS[1])[1]) / 2;
  return Math.hypot(hx - nx, hy - ny);
}

/**
 * Fit a library pose onto the displayed one: neck onto neck, scaled by neck-to-hips length. Returns the
 * joints to pin ({index: [x, y]}), limited to `joints` and to points visible in both poses.
 */
export function fitLibraryPose(libraryKeypoints, pose, joints) {
  const fromLib = (pts, j) => pts[j];
  const fromPose = (pts, j) => [pts[j * 3], pts[j * 3 + 1]];
  const libTorso = torsoLength(libraryKeypoints, fromLib);
  const scale = libTorso > 1e-3 ? torsoLength(pose, fromPose) / libTorso : 1;
  const [lx, ly] = libraryKeypoints[ROOT];
  const [px, py] = fromPose(pose, ROOT);
  const edit = {};
  for (const j of joints) {
    const p = libraryKeypoints[j];
    if (!p || p[2] <= 0 || pose[j * 3 + 2] <= 0) continue;
    edit[j] = [px + (p[0] - lx) * scale, py + (p[1] - ly) * scale];
  }
  return edit;
}

/**
 * Build the library panel. `ctx`: api, width, height, currentPose() -> Float32Array, selectedJoints() ->
 * indices (empty = all), insert(edit) pins joints at the playhead, say(message) shows status.
 */
export function createLibraryPanel(ctx) {
  const panel = document.createElement("div");
  panel.className = "choreo-library";
  panel.innerHTML = `<h4>Pose library</h4>
    <select size="8" class="choreo-pose-list"></select>
    <button data-act="insert">Insert at playhead</button>
    <input class="choreo-pose-name" placeholder="name for the current pose" maxlength="64">
    <button data-act="save">Save pose</button>`;
  const list = panel.querySelector(".choreo-pose-list");
  const nameInput = panel.querySelector(".choreo-pose-name");

  async function refresh() {
    try {
      const poses = await listPoses(ctx.api);
      list.replaceChildren(...poses.map((p) => {
        const option = document.createElement("option");
        option.value = p.name;
        option.textContent = `${p.name}${p.source ? ` (${p.source})` : ""}`;
        return option;
      }));
    } catch (err) {
      ctx.say(err.message);
    }
  }

  panel.querySelector('[data-act="insert"]').addEventListener("click", async () => {
    if (!list.value) return ctx.say("Pick a pose in the library first.");
    try {
      const pose = await loadPose(ctx.api, list.value);
      const selected = ctx.selectedJoints();
      const joints = selected.length ? selected : Array.from({ length: NUM_KEYPOINTS }, (_, j) => j);
      ctx.insert(fitLibraryPose(pose.keypoints, ctx.currentPose(), joints));
      ctx.say(`Inserted "${pose.name}" at the playhead.`);
    } catch (err) {
      ctx.say(err.message);
    }
  });

  panel.querySelector('[data-act="save"]').addEventListener("click", async () => {
    const name = nameInput.value.trim();
    if (!name) return ctx.say("Type a name for the pose first.");
    const pose = ctx.currentPose();
    const selected = new Set(ctx.selectedJoints());
    const keypoints = [];
    for (let j = 0; j < NUM_KEYPOINTS; j++) {
      const keep = !selected.size || selected.has(j);
      keypoints.push([pose[j * 3], pose[j * 3 + 1], keep ? pose[j * 3 + 2] : 0]);
    }
    try {
      const saved = await savePose(ctx.api, { name, canvas_width: ctx.width, canvas_height: ctx.height, keypoints });
      ctx.say(`Saved pose "${saved}".`);
      await refresh();
    } catch (err) {
      ctx.say(err.message);
    }
  });

  return { element: panel, refresh };
}
