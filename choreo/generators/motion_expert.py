"""Music-to-3D-dance with a learned Motion Expert (MACE-Dance's BiMamba-Transformer or EDGE), any length.

A ``MotionExpert`` is a loaded checkpoint: the x0-predicting denoiser, its normaliser and its
training clock. ``generate_dance`` samples a whole song; ``inpaint_dance`` regenerates parts of
an existing dance by masked denoising; ``motion_expert_generator`` plugs either into the
editor's Regenerate interface (seed -> PoseSequence2D).

Long songs (any length):

- **EDGE** (``long_windows``): windows of ``horizon`` frames at half-window stride, denoised
  together as one batch, made to agree at every DDIM step. Before each step the windows' x0
  predictions of the frames two windows share are replaced by a linear cross-fade of the two
  (``blend_overlaps``), so each step moves the shared frames towards one estimate and the last step
  returns windows whose shared halves are equal and whose fades tile without a jump; after each
  step each window's first half is overwritten by the previous window's second half, so the
  noisy samples the network sees next agree too (EDGE's ``long_ddim_sample`` does only this
  overwrite, which leaves a jump where the overwritten half meets the window's own frames). The
  classifier-free guidance weight ramps linearly from 0 at the noisiest step to
  ``guidance_weight`` at the halfway point of sampling, as EDGE does in long mode. Windows are
  stitched with linear fades over the overlaps (positions, contacts) and slerp (rotations) as a
  final safety; the overlaps already agree, so the fade only smooths float noise. One window
  (a song up to ``horizon`` frames) is sampled exactly as before: no blend, no overwrite.
- **MACE** (length extrapolation): the whole song in one window. The BiMamba layers carry order
  through their state-space recurrence (no positional code, so no trained length limit) and the
  cross-attention sees all of the music; MACE-Dance's ``render_sample`` does the same for any T.
  Above ``MACE_MAX_SINGLE_PASS_WINDOWS`` training windows (memory of one attention map) it falls
  back to EDGE's overlapping windows.

Sampling is DDIM with ``eta`` (1 = EDGE/MACE), x0 clipped to [-1, 1]; everything is seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..datasets.aistpp import GENRES as AISTPP_GENRES
from ..datasets.finedance import GENRES as FINEDANCE_GENRES
from ..errors import MotionInputError
from ..motion.choreographer import STYLES as CHOREOGRAPHER_GENRES
from ..motion.joint_limits import clamp_to_joint_limits
from ..motion.motion3d import EDGE_FRAME_DIM, Motion3D
from ..motion.rotations import matrix_to_quaternion, quaternion_to_matrix, rotation_6d_to_matrix, slerp
from ..motion.skeleton import JOINT, JOINT_NAMES, NUM_JOINTS
from ..music.features import MusicFeatures

FAMILIES = ("edge", "mace")
CONTACT_CHANNELS = slice(0, 4)
ROOT_CHANNELS = slice(4, 7)
ROTATION_START = 7
MACE_MAX_SINGLE_PASS_WINDOWS = 16
AUTO_GENRE = "auto"
# Genre vocabularies a checkpoint may name in its metadata (``genres``); the node offers their union.
ALL_GENRES = AISTPP_GENRES + FINEDANCE_GENRES + CHOREOGRAPHER_GENRES
INPAINT_MODES = ("temporal", "joints", "root")
JOINT_GROUPS = {
    "left_leg": ("left_hip", "left_knee", "left_ankle", "left_foot"),
    "right_leg": ("right_hip", "right_knee", "right_ankle", "right_foot"),
    "spine_head": ("spine1", "spine2", "spine3", "neck", "head"),
    "left_arm": ("left_collar", "left_shoulder", "left_elbow", "left_wrist", "left_hand"),
    "right_arm": ("right_collar", "right_shoulder", "right_elbow", "right_wrist", "right_hand"),
}
JOINT_GROUPS["lower_body"] = ("pelvis",) + JOINT_GROUPS["left_leg"] + JOINT_GROUPS["right_leg"]
JOINT_GROUPS["upper_body"] = JOINT_GROUPS["spine_head"] + JOINT_GROUPS["left_arm"] + JOINT_GROUPS["right_arm"]


@dataclass(frozen=True)
class MotionExpert:
    """A loaded music-to-motion denoiser.

    family     : "edge" (classifier-free guidance) or "mace" (guidance-free, beta dial, genre).
    network    : the torch module (``models.edge.EDGEDenoiser`` or ``models.mace.MACEDenoiser``).
    config     : its frozen config dataclass.
    normalizer : ``MinMaxNormalizer`` mapping raw 151-d frames to the network's [-1, 1].
    fps        : frame rate the model was trained at; music features must match it.
    horizon    : training window, frames (EDGE's long-sampling window).
    genres     : names of the genre indices (MACE); the last index is "unknown".
    metadata   : the checkpoint's metadata (data, steps, demo flag, ...).
    """

    family: str
    network: Any
    config: Any
    normalizer: Any
    fps: float = 30.0
    horizon: int = 150
    genres: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise MotionInputError(f"MotionExpert family must be one of {FAMILIES}, got {self.family!r}.")

    def genre_index(self, genre: str | int | None) -> int:
        """Index of a genre name (or index) in this model's vocabulary; None = the "unknown" index."""
        num_genres = getattr(self.config, "num_genres", 1)
        if genre is None:
            return num_genres - 1
        if isinstance(genre, (int, np.integer)):
            if not 0 <= genre < num_genres:
                raise MotionInputError(f"genre index {genre} is outside this model's 0..{num_genres - 1}.")
            return int(genre)
        # "genres_seen": the genres its training windows had (trainer metadata); the others' embeddings are untrained.
        trained = list(self.metadata.get("genres_seen", self.genres))
        if genre not in self.genres or genre not in trained:
            raise MotionInputError(f"genre {genre!r} is not one this model was trained on; choose one of "
                                   f"{trained or ['auto']} or 'auto'.")
        return self.genres.index(genre)


def load_motion_expert(path: str | Path, device: str = "cpu", dtype=None) -> MotionExpert:
    """A ``MotionExpert`` from a Choreo checkpoint folder, loaded once through ``MODEL_CACHE``.

    The folder's config.json names the architecture (``EDGEConfig`` or ``MACEConfig``); its
    metadata may give ``fps`` (default 30) and ``genres``; the normaliser comes from the extra
    tensors ``normalizer_min`` / ``normalizer_scale``.
    """
    import json

    from ..checkpoints import CONFIG_FILE, CheckpointError, load_metadata, load_model
    from ..model_cache import MODEL_CACHE, cache_key
    from ..networks import network_module
    from .normalizer import MinMaxNormalizer

    directory = Path(path)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{directory} is not a Choreo checkpoint folder (no {CONFIG_FILE}). Train one with "
                              "`python -m choreo.training.train_motion_expert` or pick the bundled demo.")
    architecture = json.loads(config_path.read_text()).get("architecture")
    families = {"EDGEConfig": ("edge", "EDGEConfig", "EDGEDenoiser"),
                "MACEConfig": ("mace", "MACEConfig", "MACEDenoiser")}
    if architecture not in families:
        raise CheckpointError(f"{config_path} holds a {architecture!r} model, not a Motion Expert "
                              f"({' or '.join(families)}).")
    family, config_name, network_name = families[architecture]

    def load() -> tuple[Any, MotionExpert]:
        module = network_module(family)
        network, config, extra = load_model(directory, getattr(module, config_name), getattr(module, network_name),
                                            device=device, dtype=dtype)
        network.requires_grad_(False)
        metadata = load_metadata(directory)
        expert = MotionExpert(family, network, config, MinMaxNormalizer.from_extra(extra),
                              float(metadata.get("fps", 30.0)), int(config.horizon),
                              tuple(metadata.get("genres", ())), metadata)
        return network, expert

    return MODEL_CACHE.get_or_load(cache_key(directory / "model.safetensors", dtype, device), load)[1]


