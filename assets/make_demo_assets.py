"""Regenerate Choreo's demo assets: a synthesized groove, a cartoon dancer and its reference pose.

Run from the repository root: ``python assets/make_demo_assets.py``. Output is
deterministic (fixed seeds, no external inputs): ``demo_track.ogg``,
``demo_character.png`` and ``demo_character_pose.json`` next to this script.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SAMPLE_RATE = 22050
TEMPO_BPM = 112.0
DURATION_S = 24.0
BEAT_S = 60.0 / TEMPO_BPM
BAR_S = 4 * BEAT_S
# A (4 bars) - B (3 bars) - A (4 bars) = 23.57 s, then a closing hit rings out to 24 s.
SECTIONS: tuple[tuple[str, int], ...] = (("A", 4), ("B", 3), ("A", 4))
# Chord roots per bar (MIDI) and triad quality: A minor groove, B lifts to the relative major.
PROGRESSIONS = {"A": ((45, "m"), (41, "M"), (48, "M"), (43, "M")), "B": ((50, "m"), (48, "M"), (52, "M"))}

CANVAS_W, CANVAS_H = 512, 768
SUPERSAMPLE = 2


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def _env(length_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(int(length_s * SAMPLE_RATE)) / SAMPLE_RATE
    return np.exp(-t / decay_s)


def _add(track: np.ndarray, start_s: float, sound: np.ndarray) -> None:
    start = int(round(start_s * SAMPLE_RATE))
    stop = min(len(track), start + len(sound))
    if stop > start:
        track[start:stop] += sound[:stop - start]


def _kick() -> np.ndarray:
    t = np.arange(int(0.35 * SAMPLE_RATE)) / SAMPLE_RATE
    freq = 45 + 75 * np.exp(-t / 0.04)  # pitch drop 120 -> 45 Hz
    return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * _env(0.35, 0.12)


def _snare(rng: np.random.Generator) -> np.ndarray:
    n = int(0.2 * SAMPLE_RATE)
    noise = np.diff(rng.standard_normal(n + 1))  # first difference: brighter than white noise
    tone = np.sin(2 * np.pi * 185 * np.arange(n) / SAMPLE_RATE)
    return (0.35 * noise * _env(0.2, 0.06) + 0.5 * tone * _env(0.2, 0.04))


def _hat(rng: np.random.Generator, decay_s: float) -> np.ndarray:
    n = int(0.08 * SAMPLE_RATE)
    noise = np.diff(rng.standard_normal(n + 2), n=2)  # second difference: hiss without body
    return 0.12 * noise * _env(0.08, decay_s)


def _tone(freq_hz: float, length_s: float, decay_s: float, harmonics: int) -> np.ndarray:
    t = np.arange(int(length_s * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(np.sin(2 * np.pi * freq_hz * k * t) / k for k in range(1, harmonics + 1))
    attack = np.minimum(1.0, t / 0.005)  # 5 ms fade-in avoids clicks
    return wave * attack * np.exp(-t / decay_s)


def _triad(root: int, quality: str) -> tuple[int, int, int]:
    return (root + 12, root + 12 + (3 if quality == "m" else 4), root + 19)


def make_track() -> np.ndarray:
    """(N,) float32 mono at 22050 Hz, peak 0.9."""
    rng = np.random.default_rng(112)
    track = np.zeros(int(DURATION_S * SAMPLE_RATE), np.float64)
    kick, snare = _kick(), _snare(rng)
    bar_start = 0.0
    for section, bars in SECTIONS:
        for bar in range(bars):
            root, quality = PROGRESSIONS[section][bar % len(PROGRESSIONS[section])]
            kicks = (0, 1, 2, 3) if section == "B" else (0, 1.5, 2)  # B: four on the floor
            for beat in kicks:
                _add(track, bar_start + beat * BEAT_S, 0.9 * kick)
            for beat in (1, 3):
                _add(track, bar_start + beat * BEAT_S, 0.6 * snare)
            step = 0.25 if section == "B" else 0.5  # B: sixteenth hats
            for k in range(int(4 / step)):
                accent = 1.0 if (k * step) % 1 == 0.5 else 0.6
                _add(track, bar_start + k * step * BEAT_S, accent * _hat(rng, 0.015))
            bass_pattern = (0, 0, 12, 0, 0, 7, 12, 10) if section == "A" else (0, 12, 0, 12, 7, 12, 5, 7)
            for k, interval in enumerate(bass_pattern):
                _add(track, bar_start + k * 0.5 * BEAT_S, 0.35 * _tone(_midi_hz(root - 12 + interval), 0.25, 0.12, 3))
            stab_beats = (0.5, 2.5) if section == "A" else (0.5, 1.5, 2.5, 3.5)
            for beat in stab_beats:
                chord = sum(_tone(_midi_hz(n), 0.3, 0.09, 5) for n in _triad(root, quality))
                _add(track, bar_start + beat * BEAT_S, 0.12 * chord)
            bar_start += BAR_S
    _add(track, bar_start, 0.9 * kick)
    _add(track, bar_start, 0.15 * sum(_tone(_midi_hz(n), 0.5, 0.2, 5) for n in _triad(45, "m")))
    fade = np.minimum(1.0, (len(track) - np.arange(len(track))) / (0.05 * SAMPLE_RATE))
    track *= fade
    return (0.9 * track / np.abs(track).max()).astype(np.float32)


# Where the character's joints are drawn, in output pixels (x right, y down). The
# character faces the viewer, so its right side is on the image's left.
BODY_PX: dict[str, tuple[float, float]] = {
    "nose": (256, 146), "neck": (256, 222),
    "right_shoulder": (200, 236), "right_elbow": (170, 338), "right_wrist": (150, 436),
    "left_shoulder": (312, 236), "left_elbow": (342, 338), "left_wrist": (362, 436),
    "right_hip": (224, 440), "right_knee": (212, 566), "right_ankle": (204, 688),
    "left_hip": (288, 440), "left_knee": (300, 566), "left_ankle": (308, 688),
    "right_eye": (238, 128), "left_eye": (274, 128), "right_ear": (206, 134), "left_ear": (306, 134),
}
FEET_PX: dict[str, tuple[float, float]] = {
    "left_big_toe": (318, 718), "left_small_toe": (340, 714), "left_heel": (306, 704),
    "right_big_toe": (194, 718), "right_small_toe": (172, 714), "right_heel": (206, 704),
}
BODY_ORDER = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
              "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
              "right_eye", "left_eye", "right_ear", "left_ear")
FEET_ORDER = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")

SKIN = (246, 200, 164)
HAIR = (74, 46, 32)
SHIRT = (226, 74, 60)
TROUSERS = (46, 72, 132)
SHOE = (40, 36, 40)
OUTLINE = (34, 30, 34)
BACKGROUND = (238, 234, 226)


def _s(point: tuple[float, float]) -> tuple[float, float]:
    return (point[0] * SUPERSAMPLE, point[1] * SUPERSAMPLE)


def _chain(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], widths: list[float],
           fill: tuple[int, int, int]) -> None:
    """Thick, round-capped segments with one dark outline around the whole chain (no seams at joints)."""
    for extra, colour in ((6, OUTLINE), (0, fill)):
        for a, b, width in zip(points[:-1], points[1:], widths):
            w = width + extra
            draw.line([_s(a), _s(b)], fill=colour, width=int(w * SUPERSAMPLE))
            for p in (a, b):
                r = w / 2 * SUPERSAMPLE
                x, y = _s(p)
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def _poly(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], fill: tuple[int, int, int]) -> None:
    draw.polygon([_s(p) for p in points], fill=fill, outline=OUTLINE, width=3 * SUPERSAMPLE)


def _ellipse(draw: ImageDraw.ImageDraw, centre: tuple[float, float], rx: float, ry: float,
             fill: tuple[int, int, int], outline: bool = True) -> None:
    x, y = _s(centre)
    box = [x - rx * SUPERSAMPLE, y - ry * SUPERSAMPLE, x + rx * SUPERSAMPLE, y + ry * SUPERSAMPLE]
    draw.ellipse(box, fill=fill, outline=OUTLINE if outline else None, width=3 * SUPERSAMPLE)


def make_character() -> Image.Image:
    """512x768 RGB cartoon dancer standing in the pose of ``BODY_PX`` / ``FEET_PX``."""
    image = Image.new("RGB", (CANVAS_W * SUPERSAMPLE, CANVAS_H * SUPERSAMPLE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    b, f = BODY_PX, FEET_PX
    # legs (trousers) and shoes
    for side in ("right", "left"):
        _chain(draw, [b[f"{side}_hip"], b[f"{side}_knee"], b[f"{side}_ankle"]], [50, 42], TROUSERS)
        heel, big, small = f[f"{side}_heel"], f[f"{side}_big_toe"], f[f"{side}_small_toe"]
        toe_x = (big[0] + small[0]) / 2
        _ellipse(draw, ((heel[0] + toe_x) / 2, (heel[1] + big[1]) / 2 + 2), 30, 16, SHOE)
    _poly(draw, [(214, 420), (298, 420), (306, 470), (206, 470)], TROUSERS)  # hips
    # arms: sleeve to the elbow, bare forearm, round hand
    for side in ("right", "left"):
        _chain(draw, [b[f"{side}_elbow"], b[f"{side}_wrist"]], [28], SKIN)
        _chain(draw, [b[f"{side}_shoulder"], b[f"{side}_elbow"]], [38], SHIRT)
        wrist, elbow = np.array(b[f"{side}_wrist"]), np.array(b[f"{side}_elbow"])
        hand = wrist + (wrist - elbow) / np.linalg.norm(wrist - elbow) * 16
        _ellipse(draw, tuple(hand), 19, 22, SKIN)
    # neck and shirt
    _poly(draw, [(242, 190), (270, 190), (272, 232), (240, 232)], SKIN)
    _poly(draw, [(196, 226), (316, 226), (300, 440), (212, 440)], SHIRT)
    _poly(draw, [(236, 226), (276, 226), (256, 252)], SKIN)  # collar opening
    # head: ears, face, hair, eyes, mouth
    for side in ("right", "left"):
        _ellipse(draw, b[f"{side}_ear"], 12, 18, SKIN)
    _ellipse(draw, (256, 138), 50, 60, SKIN)
    draw.chord([_s((202, 66)), _s((310, 170))], 180, 360, fill=HAIR, outline=OUTLINE, width=3 * SUPERSAMPLE)
    _poly(draw, [(206, 112), (226, 96), (222, 128)], HAIR)  # side locks
    _poly(draw, [(306, 112), (286, 96), (290, 128)], HAIR)
    for side in ("right", "left"):
        _ellipse(draw, b[f"{side}_eye"], 9, 11, (255, 255, 255))
        _ellipse(draw, (b[f"{side}_eye"][0], b[f"{side}_eye"][1] + 2), 4.5, 5.5, OUTLINE, outline=False)
    nose = b["nose"]
    draw.arc([_s((nose[0] - 6, nose[1] - 8)), _s((nose[0] + 6, nose[1] + 4))], 20, 160, fill=OUTLINE,
             width=2 * SUPERSAMPLE)
    draw.arc([_s((238, 150)), _s((274, 176))], 20, 160, fill=OUTLINE, width=3 * SUPERSAMPLE)
    return image.resize((CANVAS_W, CANVAS_H), Image.LANCZOS)


def character_pose() -> list[dict]:
    """The drawn joints as a one-frame POSE_KEYPOINT list (pixels, confidence 1; hands and face null)."""
    body = [v for name in BODY_ORDER for v in (*BODY_PX[name], 1.0)]
    feet = [v for name in FEET_ORDER for v in (*FEET_PX[name], 1.0)]
    person = {"pose_keypoints_2d": [float(v) for v in body], "foot_keypoints_2d": [float(v) for v in feet],
              "face_keypoints_2d": None, "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}
    return [{"people": [person], "canvas_width": CANVAS_W, "canvas_height": CANVAS_H}]


def main() -> None:
    sf.write(HERE / "demo_track.ogg", make_track(), SAMPLE_RATE, format="OGG", subtype="VORBIS",
             compression_level=0.6)
    make_character().save(HERE / "demo_character.png", optimize=True)
    (HERE / "demo_character_pose.json").write_text(json.dumps(character_pose(), indent=1) + "\n")


if __name__ == "__main__":
    main()
