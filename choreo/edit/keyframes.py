"""The edit document: the editor's sparse keyframes, as stored in the node's ``keyframes_json`` widget.

The document lives in the workflow JSON, so parsing is strict and never
repairs: a malformed document raises ``PoseInputError`` naming the keyframe,
the field and what is allowed, and the stored text stays as it was.

    {"version": 1, "source_fingerprint": "<hex or empty>", "blend_frames": 6,
     "keyframes": [{"frame": 120, "ease": "smooth", "joints": {"4": [312.5, 208.0]}}],
     "locked_joints": [10, 13]}

Joint keys index the 136-point layout (``choreo.pose.layout``); coordinates
are canvas pixels; ``ease`` shapes the segment leading *into* its keyframe.
A locked joint never moves: its keyframe targets, if any, are ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ..errors import PoseInputError
from ..pose.layout import NUM_KEYPOINTS

VERSION = 1
EASES = ("linear", "smooth", "hold")
MAX_BLEND_FRAMES = 1000
_DOC_KEYS = {"version", "source_fingerprint", "blend_frames", "keyframes", "locked_joints"}
_KEYFRAME_KEYS = {"frame", "ease", "joints"}


@dataclass(frozen=True)
class Keyframe:
    """Target positions of some joints at one frame.

    frame  : frame index on the sequence's clock.
    ease   : "linear" | "smooth" | "hold", the shape of the segment from the previous keyframe into this one.
    joints : ((joint, x_px, y_px), ...) sorted by joint index.
    """

    frame: int
    ease: str = "smooth"
    joints: tuple[tuple[int, float, float], ...] = ()

    @property
    def joint_ids(self) -> tuple[int, ...]:
        return tuple(joint for joint, _, _ in self.joints)


@dataclass(frozen=True)
class EditDocument:
    """Parsed ``keyframes_json``: keyframes sorted by frame, at most one per frame."""

    version: int = VERSION
    source_fingerprint: str = ""
    blend_frames: int = 6
    keyframes: tuple[Keyframe, ...] = ()
    locked_joints: tuple[int, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        """True when applying the document changes nothing (locks alone move no joint)."""
        return not any(keyframe.joints for keyframe in self.keyframes)

    def keyed_joints(self) -> tuple[int, ...]:
        """Every joint with a target in some keyframe, sorted."""
        return tuple(sorted({joint for keyframe in self.keyframes for joint in keyframe.joint_ids}))


def parse_edit_document(text: str | None) -> EditDocument:
    """An ``EditDocument`` from the widget text; "" and "{}" mean no edits.

    Raises PoseInputError for invalid JSON, unknown keys or bad values.
    >>> parse_edit_document('{"keyframes": [{"frame": 3, "joints": {"4": [10, 20]}}]}').keyframes[0].joints
    ((4, 10.0, 20.0),)
    """
    if text is None or not str(text).strip():
        return EditDocument()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PoseInputError(f"keyframes_json is not valid JSON ({error.msg} at line {error.lineno}, column "
                             f"{error.colno}). Open the Pose Keyframe Editor to rewrite it, or set it to {{}} "
                             "to discard the edits.") from None
    if not isinstance(data, dict):
        raise PoseInputError(f"keyframes_json must be a JSON object, got {type(data).__name__}. "
                             "Set it to {} for no edits.")
    unknown = set(data) - _DOC_KEYS
    if unknown:
        raise PoseInputError(f"keyframes_json has unknown keys {sorted(unknown)}; allowed: {sorted(_DOC_KEYS)}.")
    version = data.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise PoseInputError(f"keyframes_json version {version!r} is not supported; this Choreo reads version "
                             f"{VERSION}. Update Choreo or re-create the edits.")
    fingerprint = data.get("source_fingerprint", "")
    if not isinstance(fingerprint, str):
        raise PoseInputError(f"keyframes_json source_fingerprint must be a string, got {fingerprint!r}.")
    blend = _integer(data.get("blend_frames", 6), "keyframes_json blend_frames", 0, MAX_BLEND_FRAMES)
    keyframes = _keyframes(data.get("keyframes", []))
    locked = data.get("locked_joints", [])
    if not isinstance(locked, list):
        raise PoseInputError(f"keyframes_json locked_joints must be a list of joint indices, got {locked!r}.")
    locked_ids = tuple(sorted({_integer(joint, f"locked_joints[{i}]", 0, NUM_KEYPOINTS - 1)
                               for i, joint in enumerate(locked)}))
    return EditDocument(VERSION, fingerprint, blend, keyframes, locked_ids)


def dump_edit_document(document: EditDocument) -> str:
    """Canonical JSON text of a document (what the editor writes; parse(dump(d)) == d)."""
    return json.dumps({
        "version": document.version,
        "source_fingerprint": document.source_fingerprint,
        "blend_frames": document.blend_frames,
        "keyframes": [{"frame": k.frame, "ease": k.ease, "joints": {str(j): [x, y] for j, x, y in k.joints}}
                      for k in document.keyframes],
        "locked_joints": list(document.locked_joints),
    })


def _keyframes(raw: object) -> tuple[Keyframe, ...]:
    if not isinstance(raw, list):
        raise PoseInputError(f"keyframes_json keyframes must be a list, got {type(raw).__name__}.")
    keyframes, first_at = [], {}
    for index, item in enumerate(raw):
        where = f"keyframes[{index}]"
        if not isinstance(item, dict):
            raise PoseInputError(f"{where} must be an object with frame, ease and joints, got {item!r}.")
        unknown = set(item) - _KEYFRAME_KEYS
        if unknown:
            raise PoseInputError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(_KEYFRAME_KEYS)}.")
        if "frame" not in item:
            raise PoseInputError(f"{where} has no frame; give the frame index it sets.")
        frame = _integer(item["frame"], f"{where}.frame", 0, None)
        if frame in first_at:
            raise PoseInputError(f"{where} and keyframes[{first_at[frame]}] are both at frame {frame}; "
                                 "merge them into one keyframe.")
        first_at[frame] = index
        ease = item.get("ease", "smooth")
        if ease not in EASES:
            raise PoseInputError(f"{where}.ease is {ease!r}; allowed: {', '.join(EASES)}.")
        keyframes.append(Keyframe(frame, ease, _joints(item.get("joints", {}), where)))
    return tuple(sorted(keyframes, key=lambda keyframe: keyframe.frame))


def _joints(raw: object, where: str) -> tuple[tuple[int, float, float], ...]:
    if not isinstance(raw, dict):
        raise PoseInputError(f"{where}.joints must be an object {{\"joint index\": [x, y]}}, got {raw!r}.")
    joints = []
    for key, value in raw.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) < NUM_KEYPOINTS):
            raise PoseInputError(f"{where}.joints has key {key!r}; joint keys are indices 0..{NUM_KEYPOINTS - 1} "
                                 "of the 136-point layout, as strings.")
        if not (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
            raise PoseInputError(f"{where}.joints[\"{key}\"] is {value!r}; it must be [x, y], two finite numbers "
                                 "in canvas pixels.")
        joints.append((int(key), float(value[0]), float(value[1])))
    return tuple(sorted(joints))


def _integer(value: object, name: str, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
        raise PoseInputError(f"{name} is {value!r}; it must be {allowed}.")
    return value
