"""X-Dancer motion on the core data model: poses <-> pose tokens, and music -> dance tokens -> poses.

Coordinates. The tokenizer sees 60 joints of our 136-point layout (OpenPose body 0-17,
left hand 94-114, right hand 115-135, in that order) in the *reference body frame*: the
reference pose's mid-hip is the origin (its neck when the hips are missing) and its
torso (neck to mid-hip) is one unit, pixels being square. The same transform is used
for every frame, so the dancer's travel on the canvas survives and a model trained on
one canvas size works on any. Decoding maps back onto the reference canvas.

Feet (18-23) and face (24-93) are not modelled (the paper's 60 joints): decoded
sequences leave them absent, confidence 0, and list them in ``missing_parts``.

Checkpoint. One folder holds both networks, each a Choreo checkpoint::

    <name>/tokenizer/config.json, model.safetensors     PoseVQVAE
    <name>/gpt/config.json, model.safetensors           MotionGPT, extra tensors music_mean, music_std
                                                        (C,), metadata fps and music_extractor

Long generation. Windows of ``window`` frames start every ``window - overlap`` frames;
a window's first ``overlap`` frames are the previous window's last ones, given to the
GPT as forced tokens, and its motion context is ``motion_context_frames`` frames spaced
evenly over the previous window (``context_frames``). Frame 0 is forced to the reference
pose's tokens, so the dance starts from the reference body.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..checkpoints import CheckpointError, load_metadata, load_model, save_checkpoint
from ..errors import ChoreoError, PoseInputError
from ..model_cache import MODEL_CACHE, cache_key
from ..music.features import MusicFeatures
from ..networks import network_module
from ..pose.layout import B, LEFT_HAND, RIGHT_HAND
from ..pose.sequence import PoseSequence2D
from .generation_checks import check_music_features, kept_frame_mask

FAMILY = "xdancer"
TOKENIZER_DIR = "tokenizer"
GPT_DIR = "gpt"
# The tokenizer's 60 joints as indices of the 136-point layout.
TOKENIZER_JOINTS: tuple[int, ...] = (tuple(range(18)) + tuple(range(LEFT_HAND.start, LEFT_HAND.stop))
                                     + tuple(range(RIGHT_HAND.start, RIGHT_HAND.stop)))
NOT_MODELLED_PARTS = frozenset({"foot_keypoints_2d", "face_keypoints_2d"})
ENCODE_BATCH = 4096


class XDancerInputError(ChoreoError):
    """Inputs to X-Dancer generation do not fit the model (fps, feature width, window, constraints)."""


@dataclass(frozen=True)
class BodyFrame:
    """The reference body frame: layout pixel = centre_px + normalised * unit_px."""

    centre_px: np.ndarray   # (2,) float64, pixels of the reference canvas
    unit_px: float          # torso length, pixels


@dataclass
class XDancerModels:
    """A loaded X-Dancer motion model: tokenizer, GPT and the music normaliser.

    music_mean, music_std : (C,) float32, features are standardised as (values - mean) / std.
    fps                   : the frame rate the model was trained at (music features must match).
    music_extractor       : name of the ``extract_music_features`` extractor it was trained on.
    """

    tokenizer: Any
    gpt: Any
    music_mean: np.ndarray
    music_std: np.ndarray
    fps: float
    music_extractor: str

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(self.tokenizer.config.parts)

    @property
    def device(self):
        return next(self.gpt.parameters()).device

    def parameters(self):
        yield from self.tokenizer.parameters()
        yield from self.gpt.parameters()

    def buffers(self):
        yield from self.tokenizer.buffers()
        yield from self.gpt.buffers()


# ---- coordinates -----------------------------------------------------------------------------------------
def reference_body_frame(reference: PoseSequence2D) -> BodyFrame:
    """Origin and unit of the normalised coordinates, from the reference's first frame."""
    if reference.num_frames < 1:
        raise PoseInputError("The reference pose has no frames; give a one-frame reference pose.")
    points = reference.keypoints_px[0].astype(np.float64)
    present = reference.confidence[0] > 0
    neck, hips = B["neck"], (B["right_hip"], B["left_hip"])
    if present[list(hips)].all():
        centre = points[list(hips)].mean(0)
        if present[neck]:
            return BodyFrame(centre, max(float(np.linalg.norm(points[neck] - centre)), 1.0))
    elif present[neck]:
        centre = points[neck]
    else:
        raise PoseInputError("The reference pose has neither hips nor neck; X-Dancer needs a body in the "
                             "reference. Use a detected or default reference pose.")
    body = points[:18][present[:18]]
    # without a torso: an adult torso is about 0.3 of the visible body height
    height = float(body[:, 1].max() - body[:, 1].min()) if len(body) > 1 else 0.0
    return BodyFrame(centre, max(0.3 * height, 1.0))


