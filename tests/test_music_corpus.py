"""Music corpus: MIDI labels, the song composer, reserved packages, song-level splits and rendering."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess

import numpy as np
import pytest

mido = pytest.importorskip("mido")

from choreo.datasets.debian_midi import ReservedPackageError, check_package_allowed  # noqa: E402
from choreo.datasets.midi_labels import Meter, grid_fit, midi_labels  # noqa: E402
from choreo.datasets.midi_render import find_soundfonts  # noqa: E402
from choreo.datasets.midi_songs import DRUM_CHANNEL, METERS, random_song_spec, write_song  # noqa: E402
from choreo.datasets.music_corpus import (SPLITS, CorpusConfig, build_corpus, debian_songs, main,  # noqa: E402
                                          split_of)


def _tempo_and_meter_change_midi() -> mido.MidiFile:
    """Two bars of 3/4 then two of 4/4, 480 ticks a quarter; 120 BPM, then 60 BPM from tick 960 (mid-bar)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack([
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=500_000, time=0),
        mido.MetaMessage("set_tempo", tempo=1_000_000, time=960),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=2880 - 960)])
    notes = mido.MidiTrack()
    for _ in range(14):  # a quarter note on every beat up to tick 6720
        notes += [mido.Message("note_on", note=60, velocity=90, time=0), mido.Message("note_off", note=60, time=480)]
    midi.tracks += [conductor, notes]
    return midi


def _played_in_without_a_click() -> mido.MidiFile:
    """200 notes at random ticks under a nominal 120 BPM tempo map, like a file recorded without a metronome."""
    rng = np.random.default_rng(0)
    track = mido.MidiTrack()
    for gap in rng.integers(30, 400, size=200):
        track += [mido.Message("note_on", note=64, velocity=80, time=int(gap)),
                  mido.Message("note_off", note=64, time=5)]
    return mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track])


def _reloaded(midi: mido.MidiFile) -> mido.MidiFile:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    buffer.seek(0)
    return mido.MidiFile(file=buffer)


def test_labels_follow_a_mid_bar_tempo_change_and_a_three_four_to_four_four_change():
    labels = midi_labels(_reloaded(_tempo_and_meter_change_midi()))
    # 0.5 s a beat for two beats, then 1 s a beat: bars of 3, 3, 4 and 4 beats
    assert labels.beats_s == pytest.approx([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0])
    assert labels.downbeats_s == pytest.approx([0.0, 2.0, 5.0, 9.0])
    assert labels.bar_meters == ("3/4", "3/4", "4/4", "4/4")
    assert labels.bar_beats == (3, 3, 4, 4)
    assert labels.duration_s == pytest.approx(13.0)
    assert np.array(labels.tempo_curve) == pytest.approx(np.array([[0.0, 120, 120], [1.0, 60, 60], [5.0, 60, 60]]))


def test_compound_meters_count_dotted_quarters_and_seven_eight_counts_eighths():
    assert (Meter(6, 8).beats_per_bar, Meter(6, 8).beat_quarters) == (2, 1.5)
    assert (Meter(12, 8).beats_per_bar, Meter(7, 8).beats_per_bar, Meter(3, 4).beats_per_bar) == (4, 7, 3)


def test_grid_fit_separates_quantised_files_from_files_played_in_without_a_click():
    assert grid_fit(_tempo_and_meter_change_midi()) == 1.0
    assert grid_fit(_played_in_without_a_click()) < 0.45


@pytest.mark.parametrize("seed", range(24))
def test_composed_song_labels_equal_the_labels_read_back_from_its_midi(seed):
    midi, planned = write_song(random_song_spec(seed, duration_s=12.0))
    read = midi_labels(_reloaded(midi))
    assert read.beats_s == pytest.approx(planned.beats_s, abs=1e-9)
    assert read.downbeats_s == pytest.approx(planned.downbeats_s, abs=1e-9)
    assert (read.bar_meters, read.bar_beats) == (planned.bar_meters, planned.bar_beats)
    assert np.array(read.tempo_curve) == pytest.approx(np.array(planned.tempo_curve))
    assert read.duration_s == pytest.approx(planned.duration_s, abs=1e-9)


