"""CPU body passes on hand-made meshes (no anny needed): z-buffer order, normals, CHAMP part colours,
and the mesh landing where Project 3D to 2D puts the skeleton."""

from __future__ import annotations

import numpy as np
import pytest

from choreo.errors import ImageInputError
from choreo.motion.anny_body import PosedBody
from choreo.motion.motion3d import Motion3D
from choreo.motion.rotations import axis_angle_to_matrix
from choreo.motion.skeleton import JOINT, NUM_JOINTS, UPRIGHT
from choreo.pose.layout import B
from choreo.pose.projection import Camera, project_motion
from choreo.render.body_passes import (PassStyle, body_view, iter_body_passes, mesh_passes, rasterize,
                                       semantic_colours_rgb)
from choreo.render.mesh_preview import LIMB_JOINTS, MeshView

SIZE_PX = 64
# A front view of 1 px per cm around the origin: world x -> canvas x, world z up -> canvas y down.
FRONT = MeshView(Camera(), np.zeros(3), 100.0, np.array([SIZE_PX / 2, SIZE_PX / 2]), SIZE_PX, SIZE_PX)


def square(centre_m, half_m: float, tilt_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A square facing the front camera (-y), optionally turned about z; two triangles, CCW seen from -y."""
    turn = axis_angle_to_matrix(np.array([0.0, 0.0, np.deg2rad(tilt_deg)]))
    corners = np.array([[-1, 0, -1], [1, 0, -1], [1, 0, 1], [-1, 0, 1]], float) * half_m
    vertices = corners @ turn.T + np.asarray(centre_m, float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    assert np.cross(vertices[1] - vertices[0], vertices[2] - vertices[0])[1] < 0  # outward normal looks at -y
    return vertices, faces


def octahedron(centre_m, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed octahedron, faces counter-clockwise seen from outside."""
    axes = np.concatenate([np.eye(3), -np.eye(3)]) * radius_m + np.asarray(centre_m, float)
    faces = []
    for sx in (0, 3):
        for sy in (1, 4):
            for sz in (2, 5):
                face = [sx, sy, sz]
                normal = np.cross(axes[sy] - axes[sx], axes[sz] - axes[sx])
                if normal @ (axes[face].mean(axis=0) - centre_m) < 0:
                    face = [sx, sz, sy]
                faces.append(face)
    return axes, np.array(faces)


def test_semantic_colours_are_champs_viridis_every_10_levels():
    colours = semantic_colours_rgb()
    assert colours.shape == (24, 3) and colours.dtype == np.uint8
    assert tuple(colours[0]) == (68, 1, 84)  # viridis at 0: dark purple, as in CHAMP's pelvis
    assert len({tuple(c) for c in colours}) == 24


def test_a_square_facing_the_camera_fills_its_pixels_with_one_normal_and_part():
    vertices, faces = square([0, 0, 0], 0.1)
    depth, normal, semantic = mesh_passes(vertices, faces, np.full(4, 7), FRONT, (-1.0, 1.0))
    covered = semantic.any(axis=2)
    # 20 cm square at 1 px/cm centred on pixel 32: pixel centres 22..42 inclusive
    assert covered.sum() == 21 * 21
    assert covered[22:43, 22:43].all()
    assert (semantic[covered] == semantic_colours_rgb()[7]).all()
    assert (normal[covered] == [128, 128, 255]).all()  # n = (0, 0, 1) towards the camera
    assert (depth[covered] == round(255 * (0.25 + 0.75 * 0.5))).all()  # depth 0 in the range -1..1
    assert not depth[~covered].any() and not normal[~covered].any()


def test_a_square_turned_towards_the_left_has_normals_pointing_left_in_the_image():
    vertices, faces = square([0, 0, 0], 0.1, tilt_deg=-40.0)
    _, normal, _ = mesh_passes(vertices, faces, np.zeros(4, int), FRONT, (-1.0, 1.0))
    pixels = normal[normal.any(axis=2)].astype(float) / 127.5 - 1.0
    expected = np.array([-np.sin(np.deg2rad(40)), 0.0, np.cos(np.deg2rad(40))])
    assert np.abs(pixels - expected).max() < 0.01


def test_back_faces_are_culled():
    vertices, faces = square([0, 0, 0], 0.1)
    raster = rasterize(vertices, faces[:, ::-1], FRONT)
    assert (raster.triangle == -1).all()


@pytest.mark.parametrize("near_first", [True, False])
def test_the_nearer_of_two_overlapping_squares_wins_whatever_the_face_order(near_first):
    near_v, near_f = square([0.05, -0.2, 0], 0.1)
    far_v, far_f = square([-0.05, 0.2, 0], 0.1)
    parts = [(near_v, near_f, 3), (far_v, far_f, 20)]
    if not near_first:
        parts.reverse()
    vertices = np.concatenate([p[0] for p in parts])
    faces = np.concatenate([parts[0][1], parts[1][1] + 4])
    labels = np.concatenate([np.full(4, p[2]) for p in parts])
    depth, _, semantic = mesh_passes(vertices, faces, labels, FRONT, (-0.5, 0.5))
    colours = semantic_colours_rgb()
    assert (semantic[32, 32] == colours[3]).all()  # the overlap shows the near square
    assert (semantic[32, 18] == colours[20]).all()  # the far square where it is alone
    assert depth[32, 32, 0] > depth[32, 18, 0]  # nearer is brighter
    assert np.all(depth[32, 32] == depth[32, 32, 0])  # grey


def test_rasterising_in_small_batches_gives_the_same_image(monkeypatch):
    from choreo.render import body_passes

    body = _joint_blobs(_dance(num_frames=1))
    view = body_view(body, 160, 160, Camera())
    vertices = body.pose_frames(0, 1)[0]
    whole = rasterize(vertices, body.faces, view)
    monkeypatch.setattr(body_passes, "_MAX_CANDIDATES", 50)
    batched = rasterize(vertices, body.faces, view)
    assert (whole.triangle >= 0).sum() > 100
    np.testing.assert_array_equal(batched.triangle, whole.triangle)
    np.testing.assert_array_equal(batched.depth_m, whole.depth_m)


def _dance(num_frames: int = 3, seed: int = 0) -> Motion3D:
    rng = np.random.default_rng(seed)
    axis_angle = rng.normal(0.0, 0.35, (num_frames, NUM_JOINTS, 3))
    rotations = axis_angle_to_matrix(axis_angle)
    rotations[:, 0] = UPRIGHT @ axis_angle_to_matrix(axis_angle[:, 0] * 0.5)
    root = np.array([[0.1 * t, 0.05 * t, 0.95] for t in range(num_frames)], np.float32)
    return Motion3D(root, rotations.astype(np.float32), np.ones((num_frames, 4), np.float32), 30.0)


def _joint_blobs(motion: Motion3D, radius_m: float = 0.03) -> PosedBody:
    """A 'body' of one small octahedron per joint, each labelled with its joint."""
    shapes = [octahedron(np.zeros(3), radius_m) for _ in range(NUM_JOINTS)]
    faces = np.concatenate([f + 6 * j for j, (_, f) in enumerate(shapes)])
    labels = np.repeat(np.arange(NUM_JOINTS), 6)
    offsets = shapes[0][0]
    joints = motion.joint_positions()

    def pose_frames(start: int, stop: int) -> np.ndarray:
        return (joints[start:stop, :, None, :] + offsets[None, None]).reshape(stop - start, -1, 3).astype(np.float32)

    return PosedBody(motion, faces, labels, pose_frames)


@pytest.mark.parametrize("camera, on_reference", [
    (Camera(), False),
    (Camera("perspective", yaw_deg=35.0, pitch_deg=10.0, distance_m=3.0), False),
    (Camera(yaw_deg=-20.0), True),
])
def test_rasterised_joints_land_on_the_projected_skeleton_within_one_pixel(camera, on_reference):
    body = _joint_blobs(_dance())
    reference = project_motion(_dance(num_frames=1, seed=5), 300, 400) if on_reference else None
    view = body_view(body, 256, 320, camera, reference)
    pose = project_motion(body.motion, 256, 320, camera=camera, reference=reference)
    colours = semantic_colours_rgb()
    errors = []
    for frame, (depth, normal, semantic, skeleton) in enumerate(iter_body_passes(body, view, reference=reference)):
        assert depth.shape == normal.shape == semantic.shape == skeleton.shape == (320, 256, 3)
        assert skeleton.any()
        for name in LIMB_JOINTS:
            rows, cols = np.nonzero((semantic == colours[JOINT[name]]).all(axis=2))
            if len(rows) < 4:  # hidden behind another joint's blob
                continue
            centre = np.array([cols.mean(), rows.mean()])
            errors.append(np.linalg.norm(centre - pose.keypoints_px[frame, B[name]]))
    assert len(errors) >= 30
    assert max(errors) <= 1.0


def test_a_picked_frame_renders_as_it_does_in_the_whole_dance():
    body = _joint_blobs(_dance(num_frames=5))
    view = body_view(body, 96, 96, Camera())
    whole = list(iter_body_passes(body, view))
    picked = list(iter_body_passes(body, view, frames=np.array([3, 1])))
    assert len(picked) == 2
    for got, want in zip(picked, (whole[3], whole[1])):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_a_depth_style_with_far_brighter_than_near_is_refused():
    with pytest.raises(ImageInputError, match="far_value < near_value"):
        PassStyle(near_value=0.2, far_value=0.8)


@pytest.fixture(scope="module")
def body_nodes(pack):
    import importlib

    return importlib.import_module(f"{pack.__name__}.nodes.body_nodes")


def test_body_nodes_document_every_input_and_output(body_nodes):
    for cls in (body_nodes.ChoreoBodyFromDance, body_nodes.ChoreoRenderBodyPasses):
        spec = cls.INPUT_TYPES()
        for name, (_, options) in {**spec["required"], **spec.get("optional", {})}.items():
            assert options.get("tooltip"), f"{cls.__name__}.{name} has no tooltip"
        assert cls.CATEGORY.startswith("Choreo/") and len(cls.DESCRIPTION) > 40
        assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)