def to_tokenizer_input(seq: PoseSequence2D, reference: PoseSequence2D) -> np.ndarray:
    """(T, 60, 3) float32 tokenizer input: x, y in the reference body frame, confidence in [0, 1].

    seq is rescaled per axis onto the reference canvas first when the canvases differ.
    Absent joints (confidence 0) get coordinates 0.
    """
    frame = reference_body_frame(reference)
    scale = np.array([reference.canvas_width / seq.canvas_width, reference.canvas_height / seq.canvas_height])
    points = seq.keypoints_px[:, TOKENIZER_JOINTS].astype(np.float64) * scale
    confidence = np.clip(seq.confidence[:, TOKENIZER_JOINTS], 0.0, 1.0)
    normalised = (points - frame.centre_px) / frame.unit_px * (confidence[..., None] > 0)
    return np.concatenate([normalised, confidence[..., None]], -1).astype(np.float32)


def from_tokenizer_output(poses: np.ndarray, reference: PoseSequence2D, fps: float) -> PoseSequence2D:
    """A PoseSequence2D on the reference canvas from (T, 60, 3) normalised poses with confidences.

    Feet and face are absent (confidence 0, listed in ``missing_parts``).
    """
    poses = np.asarray(poses, dtype=np.float64)
    frame = reference_body_frame(reference)
    seq = PoseSequence2D.empty(len(poses), reference.canvas_width, reference.canvas_height, fps)
    keypoints, confidence = seq.keypoints_px.copy(), seq.confidence.copy()
    keypoints[:, TOKENIZER_JOINTS] = poses[..., :2] * frame.unit_px + frame.centre_px
    confidence[:, TOKENIZER_JOINTS] = np.clip(poses[..., 2], 0.0, 1.0)
    return PoseSequence2D(keypoints.astype(np.float32), confidence.astype(np.float32), reference.canvas_width,
                          reference.canvas_height, float(fps), NOT_MODELLED_PARTS)


def part_layout_joints(part: str) -> tuple[int, ...]:
    """Indices in the 136-point layout of a tokenizer part's joints."""
    joints = network_module("pose_vqvae").PART_JOINTS
    if part not in joints:
        raise XDancerInputError(f"unknown part {part!r}; X-Dancer parts are {', '.join(joints)}.")
    return tuple(TOKENIZER_JOINTS[i] for i in joints[part])


# ---- checkpoints -----------------------------------------------------------------------------------------
def save_xdancer(directory: str | Path, models: XDancerModels, metadata: dict | None = None) -> Path:
    """Write ``directory/tokenizer`` and ``directory/gpt`` (see the module docstring)."""
    import torch

    directory = Path(directory)
    save_checkpoint(directory / TOKENIZER_DIR, models.tokenizer, models.tokenizer.config,
                    metadata={"coordinates": "reference_torso", "joints": list(TOKENIZER_JOINTS), **(metadata or {})})
    extra = {"music_mean": torch.as_tensor(np.asarray(models.music_mean, np.float32)),
             "music_std": torch.as_tensor(np.asarray(models.music_std, np.float32))}
    save_checkpoint(directory / GPT_DIR, models.gpt, models.gpt.config, extra=extra,
                    metadata={"fps": float(models.fps), "music_extractor": models.music_extractor,
                              **(metadata or {})})
    return directory


