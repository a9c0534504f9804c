"""What the keyframe editor shows is what the render gets: the editor's own JS, run in Node, against apply_edits.

tests/browser/editor_parity.mjs replays editor gestures (limb, neck and hip drags, whole-body move and scale,
mirror, pose-library insert, paste, K, locks) with the modules the editor runs (web/js/editor/pose_ops.js,
edit_model.js, pose_library.js) on a choreographer dance fitted to the demo character. It returns the keyframe
document each gesture wrote and the editor's preview of every frame; here the same document goes through
``choreo.edit.apply_edits`` and the two must agree on every frame and keypoint. Further tests check that the
render does what the artist asked for (the dragged joint lands where it was dropped, bone lengths kept,
children follow rigidly).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from choreo.edit import apply_edits, parse_edit_document
from choreo.edit.apply import SCALE_TOLERANCE, WHOLE_BODY_MIN_JOINTS
from choreo.edit.joint_space import PARENT, ROOT, to_joint_space
from choreo.io.pose_json import load_pose_json
from choreo.motion.choreographer import choreograph
from choreo.music.analysis import MusicAnalysis, Section
from choreo.pose.keypoint_format import to_pose_keypoint
from choreo.pose.layout import MIRROR, NUM_KEYPOINTS
from choreo.pose.projection import project_motion
from choreo.pose.reference import reference_from_pose_keypoint
from choreo.pose.retarget import skeleton_from_reference

REPO_ROOT = Path(__file__).resolve().parents[1]
DRIVER = REPO_ROOT / "tests" / "browser" / "editor_parity.mjs"
DEMO_POSE = REPO_ROOT / "assets" / "demo_character_pose.json"
LIBRARY_POSE = REPO_ROOT / "assets" / "poses" / "arms_up.json"
FPS = 30.0
NUM_FRAMES = 120
# The preview is a port of apply_edits, so the two agree to float rounding; the product promise is 0.5 px.
PARITY_TOLERANCE_PX = 0.01
# Documents store coordinates to 0.01 px, so a pinned joint lands within this of its pin.
LANDING_TOLERANCE_PX = 0.05

NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = range(8)
R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = 8, 9, 10, 11, 12, 13
HIPS = (R_HIP, L_HIP)
LEFT_HAND = list(range(94, 115))
LEFT_ARM = [L_SHOULDER, L_ELBOW, L_WRIST, *LEFT_HAND]


def _descendants(joint: int) -> list[int]:
    out, frontier = [], [joint]
    while frontier:
        frontier = [j for j in range(NUM_KEYPOINTS) if PARENT[j] in frontier]
        out += frontier
    return out


UPPER_BODY = [NECK, *_descendants(NECK)]
LOWER_BODY = [j for j in range(NUM_KEYPOINTS) if j not in UPPER_BODY]


def _beat_grid(duration_s: float, tempo_bpm: float = 100.0, beats_per_bar: int = 4) -> MusicAnalysis:
    beats = np.arange(0.0, duration_s, 60.0 / tempo_bpm)
    num_frames = int(round(duration_s * FPS))
    in_bar = np.arange(len(beats)) % beats_per_bar
    rms = (0.6 + 0.3 * np.sin(np.arange(num_frames) / FPS)).astype(np.float32)
    return MusicAnalysis(duration_s, FPS, tempo_bpm, np.full(num_frames, tempo_bpm, np.float32), beats,
                         beats[in_bar == 0], beats_per_bar, in_bar, rms.copy(), rms, (Section(0.0, duration_s, "A"),))


def make_dance():
    """A 4 s choreographer dance on the demo character: whole body, hands and face, foreshortened limbs."""
    reference = reference_from_pose_keypoint(to_pose_keypoint(load_pose_json(DEMO_POSE)), (512, 768))
    motion = choreograph(_beat_grid(NUM_FRAMES / FPS), seed=3)
    motion = motion.with_skeleton(skeleton_from_reference(reference, motion.skeleton))
    seq = project_motion(motion, reference.canvas_width, reference.canvas_height, reference=reference)
    assert seq.num_frames == NUM_FRAMES
    return seq


@pytest.fixture(scope="module")
def dance():
    return make_dance()


def _library_keypoints() -> list[list[float]]:
    person = json.loads(LIBRARY_POSE.read_text())["people"][0]
    keypoints = np.zeros((NUM_KEYPOINTS, 3))
    keypoints[:18] = np.reshape(person["pose_keypoints_2d"], (18, 3))
    return keypoints.tolist()


def _doc(keyframes: list[dict], locked: list[int] = (), blend_frames: int = 6) -> str:
    return json.dumps({"version": 1, "source_fingerprint": "", "blend_frames": blend_frames,
                       "keyframes": keyframes, "locked_joints": list(locked)})


def _cases() -> dict[str, dict]:
    """name -> {doc: initial keyframes_json, hidden: joints with confidence 0, steps: gestures in order}.

    A step acts at `frame` on the editor's preview of that frame; `joints` is the selection (None: none).
    Gestures: drag (joint mode, pointer `by` px from the joint), move / scale (body mode), mirror, library,
    paste (copied at `from_frame`), key (K).
    """
    drag = lambda joint, by: {"kind": "drag", "joint": joint, "by": list(by)}
    step = lambda frame, gesture, joints=None, ease="smooth": {"frame": frame, "gesture": gesture,
                                                               "joints": joints, "ease": ease}
    rng = np.random.default_rng(11)
    legacy = _doc([
        {"frame": 20, "ease": "linear", "joints": {"1": [290.0, 200.0], "8": [200.0, 470.0], "4": [80.0, 300.0]}},
        {"frame": 26, "ease": "hold", "joints": {"4": [150.0, 250.0], "7": [420.0, 200.0], "13": [300.0, 600.0]}},
        {"frame": 70, "ease": "smooth", "joints": {str(j): [float(x), float(y)] for j, (x, y) in
                                                    enumerate(rng.uniform(100, 600, (30, 2)))}},
    ], locked=[13, 100], blend_frames=4)
    return {
        "wrist drag": {"steps": [step(40, drag(R_WRIST, (35, -45)))]},
        "elbow drag carries the wrist keyed before it": {"steps": [
            step(40, drag(R_WRIST, (35, -45))), step(40, drag(R_ELBOW, (-30, 25)))]},
        "neck drag": {"steps": [step(60, drag(NECK, (40, 15)))]},
        "hip drag": {"steps": [step(60, drag(R_HIP, (25, -12)))]},
        "whole-body move": {"steps": [step(80, {"kind": "move", "by": [-30, 18]})]},
        "whole-body scale": {"steps": [step(80, {"kind": "scale", "factor": 1.2})]},
        "move then scale in one keyframe": {"steps": [
            step(80, {"kind": "move", "by": [20, -10]}), step(80, {"kind": "scale", "factor": 0.85})]},
        "mirror whole body": {"steps": [step(50, {"kind": "mirror"})]},
        "mirror the left arm from the right": {"steps": [step(50, {"kind": "mirror"}, LEFT_ARM)]},
        "mirror with a hidden hand": {"hidden": LEFT_HAND, "steps": [step(50, {"kind": "mirror"})]},
        "pose-library insert": {"steps": [step(90, {"kind": "library", "keypoints": _library_keypoints()})]},
        "paste from another frame": {"steps": [step(100, {"kind": "paste", "from_frame": 10})]},
        "locked joints": {"doc": _doc([], locked=[L_ANKLE, L_WRIST]), "steps": [
            step(60, drag(R_HIP, (25, -12))), step(60, drag(L_ELBOW, (30, -40))), step(60, drag(NECK, (-20, 5)))]},
        "keyframes that overlap in time": {"doc": _doc([], blend_frames=8), "steps": [
            step(30, drag(R_ELBOW, (-40, 10)), ease="linear"), step(34, drag(R_WRIST, (30, 30)), ease="hold"),
            step(20, drag(NECK, (15, 0)), ease="linear"), step(38, drag(L_HIP, (-10, 10)))]},
        "K at an edited frame": {"steps": [step(40, drag(R_WRIST, (35, -45))), step(43, drag(NECK, (20, 5))),
                                           step(45, {"kind": "key"})]},
        "legacy document": {"doc": legacy, "steps": []},
    }


CASES = _cases()


def run_editor(node: str, dance, driver: Path = DRIVER) -> dict:
    """name -> what the editor's JS did for each case (see editor_parity.mjs for the fields)."""
    keypoints = np.concatenate([dance.keypoints_px, dance.confidence[..., None]], axis=-1)
    payload = {"num_frames": dance.num_frames, "keypoints": keypoints.astype(np.float64).ravel().tolist(),
               "cases": [{"name": name, "doc": case.get("doc", "{}"), "hidden": case.get("hidden", []),
                          "steps": case["steps"]} for name, case in CASES.items()]}
    run = subprocess.run([node, str(driver)], input=json.dumps(payload), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"{driver.name} failed:\n{run.stderr}"
    result = json.loads(run.stdout)
    return {"parent": result["parent"], "constants": result["constants"],
            **{case["name"]: case for case in result["cases"]}}


@pytest.fixture(scope="module")
def editor(dance):
    node = shutil.which("node")
    if node is None:
        pytest.skip("editor parity test skipped: Node.js is not on PATH; install Node.js 20 to run the editor's "
                    "JS against the Python render")
    return run_editor(node, dance)


def _render(dance, text: str) -> np.ndarray:
    return apply_edits(dance, parse_edit_document(text)).keypoints_px.astype(np.float64)


def _preview(case: dict) -> np.ndarray:
    return np.asarray(case["poses"], np.float64).reshape(NUM_FRAMES, NUM_KEYPOINTS, 2)


def _shown(step: dict) -> np.ndarray:
    """(136, 2) the pose the editor showed when the step began."""
    return np.asarray(step["pose"], np.float64).reshape(NUM_KEYPOINTS, 3)[:, :2]


def _centroid(step: dict) -> np.ndarray:
    """(2,) mean of the joints shown (confidence > 0) when the step began: the editor's scale and mirror pivot."""
    pose = np.asarray(step["pose"], np.float64).reshape(NUM_KEYPOINTS, 3)
    return pose[pose[:, 2] > 0, :2].mean(axis=0)


def _unit(v: np.ndarray) -> np.ndarray:
    """v scaled to length 1; zero vectors (a hand root on its wrist) stay zero."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 1e-9)


def _bones(points: np.ndarray) -> np.ndarray:
    """(..., 136, 2) bone vectors, parent (the mid-hip for the root's children) to joint."""
    space = to_joint_space(np.asarray(points, np.float64).reshape(-1, NUM_KEYPOINTS, 2))
    return (space.length_px[..., None] * np.stack([np.cos(space.angle_rad), np.sin(space.angle_rad)], -1)
            ).reshape(np.shape(points))


def _angle(v: np.ndarray) -> float:
    """Direction of a 2D vector, radians, image axes."""
    return float(np.arctan2(v[1], v[0]))


def _rotation(angle_rad: float) -> np.ndarray:
    return np.array([[np.cos(angle_rad), -np.sin(angle_rad)], [np.sin(angle_rad), np.cos(angle_rad)]])


def test_the_editor_and_apply_walk_the_same_joint_tree_with_the_same_constants(editor):
    assert editor["parent"] == [int(p) for p in PARENT]
    assert editor["constants"] == {"SCALE_TOLERANCE": SCALE_TOLERANCE, "WHOLE_BODY_MIN_JOINTS": WHOLE_BODY_MIN_JOINTS}


@pytest.mark.parametrize("name", list(CASES))
def test_the_preview_is_the_render_on_every_frame(editor, dance, name):
    case = editor[name]
    assert any(k["joints"] for k in json.loads(case["doc"])["keyframes"]), "the case made no edit"
    error = np.abs(_preview(case) - _render(dance, case["doc"])).max()
    assert error < PARITY_TOLERANCE_PX, f"{name}: preview and render differ by {error:.4f} px"


def test_a_limb_drag_turns_the_bone_and_keeps_its_length(editor, dance):
    (step,) = editor["wrist drag"]["steps"]
    shown, out = _shown(step), _render(dance, editor["wrist drag"]["doc"])[40]
    pointer = shown[R_WRIST] + [35, -45]
    forearm = np.linalg.norm(shown[R_WRIST] - shown[R_ELBOW])
    expected = shown[R_ELBOW] + forearm * _unit(pointer - shown[R_ELBOW])
    np.testing.assert_allclose(out[R_WRIST], expected, atol=LANDING_TOLERANCE_PX)
    np.testing.assert_allclose(out[R_ELBOW], shown[R_ELBOW], atol=LANDING_TOLERANCE_PX)


def test_a_keyed_wrist_follows_its_elbow_rigidly(editor, dance):
    elbow_drag = editor["elbow drag carries the wrist keyed before it"]["steps"][1]
    before, out = _shown(elbow_drag), _render(dance, editor["elbow drag carries the wrist keyed before it"]["doc"])[40]
    turn = _angle(out[R_ELBOW] - out[R_SHOULDER]) - _angle(before[R_ELBOW] - before[R_SHOULDER])
    hand = [R_WRIST, *range(115, 136)]
    expected = (before[hand] - before[R_ELBOW]) @ _rotation(turn).T + out[R_ELBOW]
    np.testing.assert_allclose(out[hand], expected, atol=LANDING_TOLERANCE_PX)


def test_a_neck_drag_leans_the_upper_body_about_the_hips(editor, dance):
    (step,) = editor["neck drag"]["steps"]
    shown, out = _shown(step), _render(dance, editor["neck drag"]["doc"])[60]
    mid_hip = np.asarray(step["root"])
    pointer = shown[NECK] + [40, 15]
    spine = np.linalg.norm(shown[NECK] - mid_hip)
    np.testing.assert_allclose(out[NECK], mid_hip + spine * _unit(pointer - mid_hip), atol=LANDING_TOLERANCE_PX)
    turn = _angle(out[NECK] - mid_hip) - _angle(shown[NECK] - mid_hip)
    expected = (shown[UPPER_BODY] - mid_hip) @ _rotation(turn).T + mid_hip
    np.testing.assert_allclose(out[UPPER_BODY], expected, atol=LANDING_TOLERANCE_PX)
    np.testing.assert_allclose(out[LOWER_BODY], shown[LOWER_BODY], atol=LANDING_TOLERANCE_PX)


@pytest.mark.parametrize("name, frame, by", [("hip drag", 60, (25, -12)), ("whole-body move", 80, (-30, 18))])
def test_a_hip_drag_or_body_move_carries_the_whole_body(editor, dance, name, frame, by):
    (step,) = editor[name]["steps"]
    out = _render(dance, editor[name]["doc"])[frame]
    np.testing.assert_allclose(out, _shown(step) + by, atol=LANDING_TOLERANCE_PX)


def test_a_whole_body_scale_scales_about_the_centroid(editor, dance):
    (step,) = editor["whole-body scale"]["steps"]
    shown, out, pivot = _shown(step), _render(dance, editor["whole-body scale"]["doc"])[80], _centroid(step)
    np.testing.assert_allclose(out, pivot + 1.2 * (shown - pivot), atol=LANDING_TOLERANCE_PX)
    move, scale = editor["move then scale in one keyframe"]["steps"]
    shown, pivot = _shown(scale), _centroid(scale)
    out = _render(dance, editor["move then scale in one keyframe"]["doc"])[80]
    np.testing.assert_allclose(shown, _shown(move) + [20, -10], atol=LANDING_TOLERANCE_PX)
    np.testing.assert_allclose(out, pivot + 0.85 * (shown - pivot), atol=LANDING_TOLERANCE_PX)


def _assert_bones_copied(out: np.ndarray, shown: np.ndarray, source: np.ndarray, joints: list[int]) -> None:
    """Every bone keeps the length it had in `shown`, and bones into `joints` point like `source`'s; (136, 2) each."""
    got, had, want = _bones(out), _bones(shown), _bones(source)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), np.linalg.norm(had, axis=-1), atol=LANDING_TOLERANCE_PX)
    expected = np.linalg.norm(had[joints], axis=-1, keepdims=True) * _unit(want[joints])
    np.testing.assert_allclose(got[joints], expected, atol=LANDING_TOLERANCE_PX)


