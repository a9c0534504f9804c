"""The one-hot pose DiT on the core data model: music + reference pose -> 2D dance, by latent diffusion.

HotDance (arXiv 2512.11720; models.md section 5): poses become one-hot images
(``pose.onehot_image``), an image autoencoder compresses channel triplets 8x in bins and frames
(``pose.onehot_latents``), and a DiT (``models/pose_dit.py``) denoises the latents given music
tokens and reference latents with a pose-aware frame mask.

Coordinates. Poses are first put in the reference's body frame, as X-Dancer's are
(``xdancer.to_tokenizer_input``: mid-hip origin, torso length one unit, y down), and the one-hot
bins span a fixed square box of that frame, ``body_box`` = (left, top, size) in torso units. So the
reference fixes the on-screen scale and place exactly, and the network only learns the dance; the
paper instead encodes canvas coordinates and lets the reference carry the scale. Decoded poses are
mapped back onto the reference canvas. Only the 18 body keypoints are generated (hands, feet and face
are absent and listed in ``missing_parts``).

Representation. The DiT denoises latents of poses: one-hot images through the autoencoder (the
paper's), or, for the paper's raw-coordinate ablation, the body coordinates laid out in the same grid
shape (``pose.coordinate_latents``; no autoencoder). ``encode_poses`` and ``decode_poses`` are the one
place that tells them apart.

Checkpoint. One folder holds both networks, each a Choreo checkpoint::

    <name>/autoencoder/config.json, model.safetensors   PoseImageVAE (AutoencoderKL interface)
    <name>/dit/config.json, model.safetensors           PoseDiT; extra music_mean, music_std (C,);
                                                        metadata fps, music_extractor, segment_frames,
                                                        num_bins, sigma_bins, body_box, representation

A raw-coordinate DiT has no ``autoencoder/``; its ``dit/`` holds the extra ``coordinate_stats`` (2, 54).

Sampling. DDIM on the cosine schedule (``generators.diffusion``), reading the DiT's output as noise or as
the clean latents as its config's ``prediction`` says; classifier-free guidance by the null music token.
Long songs go by segments of ``segment_frames`` with ``OVERLAP_FRAMES`` = 16 shared frames: the first
segment sees the reference shape-only, every later one sees the previous segment's last 16 poses as
pose-aware reference frames (the paper's stitching) and keeps them. In-painting: frames to keep become
pose-aware reference frames too (the paper's mask, generalised from a prefix to any frames), latent
columns whose 8 frames are all kept are also held to the kept poses' latents at every step
(RePaint-style), and at the end kept frames and kept joints are copied exactly from the given sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..checkpoints import CheckpointError, load_metadata, load_model, save_checkpoint
from ..errors import ChoreoError
from ..model_cache import MODEL_CACHE, cache_key
from ..music.features import MusicFeatures
from ..networks import network_module
from ..pose.coordinate_latents import coordinates_to_grid, grid_to_coordinates
from ..pose.layout import NUM_KEYPOINTS
from ..pose.onehot_image import OneHotConfig, onehot_to_pose, pose_to_onehot
from ..pose.sequence import PoseSequence2D
from .generation_checks import check_music_features, kept_frame_mask
from .xdancer import TOKENIZER_JOINTS, from_tokenizer_output, to_tokenizer_input

FAMILY = "pose_dit"
AUTOENCODER_DIR = "autoencoder"
DIT_DIR = "dit"
OVERLAP_FRAMES = 16  # the paper's N: pose-aware frames shared by consecutive segments
# Body box (left, top, size) in torso units, y down: covers the engine's dances (x -1.9..1.95, y -2.1..1.5).
DEFAULT_BODY_BOX = (-2.5, -2.75, 5.0)
BOX_CANVAS_PX = 1024  # the virtual square canvas the box is drawn on for ``pose_to_onehot``
NUM_BODY = 18
TRACK_PENALTY_PER_BIN = 0.05  # decoding: a 20-bin jump between frames costs a full-confidence peak
LATENT_CLIP = 5.0  # x0 predictions are clamped to +-5 latent standard deviations while sampling
NOT_GENERATED_PARTS = frozenset({"foot_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
                                 "hand_right_keypoints_2d"})


class PoseDiTInputError(ChoreoError):
    """Inputs to pose DiT generation do not fit the model (fps, features, lengths, constraints)."""


@dataclass
class PoseDiTModels:
    """A loaded pose DiT: autoencoder, DiT, music normaliser and the one-hot layout they were trained on.

    ``coordinate_stats`` (2, 54) marks the raw-coordinate ablation (no autoencoder): per-channel mean and
    std of its coordinate grid.
    """

    autoencoder: Any             # PoseImageVAE; None for raw coordinates
    dit: Any
    music_mean: np.ndarray       # (C,) float32
    music_std: np.ndarray        # (C,) float32
    fps: float
    music_extractor: str
    segment_frames: int          # frames per generated segment (the training crop)
    onehot: OneHotConfig
    body_box: tuple[float, float, float]
    coordinate_stats: np.ndarray | None = None

    @property
    def representation(self) -> str:
        return "onehot" if self.coordinate_stats is None else "coordinates"

    @property
    def networks(self) -> list:
        """The torch modules to place and offload: the autoencoder (if any) and the DiT."""
        return [network for network in (self.autoencoder, self.dit) if network is not None]

    @property
    def device(self):
        return next(self.dit.parameters()).device

    def parameters(self):
        for network in self.networks:
            yield from network.parameters()

    def buffers(self):
        for network in self.networks:
            yield from network.buffers()


# ---- poses <-> one-hot images in the body box ------------------------------------------------------------
def box_sequence(normalised: np.ndarray, body_box: Sequence[float], fps: float) -> PoseSequence2D:
    """Body-frame poses (T, 60, 3) (x, y in torso units, confidence) drawn on the box's virtual square canvas."""
    left, top, size = body_box
    seq = PoseSequence2D.empty(len(normalised), BOX_CANVAS_PX, BOX_CANVAS_PX, fps)
    keypoints, confidence = seq.keypoints_px.copy(), seq.confidence.copy()
    keypoints[:, TOKENIZER_JOINTS] = (normalised[..., :2] - np.array([left, top])) / size * BOX_CANVAS_PX
    confidence[:, TOKENIZER_JOINTS] = normalised[..., 2]
    return PoseSequence2D(keypoints.astype(np.float32), confidence.astype(np.float32), BOX_CANVAS_PX, BOX_CANVAS_PX,
                          float(fps))


