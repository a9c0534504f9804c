"""MIDI lumps inside Doom WAD archives (Freedoom's music) count as a package's MIDI files."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

mido = pytest.importorskip("mido")

from choreo.datasets.debian_midi import CorpusError, package_midi, wad_midi_lumps  # noqa: E402
from choreo.datasets.midi_labels import read_midi_labels  # noqa: E402
from choreo.datasets.music_corpus import debian_songs  # noqa: E402


def _four_bars_of_four_four_midi() -> bytes:
    """Four bars of 4/4 at 120 BPM, a quarter note on every beat: beats every 0.5 s, downbeats every 2 s."""
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
                                mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    notes = mido.MidiTrack()
    for _ in range(16):
        notes += [mido.Message("note_on", note=60, velocity=90, time=0), mido.Message("note_off", note=60, time=480)]
    buffer = io.BytesIO()
    mido.MidiFile(type=1, ticks_per_beat=480, tracks=[conductor, notes]).save(file=buffer)
    return buffer.getvalue()


def _wad(lumps: list[tuple[bytes, bytes]], ident: bytes = b"IWAD") -> bytes:
    """A WAD archive: 12-byte header, the lumps back to back, then the 16-byte directory entries."""
    body, entries, offset = b"", b"", 12
    for name, data in lumps:
        entries += struct.pack("<ii8s", offset, len(data), name)
        body += data
        offset += len(data)
    return struct.pack("<4sii", ident, len(lumps), offset) + body + entries


MUS_LUMP = b"MUS\x1a" + bytes(12)  # a MUS header's magic and a few zero bytes: Doom's score format, not MIDI
MAP_LUMP = b"\x00\x01" * 20  # a non-music lump (map data)


def _game_wad(tmp_path: Path) -> tuple[Path, bytes]:
    midi = _four_bars_of_four_four_midi()
    path = tmp_path / "game.wad"
    path.write_bytes(_wad([(b"D_RUNNIN", midi), (b"D_OLDMUS", MUS_LUMP), (b"E1M1", MAP_LUMP)]))
    return path, midi


def test_only_the_midi_lump_comes_out_and_the_mus_lump_is_skipped_with_its_reason(tmp_path):
    path, midi = _game_wad(tmp_path)
    skipped: list[str] = []
    lumps = wad_midi_lumps(path, skipped)
    assert lumps == [("D_RUNNIN", midi)]
    assert len(skipped) == 1 and "D_OLDMUS" in skipped[0] and "MUS lump" in skipped[0]


def test_a_wad_midi_lump_reads_with_its_tempo_map_labels(tmp_path):
    path, _ = _game_wad(tmp_path)
    (_, data), = wad_midi_lumps(path)
    (tmp_path / "D_RUNNIN.mid").write_bytes(data)
    labels = read_midi_labels(tmp_path / "D_RUNNIN.mid")
    assert labels.beats_s == pytest.approx([0.5 * beat for beat in range(16)])
    assert labels.downbeats_s == pytest.approx([0.0, 2.0, 4.0, 6.0])
    assert sorted(set(labels.bar_meters)) == ["4/4"]


def test_package_midi_names_wad_lumps_by_wad_stem_and_lump_and_keeps_mid_files_paths(tmp_path):
    doom = tmp_path / "usr" / "share" / "games" / "doom"
    doom.mkdir(parents=True)
    (doom / "freedoom2.wad").write_bytes(_wad([(b"D_RUNNIN", _four_bars_of_four_four_midi()), (b"D_X", MUS_LUMP)]))
    (doom / "intro.mid").write_bytes(_four_bars_of_four_four_midi())
    skipped: list[str] = []
    found = package_midi(tmp_path, skipped)
    assert [(item.location, item.song_key) for item in found] == [
        ("/usr/share/games/doom/intro.mid", "usr_share_games_doom_intro"),
        ("/usr/share/games/doom/freedoom2.wad:D_RUNNIN", "freedoom2_D_RUNNIN")]
    assert skipped == ["/usr/share/games/doom/freedoom2.wad:D_X (MUS lump: Doom's score format has no tempo map "
                       "to label beats with)"]


@pytest.mark.parametrize("cut, problem", [(5, "shorter than its 12-byte header"), (-20, "outside its"),
                                          (None, "outside the file")])
def test_a_truncated_or_damaged_wad_is_a_corpus_error_naming_the_file(tmp_path, cut, problem):
    data = _wad([(b"D_RUNNIN", _four_bars_of_four_four_midi())])
    if cut is None:  # directory intact, but the lump's size points past the end of the file
        data = data[:-16] + struct.pack("<ii8s", 12, len(data) * 2, b"D_RUNNIN")
    else:
        data = data[:cut]
    path = tmp_path / "broken.wad"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=f"broken.wad.*{problem}"):
        wad_midi_lumps(path)


def test_a_file_that_is_not_a_wad_is_a_corpus_error(tmp_path):
    path = tmp_path / "notes.wad"
    path.write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(CorpusError, match="notes.wad does not start with IWAD or PWAD"):
        wad_midi_lumps(path)


def test_debian_songs_take_wad_lumps_with_ids_from_the_wad_and_lump(tmp_path):
    """An already unpacked package in the cache (``.complete`` marker) is read without apt-get."""
    root = tmp_path / "cache" / "freedoom"
    doom = root / "usr" / "share" / "games" / "doom"
    doom.mkdir(parents=True)
    (doom / "freedoom2.wad").write_bytes(_wad([(b"D_RUNNIN", _four_bars_of_four_four_midi()), (b"D_X", MUS_LUMP)]))
    (root / ".deb-name").write_text("freedoom_0.12.1-2_all.deb")
    (root / ".complete").touch()
    skipped: list[str] = []
    songs = debian_songs("freedoom", tmp_path / "cache", skipped)
    assert [song.song_id for song in songs] == ["debian-freedoom-freedoom2_D_RUNNIN"]
    assert songs[0].details["path"] == "/usr/share/games/doom/freedoom2.wad:D_RUNNIN"
    assert songs[0].labels.downbeats_s == pytest.approx([0.0, 2.0, 4.0, 6.0])
    assert skipped == ["debian:freedoom/usr/share/games/doom/freedoom2.wad:D_X (MUS lump: Doom's score format has "
                       "no tempo map to label beats with)"]
