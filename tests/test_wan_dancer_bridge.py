"""Choreo's dance as Wan-Dancer keyframes: the layout follows ComfyUI's WanDancerPadKeyframes / WanDancerVideo
conventions (30 fps, 149-frame segments back to back, mask 1 = kept frame), keyframes land on round(t * 30),
the dancer drawn there is the dance at that time, and the node's outputs plug into the core nodes."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from choreo.errors import ChoreoError
from choreo.music.analysis import MusicAnalysis, Section
from choreo.pose.sequence import PoseSequence2D
from choreo.render.dance_frames import iter_dance_frames
from choreo.render.frame_range import BatchTooLargeError
from choreo.render.wan_dancer_keyframes import (SEGMENT_LENGTH, WAN_DANCER_FPS, fit_frame, keyframe_times,
                                                layout_keyframes, render_keyframe_images, segment_audio,
                                                segment_count, segment_keyframes)
from choreo.timeline import num_frames_for
from conftest import REPO_ROOT, click_track
from test_puppet import H, W, character, reference
from test_workflows import WORKFLOW_DIR, node_definitions, run_prompt, to_api_prompt

SEGMENT_S = SEGMENT_LENGTH / WAN_DANCER_FPS


def core_segment_count(duration_s: float) -> int:
    """WanDancerPadKeyframes.do_execute's rule, written out from its source (fps 30, buffer 0.2 s)."""
    segment_duration = 149 / 30
    return int((duration_s - 0.2) / segment_duration) + 1 if duration_s > 0.2 else 0


def music(duration_s: float, tempo_bpm: float = 120.0, first_beat_s: float = 0.13, fps: float = 30.0,
          beats_per_bar: int = 4) -> MusicAnalysis:
    beats = np.arange(first_beat_s, duration_s, 60.0 / tempo_bpm)
    in_bar = np.arange(beats.size) % beats_per_bar
    frames = num_frames_for(duration_s, fps)
    return MusicAnalysis(duration_s, fps, tempo_bpm, np.full(frames, tempo_bpm, np.float32), beats,
                         beats[in_bar == 0], beats_per_bar, in_bar, np.zeros(frames, np.float32),
                         np.zeros(frames, np.float32), (Section(0.0, duration_s, "A"),))


def dance(duration_s: float, fps: float) -> PoseSequence2D:
    """The reference character whose right wrist sweeps sideways, one pixel step per frame (so every frame's
    picture differs from its neighbours')."""
    ref = reference()
    frames = num_frames_for(duration_s, fps)
    keypoints = np.repeat(ref.keypoints_px, frames, axis=0).copy()
    confidence = np.repeat(ref.confidence, frames, axis=0)
    wrist = 4  # OpenPose body index of the right wrist
    keypoints[:, wrist, 0] = 20.0 + (np.arange(frames) % 150)
    return PoseSequence2D(keypoints, confidence, W, H, fps)


@pytest.mark.parametrize("duration_s", [0.5, 4.9, 5.0, 5.2, 9.93, 10.2, 31.0, 187.4])
def test_segment_count_is_the_core_nodes_rule(duration_s):
    assert segment_count(duration_s) == core_segment_count(duration_s)


@pytest.mark.parametrize("duration_s, tempo_bpm", [(6.0, 120.0), (12.3, 97.0), (31.0, 128.0)])
def test_downbeats_land_on_round_t_times_30_in_the_right_segment(duration_s, tempo_bpm):
    song = music(duration_s, tempo_bpm)
    layout = layout_keyframes(keyframe_times("downbeats", song), duration_s, anchor_segment_ends=False)
    expected = [round(t * 30) for t in song.downbeat_times_s if round(t * 30) < layout.num_segments * 149]
    assert layout.wan_frames.tolist() == expected
    for t, segment, position in zip(song.downbeat_times_s, layout.segments, layout.positions):
        assert segment == math.floor(round(t * 30) / 149) and position == round(t * 30) - 149 * segment
        # the segment's audio starts at 149 s / 30 seconds, so the key sits at the same song time in it
        assert abs(segment * SEGMENT_S + position / 30 - t) <= 0.5 / 30 + 1e-9


