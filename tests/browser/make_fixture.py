"""Write the recorded server responses the browser test serves, deterministically (standard library only).

A synthetic whole-body skeleton (136 keypoints) dances to a 120 BPM click track; the files mimic the pack's
routes: ``GET /choreo/editor/{id}`` (pose sequence, music analysis, media URLs), its audio and image, and the
pose library. Node 7 is a 10 s clip, node 8 a 3 min clip for timings, node 10 the 10 s clip again (its
workflow widget holds stale edits), node 9 never ran (no file, so the route answers 404). Node 11 is the 10 s
clip moved right so the left arm leaves the picture, with the right forearm foreshortened (pointing at the
camera, 20 px long) in its first second. ``editor_12-5.json`` answers for node 5 inside subgraph node 12
(executed id "12:5").

Usage: python make_fixture.py OUT_DIR
"""

from __future__ import annotations

import base64
import json
import math
import struct
import sys
import wave
import zlib
from pathlib import Path

WIDTH, HEIGHT = 512, 768
FPS = 30
TEMPO_BPM = 120.0
BEATS_PER_BAR = 4
NUM_KEYPOINTS = 136
FINGERPRINT = "5eedc0de" * 4


def polar(origin, length, angle):
    return (origin[0] + length * math.cos(angle), origin[1] + length * math.sin(angle))


def hand(wrist, angle, side):
    """21 hand points fanned out along the forearm direction."""
    points = [wrist]
    for finger in range(5):
        spread = angle + side * (finger - 2) * 0.28
        base = polar(wrist, 12, spread)
        for k in range(4):
            points.append(polar(base, 7 * k, spread))
    return points


def face(nose):
    """70 face points: contour, brows, nose, eyes, mouth, pupils, around the nose."""
    cx, cy = nose
    pts = [(cx + 30 * math.cos(math.pi * (1 - i / 16)), cy - 4 + 34 * math.sin(math.pi * i / 16) * 0.9)
           for i in range(17)]
    pts += [(cx - 24 + 10 * i, cy - 24 - 3 * math.sin(math.pi * i / 4)) for i in range(5)]
    pts += [(cx + 4 + 10 * i, cy - 24 - 3 * math.sin(math.pi * i / 4)) for i in range(5)]
    pts += [(cx, cy - 16 + 4 * i) for i in range(4)]
    pts += [(cx - 8 + 4 * i, cy + 2) for i in range(5)]
    for ex in (cx - 13, cx + 13):
        pts += [(ex + 6 * math.cos(a), cy - 12 + 3 * math.sin(a)) for a in [math.pi * k / 3 for k in range(6)]]
    pts += [(cx + 14 * math.cos(math.pi * (1 - i / 11)), cy + 14 + 4 * math.sin(math.pi * i / 11))
            for i in range(12)]
    pts += [(cx + 8 * math.cos(math.pi * (1 - i / 7)), cy + 14 + 2 * math.sin(math.pi * i / 7)) for i in range(8)]
    pts += [(cx - 13, cy - 12), (cx + 13, cy - 12)]
    return pts


def pose_at(t_s: float, arms_up: bool = False):
    """(136, 3) keypoints of the dancer at time t_s: bounce on beats, arm swings, knee bends."""
    beat = t_s * TEMPO_BPM / 60.0
    bounce = 10 * abs(math.sin(math.pi * beat))
    sway = 24 * math.sin(math.pi * beat / 2)
    neck = (256 + sway, 220 + bounce)
    swing = 0.0 if arms_up else 0.9 * math.sin(math.pi * beat / 2)
    body = [None] * 18
    body[1] = neck
    body[0] = (neck[0], neck[1] - 48)
    body[2] = (neck[0] - 55, neck[1] + 6)
    body[5] = (neck[0] + 55, neck[1] + 6)
    r_up = -math.pi / 2 - 0.4 if arms_up else math.pi / 2 + 0.5 + swing
    l_up = -math.pi / 2 + 0.4 if arms_up else math.pi / 2 - 0.5 + swing
    body[3] = polar(body[2], 90, r_up)
    body[4] = polar(body[3], 85, r_up - 0.5 * (1 + swing))
    body[6] = polar(body[5], 90, l_up)
    body[7] = polar(body[6], 85, l_up + 0.5 * (1 - swing))
    body[8] = (neck[0] - 30, neck[1] + 200)
    body[11] = (neck[0] + 30, neck[1] + 200)
    bend = 0.25 * abs(math.sin(math.pi * beat))
    body[9] = polar(body[8], 115, math.pi / 2 + bend)
    body[10] = polar(body[9], 110, math.pi / 2 - bend)
    body[12] = polar(body[11], 115, math.pi / 2 - bend)
    body[13] = polar(body[12], 110, math.pi / 2 + bend)
    nose = body[0]
    body[14] = (nose[0] - 12, nose[1] - 10)
    body[15] = (nose[0] + 12, nose[1] - 10)
    body[16] = (nose[0] - 26, nose[1] - 4)
    body[17] = (nose[0] + 26, nose[1] - 4)
    la, ra = body[13], body[10]
    feet = [(la[0] + 16, la[1] + 10), (la[0] + 26, la[1] + 8), (la[0] - 8, la[1] + 6),
            (ra[0] - 16, ra[1] + 10), (ra[0] - 26, ra[1] + 8), (ra[0] + 8, ra[1] + 6)]
    left_angle = math.atan2(body[7][1] - body[6][1], body[7][0] - body[6][0])
    right_angle = math.atan2(body[4][1] - body[3][1], body[4][0] - body[3][0])
    points = body + feet + face(nose) + hand(body[7], left_angle, 1) + hand(body[4], right_angle, -1)
    assert len(points) == NUM_KEYPOINTS
    return [(x, y, 1.0) for x, y in points]


