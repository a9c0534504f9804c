"""Nodes of the pose keyframe editor: apply the artist's keyframes, and regenerate the dance around them."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import numpy as np
from PIL import Image

from ..choreo.edit import (apply_edits, dump_edit_document, edits_are_stale, fingerprint, keep_mask,
                           parse_edit_document, regenerate_around_edits)
from ..choreo.edit.regenerate import MODES, kept_joints
from ..choreo.generators.pose_dit import PoseDiTInputError, pose_dit_generator
from ..choreo.motion.choreographer import choreograph
from ..choreo.pose.projection import ProjectionSettings, project_onto_reference
from . import comfy_bridge, editor_cache
from .convert import audio_from_comfy, image_from_comfy
from .motion_nodes import ChoreoBeatChoreographer
from .pose_dit_nodes import POSE_DIT_MODEL
from .socket_types import CATEGORY, MOTION, MUSIC, MUSIC_FEATURES, POSE

MAX_IMAGE_SIDE_PX = 2048
WORKFLOW_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the frontend's workflow ids are UUIDs
BLEND_FRAMES_INPUT = ("INT", {"default": 6, "min": 0, "max": 240, "step": 1,
                              "tooltip": "Frames over which each edit fades in before its first keyframe and out "
                                         "after its last, so motion flows into and out of the edit."})


class ChoreoPoseKeyframeEditor:
    DESCRIPTION = ("Hand-edit the dance: open the editor on this node (after one run) to drag joints, rotate limbs "
                   "and set keyframes on the beat. Keyframes are blended in joint space, keeping bone lengths, and "
                   "saved inside the workflow.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "edit"
    OUTPUT_NODE = True
    RETURN_TYPES = (POSE, "STRING")
    RETURN_NAMES = ("pose", "edits")
    OUTPUT_TOOLTIPS = ("The pose sequence with the keyframes applied.",
                       "The edit document (keyframes JSON) for Regenerate Around Edits.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pose": (POSE, {"tooltip": "The dance to edit (e.g. from Project 3D to 2D)."}),
            "keyframes_json": ("STRING", {"default": "{}", "multiline": True,
                               "tooltip": "Written by the Pose Keyframe Editor: the keyframes as JSON, saved with "
                                          "the workflow. {} means no edits."}),
            "blend_frames": BLEND_FRAMES_INPUT,
        }, "optional": {
            "music": (MUSIC, {"tooltip": "From Analyze Music: draws beats, bars and sections on the timeline."}),
            "reference_image": ("IMAGE", {"tooltip": "Shown dimmed behind the skeleton (first frame)."}),
            "audio": ("AUDIO", {"tooltip": "The song, for playback in the editor in sync with the preview."}),
        }, "hidden": {"unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def edit(self, pose, keyframes_json, blend_frames, music=None, reference_image=None, audio=None,
             unique_id=None, extra_pnginfo=None):
        source_fingerprint = fingerprint(pose)
        workflow = workflow_id(extra_pnginfo)
        if unique_id is not None:
            editor_cache.store(str(unique_id), _cache_entry(pose, source_fingerprint, blend_frames, music,
                                                            reference_image, audio), workflow)
        document = replace(parse_edit_document(keyframes_json), blend_frames=int(blend_frames))
        edited = apply_edits(pose, document)
        ui = {"choreo_editor": [{"node_id": None if unique_id is None else str(unique_id), "workflow_id": workflow,
                                 "fingerprint": source_fingerprint,
                                 "stale": edits_are_stale(document, source_fingerprint),
                                 "num_frames": int(pose.num_frames), "fps": float(pose.fps)}]}
        return {"ui": ui, "result": (edited, dump_edit_document(document))}


class ChoreoRegenerateAroundEdits:
    DESCRIPTION = ("Re-creates the parts of the dance you did not edit, so it stays musical: 'temporal' re-dances "
                   "the frames between keyframes, 'joints' only the joints that are neither keyed nor locked. "
                   "Keyframes still land exactly. New frames are seen with the camera and proportions Project 3D "
                   "to 2D used (a front orthographic view when the pose did not come from it). With a Pose DiT "
                   "connected, the DiT dances the new parts instead of the beat choreographer, in-painting around "
                   "the edits.")
    CATEGORY = f"{CATEGORY}/pose"
    FUNCTION = "regenerate"
    RETURN_TYPES = (POSE,)
    RETURN_NAMES = ("pose",)
    OUTPUT_TOOLTIPS = ("The regenerated dance with the edits applied.",)

    @classmethod
    def INPUT_TYPES(cls):
        choreographer = ChoreoBeatChoreographer.INPUT_TYPES()["required"]
        return {"required": {
            "pose": (POSE, {"tooltip": "The un-edited dance: the same pose that goes into the Pose Keyframe Editor."}),
            "keyframes_json": ("STRING", {"forceInput": True,
                               "tooltip": "The editor's edits output (the keyframes JSON)."}),
            "music": (MUSIC, {"tooltip": "The analysis the dance was made from (same fps)."}),
            "reference_pose": (POSE, {"tooltip": "The reference pose the dance was projected onto."}),
            "mode": (list(MODES), {"default": MODES[0],
                     "tooltip": "temporal: new frames between keyframes; joints: new motion only for joints that "
                                "are neither keyed nor locked."}),
            "seed": choreographer["seed"],
            "style": choreographer["style"],
            "energy_scale": choreographer["energy_scale"],
            "keep_margin_frames": ("INT", {"default": 6, "min": 0, "max": 240, "step": 1,
                                   "tooltip": "Temporal mode: frames kept unchanged on each side of a keyframe "
                                              "before the cross-fade to new motion."}),
        }, "optional": {
            "motion": (MOTION, {"tooltip": "The 3D motion the dance was projected from; in temporal mode the "
                                           "choreographer then re-plans only the frames away from keyframes."}),
            "pose_dit_model": (POSE_DIT_MODEL, {"tooltip": "From Load Pose DiT: the one-hot pose DiT re-dances "
                               "instead of the choreographer (needs music_features). temporal keeps the keyed "
                               "frames +- keep_margin_frames and dances into and out of them; joints keeps the "
                               "keyed and locked joints. Body only: hands, feet and face of new motion are absent."}),
            "music_features": (MUSIC_FEATURES, {"tooltip": "From Music Features, with the extractor and fps the "
                               "Pose DiT was trained on and at least as many frames as the pose; used only with "
                               "pose_dit_model."}),
        }}

    def regenerate(self, pose, keyframes_json, music, reference_pose, mode, seed, style, energy_scale,
                   keep_margin_frames, motion=None, pose_dit_model=None, music_features=None):
        document = parse_edit_document(keyframes_json)
        if pose_dit_model is not None:
            generate = _pose_dit_generate(pose_dit_model, music_features, pose, document, reference_pose, mode,
                                          keep_margin_frames)
            return (regenerate_around_edits(pose, document, generate, mode=mode, seed=seed,
                                            keep_margin_frames=keep_margin_frames),)
        mask = keep_mask(pose.num_frames, document, keep_margin_frames) if motion is not None else None
        face = "face_keypoints_2d" not in pose.missing_parts
        hands = not {"hand_left_keypoints_2d", "hand_right_keypoints_2d"} & pose.missing_parts
        settings = pose.projection_settings or ProjectionSettings()
        progress = comfy_bridge.progress_reporter()

        def generate(generation_seed: int):
            if mask is not None and mode == "temporal" and len(mask) == motion.num_frames:
                new_motion = choreograph(music, seed=generation_seed, style=style, energy_scale=energy_scale,
                                         progress=progress, keep=motion, keep_mask=mask)
            else:
                new_motion = choreograph(music, seed=generation_seed, style=style, energy_scale=energy_scale,
                                         progress=progress)
            return project_onto_reference(new_motion, reference_pose, settings, face=face, hands=hands)

        return (regenerate_around_edits(pose, document, generate, mode=mode, seed=seed,
                                        keep_margin_frames=keep_margin_frames),)


def _pose_dit_generate(model, features, pose, document, reference_pose, mode: str, keep_margin_frames: int):
    """``seed -> PoseSequence2D`` from the pose DiT, in-painting around the edited dance.

    The edited sequence (edits applied) is what the DiT keeps, so it dances into the new keyframes rather than
    the old ones: temporal mode keeps whole frames near keyframes (pose-aware conditioning), joints mode keeps
    the joints ``regenerate_around_edits`` will take from the input on every frame.
    """
    if features is None:
        raise PoseDiTInputError("Regenerate Around Edits got a pose_dit_model but no music_features; connect Music "
                                "Features (the extractor and fps the Pose DiT was trained on) to music_features.")
    if features.num_frames < pose.num_frames:
        raise PoseDiTInputError(f"the music features have {features.num_frames} frames but the pose has "
                                f"{pose.num_frames}; extract them from the same song at the pose's fps "
                                f"({pose.fps:g}).")
    comfy_bridge.load_models(model, model.networks)
    if mode == "temporal":
        frames, joints = keep_mask(pose.num_frames, document, keep_margin_frames), None
    else:
        frames, joints = None, np.flatnonzero(kept_joints(document))
    return pose_dit_generator(model, features, reference_pose, num_frames=pose.num_frames,
                              keep=apply_edits(pose, document), keep_frames=frames, keep_joints=joints,
                              progress=comfy_bridge.progress_reporter())


def workflow_id(extra_pnginfo: object) -> str:
    """The UI workflow's id from the prompt's EXTRA_PNGINFO ({"workflow": {"id": uuid, ...}}), else "".

    Node ids restart in every workflow, so the editor cache is keyed by this id too; an id that is missing or
    not a plain UUID-like token (letters, digits, '-' or '_', at most 64) counts as "no workflow".
    """
    workflow = extra_pnginfo.get("workflow") if isinstance(extra_pnginfo, dict) else None
    value = workflow.get("id") if isinstance(workflow, dict) else None
    return value if isinstance(value, str) and WORKFLOW_ID_PATTERN.fullmatch(value) else ""


def _cache_entry(pose, source_fingerprint, blend_frames, music, reference_image, audio) -> editor_cache.EditorEntry:
    """What the editor's routes serve: the pose, music, mono 16-bit audio and a JPEG of the reference image."""
    pcm16, sample_rate = None, 0
    if audio is not None:
        core_audio = audio_from_comfy(audio, name="audio")
        pcm16 = (np.clip(core_audio.mono(), -1.0, 1.0) * 32767.0).astype(np.int16)
        sample_rate = core_audio.sample_rate
    jpeg = None
    if reference_image is not None:
        image = Image.fromarray(image_from_comfy(reference_image, name="reference_image"))
        image.thumbnail((MAX_IMAGE_SIDE_PX, MAX_IMAGE_SIDE_PX))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        jpeg = buffer.getvalue()
    return editor_cache.EditorEntry(pose, source_fingerprint, int(blend_frames), music, pcm16, sample_rate, jpeg)
