"""A picture of a MusicAnalysis: waveform, beats, bars, sections and tempo, for a preview node."""

from __future__ import annotations

import cv2
import numpy as np

from .analysis import MusicAnalysis
from .audio import Audio

# One colour language with the keyframe editor's timeline (web/js/editor/palette.js holds the same RGB values):
# blue waveform, light grey beats, amber downbeats, one colour per section label.
SECTION_COLOURS = ((70, 110, 190), (190, 120, 60), (80, 160, 90), (170, 80, 150), (60, 160, 170), (180, 170, 70))
WAVEFORM_COLOUR = (79, 143, 216)
BEAT_COLOUR = (220, 220, 230)
DOWNBEAT_COLOUR = (255, 200, 60)
BACKGROUND = (24, 24, 28)


def draw_analysis_preview(audio: Audio, analysis: MusicAnalysis, width: int = 1024, height: int = 256) -> np.ndarray:
    """(height, width, 3) uint8 RGB image of the analysis on a time axis spanning the song.

    Section bands (labelled, repeats share a colour), the waveform's peak envelope,
    thin beat ticks, taller downbeat ticks and the tempo and meter as text.
    """
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    x_per_s = width / max(analysis.duration_s, 1e-9)
    band_top = height - 22
    for section in analysis.sections:
        colour = SECTION_COLOURS[(ord(section.label[0]) - ord("A")) % len(SECTION_COLOURS)]
        x0, x1 = int(section.start_s * x_per_s), max(int(section.end_s * x_per_s) - 1, int(section.start_s * x_per_s))
        cv2.rectangle(image, (x0, band_top), (x1, height - 1), colour, thickness=-1)
        cv2.putText(image, section.label, (x0 + 4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
    mono = np.abs(audio.mono())
    columns = np.array_split(mono, width) if len(mono) >= width else [mono] * width
    peaks = np.array([c.max() if len(c) else 0.0 for c in columns])
    peaks = peaks / max(float(peaks.max()), 1e-9)
    middle, half = band_top // 2 + 12, (band_top - 30) // 2
    for x, peak in enumerate(peaks):
        cv2.line(image, (x, int(middle - peak * half)), (x, int(middle + peak * half)), WAVEFORM_COLOUR, 1)
    for beat_s, position in zip(analysis.beat_times_s, analysis.beat_in_bar):
        x = int(beat_s * x_per_s)
        if position == 0:
            cv2.line(image, (x, 24), (x, band_top - 1), DOWNBEAT_COLOUR, 2)
        else:
            cv2.line(image, (x, middle - half // 3), (x, middle + half // 3), BEAT_COLOUR, 1)
    text = f"{analysis.tempo_bpm:.1f} BPM  {analysis.beats_per_bar} beats/bar  {len(analysis.beat_times_s)} beats"
    cv2.putText(image, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    return image