# --- masks and window plans ---------------------------------------------------------


def edge_channels_for_joints(keep_joints: np.ndarray) -> np.ndarray:
    """(151,) bool: the 6D rotation channels of the joints where ``keep_joints`` (24,) is True."""
    joints = np.asarray(keep_joints, bool)
    if joints.shape != (NUM_JOINTS,):
        raise MotionInputError(f"keep_joints must be (24,) bool over the SMPL joints, got shape {joints.shape}.")
    channels = np.zeros(EDGE_FRAME_DIM, bool)
    channels[ROTATION_START:] = np.repeat(joints, 6)
    return channels


def parse_joint_list(text: str) -> np.ndarray:
    """(24,) bool from comma-separated SMPL joint names, indices or group names (``JOINT_GROUPS``).

    >>> int(parse_joint_list("lower_body, head").sum())
    10
    """
    keep = np.zeros(NUM_JOINTS, bool)
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item in JOINT_GROUPS:
            keep[[JOINT[name] for name in JOINT_GROUPS[item]]] = True
        elif item in JOINT:
            keep[JOINT[item]] = True
        elif item.isdigit() and int(item) < NUM_JOINTS:
            keep[int(item)] = True
        else:
            raise MotionInputError(f"unknown joint {item!r}; use SMPL joint names ({', '.join(JOINT_NAMES)}), "
                                   f"indices 0-23 or groups ({', '.join(JOINT_GROUPS)}).")
    if not keep.any():
        raise MotionInputError("the joint list is empty; name at least one joint or group to keep.")
    return keep


