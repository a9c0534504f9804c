// Choreo.KeyframeEditor: puts an "Open Keyframe Editor" button on the Pose Keyframe Editor node and opens the
// full-window editor. The edits live only in the node's keyframes_json widget, so they are saved inside the
// workflow. Works whether the frontend draws widgets on the canvas or as Vue components (Nodes 2.0): it uses
// only node.widgets, addWidget and widget callbacks, and offers the same action in the node's context menu.
// The raw JSON widget is hidden (its value still serialises); the button says how many keyframes it holds.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { keyframeSummary } from "./editor/edit_model.js";
import { executionId, workflowId } from "./editor/node_ids.js";
import { openEditor } from "./editor/overlay.js";

const NODE_TYPE = "ChoreoPoseKeyframeEditor";
const DOC_WIDGET = "keyframes_json";
const BLEND_WIDGET = "blend_frames";
const BUTTON_LABEL = "Open Keyframe Editor";
const LAST_RUN = Symbol("choreo.lastRun");
const BUTTON = Symbol("choreo.button");

/** Wrap `object[name]` so the original runs first and `extra` after it (never overwrite a callback). */
function chainCallback(object, name, extra) {
  const original = object[name];
  object[name] = function chained(...args) {
    const result = original ? original.apply(this, args) : undefined;
    extra.apply(this, args);
    return result;
  };
}

const findWidget = (node, name) => (node.widgets || []).find((w) => w.name === name);

/** Hide the JSON widget in both renderers; its value still serialises with the workflow. */
function hideDocumentWidget(widget) {
  widget.hidden = true;
  // Set the flag on the widget's own options object: the Vue renderer (frontend 1.49) reads the options it
  // registered when the widget was created, so a replaced options object leaves the raw JSON on the node.
  if (widget.options) widget.options.hidden = true;
  else widget.options = { hidden: true };
  widget.computeSize = () => [0, -4];
  if (widget.element) widget.element.style.display = "none";
}

/**
 * Relabel the button with the document's size, and a stale edit, so both are visible on the node itself
 * (the raw JSON widget stays hidden in both renderers).
 */
function showSummary(node) {
  const button = node[BUTTON];
  const run = node[LAST_RUN];
  if (!button) return;
  const widget = findWidget(node, DOC_WIDGET);
  const summary = widget ? ` · ${keyframeSummary(widget.value)}` : "";
  button.label = `${BUTTON_LABEL}${summary}${run && run.stale ? " (edits stale!)" : ""}`;
  button.options = { ...(button.options || {}), label: button.label };
  node.setDirtyCanvas?.(true, true);
}

function open(node) {
  const widget = findWidget(node, DOC_WIDGET);
  if (!widget) {
    window.alert(`Choreo: this node has no "${DOC_WIDGET}" input. Update the Choreo pack and reload the page.`);
    return;
  }
  const root = app.rootGraph || app.graph;
  openEditor({
    api, widget, blendWidget: findWidget(node, BLEND_WIDGET),
    nodeId: executionId(node, root, node[LAST_RUN]),
    workflowId: workflowId(node, root, node[LAST_RUN]),
    onChange: () => showSummary(node),
  });
}

app.registerExtension({
  name: "Choreo.KeyframeEditor",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE_TYPE) return;

    chainCallback(nodeType.prototype, "onNodeCreated", function onNodeCreated() {
      const widget = findWidget(this, DOC_WIDGET);
      if (widget) hideDocumentWidget(widget);
      const button = this.addWidget("button", BUTTON_LABEL, null, () => open(this));
      button.serialize = false;
      // options.label is the caption the Vue node renderer (Nodes 2.0) puts on the button; without it the
      // button is drawn blank there (the canvas renderer draws button.label / the name).
      button.options = { ...(button.options || {}), serialize: false, label: BUTTON_LABEL };
      this[BUTTON] = button;
      showSummary(this);
    });

    chainCallback(nodeType.prototype, "onConfigure", function onConfigure() {
      const widget = findWidget(this, DOC_WIDGET);
      if (widget) hideDocumentWidget(widget);
      showSummary(this);
    });

    chainCallback(nodeType.prototype, "onExecuted", function onExecuted(output) {
      const info = output && output.choreo_editor && output.choreo_editor[0];
      if (!info) return;
      this[LAST_RUN] = info;
      showSummary(this);
    });

    chainCallback(nodeType.prototype, "getExtraMenuOptions", function getExtraMenuOptions(_canvas, options) {
      options.unshift({ content: BUTTON_LABEL, callback: () => open(this) }, null);
    });
  },
});