def test_composer_covers_every_meter_and_the_tempo_range_with_ramps_and_drumless_songs():
    specs = [random_song_spec(seed) for seed in range(60)]
    assert {(s.numerator, s.denominator) for s in specs} == set(METERS)
    assert all(40.0 <= s.start_bpm <= 220.0 and 40.0 <= s.end_bpm <= 220.0 for s in specs)
    assert any(s.start_bpm != s.end_bpm for s in specs) and any(s.swing > 0.5 for s in specs)
    assert {s.drums for s in specs} == {"full", "weak", "none"}


def test_offbeat_share_draws_accented_songs_without_moving_any_other_field_of_a_seed():
    plain = [random_song_spec(seed) for seed in range(40)]
    mixed = [random_song_spec(seed, offbeat_share=0.5) for seed in range(40)]
    assert not any(spec.offbeat_accent for spec in plain)
    assert 8 <= sum(spec.offbeat_accent for spec in mixed) <= 32
    assert [dataclasses.replace(spec, offbeat_accent=False) for spec in mixed] == plain


@pytest.mark.parametrize("drums", ["full", "weak", "none"])
def test_an_offbeat_accented_song_is_loudest_on_its_offbeats_and_keeps_a_kick_on_the_beat(drums):
    """Drums and chords hit hardest off the beat; the kick (with drums) and the labels stay on it."""
    spec = dataclasses.replace(random_song_spec(3, duration_s=12.0, offbeat_share=1.0), drums=drums,
                               timing_jitter_ms=0.0, velocity_jitter=0.0, swing=0.6)
    midi, labels = write_song(spec)
    beat_ticks = round(spec.meter.beat_quarters * 480)
    loudest = {"beat": 0, "offbeat": 0}
    kicks_on_beat = 0
    for track in midi.tracks[1:]:
        for tick, message in zip(np.cumsum([m.time for m in track]), track):
            if message.type != "note_on" or message.channel == 0 \
                    or tick >= spec.num_bars * spec.meter.beats_per_bar * beat_ticks:
                continue  # the bass stays on the beat (a cue to learn); the closing chord is on the final downbeat
            place = "beat" if tick % beat_ticks == 0 else "offbeat"
            loudest[place] = max(loudest[place], message.velocity)
            kicks_on_beat += place == "beat" and message.channel == DRUM_CHANNEL and message.note == 36
    assert loudest["offbeat"] > loudest["beat"] + 20
    assert kicks_on_beat == (0 if drums == "none" else spec.num_bars * spec.meter.beats_per_bar)
    assert len(labels.beats_s) == spec.num_bars * spec.meter.beats_per_bar + 1  # the labels stay on the beat


def test_drumless_song_has_no_percussion_and_humanised_onsets_leave_the_grid():
    spec = dataclasses.replace(random_song_spec(3), drums="none", timing_jitter_ms=15.0, comping="beats")
    midi, labels = write_song(spec)
    channels = {m.channel for track in midi.tracks for m in track if m.type == "note_on"}
    assert DRUM_CHANNEL not in channels
    onset_ticks = {tick for track in midi.tracks[1:] for tick in np.cumsum([m.time for m in track])}
    beat_ticks = round(spec.meter.beat_quarters * 480)
    assert any(tick % beat_ticks for tick in onset_ticks)  # jitter moved notes off the beat grid ...
    assert len(labels.beats_s) == spec.num_bars * spec.meter.beats_per_bar + 1  # ... but not the labels


def test_reserved_packages_are_refused_by_name_before_anything_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: pytest.fail("nothing may be run"))
    with pytest.raises(ReservedPackageError, match="reserved for evaluating"):
        check_package_allowed("OpenTTD-openmsx")
    config = CorpusConfig(num_synthetic=1, debian_packages=("freedink-data", "hyperrogue-music"), renders_per_song=0)
    with pytest.raises(ReservedPackageError, match="hyperrogue-music"):
        build_corpus(tmp_path / "corpus", config, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "corpus").exists() and not (tmp_path / "cache").exists()
    assert main(["build", "--out", str(tmp_path / "c"), "--debian-package", "mma", "--no-render"]) == 2