def _turnable(confident: np.ndarray, joints: list[int]) -> list[int]:
    """Of `joints`, those a copy can turn: confident in the source, as is their parent (both hips for the root)."""
    chosen = {j for j in joints if confident[j]}
    return [j for j in sorted(chosen)
            if (all(h in chosen for h in HIPS) if PARENT[j] == ROOT else confident[PARENT[j]])]


def _reflected(points: np.ndarray, pivot_x: float) -> np.ndarray:
    return np.stack([2 * pivot_x - points[list(MIRROR), 0], points[list(MIRROR), 1]], -1)


def test_mirroring_swaps_sides_and_keeps_each_bone_length(editor, dance):
    (step,) = editor["mirror whole body"]["steps"]
    shown, out = _shown(step), _render(dance, editor["mirror whole body"]["doc"])[50]
    visible = dance.confidence[50] > 0
    pivot_x = _centroid(step)[0]
    partner_visible = visible[list(MIRROR)]
    _assert_bones_copied(out, shown, _reflected(shown, pivot_x),
                         _turnable(partner_visible, list(np.flatnonzero(visible))))
    np.testing.assert_allclose(out[list(HIPS)].mean(axis=0), _reflected(shown, pivot_x)[list(HIPS)].mean(axis=0),
                               atol=LANDING_TOLERANCE_PX)