def load_xdancer(path: str | Path, device: str = "cpu") -> XDancerModels:
    """The X-Dancer motion model in folder ``path`` (tokenizer/ + gpt/), loaded once per file version."""
    path = Path(path)
    for sub in (TOKENIZER_DIR, GPT_DIR):
        if not (path / sub).is_dir():
            raise CheckpointError(f"{path} is not an X-Dancer checkpoint: the sub-folder {sub}/ is missing. An "
                                  f"X-Dancer checkpoint folder holds {TOKENIZER_DIR}/ and {GPT_DIR}/, each with "
                                  "config.json and model.safetensors (train one with the X-Dancer trainers).")
    key = cache_key(path / GPT_DIR / "model.safetensors", None, device,
                    variant=cache_key(path / TOKENIZER_DIR / "model.safetensors"))
    return MODEL_CACHE.get_or_load(key, lambda: _load(path, device))


def _load(path: Path, device: str) -> XDancerModels:
    vq, gpt_module = network_module("pose_vqvae"), network_module("motion_gpt")
    tokenizer, tok_config, _ = load_model(path / TOKENIZER_DIR, vq.PoseVQVAEConfig, vq.PoseVQVAE, device)
    gpt, gpt_config, extra = load_model(path / GPT_DIR, gpt_module.MotionGPTConfig, gpt_module.MotionGPT, device)
    if tok_config.single_codebook or (len(tok_config.parts), tok_config.tokens_per_part, tok_config.codebook_size) != (
            gpt_config.num_parts, gpt_config.tokens_per_part, gpt_config.codebook_size):
        raise CheckpointError(f"{path}: the tokenizer ({len(tok_config.parts)} parts x {tok_config.tokens_per_part} "
                              f"tokens, {tok_config.codebook_size} codes, single_codebook={tok_config.single_codebook})"
                              f" does not match the GPT ({gpt_config.num_parts} x {gpt_config.tokens_per_part}, "
                              f"{gpt_config.codebook_size} codes). Train the GPT on this tokenizer's tokens.")
    metadata = load_metadata(path / GPT_DIR)
    mean = extra["music_mean"].cpu().numpy() if "music_mean" in extra else np.zeros(gpt_config.music_dim, np.float32)
    std = extra["music_std"].cpu().numpy() if "music_std" in extra else np.ones(gpt_config.music_dim, np.float32)
    return XDancerModels(tokenizer, gpt, mean, std, float(metadata.get("fps", 30.0)),
                         str(metadata.get("music_extractor", "edge_librosa")))


# ---- tokens ----------------------------------------------------------------------------------------------
def encode_pose_tokens(models: XDancerModels, seq: PoseSequence2D, reference: PoseSequence2D) -> np.ndarray:
    """(T, 5, 6) int64 pose tokens of every frame of ``seq`` (normalised to ``reference``'s body)."""
    import torch

    poses = torch.as_tensor(to_tokenizer_input(seq, reference), device=models.device)
    with torch.no_grad():
        tokens = [models.tokenizer.encode(chunk) for chunk in poses.split(ENCODE_BATCH)] if len(poses) else []
    if not tokens:
        return np.zeros((0, len(models.part_names), models.tokenizer.config.tokens_per_part), np.int64)
    return torch.cat(tokens).cpu().numpy().astype(np.int64)


def decode_pose_tokens(models: XDancerModels, tokens: np.ndarray, reference: PoseSequence2D,
                       fps: float) -> PoseSequence2D:
    """Poses on the reference canvas from (T, 5, 6) tokens; feet and face absent."""
    import torch

    tokens = np.asarray(tokens)
    expected = (len(models.part_names), models.tokenizer.config.tokens_per_part)
    if tokens.ndim != 3 or tokens.shape[1:] != expected:
        raise XDancerInputError(f"pose tokens must be (T, {expected[0]}, {expected[1]}), got {tokens.shape}.")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= models.tokenizer.config.codebook_size):
        raise XDancerInputError(f"pose tokens must lie in 0..{models.tokenizer.config.codebook_size - 1}, got "
                                f"{tokens.min()}..{tokens.max()}; were they made by another tokenizer?")
    ids = torch.as_tensor(tokens, dtype=torch.long, device=models.device)
    with torch.no_grad():
        poses = [models.tokenizer.decode(chunk) for chunk in ids.split(ENCODE_BATCH)]
    decoded = torch.cat(poses).float().cpu().numpy() if poses else np.zeros((0, 60, 3), np.float32)
    return from_tokenizer_output(decoded, reference, fps)


