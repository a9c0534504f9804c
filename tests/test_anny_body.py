"""The anny body on SMPL-24 dances: joints equal to Choreo's forward kinematics, a T-pose rest, fitted proportions.

Needs the optional ``anny`` package (skipped without it). Its first model build on a machine parses the
MakeHuman assets into ``$ANNY_CACHE_DIR`` (about 85 s once); later loads take about half a second.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from choreo.motion import anny_body
from choreo.motion.anny_body import AnnyMissingError, AnnyRig, AnnyShape, fit_shape, load_anny_model
from choreo.motion.motion3d import Motion3D
from choreo.motion.rotations import axis_angle_to_matrix
from choreo.pose.projection import project_motion
from choreo.motion.skeleton import JOINT, NUM_JOINTS, UPRIGHT, Skeleton, forward_kinematics


@pytest.fixture(scope="module")
def model(one_torch_thread):
    pytest.importorskip("anny")
    return load_anny_model()


def _dance(num_frames: int = 6, seed: int = 1) -> Motion3D:
    rng = np.random.default_rng(seed)
    axis_angle = rng.normal(0.0, 0.4, (num_frames, NUM_JOINTS, 3))
    rotations = axis_angle_to_matrix(axis_angle)
    rotations[:, 0] = UPRIGHT @ axis_angle_to_matrix(axis_angle[:, 0] * 0.5)
    root = np.array([[0.2 * t, -0.1 * t, 0.9] for t in range(num_frames)], np.float32)
    return Motion3D(root, rotations.astype(np.float32), np.ones((num_frames, 4), np.float32), 30.0)


def _rest(num_frames: int = 1) -> Motion3D:
    rotations = np.broadcast_to(np.eye(3, dtype=np.float32), (num_frames, NUM_JOINTS, 3, 3)).copy()
    rotations[:, 0] = UPRIGHT
    return Motion3D(np.tile(np.float32([0, 0, 0.95]), (num_frames, 1)), rotations,
                    np.ones((num_frames, 4), np.float32), 30.0)


def test_without_anny_the_error_says_how_to_install_it(monkeypatch):
    real_import = importlib.import_module

    def refuse(name, *args):
        if name == "anny":
            raise ImportError("No module named 'anny'")
        return real_import(name, *args)

    monkeypatch.setattr(anny_body.importlib, "import_module", refuse)
    with pytest.raises(AnnyMissingError, match="pip install anny"):
        load_anny_model()


def test_a_shape_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="height must lie in"):
        AnnyShape(height=1.5)


def test_every_vertex_has_an_smpl_part_and_every_part_has_vertices(model):
    assert model.part_labels.shape == (13718,)
    assert set(np.unique(model.part_labels)) == set(range(NUM_JOINTS))
    assert model.part_labels[np.argmax(model.module.template_vertices[:, 2].numpy())] == JOINT["head"]
    vertices = model.module.template_vertices.double().numpy()
    tri = vertices[model.faces]
    signed_volume = np.einsum("ij,ij->", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6
    assert signed_volume > 0.03  # counter-clockwise from outside, about 50 litres


def test_posed_joints_equal_forward_kinematics_of_the_retargeted_dance(model):
    rig = AnnyRig(model, AnnyShape())
    body = rig.pose_motion(_dance())
    vertices, joints = rig.posed_mesh(body.motion, 0, body.num_frames)
    assert vertices.shape == (body.num_frames, 13718, 3)
    error_m = np.linalg.norm(joints - body.motion.joint_positions(), axis=-1)
    assert error_m.max() < 1e-5


def test_the_rest_of_an_smpl_dance_is_a_t_pose_standing_on_the_floor(model):
    rig = AnnyRig(model, AnnyShape())
    body = rig.pose_motion(_rest())
    _, joints = rig.posed_mesh(body.motion, 0, 1)
    joints = joints[0]
    for side in ("left", "right"):
        shoulder, wrist = joints[JOINT[f"{side}_shoulder"]], joints[JOINT[f"{side}_wrist"]]
        assert abs(wrist[2] - shoulder[2]) < 0.02  # arms horizontal, as SMPL's rest
        assert abs(wrist[0]) > abs(shoulder[0]) + 0.4
    feet = joints[[JOINT["left_ankle"], JOINT["right_ankle"], JOINT["left_foot"], JOINT["right_foot"]], 2]
    assert abs(feet.min()) < 0.01  # Motion3D.with_skeleton keeps the lowest foot joint on z = 0


def test_chunked_posing_equals_posing_every_frame_at_once(model):
    rig = AnnyRig(model, AnnyShape())
    body = rig.pose_motion(_dance(num_frames=5))
    frames = np.array([4, 0, 2])
    streamed = np.stack(list(body.iter_vertices(frames, chunk_frames=2)))
    np.testing.assert_allclose(streamed, body.pose_frames(0, 5)[frames], atol=1e-6)


def _rest_joint_error_m(skeleton: Skeleton, target: Skeleton) -> float:
    """Mean distance between the T-pose joints of two skeletons, pelvis on pelvis, metres."""
    rest = _rest().rotations
    here, there = (forward_kinematics(s, rest, np.zeros((1, 3)))[0] for s in (skeleton, target))
    return float(np.linalg.norm(here - there, axis=1).mean())


def test_fitting_a_taller_skeleton_grows_the_body_and_brings_its_joints_closer(model):
    target = Skeleton.default().scaled(1.12)
    start = AnnyRig(model, AnnyShape()).skeleton
    shape = fit_shape(model, target, steps=60)
    fitted = AnnyRig(model, shape).skeleton
    assert shape.height > 0.6
    assert _rest_joint_error_m(fitted, target) < 0.8 * _rest_joint_error_m(start, target)


def test_body_from_dance_node_fits_the_dance_and_renders_its_passes(pack, model, monkeypatch):
    body_nodes = importlib.import_module(f"{pack.__name__}.nodes.body_nodes")
    monkeypatch.setattr(body_nodes, "cached_anny_model", lambda: model)
    (body,) = body_nodes.ChoreoBodyFromDance().make_body(_dance(num_frames=3), "dance", 0.5, 0.5, 0.5, 0.5, 0.5,
                                                           0.5)
    assert body.num_frames == 3 and body.faces.shape == (27420, 3)
    assert body.shape.age == 0.5 and body.shape.height != 0.5  # fitted: height moved, age kept
    passes = body_nodes.ChoreoRenderBodyPasses().render(body, 64, 96, "orthographic", 0.0, 0.0, 4.0, 0, 2, 1, 1.0)
    semantic = passes[2].numpy()
    assert semantic.shape == (2, 96, 64, 3)
    assert (semantic.sum(axis=3) > 0).mean() > 0.05  # the body covers part of the frame


def test_fitting_to_a_long_legged_reference_person_gives_longer_legs(model):
    def legs_over_torso(skeleton: Skeleton) -> float:
        lengths = skeleton.bone_lengths_m
        return (lengths[JOINT["left_knee"]] + lengths[JOINT["left_ankle"]]) / lengths[[3, 6, 9, 12]].sum()

    ratios = []
    for leg_scale in (0.85, 1.2):
        lengths = Skeleton.default().bone_lengths_m.copy()
        for name in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
            lengths[JOINT[name]] *= leg_scale
        person = _rest().with_skeleton(Skeleton.default().with_bone_lengths(lengths))
        reference = project_motion(person, 512, 768)
        body = anny_body.body_from_dance(model, _dance(num_frames=1), fit="reference_pose", reference=reference)
        ratios.append(legs_over_torso(body.motion.skeleton))
    assert ratios[1] > ratios[0] + 0.15


def test_the_node_builds_anny_once_per_process(pack):
    pytest.importorskip("anny")
    body_nodes = importlib.import_module(f"{pack.__name__}.nodes.body_nodes")
    assert body_nodes.cached_anny_model() is body_nodes.cached_anny_model()


def test_fitting_to_a_reference_pose_needs_one(model):
    with pytest.raises(ValueError, match="needs a reference pose"):
        anny_body.body_from_dance(model, _dance(num_frames=1), fit="reference_pose")
