"""The command line as a new user meets it: help, flag checks, one-line errors that come before the slow
stages, pictures scaled to a working size, progress while rendering, data files named after the video."""

import io
import json
import os
import re

import numpy as np
import pytest
import soundfile
from PIL import Image

from choreo import pipeline
from choreo.cli import build_parser, cli_wording, main
from choreo.errors import ChoreoError
from choreo.io.pose_json import load_pose_json, save_pose_json
from choreo.io.video_export import read_video_info
from choreo.pose.reference import default_reference_pose
from choreo.progress import FrameProgress
from conftest import click_track

NODE_WORDS = re.compile(r"connect|socket|\bnode\b|widget|ComfyUI", re.IGNORECASE)


@pytest.fixture
def song(tmp_path):
    path = tmp_path / "click.wav"
    soundfile.write(path, click_track(duration_s=3.0), 22050)
    return path


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "me.png"
    Image.new("RGB", (64, 96), (200, 180, 160)).save(path)
    return path


@pytest.fixture
def analysis_calls(monkeypatch):
    """Replaces the music analysis with a recorder: a failing job must stop before this slow stage."""
    calls = []

    def analysis_reached(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the music analysis ran although the inputs were bad")

    monkeypatch.setattr(pipeline, "analyze_music", analysis_reached)
    return calls


def run_failing(argv, capsys, analysis_calls) -> str:
    """Run the CLI, expect exit code 2 before the analysis, and return its one stderr line."""
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert analysis_calls == []
    assert error.startswith("error: ") and "\n" not in error and "Traceback" not in error
    return error


def test_help_shows_the_defaults_without_markup(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    help_text = capsys.readouterr().out
    assert exited.value.code == 0
    assert "out/dance.mp4" in help_text
    assert "assets/demo_track.ogg" in help_text and "assets/demo_character.png" in help_text
    assert "``" not in help_text and "default: None" not in help_text


@pytest.mark.parametrize("flag, value, expected", [
    ("--fps", "0", "argument --fps: must be between 1 and 120, got 0"),
    ("--fps", "nan", "argument --fps: must be between 1 and 120"),
    ("--fps", "fast", "argument --fps: expected a number, got 'fast'"),
    ("--energy", "-1", "argument --energy: must be between 0 and 2, got -1"),
    ("--seed", "-3", "argument --seed: must be between 0 and"),
])
def test_bad_numbers_are_refused_naming_the_flag(flag, value, expected, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([flag, value])
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err


def test_output_without_mp4_extension_fails_before_the_analysis(tmp_path, song, picture, capsys, analysis_calls):
    error = run_failing(["--audio", str(song), "--image", str(picture), "--out", str(tmp_path / "take.v2")],
                        capsys, analysis_calls)
    assert "must end in .mp4" in error and "take.v2.mp4" in error


def test_output_that_is_a_folder_asks_for_a_file_name(tmp_path, song, picture, capsys, analysis_calls):
    (tmp_path / "renders").mkdir()
    error = run_failing(["--audio", str(song), "--image", str(picture), "--out", str(tmp_path / "renders")],
                        capsys, analysis_calls)
    assert "is a folder; give a file name such as" in error and "dance.mp4" in error


def test_output_folder_that_cannot_be_created_fails_before_the_analysis(tmp_path, song, picture, capsys,
                                                                        analysis_calls):
    (tmp_path / "a_file").write_text("not a folder")
    error = run_failing(["--audio", str(song), "--image", str(picture),
                         "--out", str(tmp_path / "a_file" / "dance.mp4")], capsys, analysis_calls)
    assert "cannot write into folder" in error and "a_file" in error


def test_unwritable_output_folder_fails_before_the_analysis(tmp_path, song, picture, capsys, analysis_calls,
                                                            monkeypatch):
    def refuse(*args, **kwargs):  # what a read-only folder answers; root ignores permission bits
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pipeline.tempfile, "TemporaryFile", refuse)
    error = run_failing(["--audio", str(song), "--image", str(picture), "--out", str(tmp_path / "dance.mp4")],
                        capsys, analysis_calls)
    assert f"cannot write into folder {str(tmp_path)!r} (Permission denied)" in error


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders, so the permission bits cannot be tested")
def test_read_only_output_folder_fails_before_the_analysis(tmp_path, song, picture, capsys, analysis_calls):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        error = run_failing(["--audio", str(song), "--image", str(picture), "--out", str(folder / "dance.mp4")],
                            capsys, analysis_calls)
    finally:
        folder.chmod(0o755)
    assert "cannot write into folder" in error


def test_garbage_rtmlib_model_is_one_clear_line_before_the_analysis(tmp_path, song, picture, capsys,
                                                                    analysis_calls):
    pytest.importorskip("onnxruntime")
    model = tmp_path / "model.onnx"
    model.write_text("this is not an ONNX model")
    error = run_failing(["--audio", str(song), "--image", str(picture), "--rtmlib-model", str(model),
                         "--out", str(tmp_path / "dance.mp4")], capsys, analysis_calls)
    assert "model.onnx' is not a usable ONNX model" in error and "--rtmlib-model" in error
    assert not NODE_WORDS.search(error)


def test_broken_pose_json_fails_before_the_analysis(tmp_path, song, picture, capsys, analysis_calls):
    pose_json = tmp_path / "pose.json"
    pose_json.write_text("{not json")
    error = run_failing(["--audio", str(song), "--image", str(picture), "--pose-json", str(pose_json),
                         "--out", str(tmp_path / "dance.mp4")], capsys, analysis_calls)
    assert "pose.json" in error and "not valid JSON" in error
    assert not NODE_WORDS.search(error)


def test_text_file_as_audio_is_called_a_text_file(tmp_path, picture, capsys, analysis_calls):
    notes = tmp_path / "notes.mp3"
    notes.write_text("not a song\n" * 20)
    error = run_failing(["--audio", str(notes), "--image", str(picture), "--out", str(tmp_path / "dance.mp4")],
                        capsys, analysis_calls)
    assert error == "error: 'notes.mp3' is a text file, not audio. Pass the song itself (wav, flac, ogg, mp3 or m4a)."


def _long_audio_message() -> str:
    from choreo.music.audio import Audio

    with pytest.raises(ChoreoError) as caught:
        Audio.from_array(click_track(duration_s=2.0), 22050).check_analysable(max_duration_s=1.0)
    return str(caught.value)


def _missing_model_message() -> str:
    from choreo.pose import rtmpose

    with pytest.raises(ChoreoError) as caught:
        rtmpose.load_session("/nonexistent/model.onnx", "Whole-body pose")
    return str(caught.value)


def _pose_without_person_message() -> str:
    from choreo.pose.reference import reference_from_pose_keypoint

    with pytest.raises(ChoreoError) as caught:
        reference_from_pose_keypoint([{"canvas_width": 64, "canvas_height": 64, "people": []}], (64, 64))
    return str(caught.value)


@pytest.mark.parametrize("make_message", [_long_audio_message, _missing_model_message, _pose_without_person_message])
def test_core_messages_read_in_cli_terms(make_message):
    """The same errors the nodes show, as the CLI prints them: flags instead of sockets and model folders."""
    message = make_message()
    assert NODE_WORDS.search(message), "the core message changed: check CLI_WORDING still has work to do"
    assert not NODE_WORDS.search(cli_wording(message))


def test_progress_on_a_log_prints_a_line_every_interval_and_at_the_end():
    stream, now = io.StringIO(), [0.0]
    progress = FrameProgress(stream, is_tty=False, every_s=10.0, clock=lambda: now[0])
    for frame, time_s in [(0, 0.0), (20, 4.0), (60, 12.0), (70, 14.0), (100, 20.0)]:
        now[0] = time_s
        progress(frame, 100)
    assert stream.getvalue().splitlines() == [
        "  render 0/100 frames (0%)",
        "  render 60/100 frames (60%), 5.0 fps, 0:08 left",
        "  render 100/100 frames (100%), 5.0 fps, 0:00 left",
    ]


def test_progress_on_a_terminal_rewrites_one_line():
    stream, now = io.StringIO(), [0.0]
    progress = FrameProgress(stream, is_tty=True, clock=lambda: now[0])
    for frame in range(0, 11):
        now[0] = frame * 0.1
        progress(frame, 10)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert 2 <= text.count("\r") <= 6  # redrawn about every 0.25 s, not on each of the 11 calls
    assert "\r  render 10/10 frames (100%), 10.0 fps, 0:00 left" in text


def test_numba_cache_probe_sees_compiled_kernels(tmp_path, monkeypatch):
    numba_config = pytest.importorskip("numba.core.config")
    from choreo.numba_cache import numba_cache_is_warm

    monkeypatch.setattr(numba_config, "CACHE_DIR", "")  # look beside the source, as without NUMBA_CACHE_DIR
    source = tmp_path / "kernels.py"
    source.write_text("def kernel():\n    pass\n")
    assert not numba_cache_is_warm(source)
    (tmp_path / "__pycache__" / "kernels.kernel-1.py311.nbi").write_bytes(b"")
    assert numba_cache_is_warm(source)


def test_large_picture_is_worked_at_1024_px_unless_kept(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (90, 120, 200)).save(path, quality=80)
    lines = []
    job = pipeline.DanceJob(image_path=path)
    assert pipeline.working_image(job, lines.append).shape == (682, 1024, 3)
    assert lines == ["picture is 6000x4000 px; working at 1024x682 px (keep the original size with --keep-size)"]
    medium = tmp_path / "medium.png"
    Image.new("RGB", (1601, 1201), (90, 120, 200)).save(medium)
    kept = pipeline.working_image(pipeline.DanceJob(image_path=medium, keep_image_size=True), lines.append)
    assert kept.shape == (1201, 1601, 3) and len(lines) == 1


def test_a_dance_from_a_big_picture(tmp_path, song, capsys):
    """End to end on tiny inputs: working size, progress, sidecars named after a dotted stem, compact pose JSON."""
    image = tmp_path / "big.jpg"
    Image.new("RGB", (2000, 1500), (90, 120, 200)).save(image, quality=80)
    pose_json = save_pose_json(default_reference_pose(2000, 1500), tmp_path / "big.pose.json")
    out = tmp_path / "renders" / "take.v2_00001_.mp4"
    code = main(["--audio", str(song), "--image", str(image), "--pose-json", str(pose_json), "--fps", "12",
                 "--renderer", "skeleton_on_black", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    info = read_video_info(out)
    assert (info.width, info.height) == (1024, 768) and info.num_frames == 36
    assert "working at 1024x768 px" in printed
    assert "render 0/36 frames (0%)" in printed and "render 36/36 frames (100%)" in printed
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "take.v2_00001_.bvh", "take.v2_00001_.mp4", "take.v2_00001_.npz", "take.v2_00001_.pose.json"]
    saved = json.loads(out.with_name("take.v2_00001_.pose.json").read_text())
    values = [v for person in saved["frames"][10]["people"] for part in person.values() if part for v in part]
    assert values and all(round(v, 2) == v for v in values)
    assert load_pose_json(out.with_name("take.v2_00001_.pose.json")).num_frames == 36


def test_a_picture_with_nobody_in_it_is_refused_before_the_analysis(song, picture, tmp_path, capsys,
                                                                      analysis_calls, monkeypatch):
    """The detector (its stand-in here: nobody found) refuses the picture; asking for the default body works."""
    monkeypatch.setattr("choreo.pose.reference.detect_person", _nobody)
    error = run_failing(["--audio", str(song), "--image", str(picture), "--out", str(tmp_path / "a.mp4")],
                        capsys, analysis_calls)
    assert "No person was found" in error and not NODE_WORDS.search(error)


def test_without_the_detector_the_default_body_is_used_and_called_a_guess(song, picture, tmp_path, capsys,
                                                                           monkeypatch):
    from choreo.pose import mediapipe_models

    monkeypatch.setattr("choreo.pose.reference.detect_person", _models_missing)
    code = main(["--audio", str(song), "--image", str(picture), "--out", str(tmp_path / "a.mp4"), "--fps", "8",
                 "--renderer", "skeleton_on_black", "--no-data"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "warning: The dance is fitted to a default body" in printed and mediapipe_models.FETCH_COMMAND in printed
    assert "fit the person (default_body)" in printed


def _nobody(*args, **kwargs):
    from choreo.errors import PoseInputError

    raise PoseInputError("No person was found in the photo. Use a photo in which one person is clearly visible.")


def _models_missing(*args, **kwargs):
    from choreo.pose.mediapipe_models import MissingModelsError

    raise MissingModelsError("models not installed")
