"""Render MIDI to 22.05 kHz mono audio with fluidsynth, varying soundfont, instruments and mix.

One MIDI song rendered several ways gives a beat tracker many timbres over the same exact grid:
each render draws a General-MIDI soundfont, swaps every melodic channel's program for another
in the same GM family (piano for piano, bass for bass) and scales each channel's volume. The
tempo map and notes are never touched, so the song's labels hold for every render.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile

from .debian_midi import CorpusError

SAMPLE_RATE = 22050
SOUNDFONT_DIRS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3"))
DRUM_CHANNEL = 9
GM_FAMILY_SIZE = 8  # General MIDI groups its 128 programs in families of 8 (pianos, organs, basses, ...)


def find_soundfonts(dirs: tuple[Path, ...] = SOUNDFONT_DIRS) -> list[Path]:
    """Installed soundfonts (.sf2 / .sf3), one per real file (distro symlinks resolved), sorted."""
    found = {path.resolve() for folder in dirs if folder.is_dir() for path in folder.iterdir()
             if path.suffix.lower() in (".sf2", ".sf3") and path.resolve().is_file()}
    return sorted(found)


def vary_midi(midi: mido.MidiFile, seed: int) -> tuple[mido.MidiFile, dict]:
    """A copy with programs swapped within their GM family and channel volumes scaled by 0.6-1.0.

    Returns the copy and what changed: ``{"programs": {channel: {old: new}}, "volume_gain": {channel: g}}``.
    """
    rng = np.random.default_rng(seed)
    gains = {channel: float(rng.uniform(0.6, 1.0)) for channel in range(16)}
    swaps: dict[int, dict[int, int]] = {}
    varied = mido.MidiFile(type=midi.type, ticks_per_beat=midi.ticks_per_beat)
    for index, track in enumerate(midi.tracks):
        new_track = mido.MidiTrack()
        if index == 0:  # a starting volume for every channel, before the file's own controls at tick 0
            new_track += [mido.Message("control_change", channel=c, control=7, value=round(100 * g), time=0)
                          for c, g in gains.items()]
        for message in track:
            if message.type == "program_change" and message.channel != DRUM_CHANNEL:
                family_start = message.program - message.program % GM_FAMILY_SIZE
                table = swaps.setdefault(message.channel, {})
                new_program = table.setdefault(message.program, family_start + int(rng.integers(GM_FAMILY_SIZE)))
                message = message.copy(program=new_program)
            elif message.type == "control_change" and message.control == 7:
                message = message.copy(value=round(message.value * gains[message.channel]))
            new_track.append(message)
        varied.tracks.append(new_track)
    return varied, {"programs": swaps, "volume_gain": {c: round(g, 3) for c, g in gains.items()}}


def render_midi(midi: mido.MidiFile, soundfont: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) float32 mono audio of ``midi`` through fluidsynth, channels averaged, peak-normalised to 0.9.

    Normalising keeps quiet soundfonts and loud ones on one level; the gain is not a label.
    """
    if shutil.which("fluidsynth") is None:
        raise CorpusError("fluidsynth is not installed; install it (Debian: `apt-get install fluidsynth "
                          "fluid-soundfont-gm`) or build with --no-render to write MIDI and labels only.")
    with tempfile.TemporaryDirectory() as scratch:
        midi_path, wav_path = Path(scratch) / "song.mid", Path(scratch) / "song.wav"
        midi.save(midi_path)
        result = subprocess.run(["fluidsynth", "-ni", "-q", "-r", str(sample_rate), "-g", "0.5", "-T", "wav",
                                 "-F", str(wav_path), str(soundfont), str(midi_path)],
                                capture_output=True, text=True)
        if result.returncode != 0 or not wav_path.exists():
            raise CorpusError(f"fluidsynth could not render with {soundfont}: {result.stderr.strip()[-400:]}")
        audio, rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise CorpusError(f"fluidsynth wrote {rate} Hz instead of the {sample_rate} Hz asked for.")
    mono = audio.mean(axis=1)
    return (mono / max(float(np.abs(mono).max()), 1e-9) * 0.9).astype(np.float32)