def inpaint_mask(num_frames: int, keep_frames: np.ndarray | None = None, keep_joints: np.ndarray | None = None,
                 root_trajectory: bool = False) -> np.ndarray:
    """(T, 151) bool channels to keep: whole kept frames, kept joints' rotations, the root translation."""
    mask = np.zeros((num_frames, EDGE_FRAME_DIM), bool)
    if keep_frames is not None:
        frames = np.asarray(keep_frames, bool)
        if frames.shape != (num_frames,):
            raise MotionInputError(f"keep_frames must be ({num_frames},) bool, got shape {frames.shape}.")
        mask[frames] = True
    if keep_joints is not None:
        mask[:, edge_channels_for_joints(keep_joints)] = True
    if root_trajectory:
        mask[:, ROOT_CHANNELS] = True
    return mask


def window_starts(num_frames: int, horizon: int) -> list[int]:
    """Start frames of EDGE's long-sampling windows: stride horizon // 2, the last window may overhang."""
    stride = horizon // 2
    if num_frames <= horizon:
        return [0]
    return [index * stride for index in range(math.ceil((num_frames - horizon) / stride) + 1)]


def _fit_rows(values: np.ndarray, num_frames: int) -> np.ndarray:
    """(num_frames, C): cut, or pad by repeating the last row."""
    if len(values) >= num_frames:
        return values[:num_frames]
    return np.concatenate([values, np.repeat(values[-1:], num_frames - len(values), axis=0)], axis=0)


# --- sampling -----------------------------------------------------------------------


def _check_features(expert: MotionExpert, features: MusicFeatures) -> None:
    music_dim = expert.config.music_dim
    if features.values.ndim != 2 or features.values.shape[1] != music_dim:
        trained_with = expert.metadata.get("extractor", "edge_librosa")
        raise MotionInputError(f"this {expert.family} model needs {music_dim}-d music features per frame, got "
                               f"{features.values.shape} from extractor {features.extractor!r}. Set Music "
                               f"Features' extractor to {trained_with!r}, the one it was trained with.")
    if abs(features.fps - expert.fps) > 1e-6:
        raise MotionInputError(f"the music features are at {features.fps:g} fps but the model was trained at "
                               f"{expert.fps:g} fps; set the Music Features fps to {expert.fps:g}.")
    if features.num_frames < 1:
        raise MotionInputError("the music features have no frames; give at least one frame of audio.")


def _denoiser(expert: MotionExpert, music, beta: float, guidance_weight: float, genre: int, num_steps: int,
              ramp_guidance: bool) -> Callable:
    """denoise(x_t, t) -> x0 with the family's conditioning (MACE: one pass with beta; EDGE: CFG)."""
    import torch

    network = expert.network
    if expert.family == "mace":
        def denoise(x, t):
            beta_batch = torch.full((x.shape[0],), float(beta), device=x.device)
            genre_batch = torch.full((x.shape[0],), genre, dtype=torch.long, device=x.device)
            return network(x, t, music, beta_batch, genre_batch)
        return denoise

    def denoise(x, t):
        weight = guidance_weight
        if ramp_guidance:  # EDGE long mode: 0 at the noisiest step, full weight from halfway on
            done = 1.0 - float(t[0]) / (num_steps - 1)
            weight = guidance_weight * min(1.0, 2.0 * done)
        return network.guided_forward(x, t, music, weight)
    return denoise