def test_anchors_key_the_first_and_last_frame_of_every_segment():
    layout = layout_keyframes(np.array([1.0]), 12.0)
    assert layout.num_segments == 3
    for segment in range(3):
        positions = layout.positions[layout.in_segment(segment)].tolist()
        assert positions[0] == 0 and positions[-1] == 148
    assert 30 in layout.wan_frames


def test_times_past_the_last_segment_are_dropped_like_the_core_drops_that_audio():
    duration = SEGMENT_S + 0.15  # one segment: the core leaves the song's last 0.15 s out
    layout = layout_keyframes(np.array([1.0, SEGMENT_S + 0.1]), duration, anchor_segment_ends=False)
    assert layout.num_segments == 1 and layout.wan_frames.tolist() == [30]


def test_every_n_beats_frames_and_given_dance_frames():
    song = music(8.0, 120.0, first_beat_s=0.0)
    assert np.allclose(keyframe_times("every_n_beats", song, every_n=2), np.arange(0.0, 8.0, 1.0))
    assert np.allclose(keyframe_times("every_n_frames", song, every_n=15), np.arange(0, 240, 15) / 30)
    # dance frames at 24 fps: frame 48 is at 2 s, i.e. Wan-Dancer frame 60
    times = keyframe_times("frame_indices", song, frame_indices="0, 48,96", dance_fps=24.0)
    assert layout_keyframes(times, 8.0, anchor_segment_ends=False).wan_frames.tolist() == [0, 60, 120]
    with pytest.raises(ChoreoError, match="whole frame numbers"):
        keyframe_times("frame_indices", song, frame_indices="0, 1.5", dance_fps=24.0)


@pytest.mark.parametrize("dance_fps", [24.0, 30.0, 25.0])
def test_the_dancer_drawn_at_a_key_is_the_dance_at_that_keys_time(dance_fps):
    duration = 7.0
    pose = dance(duration, dance_fps)
    layout = layout_keyframes(np.array([1.0, 2.5, 5.3]), duration)
    drawn = layout.dance_frames(pose)
    assert drawn.tolist() == [min(round(w / 30 * dance_fps), pose.num_frames - 1) for w in layout.wan_frames]
    # the last segment runs past the song: its end anchor holds the dance's last frame
    assert layout.wan_frames[-1] == 2 * 149 - 1 and drawn[-1] == pose.num_frames - 1
    images = render_keyframe_images(pose, layout, 96, 144, "skeleton_on_black")
    for image, frame in zip(images, drawn):
        direct = next(iter_dance_frames(pose.frame(int(frame)), "skeleton_on_black"))
        assert np.array_equal(image, fit_frame(direct, 96, 144))


def test_segments_hold_keys_at_their_frames_and_the_mask_marks_exactly_them():
    duration = 11.0
    pose = dance(duration, 30.0)
    layout = layout_keyframes(keyframe_times("downbeats", music(duration)), duration)
    images = render_keyframe_images(pose, layout, 64, 96, "skeleton_on_black")
    for segment in range(layout.num_segments):
        frames, keep = segment_keyframes(layout, images, segment)
        assert frames.shape == (149, 96, 64, 3) and keep.shape == (149,)
        mine = layout.in_segment(segment)
        assert np.flatnonzero(keep).tolist() == layout.positions[mine].tolist()
        assert np.array_equal(frames[layout.positions[mine]], images[mine])
        assert not frames[~keep].any()  # black between keys, as WanDancerPadKeyframes pads


def test_puppet_keyframes_are_the_puppet_frames_of_the_dance():
    duration = 5.5
    pose = dance(duration, 30.0)
    layout = layout_keyframes(np.array([2.0]), duration).only_segments(0, 1)
    images = render_keyframe_images(pose, layout, 192, 288, "puppet", reference_image=character(),
                                    reference_pose=reference())
    assert layout.wan_frames.tolist() == [0, 60, 148]
    whole = list(iter_dance_frames(pose.slice_frames(0, 149), "puppet", reference_image=character(),
                                   reference_pose=reference()))
    for image, frame in zip(images, [0, 60, 148]):
        assert np.array_equal(image, whole[frame])
    assert not np.array_equal(images[0], images[1])


