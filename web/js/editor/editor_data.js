// Fetching what the last run cached for a node, and the pose library, through the pack's server routes.

import { NUM_KEYPOINTS } from "./layout.js";

/** An error whose message is meant for the artist (shown in the overlay as is). */
export class EditorDataError extends Error {}

/**
 * Decode base64 little-endian float32 (T, 136, 3) keypoints once into a Float32Array, so every frame drawn
 * afterwards is an index into one buffer.
 */
export function decodeKeypoints(b64, numFrames) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const expected = numFrames * NUM_KEYPOINTS * 3 * 4;
  if (bytes.length !== expected) {
    throw new EditorDataError(`The cached pose sequence has ${bytes.length} bytes, expected ${expected} `
      + `(${numFrames} frames x ${NUM_KEYPOINTS} keypoints). Run the workflow again.`);
  }
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(numFrames * NUM_KEYPOINTS * 3);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** A URL usable in <audio>/<img> for a route path, via the api's own prefixing when it has it. */
export function routeURL(api, path) {
  return typeof api.apiURL === "function" ? api.apiURL(path) : `/api${path}`;
}

/** The route of a node's cached run: its executed id ("12:5" in subgraphs) and, when known, its workflow. */
export function editorPath(nodeId, workflowId = null) {
  const query = workflowId ? `?workflow=${encodeURIComponent(workflowId)}` : "";
  return `/choreo/editor/${String(nodeId).split(":").map(encodeURIComponent).join(":")}${query}`;
}

/**
 * Load the editor's data for a node: the pose sequence, canvas size, music analysis and media URLs.
 * `nodeId` is the executed node id, `workflowId` the UI workflow's id (node ids repeat across workflows).
 * Throws EditorDataError with a message for the artist when the node has not run or the server is old.
 */
export async function loadEditorData(api, nodeId, workflowId = null) {
  let response;
  try {
    response = await api.fetchApi(editorPath(nodeId, workflowId));
  } catch (err) {
    throw new EditorDataError(`Could not reach the ComfyUI server (${err.message}).`);
  }
  if (response.status === 404) {
    throw new EditorDataError("Run the workflow once so this node has a pose sequence to edit, "
      + "then open the editor again.");
  }
  if (!response.ok) {
    throw new EditorDataError(`The server refused the editor data (HTTP ${response.status}). `
      + "Is the Choreo pack up to date and loaded without errors?");
  }
  const data = await response.json();
  const numFrames = data.num_frames;
  return {
    nodeId: data.node_id,
    fingerprint: data.fingerprint || "",
    fps: data.fps,
    numFrames,
    width: data.canvas_width,
    height: data.canvas_height,
    keypoints: decodeKeypoints(data.keypoints, numFrames),
    music: data.music || null,
    audioURL: data.audio_url ? routeURL(api, data.audio_url) : null,
    imageURL: data.image_url ? routeURL(api, data.image_url) : null,
  };
}

/** Names of the poses in the user's library and the starter poses. */
export async function listPoses(api) {
  const response = await api.fetchApi("/choreo/poses");
  if (!response.ok) throw new EditorDataError(`Pose library unavailable (HTTP ${response.status}).`);
  return (await response.json()).poses || [];
}

/** One library pose: {name, canvas_width, canvas_height, keypoints: [[x, y, c] x 136]}. */
export async function loadPose(api, name) {
  const response = await api.fetchApi(`/choreo/poses/${encodeURIComponent(name)}`);
  if (!response.ok) throw new EditorDataError(`Pose "${name}" could not be loaded (HTTP ${response.status}).`);
  return response.json();
}

/** Save a pose to the user library; resolves to the name the server stored it under. */
export async function savePose(api, pose) {
  const response = await api.fetchApi("/choreo/poses", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(pose),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new EditorDataError(body.error || `Saving the pose failed (HTTP ${response.status}).`);
  return body.saved;
}
