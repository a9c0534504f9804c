"""MP4 export: frame count, fps, audio trimmed or padded to the video, even sizes, clear errors."""

import numpy as np
import pytest

from choreo.errors import ImageInputError
from choreo.io.video_export import read_video_info, write_mp4
from choreo.music.audio import Audio

FPS = 24.0


def clip(num_frames: int = 24, height: int = 48, width: int = 64) -> np.ndarray:
    """(T, H, W, 3) uint8: a bright square moving over a dark gradient."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    frames[..., 2] = np.linspace(0, 120, width, dtype=np.uint8)
    for t in range(num_frames):
        frames[t, 10:20, t:t + 10] = 255
    return frames


def tone(duration_s: float, sample_rate: int = 22050, channels: int = 2) -> Audio:
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    return Audio(np.repeat((0.3 * np.sin(2 * np.pi * 440 * t))[None], channels, 0).astype(np.float32), sample_rate)


def test_clip_with_longer_audio_ends_with_the_video(tmp_path):
    path = write_mp4(tmp_path / "clip.mp4", clip(), FPS, audio=tone(3.0))
    info = read_video_info(path)
    assert path.is_file()
    assert info.num_frames == 24 and info.fps == pytest.approx(FPS)
    assert (info.width, info.height) == (64, 48)
    assert abs(info.audio_duration_s - 24 / FPS) < 1 / FPS


def test_shorter_audio_is_padded_with_silence_and_frames_can_stream(tmp_path):
    path = write_mp4(tmp_path / "clip.mp4", iter(clip()), FPS, audio=tone(0.3, channels=1))
    info = read_video_info(path)
    assert info.num_frames == 24
    assert abs(info.audio_duration_s - 1.0) < 1 / FPS


def test_progress_reports_fractions_up_to_one(tmp_path):
    calls = []
    write_mp4(tmp_path / "clip.mp4", clip(), FPS, num_frames=12, progress=calls.append)
    assert calls == [pytest.approx(k / 12) for k in range(1, 13)]


def test_num_frames_takes_a_prefix_and_video_without_audio_has_no_audio_stream(tmp_path):
    info = read_video_info(write_mp4(tmp_path / "clip.mp4", clip(), FPS, num_frames=10))
    assert info.num_frames == 10 and info.audio_duration_s is None


def test_odd_sizes_are_padded_to_even(tmp_path):
    info = read_video_info(write_mp4(tmp_path / "odd.mp4", clip(5, 47, 63), FPS))
    assert (info.width, info.height) == (64, 48) and info.num_frames == 5


def test_bad_frames_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ImageInputError, match="uint8"):
        write_mp4(tmp_path / "f.mp4", clip().astype(np.float32) / 255, FPS)
    mixed = [clip(1)[0], clip(1, 32, 32)[0]]
    with pytest.raises(ImageInputError, match="one size"):
        write_mp4(tmp_path / "m.mp4", mixed, FPS)
    assert not (tmp_path / "m.mp4").exists()
    with pytest.raises(ImageInputError, match="at least one frame"):
        write_mp4(tmp_path / "e.mp4", [], FPS)
    with pytest.raises(ImageInputError, match="only 24"):
        write_mp4(tmp_path / "s.mp4", iter(clip()), FPS, num_frames=30)


def test_ffmpeg_failure_reports_its_stderr(tmp_path):
    from choreo.io.video_export import VideoExportError

    with pytest.raises(VideoExportError, match="ffmpeg failed.*\n.*format"):
        write_mp4(tmp_path / "clip.not_a_container", clip(), FPS)


def test_sidecar_paths_keep_every_dot_of_the_video_stem():
    from choreo.io.sidecars import sidecar_paths

    paths = sidecar_paths("out/take.v2_00001_.mp4")
    assert [p.as_posix() for p in (paths.pose_json, paths.motion_npz, paths.motion_bvh)] == [
        "out/take.v2_00001_.pose.json", "out/take.v2_00001_.npz", "out/take.v2_00001_.bvh"]


def test_save_node_writes_each_takes_data_beside_its_own_video(tmp_path, monkeypatch, pack):
    import importlib

    import torch

    export_nodes = importlib.import_module(f"{pack.__name__}.nodes.export_nodes")
    reference = importlib.import_module(f"{pack.__name__}.choreo.pose.reference")
    skeleton = importlib.import_module(f"{pack.__name__}.choreo.motion.skeleton")
    monkeypatch.setenv("CHOREO_OUTPUT_DIR", str(tmp_path))
    pose = reference.default_reference_pose(64, 48)
    motion = reference.standing_motion(skeleton.Skeleton.default())
    images = torch.from_numpy(clip(2)).float() / 255
    for _ in range(2):
        export_nodes.ChoreoSaveDanceVideo().save(images, FPS, "takes/take.v2", pose=pose, motion=motion)
    videos = sorted((tmp_path / "takes").glob("*.mp4"))
    assert len(videos) == 2 and all(v.name.startswith("take.v2_") for v in videos)
    expected = {v.name[:-len(".mp4")] + ext for v in videos for ext in (".mp4", ".pose.json", ".npz", ".bvh")}
    assert {p.name for p in (tmp_path / "takes").iterdir()} == expected