# ---- generation ------------------------------------------------------------------------------------------
def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    """First frame of every generation window: 0, window - overlap, ... until the frames are covered."""
    if window < 1 or not 0 <= overlap < window:
        raise XDancerInputError(f"need window >= 1 and 0 <= overlap < window, got window {window}, overlap {overlap}.")
    starts, start = [0], 0
    while start + window < num_frames:
        start += window - overlap
        starts.append(start)
    return starts


def context_frames(start: int, stop: int, count: int) -> np.ndarray:
    """(count,) int64 frames spaced evenly over the segment [start, stop) (the cross-segment motion context)."""
    return np.rint(np.linspace(start, stop - 1, count)).astype(np.int64)


def generate_xdancer_motion(models: XDancerModels, features: MusicFeatures, reference: PoseSequence2D,
                            num_frames: int | None = None, seed: int = 0, temperature: float = 1.0,
                            top_k: int | None = None, top_p: float | None = 0.9, window: int = 64,
                            overlap: int = 12, progress: Callable[[float], None] | None = None,
                            keep: PoseSequence2D | None = None, keep_frames: Sequence[int] | np.ndarray | None = None,
                            keep_parts: Iterable[str] | None = None, cache: str = "auto",
                            compile: bool = False) -> tuple[PoseSequence2D, np.ndarray]:
    """A dance for the music, as poses on the reference canvas and as pose tokens.

    features    : per-frame music features at the model's fps and extractor (``models.fps``, ``music_extractor``).
    reference   : one-frame pose of the person to animate; frame 0 starts from its tokens.
    num_frames  : frames to generate; default ``features.num_frames`` (at most that).
    seed, temperature, top_k, top_p : sampling; the same seed gives the same dance.
    window, overlap : frames per GPT window and frames shared by consecutive windows.
    progress    : called with the fraction done after every window; it may raise to interrupt.
    keep        : a sequence of the same length whose tokens are kept where ``keep_frames`` and
                  ``keep_parts`` say: keep_frames (T,) bool or frame indices (default all frames),
                  keep_parts names of tokenizer parts (default all). Kept joints are copied exactly
                  from ``keep`` in the output poses; everything else is generated around them.
    cache, compile : the GPT's KV cache ("auto", "static", "dynamic", "none") and, on CUDA, CUDA-graph
                  decoding (see ``MotionGPT.generate``); they change speed, not the dance.
    returns     : (PoseSequence2D (T, 136) at ``features.fps``, tokens (T, 5, 6) int64).
    """
    import torch

    report = progress or (lambda fraction: None)
    T = _check_generation_inputs(models, features, num_frames, window)
    config = models.gpt.config
    parts = models.part_names
    forced = np.full((T, config.num_parts, config.tokens_per_part), -1, np.int64)
    forced[0] = encode_pose_tokens(models, reference.frame(0), reference)[0]
    kept_frames, kept_parts = _keep_masks(keep, keep_frames, keep_parts, T, parts)
    if keep is not None:
        keep_tokens = encode_pose_tokens(models, keep, reference)
        mask = kept_frames[:, None] & kept_parts[None, :]
        forced[mask] = keep_tokens[mask]
    music = (features.values[:T].astype(np.float32) - models.music_mean) / np.maximum(models.music_std, 1e-6)
    music_t = torch.as_tensor(music, device=models.device)
    generator = torch.Generator(device=models.device).manual_seed(int(seed))
    tokens = forced.copy()
    starts = window_starts(T, window, overlap)
    report(0.0)
    previous: tuple[int, int] | None = None
    for i, start in enumerate(starts):
        stop = min(start + window, T)
        given = torch.as_tensor(tokens[start:stop], device=models.device)
        context = None
        if previous is not None:
            picks = context_frames(*previous, config.motion_context_frames)
            context = torch.as_tensor(tokens[picks], device=models.device).flatten(1)[None]
        out = models.gpt.generate(music_t[None, start:stop], context, given.flatten(1)[None], temperature,
                                  top_k, top_p, generator, cache=cache, compile=compile)
        tokens[start:stop] = out[0].view(stop - start, config.num_parts, config.tokens_per_part).cpu().numpy()
        previous = (start, stop)
        report((i + 1) / len(starts))
    poses = decode_pose_tokens(models, tokens, reference, features.fps)
    if keep is not None:
        poses = _copy_kept_joints(poses, keep, reference, kept_frames, kept_parts, parts)
    return poses, tokens


