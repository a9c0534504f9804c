// Unit checks of the editor's pure modules under plain Node.js (no browser): the executed node id and the
// workflow id the editor asks the server for, bar/beat numbering from downbeats, the dance's view extent,
// the node's keyframe summary and the shared music palette. Run: node tests/browser/units.test.mjs

import { keyframeSummary } from "../../web/js/editor/edit_model.js";
import { editorPath } from "../../web/js/editor/editor_data.js";
import { executionId, workflowId } from "../../web/js/editor/node_ids.js";
import { DOWNBEAT_RGB, SECTION_RGB, sectionRGB } from "../../web/js/editor/palette.js";
import { danceExtent } from "../../web/js/editor/pose_canvas.js";
import { barBeat } from "../../web/js/editor/timeline.js";

const failures = [];
function check(condition, what) {
  console.log(`${condition ? "ok  " : "FAIL"} ${what}`);
  if (!condition) failures.push(what);
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// A workflow whose node 12 is a subgraph node holding editor node 5, one level deeper node 3 in node 8.
const inner = { nodes: [] };
const deeper = { nodes: [] };
const root = { id: "0b6e3f2a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", nodes: [] };
inner.rootGraph = root;
deeper.rootGraph = root;
const topEditor = { id: 7, graph: root };
const nested = { id: 5, graph: inner };
const nestedTwice = { id: 3, graph: deeper };
root.nodes.push(topEditor, { id: 11 }, { id: 12, subgraph: inner });
inner.nodes.push(nested, { id: 8, subgraph: deeper });
deeper.nodes.push(nestedTwice);

check(executionId(topEditor, root) === "7", "a top-level node is asked for by its own id");
check(executionId(nested, root) === "12:5", `a node inside subgraph node 12 is "12:5" (${executionId(nested, root)})`);
check(executionId(nestedTwice, root) === "12:8:3", `two levels down: "12:8:3" (${executionId(nestedTwice, root)})`);
check(executionId(nested, root, { node_id: "40:5" }) === "40:5",
  "the id of the node's last executed output wins (that is what the server stored)");
check(executionId({ id: 9, graph: { nodes: [] } }, root) === "9", "a graph that cannot be placed falls back to the id");
check(workflowId(nested, root) === root.id, "the workflow id is the root graph's id, also from inside a subgraph");
check(workflowId(topEditor, root, { workflow_id: "wf-1" }) === "wf-1", "the last run's workflow id wins");
check(workflowId({ id: 1, graph: { id: "../x" } }, { id: "../x" }) === null, "an id that is not a plain token is left out");
check(editorPath("12:5", "wf-1") === "/choreo/editor/12:5?workflow=wf-1" && editorPath("7") === "/choreo/editor/7",
  `the route keeps the subgraph separator and adds the workflow (${editorPath("12:5", "wf-1")})`);

// 4/4 at a beat every 15 frames; the first downbeat is the third beat, so beats 0 and 15 are a pickup.
const beats = [0, 15, 30, 45, 60, 75, 90, 105, 120];
const downbeats = [30, 90];
const label = (f) => { const b = barBeat(beats, downbeats, f, 4); return b && `${b.bar}.${b.beat}`; };
check(downbeats.every((f) => label(f).endsWith(".1")), "every downbeat is beat 1 of its bar");
check(label(30) === "1.1" && label(90) === "2.1" && label(75) === "1.4" && label(120) === "2.3",
  `bars count from the first downbeat (30: ${label(30)}, 75: ${label(75)}, 90: ${label(90)}, 120: ${label(120)})`);
check(label(0) === "0.3" && label(15) === "0.4", `beats before the first downbeat are a pickup, bar 0 (${label(0)}, ${label(15)})`);
check(barBeat([10, 20], [10], 5, 4) === null, "before the first beat there is no bar");
check(label(89) === "1.4", "between beats the label is the last beat's");
const b = barBeat(beats, [], 45, 4);
check(b.bar === 1 && b.beat === 4, "without downbeats bars count from the first beat");

// View extent: the picture plus every joint (a wrist off the picture's left edge) plus a margin.
const kp = new Float32Array(2 * 136 * 3);
kp[2] = 1; kp[0] = 100; kp[1] = 100;
kp[136 * 3 + 7 * 3 + 2] = 1; kp[136 * 3 + 7 * 3] = -60; kp[136 * 3 + 7 * 3 + 1] = 800;
kp[136 * 3 + 4 * 3] = -500; // confidence 0: not a joint
const ext = danceExtent(kp, 2, 512, 768);
check(ext[0] < -60 && ext[3] > 800 && ext[2] > 512 && ext[1] < 0 && ext[0] > -100,
  `the view extent holds the picture and the off-picture wrist, not the unseen point (${ext.map(Math.round)})`);

check(keyframeSummary("{}") === "no keyframes" && keyframeSummary("not json") === "no keyframes"
  && keyframeSummary(JSON.stringify({ keyframes: [{ frame: 1, joints: {} }, { frame: 4, joints: {} }] })) === "2 keyframes"
  && keyframeSummary(JSON.stringify({ keyframes: [{ frame: 1, joints: {} }] })) === "1 keyframe",
  "the node shows how many keyframes its JSON holds");
check(same(sectionRGB("A"), SECTION_RGB[0]) && same(sectionRGB("B"), SECTION_RGB[1])
  && same(sectionRGB("G"), SECTION_RGB[0]) && DOWNBEAT_RGB.length === 3,
  "section colours go by label letter, as in the Analyze Music preview");

if (failures.length) {
  console.error(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("\nall unit checks passed");