def test_mirroring_a_selected_arm_copies_the_other_arm_and_leaves_the_rest(editor, dance):
    (step,) = editor["mirror the left arm from the right"]["steps"]
    shown, out = _shown(step), _render(dance, editor["mirror the left arm from the right"]["doc"])[50]
    _assert_bones_copied(out, shown, _reflected(shown, 0.0), LEFT_ARM)
    rest = [j for j in range(NUM_KEYPOINTS) if j not in LEFT_ARM]
    np.testing.assert_allclose(out[rest], shown[rest], atol=LANDING_TOLERANCE_PX)


def test_a_library_pose_is_inserted_with_the_dancers_bone_lengths_neck_on_neck(editor, dance):
    (step,) = editor["pose-library insert"]["steps"]
    shown, out = _shown(step), _render(dance, editor["pose-library insert"]["doc"])[90]
    library = np.asarray(_library_keypoints())
    body = [j for j in range(18) if library[j, 2] > 0]
    source = shown.copy()
    source[body] = library[body, :2]
    _assert_bones_copied(out, shown, source, [j for j in body if PARENT[j] == ROOT or PARENT[j] in body])
    np.testing.assert_allclose(out[NECK], shown[NECK], atol=LANDING_TOLERANCE_PX)


def test_paste_gives_the_copied_frames_pose_with_this_frames_bone_lengths(editor, dance):
    (step,) = editor["paste from another frame"]["steps"]
    shown, out = _shown(step), _render(dance, editor["paste from another frame"]["doc"])[100]
    copied = dance.keypoints_px[10].astype(np.float64)
    _assert_bones_copied(out, shown, copied, list(range(NUM_KEYPOINTS)))
    np.testing.assert_allclose(out[list(HIPS)].mean(axis=0), copied[list(HIPS)].mean(axis=0),
                               atol=LANDING_TOLERANCE_PX)


def test_locked_joints_never_move_and_the_rest_still_follows(editor, dance):
    out = _render(dance, editor["locked joints"]["doc"])
    source = dance.keypoints_px.astype(np.float64)
    np.testing.assert_allclose(out[:, [L_ANKLE, L_WRIST]], source[:, [L_ANKLE, L_WRIST]], atol=1e-4)
    hip_drag = editor["locked joints"]["steps"][0]
    np.testing.assert_allclose(out[60, R_ANKLE], _shown(hip_drag)[R_ANKLE] + [25, -12], atol=LANDING_TOLERANCE_PX)


def test_k_pins_what_is_shown_without_moving_it(editor, dance):
    steps = editor["K at an edited frame"]["steps"]
    out = _render(dance, editor["K at an edited frame"]["doc"])[45]
    np.testing.assert_allclose(out, _shown(steps[-1]), atol=LANDING_TOLERANCE_PX)
