"""HTTP routes of the Pose Keyframe Editor and the pose library (aiohttp handlers, all JSON but media).

GET  /choreo/editor/{node_id}        the dance, music and media URLs cached by that node's last run
GET  /choreo/editor/{node_id}/audio  audio/wav (mono, 16-bit) of the node's audio input
GET  /choreo/editor/{node_id}/image  image/jpeg of the node's reference image
GET  /choreo/poses                   {"poses": [{"name", "source", "frames"}]}
GET  /choreo/poses/{name}            {"name", "canvas_width", "canvas_height", "keypoints"}
POST /choreo/poses                   {"name", "canvas_width", "canvas_height", "keypoints", "overwrite"?}

Errors are ``{"error": "..."}`` with 400 (bad id, name or body), 404 (nothing there) or 409 (name taken).
Inside ComfyUI every route is also served under /api.
"""

from __future__ import annotations

import base64
import io
import json
import re
import wave
from pathlib import Path

import numpy as np
from aiohttp import web

from ..choreo.edit.pose_library import PoseExistsError, PoseLibrary, PoseNotFoundError
from ..choreo.errors import PoseInputError
from . import comfy_bridge, editor_cache

STARTER_POSE_DIR = comfy_bridge.PACK_DIR / "assets" / "poses"
NODE_ID_PATTERN = re.compile(r"[0-9]{1,12}(:[0-9]{1,12}){0,15}")
MAX_NODE_ID_CHARS = 64
NUM_PEAKS = 2000
NOT_RUN = "Run the workflow once so the editor has a dance to show (node {node_id} has not run yet)."


