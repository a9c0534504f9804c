"""M2PEnc training pairs (the paper's SDGPip) from the training-data engine: music -> guidance passes + keypoints.

The M2PEnc paper renders SMPL dances (AIST++ and EDGE pseudo-motions) to CHAMP's guidance passes and
pairs them with the music. Here the dances are the engine's (``dance_engine``: the beat choreographer
on real songs) and the body is anny (``motion.anny_body``), rendered by ``render.body_passes``:

* each dance is fitted with an anny body (its proportions fitted to the dance's skeleton, ~2 s);
* frames are taken at ``fps`` on the dance's clock (frame i at i / fps seconds), rendered at
  ``render_px`` square (the dance fills the frame, as Project 3D to 2D frames it) and area-averaged
  down to ``grid`` cells, so thin skeleton lines survive as soft lines;
* the 18 OpenPose body keypoints of the same projection are stored in grid cells (heatmaps are
  drawn from them at training time, ``keypoint_heatmaps``);
* the music features are extracted from the clip's audio at the same ``fps``.

Measured (one CPU thread, busy 2-core machine): anny fit ~1.8 s per dance, posing + four passes at
64x64 ~23 ms per frame; the whole build 19.9 guidance frames/s (39 dances, 15,206 frames in 764 s, 18 MB). One ``<dance_id>.npz`` per dance under ``OUT/<split>/`` (the engine's song
split), written atomically, so an interrupted build resumes where it stopped::

    python -m choreo.datasets.m2penc_data --engine ~/.cache/choreo/dance_engine --out ~/.cache/choreo/m2penc_data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ChoreoError
from ..motion.motion3d import Motion3D
from ..pose.layout import BODY
from ..pose.projection import Camera, project_motion

NUM_BODY_KEYPOINTS = BODY.stop - BODY.start  # OpenPose body order, choreo.pose.layout.BODY_NAMES
SAMPLE_SUFFIX = ".npz"
CONFIG_FILE = "m2penc_data.json"


@dataclass(frozen=True)
class M2PEncDataConfig:
    """How the passes are made.

    fps        : guidance frame rate, frames/s (15: half the engine's 30, halves render and training cost).
    render_px  : side of the square canvas the passes are rendered on, pixels.
    grid       : side of the stored maps, cells (render_px must be a multiple).
    extractor  : music feature extractor (``choreo.music.features``).
    feature_fps: rate the features are extracted at, frames/s, then averaged down to ``fps``
                 (EDGE's librosa recipe resamples audio to fps x 512 Hz; at 15 fps that is too low for
                 its constant-Q chroma, so it runs at 30).
    fit        : anny proportions fit (``anny_body.FIT_TARGETS``).
    """

    fps: float = 15.0
    render_px: int = 64
    grid: int = 32
    extractor: str = "edge_librosa"
    feature_fps: float = 30.0
    fit: str = "dance"

    def __post_init__(self) -> None:
        if self.render_px % self.grid:
            raise ChoreoError(f"render_px {self.render_px} must be a multiple of grid {self.grid}.")
        if not self.fps > 0:
            raise ChoreoError(f"fps must be positive, got {self.fps}.")


@dataclass(frozen=True)
class M2PEncSample:
    """One dance as training data, all on one frame clock (frame t at t / fps seconds).

    music          : (T, C) float32 music features.
    guidance       : (T, 10, G, G) uint8 passes stacked as ``models.m2penc.GUIDANCE_CHANNELS``.
    keypoints_cells: (T, 18, 2) float32 body keypoints, (x, y) in grid cells (cell centres at integers).
    confidence     : (T, 18) float32, 0 for keypoints that are absent.
    """

    music: np.ndarray
    guidance: np.ndarray
    keypoints_cells: np.ndarray
    confidence: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return len(self.music)


def guidance_frames(num_motion_frames: int, motion_fps: float, fps: float) -> np.ndarray:
    """(N,) motion frame nearest each guidance frame i (at i / fps seconds) that the motion covers."""
    # seconds spanned by the motion x guidance frames/second = guidance frames
    count = int(np.floor((num_motion_frames - 1) / motion_fps * fps + 1e-6)) + 1
    return np.minimum(np.round(np.arange(count) * motion_fps / fps).astype(np.int64), num_motion_frames - 1)


def pool_to_fps(values: np.ndarray, source_fps: float, fps: float) -> np.ndarray:
    """(T_src, C) rows at ``source_fps`` -> (T, C) at ``fps`` <= source_fps: row i is the mean of the source
    rows whose time falls in [i / fps, (i + 1) / fps); T = whole frames the source covers."""
    values = np.asarray(values, np.float32)
    # seconds covered x frames/second = frames at the new rate
    count = int(np.floor(len(values) / source_fps * fps + 1e-6))
    if count == 0:
        return values[:0]
    starts = np.ceil(np.arange(count) * source_fps / fps - 1e-6).astype(np.int64)
    ends = np.append(starts[1:], int(np.ceil(count * source_fps / fps - 1e-6)))
    sums = np.add.reduceat(values[:ends[-1]], starts, axis=0)
    return sums / np.maximum(ends - starts, 1)[:, None].astype(np.float32)


def music_features_at(audio, config: M2PEncDataConfig) -> np.ndarray:
    """(T, C) float32 music features of ``audio`` at ``config.fps`` (see ``feature_fps``)."""
    from ..music.features import extract_music_features

    values = extract_music_features(audio, fps=config.feature_fps, extractor=config.extractor).values
    return pool_to_fps(values, config.feature_fps, config.fps)


def pixels_to_cells(points_px: np.ndarray, factor: int) -> np.ndarray:
    """Pixel coordinates -> coordinates on a grid ``factor`` times coarser (cell j averages pixels
    j f .. j f + f - 1, so its centre is at pixel j f + (f - 1) / 2)."""
    return (np.asarray(points_px, np.float32) - (factor - 1) / 2.0) / factor


def area_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, C) uint8 -> (H / f, W / f, C) uint8, each output the mean of an f x f block."""
    height, width, channels = image.shape
    blocks = image.reshape(height // factor, factor, width // factor, factor, channels).astype(np.float32)
    return (blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)


def render_sample(anny_model, motion: Motion3D, music: np.ndarray, config: M2PEncDataConfig,
                  camera: Camera = Camera()) -> M2PEncSample:
    """Render one dance into an ``M2PEncSample``.

    anny_model : ``anny_body.load_anny_model()``.   motion : the dance (any fps).
    music      : (T_music, C) features at ``config.fps``; the sample keeps the frames both cover.
    """
    from ..motion.anny_body import body_from_dance
    from ..render.body_passes import body_view, iter_body_passes

    frames = guidance_frames(motion.num_frames, motion.fps, config.fps)[:len(music)]
    if len(frames) == 0:
        raise ChoreoError("the dance and its music share no frame; nothing to render.")
    body = body_from_dance(anny_model, motion, fit=config.fit)
    view = body_view(body, config.render_px, config.render_px, camera)
    factor = config.render_px // config.grid
    guidance = np.empty((len(frames), 10, config.grid, config.grid), np.uint8)
    for index, (depth, normal, semantic, skeleton) in enumerate(iter_body_passes(body, view, frames)):
        stacked = np.concatenate([depth[..., :1], normal, semantic, skeleton], axis=-1)
        guidance[index] = area_downsample(stacked, factor).transpose(2, 0, 1)
    pose = project_motion(body.motion, config.render_px, config.render_px, camera=view.camera)
    return M2PEncSample(music=np.asarray(music[:len(frames)], np.float32), guidance=guidance,
                        keypoints_cells=pixels_to_cells(pose.keypoints_px[frames, BODY], factor),
                        confidence=pose.confidence[frames, BODY].astype(np.float32), fps=float(config.fps))


def keypoint_heatmaps(keypoints_cells: np.ndarray, confidence: np.ndarray, grid: int,
                      sigma_cells: float = 1.0) -> np.ndarray:
    """Gaussian heatmaps, peak 1 at each keypoint, zero for absent ones.

    keypoints_cells : (..., K, 2) (x, y) in cells.   confidence : (..., K), > 0 where present.
    Returns (..., K, grid, grid) float32.

    >>> keypoint_heatmaps(np.array([[3.0, 1.0]]), np.array([1.0]), 4)[0, 1, 3]
    1.0
    """
    axis = np.arange(grid, dtype=np.float32)
    dx = axis - np.asarray(keypoints_cells[..., 0:1], np.float32)  # (..., K, G) along x
    dy = axis - np.asarray(keypoints_cells[..., 1:2], np.float32)
    gx, gy = np.exp(-dx ** 2 / (2 * sigma_cells ** 2)), np.exp(-dy ** 2 / (2 * sigma_cells ** 2))
    present = (np.asarray(confidence) > 0).astype(np.float32)[..., None, None]
    return gy[..., :, None] * gx[..., None, :] * present


def save_sample(sample: M2PEncSample, path: Path) -> None:
    """Write ``sample`` as one compressed npz (no pickles), atomically."""
    from ..io.atomic import write_atomically

    write_atomically(path, lambda file: np.savez_compressed(
        file, music=sample.music, guidance=sample.guidance, keypoints_cells=sample.keypoints_cells,
        confidence=sample.confidence, fps=np.float64(sample.fps)))


def load_sample(path: Path) -> M2PEncSample:
    with np.load(path, allow_pickle=False) as data:
        return M2PEncSample(music=data["music"], guidance=data["guidance"], keypoints_cells=data["keypoints_cells"],
                            confidence=data["confidence"], fps=float(data["fps"]))


def load_split(root: str | Path, split: str) -> list[M2PEncSample]:
    """Every sample under ``root/<split>/``, sorted by name."""
    folder = Path(root) / split
    paths = sorted(folder.glob("*" + SAMPLE_SUFFIX))
    if not paths:
        raise ChoreoError(f"no M2PEnc samples in {folder}. Build them first: python -m choreo.datasets.m2penc_data "
                          f"--engine ENGINE --out {root}")
    return [load_sample(path) for path in paths]


def _interleaved_by_song(entries: list[dict]) -> list[dict]:
    """Round-robin over songs, so a partial build already covers many songs."""
    by_song: dict[str, list[dict]] = {}
    for entry in entries:
        by_song.setdefault(entry["song_id"], []).append(entry)
    queues = list(by_song.values())
    order = []
    for rank in range(max((len(queue) for queue in queues), default=0)):
        order.extend(queue[rank] for queue in queues if rank < len(queue))
    return order


def build_split(engine: Path, out: Path, split: str, config: M2PEncDataConfig, max_dances: int = 0,
                log: Callable[[str], None] = print) -> int:
    """Render the engine's ``split`` dances into ``out/<split>/``; skips dances already there. Returns the count."""
    from ..io.audio_files import load_audio
    from ..io.motion_files import load_motion_npz
    from ..motion.anny_body import load_anny_model

    manifest = engine / f"manifest_{split}.jsonl"
    if not manifest.is_file():
        raise ChoreoError(f"{manifest} is missing. Point --engine at a dance_engine build folder.")
    entries = _interleaved_by_song([json.loads(line) for line in manifest.read_text().splitlines() if line.strip()])
    if max_dances > 0:
        entries = entries[:max_dances]
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    model = load_anny_model()
    started, frames_done = time.perf_counter(), 0
    for number, entry in enumerate(entries, 1):
        path = folder / (entry["dance_id"] + SAMPLE_SUFFIX)
        if path.is_file():
            continue
        motion = load_motion_npz(engine / entry["motion"])
        music = music_features_at(load_audio(engine / entry["audio"]), config)
        sample = render_sample(model, motion, music, config)
        save_sample(sample, path)
        frames_done += sample.num_frames
        elapsed_s = time.perf_counter() - started
        log(f"{split} {number}/{len(entries)} {entry['dance_id']}: {sample.num_frames} frames, "
            f"{frames_done / elapsed_s:.1f} frames/s overall")
    return len(entries)


def main(argv: list[str] | None = None) -> int:
    defaults = M2PEncDataConfig()
    parser = argparse.ArgumentParser(prog="python -m choreo.datasets.m2penc_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", required=True, help="dance_engine build folder (manifest_*.jsonl)")
    parser.add_argument("--out", required=True, help="where the samples go (outside the repository)")
    parser.add_argument("--splits", default="train,test")
    parser.add_argument("--max-dances", default="0", help="per split, e.g. 0,12 (0 = all)")
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--render-px", type=int, default=defaults.render_px)
    parser.add_argument("--grid", type=int, default=defaults.grid)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    config = M2PEncDataConfig(fps=args.fps, render_px=args.render_px, grid=args.grid)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    stored = out / CONFIG_FILE
    if stored.is_file() and json.loads(stored.read_text()) != asdict(config):
        raise ChoreoError(f"{out} was built with {stored.read_text()}; use another --out for other settings.")
    stored.write_text(json.dumps(asdict(config)))
    splits = args.splits.split(",")
    limits = [int(value) for value in args.max_dances.split(",")]
    for split, limit in zip(splits, limits + [limits[-1]] * (len(splits) - len(limits))):
        build_split(Path(args.engine).expanduser(), out, split, config, limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
