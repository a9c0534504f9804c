"""X-Dancer motion nodes: load a tokenizer + GPT, generate pose tokens from music, encode/decode pose tokens."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ..choreo.checkpoints import CheckpointError
from ..choreo.generators.xdancer import (FAMILY, GPT_DIR, TOKENIZER_DIR, TOKENIZER_JOINTS, decode_pose_tokens,
                                         encode_pose_tokens, generate_xdancer_motion, load_xdancer)
from ..choreo.training.train_xdancer import generation_window
from . import comfy_bridge
from .socket_types import CATEGORY, MUSIC, MUSIC_FEATURES, POSE, POSE_TOKENS, XDANCER_MODEL

DEMO_NAME = "demo (bundled, synthetic data)"
DEMO_DIR = comfy_bridge.PACK_DIR / "assets" / "checkpoints" / FAMILY / "demo"


def xdancer_checkpoints() -> dict[str, Path]:
    """Combo name -> folder: the bundled demo, then every folder under ComfyUI/models/choreo/xdancer that holds
    tokenizer/ and gpt/ checkpoints (named by its path below that folder)."""
    found = {DEMO_NAME: DEMO_DIR}
    root = comfy_bridge.choreo_models_directory(FAMILY)
    if root.is_dir():
        for gpt_config in sorted(root.rglob(f"{GPT_DIR}/config.json")):
            folder = gpt_config.parent.parent
            if (folder / TOKENIZER_DIR / "config.json").is_file():
                found[folder.relative_to(root).as_posix()] = folder
    return found


def _ready(models):
    """Load both networks in one go through ComfyUI's memory manager (or onto the default device)."""
    comfy_bridge.load_models(models, [models.tokenizer, models.gpt])
    return models


@contextmanager
def _one_cpu_thread(device):
    """Token-by-token sampling on a CPU runs one tiny batch at a time, where intra-op threads cost more than
    they give (the demo samples a 6 s song in 6 s on one thread, 65 s on two busy cores); restored afterwards."""
    import torch

    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _token_socket(tokens, pose) -> dict:
    """The CHOREO_POSE_TOKENS value: tokens with their clock and the 60 tokenizer joints' confidences."""
    return {"tokens": tokens, "fps": float(pose.fps), "confidence": pose.confidence[:, list(TOKENIZER_JOINTS)]}


