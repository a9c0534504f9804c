"""The pose library: starter poses ship read-only, user poses are saved safely under validated names."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from conftest import REPO_ROOT, load_pack

PACK = load_pack()
library_module = importlib.import_module(f"{PACK.__name__}.choreo.edit.pose_library")
PoseInputError = PACK.choreo.errors.PoseInputError
STARTERS = REPO_ROOT / "assets" / "poses"


@pytest.fixture
def library(tmp_path):
    return library_module.PoseLibrary(STARTERS, tmp_path / "user")


def frame(offset: float = 0.0) -> list:
    points = np.zeros((136, 3))
    points[:18] = [[100 + 10 * i + offset, 200 + 5 * i, 1.0] for i in range(18)]
    return points.tolist()


def test_starter_poses_are_listed_and_have_a_confident_body(library):
    starters = [p for p in library.entries() if p["source"] == "starter"]
    assert {"t_pose", "arms_up", "hands_on_hips", "point_left", "clap"} <= {p["name"] for p in starters}
    for entry in starters:
        pose = library.load(entry["name"])
        assert pose.keypoints.shape == (1, 136, 3) and (pose.canvas_width, pose.canvas_height) == (512, 768)
        assert np.all(pose.keypoints[0, :18, 2] == 1.0) and np.all(pose.keypoints[0, 18:, 2] == 0.0)


def test_a_saved_pose_or_move_loads_back(library):
    library.save("my move", 640, 480, [frame(0), frame(5), frame(10)])
    pose = library.load("my move")
    assert pose.source == "user" and pose.keypoints.shape == (3, 136, 3) and pose.canvas_width == 640
    np.testing.assert_allclose(pose.keypoints[2, 0], [110, 200, 1])
    assert {"name": "my move", "source": "user", "frames": 3} in library.entries()


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/b", "pose.json", "..", "", " ", "x" * 65,
                                  "caf\u00e9", "a\\b", 7, None])
def test_names_that_could_leave_the_folder_are_refused_and_nothing_is_written(library, name):
    with pytest.raises(PoseInputError, match="not allowed"):
        library.save(name, 512, 768, frame())
    assert not library.user_dir.exists() or not any(library.user_dir.iterdir())


def test_a_starter_pose_is_never_overwritten(library):
    before = (STARTERS / "t_pose.json").read_bytes()
    for name in ("t_pose", "T_Pose"):
        with pytest.raises(library_module.PoseExistsError, match="starter pose"):
            library.save(name, 512, 768, frame(), overwrite=True)
    assert (STARTERS / "t_pose.json").read_bytes() == before


def test_overwriting_a_user_pose_needs_the_flag(library):
    library.save("wave", 512, 768, frame(0))
    with pytest.raises(library_module.PoseExistsError, match="overwrite"):
        library.save("wave", 512, 768, frame(50))
    assert library.load("wave").keypoints[0, 0, 0] == 100
    library.save("wave", 512, 768, frame(50), overwrite=True)
    assert library.load("wave").keypoints[0, 0, 0] == 150


@pytest.mark.parametrize("keypoints, message", [
    ([[1, 2, 3]] * 135, r"shape \(1, 135, 3\)"),
    ([[1, 2]] * 136, r"shape"),
    ("nonsense", r"numbers only"),
    ([[float("nan"), 0, 1]] * 136, r"NaN"),
    ([[[1, 2, 3]] * 136, [[1, 2, 3]] * 10], r"numbers only"),
])
def test_malformed_keypoints_are_refused_without_touching_the_stored_pose(library, keypoints, message):
    library.save("keep", 512, 768, frame())
    stored = (library.user_dir / "keep.json").read_bytes()
    with pytest.raises(PoseInputError, match=message):
        library.save("keep", 512, 768, keypoints, overwrite=True)
    assert (library.user_dir / "keep.json").read_bytes() == stored
    assert sorted(p.name for p in library.user_dir.iterdir()) == ["keep.json"]


def test_an_unknown_pose_is_reported_as_not_found(library):
    with pytest.raises(library_module.PoseNotFoundError, match="no pose named 'ghost'"):
        library.load("ghost")
