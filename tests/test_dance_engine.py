"""Dance engine: reserved packages refused, clip cutting, variety, mirroring, and a tiny build read by both trainers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile

from choreo.datasets.dance_engine import EngineConfig, build_dances, clip_bounds_s, main, with_labelled_beats
from choreo.datasets.dance_variety import VarietyConfig, draw_variation, mirror_motion, varied_skeleton
from choreo.datasets.debian_midi import RESERVED_PACKAGES, CorpusError, ReservedPackageError
from choreo.datasets.finedance import load_finedance
from choreo.datasets.music_corpus import SPLITS, split_of
from choreo.datasets.pose_dataset import load_dataset
from choreo.io.motion_files import load_motion_npz
from choreo.motion.skeleton import MIRROR, Skeleton
from choreo.music.analyze import analyze_music
from choreo.music.audio import Audio
from conftest import click_track


@pytest.fixture(scope="module")
def song_folder(tmp_path_factory):
    """Two click tracks (12 s at 100 BPM, 7 s at 128 BPM in 3/4) and one silent file."""
    folder = tmp_path_factory.mktemp("songs")
    soundfile.write(folder / "a.wav", click_track(100.0, 12.0), 22050)
    soundfile.write(folder / "b.flac", click_track(128.0, 7.0, beats_per_bar=3), 22050)
    soundfile.write(folder / "silence.wav", np.zeros(22050 * 8, np.float32), 22050)
    return folder


def _config(folder, **changes) -> EngineConfig:
    config = EngineConfig(folders=(str(folder),), dances_per_clip=2, clip_min_s=5.0, clip_max_s=10.0,
                          segment_frames=64, stride_frames=32)
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def built(song_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("engine") / "data"
    return out, build_dances(out, _config(song_folder))


@pytest.mark.parametrize("package", sorted(RESERVED_PACKAGES))
def test_reserved_packages_are_refused_before_anything_is_written(package, tmp_path):
    with pytest.raises(ReservedPackageError, match="reserved"):
        build_dances(tmp_path / "out", EngineConfig(debian_packages=("freedroidrpg-data", package)),
                     cache_dir=tmp_path / "cache")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_the_cli_refuses_a_reserved_package_with_an_error_line(tmp_path, capsys):
    assert main(["build", "--out", str(tmp_path / "out"), "--debian-package", "MMA"]) == 2
    assert "reserved" in capsys.readouterr().err


def test_tracks_are_cut_into_even_clips_within_the_bounds():
    assert clip_bounds_s(9.0, 10.0, 30.0) == []
    assert clip_bounds_s(12.0, 10.0, 30.0) == [(0.0, 12.0)]
    assert clip_bounds_s(61.0, 10.0, 30.0) == [(0.0, 20.333), (20.333, 40.667), (40.667, 61.0)]


def test_variations_are_seeded_by_build_seed_and_dance_and_stay_in_range():
    config = VarietyConfig()
    first = draw_variation(config, 0, "song-c000-d0")
    assert draw_variation(config, 0, "song-c000-d0") == first
    assert draw_variation(config, 1, "song-c000-d0") != first != draw_variation(config, 0, "song-c000-d1")
    drawn = [draw_variation(config, 0, f"s-c000-d{index}") for index in range(200)]
    assert {v.mirrored for v in drawn} == {True, False} and len({v.style for v in drawn}) > 3
    assert all(0.9 <= v.height_scale <= 1.1 and -45 <= v.yaw_deg <= 45 and 0.7 <= v.energy_scale <= 1.3
               for v in drawn)


def test_a_varied_skeleton_keeps_the_bone_directions_and_scales_legs_by_leg_and_height_scale():
    variation = draw_variation(VarietyConfig(), 3, "x")
    skeleton, default = varied_skeleton(variation), Skeleton.default()
    knee = 4
    assert skeleton.bone_lengths_m[knee] == pytest.approx(
        default.bone_lengths_m[knee] * variation.leg_scale * variation.height_scale)
    unit = default.rest_offsets_m[knee] / default.bone_lengths_m[knee]
    assert skeleton.rest_offsets_m[knee] / skeleton.bone_lengths_m[knee] == pytest.approx(unit)


def test_a_mirrored_dance_puts_each_joint_at_its_partners_reflected_position(built):
    out, _ = built
    motion = load_motion_npz(next((out / "motion").glob("*.npz")))
    mirrored = mirror_motion(motion)
    expected = motion.joint_positions()[:, list(MIRROR)] * np.float32([-1, 1, 1])
    assert mirrored.joint_positions() == pytest.approx(expected, abs=1e-5)
    assert mirror_motion(mirrored).joint_positions() == pytest.approx(motion.joint_positions(), abs=1e-5)


def test_a_folder_build_dances_every_beat_clip_and_skips_silence(built):
    out, summary = built
    # a.wav (12 s) -> two 6 s clips, b.flac (7 s) -> one clip; silence.wav is skipped
    assert (summary["tracks"], summary["clips"], summary["dances"]) == (2, 3, 6)
    assert summary["clip_audio_hours"] == pytest.approx(19.0 / 3600, abs=1e-4)
    assert any("silent" in reason or "beat clarity" in reason for reason in summary["skipped"])
    rows = [json.loads(line) for split in SPLITS for line in (out / f"manifest_{split}.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(row["split"] == split_of(row["song_id"]) for row in rows)
    assert len({row["variation"]["yaw_deg"] for row in rows}) == 6  # every dance filmed from its own angle
    for row in rows:
        variation = draw_variation(VarietyConfig(), 0, row["dance_id"])
        assert row["variation"] == variation.to_json()
        motion = load_motion_npz(out / row["motion"])
        lengths = varied_skeleton(variation).bone_lengths_m
        expected = lengths[list(MIRROR)] if variation.mirrored else lengths  # a mirrored body swaps its sides
        assert motion.num_frames == row["num_frames"]
        assert motion.skeleton.bone_lengths_m == pytest.approx(expected, rel=1e-5)


def test_both_trainer_layouts_read_back_with_the_existing_loaders(built):
    out, summary = built
    for split, counts in summary["splits"].items():
        if counts["dances"] == 0:
            assert not (out / "motion_expert" / split).exists()
            continue
        clips = load_finedance(out / "motion_expert" / split)
        assert len(clips) == counts["dances"] and clips[0].features.values.shape[1] == 35
        assert all(clip.motion.num_frames == clip.features.num_frames for clip in clips)
        poses = load_dataset(out / "xdancer" / split)
        assert poses.poses.shape[1:] == (64, 60, 3) and poses.has_music.all()
        assert poses.info["sources"] == {"folder:" + summary["config"]["folders"][0].split("/")[-1]: len(poses.poses)}


def test_the_3d_layout_keeps_the_dance_exactly_as_danced(built):
    out, _ = built
    row = json.loads(next(line for split in SPLITS
                          for line in (out / f"manifest_{split}.jsonl").read_text().splitlines()))
    motion = load_motion_npz(out / row["motion"])
    clip = next(c for c in load_finedance(out / "motion_expert" / row["split"]) if c.name == row["dance_id"])
    assert clip.motion.root_translation_m == pytest.approx(motion.root_translation_m, abs=1e-5)
    assert clip.motion.rotations[:, :22] == pytest.approx(motion.rotations[:, :22], abs=1e-5)


def test_a_second_build_with_the_same_seed_writes_the_same_manifests(built, song_folder, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    build_dances(again, _config(song_folder))
    for split in SPLITS:
        assert (again / f"manifest_{split}.jsonl").read_text() == (out / f"manifest_{split}.jsonl").read_text()


def test_a_build_refuses_a_folder_that_is_not_empty_and_bad_clip_bounds(song_folder, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CorpusError, match="not empty"):
        build_dances(tmp_path / "full", _config(song_folder))
    with pytest.raises(CorpusError, match="twice"):
        build_dances(tmp_path / "new", _config(song_folder, clip_min_s=8.0))


def test_a_music_corpus_gives_every_render_of_a_song_the_corpus_split_and_its_labels(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    (corpus / "labels").mkdir()
    rows = []
    for render, tempo_bpm in enumerate((96.0, 120.0)):  # two renders of one song, as music_corpus writes them
        clip_id = f"synthetic-000007-r{render}"
        soundfile.write(corpus / "audio" / f"{clip_id}.wav", click_track(tempo_bpm, 6.0), 22050)
        beats_s = list(np.arange(0.0, 6.0, 60.0 / tempo_bpm))  # the clicks, 4 to the bar
        (corpus / "labels" / f"{clip_id}.json").write_text(json.dumps({"beats_s": beats_s,
                                                                       "downbeats_s": beats_s[::4]}))
        rows.append({"clip_id": clip_id, "song_id": "synthetic-000007", "split": "validation", "source": "synthetic",
                     "licence": "composed", "labels": f"labels/{clip_id}.json", "audio": f"audio/{clip_id}.wav"})
    (corpus / "manifest_validation.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    for split in ("train", "test"):
        (corpus / f"manifest_{split}.jsonl").write_text("")
    config = EngineConfig(music_corpora=(str(corpus),), dances_per_clip=1, clip_min_s=5.0, clip_max_s=10.0,
                          segment_frames=64, stride_frames=32)
    summary = build_dances(tmp_path / "out", config)
    assert summary["splits"]["validation"] == {"songs": 1, "clips": 2, "dances": 2}
    danced = [json.loads(line) for line in (tmp_path / "out" / "manifest_validation.jsonl").read_text().splitlines()]
    assert [row["clip_id"] for row in danced] == ["synthetic-000007-r0-c000", "synthetic-000007-r1-c000"]
    assert {row["source"] for row in danced} == {"midi_corpus:synthetic"}
    assert danced[1]["labels"] == f"{corpus}/labels/synthetic-000007-r1.json"
    assert [row["tempo_bpm"] for row in danced] == pytest.approx([96.0, 120.0])  # the labels' tempo, exactly
    assert {row["beats_from"] for row in danced} == {"labels"} and {row["beats_per_bar"] for row in danced} == {4}


def test_labelled_beats_replace_the_tracked_ones_inside_the_clip_and_count_bars_from_the_downbeats():
    analysis = analyze_music(Audio.from_array(click_track(120.0, 4.0), 22050), fps=30.0)
    beats_s = list(np.arange(0.0, 20.0, 0.5))  # 120 BPM in 3/4 from 0 s; the clip is 10.75-14.75 s
    labelled = with_labelled_beats(analysis, beats_s, beats_s[::3], start_s=10.75)
    assert labelled.beat_times_s == pytest.approx(np.arange(0.25, 4.0, 0.5))  # song beats 11.0 ... 14.5 s
    assert labelled.downbeat_times_s == pytest.approx([1.25, 2.75])  # the downbeats at 12.0 and 13.5 s
    assert list(labelled.beat_in_bar) == [1, 2, 0, 1, 2, 0, 1, 2]  # 11.0 and 11.5 s end the bar begun at 10.5 s
    assert (labelled.beats_per_bar, labelled.tempo_bpm) == (3, pytest.approx(120.0))


def test_track_cuts_decode_once_and_say_what_they_leave_out(tmp_path):
    from choreo.datasets.dance_engine import folder_tracks, track_cuts

    folder = tmp_path / "songs"
    folder.mkdir()
    soundfile.write(folder / "a.wav", click_track(duration_s=12.0), 22050)
    soundfile.write(folder / "copy_of_a.wav", click_track(duration_s=12.0), 22050)
    soundfile.write(folder / "short.wav", click_track(duration_s=2.0), 22050)
    (folder / "broken.ogg").write_bytes(b"not audio")
    skipped: list[str] = []
    cut_tracks = list(track_cuts(folder_tracks(folder), 5.0, 10.0, skipped))
    assert [(track.path.name, len(cuts)) for track, cuts in cut_tracks] == [("a.wav", 2), ("short.wav", 0)]
    (first, second) = cut_tracks[0][1]
    assert (first.start_s, first.stop_s, second.stop_s) == (0.0, 6.0, 12.0) and len(second.samples) == 6 * 22050
    assert first.clip_id.endswith("-c000") and second.clip_id.endswith("-c001")
    assert sorted(reason.split(" (")[0] for reason in skipped) == [
        "folder:songs/broken.ogg", "folder:songs/copy_of_a.wav", "folder:songs/short.wav"]
    assert any("same audio" in reason for reason in skipped) and any("shorter than" in reason for reason in skipped)

    full: list[str] = []
    assert list(track_cuts(folder_tracks(folder), 5.0, 10.0, full, source_is_full=lambda source: True)) == []
    assert len(full) == 4 and all("--max-tracks reached" in reason for reason in full)


def test_a_faster_copy_shares_the_song_and_split_of_its_original(tmp_path):
    from choreo.datasets.dance_engine import content_song_id, folder_tracks

    folder = tmp_path / "songs"
    folder.mkdir()
    soundfile.write(folder / "theme.ogg", click_track(duration_s=3.0), 22050)
    soundfile.write(folder / "theme_fast.ogg", click_track(tempo_bpm=150.0, duration_s=3.0), 22050)
    soundfile.write(folder / "other_fast.ogg", click_track(tempo_bpm=90.0, duration_s=3.0), 22050)
    by_name = {track.path.name: track for track in folder_tracks(folder)}
    original, faster, alone = by_name["theme.ogg"], by_name["theme_fast.ogg"], by_name["other_fast.ogg"]
    assert faster.song_id == original.song_id == original.key == content_song_id(folder / "theme.ogg")
    assert faster.split == original.split and faster.key == content_song_id(folder / "theme_fast.ogg")
    assert alone.song_id == alone.key == content_song_id(folder / "other_fast.ogg")