def xdancer_generator(models: XDancerModels, features: MusicFeatures, reference: PoseSequence2D,
                      num_frames: int | None = None, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = 0.9, window: int = 64, overlap: int = 12,
                      keep: PoseSequence2D | None = None, keep_frames: Sequence[int] | np.ndarray | None = None,
                      keep_parts: Iterable[str] | None = None,
                      progress: Callable[[float], None] | None = None) -> Callable[[int], PoseSequence2D]:
    """``seed -> PoseSequence2D``: X-Dancer as a generator for ``choreo.edit.regenerate_around_edits``.

    Pass the edited sequence as ``keep`` with ``keep_frames = keep_mask(...)`` (temporal mode) or
    ``keep_parts`` (locked parts) to generate around the edits instead of ignoring them.
    """
    keep_parts = tuple(keep_parts) if keep_parts is not None else None

    def generate(seed: int) -> PoseSequence2D:
        return generate_xdancer_motion(models, features, reference, num_frames, seed, temperature, top_k, top_p,
                                       window, overlap, progress, keep, keep_frames, keep_parts)[0]

    return generate


def _check_generation_inputs(models: XDancerModels, features: MusicFeatures, num_frames: int | None,
                             window: int) -> int:
    config = models.gpt.config
    T = check_music_features(features, config.music_dim, models.fps, models.music_extractor, num_frames,
                             XDancerInputError)
    if window > config.block_frames:
        raise XDancerInputError(f"window is {window} frames but the model was trained on at most "
                                f"{config.block_frames}; use window <= {config.block_frames}.")
    return T


def _keep_masks(keep: PoseSequence2D | None, keep_frames, keep_parts, num_frames: int,
                parts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(T,) bool frames and (P,) bool parts to keep."""
    frames = np.zeros(num_frames, bool)
    part_mask = np.zeros(len(parts), bool)
    if keep is None:
        if keep_frames is not None or keep_parts is not None:
            raise XDancerInputError("keep_frames / keep_parts need the sequence to keep: pass keep=.")
        return frames, part_mask
    frames = kept_frame_mask(keep, keep_frames, num_frames, XDancerInputError)
    if keep_parts is None:
        part_mask[:] = True
    else:
        for name in keep_parts:
            if name not in parts:
                raise XDancerInputError(f"unknown part {name!r} in keep_parts; choose from {', '.join(parts)}.")
            part_mask[parts.index(name)] = True
    return frames, part_mask


def _copy_kept_joints(poses: PoseSequence2D, keep: PoseSequence2D, reference: PoseSequence2D, frames: np.ndarray,
                      part_mask: np.ndarray, parts: tuple[str, ...]) -> PoseSequence2D:
    """Kept joints take ``keep``'s exact positions (on the reference canvas) and confidences."""
    joints = [j for p, name in enumerate(parts) if part_mask[p] for j in part_layout_joints(name)]
    scale = np.array([reference.canvas_width / keep.canvas_width, reference.canvas_height / keep.canvas_height])
    keypoints, confidence = poses.keypoints_px.copy(), poses.confidence.copy()
    rows = np.flatnonzero(frames)[:, None]
    keypoints[rows, joints] = keep.keypoints_px[rows, joints] * scale
    confidence[rows, joints] = keep.confidence[rows, joints]
    return PoseSequence2D(keypoints.astype(np.float32), confidence.astype(np.float32), poses.canvas_width,
                          poses.canvas_height, poses.fps, poses.missing_parts)