def blend_overlaps(x0_pred, overlap: int, stride: int):
    """Windows' x0 predictions made to agree where they overlap: a linear cross-fade between neighbours.

    x0_pred : (N, W, C) tensor, window n covering frames [n * stride, n * stride + W); overlap = W - stride.
    Over each shared span the later window's weight rises from 1 / (2 overlap) to 1 - 1 / (2 overlap) in steps
    of 1 / overlap, and both windows receive the blend. The fades of successive spans tile: frame to frame the
    blend moves by the windows' own motion plus (difference between them) / overlap, at a seam as inside a
    span (at a seam by the mean of the two spans' rates), so stitching cannot jump where one window's
    frames give way to the next's. One window comes back unchanged. Exact for even horizons (overlap = stride); with an odd
    one the middle frame of an inner window belongs to both spans and keeps the later blend.

    >>> import torch
    >>> blend_overlaps(torch.tensor([[[0.], [0.], [0.]], [[3.], [3.], [3.]]]), 2, 1)[:, :, 0].tolist()
    [[0.0, 0.75, 2.25], [0.75, 2.25, 3.0]]
    """
    if x0_pred.shape[0] < 2:
        return x0_pred
    weight = _fade_weights(x0_pred, overlap)
    previous, incoming = x0_pred[:-1, stride:stride + overlap], x0_pred[1:, :overlap]
    blended = previous + weight * (incoming - previous)
    out = x0_pred.clone()
    out[:-1, stride:stride + overlap] = blended
    out[1:, :overlap] = blended
    return out


def _fade_weights(like, overlap: int):
    """(overlap, 1) weights (k + 0.5) / overlap, k = 0..overlap-1, on ``like``'s device and dtype."""
    import torch

    return ((torch.arange(overlap, device=like.device, dtype=torch.float64) + 0.5) / overlap).to(
        like.dtype)[:, None]


def _agreeing_overlaps(denoise: Callable, overlap: int, stride: int) -> Callable:
    """denoise with every step's x0 predictions blended over the window overlaps (``blend_overlaps``)."""
    def consistent(x, t):
        return blend_overlaps(denoise(x, t), overlap, stride)
    return consistent


def sample_windows(expert: MotionExpert, music_values: np.ndarray, num_frames: int, seed: int = 0,
                   beta: float = 0.5, guidance_weight: float = 2.0, genre: int = 0, num_inference_steps: int = 50,
                   eta: float = 1.0, constraint: tuple[np.ndarray, np.ndarray] | None = None,
                   progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, list[int]]:
    """Normalised windows (N, W, 151) and their start frames for ``num_frames`` frames of music.

    music_values : (T >= 1, C) features, padded by repeating the last row to cover every window.
    constraint   : optional (mask (num_frames, 151) bool, value (num_frames, 151) normalised) re-imposed
                   at every step. Windows overlap by half (see the module docstring); MACE uses one window.
    """
    import torch

    from .diffusion import CosineSchedule, ddim_sample

    single = (num_frames <= expert.horizon
              or (expert.family == "mace" and num_frames <= MACE_MAX_SINGLE_PASS_WINDOWS * expert.horizon))
    window = num_frames if single else expert.horizon
    starts = [0] if single else window_starts(num_frames, window)
    half = window // 2
    covered = starts[-1] + window
    parameter = next(expert.network.parameters())
    device, dtype = parameter.device, parameter.dtype
    padded = _fit_rows(music_values.astype(np.float32), covered)
    music = torch.from_numpy(np.stack([padded[s:s + window] for s in starts])).to(device=device, dtype=dtype)
    inpaint = None
    if constraint is not None:
        mask = np.zeros((covered, EDGE_FRAME_DIM), bool)
        value = np.zeros((covered, EDGE_FRAME_DIM), np.float32)
        mask[:num_frames], value[:num_frames] = constraint[0], constraint[1]
        inpaint = (torch.from_numpy(np.stack([mask[s:s + window] for s in starts])).to(device),
                   torch.from_numpy(np.stack([value[s:s + window] for s in starts])).to(device=device, dtype=dtype))

    overlap = window - half

    def keep_consistent(index, t, t_next, x_next, x0_pred):
        if len(starts) == 1:
            return None
        x_next = x_next.clone()
        x_next[1:, :overlap] = x_next[:-1, half:]
        return x_next

    schedule = CosineSchedule()
    denoise = _denoiser(expert, music, beta, guidance_weight, genre, schedule.num_steps, ramp_guidance=not single)
    if not single:
        denoise = _agreeing_overlaps(denoise, overlap, half)
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        windows = ddim_sample(denoise, (len(starts), window, EDGE_FRAME_DIM), schedule, num_inference_steps, eta,
                              generator, progress, inpaint, keep_consistent, device=device, dtype=dtype)
    return windows.float().cpu().numpy(), starts


