"""The editor nodes, loaded through the pack as ComfyUI loads it."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from conftest import load_pack
from edit_synthetic import synthetic_dance
from test_edit_apply import R_ELBOW, R_SHOULDER, R_WRIST, rotated
from test_editor_routes import synthetic_music

PACK = load_pack()
editor_nodes = importlib.import_module(f"{PACK.__name__}.nodes.editor_nodes")
editor_cache = importlib.import_module(f"{PACK.__name__}.nodes.editor_cache")
edit = importlib.import_module(f"{PACK.__name__}.choreo.edit")
default_reference_pose = importlib.import_module(f"{PACK.__name__}.choreo.pose.reference").default_reference_pose
choreograph = importlib.import_module(f"{PACK.__name__}.choreo.motion.choreographer").choreograph
PoseInputError = PACK.choreo.errors.PoseInputError


def arm_document(seq, fingerprint: str = "") -> str:
    kp = seq.keypoints_px.astype(np.float64)
    return json.dumps({"version": 1, "source_fingerprint": fingerprint, "blend_frames": 6, "locked_joints": [],
                       "keyframes": [{"frame": 20, "ease": "smooth",
                                      "joints": rotated(kp[20], R_SHOULDER, [R_ELBOW, R_WRIST], 45)}]})


def test_the_editor_declares_its_widget_and_hidden_node_and_workflow_ids():
    spec = editor_nodes.ChoreoPoseKeyframeEditor.INPUT_TYPES()
    widget = spec["required"]["keyframes_json"]
    assert widget[0] == "STRING" and widget[1]["default"] == "{}" and widget[1]["multiline"]
    assert "editor" in widget[1]["tooltip"].lower()
    assert spec["hidden"] == {"unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert set(spec["optional"]) == {"music", "reference_image", "audio"}
    regenerate = editor_nodes.ChoreoRegenerateAroundEdits.INPUT_TYPES()["required"]
    assert regenerate["keyframes_json"][1]["forceInput"] and regenerate["mode"][0] == ["temporal", "joints"]


def test_the_editor_applies_its_keyframes_and_reports_the_fingerprint():
    seq = synthetic_dance(60)
    fingerprint = edit.fingerprint(seq)
    out = editor_nodes.ChoreoPoseKeyframeEditor().edit(seq, arm_document(seq, fingerprint), 6, unique_id="3")
    edited, edits = out["result"]
    expected = edit.apply_edits(seq, edit.parse_edit_document(arm_document(seq)))
    np.testing.assert_array_equal(edited.keypoints_px, expected.keypoints_px)
    target = json.loads(arm_document(seq))["keyframes"][0]["joints"][str(R_WRIST)]
    np.testing.assert_allclose(edited.keypoints_px[20, R_WRIST], target, atol=1e-3)
    assert edit.parse_edit_document(edits) == edit.parse_edit_document(arm_document(seq, fingerprint))
    assert out["ui"]["choreo_editor"] == [{"node_id": "3", "workflow_id": "", "fingerprint": fingerprint, "stale": False,
                                           "num_frames": 60, "fps": 30.0}]
    assert editor_cache.lookup("3").pose is seq


def test_edits_made_on_another_dance_are_flagged_stale():
    seq, other = synthetic_dance(60), synthetic_dance(60, seed=4)
    out = editor_nodes.ChoreoPoseKeyframeEditor().edit(seq, arm_document(seq, edit.fingerprint(other)), 6,
                                                       unique_id="4")
    assert out["ui"]["choreo_editor"][0]["stale"] is True


def test_the_node_blend_frames_input_is_what_is_applied_and_passed_on():
    seq = synthetic_dance(60)
    _, edits = editor_nodes.ChoreoPoseKeyframeEditor().edit(seq, arm_document(seq), 12, unique_id="5")["result"]
    assert json.loads(edits)["blend_frames"] == 12


def test_malformed_keyframes_json_raises_but_the_editor_can_still_open():
    seq = synthetic_dance(30)
    editor_cache.clear()
    with pytest.raises(PoseInputError, match=r"keyframes\[0\]\.ease"):
        editor_nodes.ChoreoPoseKeyframeEditor().edit(
            seq, '{"keyframes": [{"frame": 1, "ease": "wobbly", "joints": {}}]}', 6, unique_id="9")
    assert editor_cache.lookup("9").pose is seq


def test_regenerate_around_edits_keeps_the_keyframe_and_re_dances_the_rest():
    music = synthetic_music(120)
    reference = default_reference_pose(512, 768)
    motion = choreograph(music, seed=0)
    project = PACK.NODE_CLASS_MAPPINGS["ChoreoProjectMotion"]()
    pose = project.project(motion, reference, True, "orthographic", 0.0, 0.0, 4.0, True, True)[0]
    kp = pose.keypoints_px.astype(np.float64)
    document = json.dumps({"blend_frames": 6, "keyframes": [
        {"frame": 60, "joints": rotated(kp[60], R_ELBOW, [R_WRIST], 60)}]})
    node = editor_nodes.ChoreoRegenerateAroundEdits()
    for mode, extra in (("temporal", {}), ("joints", {}), ("temporal", {"motion": motion})):
        result = node.regenerate(pose, document, music, reference, mode, 11, "mixed", 1.0, 6, **extra)[0]
        assert result.num_frames == pose.num_frames
        np.testing.assert_allclose(result.keypoints_px[60, R_WRIST],
                                   json.loads(document)["keyframes"][0]["joints"][str(R_WRIST)], atol=1e-3)


@pytest.mark.parametrize("extra_pnginfo, expected", [
    ({"workflow": {"id": "0b6e3f2a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}}, "0b6e3f2a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
    (None, ""), ({}, ""), ({"workflow": {}}, ""), ({"workflow": {"id": "../etc"}}, ""), ({"workflow": {"id": 7}}, ""),
    ({"workflow": "x"}, ""),
])
def test_the_workflow_id_comes_from_the_prompts_workflow_and_only_when_it_is_a_plain_id(extra_pnginfo, expected):
    assert editor_nodes.workflow_id(extra_pnginfo) == expected


def test_a_run_is_cached_under_its_workflow_and_executed_node_id():
    seq = synthetic_dance(30)
    editor_nodes.ChoreoPoseKeyframeEditor().edit(seq, "{}", 6, unique_id="12:5",
                                                 extra_pnginfo={"workflow": {"id": "wf-1"}})
    assert editor_cache.lookup("12:5", "wf-1").pose is seq
    assert editor_cache.lookup("12:5", "wf-2") is None and editor_cache.lookup("5", "wf-1") is None
    assert editor_cache.lookup("12:5").pose is seq
