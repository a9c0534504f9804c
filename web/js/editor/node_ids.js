// Which ids the server knows a node's last run by: the executed node id ("12:5" for node 5 inside subgraph
// node 12, as ComfyUI's UNIQUE_ID) and the UI workflow's id, since node ids repeat across open workflows.
// Pure functions over LiteGraph-like objects, so they run under Node.js in tests.

const MAX_DEPTH = 16;

const nodesOf = (graph) => (graph && (graph.nodes || graph._nodes)) || [];

/** Subgraph-node ids leading from `graph` down to `target` (a subgraph), or null when it is not inside. */
function pathTo(graph, target, depth) {
  if (graph === target) return [];
  if (depth >= MAX_DEPTH) return null;
  for (const node of nodesOf(graph)) {
    if (!node || !node.subgraph) continue;
    const rest = pathTo(node.subgraph, target, depth + 1);
    if (rest) return [node.id, ...rest];
  }
  return null;
}

/**
 * The id the server cached this node's run under. `lastRun` is the node's last `executed` output
 * (choreo_editor[0]), whose node_id is exactly what the server stored; without one (no run since the page
 * loaded) the id is built from the subgraph nodes between `rootGraph` and the node's graph.
 */
export function executionId(node, rootGraph, lastRun = null) {
  if (lastRun && typeof lastRun.node_id === "string" && lastRun.node_id) return lastRun.node_id;
  const graph = node.graph;
  if (!graph || !rootGraph || graph === rootGraph) return String(node.id);
  const path = pathTo(rootGraph, graph, 0);
  return path ? [...path, node.id].join(":") : String(node.id);
}

/** The UI workflow's id (what the server reads from the prompt's workflow), or null when unknown. */
export function workflowId(node, rootGraph, lastRun = null) {
  if (lastRun && typeof lastRun.workflow_id === "string" && lastRun.workflow_id) return lastRun.workflow_id;
  const root = (node.graph && node.graph.rootGraph) || rootGraph;
  const id = root && root.id;
  return typeof id === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : null;
}
