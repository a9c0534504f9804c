"""HTTP routes of the Pose Keyframe Editor and the pose library (aiohttp handlers, all JSON but media).

GET  /choreo/editor/{node_id}        the dance, music and media URLs cached by that node's last run
GET  /choreo/editor/{node_id}/audio  audio/wav (mono, 16-bit) of the node's audio input
GET  /choreo/editor/{node_id}/image  image/jpeg of the node's reference image
GET  /choreo/poses                   {"poses": [{"name", "source", "frames"}]}
GET  /choreo/poses/{name}            {"name", "canvas_width", "canvas_height", "keypoints"}
POST /choreo/poses                   {"name", "canvas_width", "canvas_height", "keypoints", "overwrite"?}

``node_id`` is the executed node id ("12", or "12:5" for node 5 inside subgraph node 12). The editor routes
take ``?workflow=<id>``, the UI workflow's id, because node ids repeat across open workflows; without it
they answer with that node id's most recent run in any workflow.

Errors are ``{"error": "..."}`` with 400 (bad id, name or body; a full library), 404 (nothing there), 409
(name taken) or 413 (a body over MAX_BODY_BYTES). Inside ComfyUI every route is also served under /api.
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

from ..choreo.edit.pose_library import (LibraryPose, PoseExistsError, PoseLibrary, PoseNotFoundError, check_name,
                                        parse_keypoints)
from ..choreo.errors import PoseInputError
from . import comfy_bridge, editor_cache

STARTER_POSE_DIR = comfy_bridge.PACK_DIR / "assets" / "poses"
NODE_ID_PATTERN = re.compile(r"[0-9]{1,12}(:[0-9]{1,12}){0,15}")
MAX_NODE_ID_CHARS = 64
WORKFLOW_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_BODY_BYTES = 8 * 1024 * 1024  # a pose is ~10 KB of JSON; a short move a few MB
MAX_USER_POSES = 500
MAX_POSE_BYTES = 4 * 1024 * 1024  # one saved pose or move as stored (JSON)
# Names Windows reserves for devices, with or without an extension: a file "con.json" cannot be created there.
WINDOWS_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?", re.IGNORECASE)
NUM_PEAKS = 2000
NOT_RUN = "Run the workflow once so the editor has a dance to show (node {node_id} has not run yet)."


def register(routes: web.RouteTableDef, user_pose_dir: Path, starter_pose_dir: Path = STARTER_POSE_DIR) -> None:
    """Add the editor and pose-library handlers to ``routes``; user poses are saved in ``user_pose_dir``."""
    library = PoseLibrary(starter_pose_dir, user_pose_dir)

    @routes.get("/choreo/editor/{node_id}")
    async def get_editor(request: web.Request) -> web.Response:
        node_id, entry = _entry(request)
        return web.json_response(editor_payload(node_id, entry, check_workflow_id(request)))

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
            return web.json_response(library.load(check_pose_name(request.match_info["name"])).to_json())
        except PoseNotFoundError as error:
            raise _error(404, str(error)) from None
        except PoseInputError as error:
            raise _error(400, str(error)) from None

    @routes.post("/choreo/poses")
    async def save_pose(request: web.Request) -> web.Response:
        body = await read_json_body(request)
        if not isinstance(body, dict):
            raise _error(400, "the request body must be a JSON object {name, canvas_width, canvas_height, keypoints}.")
        overwrite = body.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise _error(400, f"overwrite must be true or false, got {overwrite!r}.")
        try:
            name = check_pose_name(body.get("name"))
            check_pose_size(name, body.get("canvas_width"), body.get("canvas_height"), body.get("keypoints"))
            check_library_room(user_pose_dir, name)
            library.save(name, body.get("canvas_width"), body.get("canvas_height"), body.get("keypoints"),
                         overwrite=overwrite)
        except PoseExistsError as error:
            raise _error(409, str(error)) from None
        except PoseInputError as error:
            raise _error(400, f"{error} Nothing was saved.") from None
        return web.json_response({"saved": name})


def register_with_comfyui() -> None:
    """Register on ComfyUI's server when running inside it (called once from the pack's ``__init__``)."""
    routes = comfy_bridge.prompt_server_routes()
    if routes is not None:
        register(routes, comfy_bridge.pose_library_directory())


async def read_json_body(request: web.Request) -> object:
    """The request body parsed as JSON; 413 above MAX_BODY_BYTES, 400 when it is not (sanely nested) JSON.

    The size is checked while reading, so a body without (or with a false) Content-Length is cut off too.
    """
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large(request.content_length)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(size)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _error(400, f"the request body is not valid JSON ({error}); nothing was saved.") from None
    except RecursionError:
        raise _error(400, "the request body nests JSON arrays or objects too deeply to read; a pose is "
                          "{name, canvas_width, canvas_height, keypoints: [[x, y, confidence] x 136]}. "
                          "Nothing was saved.") from None


def check_pose_name(name: object) -> str:
    """A pose name that is valid (choreo.edit.pose_library.check_name) and a valid file name on every system.

    Refused besides: names Windows reserves for devices (CON, PRN, AUX, NUL, COM1-9, LPT1-9, any case, with
    or without an extension) and names starting or ending with a space or dot, which Windows strips.
    """
    if isinstance(name, str) and (WINDOWS_RESERVED.fullmatch(name.strip(" .")) or name != name.strip(" .")):
        raise PoseInputError(f"pose name {name!r} is not allowed: CON, PRN, AUX, NUL, COM1-9 and LPT1-9 are device "
                             "names on Windows, and names may not start or end with a space or dot; pick another "
                             "name.")
    return check_name(name)


def check_pose_size(name: str, canvas_width: object, canvas_height: object, keypoints: object) -> None:
    """PoseInputError when the pose as it would be stored exceeds MAX_POSE_BYTES (other errors: the library's)."""
    if isinstance(canvas_width, int) and isinstance(canvas_height, int):
        stored = json.dumps(LibraryPose(name, "user", canvas_width, canvas_height, parse_keypoints(keypoints))
                            .to_json())
        if len(stored) > MAX_POSE_BYTES:
            raise PoseInputError(f"pose {name!r} would take {len(stored)} bytes; a library entry may take "
                                 f"{MAX_POSE_BYTES}: save a shorter move.")


def check_library_room(user_pose_dir: Path, name: str) -> None:
    """PoseInputError when the user library already holds MAX_USER_POSES poses and ``name`` is a new one."""
    folder = Path(user_pose_dir)
    if not folder.is_dir() or (folder / f"{name}.json").exists():
        return
    count = sum(1 for _ in folder.glob("*.json"))
    if count >= MAX_USER_POSES:
        raise PoseInputError(f"the pose library is full ({count} of {MAX_USER_POSES} poses in {folder}); delete "
                             "poses you no longer need there, or overwrite one.")


def editor_payload(node_id: str, entry: editor_cache.EditorEntry, workflow_id: str | None = None) -> dict:
    """The JSON of GET /choreo/editor/{node_id}.

    keypoints is base64 of a float32 little-endian (T, 136, 3) array: x_px, y_px, confidence.
    """
    pose = entry.pose
    packed = np.concatenate([pose.keypoints_px, pose.confidence[..., None]], axis=-1).astype("<f4")
    query = "" if workflow_id is None else f"?workflow={workflow_id}"
    return {
        "node_id": node_id,
        "workflow_id": workflow_id,
        "fingerprint": entry.fingerprint,
        "fps": float(pose.fps),
        "num_frames": int(pose.num_frames),
        "canvas_width": int(pose.canvas_width),
        "canvas_height": int(pose.canvas_height),
        "blend_frames": int(entry.blend_frames),
        "keypoints": base64.b64encode(packed.tobytes()).decode("ascii"),
        "music": None if entry.music is None else music_payload(entry),
        "audio_url": None if entry.audio_pcm16 is None else f"/choreo/editor/{node_id}/audio{query}",
        "image_url": None if entry.image_jpeg is None else f"/choreo/editor/{node_id}/image{query}",
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


def check_workflow_id(request: web.Request) -> str | None:
    """The ``workflow`` query parameter (a UUID-like id), None when absent, else a 400 error."""
    workflow_id = request.query.get("workflow")
    if workflow_id is None:
        return None
    if not WORKFLOW_ID_PATTERN.fullmatch(workflow_id):
        raise _error(400, f"workflow id {workflow_id[:64]!r} is not a workflow id: use the workflow's UUID "
                          "(letters, digits, '-' or '_', at most 64).")
    return workflow_id


def _entry(request: web.Request) -> tuple[str, editor_cache.EditorEntry]:
    node_id = check_node_id(request.match_info["node_id"])
    entry = editor_cache.lookup(node_id, check_workflow_id(request))
    if entry is None:
        raise _error(404, NOT_RUN.format(node_id=node_id))
    return node_id, entry


def _too_large(size: int) -> web.HTTPException:
    message = (f"the request body has {size} bytes or more; at most {MAX_BODY_BYTES} are accepted. "
               "Nothing was saved.")
    return web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, size, text=json.dumps({"error": message}),
                                         content_type="application/json")


def _error(status: int, message: str) -> web.HTTPException:
    """An aiohttp HTTP exception carrying ``{"error": message}`` as JSON."""
    classes = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 409: web.HTTPConflict}
    return classes[status](text=json.dumps({"error": message}), content_type="application/json")
