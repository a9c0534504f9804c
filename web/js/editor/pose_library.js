// The pose library panel: save the displayed pose (or the selected joints) and insert a stored pose at the
// playhead, fitted onto the dancer so a library pose made on another canvas lands in place.

import { listPoses, loadPose, savePose } from "./editor_data.js";
import { NECK, NUM_KEYPOINTS } from "./layout.js";
import { copyPose, midHip } from "./pose_ops.js";

/**
 * Pins that put a library pose (136 [x, y, conf] on its own canvas; of a move, the first frame) onto the shown
 * dancer: the dancer takes the library pose's bone directions with its own bone lengths, placed neck onto neck
 * (the library pose is scaled by the ratio of neck-to-mid-hip lengths), so a pose from another body or canvas
 * lands in place.
 * Limited to `joints` and to points confident in both poses; `ctx` as in pose_ops.js.
 */
export function fitLibraryPose(libraryKeypoints, pose, joints, ctx) {
  const first = Array.isArray(libraryKeypoints[0]?.[0]) ? libraryKeypoints[0] : libraryKeypoints; // a move: frame 0
  const library = new Float32Array(NUM_KEYPOINTS * 3);
  first.forEach((p, j) => { if (p && j < NUM_KEYPOINTS) library.set([p[0], p[1], p[2]], j * 3); });
  const [lnx, lny] = [library[NECK * 3], library[NECK * 3 + 1]];
  const [lhx, lhy] = midHip(library);
  const root = ctx.root || midHip(pose);
  const [nx, ny] = [pose[NECK * 3], pose[NECK * 3 + 1]];
  const libraryTorso = Math.hypot(lhx - lnx, lhy - lny);
  const scale = libraryTorso > 1e-3 ? Math.hypot(root[0] - nx, root[1] - ny) / libraryTorso : 1;
  const source = new Float32Array(NUM_KEYPOINTS * 3);
  for (let j = 0; j < NUM_KEYPOINTS; j++) {
    if (library[j * 3 + 2] <= 0 || pose[j * 3 + 2] <= 0) continue;
    source.set([nx + (library[j * 3] - lnx) * scale, ny + (library[j * 3 + 1] - lny) * scale, 1], j * 3);
  }
  return copyPose(pose, joints, source, ctx);
}

/**
 * Build the library panel. `ctx`: api, width, height, currentPose() -> Float32Array, selectedJoints() ->
 * indices (empty = all), insert(libraryKeypoints, joints) puts a library pose on the dancer at the playhead,
 * say(message) shows status.
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
      ctx.insert(pose.keypoints, joints);
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
