"""Reading song files into the core's Audio type, with errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from ..errors import AudioInputError
from ..music.audio import Audio

SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"}


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return data.T, int(sample_rate)


def _read_with_librosa(path: Path) -> tuple[np.ndarray, int]:
    """mp3, m4a and friends through librosa's audioread / ffmpeg fallback; (channels, N)."""
    import librosa

    data, sample_rate = librosa.load(str(path), sr=None, mono=False)
    return np.atleast_2d(data).astype(np.float32), int(sample_rate)


def load_audio(path: str | Path) -> Audio:
    """Decode a song file (wav/flac/ogg via libsndfile; mp3/m4a/others via librosa) at its own sample rate.

    Returns Audio with samples (channels, N) float32 in [-1, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"audio file {str(path)!r} does not exist. Check the path or put the file in ComfyUI's input folder.")
    if path.stat().st_size == 0:
        raise AudioInputError(f"audio file {path.name!r} is empty (0 bytes); the copy or download probably failed. Re-export it.")
    readers = [_read_with_soundfile, _read_with_librosa] if path.suffix.lower() in SOUNDFILE_SUFFIXES \
        else [_read_with_librosa]
    problems = []
    for reader in readers:
        try:
            samples, sample_rate = reader(path)
            break
        except Exception as error:  # decoders raise many unrelated types for a bad file
            problems.append(f"{type(error).__name__}: {error}")
    else:
        raise AudioInputError(
            f"could not decode audio file {path.name!r} ({'; '.join(problems)}). The file is corrupt or in an "
            "unsupported format: re-export it as WAV or FLAC (for mp3/m4a, install ffmpeg).")
    if samples.shape[-1] == 0:
        raise AudioInputError(f"audio file {path.name!r} holds no samples. Re-export it with sound in it.")
    return Audio.from_array(samples, sample_rate, name=f"audio file {path.name!r}")