def test_segment_audio_is_cut_like_the_core_and_the_last_is_padded_with_silence():
    rate = 16000
    samples = np.random.default_rng(0).uniform(-1, 1, (2, int(7.0 * rate))).astype(np.float32)
    layout = layout_keyframes(np.array([0.0]), 7.0)
    first = segment_audio(samples, rate, layout, 0)
    start, stop = 0, int(SEGMENT_S * rate)
    assert np.array_equal(first, samples[:, start:stop])
    last = segment_audio(samples, rate, layout, 1)
    start, stop = int(SEGMENT_S * rate), int(2 * SEGMENT_S * rate)
    assert last.shape == (2, stop - start)
    assert np.array_equal(last[:, :samples.shape[1] - start], samples[:, start:])
    assert not last[:, samples.shape[1] - start:].any()


def test_node_outputs_plug_into_the_core_nodes(pack):
    duration, rate = 6.0, 22050
    pose = dance(duration, 30.0)
    song = music(duration)
    wave = torch.zeros(1, 2, int(duration * rate))
    node = pack.NODE_CLASS_MAPPINGS["ChoreoWanDancerKeyframes"]()
    picture = torch.from_numpy(character()).float()[None] / 255.0
    sequences, masks, pieces, keys, num_segments, layout = node.keyframes(
        pose, song, {"waveform": wave, "sample_rate": rate}, picture, "downbeats", 2, "", True, 64, 112, "puppet",
        "dwpose", 0, 0, 4.0, reference_pose=reference())
    assert num_segments == 2 and len(sequences) == len(masks) == len(pieces) == 2
    for sequence, mask, piece in zip(sequences, masks, pieces):
        assert sequence.shape == (149, 112, 64, 3) and sequence.dtype == torch.float32
        assert mask.shape == (149, 112, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
        keyed = mask.flatten(1).amax(1) > 0
        assert torch.equal(mask.flatten(1).amin(1) > 0, keyed)  # a key frame is kept over the whole picture
        assert torch.equal(sequence.flatten(1).amax(1) > 0, keyed)
        assert bool(keyed[0]) and bool(keyed[148])
        assert piece["sample_rate"] == rate and piece["waveform"].shape == (1, 2, int(SEGMENT_S * rate))
    assert keys.shape[0] == layout.count("\n") + 1 == int(sum(m.flatten(1).amax(1).sum() for m in masks))
    # WanDancerVideo's mask handling: concat_mask = 1 - mask, so the keyframe frames are the kept (0) ones
    concat = 1 - masks[0][:149].unsqueeze(0)
    assert torch.equal((concat[0, :, 0, 0] == 0), masks[0][:, 0, 0] > 0)


def test_node_refuses_over_the_memory_limit_and_takes_segments_in_pieces(pack):
    duration, rate = 16.0, 22050
    pose = dance(duration, 30.0)
    song = music(duration)
    audio = {"waveform": torch.zeros(1, 1, int(duration * rate)), "sample_rate": rate}
    picture = torch.from_numpy(character()).float()[None] / 255.0
    node = pack.NODE_CLASS_MAPPINGS["ChoreoWanDancerKeyframes"]()
    args = (pose, song, audio, picture, "downbeats", 2, "", True, 480, 832, "skeleton_on_black", "dwpose")
    with pytest.raises(ValueError, match=r"4 segments .* 3\.62 GiB .*first_segment, segment_count") as refused:
        node.keyframes(*args, 0, 0, 1.0)
    assert refused.typename == BatchTooLargeError.__name__
    sequences, masks, pieces, _, num_segments, layout = node.keyframes(*args, 2, 1, 1.0)
    assert num_segments == 4 and len(sequences) == len(masks) == len(pieces) == 1
    assert all(line.startswith("segment 2,") for line in layout.splitlines())
    start = int(2 * SEGMENT_S * rate)
    assert pieces[0]["waveform"].shape[-1] == int(3 * SEGMENT_S * rate) - start


def test_outputs_match_the_core_keyframe_node_and_wire_into_wan_dancer(pack):
    core = json.loads((REPO_ROOT / "tests" / "fixtures" / "comfyui_core_nodes_subset.json").read_text())["nodes"]
    node = pack.NODE_CLASS_MAPPINGS["ChoreoWanDancerKeyframes"]
    assert list(node.RETURN_TYPES[:3]) == core["WanDancerPadKeyframesList"]["output"]
    assert node.RETURN_NAMES[:3] == ("keyframes_sequence", "keyframes_mask", "audio_segment")
    assert node.OUTPUT_IS_LIST[:3] == (True, True, True)  # one per segment, like WanDancerPadKeyframesList
    video = core["WanDancerVideo"]["input"]["optional"]
    assert (video["start_image"][0], video["mask"][0]) == node.RETURN_TYPES[:2]
    assert core["WanDancerEncodeAudio"]["input"]["required"]["audio"][0] == node.RETURN_TYPES[2]
    assert core["WanDancerVideo"]["input"]["required"]["length"][1]["default"] == SEGMENT_LENGTH


def test_the_workflow_feeds_wan_dancer_one_segment_per_run(pack, tmp_path, monkeypatch):
    """The Wan-Dancer workflow with its own widget values (at a small size): Choreo's nodes run for real,
    ComfyUI's nodes are stand-ins that record what they are given, one list entry per segment."""
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    (input_dir / "choreo_demo_character_pose.json").write_bytes((REPO_ROOT / "assets" / "demo_character_pose.json")
                                                                .read_bytes())
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(input_dir))
    workflow = json.loads((WORKFLOW_DIR / "Choreo - Your dance to Wan-Dancer.json").read_text())
    prompt = to_api_prompt(workflow, node_definitions(pack))
    bridge = next(entry for entry in prompt.values() if entry["class_type"] == "ChoreoWanDancerKeyframes")
    assert (bridge["inputs"]["width"], bridge["inputs"]["height"]) == (480, 832)
    bridge["inputs"].update(width=64, height=112)  # the same graph, small enough for a test machine
    song = click_track(tempo_bpm=110.0, duration_s=6.0, sample_rate=44100)
    stereo = torch.from_numpy(np.stack([song, song]))[None]
    character_rgb = cv2.cvtColor(cv2.imread(str(REPO_ROOT / "assets" / "demo_character.png")), cv2.COLOR_BGR2RGB)
    picture = torch.from_numpy(cv2.resize(character_rgb, (160, 240), interpolation=cv2.INTER_AREA))[None] / 255.0
    seen = {}

    def stand_in(name):
        def run(**inputs):
            seen[name] = inputs
            return (name, name, name)
        return run

    fakes = {entry["class_type"]: stand_in(entry["class_type"]) for entry in prompt.values()
             if not entry["class_type"].startswith("Choreo")}
    fakes.update(LoadAudio=lambda audio: ({"waveform": stereo, "sample_rate": 44100},),
                 LoadImage=lambda image, **_: (picture, torch.zeros(1, 240, 160)))
    run_prompt(prompt, pack, fakes)
    video, audio = seen["WanDancerVideo"], seen["WanDancerEncodeAudio"]["audio"]
    assert (video["width"], video["height"], video["length"]) == (480, 832, 149)
    assert len(video["start_image"]) == len(video["mask"]) == len(audio) == segment_count(6.0) == 2
    # every_n_frames 6 on Wan-Dancer's own clock over the song (frames 0..179), plus each segment's first and last
    expected = set(range(0, 180, 6)) | {0, 148, 149, 297}
    keyed = set()
    for segment, (frames, mask) in enumerate(zip(video["start_image"], video["mask"])):
        keyed |= {149 * segment + k for k in torch.nonzero(mask[:, 0, 0]).flatten().tolist()}
        assert frames.shape == (149, 112, 64, 3) and bool(frames[0].amax() > 0)
    assert keyed == expected
    assert seen["ImageFromBatch"]["image"] is video["start_image"]  # CLIP vision sees each segment's first key
