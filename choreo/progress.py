"""Render progress for a terminal: frames done of the total, frames per second and time left.

On a terminal one line is rewritten in place (carriage return) a few times a
second; in a log file or pipe a plain line is printed every ``every_s`` seconds,
so a long song shows it is alive without flooding the log.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

TTY_REFRESH_S = 0.25  # redraw often enough to look live, rarely enough to cost nothing
LOG_EVERY_S = 10.0


def format_duration(seconds: float) -> str:
    """``75.4`` -> ``'1:15'``; hours as ``'1:02:03'``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class FrameProgress:
    """Callable as ``progress(frames_done, total_frames)``; prints to ``stream``.

    clock : seconds, monotonic; injectable so tests need no waiting.
    """

    def __init__(self, stream: TextIO = sys.stderr, label: str = "render", is_tty: bool | None = None,
                 every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.label = label
        self.is_tty = stream.isatty() if is_tty is None else is_tty
        self.every_s = TTY_REFRESH_S if self.is_tty else every_s
        self.clock = clock
        self.started_s: float | None = None
        self.shown_s = float("-inf")

    def line(self, frames_done: int, total_frames: int) -> str:
        """The status text, e.g. ``render 120/750 frames (16%), 4.1 fps, 2:33 left``."""
        elapsed_s = self.clock() - self.started_s
        percent = 100 * frames_done // max(total_frames, 1)
        text = f"{self.label} {frames_done}/{total_frames} frames ({percent}%)"
        if frames_done > 0 and elapsed_s > 0:
            fps = frames_done / elapsed_s
            text += f", {fps:.1f} fps, {format_duration((total_frames - frames_done) / fps)} left"
        return text

    def __call__(self, frames_done: int, total_frames: int) -> None:
        now_s = self.clock()
        if self.started_s is None:
            self.started_s = now_s
        finished = frames_done >= total_frames
        if not finished and now_s - self.shown_s < self.every_s:
            return
        self.shown_s = now_s
        if self.is_tty:
            self.stream.write(f"\r  {self.line(frames_done, total_frames)}\033[K" + ("\n" if finished else ""))
        else:
            self.stream.write(f"  {self.line(frames_done, total_frames)}\n")
        self.stream.flush()