def normalised_to_onehot(normalised: np.ndarray, onehot: OneHotConfig, body_box: Sequence[float]) -> np.ndarray:
    """(T, 60, 3) body-frame poses -> (C, W, T) float32 one-hot image of the box."""
    return pose_to_onehot(box_sequence(normalised, body_box, 30.0), onehot)


def onehot_to_normalised(image: np.ndarray, onehot: OneHotConfig, body_box: Sequence[float],
                         track_penalty: float = 0.0) -> np.ndarray:
    """(C, W, T) one-hot image (decoded, so peaks refined by their centroid) -> (T, 60, 3) body-frame poses.

    track_penalty : ``onehot_to_pose``'s peak tracking through time (0 = the paper's per-frame argmax).
    """
    left, top, size = body_box
    seq = onehot_to_pose(image, BOX_CANVAS_PX, BOX_CANVAS_PX, 30.0, onehot, refine_centroid=True,
                         track_penalty=track_penalty)
    points = seq.keypoints_px[:, TOKENIZER_JOINTS].astype(np.float64) / BOX_CANVAS_PX * size + np.array([left, top])
    confidence = seq.confidence[:, TOKENIZER_JOINTS].astype(np.float64)
    points[confidence <= 0] = 0.0
    return np.concatenate([points, confidence[..., None]], -1).astype(np.float32)


