"""Choreo's dance as keyframes for ComfyUI's own Wan-Dancer nodes (WanDancerVideo, WanDancerEncodeAudio)."""

from __future__ import annotations

import numpy as np
import torch

from ..choreo.music.audio import Audio
from ..choreo.render.frame_range import check_batch_bytes, image_batch_bytes
from ..choreo.render.wan_dancer_keyframes import (KEYFRAME_MODES, SEGMENT_LENGTH, check_same_song, keyframe_times,
                                                  layout_keyframes, render_keyframe_images, segment_audio,
                                                  segment_keyframes)
from . import comfy_bridge
from .convert import audio_from_comfy, audio_to_comfy, fit_to_canvas, frames_to_comfy, image_from_comfy, mask_from_comfy
from .dance_render_inputs import REFERENCE_IMAGE, max_batch_widget, puppet_rig_inputs, renderer_widgets
from .socket_types import CATEGORY, MUSIC, POSE


class ChoreoWanDancerKeyframes:
    DESCRIPTION = ("Turns the dance into keyframes for ComfyUI's Wan-Dancer: the dancer (the puppet-animated photo "
                   "by default) is drawn at musical moments (downbeats, every n beats, every n frames or given "
                   "frames), placed on Wan-Dancer's 30 fps clock in its 149-frame segments, and given per segment "
                   "as lists exactly like WanDancerPadKeyframesList: keyframe frames (black between keys), the "
                   "mask (1 on keyframe frames = kept) and the segment's audio. Wire them into WanDancerVideo "
                   "(start_image, mask) and WanDancerEncodeAudio (audio). Long songs can be taken a few segments "
                   "at a time (first_segment, segment_count) to stay under the memory limit.")
    CATEGORY = f"{CATEGORY}/render"
    FUNCTION = "keyframes"
    RETURN_TYPES = ("IMAGE", "MASK", "AUDIO", "IMAGE", "INT", "STRING")
    RETURN_NAMES = ("keyframes_sequence", "keyframes_mask", "audio_segment", "keyframes", "num_segments", "layout")
    OUTPUT_IS_LIST = (True, True, True, False, False, False)
    OUTPUT_TOOLTIPS = (
        "One IMAGE of 149 frames per segment: the keyframes at their frames, black elsewhere (WanDancerVideo's "
        "start_image).",
        "One MASK (149, H, W) per segment: 1 on keyframe frames (kept), 0 on frames to generate (WanDancerVideo's "
        "mask).",
        "One AUDIO per segment: the song from 149·s/30 s for 149/30 s, the last padded with silence "
        "(WanDancerEncodeAudio's audio).",
        "Just the keyframe images, in order, to preview.",
        "Segments of the whole song (Wan-Dancer's rule: int((duration - 0.2 s) / (149/30 s)) + 1).",
        "One line per keyframe: segment, frame in segment, song time, dance frame drawn.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose": (POSE, {"tooltip": "The dance as 2D poses (from Project 3D to 2D or the Keyframe Editor)."}),
            "music": (MUSIC, {"tooltip": "Analyze Music's result for the same song: beats and downbeats."}),
            "audio": ("AUDIO", {"tooltip": "The song; cut into Wan-Dancer's segments."}),
            "reference_image": REFERENCE_IMAGE,
            "keyframe_mode": (list(KEYFRAME_MODES), {"default": "downbeats",
                              "tooltip": "Where the keyframes go: downbeats (bar starts), every_n_beats, "
                                         "every_n_frames (of Wan-Dancer's 30 fps), or frame_indices (dance frames)."}),
            "every_n": ("INT", {"default": 2, "min": 1, "max": 1000,
                        "tooltip": "n for every_n_beats and every_n_frames."}),
            "frame_indices": ("STRING", {"default": "", "multiline": False,
                              "tooltip": "For frame_indices: dance frames, e.g. '0, 45, 90' (the dance's own fps)."}),
            "anchor_segment_ends": ("BOOLEAN", {"default": True,
                                    "tooltip": "Also key the first and last frame of every segment, as "
                                               "WanDancerPadKeyframes does (each segment starts from a keyframe)."}),
            "width": ("INT", {"default": 480, "min": 16, "max": 4096, "step": 16,
                      "tooltip": "Keyframe width; use WanDancerVideo's width (the picture is centre-cropped)."}),
            "height": ("INT", {"default": 832, "min": 16, "max": 4096, "step": 16,
                       "tooltip": "Keyframe height; use WanDancerVideo's height."}),
            **renderer_widgets(),
            "first_segment": ("INT", {"default": 0, "min": 0, "max": 10000,
                              "tooltip": "First segment to output (0 = the song's start)."}),
            "segment_count": ("INT", {"default": 0, "min": 0, "max": 10000,
                              "tooltip": "Segments to output; 0 = to the end of the song."}),
            "max_batch_gib": max_batch_widget("Refuse (before rendering) when the outputs would exceed this many GiB."),
        }, "optional": {
            **puppet_rig_inputs(),
        }}

    def keyframes(self, pose, music, audio, reference_image, keyframe_mode, every_n, frame_indices,
                  anchor_segment_ends, width, height, renderer, draw_style, first_segment, segment_count,
                  max_batch_gib, reference_pose=None, figure_mask=None):
        song = audio_from_comfy(audio)
        check_same_song(music, song.duration_s, pose)
        times = keyframe_times(keyframe_mode, music, every_n, frame_indices, dance_fps=pose.fps)
        whole = layout_keyframes(times, song.duration_s, anchor_segment_ends)
        last = whole.num_segments if segment_count == 0 else min(first_segment + segment_count, whole.num_segments)
        layout = whole.only_segments(first_segment, last - first_segment)
        taken = range(first_segment, last)
        size = (len(taken) * (image_batch_bytes(SEGMENT_LENGTH, width, height, 3)
                              + image_batch_bytes(SEGMENT_LENGTH, width, height, 1))
                + image_batch_bytes(layout.wan_frames.size, width, height, 3))
        check_batch_bytes(size, max_batch_gib, f"{len(taken)} segments of 149 frames at {width}x{height}",
                          "Take fewer segments at a time (first_segment, segment_count) or a smaller size.")
        image = fit_to_canvas(image_from_comfy(reference_image, "reference_image"), pose.canvas_width,
                              pose.canvas_height)
        images = render_keyframe_images(pose, layout, width, height, renderer,
                                        progress=comfy_bridge.progress_reporter(), reference_image=image,
                                        draw_style=draw_style, reference_pose=reference_pose,
                                        figure_mask=mask_from_comfy(figure_mask, pose.canvas_width,
                                                                    pose.canvas_height))
        sequences, masks, pieces = [], [], []
        for segment in taken:
            comfy_bridge.check_interrupted()
            frames, keep = segment_keyframes(layout, images, segment)
            sequences.append(frames_to_comfy(frames))
            mask = torch.zeros((SEGMENT_LENGTH, height, width), dtype=torch.float32)
            mask[torch.from_numpy(keep)] = 1.0
            masks.append(mask)
            pieces.append(audio_to_comfy(Audio(segment_audio(song.samples, song.sample_rate, layout, segment),
                                               song.sample_rate)))
        dance_frames = layout.dance_frames(pose)
        lines = [f"segment {s}, frame {p}, {t:.3f} s, dance frame {f}"
                 for s, p, t, f in zip(layout.segments, layout.positions, layout.times_s, dance_frames)]
        return (sequences, masks, pieces, frames_to_comfy(np.ascontiguousarray(images)), whole.num_segments,
                "\n".join(lines))
