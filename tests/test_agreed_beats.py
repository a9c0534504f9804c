"""Agreed-beats corpus: reserved packages refused, labels only where both trackers agree, read by the beat trainer."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile

from choreo.datasets import agreed_beats
from choreo.datasets.agreed_beats import (AgreedBeatsConfig, agreement, build_agreed_beats, label_clip, main,
                                          midpoint_beats)
from choreo.datasets.dance_engine import content_song_id
from choreo.datasets.debian_midi import RESERVED_PACKAGES, CorpusError, ReservedPackageError
from choreo.datasets.music_corpus import split_of
from choreo.music.analysis import MusicAnalysis
from choreo.music.analyze import analyze_music
from choreo.music.audio import Audio
from choreo.training.train_beat_tracker import load_split
from conftest import click_track

SAMPLE_RATE = 22050
CLIPS = AgreedBeatsConfig(clip_min_s=10.0, clip_max_s=20.0)


@pytest.mark.parametrize("package", sorted(RESERVED_PACKAGES))
def test_reserved_packages_are_refused_before_anything_is_written(package, tmp_path):
    with pytest.raises(ReservedPackageError, match="reserved"):
        build_agreed_beats(tmp_path / "out", AgreedBeatsConfig(debian_packages=(package,)), tmp_path / "cache")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_the_cli_refuses_a_reserved_package_and_asks_for_a_source(tmp_path, capsys):
    assert main(["build", "--out", str(tmp_path / "out"), "--debian-package", "mma"]) == 2
    assert "reserved" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["build", "--out", str(tmp_path / "out")])
    assert "--folder or --debian-package" in capsys.readouterr().err


def test_clip_lengths_must_allow_even_cuts(tmp_path):
    with pytest.raises(CorpusError, match="at least twice"):
        build_agreed_beats(tmp_path / "out", dataclasses.replace(CLIPS, folders=(str(tmp_path),), clip_max_s=15.0))


def test_midpoint_beats_meet_halfway_only_within_the_tolerance():
    moved = midpoint_beats(np.array([1.0, 2.0, 3.0]), np.array([1.04, 2.2]))
    np.testing.assert_allclose(moved, [1.02, 2.0, 3.0])
    np.testing.assert_allclose(midpoint_beats(np.array([1.0]), np.array([])), [1.0])


def _analysis(beats_s: np.ndarray, beats_per_bar: int = 4) -> MusicAnalysis:
    base = analyze_music(Audio.from_array(click_track(duration_s=12.0), SAMPLE_RATE))
    beat_in_bar = np.arange(len(beats_s)) % beats_per_bar
    return dataclasses.replace(base, beat_times_s=beats_s, downbeat_times_s=beats_s[beat_in_bar == 0],
                               beat_in_bar=beat_in_bar, beats_per_bar=beats_per_bar)


def test_agreement_is_one_for_the_same_beats_and_zero_for_the_off_beat():
    beats_s = np.arange(0.0, 20.0, 0.5)
    same = agreement(_analysis(beats_s), _analysis(beats_s + 0.01))
    off_beat = agreement(_analysis(beats_s), _analysis(beats_s + 0.25))
    assert same == pytest.approx((1.0, 1.0)) and off_beat == pytest.approx((0.0, 0.0))


def _with_learned(monkeypatch, learned_of_dsp) -> None:
    """Analyse with the real DSP tracker and a learned tracker made from its answer by ``learned_of_dsp``."""
    real = analyze_music

    def analyse(audio, beat_tracker="dsp", **options):
        dsp = real(audio, beat_tracker="dsp", **options)
        return learned_of_dsp(dsp) if beat_tracker == "network" else dsp

    monkeypatch.setattr(agreed_beats, "analyze_music", analyse)


def test_a_clip_is_skipped_where_the_trackers_disagree_on_the_beats(monkeypatch):
    _with_learned(monkeypatch, lambda dsp: _analysis(dsp.beat_times_s + 0.25))
    record, why = label_clip(Audio.from_array(click_track(duration_s=20.0), SAMPLE_RATE), "clip", CLIPS)
    assert record is None and "trackers disagree" in why and "beat F 0.00" in why


def test_a_clip_is_skipped_where_only_the_bars_disagree(monkeypatch):
    _with_learned(monkeypatch, lambda dsp: _analysis(dsp.beat_times_s[1:]))  # same beats, bars one beat later
    record, why = label_clip(Audio.from_array(click_track(duration_s=20.0), SAMPLE_RATE), "clip", CLIPS)
    assert record is None and "trackers disagree" in why and "downbeat F 0.00" in why


def test_build_labels_a_click_track_skips_noise_and_feeds_the_trainer(tmp_path, monkeypatch):
    # the builder, not the bundled network, is under test: the learned answer is the DSP one, 10 ms later
    _with_learned(monkeypatch, lambda dsp: dataclasses.replace(dsp, beat_times_s=dsp.beat_times_s + 0.01,
                                                               downbeat_times_s=dsp.downbeat_times_s + 0.01))
    folder = tmp_path / "songs"
    folder.mkdir()
    soundfile.write(folder / "clicks.wav", click_track(duration_s=40.0), SAMPLE_RATE)
    noise = np.random.default_rng(0).normal(0.0, 0.1, 15 * SAMPLE_RATE).astype(np.float32)
    soundfile.write(folder / "noise.wav", noise, SAMPLE_RATE)
    soundfile.write(folder / "blip.wav", noise[:SAMPLE_RATE], SAMPLE_RATE)  # shorter than one clip: no cut
    out = tmp_path / "corpus"
    summary = build_agreed_beats(out, dataclasses.replace(CLIPS, folders=(str(folder),)))

    song_id = content_song_id(folder / "clicks.wav")
    split = split_of(song_id)
    assert summary["clips_tried"] == 3 and summary["clips_kept"] == 2  # two 20 s cuts of the clicks, one of noise
    assert summary["splits"][split] == {"songs": 1, "clips": 2, "label_duration_s": 40.0}
    assert any("noise.wav" in line and "no clear beat" in line for line in summary["skipped"])
    rows = [json.loads(line) for line in (out / f"manifest_{split}.jsonl").read_text().splitlines()]
    assert [row["clip_id"] for row in rows] == [f"{song_id}-c000", f"{song_id}-c001"]
    labels = json.loads((out / rows[1]["labels"]).read_text())
    # the clicks sit every 0.5 s from 0 s, downbeats every 2 s: the second cut starts at 20 s
    beats_s = np.asarray(labels["beats_s"])
    assert np.abs(beats_s - np.round(beats_s * 2) / 2).max() < 0.05 and np.allclose(np.diff(beats_s), 0.5, atol=0.03)
    downbeats_s = np.asarray(labels["downbeats_s"])
    assert labels["beats_per_bar"] == 4 and np.abs(downbeats_s - np.round(downbeats_s / 2) * 2).max() < 0.05
    assert labels["agreement"]["beat_f"] >= 0.9 and labels["source"] == "folder:songs"
    audio, rate = soundfile.read(out / rows[1]["audio"])
    assert rate == SAMPLE_RATE and len(audio) == 20 * SAMPLE_RATE

    clips = load_split(out, split, tmp_path / "features", SAMPLE_RATE / 256)
    assert [clip.clip_id for clip in clips] == [row["clip_id"] for row in rows]
    np.testing.assert_allclose(clips[1].beat_frames, beats_s * SAMPLE_RATE / 256)



def test_missing_learned_weights_are_named_before_anything_is_written(tmp_path, monkeypatch):
    import choreo.music.analyze as analyze_module

    monkeypatch.setattr(analyze_module, "DEFAULT_CHECKPOINT_DIR", tmp_path / "no_weights")
    with pytest.raises(CorpusError, match="no_weights.*missing.*Restore assets/checkpoints/beat_tracker"):
        build_agreed_beats(tmp_path / "out", dataclasses.replace(CLIPS, folders=(str(tmp_path),)))
    assert not (tmp_path / "out").exists()
