"""SMPL bodies on Choreo dances: model files, the pose mapping into smplx, the preview and the mesh NPZ.

No licensed SMPL file is needed: ``smpl_synthetic`` builds a capsule body in SMPL's exact array
layout whose regressed rest joints are Choreo's default skeleton, so smplx's joints can be
compared with Choreo's own forward kinematics.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import pickletools
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch

from choreo.errors import MotionInputError
from choreo.io.mesh_files import load_body_mesh_npz, save_body_mesh_npz
from choreo.motion.motion3d import Motion3D
from choreo.motion.rotations import axis_angle_to_matrix
from choreo.motion.skeleton import FOOT_CONTACT_JOINTS, JOINT, UPRIGHT, Skeleton
from choreo.motion.smpl_body import load_smpl_body, parse_betas, pose_body, retarget_to_body
from choreo.io.smpl_model_files import (SMPL_KEYS, SMPLModelError, convert_smpl_pickle, find_smpl_model_files,
                                            main, read_smpl_model, read_smpl_pickle, smpl_gender)
from choreo.motion.smpl_synthetic import SYNTHETIC_PELVIS_M, synthetic_smpl_arrays
from choreo.pose.layout import B
from choreo.pose.projection import Camera, project_motion
from choreo.render.mesh_preview import (LIMB_JOINTS, MeshStyle, camera_space, render_mesh_frame, to_canvas,
                                        view_like_projection)

JOINT_TOLERANCE_M = 1e-5


@pytest.fixture(scope="module")
def arrays():
    return synthetic_smpl_arrays()


@pytest.fixture(scope="module")
def smpl_file(tmp_path_factory, arrays) -> Path:
    path = tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def body(smpl_file, one_torch_thread):
    return load_smpl_body(smpl_file)


def random_dance(num_frames: int = 24, seed: int = 0, spread_rad: float = 0.5) -> Motion3D:
    """Random joint rotations around an upright body, pelvis wandering about 1 m above the floor."""
    rng = np.random.default_rng(seed)
    rotations = axis_angle_to_matrix(rng.normal(0.0, spread_rad, (num_frames, 24, 3)))
    rotations[:, 0] = UPRIGHT @ rotations[:, 0]
    root = np.array([0.0, 0.0, 1.0]) + rng.normal(0.0, 0.5, (num_frames, 3))
    return Motion3D(root.astype(np.float32), rotations.astype(np.float32), np.zeros((num_frames, 4), np.float32), 30.0)


def standing(num_frames: int = 2) -> Motion3D:
    """The rest pose, upright, feet on the floor (z = 0)."""
    rotations = np.broadcast_to(np.eye(3, dtype=np.float32), (num_frames, 24, 3, 3)).copy()
    rotations[:, 0] = UPRIGHT
    root = np.tile([0.0, 0.0, Skeleton.default().pelvis_height_m()], (num_frames, 1)).astype(np.float32)
    return Motion3D(root, rotations, np.ones((num_frames, 4), np.float32), 30.0)


# --- pose mapping ----------------------------------------------------------------------------


def test_smplx_joints_equal_choreo_forward_kinematics(body):
    motion = random_dance()
    mesh = pose_body(body, motion)
    assert mesh.vertices_m.shape == (24, 6890, 3) and mesh.joints_m.shape == (24, 24, 3)
    np.testing.assert_allclose(mesh.joints_m, motion.joint_positions(), atol=JOINT_TOLERANCE_M)
    # the pelvis is Choreo's root translation although the template's pelvis is off the origin
    assert np.linalg.norm(SYNTHETIC_PELVIS_M) > 0.2
    np.testing.assert_allclose(mesh.joints_m[:, 0], motion.root_translation_m, atol=JOINT_TOLERANCE_M)


def test_mesh_equals_smplx_fed_the_axis_angle_of_to_smpl(body, arrays):
    import smplx
    from smplx.utils import Struct

    motion = random_dance(num_frames=6, seed=1)
    poses, trans = motion.to_smpl()
    pelvis = (arrays["J_regressor"] @ arrays["v_template"])[0]
    model = smplx.SMPL("unused", data_struct=Struct(**arrays), num_betas=10)
    with torch.no_grad():
        out = model(global_orient=torch.from_numpy(poses[:, :3]), body_pose=torch.from_numpy(poses[:, 3:]),
                    betas=torch.zeros(6, 10), transl=torch.from_numpy(trans - pelvis).float())
    mesh = pose_body(body, motion)
    np.testing.assert_allclose(mesh.vertices_m, out.vertices.numpy(), atol=JOINT_TOLERANCE_M)


def test_shape_coefficients_give_the_body_its_own_skeleton_with_feet_on_the_floor(body):
    betas = np.array([2.0, -1.0])
    dance = random_dance(seed=2)
    mesh = pose_body(body, dance, betas)
    np.testing.assert_allclose(mesh.joints_m, retarget_to_body(body, dance, betas).joint_positions(),
                               atol=JOINT_TOLERANCE_M)
    assert np.abs(mesh.joints_m - dance.joint_positions()).max() > 0.02  # 6 % larger body: joints moved
    np.testing.assert_allclose(mesh.betas[:3], [2.0, -1.0, 0.0])
    feet = pose_body(body, standing(), betas).joints_m[:, FOOT_CONTACT_JOINTS, 2]
    assert abs(feet.min()) < JOINT_TOLERANCE_M  # the bigger body still stands on z = 0


def test_chunks_give_the_same_mesh_and_report_progress(body):
    motion = random_dance(num_frames=20, seed=3)
    fractions = []
    chunked = pose_body(body, motion, chunk_frames=7, progress=fractions.append)
    whole = pose_body(body, motion, chunk_frames=64)
    np.testing.assert_allclose(chunked.vertices_m, whole.vertices_m, atol=1e-6)  # float32 BLAS blocking only
    assert fractions == pytest.approx([7 / 20, 14 / 20, 1.0])


def test_a_raising_progress_callback_interrupts(body):
    def cancel(fraction: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pose_body(body, random_dance(num_frames=10), chunk_frames=4, progress=cancel)


def test_betas_text_is_padded_and_checked(body):
    np.testing.assert_array_equal(parse_betas(" 1.5, -0.5 ", 10), [1.5, -0.5] + [0.0] * 8)
    np.testing.assert_array_equal(parse_betas("", 10), np.zeros(10))
    with pytest.raises(MotionInputError, match="11 values"):
        parse_betas(",".join(["0"] * 11), 10)
    with pytest.raises(MotionInputError, match="comma-separated numbers"):
        parse_betas("tall", 10)
    with pytest.raises(MotionInputError, match="finite"):
        parse_betas("nan", 10)
    with pytest.raises(MotionInputError, match="pass at most 10"):
        pose_body(body, standing(), np.zeros(11))


def test_float64_model_matches_forward_kinematics_to_rounding(smpl_file):
    motion = random_dance(num_frames=4, seed=4)
    mesh = pose_body(load_smpl_body(smpl_file, dtype=torch.float64), motion)
    np.testing.assert_allclose(mesh.joints_m, motion.joint_positions(), atol=1e-6)


# --- model files -----------------------------------------------------------------------------


class Python2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING) and numpy's pre-2.0 module path, as the official files do."""

    def save_bytes(self, obj: bytes) -> None:
        header = pickle.SHORT_BINSTRING + bytes([len(obj)]) if len(obj) < 256 else \
            pickle.BINSTRING + struct.pack("<i", len(obj))
        self.write(header + obj)
        self.memoize(obj)

    def save_global(self, obj, name=None) -> None:
        if getattr(obj, "__module__", None) == "numpy._core.multiarray":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n" + obj.__name__.encode() + b"\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    dispatch = {**pickle._Pickler.dispatch, bytes: save_bytes}


