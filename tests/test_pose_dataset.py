"""Pose datasets for X-Dancer: synthetic shards, AIST++ 2D pickles, pose files, videos, and refusing bad pickles."""

from __future__ import annotations

import json
import os
import pickle
import subprocess

import numpy as np
import pytest
import soundfile

from choreo.datasets.pose_dataset import (DatasetError, aistpp_clips, build_dataset, coco17_to_sequence,
                                          load_dataset, main, video_clips)
from choreo.errors import ChoreoError
from choreo.generators.xdancer import to_tokenizer_input
from choreo.io.pose_json import save_pose_json
from choreo.pose.layout import B
from choreo.pose.reference import default_reference_pose
from conftest import click_track
from test_reference_pose import POSE_H, POSE_W, K, _peaks, designed_pose_model


def _coco_dance(frames: int) -> np.ndarray:
    """(frames, 17, 3) COCO keypoints of a person swaying sideways, 1920x1080 pixels, all confident."""
    rng = np.random.default_rng(0)
    base = np.stack([np.full(17, 960.0) + rng.uniform(-120, 120, 17), np.linspace(300, 900, 17)], axis=1)
    sway = 40.0 * np.sin(np.arange(frames) / 10.0)
    points = base[None] + np.stack([sway, np.zeros(frames)], axis=1)[:, None]
    return np.concatenate([points, np.ones((frames, 17, 1))], axis=2)


