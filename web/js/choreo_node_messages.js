// Choreo.NodeMessages: shows the sentence a Choreo node returns as `ui.text` (e.g. Reference Pose saying that
// the dance is fitted to a guessed default body, or which source it used) inside the node, so a warning is seen
// where the artist looks rather than only in the server console. The message widget is never sent to the server
// and is added after the node's own widgets, so saved workflows load as before.

import { app } from "../../scripts/app.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const NODES_WITH_MESSAGES = new Set(["ChoreoReferencePose", "ChoreoAnalyzeMusic", "ChoreoRenderDanceVideoFile"]);
const MESSAGE_WIDGET = "choreo_message";
const WARNING_COLOR = "#6b4a1a";

/**
 * A read-only multiline text box, the way core shows text (ComfyUI's STRING multiline widget): its text is drawn
 * in full by the canvas renderer and by the Vue one (Nodes 2.0). A `disabled` canvas text widget would show only
 * its name, and a one-line text widget cuts the sentence off at the node's width.
 */
function addMessageWidget(node) {
  const make = ComfyWidgets && ComfyWidgets.STRING;
  const widget = make
    ? make(node, MESSAGE_WIDGET, ["STRING", { multiline: true }], app).widget
    : node.addWidget("text", MESSAGE_WIDGET, "", () => {});
  widget.serialize = false;
  widget.options = widget.options || {};
  // Flags go on the widget's own options object: the Vue renderer reads the one registered at creation.
  widget.options.serialize = false;
  widget.options.read_only = true;
  const element = widget.element || widget.inputEl;
  if (element) {
    element.readOnly = true;
    element.placeholder = "";
  }
  return widget;
}

function showMessage(node, lines) {
  const text = lines.join("\n");
  let widget = (node.widgets || []).find((w) => w.name === MESSAGE_WIDGET);
  if (!widget) {
    widget = addMessageWidget(node);
    // Grow the node so the new box sits inside it (the canvas renderer keeps the node's saved size).
    const needed = node.computeSize?.();
    if (needed) node.setSize?.([Math.max(node.size[0], needed[0]), Math.max(node.size[1], needed[1])]);
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
