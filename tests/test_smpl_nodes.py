"""SMPL body nodes, loaded the way ComfyUI loads the pack (outside ComfyUI: ./models_user/smpl)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.smpl_nodes")


@pytest.fixture()
def models_dir(tmp_path, monkeypatch):
    """An empty ./models_user/smpl under a fresh working directory, output going to tmp_path/output."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHOREO_OUTPUT_DIR", str(tmp_path / "output"))
    folder = tmp_path / "models_user" / "smpl"
    folder.mkdir(parents=True)
    return folder


def test_loader_without_model_files_says_where_to_get_them(nodes, models_dir):
    choices = nodes.ChoreoLoadSMPLBody.INPUT_TYPES()["required"]["model_file"][0]
    assert choices == [nodes.NO_MODEL]
    with pytest.raises(ValueError, match=rf"smpl\.is\.tue\.mpg\.de.*SMPL_NEUTRAL.*{models_dir}"):
        nodes.ChoreoLoadSMPLBody().load(nodes.NO_MODEL, "float32")


def test_load_pose_preview_and_save_through_the_nodes(nodes, pack, models_dir, one_torch_thread):
    synthetic = importlib.import_module(f"{pack.__name__}.choreo.motion.smpl_synthetic")
    motion3d = importlib.import_module(f"{pack.__name__}.choreo.motion.motion3d")
    skeleton = importlib.import_module(f"{pack.__name__}.choreo.motion.skeleton")
    (models_dir / "smpl").mkdir()
    np.savez(models_dir / "smpl" / "SMPL_FEMALE.npz", **synthetic.synthetic_smpl_arrays())
    assert nodes.ChoreoLoadSMPLBody.INPUT_TYPES()["required"]["model_file"][0] == ["smpl/SMPL_FEMALE.npz"]
    (body,) = nodes.ChoreoLoadSMPLBody().load("smpl/SMPL_FEMALE.npz", "float32")
    assert body.gender == "female" and body.num_betas == 10

    rotations = np.broadcast_to(np.eye(3, dtype=np.float32), (5, 24, 3, 3)).copy()
    rotations[:, 0] = skeleton.UPRIGHT
    rotations[:, 18] = skeleton.UPRIGHT  # left elbow bent
    root = np.tile([0.0, 0.0, 0.95], (5, 1)).astype(np.float32)
    motion = motion3d.Motion3D(root, rotations, np.ones((5, 4), np.float32), 25.0)
    result = nodes.ChoreoSMPLMesh().mesh(motion, body, "1.0, 0.5", 96, 128, "perspective", 20.0, 10.0, 4.0, True,
                                         "choreo/body")
    images, fps = result["result"]
    assert tuple(images.shape) == (5, 128, 96, 3) and fps == 25.0
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert float(images[0].std()) > 0.05  # a body was drawn on the plain background
    (saved,) = result["ui"]["text"]
    with np.load(models_dir.parents[1] / "output" / saved) as data:
        assert data["vertices"].shape == (5, 6890, 3) and data["joints"].shape == (5, 24, 3)
        np.testing.assert_allclose(data["betas"][:3], [1.0, 0.5, 0.0])

    with pytest.raises(ValueError, match="comma-separated numbers"):
        nodes.ChoreoSMPLMesh().mesh(motion, body, "tall", 96, 128, "orthographic", 0.0, 0.0, 4.0, False, "x")
