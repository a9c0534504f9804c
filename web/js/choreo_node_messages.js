// Choreo.NodeMessages: shows the sentence a Choreo node returns as `ui.text` (e.g. Reference Pose saying that
// the dance is fitted to a guessed default body, or which source it used) inside the node, so a warning is seen
// where the artist looks rather than only in the server console. The message widget is never sent to the server
// and is added after the node's own widgets, so saved workflows load as before.

import { app } from "../../scripts/app.js";

const NODES_WITH_MESSAGES = new Set(["ChoreoReferencePose", "ChoreoAnalyzeMusic", "ChoreoRenderDanceVideoFile"]);
const MESSAGE_WIDGET = "choreo_message";
const WARNING_COLOR = "#6b4a1a";

function showMessage(node, lines) {
  const text = lines.join("\n");
  let widget = (node.widgets || []).find((w) => w.name === MESSAGE_WIDGET);
  if (!widget) {
    widget = node.addWidget("text", MESSAGE_WIDGET, "", () => {}, { serialize: false, multiline: true });
    widget.serialize = false;
    widget.disabled = true;
  }
  widget.value = text;
  node.bgcolor = /warning|guess/i.test(text) ? WARNING_COLOR : undefined;
  node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
  name: "Choreo.NodeMessages",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!NODES_WITH_MESSAGES.has(nodeData.name)) return;
    const original = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function onExecuted(output) {
      const result = original ? original.apply(this, arguments) : undefined;
      if (Array.isArray(output?.text) && output.text.length) showMessage(this, output.text);
      return result;
    };
  },
});
