"""The edit document: strict parsing with errors that name the keyframe and field, fingerprints, staleness."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from conftest import load_pack
from edit_synthetic import synthetic_dance

PACK = load_pack()
edit = importlib.import_module(f"{PACK.__name__}.choreo.edit")
PoseInputError = PACK.choreo.errors.PoseInputError

VALID = {"version": 1, "source_fingerprint": "ab12", "blend_frames": 6,
         "keyframes": [{"frame": 120, "ease": "smooth", "joints": {"4": [312.5, 208.0], "7": [190.0, 300.0]}},
                       {"frame": 30, "ease": "hold", "joints": {"0": [1, 2]}}],
         "locked_joints": [13, 10]}


def with_change(path: list, value) -> str:
    data = json.loads(json.dumps(VALID))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(data)


def test_a_valid_document_parses_sorted_and_round_trips():
    doc = edit.parse_edit_document(json.dumps(VALID))
    assert [k.frame for k in doc.keyframes] == [30, 120]
    assert doc.keyframes[1].joints == ((4, 312.5, 208.0), (7, 190.0, 300.0))
    assert doc.locked_joints == (10, 13) and doc.blend_frames == 6 and doc.source_fingerprint == "ab12"
    assert edit.parse_edit_document(edit.dump_edit_document(doc)) == doc


@pytest.mark.parametrize("text", ["", "  ", "{}", None])
def test_empty_text_means_no_edits(text):
    doc = edit.parse_edit_document(text)
    assert doc.is_empty and doc.keyframes == ()


@pytest.mark.parametrize("text, message", [
    ("{not json", r"not valid JSON .*line 1"),
    ("[1, 2]", r"must be a JSON object"),
    (with_change(["colour"], "red"), r"unknown keys \['colour'\]"),
    (with_change(["version"], 2), r"version 2 is not supported"),
    (with_change(["blend_frames"], -1), r"blend_frames is -1; it must be an integer in 0..1000"),
    (with_change(["keyframes", 0, "ease"], "bouncy"), r"keyframes\[0\]\.ease is 'bouncy'; allowed: linear, smooth"),
    (with_change(["keyframes", 1, "frame"], -3), r"keyframes\[1\]\.frame is -3"),
    (with_change(["keyframes", 1, "frame"], True), r"keyframes\[1\]\.frame is True"),
    (with_change(["keyframes", 1, "frame"], 120), r"keyframes\[1\] and keyframes\[0\] are both at frame 120"),
    (with_change(["keyframes", 0, "joints"], {"136": [1, 2]}), r"keyframes\[0\]\.joints has key '136'"),
    (with_change(["keyframes", 0, "joints"], {"nose": [1, 2]}), r"keyframes\[0\]\.joints has key 'nose'"),
    (with_change(["keyframes", 0, "joints"], {"4": ["a", 2]}), r"keyframes\[0\]\.joints\[\"4\"\] .* two finite"),
    (with_change(["keyframes", 0, "joints"], {"4": [1, 2, 3]}), r"must be \[x, y\]"),
    (with_change(["keyframes", 0, "speed"], 2), r"keyframes\[0\] has unknown keys \['speed'\]"),
    (with_change(["locked_joints"], [10, 200]), r"locked_joints\[1\] is 200"),
    (with_change(["locked_joints"], "10"), r"locked_joints must be a list"),
])
def test_malformed_documents_are_refused_with_the_place_and_the_rule(text, message):
    with pytest.raises(PoseInputError, match=message):
        edit.parse_edit_document(text)


def test_the_fingerprint_changes_exactly_when_the_sequence_changes():
    seq = synthetic_dance(30)
    same = seq.__class__(seq.keypoints_px.copy(), seq.confidence.copy(), 512, 768, 30.0)
    moved = seq.__class__(seq.keypoints_px + np.float32(0.5), seq.confidence, 512, 768, 30.0)
    faster = seq.__class__(seq.keypoints_px, seq.confidence, 512, 768, 25.0)
    assert len(edit.fingerprint(seq)) == 40
    assert edit.fingerprint(seq) == edit.fingerprint(same)
    assert len({edit.fingerprint(s) for s in (seq, moved, faster)}) == 3


def test_edits_made_on_another_sequence_are_stale():
    fingerprint = edit.fingerprint(synthetic_dance(30))
    doc = edit.parse_edit_document(with_change(["source_fingerprint"], fingerprint))
    assert not edit.edits_are_stale(doc, fingerprint)
    assert edit.edits_are_stale(doc, edit.fingerprint(synthetic_dance(30, seed=1)))
    assert not edit.edits_are_stale(edit.parse_edit_document(with_change(["source_fingerprint"], "")), fingerprint)
    assert not edit.edits_are_stale(edit.parse_edit_document("{}"), fingerprint)
