"""Reading song files into the core's Audio type, with errors that say what to do.

libsndfile (through soundfile) reads wav, flac, ogg and mp3 directly. Everything
else (m4a/aac, opus in webm, video files' sound tracks) is decoded by the ffmpeg
binary that imageio-ffmpeg bundles for the video export, so no system ffmpeg
is needed.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from ..errors import AudioInputError
from ..music.audio import Audio

SUPPORTED = "wav, flac, ogg, mp3 or m4a"
_TEXT_SNIFF_BYTES = 4096


class _DecodeFailure(Exception):
    """One decoder could not read the file; the message is its one-line reason."""


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    """(channels, N) float32 and the sample rate, via libsndfile."""
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, ValueError, TypeError, OSError) as error:  # LibsndfileError is a RuntimeError
        raise _DecodeFailure(f"libsndfile: {error}") from error
    return data.T, int(sample_rate)


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """(channels, N) float32 and the sample rate: the first audio stream decoded to float WAV by ffmpeg."""
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory(prefix="choreo_audio_") as tmp:
        wav = Path(tmp) / "decoded.wav"
        result = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
             "-map", "0:a:0", "-vn", "-c:a", "pcm_f32le", "-f", "wav", str(wav)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if result.returncode != 0:
            lines = result.stderr.decode(errors="replace").strip().splitlines() or [f"exit {result.returncode}"]
            raise _DecodeFailure(f"ffmpeg: {lines[-1]}")
        return _read_with_soundfile(wav)


def _looks_like_text(path: Path) -> bool:
    """True for a file that starts as UTF-8 text: audio containers hold NUL bytes within their first KiB."""
    with path.open("rb") as file:
        head = file.read(_TEXT_SNIFF_BYTES)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # a multi-byte character cut at the end is still text
            return False
    return b"\0" not in head


def load_audio(path: str | Path) -> Audio:
    """Decode a song file at its own sample rate: libsndfile first, then imageio-ffmpeg's ffmpeg.

    Returns Audio with samples (channels, N) float32 in [-1, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"audio file {str(path)!r} does not exist. Check the path.")
    if path.stat().st_size == 0:
        raise AudioInputError(f"audio file {path.name!r} is empty (0 bytes); the copy or download probably failed. Re-export it.")
    if _looks_like_text(path):
        raise AudioInputError(f"{path.name!r} is a text file, not audio. Pass the song itself ({SUPPORTED}).")
    problems = []
    for reader in (_read_with_soundfile, _read_with_ffmpeg):
        try:
            samples, sample_rate = reader(path)
            break
        except _DecodeFailure as failure:
            problems.append(str(failure))
    else:
        raise AudioInputError(
            f"could not decode audio file {path.name!r}: it is not audio or it is damaged ({'; '.join(problems)}). "
            f"Check that it is the song; if it is, re-export it as WAV or FLAC ({SUPPORTED} are read).")
    if samples.shape[-1] == 0:
        raise AudioInputError(f"audio file {path.name!r} holds no samples. Re-export it with sound in it.")
    return Audio.from_array(samples, sample_rate, name=f"audio file {path.name!r}")