def test_packaged_midi_is_labelled_with_the_package_licence_and_off_grid_files_and_duplicates_skipped(tmp_path):
    root = tmp_path / "cache" / "some-game-data"  # an already unpacked package, as unpack_package leaves it
    (root / "usr/share/games/music").mkdir(parents=True)
    (root / "usr/share/doc/some-game-data").mkdir(parents=True)
    (root / "usr/share/doc/some-game-data/copyright").write_text("Files: *\nLicense: GPL-2+\n\nLicense:\n free text\n")
    (root / ".complete").touch()
    (root / ".deb-name").write_text("some-game-data_1.0_all.deb")
    _tempo_and_meter_change_midi().save(root / "usr/share/games/music/theme.mid")
    shutil.copy(root / "usr/share/games/music/theme.mid", root / "usr/share/games/music/copy.MID")
    _played_in_without_a_click().save(root / "usr/share/games/music/live.mid")
    skipped: list[str] = []
    songs = debian_songs("some-game-data", tmp_path / "cache", skipped, min_grid_fit=0.6)
    assert [song.song_id for song in songs] == ["debian-some-game-data-usr_share_games_music_copy"]
    assert songs[0].licence.startswith("GPL-2+ (DEP-5") and songs[0].source == "debian:some-game-data"
    assert songs[0].labels.downbeats_s == pytest.approx([0.0, 2.0, 5.0, 9.0])
    assert songs[0].details["grid_fit"] == 1.0
    assert len(skipped) == 2 and "live.mid" in skipped[0] and "grid" in skipped[0] and "duplicate" in skipped[1]


def test_split_is_a_deterministic_function_of_the_song_id_near_eighty_ten_ten():
    ids = [f"synthetic-{seed:06d}" for seed in range(3000)]
    splits = [split_of(song_id) for song_id in ids]
    assert splits == [split_of(song_id) for song_id in ids]
    fractions = [splits.count(split) / len(ids) for split in SPLITS]
    assert fractions == pytest.approx([0.8, 0.1, 0.1], abs=0.03)


def test_built_manifests_hold_each_song_in_exactly_its_hashed_split_and_rebuild_identically(tmp_path):
    config = CorpusConfig(num_synthetic=30, synthetic_duration_s=4.0, renders_per_song=0)
    for name in ("a", "b"):
        build_corpus(tmp_path / name, config, cache_dir=tmp_path / "cache")
    rows = {}
    for split in SPLITS:
        text = (tmp_path / "a" / f"manifest_{split}.jsonl").read_text()
        assert text == (tmp_path / "b" / f"manifest_{split}.jsonl").read_text()
        for row in map(json.loads, text.splitlines()):
            assert split_of(row["song_id"]) == split and row["song_id"] not in rows
            rows[row["song_id"]] = row
    assert len(rows) == 30 and {split_of(song_id) for song_id in rows} == set(SPLITS)
    labels = json.loads((tmp_path / "a" / next(iter(rows.values()))["labels"]).read_text())
    assert labels["beats_s"][0] == 0.0 and labels["meter_per_bar"] and labels["licence"]


def test_rendered_clips_are_mono_22050_hz_and_every_render_of_a_song_shares_its_split(tmp_path):
    if shutil.which("fluidsynth") is None or not find_soundfonts():
        pytest.skip("rendering needs fluidsynth and a General-MIDI soundfont (apt-get install fluidsynth "
                    "fluid-soundfont-gm)")
    soundfile = pytest.importorskip("soundfile")
    config = CorpusConfig(num_synthetic=2, synthetic_duration_s=3.0, renders_per_song=2)
    summary = build_corpus(tmp_path / "corpus", config, cache_dir=tmp_path / "cache")
    rows = [json.loads(line) for split in SPLITS
            for line in (tmp_path / "corpus" / f"manifest_{split}.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and sum(s["clips"] for s in summary["splits"].values()) == 4
    for row in rows:
        audio, rate = soundfile.read(tmp_path / "corpus" / row["audio"], always_2d=True)
        assert rate == 22050 and audio.shape[1] == 1
        assert row["duration_s"] <= len(audio) / rate <= row["duration_s"] + 1.0 + 1e-3
        assert np.abs(audio[: rate // 10]).max() > 0.01  # the first beat sounds at once
    for song_id in {row["song_id"] for row in rows}:
        assert len({row["split"] for row in rows if row["song_id"] == song_id}) == 1