def stitch_windows(frames: np.ndarray, starts: list[int], num_frames: int) -> np.ndarray:
    """(num_frames, 151) raw frames from overlapping raw windows (N, W, 151) with linear fades.

    Over each overlap the later window's weight rises linearly from 0 to 1: translation and
    contacts are blended linearly, joint rotations by quaternion slerp (via 6D -> matrix).
    """
    window = frames.shape[1]
    out = frames[0].astype(np.float64)
    for start, current in zip(starts[1:], frames[1:]):
        overlap = len(out) - start
        previous, incoming = out[start:], current[:overlap].astype(np.float64)
        weight = (np.arange(overlap) + 1.0) / (overlap + 1.0)
        blended = previous + weight[:, None] * (incoming - previous)
        rotations_a = rotation_6d_to_matrix(previous[:, ROTATION_START:].reshape(overlap, NUM_JOINTS, 6))
        rotations_b = rotation_6d_to_matrix(incoming[:, ROTATION_START:].reshape(overlap, NUM_JOINTS, 6))
        quat = slerp(matrix_to_quaternion(rotations_a), matrix_to_quaternion(rotations_b), weight[:, None])
        blended[:, ROTATION_START:] = quaternion_to_matrix(quat)[..., :2, :].reshape(overlap, NUM_JOINTS * 6)
        out = np.concatenate([out[:start], blended, current[overlap:window]], axis=0)
    return out[:num_frames].astype(np.float32)


def _to_motion(expert: MotionExpert, windows: np.ndarray, starts: list[int], num_frames: int) -> Motion3D:
    import torch

    raw = expert.normalizer.unnormalize(torch.from_numpy(windows)).numpy()
    motion = Motion3D.from_edge(stitch_windows(raw, starts, num_frames), fps=expert.fps)
    # A diffusion sample can overshoot into a pose no body makes (a knee bent backwards); clamp it as the
    # choreographer does.
    return replace(motion, rotations=clamp_to_joint_limits(motion.rotations))


def generate_dance(expert: MotionExpert, features: MusicFeatures, seed: int = 0, num_frames: int | None = None,
                   beta: float = 0.5, guidance_weight: float = 2.0, genre: str | int | None = None,
                   num_inference_steps: int = 50, eta: float = 1.0,
                   progress: Callable[[float], None] | None = None) -> Motion3D:
    """A dance for the music, any length (see the module docstring for the long-song schemes).

    features        : (T, C) music features at ``expert.fps`` with the model's extractor.
    num_frames      : frames to make; None = the features' length (features are cut or padded by
                      repeating the last row).
    beta            : MACE's guidance-free temperature in (0, 1]: 1 = plain conditional; beta acts like a
                      classifier-free weight of 1 / beta (0.5 ~ EDGE's 2). MACE-Dance's own default is 0.75.
    guidance_weight : EDGE's classifier-free weight (2 = EDGE's default).
    genre           : MACE genre name or index; None = the "unknown" genre.
    progress        : fraction done after each denoising step; may raise to interrupt.
    returns         : Motion3D at ``expert.fps``; foot contacts from the model's contact channels.

    >>> motion = generate_dance(expert, extract_music_features(audio), seed=1)  # doctest: +SKIP
    """
    _check_features(expert, features)
    length = features.num_frames if num_frames is None else int(num_frames)
    if length < 1:
        raise MotionInputError(f"num_frames must be at least 1, got {length}.")
    if not 0.0 < beta <= 1.0:
        raise MotionInputError(f"beta must be in (0, 1], got {beta}.")
    windows, starts = sample_windows(expert, features.values, length, seed, beta, guidance_weight,
                                     expert.genre_index(genre), num_inference_steps, eta, None, progress)
    return _to_motion(expert, windows, starts, length)