def official_layout_pickle(arrays: dict[str, np.ndarray]) -> bytes:
    """Pickle bytes laid out like the official (Python 2) SMPL .pkl, made with stand-in chumpy/scipy modules.

    chumpy is not installed: fake ``chumpy.ch.Ch`` and ``chumpy.reordering.Select`` classes (state
    as chumpy's ``Ch.__getstate__`` returns it) and the old ``scipy.sparse.csc.csc_matrix`` path are
    registered in ``sys.modules`` only while pickling.
    """
    chumpy_state = {"_dirty_vars": set(), "_itr": None, "_depends_on_deps": {}, "_make_dense": False,
                    "_make_sparse": False}

    def fake_class(module: str, name: str, state: dict) -> type:
        cls = type(name, (), {"__init__": lambda self, **fields: self.__dict__.update(chumpy_state, **fields)})
        cls.__module__ = module
        return cls

    ch = fake_class("chumpy.ch", "Ch", chumpy_state)
    select = fake_class("chumpy.reordering", "Select", chumpy_state)
    old_csc = type("csc_matrix", (), {"__init__": lambda self, **fields: self.__dict__.update(fields)})
    old_csc.__module__ = "scipy.sparse.csc"
    sparse = scipy.sparse.csc_matrix(arrays["J_regressor"])
    posedirs = arrays["posedirs"]
    order = np.random.default_rng(0).permutation(posedirs.size)
    shuffled = np.empty(posedirs.size)
    shuffled[order] = posedirs.ravel()
    content = {
        "J_regressor_prior": old_csc(data=sparse.data, indices=sparse.indices, indptr=sparse.indptr,
                                     _shape=sparse.shape, maxprint=50),
        "J_regressor": sparse,
        "f": arrays["f"], "kintree_table": arrays["kintree_table"], "v_template": arrays["v_template"],
        "weights": arrays["weights"], "weights_prior": arrays["weights"], "J": arrays["J_regressor"][:, :3],
        "vert_sym_idxs": np.arange(6890), "bs_style": "lbs", "bs_type": "lrotmin",
        "pose_training_info": {"ncomps": 207, "version": 1},
        "shapedirs": ch(x=arrays["shapedirs"]),
        "posedirs": select(a=ch(x=shuffled), idxs=order, preferred_shape=posedirs.shape),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, attributes in (("chumpy", {}), ("chumpy.ch", {"Ch": ch}), ("chumpy.reordering", {"Select": select}),
                                 ("scipy.sparse.csc", {"csc_matrix": old_csc})):
            module = types.ModuleType(name)
            module.__dict__.update(attributes)
            patch.setitem(sys.modules, name, module)
        buffer = io.BytesIO()
        Python2StylePickler(buffer, protocol=2).dump(content)
        return buffer.getvalue()


@pytest.fixture(scope="module")
def official_pickle(arrays) -> bytes:
    assert importlib.util.find_spec("chumpy") is None
    data = official_layout_pickle(arrays)
    assert "chumpy" not in sys.modules
    return data


def test_official_pickle_converts_to_npz_without_chumpy(arrays, official_pickle, tmp_path):
    data = official_pickle
    names = {str(arg) for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert {"chumpy.ch Ch", "chumpy.reordering Select", "scipy.sparse.csc csc_matrix",
            "numpy.core.multiarray _reconstruct"} <= names and "_codecs encode" not in names
    source = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    source.write_bytes(data)
    out = convert_smpl_pickle(source)
    assert out == tmp_path / "SMPL_NEUTRAL.npz"
    with np.load(out, allow_pickle=False) as converted:
        assert sorted(converted.files) == sorted(SMPL_KEYS)
        for key in SMPL_KEYS:
            np.testing.assert_array_equal(converted[key], arrays[key], err_msg=key)
    motion = random_dance(num_frames=3)
    from_npz = pose_body(load_smpl_body(out), motion)
    from_pkl = pose_body(load_smpl_body(source), motion)
    np.testing.assert_array_equal(from_pkl.vertices_m, from_npz.vertices_m)
    np.testing.assert_allclose(from_npz.joints_m, motion.joint_positions(), atol=JOINT_TOLERANCE_M)


@pytest.mark.parametrize("callable_, code, global_name", [
    (os.system, "touch {marker}", "system"),
    (eval, "open({marker!r}, 'w').close()", "builtin.*eval"),
])
def test_pickle_that_runs_code_is_refused_without_running_it(tmp_path, callable_, code, global_name):
    marker = tmp_path / "ran.txt"

    class Exploit:
        def __reduce__(self):
            return callable_, (code.format(marker=str(marker)),)

    payload = pickle.dumps({"v_template": Exploit()}, protocol=2)
    with pytest.raises(SMPLModelError, match=f"refusing to load .*{global_name}"):
        read_smpl_pickle(payload)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(payload)
    with pytest.raises(SMPLModelError, match=f"SMPL_NEUTRAL.pkl: refusing to load .*{global_name}"):
        read_smpl_model(path)
    assert not marker.exists()


def test_npz_with_pickled_objects_or_other_bodies_is_refused(arrays, tmp_path):
    objects = tmp_path / "SMPL_MALE.npz"
    np.savez(objects, **{**arrays, "f": np.array([arrays["f"]], dtype=object)})
    with pytest.raises(SMPLModelError, match="stores Python objects"):
        read_smpl_model(objects)
    smplx_like = tmp_path / "SMPL_FEMALE.npz"
    np.savez(smplx_like, **{**arrays, "v_template": np.zeros((10475, 3))})
    with pytest.raises(SMPLModelError, match=r"SMPL has \(6890, 3\)"):
        read_smpl_model(smplx_like)
    missing = tmp_path / "SMPL_NEUTRAL.npz"
    np.savez(missing, v_template=arrays["v_template"])
    with pytest.raises(SMPLModelError, match="lacks the SMPL arrays"):
        read_smpl_model(missing)


def test_model_files_are_found_by_their_official_names(tmp_path):
    names = ["SMPL_NEUTRAL.npz", "smpl/SMPL_MALE.pkl",
             "SMPL_python_v.1.1.0/smpl/models/basicmodel_f_lbs_10_207_0_v1.1.0.pkl",
             "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "smpl_mean_params.npz", "smpl/J_regressor_extra.npy",
             "a/b/c/d/SMPL_FEMALE.pkl"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = find_smpl_model_files([tmp_path, tmp_path / "missing"])
    assert list(found) == ["SMPL_NEUTRAL.npz", "SMPL_python_v.1.1.0/smpl/models/basicmodel_f_lbs_10_207_0_v1.1.0.pkl",
                           "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "smpl/SMPL_MALE.pkl"]
    assert [smpl_gender(name) for name in found] == ["neutral", "female", "neutral", "male"]
    assert smpl_gender("basicmodel_m_lbs_10_207_0_v1.1.0.pkl") == "male"
    with pytest.raises(SMPLModelError, match="not an SMPL model file name"):
        smpl_gender("my_body.npz")


def test_missing_model_file_says_where_to_get_it(tmp_path):
    with pytest.raises(SMPLModelError, match=r"does not exist.*smpl\.is\.tue\.mpg\.de"):
        read_smpl_model(tmp_path / "SMPL_NEUTRAL.npz")


def test_converter_cli_writes_the_npz(official_pickle, tmp_path, capsys):
    source = tmp_path / "basicmodel_m_lbs_10_207_0_v1.1.0.pkl"
    source.write_bytes(official_pickle)
    assert main([str(source), str(tmp_path / "out" / "SMPL_MALE.npz")]) == 0
    assert (tmp_path / "out" / "SMPL_MALE.npz").is_file() and "wrote" in capsys.readouterr().out
    assert main([str(tmp_path / "nothing.pkl")]) == 2
    assert "does not exist" in capsys.readouterr().err


# --- preview and export ----------------------------------------------------------------------


@pytest.mark.parametrize("camera", [Camera(), Camera("perspective", yaw_deg=35.0, pitch_deg=20.0, distance_m=3.0)])
def test_view_puts_the_limb_joints_on_the_projected_keypoints(camera):
    motion = random_dance(num_frames=8, seed=5, spread_rad=0.3)
    view = view_like_projection(motion, 320, 480, camera)
    joints = motion.joint_positions()[:, [JOINT[name] for name in LIMB_JOINTS]]
    keypoints = project_motion(motion, 320, 480, camera).keypoints_px[:, [B[name] for name in LIMB_JOINTS]]
    np.testing.assert_allclose(to_canvas(camera_space(joints, view), view), keypoints, atol=1e-3)


def test_view_stands_the_body_on_a_reference_person():
    reference = project_motion(standing(1), 400, 600, Camera())
    shifted = Motion3D(standing(4).root_translation_m + np.float32([1.0, 2.0, 0.0]), standing(4).rotations,
                       np.ones((4, 4), np.float32), 30.0)
    view = view_like_projection(shifted, 200, 300, reference=reference)
    pelvis_px = to_canvas(camera_space(shifted.joint_positions()[0, 0], view), view)
    reference_hips = reference.keypoints_px[0, [B["left_hip"], B["right_hip"]]].mean(axis=0) / 2.0
    np.testing.assert_allclose(pelvis_px[0], reference_hips[0], atol=0.5)


def test_preview_draws_the_body_over_the_background(body):
    motion = standing(1)
    mesh = pose_body(body, motion)
    style = MeshStyle()
    view = view_like_projection(retarget_to_body(body, motion), 256, 256)
    image = render_mesh_frame(mesh.vertices_m[0], mesh.faces, view, style)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    body_mask = np.any(image != style.background_rgb, axis=-1)
    assert 0.03 < body_mask.mean() < 0.4
    for joint in ("spine2", "head", "left_knee", "right_elbow"):
        x, y = np.round(to_canvas(camera_space(mesh.joints_m[0, JOINT[joint]], view), view)).astype(int)
        assert body_mask[y, x], joint
    assert not body_mask[:, :20].any() and not body_mask[:2].any()  # margin and top stay background
    lit = image[body_mask].astype(int).sum(axis=-1)
    assert lit.max() > lit.min() + 60  # shaded, not a flat silhouette
    flipped = render_mesh_frame(mesh.vertices_m[0], mesh.faces[:, ::-1], view, style)
    np.testing.assert_array_equal(flipped, image)


def test_mesh_npz_round_trip_leaves_no_temporary(body, tmp_path):
    mesh = pose_body(body, random_dance(num_frames=3), np.array([0.5]))
    path = save_body_mesh_npz(mesh, tmp_path / "dance.npz")
    save_body_mesh_npz(mesh, path)  # overwriting an existing file
    loaded = load_body_mesh_npz(path)
    np.testing.assert_array_equal(loaded.vertices_m, mesh.vertices_m)
    np.testing.assert_array_equal(loaded.joints_m, mesh.joints_m)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)
    assert loaded.faces.dtype == np.int32 and loaded.fps == 30.0 and loaded.gender == "neutral"
    assert loaded.betas[0] == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dance.npz"]  # no temporary file left
