"""MP4 export: H.264 video from RGB frames, with the song muxed so picture and sound end together.

Frames are piped raw to the ffmpeg binary bundled with imageio-ffmpeg, one at a
time, so memory stays bounded whatever the length. With audio the video is
encoded first, then the audio is cut (or padded with silence) to exactly
``frames written / fps`` seconds and muxed without re-encoding the video; the
frame count need not be known in advance.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import soundfile as sf

from ..errors import ChoreoError, ImageInputError
from ..music.audio import Audio

ProgressFn = Callable[[float], None]  # fraction done, 0..1, as everywhere in the core
_STDERR_TAIL_CHARS = 2000


class VideoExportError(ChoreoError):
    """ffmpeg could not write the video (bad path, full disk, unsupported size)."""


def _ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _check_frame(frame: np.ndarray, index: int, shape: tuple[int, ...] | None) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ImageInputError(
            f"video frame {index} must be an (H, W, 3) uint8 RGB array, got {getattr(frame, 'shape', type(frame))} "
            f"{getattr(frame, 'dtype', '')}; convert float images with (img * 255).round().astype(np.uint8).")
    if shape is not None and frame.shape != shape:
        raise ImageInputError(f"video frame {index} is {frame.shape} but frame 0 was {shape}; all frames need one size.")
    return np.ascontiguousarray(frame)


def _run_checked(args: list[str], what: str) -> None:
    result = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace")[-_STDERR_TAIL_CHARS:]
        raise VideoExportError(f"ffmpeg failed while {what} (exit {result.returncode}):\n{tail}")


def _encode_video(path: Path, frames: Iterable[np.ndarray], fps: float, num_frames: int | None, crf: int,
                  progress: ProgressFn | None) -> int:
    """Pipe frames to libx264; returns how many frames were written."""
    iterator = iter(frames)
    first = next(iterator, None) if num_frames != 0 else None
    if first is None:
        raise ImageInputError("no frames to write: the video needs at least one frame.")
    first = _check_frame(first, 0, None)
    height, width = first.shape[:2]
    args = [_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", repr(float(fps)), "-i", "-",
            "-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p needs even sizes: pad right/bottom with black
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(int(crf)), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(path)]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
        written = 0
        try:
            frame = first
            while True:
                proc.stdin.write(memoryview(frame).cast("B"))
                written += 1
                if progress is not None and num_frames:
                    progress(written / num_frames)
                if num_frames is not None and written >= num_frames:
                    break
                frame = next(iterator, None)
                if frame is None:
                    break
                frame = _check_frame(frame, written, first.shape)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            path.unlink(missing_ok=True)
            raise
        code = proc.wait()
        if code != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-_STDERR_TAIL_CHARS:]
            raise VideoExportError(f"ffmpeg failed while encoding {path} (exit {code}):\n{tail}")
    if num_frames is not None and written < num_frames:
        raise ImageInputError(f"expected {num_frames} frames but only {written} arrived; pass the right num_frames.")
    return written


def _fit_audio(audio: Audio, duration_s: float) -> np.ndarray:
    """(N, C) float32 samples cut or silence-padded to exactly ``duration_s``."""
    target = int(round(duration_s * audio.sample_rate))
    samples = np.zeros((target, audio.samples.shape[0]), np.float32)
    keep = min(target, audio.samples.shape[1])
    samples[:keep] = audio.samples[:, :keep].T
    return samples


def write_mp4(path: str | Path, frames: Iterable[np.ndarray] | np.ndarray, fps: float, audio: Audio | None = None,
              num_frames: int | None = None, crf: int = 18, progress: ProgressFn | None = None) -> Path:
    """Write an H.264 (yuv420p) MP4, with AAC audio trimmed to the video's length.

    frames     : (T, H, W, 3) uint8 RGB array, or any iterable of (H, W, 3) uint8 frames
                 (streamed; odd sizes are padded to even with black at the right/bottom).
    fps        : frames per second; the video lasts ``num_frames / fps`` seconds.
    audio      : muxed as AAC, cut or padded with silence so it ends with the last frame.
    num_frames : take this many frames (all when None); also the progress total.
    crf        : x264 quality, 0 (lossless) .. 51; 18 is visually lossless.
    progress   : called as ``progress(fraction_done)`` after each frame when ``num_frames`` is known.
    returns    : the output path.
    """
    if not fps > 0:
        raise ImageInputError(f"fps must be positive, got {fps}.")
    if num_frames is None and isinstance(frames, np.ndarray):
        num_frames = len(frames)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if audio is None:
        _encode_video(out, frames, fps, num_frames, crf, progress)
        return out
    with tempfile.TemporaryDirectory(prefix="choreo_mp4_") as tmp:
        video_only = Path(tmp) / "video.mp4"
        written = _encode_video(video_only, frames, fps, num_frames, crf, progress)
        wav = Path(tmp) / "audio.wav"
        sf.write(wav, _fit_audio(audio, written / fps), audio.sample_rate, subtype="FLOAT")
        _run_checked([_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-i", str(video_only), "-i", str(wav),
                      "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
                      "-movflags", "+faststart", str(out)], f"muxing audio into {out}")
    return out


@dataclass(frozen=True)
class VideoInfo:
    """What an MP4 holds. Durations in seconds; audio values are None without an audio stream."""

    num_frames: int
    fps: float
    width: int
    height: int
    video_duration_s: float
    audio_duration_s: float | None
    audio_sample_rate: int | None


def read_video_info(path: str | Path) -> VideoInfo:
    """Probe a video file: frame count by demuxing, audio length by decoding every sample."""
    import imageio_ffmpeg

    src = Path(path)
    if not src.is_file():
        raise VideoExportError(f"video file {src} does not exist.")
    probe = subprocess.run([_ffmpeg_exe(), "-hide_banner", "-i", str(src)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).stderr.decode(errors="replace")
    video = re.search(r"Stream #.*?Video: .*?, (\d+)x(\d+)[ ,].*?([\d.]+) fps", probe)
    if video is None:
        raise VideoExportError(f"{src} has no readable video stream:\n{probe[-_STDERR_TAIL_CHARS:]}")
    num_frames, _ = imageio_ffmpeg.count_frames_and_secs(str(src))
    fps = float(video.group(3))
    audio_rate = re.search(r"Stream #.*?Audio: .*?(\d+) Hz", probe)
    audio_duration_s = None
    sample_rate = None
    if audio_rate is not None:
        sample_rate = int(audio_rate.group(1))
        decoded = subprocess.run([_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(src), "-map", "0:a:0",
                                  "-ac", "1", "-f", "s16le", "-"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL).stdout
        audio_duration_s = len(decoded) / 2 / sample_rate
    return VideoInfo(int(num_frames), fps, int(video.group(1)), int(video.group(2)), num_frames / fps,
                     audio_duration_s, sample_rate)