class ChoreoLoadXDancer:
    DESCRIPTION = ("Loads an X-Dancer motion model: the compositional pose tokenizer and the music-to-pose-token GPT. "
                   "The bundled demo was trained on the beat choreographer's synthetic dances (a few MB, CPU); "
                   "train on real dance videos with choreo.training.train_xdancer for real results and put the "
                   "folder in ComfyUI/models/choreo/xdancer.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "load"
    RETURN_TYPES = (XDANCER_MODEL,)
    RETURN_NAMES = ("xdancer_model",)
    OUTPUT_TOOLTIPS = ("Tokenizer + GPT, with the music normaliser and frame rate they were trained at.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = list(xdancer_checkpoints())
        return {"required": {
            "checkpoint": (names, {"default": names[0],
                           "tooltip": "A folder with tokenizer/ and gpt/ under ComfyUI/models/choreo/xdancer, "
                                      "or the bundled demo."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, checkpoint):
        """At prompt validation: a missing checkpoint folder is refused before anything runs."""
        if checkpoint not in xdancer_checkpoints():
            return (f"X-Dancer checkpoint {checkpoint!r} was not found; put its folder (tokenizer/ and gpt/) in "
                    f"{comfy_bridge.choreo_models_directory(FAMILY)} and refresh.")
        return True

    def load(self, checkpoint):
        folders = xdancer_checkpoints()
        if checkpoint not in folders:
            raise CheckpointError(f"X-Dancer checkpoint {checkpoint!r} is not in "
                                  f"{comfy_bridge.choreo_models_directory(FAMILY)}; choose one of {list(folders)}.")
        models = load_xdancer(folders[checkpoint])
        return (comfy_bridge.manage(models, [models.tokenizer, models.gpt]),)


class ChoreoXDancerGenerate:
    DESCRIPTION = ("X-Dancer motion: the GPT writes the dance as whole-body pose tokens (body, head, hands), window "
                   "after window in step with the music features, starting from the reference pose's body; the "
                   "tokenizer decodes them to poses on the reference image. Same seed, same dance.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "generate"
    RETURN_TYPES = (POSE, POSE_TOKENS)
    RETURN_NAMES = ("pose", "tokens")
    OUTPUT_TOOLTIPS = ("2D pose sequence on the reference canvas (body and hands; feet and face absent).",
                       "The pose tokens, for Decode Pose Tokens or later editing.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "xdancer_model": (XDANCER_MODEL, {"tooltip": "From Load X-Dancer Motion Model."}),
            "music_features": (MUSIC_FEATURES, {"tooltip": "From Music Features, with the extractor and fps the "
                                                           "model was trained on (for the demo: edge_librosa_beats, its "
                                                           "analysis wired to Analyze Music, 30 fps)."}),
            "reference_pose": (POSE, {"tooltip": "From Reference Pose: the dance starts from this body."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "control_after_generate": True,
                             "tooltip": "Seed of the token sampler; the same seed gives the same dance."}),
            "temperature": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05,
                            "tooltip": "Sampling temperature: lower is safer and more repetitive, 0 always takes "
                                       "the most likely token."}),
            "top_k": ("INT", {"default": 0, "min": 0, "max": 4096,
                      "tooltip": "Sample among the k most likely tokens only; 0 keeps all."}),
            "top_p": ("FLOAT", {"default": 0.9, "min": 0.0, "max": 1.0, "step": 0.01,
                      "tooltip": "Nucleus sampling: the smallest set of tokens reaching this probability; 1 keeps all."}),
        }, "optional": {
            "music": (MUSIC, {"tooltip": "From Analyze Music: the dance lasts its num_frames (else the features' "
                                         "length)."}),
            "compile_on_gpu": ("BOOLEAN", {"default": False,
                               "tooltip": "On a CUDA GPU, decode each token as one CUDA graph (torch.compile; the "
                                          "first run compiles for tens of seconds). Same dance, faster sampling; "
                                          "ignored on a CPU."}),
        }}

    def generate(self, xdancer_model, music_features, reference_pose, seed, temperature, top_k, top_p, music=None,
                 compile_on_gpu=False):
        models = _ready(xdancer_model)
        num_frames = min(music.num_frames, music_features.num_frames) if music is not None else None
        window, overlap = generation_window(models.gpt.config.block_frames)
        with _one_cpu_thread(models.device):
            pose, tokens = generate_xdancer_motion(
                models, music_features, reference_pose, num_frames, seed=seed, temperature=temperature,
                top_k=top_k or None, top_p=top_p if 0 < top_p < 1 else None, window=window, overlap=overlap,
                progress=comfy_bridge.progress_reporter(), compile=bool(compile_on_gpu))
        return (pose, _token_socket(tokens, pose))


class ChoreoEncodePoseTokens:
    DESCRIPTION = ("Turns a pose sequence into X-Dancer pose tokens (5 parts x 6 tokens per frame), normalised to "
                   "the reference body, e.g. to check how well the tokenizer keeps a dance.")
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "encode"
    RETURN_TYPES = (POSE_TOKENS,)
    RETURN_NAMES = ("tokens",)
    OUTPUT_TOOLTIPS = ("The pose tokens of every frame, with the sequence's fps.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "xdancer_model": (XDANCER_MODEL, {"tooltip": "From Load X-Dancer Motion Model."}),
            "pose": (POSE, {"tooltip": "Pose sequence to encode."}),
            "reference_pose": (POSE, {"tooltip": "The body whose frame (mid-hip origin, torso unit) normalises the "
                                                 "poses; use the one you will decode with."}),
        }}

    def encode(self, xdancer_model, pose, reference_pose):
        return (_token_socket(encode_pose_tokens(_ready(xdancer_model), pose, reference_pose), pose),)


class ChoreoDecodePoseTokens:
    DESCRIPTION = "Turns X-Dancer pose tokens back into a pose sequence on the reference image's canvas."
    CATEGORY = f"{CATEGORY}/motion"
    FUNCTION = "decode"
    RETURN_TYPES = (POSE,)
    RETURN_NAMES = ("pose",)
    OUTPUT_TOOLTIPS = ("Decoded poses (body and hands; feet and face absent).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "xdancer_model": (XDANCER_MODEL, {"tooltip": "The model whose tokenizer made the tokens."}),
            "tokens": (POSE_TOKENS, {"tooltip": "From X-Dancer Generate or Encode Pose Tokens."}),
            "reference_pose": (POSE, {"tooltip": "Body and canvas to place the decoded poses on."}),
        }}

    def decode(self, xdancer_model, tokens, reference_pose):
        return (decode_pose_tokens(_ready(xdancer_model), tokens["tokens"], reference_pose, tokens["fps"]),)