def inpaint_dance(expert: MotionExpert, features: MusicFeatures, motion: Motion3D,
                  keep_frames: np.ndarray | None = None, keep_joints: np.ndarray | None = None,
                  root_trajectory: bool = False, seed: int = 0, beta: float = 0.5, guidance_weight: float = 2.0,
                  genre: str | int | None = None, num_inference_steps: int = 50, eta: float = 1.0,
                  progress: Callable[[float], None] | None = None) -> Motion3D:
    """``motion`` with everything not kept regenerated by masked denoising (EDGE's in-painting).

    keep_frames     : (T,) bool, frames kept whole (temporal in-painting / in-betweening).
    keep_joints     : (24,) bool, joints whose rotations are kept on every frame (joint-wise in-painting).
    root_trajectory : keep the root translation on every frame (trajectory-guided generation).
    The kept channels are imposed, noised to the current level, at every denoising step, so the new
    motion is generated around them; in the result they equal the input exactly (rotations, root
    translation and, on kept frames, contacts). Other arguments as ``generate_dance``.
    """
    import torch

    _check_features(expert, features)
    if motion.num_frames < 1:
        raise MotionInputError("the motion to in-paint has no frames.")
    if abs(motion.fps - expert.fps) > 1e-6:
        raise MotionInputError(f"the motion is at {motion.fps:g} fps but the model at {expert.fps:g} fps.")
    mask = inpaint_mask(motion.num_frames, keep_frames, keep_joints, root_trajectory)
    if not mask.any():
        raise MotionInputError("nothing to keep: give keep_frames, keep_joints or root_trajectory "
                               "(or use generate_dance for a new dance).")
    value = expert.normalizer.normalize(torch.from_numpy(motion.to_edge())).numpy()
    windows, starts = sample_windows(expert, features.values, motion.num_frames, seed, beta, guidance_weight,
                                     expert.genre_index(genre), num_inference_steps, eta, (mask, value), progress)
    result = _to_motion(expert, windows, starts, motion.num_frames)
    return _restore_kept(result, motion, mask)


def _restore_kept(result: Motion3D, source: Motion3D, mask: np.ndarray) -> Motion3D:
    """``result`` with the masked channels copied from ``source`` exactly (no normaliser round trip)."""
    rotations = result.rotations.copy()
    joint_mask = mask[:, ROTATION_START:].reshape(len(mask), NUM_JOINTS, 6).all(axis=-1)
    rotations[joint_mask] = source.rotations[joint_mask]
    translation = np.where(mask[:, ROOT_CHANNELS], source.root_translation_m, result.root_translation_m)
    contacts = np.where(mask[:, CONTACT_CHANNELS], source.foot_contacts, result.foot_contacts)
    return replace(result, rotations=rotations, root_translation_m=translation.astype(np.float32),
                   foot_contacts=contacts.astype(np.float32), skeleton=source.skeleton)


def motion_expert_generator(expert: MotionExpert, features: MusicFeatures, reference_pose, camera=None,
                            num_frames: int | None = None, face: bool = True, hands: bool = True,
                            match_proportions: bool = True, keep_motion: Motion3D | None = None,
                            keep_frames: np.ndarray | None = None, **sampling) -> Callable[[int], Any]:
    """The editor's Regenerate interface: ``seed -> PoseSequence2D`` on the reference pose's canvas.

    Each call generates a dance (or, with ``keep_motion`` and ``keep_frames``, in-paints the frames
    that are not kept) and projects it like Project 3D to 2D: optional retargeting to the
    reference person's proportions, ``camera`` (default frontal orthographic), similarity fit.
    ``num_frames`` must equal the edited sequence's frame count; ``sampling`` holds
    ``generate_dance``'s keyword arguments (beta, guidance_weight, genre, num_inference_steps, ...).
    """
    from ..pose.projection import Camera, project_motion
    from ..pose.retarget import skeleton_from_reference

    view = camera if camera is not None else Camera()

    def generate(seed: int):
        if keep_motion is not None and keep_frames is not None and np.any(keep_frames):
            motion = inpaint_dance(expert, features, keep_motion, keep_frames=keep_frames, seed=seed, **sampling)
        else:
            motion = generate_dance(expert, features, seed=seed, num_frames=num_frames, **sampling)
        if match_proportions:
            motion = motion.with_skeleton(skeleton_from_reference(reference_pose, motion.skeleton))
        return project_motion(motion, reference_pose.canvas_width, reference_pose.canvas_height, camera=view,
                              reference=reference_pose, face=face, hands=hands)

    return generate