def register(routes: web.RouteTableDef, user_pose_dir: Path, starter_pose_dir: Path = STARTER_POSE_DIR) -> None:
    """Add the editor and pose-library handlers to ``routes``; user poses are saved in ``user_pose_dir``."""
    library = PoseLibrary(starter_pose_dir, user_pose_dir)

    @routes.get("/choreo/editor/{node_id}")
    async def get_editor(request: web.Request) -> web.Response:
        node_id, entry = _entry(request)
        return web.json_response(editor_payload(node_id, entry))

    @routes.get("/choreo/editor/{node_id}/audio")
    async def get_audio(request: web.Request) -> web.Response:
        node_id, entry = _entry(request)
        if entry.audio_pcm16 is None:
            raise _error(404, f"node {node_id} has no audio; connect the song's AUDIO to the editor's audio input.")
        return web.Response(body=wav_bytes(entry.audio_pcm16, entry.sample_rate), content_type="audio/wav")

    @routes.get("/choreo/editor/{node_id}/image")
    async def get_image(request: web.Request) -> web.Response:
        node_id, entry = _entry(request)
        if entry.image_jpeg is None:
            raise _error(404, f"node {node_id} has no reference image; connect one to the editor's reference_image.")
        return web.Response(body=entry.image_jpeg, content_type="image/jpeg")

    @routes.get("/choreo/poses")
    async def list_poses(request: web.Request) -> web.Response:
        return web.json_response({"poses": library.entries()})

    @routes.get("/choreo/poses/{name}")
    async def get_pose(request: web.Request) -> web.Response:
        try:
            return web.json_response(library.load(request.match_info["name"]).to_json())
        except PoseNotFoundError as error:
            raise _error(404, str(error)) from None
        except PoseInputError as error:
            raise _error(400, str(error)) from None

    @routes.post("/choreo/poses")
    async def save_pose(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise _error(400, f"the request body is not valid JSON ({error}); nothing was saved.") from None
        if not isinstance(body, dict):
            raise _error(400, "the request body must be a JSON object {name, canvas_width, canvas_height, keypoints}.")
        overwrite = body.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise _error(400, f"overwrite must be true or false, got {overwrite!r}.")
        try:
            library.save(body.get("name"), body.get("canvas_width"), body.get("canvas_height"), body.get("keypoints"),
                         overwrite=overwrite)
        except PoseExistsError as error:
            raise _error(409, str(error)) from None
        except PoseInputError as error:
            raise _error(400, f"{error} Nothing was saved.") from None
        return web.json_response({"saved": body["name"]})


def register_with_comfyui() -> None:
    """Register on ComfyUI's server when running inside it (called once from the pack's ``__init__``)."""
    routes = comfy_bridge.prompt_server_routes()
    if routes is not None:
        register(routes, comfy_bridge.pose_library_directory())


def editor_payload(node_id: str, entry: editor_cache.EditorEntry) -> dict:
    """The JSON of GET /choreo/editor/{node_id}.

    keypoints is base64 of a float32 little-endian (T, 136, 3) array: x_px, y_px, confidence.
    """
    pose = entry.pose
    packed = np.concatenate([pose.keypoints_px, pose.confidence[..., None]], axis=-1).astype("<f4")
    return {
        "node_id": node_id,
        "fingerprint": entry.fingerprint,
        "fps": float(pose.fps),
        "num_frames": int(pose.num_frames),
        "canvas_width": int(pose.canvas_width),
        "canvas_height": int(pose.canvas_height),
        "blend_frames": int(entry.blend_frames),
        "keypoints": base64.b64encode(packed.tobytes()).decode("ascii"),
        "music": None if entry.music is None else music_payload(entry),
        "audio_url": None if entry.audio_pcm16 is None else f"/choreo/editor/{node_id}/audio",
        "image_url": None if entry.image_jpeg is None else f"/choreo/editor/{node_id}/image",
    }


def music_payload(entry: editor_cache.EditorEntry) -> dict:
    """Beats, bars, sections and a waveform overview; peaks come from the audio, else from the loudness curve."""
    music = entry.music
    if entry.audio_pcm16 is not None:
        peaks = waveform_peaks(np.abs(entry.audio_pcm16.astype(np.float32)))
    else:
        peaks = waveform_peaks(np.asarray(music.rms_energy, np.float32))
    return {
        "duration_s": float(music.duration_s),
        "tempo_bpm": float(music.tempo_bpm),
        "beats_per_bar": int(music.beats_per_bar),
        "beat_times_s": [round(float(t), 4) for t in music.beat_times_s],
        "downbeat_times_s": [round(float(t), 4) for t in music.downbeat_times_s],
        "sections": [{"start_s": float(s.start_s), "end_s": float(s.end_s), "label": str(s.label)}
                     for s in music.sections],
        "waveform_peaks": peaks,
    }


def waveform_peaks(magnitude: np.ndarray, num_peaks: int = NUM_PEAKS) -> list[float]:
    """Up to ``num_peaks`` bin maxima of a non-negative (N,) signal, scaled so the loudest is 1."""
    if magnitude.size == 0:
        return []
    edges = np.linspace(0, magnitude.size, min(num_peaks, magnitude.size) + 1).astype(np.int64)
    peaks = np.maximum.reduceat(magnitude, edges[:-1])
    top = float(peaks.max())
    return [round(float(p), 4) for p in (peaks / top if top > 0 else peaks)]


def wav_bytes(pcm16: np.ndarray, sample_rate: int) -> bytes:
    """A mono 16-bit WAV file of (N,) int16 samples."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(int(sample_rate))
        file.writeframes(np.ascontiguousarray(pcm16, dtype="<i2").tobytes())
    return buffer.getvalue()


def check_node_id(node_id: str) -> str:
    """The id if it is a ComfyUI node id ("12", or "12:5" inside subgraphs), else a 400 error."""
    if len(node_id) > MAX_NODE_ID_CHARS or not NODE_ID_PATTERN.fullmatch(node_id):
        raise _error(400, f"node id {node_id[:MAX_NODE_ID_CHARS]!r} is not a node id: use digits, with ':' between "
                          "subgraph levels (e.g. 12 or 12:5).")
    return node_id


def _entry(request: web.Request) -> tuple[str, editor_cache.EditorEntry]:
    node_id = check_node_id(request.match_info["node_id"])
    entry = editor_cache.lookup(node_id)
    if entry is None:
        raise _error(404, NOT_RUN.format(node_id=node_id))
    return node_id, entry


def _error(status: int, message: str) -> web.HTTPException:
    """An aiohttp HTTP exception carrying ``{"error": message}`` as JSON."""
    classes = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 409: web.HTTPConflict}
    return classes[status](text=json.dumps({"error": message}), content_type="application/json")