def _node_arguments(**changes):
    arguments = dict(width=96, height=128, projection="orthographic", yaw_deg=0.0, pitch_deg=0.0, distance_m=4.0,
                     start_frame=1, frame_count=0, stride=2, max_batch_gib=1.0)
    arguments.update(changes)
    return arguments


def test_render_body_passes_node_gives_four_image_batches_of_the_picked_frames(body_nodes):
    body = _joint_blobs(_dance(num_frames=6))
    depth, normal, semantic, skeleton, fps, next_start = body_nodes.ChoreoRenderBodyPasses().render(
        body, **_node_arguments())
    for batch in (depth, normal, semantic, skeleton):
        assert tuple(batch.shape) == (3, 128, 96, 3)  # frames 1, 3, 5
        assert 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0 and float(batch.max()) > 0.0
    assert fps == 15.0 and next_start == 7
    view = body_view(body, 96, 128, Camera())
    third = list(iter_body_passes(body, view, frames=np.array([5])))[0]
    np.testing.assert_allclose(semantic[2].numpy(), third[2] / 255.0, atol=1e-6)


def test_render_body_passes_node_refuses_batches_over_the_memory_limit(body_nodes):
    body = _joint_blobs(_dance(num_frames=4))
    with pytest.raises(ValueError, match=r"four passes of 4 frames of 2048x2048 would take .* GiB.*smaller range"):
        body_nodes.ChoreoRenderBodyPasses().render(body, **_node_arguments(width=2048, height=2048, start_frame=0,
                                                                           stride=1, max_batch_gib=0.1))