def music(duration_s: float, labels):
    beat_s = 60.0 / TEMPO_BPM
    beats = [round(i * beat_s, 4) for i in range(int(duration_s / beat_s) + 1) if i * beat_s < duration_s]
    downbeats = beats[::BEATS_PER_BAR]
    bounds = [0.0] + [round(duration_s * k / len(labels), 3) for k in range(1, len(labels))] + [duration_s]
    sections = [{"start_s": bounds[i], "end_s": bounds[i + 1], "label": label} for i, label in enumerate(labels)]
    peaks = []
    for i in range(2000):
        t = duration_s * i / 2000
        since = t % beat_s
        down = (t % (beat_s * BEATS_PER_BAR)) < beat_s
        peaks.append(round(min(1.0, 0.12 + (0.85 if down else 0.55) * math.exp(-since / 0.07)), 3))
    return {"duration_s": duration_s, "tempo_bpm": TEMPO_BPM, "beats_per_bar": BEATS_PER_BAR,
            "beat_times_s": beats, "downbeat_times_s": downbeats, "sections": sections, "waveform_peaks": peaks}


OFF_PICTURE_SHIFT_PX = 180  # node 11: moves the left elbow and wrist past the right edge of the picture
FORESHORTENED_PX = 20  # node 11: the right forearm's length in its first second
RIGHT_ELBOW, RIGHT_WRIST, RIGHT_HAND_START = 3, 4, 115


def off_picture_pose(t_s: float):
    """Node 11's dancer: shifted right by OFF_PICTURE_SHIFT_PX; for t < 1 s the right forearm (and hand) is
    pulled in to FORESHORTENED_PX along its direction, as a forearm pointing at the camera projects."""
    points = [(x + OFF_PICTURE_SHIFT_PX, y, c) for x, y, c in pose_at(t_s)]
    if t_s < 1.0:
        (ex, ey, _), (wx, wy, _) = points[RIGHT_ELBOW], points[RIGHT_WRIST]
        length = math.hypot(wx - ex, wy - ey)
        dx, dy = (ex + (wx - ex) * FORESHORTENED_PX / length) - wx, (ey + (wy - ey) * FORESHORTENED_PX / length) - wy
        for j in [RIGHT_WRIST] + list(range(RIGHT_HAND_START, RIGHT_HAND_START + 21)):
            x, y, c = points[j]
            points[j] = (x + dx, y + dy, c)
    return points


def editor_response(node_id: str, duration_s: float, labels, media: bool, pose=pose_at):
    num_frames = int(duration_s * FPS)
    values = []
    for frame in range(num_frames):
        for x, y, c in pose(frame / FPS):
            values += (x, y, c)
    return {
        "node_id": node_id, "fingerprint": FINGERPRINT, "fps": FPS, "num_frames": num_frames,
        "canvas_width": WIDTH, "canvas_height": HEIGHT,
        "keypoints": base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii"),
        "music": music(duration_s, labels),
        "audio_url": f"/choreo/editor/{node_id}/audio" if media else None,
        "image_url": f"/choreo/editor/{node_id}/image" if media else None,
    }


def click_track_wav(path: Path, duration_s: float, sample_rate: int = 8000):
    beat_s = 60.0 / TEMPO_BPM
    frames = bytearray()
    for n in range(int(duration_s * sample_rate)):
        t = n / sample_rate
        since = t % beat_s
        amp = 0.6 * math.exp(-since / 0.01) * math.sin(2 * math.pi * 1000 * t) + 0.05 * math.sin(2 * math.pi * 110 * t)
        frames += struct.pack("<h", int(max(-1.0, min(1.0, amp)) * 32000))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(bytes(frames))


def reference_png(path: Path):
    """A plain backdrop with a soft figure-shaped blob, so the dimmed reference image is visible."""
    rows = []
    for y in range(HEIGHT):
        row = bytearray([0])
        for x in range(WIDTH):
            inside = ((x - 256) / 70) ** 2 + ((y - 360) / 230) ** 2 < 1
            row += bytes((200, 150, 120) if inside else (40 + y // 8, 70, 110 + x // 6))
        rows.append(bytes(row))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


def main(out_dir: Path):
    out_dir.mkdir(parents=True, exist_ok=True)
    short = editor_response("7", 10.0, ["intro", "verse", "chorus"], media=True)
    (out_dir / "editor_7.json").write_text(json.dumps(short))
    (out_dir / "editor_10.json").write_text(json.dumps({**short, "node_id": "10"}))
    (out_dir / "editor_12-5.json").write_text(json.dumps({**short, "node_id": "12:5"}))
    off = editor_response("11", 10.0, ["intro", "verse", "chorus"], media=False, pose=off_picture_pose)
    (out_dir / "editor_11.json").write_text(json.dumps(off))
    long_labels = ["intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"]
    (out_dir / "editor_8.json").write_text(json.dumps(editor_response("8", 180.0, long_labels, media=False)))
    click_track_wav(out_dir / "audio_7.wav", 10.0)
    reference_png(out_dir / "image_7.png")
    (out_dir / "poses.json").write_text(json.dumps({"poses": [{"name": "arms_up", "source": "starter", "frames": 1}]}))
    (out_dir / "pose_arms_up.json").write_text(json.dumps({
        "name": "arms_up", "canvas_width": WIDTH, "canvas_height": HEIGHT,
        "keypoints": [[round(x, 2), round(y, 2), c] for x, y, c in pose_at(0.0, arms_up=True)]}))
    (out_dir / "meta.json").write_text(json.dumps({"fingerprint": FINGERPRINT, "fps": FPS}))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "fixture" / "recorded")