# ---- reference conditioning ------------------------------------------------------------------------------
def frame_mask(pose_aware: np.ndarray, frames_per_column: int = 8) -> np.ndarray:
    """The binary mask M (8, T') of pose-aware frames: M[phase, t] = frame 8 t + phase is pose-aware.

    pose_aware : (T,) bool; the paper's N replaced frames are ``np.arange(T) < N``, which gives its
                 construction (supplement section 6): q = N // 8 full columns, then r = N % 8 phases of
                 column q. Any other set of frames (keyframes to in-paint) uses the same rule.
    returns    : (8, ceil(T / 8)) float32; frames past T (padding) are shape-only. Broadcast it over W'
                 for the DiT's (8, W', T') input.

    >>> frame_mask(np.arange(24) < 10)[:, 1].tolist()
    [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    aware = np.asarray(pose_aware, bool)
    columns = -(-len(aware) // frames_per_column)
    padded = np.zeros(columns * frames_per_column, bool)
    padded[:len(aware)] = aware
    return padded.reshape(columns, frames_per_column).T.astype(np.float32)


def reference_poses(reference_pose: np.ndarray, num_frames: int, pose_aware: np.ndarray | None = None,
                    aware_poses: np.ndarray | None = None) -> np.ndarray:
    """The poses of X_ref_repeat: the reference repeated over T, pose-aware frames replaced by their poses.

    Encoded frame by frame (``encode_poses``), they give the paper's reference image: the reference's one-hot
    repeated over time with the pose-aware frames' one-hots in place.

    reference_pose : (60, 3) body-frame reference pose (shape only: body proportions).
    pose_aware     : (T,) bool frames whose true pose is given (None: none).
    aware_poses    : (T, 60, 3) holding those poses (read only where ``pose_aware``).
    returns        : (T, 60, 3) float32.
    """
    poses = np.repeat(np.asarray(reference_pose, np.float32)[None], num_frames, axis=0)
    if pose_aware is not None and np.any(pose_aware):
        poses[pose_aware] = aware_poses[pose_aware]
    return poses


# ---- checkpoints -----------------------------------------------------------------------------------------
def save_pose_dit(directory: str | Path, models: PoseDiTModels, metadata: dict | None = None) -> Path:
    """Write ``directory/autoencoder`` and ``directory/dit`` (module docstring)."""
    import torch

    directory = Path(directory)
    if models.autoencoder is not None:
        save_checkpoint(directory / AUTOENCODER_DIR, models.autoencoder, models.autoencoder.config,
                        metadata={"num_bins": models.onehot.num_bins, "sigma_bins": models.onehot.sigma_bins})
    extra = {"music_mean": torch.as_tensor(np.asarray(models.music_mean, np.float32)),
             "music_std": torch.as_tensor(np.asarray(models.music_std, np.float32))}
    if models.coordinate_stats is not None:
        extra["coordinate_stats"] = torch.as_tensor(np.asarray(models.coordinate_stats, np.float32))
    save_checkpoint(directory / DIT_DIR, models.dit, models.dit.config, extra=extra,
                    metadata={**model_metadata(models), **(metadata or {})})
    return directory


def model_metadata(models: PoseDiTModels) -> dict:
    """What sampling needs besides the weights, as saved in ``dit/config.json``."""
    return {"fps": float(models.fps), "music_extractor": models.music_extractor,
            "segment_frames": int(models.segment_frames), "num_bins": models.onehot.num_bins,
            "sigma_bins": models.onehot.sigma_bins, "body_box": list(models.body_box),
            "representation": models.representation}


def load_pose_dit(path: str | Path, device: str = "cpu") -> PoseDiTModels:
    """The pose DiT in folder ``path`` (autoencoder/ + dit/, or dit/ alone for raw coordinates), loaded once per
    file version."""
    path = Path(path)
    needed = [DIT_DIR]
    if (path / DIT_DIR / "config.json").is_file() and _representation(path) == "onehot":
        needed.insert(0, AUTOENCODER_DIR)
    for sub in needed:
        if not (path / sub / "model.safetensors").is_file():
            raise CheckpointError(f"{path} is not a pose DiT checkpoint: {sub}/model.safetensors is missing. A pose "
                                  f"DiT folder holds {AUTOENCODER_DIR}/ and {DIT_DIR}/, each with config.json and "
                                  "model.safetensors (train one with python -m choreo.training.train_pose_dit).")
    variant = cache_key(path / AUTOENCODER_DIR / "model.safetensors") if AUTOENCODER_DIR in needed else None
    key = cache_key(path / DIT_DIR / "model.safetensors", None, device, variant=variant)
    return MODEL_CACHE.get_or_load(key, lambda: _load(path, device))


def _representation(path: Path) -> str:
    return str(load_metadata(path / DIT_DIR).get("representation", "onehot"))


def _load(path: Path, device: str) -> PoseDiTModels:
    vae_module, dit_module = network_module("pose_image_vae"), network_module("pose_dit")
    dit, dit_config, extra = load_model(path / DIT_DIR, dit_module.PoseDiTConfig, dit_module.PoseDiT, device)
    metadata = load_metadata(path / DIT_DIR)
    onehot = OneHotConfig(num_bins=int(metadata["num_bins"]), sigma_bins=float(metadata["sigma_bins"]))
    autoencoder, coordinate_stats = None, None
    if _representation(path) == "coordinates":
        if "coordinate_stats" not in extra:
            raise CheckpointError(f"{path / DIT_DIR} says it is a raw-coordinate DiT but holds no coordinate_stats; "
                                  "retrain it with python -m choreo.training.train_pose_dit dit --representation "
                                  "coordinates.")
        coordinate_stats = extra["coordinate_stats"].cpu().numpy()
        expected, expected_bins = coordinate_stats.shape[1], dit_config.frames_per_column
    else:
        autoencoder, _, _ = load_model(path / AUTOENCODER_DIR, vae_module.PoseImageVAEConfig,
                                       vae_module.PoseImageVAE, device)
        expected = -(-onehot.num_channels // 3) * autoencoder.config.latent_channels  # G triplets x latent channels
        expected_bins = onehot.num_bins // 8
    if dit_config.latent_channels != expected or dit_config.latent_bins != expected_bins:
        raise CheckpointError(f"{path}: the DiT takes {dit_config.latent_channels} x {dit_config.latent_bins} latents "
                              f"but its pose representation makes {expected} x {expected_bins}; train both together.")
    return PoseDiTModels(autoencoder, dit, extra["music_mean"].cpu().numpy(), extra["music_std"].cpu().numpy(),
                         float(metadata["fps"]), str(metadata["music_extractor"]), int(metadata["segment_frames"]),
                         onehot, tuple(float(v) for v in metadata["body_box"]), coordinate_stats)


# ---- latents ---------------------------------------------------------------------------------------------
def encode_images(models: PoseDiTModels, images: np.ndarray):
    """(B, C, W, T) one-hot images, T a multiple of 8 -> (B, 4G, W', T') scaled latents (torch, model device)."""
    import torch

    from ..pose.onehot_latents import encode_onehot_batch

    return encode_onehot_batch(torch.as_tensor(images, device=models.device), models.autoencoder)


def decode_latents(models: PoseDiTModels, latents) -> np.ndarray:
    """(B, 4G, W', T') scaled latents -> (B, C, W, T) float32 one-hot images in [0, 1]."""
    from ..pose.onehot_latents import decode_onehot_batch

    return decode_onehot_batch(latents, models.autoencoder, models.onehot.num_channels).cpu().numpy()


def encode_poses(models: PoseDiTModels, poses: np.ndarray):
    """(B, T, 60, 3) body-frame poses, T a multiple of 8 -> the DiT's (B, channels, W', T') latents (torch)."""
    return poses_to_latents(poses, models.autoencoder, models.onehot, models.body_box,
                            models.coordinate_stats).to(models.device)


