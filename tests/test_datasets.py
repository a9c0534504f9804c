"""Dataset loaders: the restricted unpickler, AIST++ and FineDance conversion, windows, the synthetic source."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from choreo.datasets import DanceClip, make_windows
from choreo.datasets.aistpp import (UnsafePickleError, genre_index, load_aistpp_motion, music_id,
                                    restricted_load)
from choreo.datasets.finedance import motion_from_finedance
from choreo.datasets.synthetic import drum_loop, synthetic_clip
from choreo.motion.motion3d import Motion3D
from choreo.motion.rotations import axis_angle_to_matrix, matrix_to_rotation_6d
from choreo.motion.skeleton import UPRIGHT
from choreo.music.audio import Audio
from choreo.music.features import MusicFeatures
from conftest import click_track


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code_and_reads_arrays():
    with pytest.raises(UnsafePickleError, match="posix.system|os.system|refusing"):
        restricted_load(pickle.dumps({"smpl_poses": _Exploit()}))
    data = restricted_load(pickle.dumps({"a": np.arange(3.0), "b": [1, (2, 3)]}, protocol=2))
    np.testing.assert_array_equal(data["a"], [0.0, 1.0, 2.0])


def test_a_sized_bytearray_is_refused_before_it_allocates():
    payload = b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x10\x85R."  # bytearray(268435456): 256 MiB
    assert len(payload) < 40
    with pytest.raises(UnsafePickleError, match=r"refusing bytearray\(int\)"):
        restricted_load(payload)


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_bytearrays_of_bytes_load_within_the_budget(protocol, monkeypatch):
    data = restricted_load(pickle.dumps({"raw": bytearray(b"\x00\xffab")}, protocol=protocol))
    assert data["raw"] == bytearray(b"\x00\xffab") and type(data["raw"]) is bytearray
    monkeypatch.setattr("choreo.io.safe_unpickle.MAX_TOTAL_BYTES", 1000)
    with pytest.raises(UnsafePickleError, match="budget"):
        restricted_load(pickle.dumps([bytearray(600), bytearray(600)], protocol=3))


def test_aistpp_pickle_converts_to_z_up_metres_at_30_fps(tmp_path):
    frames = 8  # at 60 fps -> 4 frames at 30 fps
    poses = np.zeros((frames, 72), np.float32)
    poses[:, 0] = np.linspace(0, 0.7, frames)  # root turns about x
    trans = np.stack([np.arange(frames) * 10.0, np.full(frames, 90.0), np.zeros(frames)], axis=1)  # y up, cm-ish
    path = tmp_path / "gPO_sBM_cAll_d10_mPO1_ch02.pkl"
    path.write_bytes(pickle.dumps({"smpl_poses": poses, "smpl_trans": trans, "smpl_scaling": np.array([100.0])}))
    motion = load_aistpp_motion(path)
    assert motion.num_frames == 4 and motion.fps == 30.0
    np.testing.assert_allclose(motion.root_translation_m[:, 2], 0.9, atol=1e-6)          # y (height) -> z
    np.testing.assert_allclose(motion.root_translation_m[:, 0], [0.0, 0.2, 0.4, 0.6], atol=1e-6)
    np.testing.assert_allclose(motion.rotations[1, 0], UPRIGHT @ axis_angle_to_matrix(np.array([poses[2, 0], 0, 0])),
                               atol=1e-5)
    assert music_id(path.name) == "mPO1" and genre_index(path.name) == 1


def test_finedance_315_keeps_the_22_body_joints_and_turns_y_up(tmp_path):
    rotation = axis_angle_to_matrix(np.array([0.0, 0.3, 0.0]))
    rot6d = np.tile(matrix_to_rotation_6d(np.eye(3)), (3, 52, 1))
    rot6d[:, 5] = matrix_to_rotation_6d(rotation)
    data = np.concatenate([np.tile([0.1, 1.0, 0.2], (3, 1)), rot6d.reshape(3, -1)], axis=1)
    motion = motion_from_finedance(data)
    np.testing.assert_allclose(motion.rotations[0, 5], rotation, atol=1e-6)
    np.testing.assert_allclose(motion.rotations[0, 0], UPRIGHT, atol=1e-6)
    np.testing.assert_allclose(motion.rotations[0, 22:], np.eye(3)[None].repeat(2, 0), atol=1e-6)
    np.testing.assert_allclose(motion.root_translation_m[0], [0.1, -0.2, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="315"):
        motion_from_finedance(np.zeros((3, 200)))


def test_windows_are_five_second_slices_at_half_second_stride():
    rest = np.broadcast_to(np.eye(3, dtype=np.float32), (300, 24, 3, 3)).copy()
    motion = Motion3D(np.zeros((300, 3), np.float32), rest, np.zeros((300, 4), np.float32), 30.0)
    features = MusicFeatures(np.zeros((310, 35), np.float32), 30.0, "edge_librosa", tuple("c" * 35))
    windows = make_windows([DanceClip("a", motion, features, 2)])
    assert windows.motion.shape == (11, 150, 151) and windows.music.shape == (11, 150, 35)
    assert (windows.genre == 2).all()
    low, high = windows.motion_range()
    assert low.shape == (151,) and (high >= low).all()


def test_synthetic_source_dances_to_given_audio_and_drum_loops():
    audio = Audio.from_array(click_track(tempo_bpm=120, duration_s=4.0), 22050)
    clip = synthetic_clip(seed=1, audio=audio, style="pop")
    assert clip.motion.num_frames == 120 and clip.features.values.shape == (120, 35)
    assert clip.name.endswith("pop")
    loop = drum_loop(100.0, 3, 2.0, seed=0)
    assert loop.shape == (44100,) and np.abs(loop).max() <= 0.8 + 1e-6
