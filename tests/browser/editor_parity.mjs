// Replays keyframe-editor gestures with the editor's own modules in Node, for tests/test_editor_parity.py.
// Each gesture is applied the way overlay.js / pose_canvas.js apply it: on the preview of its frame, with the
// edit context of the playhead, its pins written through pinJoints.
//
// stdin:  {num_frames, keypoints: flat (T, 136, 3) x, y, conf, cases: [{name, doc, hidden, steps}]}, a step
//         being {frame, joints (selection or null), ease, gesture: {kind, ...}} (kinds in the test's _cases).
// stdout: {parent: layout PARENT, constants: the preview's copies of apply.py constants,
//          cases: [{name, doc: keyframes_json after the steps, poses: flat (T, 136, 2) preview of that saved
//          document, steps: [{frame, pose: flat (136, 3) shown when the step began, root: [x, y] shown mid-hip,
//          pins}]}]}

import { readFileSync } from "node:fs";
import { EditPreview, SCALE_TOLERANCE, WHOLE_BODY_MIN_JOINTS, editContext, parseDocument, pinJoints, serializeDocument }
  from "../../web/js/editor/edit_model.js";
import { NUM_KEYPOINTS, PARENT } from "../../web/js/editor/layout.js";
import { fitLibraryPose } from "../../web/js/editor/pose_library.js";
import { capture, centroid, copyPose, mirrorJoints, rotateLimb, scaleJoints, translateJoints, visibleJoints }
  from "../../web/js/editor/pose_ops.js";

const input = JSON.parse(readFileSync(0, "utf8"));
const T = input.num_frames;

/** The preview of `frame` and its root, as overlay.js render() shows them. */
function shown(preview, frame) {
  const pose = new Float32Array(NUM_KEYPOINTS * 3);
  const root = new Float64Array(2);
  preview.poseAt(frame, pose, root);
  return { pose, root };
}

/** The pins one gesture writes, as pose_canvas.js flushMove and overlay.js actions compute them. */
function gesturePins(preview, doc, step) {
  const { pose, root } = shown(preview, step.frame);
  const ctx = editContext(doc, step.frame, root);
  const g = step.gesture;
  const selected = step.joints || visibleJoints(pose);
  switch (g.kind) {
    case "drag":
      return rotateLimb(pose, g.joint, [pose[g.joint * 3] + g.by[0], pose[g.joint * 3 + 1] + g.by[1]], ctx);
    case "move":
      return translateJoints(pose, selected, g.by[0], g.by[1], ctx);
    case "scale": {
      const all = visibleJoints(pose);
      return scaleJoints(pose, all, g.factor, centroid(pose, all));
    }
    case "mirror":
      return mirrorJoints(pose, selected, centroid(pose, selected)[0], ctx);
    case "library":
      return fitLibraryPose(g.keypoints, pose, step.joints || Array.from({ length: NUM_KEYPOINTS }, (_, j) => j), ctx);
    case "paste": {
      const copied = shown(preview, g.from_frame).pose;
      const joints = step.joints || visibleJoints(copied);
      return copyPose(pose, joints.filter((j) => pose[j * 3 + 2] > 0), copied, ctx);
    }
    case "key":
      return capture(pose, selected);
    default:
      throw new Error(`unknown gesture ${g.kind}`);
  }
}

const out = { parent: Array.from(PARENT), constants: { SCALE_TOLERANCE, WHOLE_BODY_MIN_JOINTS }, cases: [] };
for (const c of input.cases) {
  const keypoints = Float32Array.from(input.keypoints);
  for (let t = 0; t < T; t++) for (const j of c.hidden) keypoints[(t * NUM_KEYPOINTS + j) * 3 + 2] = 0;
  const preview = new EditPreview(keypoints, T);
  const doc = parseDocument(c.doc).doc;
  const steps = [];
  for (const step of c.steps) {
    preview.setDocument(doc);
    const { pose, root } = shown(preview, step.frame);
    const pins = gesturePins(preview, doc, step);
    pinJoints(doc, step.frame, pins, step.ease || "smooth");
    steps.push({ frame: step.frame, pose: Array.from(pose), root: Array.from(root), pins });
  }
  const text = serializeDocument(doc);
  preview.setDocument(parseDocument(text).doc);
  const poses = new Float64Array(T * NUM_KEYPOINTS * 2);
  for (let t = 0; t < T; t++) {
    const { pose } = shown(preview, t);
    for (let j = 0; j < NUM_KEYPOINTS; j++) {
      poses[(t * NUM_KEYPOINTS + j) * 2] = pose[j * 3];
      poses[(t * NUM_KEYPOINTS + j) * 2 + 1] = pose[j * 3 + 1];
    }
  }
  out.cases.push({ name: c.name, doc: text, steps, poses: Array.from(poses) });
}
process.stdout.write(JSON.stringify(out));
