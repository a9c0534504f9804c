"""Motion Expert nodes, loaded the way ComfyUI loads the pack."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from conftest import REPO_ROOT

DEMO = REPO_ROOT / "assets" / "checkpoints" / "motion_expert" / "mace_demo"


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.motion_expert_nodes")


def test_nodes_document_every_input(nodes):
    for cls in (nodes.ChoreoLoadMotionExpert, nodes.ChoreoGenerate3DDance, nodes.Choreo3DInpaint,
                nodes.ChoreoExportMotion):
        spec = cls.INPUT_TYPES()
        for name, entry in {**spec["required"], **spec.get("optional", {})}.items():
            assert entry[1].get("tooltip"), f"{cls.__name__}.{name}"
        assert len(cls.DESCRIPTION) > 40 and len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)


@pytest.mark.skipif(not (DEMO / "model.safetensors").is_file(), reason="demo checkpoint not built")
def test_load_generate_inpaint_export_through_the_nodes(nodes, pack, tmp_path, monkeypatch):
    monkeypatch.setenv("CHOREO_OUTPUT_DIR", str(tmp_path))
    features_module = importlib.import_module(f"{pack.__name__}.choreo.music.features")
    assert "bundled/mace_demo" in nodes.ChoreoLoadMotionExpert.INPUT_TYPES()["required"]["checkpoint"][0]
    (expert,) = nodes.ChoreoLoadMotionExpert().load("bundled/mace_demo", "float32")
    music_dim = expert.config.music_dim
    features = features_module.MusicFeatures(np.random.default_rng(0).random((45, music_dim)).astype(np.float32),
                                             30.0, expert.metadata["extractor"],
                                             tuple(str(i) for i in range(music_dim)))
    (motion,) = nodes.ChoreoGenerate3DDance().generate(expert, features, 1, 0.5, 2.0, "auto", 3, num_frames=40)
    assert motion.num_frames == 40
    (edited,) = nodes.Choreo3DInpaint().inpaint(expert, features, motion, "temporal", 0.5, 1.0, "", 2, 0.5, 2.0,
                                                "auto", 3)
    np.testing.assert_array_equal(edited.rotations[:15], motion.rotations[:15])
    (joints,) = nodes.Choreo3DInpaint().inpaint(expert, features, motion, "joints", 0.0, 1.0, "lower_body", 2, 0.5,
                                                2.0, "auto", 3)
    np.testing.assert_array_equal(joints.rotations[:, 1], motion.rotations[:, 1])
    result = nodes.ChoreoExportMotion().export(motion, "choreo/test", "both")
    names = [entry["filename"] for entry in result["ui"]["files"]]
    assert [name.rsplit(".", 1)[1] for name in names] == ["npz", "bvh"]
    assert all((tmp_path / "choreo" / name).is_file() for name in names)