def poses_to_latents(poses: np.ndarray, autoencoder, onehot: OneHotConfig, body_box: Sequence[float],
                     coordinate_stats: np.ndarray | None = None):
    """``encode_poses`` from the parts (the trainer has no DiT yet): the coordinate grid when ``coordinate_stats``
    is given, else one-hot images through ``autoencoder``; on the autoencoder's device (CPU for coordinates)."""
    import torch

    from ..pose.onehot_latents import encode_onehot_batch

    if coordinate_stats is not None:
        return torch.as_tensor(coordinates_to_grid(np.asarray(poses, np.float32)[:, :, :NUM_BODY], coordinate_stats))
    images = np.stack([normalised_to_onehot(p, onehot, body_box) for p in poses])
    return encode_onehot_batch(torch.as_tensor(images, device=next(autoencoder.parameters()).device), autoencoder)


def decode_poses(models: PoseDiTModels, latents, track_penalty: float = 0.0) -> np.ndarray:
    """The DiT's (B, channels, W', T') latents -> (B, T, 60, 3) body-frame poses (hands absent).

    track_penalty : one-hot decoding's peak tracking through time (``onehot_to_normalised``).
    """
    if models.coordinate_stats is None:
        return np.stack([onehot_to_normalised(image, models.onehot, models.body_box, track_penalty)
                         for image in decode_latents(models, latents)])
    body = grid_to_coordinates(latents.float().cpu().numpy(), models.coordinate_stats)
    body[..., 2] = body[..., 2].clip(0.0, 1.0)
    body[body[..., 2] <= 0] = 0.0
    poses = np.zeros(body.shape[:2] + (len(TOKENIZER_JOINTS), 3), np.float32)
    poses[:, :, :NUM_BODY] = body
    return poses