def test_synthetic_source_writes_normalised_shards_with_music(tmp_path):
    out = build_dataset("synthetic", tmp_path / "data", count=2, duration_s=4.0, segment_frames=32,
                        stride_frames=16, shard_segments=5)
    info = json.loads((out / "dataset.json").read_text())
    data = load_dataset(out)
    assert info["num_segments"] == data.num_segments == 2 * len(range(0, 120 - 32 + 1, 16))
    assert len(info["shards"]) == -(-data.num_segments // 5)
    assert data.poses.shape == (data.num_segments, 32, 60, 3) and data.music.shape[:2] == (data.num_segments, 32)
    assert data.has_music.all() and len(info["music_mean"]) == data.music.shape[2] == 35
    assert np.isfinite(data.poses).all()
    # each clip is in its own body frame: mid-hip at the origin, torso one unit, in its first frame
    first = data.poses[0, 0]
    hips = first[[B["right_hip"], B["left_hip"]], :2].mean(0)
    assert np.allclose(hips, 0.0, atol=1e-4)
    assert np.linalg.norm(first[B["neck"], :2] - hips) == pytest.approx(1.0, abs=1e-4)
    entries = json.loads((out / "shard_00000.json").read_text())
    assert entries[0] == {"clip": entries[0]["clip"], "source": "synthetic", "start_frame": 0}


def test_aistpp_keypoints2d_pickles_become_body_clips_at_the_dataset_fps(tmp_path):
    keypoints = np.stack([_coco_dance(120), _coco_dance(120)])
    keypoints[1, 4] = np.nan  # a lost frame in view 1 (frame 2 at 30 fps)
    (tmp_path / "kp").mkdir()
    with open(tmp_path / "kp" / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", "wb") as handle:
        pickle.dump({"keypoints2d": keypoints, "det_scores": np.ones((2, 120)), "timestamps": np.arange(120)}, handle)
    (tmp_path / "music").mkdir()
    soundfile.write(tmp_path / "music" / "mBR0.wav", click_track(duration_s=3.0), 22050)
    clips = list(aistpp_clips(tmp_path / "kp", tmp_path / "music"))
    assert [name for _, _, name in clips] == ["gBR_sBM_cAll_d04_mBR0_ch01/view0", "gBR_sBM_cAll_d04_mBR0_ch01/view1"]
    seq, features, _ = clips[0]
    assert seq.num_frames == 60 and seq.fps == 30.0 and (seq.canvas_width, seq.canvas_height) == (1920, 1080)
    assert features.values.shape == (90, 35)
    left_shoulder = keypoints[0, 2, 5, :2]  # frame 1 at 30 fps is frame 2 at 60 fps; COCO 5 = left shoulder
    assert np.allclose(seq.keypoints_px[1, B["left_shoulder"]], left_shoulder)
    assert np.allclose(seq.keypoints_px[1, B["neck"]], keypoints[0, 2, [5, 6], :2].mean(0))
    assert seq.confidence[:, 18:].max() == 0 and "hand_left_keypoints_2d" in seq.missing_parts
    assert clips[1][0].confidence[2, :18].max() == 0 and clips[1][0].confidence[1, :18].min() == 1
    out = build_dataset(f"aistpp2d:{tmp_path / 'kp'}", tmp_path / "data", segment_frames=16, stride_frames=16,
                        music_dir=tmp_path / "music")
    data = load_dataset(out)
    assert data.has_music.all() and data.num_segments == 2 * 3
    assert data.poses[..., 18:, 2].max() == 0  # hands absent


def test_coco17_conversion_thresholds_scores_and_zeroes_unseen_points():
    keypoints = _coco_dance(2)
    keypoints[0, 6, 2] = 0.1  # right shoulder unsure
    seq = coco17_to_sequence(keypoints, fps=60.0)
    assert seq.confidence[0, B["right_shoulder"]] == 0 and seq.confidence[0, B["neck"]] == 0
    assert np.all(seq.keypoints_px[0, B["neck"]] == 0) and seq.confidence[1, B["neck"]] == 1


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "kp").mkdir()
    (tmp_path / "kp" / "evil.pkl").write_bytes(pickle.dumps({"keypoints2d": _Exploit(marker)}))
    with pytest.raises(ChoreoError, match="refusing"):
        list(aistpp_clips(tmp_path / "kp"))
    assert not marker.exists()


def test_pose_files_with_songs_beside_them(tmp_path):
    reference = default_reference_pose(320, 480)
    moving = reference.slice_frames(0, 1)
    frames = np.repeat(moving.keypoints_px, 45, axis=0) + np.linspace(0, 20, 45)[:, None, None]
    from choreo.pose.sequence import PoseSequence2D

    seq = PoseSequence2D(frames.astype(np.float32), np.repeat(moving.confidence, 45, axis=0), 320, 480, 30.0)
    save_pose_json(seq, tmp_path / "poses" / "take1.pose.json")
    soundfile.write(tmp_path / "poses" / "take1.wav", click_track(duration_s=2.0), 22050)
    save_pose_json(seq, tmp_path / "poses" / "silent.pose.json")
    out = build_dataset(f"poses:{tmp_path / 'poses'}", tmp_path / "data", segment_frames=40, stride_frames=40)
    data = load_dataset(out)
    assert data.num_segments == 2 and sorted(data.has_music.tolist()) == [False, True]
    expected = to_tokenizer_input(seq, seq.frame(0))[:40]
    assert np.allclose(data.poses[int(np.argmax(data.has_music))], expected, atol=1e-5)


def test_video_source_detects_poses_per_frame_and_reads_the_sound_track(tmp_path):
    import imageio_ffmpeg

    ix = np.full(K, 40)
    ix[:17] = np.arange(17) * 4 + 20
    iy = np.full(K, 60)
    iy[:17] = np.arange(17) * 6 + 10
    model = designed_pose_model(tmp_path / "pose.onnx", _peaks(ix, 2 * POSE_W, np.ones(K)),
                                _peaks(iy, 2 * POSE_H, np.ones(K)))
    silent = tmp_path / "silent.mp4"
    writer = imageio_ffmpeg.write_frames(str(silent), (96, 128), fps=30, macro_block_size=1)
    writer.send(None)
    for _ in range(45):
        writer.send(np.full((128, 96, 3), 128, np.uint8).tobytes())
    writer.close()
    soundfile.write(tmp_path / "song.wav", click_track(duration_s=1.5), 22050)
    videos = tmp_path / "videos"
    videos.mkdir()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(silent), "-i",
                    str(tmp_path / "song.wav"), "-c:v", "copy", "-c:a", "aac", "-shortest",
                    str(videos / "dance.mp4")], check=True)
    with pytest.raises(DatasetError, match="--pose-model"):
        list(video_clips(videos, None))
    [(seq, features, name)] = list(video_clips(videos, model))
    assert name == "dance.mp4" and abs(seq.num_frames - 45) <= 1 and features.values.shape[1] == 35
    assert (seq.canvas_width, seq.canvas_height) == (96, 128)
    assert seq.confidence[:, :18].min() == 1 and np.ptp(seq.keypoints_px[:, B["nose"]], axis=0).max() < 1e-3


def test_command_line_reports_bad_sources(tmp_path, capsys):
    assert main(["build", "--source", "nowhere", "--out", str(tmp_path / "x")]) == 2
    assert "unknown dataset source" in capsys.readouterr().err
    assert main(["build", "--source", f"poses:{tmp_path}", "--out", str(tmp_path / "y")]) == 2
    assert "no pose files" in capsys.readouterr().err
