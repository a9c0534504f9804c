"""Choreo's dance as keyframes for ComfyUI's Wan-Dancer, on Wan-Dancer's frame clock and segments.

What the core nodes expect (ComfyUI ``comfy_extras/nodes_wandancer.py``):

- Wan-Dancer works at 30 fps (``WanDancerPadKeyframes`` fixes fps = 30; ``WanDancerEncodeAudio`` resamples
  to 30 fps x hop 512) in segments of 149 frames (``length``, "should stay 149").
- A song of D seconds has ``int((D - 0.2) / (149 / 30)) + 1`` segments; segment s holds frames
  149 s .. 149 s + 148 of the song's 30 fps clock, i.e. seconds [149 s / 30, 149 (s + 1) / 30), back to back.
- Per segment, ``WanDancerVideo`` takes ``start_image`` = 149 frames with the keyframes at their frames and
  black elsewhere, and ``mask`` = (149, H, W) with 1 ("white is kept") on the keyframe frames and 0
  ("black is generated") elsewhere, plus the audio of that segment encoded by ``WanDancerEncodeAudio``.
  ``WanDancerPadKeyframes`` makes exactly these three from evenly spaced images; this module places the
  keyframes at chosen musical times instead (downbeats, every n beats, given frames).

One frame clock: a keyframe at t seconds lands on Wan-Dancer frame ``round(t * 30)``, and the dancer drawn
there is the dance's frame nearest to that frame's time, ``round(round(t * 30) / 30 * fps)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import ChoreoError
from ..music.analysis import MusicAnalysis
from ..pose.sequence import PoseSequence2D
from ..timeline import times_to_frames
from .dance_frames import iter_dance_frames
from .frame_range import pose_at_frames

WAN_DANCER_FPS = 30.0
SEGMENT_LENGTH = 149
SEGMENT_AUDIO_BUFFER_S = 0.2  # WanDancerPadKeyframes: a last piece shorter than this gets no segment
KEYFRAME_MODES = ("downbeats", "every_n_beats", "every_n_frames", "frame_indices")


def segment_count(duration_s: float, segment_length: int = SEGMENT_LENGTH, fps: float = WAN_DANCER_FPS) -> int:
    """Segments Wan-Dancer gives a song of ``duration_s`` seconds (WanDancerPadKeyframes' rule)."""
    if duration_s <= SEGMENT_AUDIO_BUFFER_S:
        return 0
    return int((duration_s - SEGMENT_AUDIO_BUFFER_S) / (segment_length / fps)) + 1


@dataclass(frozen=True)
class KeyframeLayout:
    """Keyframes on Wan-Dancer's clock.

    wan_frames     : (K,) int64 increasing frame indices on the song's Wan-Dancer clock (frame w at w / fps s).
    num_segments   : segments of the whole song; segment s holds frames s * segment_length ... + segment_length - 1.
    segment_length : frames per segment (149).
    fps            : Wan-Dancer's frame rate (30).
    """

    wan_frames: np.ndarray
    num_segments: int
    segment_length: int = SEGMENT_LENGTH
    fps: float = WAN_DANCER_FPS

    @property
    def segments(self) -> np.ndarray:
        """(K,) segment of each keyframe."""
        return self.wan_frames // self.segment_length

    @property
    def positions(self) -> np.ndarray:
        """(K,) frame of each keyframe inside its segment, 0 .. segment_length - 1."""
        return self.wan_frames % self.segment_length

    @property
    def times_s(self) -> np.ndarray:
        return self.wan_frames / self.fps

    def in_segment(self, segment: int) -> np.ndarray:
        """Indices (into ``wan_frames``) of the keyframes of one segment."""
        return np.flatnonzero(self.segments == segment)

    def only_segments(self, first: int, count: int) -> "KeyframeLayout":
        """The same layout keeping only the keyframes of segments first .. first + count - 1."""
        if not 0 <= first < self.num_segments:
            raise ChoreoError(f"first_segment {first} is outside the song's segments 0..{self.num_segments - 1}.")
        keep = (self.segments >= first) & (self.segments < first + count)
        return KeyframeLayout(self.wan_frames[keep], self.num_segments, self.segment_length, self.fps)

    def dance_frames(self, pose: PoseSequence2D) -> np.ndarray:
        """(K,) frame of ``pose`` drawn at each keyframe: the one nearest the keyframe's time; past the dance's
        end (the last segment runs past the song) the dancer holds the last frame."""
        return np.clip(times_to_frames(self.times_s, pose.fps), 0, pose.num_frames - 1)


def parse_frame_indices(text: str) -> np.ndarray:
    """'0, 30 61' -> (N,) int64 frame indices (commas or spaces)."""
    parts = text.replace(",", " ").split()
    try:
        indices = np.array([int(part) for part in parts], dtype=np.int64)
    except ValueError as exc:
        raise ChoreoError(f"frame_indices must be whole frame numbers separated by commas, got {text!r}.") from exc
    if indices.size and indices.min() < 0:
        raise ChoreoError(f"frame_indices must not be negative, got {indices.min()}.")
    return indices


def keyframe_times(mode: str, music: MusicAnalysis, every_n: int = 1, frame_indices: str = "",
                   dance_fps: float | None = None) -> np.ndarray:
    """(K,) seconds of the chosen keyframes.

    downbeats      : the first beat of every bar.
    every_n_beats  : beats 0, n, 2n, ... of the song.
    every_n_frames : every n-th frame of Wan-Dancer's 30 fps clock from 0 (n = 5 gives 6 keyframes a second).
    frame_indices  : the given frames of the dance, on the dance's own clock (``dance_fps``, e.g. the frames
                     the Pose Keyframe Editor shows).
    """
    if mode not in KEYFRAME_MODES:
        raise ChoreoError(f"keyframe mode must be one of {', '.join(KEYFRAME_MODES)}, got {mode!r}.")
    if every_n < 1:
        raise ChoreoError(f"every_n must be at least 1, got {every_n}.")
    if mode == "downbeats":
        return np.asarray(music.downbeat_times_s, dtype=np.float64)
    if mode == "every_n_beats":
        return np.asarray(music.beat_times_s, dtype=np.float64)[::every_n]
    if mode == "every_n_frames":
        return np.arange(0, int(np.ceil(music.duration_s * WAN_DANCER_FPS)), every_n) / WAN_DANCER_FPS
    if dance_fps is None:
        raise ChoreoError("frame_indices are frames of the dance: its fps is needed to place them in time.")
    indices = parse_frame_indices(frame_indices)
    if indices.size == 0:
        raise ChoreoError("keyframe mode 'frame_indices' needs at least one frame number in frame_indices.")
    return indices / float(dance_fps)


def layout_keyframes(times_s: np.ndarray, duration_s: float, anchor_segment_ends: bool = True,
                     segment_length: int = SEGMENT_LENGTH, fps: float = WAN_DANCER_FPS) -> KeyframeLayout:
    """Place keyframes at ``times_s`` on Wan-Dancer's frames and segments for a song of ``duration_s``.

    Each time goes to frame round(t * fps); times on the same frame merge, and times past the last segment
    (Wan-Dancer drops the song's last < 0.2 s) are left out. ``anchor_segment_ends`` also keys the first
    and last frame of every segment, as WanDancerPadKeyframes always does: each segment then starts from a
    keyframe (the template feeds frame 0 to CLIP vision) and ends on one.
    """
    num_segments = segment_count(duration_s, segment_length, fps)
    if num_segments == 0:
        raise ChoreoError(f"the song is {duration_s:.2f} s long; Wan-Dancer needs more than "
                          f"{SEGMENT_AUDIO_BUFFER_S} s of audio for a segment.")
    total = num_segments * segment_length
    frames = times_to_frames(np.asarray(times_s, dtype=np.float64), fps)
    frames = frames[(frames >= 0) & (frames < total)]
    if anchor_segment_ends:
        starts = np.arange(num_segments, dtype=np.int64) * segment_length
        frames = np.concatenate([frames, starts, starts + segment_length - 1])
    frames = np.unique(frames)
    if frames.size == 0:
        raise ChoreoError("no keyframe falls inside the song; choose another keyframe mode or turn on "
                          "anchor_segment_ends.")
    return KeyframeLayout(frames.astype(np.int64), num_segments, segment_length, fps)


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to width:height and resize, as WanDancerVideo fits start_image ("center" crop)."""
    import cv2

    frame_height, frame_width = frame.shape[:2]
    if frame_width * height > width * frame_height:  # wider than the target: crop the sides
        crop = int(round(frame_height * width / height))
        left = (frame_width - crop) // 2
        frame = frame[:, left:left + crop]
    elif frame_width * height < width * frame_height:  # taller: crop top and bottom
        crop = int(round(frame_width * height / width))
        top = (frame_height - crop) // 2
        frame = frame[top:top + crop]
    if frame.shape[:2] == (height, width):
        return np.ascontiguousarray(frame)
    shrinking = frame.shape[0] > height
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def iter_keyframe_images(pose: PoseSequence2D, layout: KeyframeLayout, width: int, height: int,
                         renderer: str = "puppet", **render_options) -> Iterator[np.ndarray]:
    """(height, width, 3) uint8 image of each keyframe of ``layout``, drawn by ``renderer``
    (``iter_dance_frames``' options: reference_image, reference_pose, figure_mask, draw_style, note)."""
    keyed = pose_at_frames(pose, layout.dance_frames(pose))
    for frame in iter_dance_frames(keyed, renderer, **render_options):
        yield fit_frame(frame, width, height)


def segment_keyframes(layout: KeyframeLayout, keyframe_images: np.ndarray,
                      segment: int) -> tuple[np.ndarray, np.ndarray]:
    """One segment as WanDancerVideo takes it.

    keyframe_images : (K, H, W, 3), one per keyframe of ``layout`` (uint8 from the renderers).
    Returns (segment_length, H, W, 3) frames of the same dtype (keyframes at their positions, black elsewhere) and the
    (segment_length,) bool mask of the keyframe frames (the MASK is this, 1 = keep, over the whole picture).
    """
    if not 0 <= segment < layout.num_segments:
        raise ChoreoError(f"segment {segment} is outside the song's segments 0..{layout.num_segments - 1}.")
    mine = layout.in_segment(segment)
    frames = np.zeros((layout.segment_length,) + keyframe_images.shape[1:], keyframe_images.dtype)
    keep = np.zeros(layout.segment_length, bool)
    frames[layout.positions[mine]] = keyframe_images[mine]
    keep[layout.positions[mine]] = True
    return frames, keep


def segment_audio(samples: np.ndarray, sample_rate: int, layout: KeyframeLayout, segment: int) -> np.ndarray:
    """(C, N) samples of one segment, cut like WanDancerPadKeyframes (from int(start * sr) to int(end * sr)),
    with the last segment padded with silence to the full segment length: WanDancerEncodeAudio sets
    fps = 30 / round(features / 149), which divides by zero for a piece under ~2.5 s and would otherwise
    differ from the 30 fps the keyframes are laid out on."""
    segment_s = layout.segment_length / layout.fps
    start = int(segment * segment_s * sample_rate)
    stop = int((segment + 1) * segment_s * sample_rate)
    piece = samples[:, start:min(stop, samples.shape[-1])]
    if piece.shape[-1] < stop - start:
        piece = np.pad(piece, ((0, 0), (0, stop - start - piece.shape[-1])))
    return piece


def check_same_song(music: MusicAnalysis, audio_duration_s: float, pose: PoseSequence2D) -> None:
    """The analysis, the audio and the dance must describe one song."""
    if abs(music.duration_s - audio_duration_s) > 0.1:
        raise ChoreoError(f"the music analysis is of {music.duration_s:.2f} s of audio but the audio is "
                          f"{audio_duration_s:.2f} s; connect the same song to Analyze Music and to this node.")
    if pose.duration_s > audio_duration_s + 1.0 / pose.fps:
        raise ChoreoError(f"the dance lasts {pose.duration_s:.2f} s but the song only {audio_duration_s:.2f} s; "
                          "make the dance from this song.")


def render_keyframe_images(pose: PoseSequence2D, layout: KeyframeLayout, width: int, height: int, renderer: str,
                    progress: Callable[[float], None] | None = None, **render_options) -> np.ndarray:
    """(K, height, width, 3) uint8 keyframe images, reporting progress per keyframe."""
    count = layout.wan_frames.size
    images = np.empty((count, height, width, 3), np.uint8)
    for index, image in enumerate(iter_keyframe_images(pose, layout, width, height, renderer, **render_options)):
        images[index] = image
        if progress is not None:
            progress((index + 1) / count)
    return images