# ---- generation ------------------------------------------------------------------------------------------
def segment_starts(num_frames: int, segment_frames: int, overlap_frames: int = OVERLAP_FRAMES) -> list[int]:
    """First frame of every segment: 0, S - N, 2 (S - N), ... until ``num_frames`` are covered."""
    if segment_frames <= overlap_frames:
        raise PoseDiTInputError(f"segments of {segment_frames} frames cannot share {overlap_frames}; use longer ones.")
    starts = [0]
    while starts[-1] + segment_frames < num_frames:
        starts.append(starts[-1] + segment_frames - overlap_frames)
    return starts


def generate_pose_dit(models: PoseDiTModels, features: MusicFeatures, reference: PoseSequence2D,
                      num_frames: int | None = None, seed: int = 0, guidance_scale: float = 2.0,
                      num_inference_steps: int = 25, progress: Callable[[float], None] | None = None,
                      keep: PoseSequence2D | None = None, keep_frames: Sequence[int] | np.ndarray | None = None,
                      keep_joints: Iterable[int] | None = None,
                      track_penalty: float = TRACK_PENALTY_PER_BIN) -> PoseSequence2D:
    """A dance for the music as 2D poses on the reference canvas.

    features            : per-frame music features at the model's fps and extractor.
    reference           : one-frame pose of the person to animate: body proportions, scale and place.
    num_frames          : frames to generate; default ``features.num_frames`` (at most that).
    seed                : the only randomness; the same seed gives the same dance.
    guidance_scale      : classifier-free guidance on the music (1 = conditional prediction only).
    num_inference_steps : DDIM steps per segment.
    progress            : called with the fraction done after every step; it may raise to interrupt.
    keep                : a sequence on the same clock (>= num_frames frames) to keep where ``keep_frames``
                          (T,) bool or frame indices (default all) and ``keep_joints`` (layout indices, default
                          all) say. Kept joints of kept frames are copied exactly into the result; when the kept
                          joints include the whole body, kept frames also condition the model as pose-aware
                          references (a frame mask has no per-joint entries, so joint subsets are copied only).
    track_penalty       : decoding follows each keypoint's peak through time, a bin of movement between
                          frames costing this much (``onehot_image.track_peaks``); 0 = the paper's per-frame
                          argmax, which jumps between blobs when a decoded image has a spurious second one.
    returns             : PoseSequence2D (T, 136) at ``features.fps``: 18 body keypoints, the rest absent.
    """
    import torch

    from .diffusion import CosineSchedule

    T = _check_inputs(models, features, num_frames, guidance_scale, num_inference_steps)
    report = progress or (lambda fraction: None)
    kept_frames, kept_joints = _keep_masks(keep, keep_frames, keep_joints, T)
    reference_pose = to_tokenizer_input(reference.frame(0), reference)[0]  # (60, 3) body frame
    known = np.zeros((T, 60, 3), np.float32)  # body-frame poses of kept and already generated frames
    aware = np.zeros(T, bool)
    if keep is not None and kept_joints[:NUM_BODY].all():  # whole kept frames condition the model
        known[kept_frames] = to_tokenizer_input(keep, reference)[:T][kept_frames]
        aware |= kept_frames
    music = (features.values[:T].astype(np.float32) - models.music_mean) / np.maximum(models.music_std, 1e-6)
    schedule = CosineSchedule()
    generator = torch.Generator().manual_seed(int(seed))
    segment = models.segment_frames
    starts = segment_starts(T, segment)
    total_steps = len(starts) * num_inference_steps
    output = np.zeros((T, 60, 3), np.float32)
    report(0.0)
    for index, start in enumerate(starts):
        stop = min(start + segment, T)
        window_aware = aware[start:stop].copy()
        if index > 0:  # the previous segment's last N poses, pose-aware (the paper's stitching)
            window_aware[:OVERLAP_FRAMES] = True
        window_known = np.where(aware[start:stop, None, None], known[start:stop], output[start:stop])
        done = index * num_inference_steps

        def step_progress(fraction: float, done: int = done) -> None:
            report((done + fraction * num_inference_steps) / total_steps)

        poses = _sample_segment(models, schedule, music[start:stop], reference_pose, window_known, window_aware,
                                guidance_scale, num_inference_steps, generator, step_progress, track_penalty)
        first = 0 if index == 0 else OVERLAP_FRAMES
        output[start + first:stop] = poses[first:]
        output[aware] = known[aware]
    seq = from_tokenizer_output(output, reference, features.fps)
    seq = PoseSequence2D(seq.keypoints_px, seq.confidence, seq.canvas_width, seq.canvas_height, seq.fps,
                         NOT_GENERATED_PARTS)
    report(1.0)
    return _copy_kept(seq, keep, kept_frames, kept_joints) if keep is not None else seq


