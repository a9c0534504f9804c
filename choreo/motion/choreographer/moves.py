"""Dance moves as data: load, validate and mirror the JSON move library.

A move file (``library/<style>.json``) holds a list of moves. Each move::

    {"name": "step_touch", "style": "pop", "beats": 2, "energy": 0.3,
     "description": "Step to the side and tap the other foot beside it, arms swinging loosely.",
     "tags": ["step"], "mirrorable": true, "start_pose": "stand", "end_pose": "stand",
     "keyframes": [{"beat": 0, "support": "both", "root_m": [0, 0, 0],
                    "root_deg": [0, 0, 0], "joints": {"left_knee": [25, 0, 0]}}, ...]}

Conventions (SMPL local frames: x = the body's left, y = up, z = forward):

- ``joints``: intrinsic Euler angles in degrees, order x, y, z, absolute local
  rotations of the named joints; joints not named take ``NEUTRAL_POSE_DEG``.
  Knee flexion is +x, hip flexion (leg forward) -x, hip abduction +z on the left,
  spine/neck forward bend +x, twist +y (towards the body's left), side bend +z (to
  the right). Left arm: shoulder ``[0, 0, -80]`` hangs down, ``[-90, 0, -90]`` points
  forward, ``[0, 0, 80]`` points up; left elbow flexion is -y. The right side mirrors
  the left: ``(x, y, z) -> (x, -y, -z)``.
- ``root_m``: pelvis offset in metres, body frame of the dancer facing the audience
  (x left, y up, z forward), relative to where the move starts; the last
  keyframe's horizontal offset is the move's travel, and the next move starts there.
- ``root_deg``: pelvis tilt (x, z) and yaw (y) in degrees; yaw is a heading that
  may spin but must end on a whole number of turns.
- ``support``: which feet are planted at that beat: both, left, right or none.
- ``description``: one sentence for users: what a dancer calls the move and what the body does.
- ``beat`` positions lie in [0, beats]; the first is 0 and the last is ``beats``
  (the end pose, where the next move takes over). Whole-beat keyframes are hits:
  the motion comes to rest on them, so speed dips on the beat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ...errors import MotionInputError
from ..rotations import euler_to_matrix
from ..skeleton import JOINT, JOINT_NAMES, MIRROR, NUM_JOINTS
from .similarity import move_paths

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
SUPPORTS: dict[str, tuple[bool, bool]] = {
    "both": (True, True), "left": (True, False), "right": (False, True), "none": (False, False)}
MOVABLE_JOINTS: frozenset[str] = frozenset(JOINT_NAMES[1:])

# A relaxed dance stance: arms hanging, soft knees, feet flat; every move starts from it.
NEUTRAL_POSE_DEG: dict[str, tuple[float, float, float]] = {
    "left_hip": (-8.0, 0.0, 4.0), "right_hip": (-8.0, 0.0, -4.0),
    "left_knee": (14.0, 0.0, 0.0), "right_knee": (14.0, 0.0, 0.0),
    "left_ankle": (-6.0, 0.0, 0.0), "right_ankle": (-6.0, 0.0, 0.0),
    "spine1": (3.0, 0.0, 0.0), "neck": (-3.0, 0.0, 0.0),
    "left_shoulder": (0.0, 0.0, -78.0), "right_shoulder": (0.0, 0.0, 78.0),
    "left_elbow": (0.0, -15.0, 0.0), "right_elbow": (0.0, 15.0, 0.0),
}
_FLIP = np.diag([-1.0, 1.0, 1.0])  # reflection across the body's sagittal plane


def _neutral_euler_deg() -> np.ndarray:
    euler = np.zeros((NUM_JOINTS, 3))
    for name, angles in NEUTRAL_POSE_DEG.items():
        euler[JOINT[name]] = angles
    return euler


def neutral_rotations() -> np.ndarray:
    """(24, 3, 3) local rotations of the neutral stance; root = identity (no world-up)."""
    return euler_to_matrix(np.radians(_neutral_euler_deg()))


@dataclass(frozen=True)
class Move:
    """One move, keyframes resolved to full poses.

    key_beats       : (K,) float, beat positions in [0, beats], increasing.
    rotations       : (K, 24, 3, 3) local rotations; slot 0 = pelvis tilt without heading.
    root_offset_m   : (K, 3) pelvis offset, body frame (x left, y up, z forward), metres.
    root_yaw_deg    : (K,) heading relative to the move start, degrees.
    support         : (K, 2) bool, (left, right) foot planted.
    """

    name: str
    style: str
    description: str
    beats: int
    energy: float
    tags: tuple[str, ...]
    mirrorable: bool
    start_pose: str
    end_pose: str
    key_beats: np.ndarray
    rotations: np.ndarray
    root_offset_m: np.ndarray
    root_yaw_deg: np.ndarray
    support: np.ndarray

    @property
    def travel_m(self) -> np.ndarray:
        """(3,) horizontal displacement the move leaves behind (y = 0)."""
        end = self.root_offset_m[-1].copy()
        end[1] = 0.0
        return end

    def mirrored(self) -> "Move":
        """The same move danced with the other side (left <-> right)."""
        rotations = _FLIP @ self.rotations[:, list(MIRROR)] @ _FLIP
        offset = self.root_offset_m * np.array([-1.0, 1.0, 1.0])
        return Move(self.name, self.style, self.description, self.beats, self.energy, self.tags, self.mirrorable,
                    self.start_pose, self.end_pose, self.key_beats, rotations, offset,
                    -self.root_yaw_deg, self.support[:, ::-1].copy())


@dataclass(frozen=True)
class MoveLibrary:
    """All moves, in file order; names are unique."""

    moves: tuple[Move, ...]

    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(sorted({move.style for move in self.moves}))

    @cached_property
    def _by_name(self) -> dict[str, Move]:
        return {move.name: move for move in self.moves}

    def by_name(self, name: str) -> Move:
        if name in self._by_name:
            return self._by_name[name]
        raise MotionInputError(
            f"Choreography plan names the move '{name}', which is not in the move library. "
            f"Known moves: {', '.join(sorted(m.name for m in self.moves))}.")

    def of_style(self, style: str) -> tuple[Move, ...]:
        return tuple(move for move in self.moves if move.style == style)

    @cached_property
    def paths(self) -> dict[tuple[str, bool], np.ndarray]:
        """(name, mirrored) -> the move's root-relative joint path (``similarity.move_paths``), computed once:
        what the planner compares to keep near-identical bars from piling up."""
        sides = [(move, mirrored) for move in self.moves for mirrored in (False, True)]
        paths = move_paths([move.mirrored() if mirrored else move for move, mirrored in sides])
        return {(move.name, mirrored): path for (move, mirrored), path in zip(sides, paths)}


def load_library(directory: Path | None = None) -> MoveLibrary:
    """Read and validate every ``*.json`` move file in ``directory`` (default: the bundled library)."""
    folder = Path(directory) if directory is not None else LIBRARY_DIR
    moves: list[Move] = []
    for path in sorted(folder.glob("*.json")):
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise MotionInputError(f"Move file {path.name} must hold a JSON list of moves.")
        moves.extend(parse_move(entry, source=path.name) for entry in entries)
    names = [move.name for move in moves]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise MotionInputError(f"Move library in {folder} has duplicate move names: {', '.join(duplicates)}.")
    if not moves:
        raise MotionInputError(f"Move library folder {folder} holds no *.json move files.")
    return MoveLibrary(tuple(moves))


def parse_move(entry: dict, source: str = "move data") -> Move:
    """Validate one JSON move and resolve its keyframes into full poses."""
    where = f"{source}: move '{entry.get('name', '?')}'"
    required = ("name", "style", "description", "beats", "energy", "tags", "mirrorable", "start_pose", "end_pose",
                "keyframes")
    missing = [key for key in required if key not in entry]
    if missing:
        raise MotionInputError(f"{where} lacks the field(s) {', '.join(missing)}.")
    beats = int(entry["beats"])
    energy = float(entry["energy"])
    description = entry["description"]
    if not isinstance(description, str) or not description.strip():
        raise MotionInputError(f"{where} needs a description: one sentence saying what a dancer calls the move "
                               f"and what the body does, got {description!r}.")
    if beats < 1 or not 0.0 <= energy <= 1.0:
        raise MotionInputError(f"{where} needs beats >= 1 and energy in [0, 1], got {beats} and {energy}.")
    frames = entry["keyframes"]
    key_beats = np.array([float(frame["beat"]) for frame in frames])
    if len(frames) < 2 or key_beats[0] != 0.0 or key_beats[-1] != beats or np.any(np.diff(key_beats) <= 0):
        raise MotionInputError(
            f"{where} keyframe beats must increase from 0 to its length {beats}, got {key_beats.tolist()}.")
    euler_deg = np.repeat(_neutral_euler_deg()[None], len(frames), axis=0)
    offsets = np.zeros((len(frames), 3))
    yaw = np.zeros(len(frames))
    support = np.zeros((len(frames), 2), dtype=bool)
    for k, frame in enumerate(frames):
        unknown = set(frame.get("joints", {})) - MOVABLE_JOINTS
        if unknown:
            raise MotionInputError(
                f"{where} keyframe at beat {key_beats[k]} names unknown joint(s) {sorted(unknown)}; "
                f"use SMPL names such as {', '.join(JOINT_NAMES[1:6])}.")
        for name, angles in frame.get("joints", {}).items():
            euler_deg[k, JOINT[name]] = _triple(angles, where, name)
        tilt = _triple(frame.get("root_deg", [0, 0, 0]), where, "root_deg")
        euler_deg[k, 0] = [tilt[0], 0.0, tilt[2]]
        yaw[k] = tilt[1]
        offsets[k] = _triple(frame.get("root_m", [0, 0, 0]), where, "root_m")
        if frame.get("support", "both") not in SUPPORTS:
            raise MotionInputError(f"{where} support must be one of {', '.join(SUPPORTS)}, got {frame.get('support')!r}.")
        support[k] = SUPPORTS[frame.get("support", "both")]
    rotations = euler_to_matrix(np.radians(euler_deg))
    if abs(yaw[0]) > 1e-9:
        raise MotionInputError(f"{where} must start facing its anchor heading: first keyframe root_deg yaw is 0.")
    if abs(offsets[-1, 2]) > 1e-9 or abs(yaw[-1] / 360.0 - round(yaw[-1] / 360.0)) > 1e-9:
        raise MotionInputError(f"{where} must end facing front on the same line: last root_m z = 0, yaw a multiple of 360.")
    return Move(str(entry["name"]), str(entry["style"]), description.strip(), beats, energy, tuple(entry["tags"]),
                bool(entry["mirrorable"]), str(entry["start_pose"]), str(entry["end_pose"]), key_beats, rotations,
                offsets, yaw, support)


def _triple(values, where: str, field: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (3,):
        raise MotionInputError(f"{where}: {field} must be three numbers, got {values!r}.")
    return array