def _sample_segment(models: PoseDiTModels, schedule, music: np.ndarray, reference_pose: np.ndarray,
                    known: np.ndarray, aware: np.ndarray, guidance_scale: float, num_inference_steps: int,
                    generator, progress: Callable[[float], None], track_penalty: float) -> np.ndarray:
    """One segment of <= segment_frames frames: (T, 60, 3) body-frame poses."""
    import torch

    from .diffusion import ddim_sample

    length = len(music)
    padded = -(-length // 8) * 8

    def pad(array: np.ndarray) -> np.ndarray:
        """Frames repeated at the end up to a whole latent column, as ``pad_for_vae`` pads T."""
        return np.concatenate([array, np.repeat(array[-1:], padded - length, axis=0)])
    music_t = torch.as_tensor(pad(music), device=models.device)[None]
    aware_padded = np.concatenate([aware, np.zeros(padded - length, bool)])
    known_poses = pad(known)
    reference_latents = encode_poses(models, reference_poses(reference_pose, padded, aware_padded, known_poses)[None])
    mask_columns = torch.as_tensor(frame_mask(aware_padded), device=models.device)            # (8, T')
    shape = tuple(reference_latents.shape)
    mask = mask_columns[None, :, None, :].expand(1, 8, shape[2], shape[3])
    full_columns = torch.as_tensor(frame_mask(aware_padded).all(axis=0), device=models.device)
    inpaint = None
    if bool(full_columns.any()):  # latent columns whose 8 frames are all known: held to their latents
        inpaint = (full_columns[None, None, None, :].expand(shape), encode_poses(models, known_poses[None]))
    alphas = schedule.alphas_cumprod
    dit = models.dit

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        both = torch.cat([x, x])
        keep_music = torch.tensor([True, False], device=x.device)
        conditional, null = dit(both, torch.cat([t, t]), reference_latents.expand(2, *shape[1:]),
                                mask.expand(2, *mask.shape[1:]), music_t.expand(2, *music_t.shape[1:]),
                                keep_music).chunk(2)
        guided = null + guidance_scale * (conditional - null)
        if dit.config.prediction == "sample":
            return guided.clamp(-LATENT_CLIP, LATENT_CLIP)
        alpha_bar = alphas[t].to(x.dtype).view(-1, 1, 1, 1)
        return ((x - (1 - alpha_bar).sqrt() * guided) / alpha_bar.sqrt()).clamp(-LATENT_CLIP, LATENT_CLIP)

    with torch.no_grad():
        latents = ddim_sample(denoise, shape, schedule, num_inference_steps, eta=0.0, generator=generator,
                              progress=progress, inpaint=inpaint, device=models.device, clip_x0=False)
    return decode_poses(models, latents, track_penalty)[0, :length]


def pose_dit_generator(models: PoseDiTModels, features: MusicFeatures, reference: PoseSequence2D,
                       num_frames: int | None = None, guidance_scale: float = 2.0, num_inference_steps: int = 25,
                       keep: PoseSequence2D | None = None, keep_frames: Sequence[int] | np.ndarray | None = None,
                       keep_joints: Iterable[int] | None = None,
                       progress: Callable[[float], None] | None = None) -> Callable[[int], PoseSequence2D]:
    """``seed -> PoseSequence2D``: the pose DiT as a generator for ``choreo.edit.regenerate_around_edits``.

    Pass the edited sequence as ``keep`` with ``keep_frames = keep_mask(...)`` (temporal mode) so the
    model dances into and out of the kept frames instead of ignoring them.
    """
    keep_joints = tuple(keep_joints) if keep_joints is not None else None

    def generate(seed: int) -> PoseSequence2D:
        return generate_pose_dit(models, features, reference, num_frames, seed, guidance_scale, num_inference_steps,
                                 progress, keep, keep_frames, keep_joints)

    return generate


def parse_frame_ranges(text: str) -> np.ndarray:
    """(N,) int64 frames of a list of inclusive ranges such as ``"0-15, 90, 120-150"``.

    >>> parse_frame_ranges("0-2, 5").tolist()
    [0, 1, 2, 5]
    """
    frames: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            start, stop = int(first), int(last or first)
        except ValueError:
            raise PoseDiTInputError(f"frame range {part!r} is not 'N' or 'N-M' (whole frame numbers); write e.g. "
                                    "'0-15, 90, 120-150'.") from None
        if start < 0 or stop < start:
            raise PoseDiTInputError(f"frame range {part!r} must count up from 0 or more, e.g. '10-20'.")
        frames.extend(range(start, stop + 1))
    return np.unique(np.asarray(frames, np.int64))


def _check_inputs(models: PoseDiTModels, features: MusicFeatures, num_frames: int | None, guidance_scale: float,
                  num_inference_steps: int) -> int:
    T = check_music_features(features, models.dit.config.music_dim, models.fps, models.music_extractor, num_frames,
                             PoseDiTInputError)
    if not 1 <= num_inference_steps <= 1000:
        raise PoseDiTInputError(f"num_inference_steps must be 1..1000, got {num_inference_steps}.")
    if not guidance_scale >= 0:
        raise PoseDiTInputError(f"guidance_scale must be >= 0 (1 = no guidance), got {guidance_scale}.")
    return T


def _keep_masks(keep: PoseSequence2D | None, keep_frames, keep_joints, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) bool frames and (136,) bool joints to keep."""
    frames, joints = np.zeros(num_frames, bool), np.zeros(NUM_KEYPOINTS, bool)
    if keep is None:
        if keep_frames is not None or keep_joints is not None:
            raise PoseDiTInputError("keep_frames / keep_joints need the sequence to keep: pass keep=.")
        return frames, joints
    frames = kept_frame_mask(keep, keep_frames, num_frames, PoseDiTInputError)
    if keep_joints is None:
        joints[:] = True
    else:
        picked = np.asarray(list(keep_joints), np.int64)
        if picked.size and (picked.min() < 0 or picked.max() >= NUM_KEYPOINTS):
            raise PoseDiTInputError(f"keep_joints are layout indices 0..{NUM_KEYPOINTS - 1}, got {picked.tolist()}.")
        joints[picked] = True
    return frames, joints


def _copy_kept(seq: PoseSequence2D, keep: PoseSequence2D, frames: np.ndarray, joints: np.ndarray) -> PoseSequence2D:
    """Kept joints of kept frames take ``keep``'s exact positions (rescaled to the output canvas) and confidences."""
    scale = np.array([seq.canvas_width / keep.canvas_width, seq.canvas_height / keep.canvas_height], np.float32)
    keypoints, confidence = seq.keypoints_px.copy(), seq.confidence.copy()
    rows, cols = np.flatnonzero(frames)[:, None], np.flatnonzero(joints)[None, :]
    keypoints[rows, cols] = keep.keypoints_px[rows, cols] * scale
    confidence[rows, cols] = keep.confidence[rows, cols]
    return PoseSequence2D(keypoints, confidence, seq.canvas_width, seq.canvas_height, seq.fps,
                          seq.missing_parts - _parts_with(joints))


def _parts_with(joints: np.ndarray) -> frozenset[str]:
    """POSE_KEYPOINT parts that contain any of the given joints (no longer missing once copied)."""
    from ..pose.layout import PARTS

    return frozenset(key for key, start, stop in PARTS if joints[start:stop].any())
