"""Train the beat / downbeat TCN on a labelled music corpus and write its checkpoint folder.

    python -m choreo.training.train_beat_tracker --corpus ~/.cache/choreo/beat_corpus \\
        --corpus ~/.cache/choreo/music_corpus --out assets/checkpoints/beat_tracker --threads 1 --max-minutes 33

The corpus is ``choreo.datasets.music_corpus``'s layout (manifest_<split>.jsonl, audio/, labels/), which
``choreo.datasets.agreed_beats`` (real recordings) also writes.
The train split trains, the validation split picks the best weights (lowest validation loss); the
test split is never read here (only ``bench/bench_music.py`` reads it).

Each step draws crops of ``crop_frames`` analysis frames and augments them the way recordings
differ: tempo (the spectrogram resampled in time by 0.8-1.25x, labels moved with it), pitch (mel
bands shifted by up to +-3), gain and colour (a random spectral tilt), and noise (a random noise
floor added in the power domain). Targets are widened as in Böck et al.: 1 on the labelled frame,
0.5 on its two neighbours, so a beat one frame off is not punished as a miss. The loss is binary
cross-entropy on both heads. The out folder gets config.json, model.safetensors and a README.md
with the exact command, the corpus summary, its licences and the validation scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ChoreoError
from ..music.learned_beats import BeatTCNConfig, network_input

LOG = logging.getLogger("choreo.training")
NEIGHBOUR_TARGET = 0.5  # label widening: the frames either side of a beat
STRETCH_RANGE = (0.8, 1.25)  # crop length in source frames / in network frames
BAND_SHIFT_MAX = 3  # mel bands
TILT_MAX_DB = 8.0  # dB across the whole band range, either sign
NOISE_FLOOR_DB = (-70.0, -25.0)  # noise level relative to the crop's loudest bin; drawn for half the crops


@dataclass(frozen=True)
class TrainOptions:
    """Everything a run depends on; saved in the checkpoint metadata."""

    corpus: tuple[str, ...]  # corpus folders; their splits are pooled
    out: str = "assets/checkpoints/beat_tracker"
    features_cache: str = str(Path.home() / ".cache" / "choreo" / "beat_tracker_features")
    threads: int = 1
    max_minutes: float = 33.0  # training budget, CPU minutes of this process (validation included)
    max_steps: int = 100_000
    batch: int = 8
    crop_frames: int = 1024  # 11.9 s of network frames
    lr: float = 2e-3
    eval_every: int = 100
    seed: int = 0


@dataclass(frozen=True)
class Clip:
    """One labelled clip: its log-mel and label frames on the analysis clock."""

    clip_id: str
    log_mel_db: np.ndarray  # (bands, T) float16
    beat_frames: np.ndarray  # (N,) float64, fractional frames
    downbeat_frames: np.ndarray  # (M,) float64


def _clip_features(corpus: Path, record: dict, frame_rate_hz: float) -> Clip:
    import librosa
    import soundfile

    from ..music.analyze import SAMPLE_RATE, spectral_descriptors

    samples, rate = soundfile.read(corpus / record["audio"], dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=SAMPLE_RATE)
    labels = json.loads((corpus / record["labels"]).read_text())
    return Clip(record["clip_id"], spectral_descriptors(mono)["log_mel"].astype(np.float16),
                np.asarray(labels["beats_s"]) * frame_rate_hz, np.asarray(labels["downbeats_s"]) * frame_rate_hz)


def load_split(corpus: Path, split: str, cache_dir: Path, frame_rate_hz: float) -> list[Clip]:
    """Every clip of one split, log-mels cached as .npz under ``cache_dir`` (keyed by corpus folder and clip)."""
    manifest = corpus / f"manifest_{split}.jsonl"
    if not manifest.is_file():
        raise ChoreoError(f"{manifest} is missing: --corpus must be a folder written by "
                          "`python -m choreo.datasets.music_corpus build`.")
    records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    folder = cache_dir / corpus.resolve().name
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for record in records:
        cached = folder / f"{record['clip_id']}.npz"
        if cached.is_file():
            data = np.load(cached)
            clips.append(Clip(record["clip_id"], data["log_mel_db"], data["beat_frames"], data["downbeat_frames"]))
            continue
        clip = _clip_features(corpus, record, frame_rate_hz)
        partial = cached.with_name(f"{cached.stem}.{os.getpid()}.partial")  # whole files only: runs may share a cache
        with partial.open("wb") as handle:
            np.savez(handle, log_mel_db=clip.log_mel_db, beat_frames=clip.beat_frames,
                     downbeat_frames=clip.downbeat_frames)
        os.replace(partial, cached)
        clips.append(clip)
    return clips


def pooled_split(options: TrainOptions, split: str, frame_rate_hz: float) -> list[Clip]:
    """One split of every corpus in ``options.corpus``, in order."""
    cache = Path(options.features_cache).expanduser()
    return [clip for corpus in options.corpus for clip in load_split(Path(corpus).expanduser(), split, cache,
                                                                      frame_rate_hz)]


def widened_targets(label_frames: np.ndarray, num_frames: int) -> np.ndarray:
    """(T,) float32: 1 on each label's nearest frame, NEIGHBOUR_TARGET on the frames either side."""
    target = np.zeros(num_frames, dtype=np.float32)
    frames = np.rint(label_frames).astype(np.int64)
    for offset, value in ((-1, NEIGHBOUR_TARGET), (1, NEIGHBOUR_TARGET), (0, 1.0)):
        shifted = frames + offset
        shifted = shifted[(shifted >= 0) & (shifted < num_frames)]
        target[shifted] = np.maximum(target[shifted], value)
    return target


def _shift_bands(mel: np.ndarray, shift: int) -> np.ndarray:
    """(bands, T) moved up by ``shift`` bands (down when negative), the edge band repeated into the gap."""
    shifted = np.roll(mel, shift, axis=0)
    if shift > 0:
        shifted[:shift] = mel[0]
    elif shift < 0:
        shifted[shift:] = mel[-1]
    return shifted


def augmented_crop(clip: Clip, crop_frames: int, rng: np.random.Generator,
                   augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(network input (bands, crop), targets (2, crop)) from a random stretched, shifted, tilted, noisy crop."""
    stretch = float(np.exp(rng.uniform(*np.log(STRETCH_RANGE)))) if augment else 1.0
    length = clip.log_mel_db.shape[1]
    span = crop_frames * stretch
    start = float(rng.uniform(0.0, max(length - 1 - span, 0.0)))
    positions = np.clip(start + np.arange(crop_frames) * stretch, 0, length - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, length - 1)
    weight = (positions - low).astype(np.float32)
    mel = clip.log_mel_db.astype(np.float32)
    crop = mel[:, low] * (1.0 - weight) + mel[:, high] * weight  # (bands, crop)
    if augment:
        crop = _shift_bands(crop, int(rng.integers(-BAND_SHIFT_MAX, BAND_SHIFT_MAX + 1)))
        crop = crop + np.linspace(-1.0, 1.0, crop.shape[0])[:, None] * rng.uniform(-TILT_MAX_DB, TILT_MAX_DB)
        if rng.random() < 0.5:
            noise_db = crop.max() + rng.uniform(*NOISE_FLOOR_DB) + rng.normal(0.0, 3.0, crop.shape)
            crop = 10.0 * np.log10(10.0 ** (crop / 10.0) + 10.0 ** (noise_db / 10.0))
    # Label frame f of the source sits at (f - start) / stretch in the crop.
    targets = np.stack([widened_targets((clip.beat_frames - start) / stretch, crop_frames),
                        widened_targets((clip.downbeat_frames - start) / stretch, crop_frames)])
    return network_input(crop), targets


def _loss(model, inputs, targets):
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(model(inputs), targets)


def validation_loss(model, clips: list[Clip]) -> float:
    """Mean BCE over whole validation clips, unaugmented."""
    import torch

    total, frames = 0.0, 0
    model.eval()
    with torch.no_grad():
        for clip in clips:
            length = clip.log_mel_db.shape[1]
            inputs = torch.from_numpy(network_input(clip.log_mel_db.astype(np.float32)))[None]
            targets = torch.from_numpy(np.stack([widened_targets(clip.beat_frames, length),
                                                 widened_targets(clip.downbeat_frames, length)]))[None]
            total += float(_loss(model, inputs, targets)) * length
            frames += length
    model.train()
    return total / max(frames, 1)


def train(options: TrainOptions, config: BeatTCNConfig, log=LOG.info):
    """(best model by validation loss, training log) within ``options.max_minutes``."""
    import torch

    from models.beat_tcn import BeatTCN

    torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    train_clips = pooled_split(options, "train", config.frame_rate_hz)
    validation_clips = pooled_split(options, "validation", config.frame_rate_hz)
    log(f"{len(train_clips)} train clips, {len(validation_clips)} validation clips")
    model = BeatTCN(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=1e-4)
    history: list[dict] = []
    try:
        _train_steps(options, model, optimizer, train_clips, validation_clips, rng, history, log)
    except KeyboardInterrupt:  # Ctrl-C ends training early; the best weights so far are kept
        log("interrupted: keeping the best weights so far")
    if not history:
        raise ChoreoError("training stopped before its first validation; run longer than --eval-every steps.")
    best = min(history, key=lambda h: h["validation_loss"])
    model.load_state_dict(best["state"])
    for entry in history:
        entry.pop("state", None)
    return model.eval(), history


def _train_steps(options, model, optimizer, train_clips, validation_clips, rng, history, log) -> None:
    """AdamW steps until ``max_steps`` or ``max_minutes`` of this process's CPU time (one thread: one CPU's)."""
    import torch

    lengths = np.array([clip.log_mel_db.shape[1] for clip in train_clips], dtype=np.float64)
    started, started_cpu = time.monotonic(), time.process_time()
    budget_s = options.max_minutes * 60.0
    for step in range(1, options.max_steps + 1):
        fraction = min((time.process_time() - started_cpu) / budget_s, 1.0)
        for group in optimizer.param_groups:  # cosine decay over the time budget
            group["lr"] = options.lr * 0.5 * (1.0 + np.cos(np.pi * fraction))
        picks = rng.choice(len(train_clips), size=options.batch, p=lengths / lengths.sum())
        crops = [augmented_crop(train_clips[i], options.crop_frames, rng) for i in picks]
        inputs = torch.from_numpy(np.stack([c[0] for c in crops]))
        targets = torch.from_numpy(np.stack([c[1] for c in crops]))
        loss = _loss(model, inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        out_of_time = time.process_time() - started_cpu > budget_s
        if step % options.eval_every == 0 or out_of_time or step == options.max_steps:
            entry = {"step": step, "train_loss": float(loss.detach()),
                     "validation_loss": validation_loss(model, validation_clips),
                     "minutes": (time.process_time() - started_cpu) / 60.0,
                     "wall_minutes": (time.monotonic() - started) / 60.0}
            log(json.dumps(entry))
            entry["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.append(entry)
            if len(history) > 1:  # keep only the best state in memory
                best = min(history[:-1], key=lambda h: h["validation_loss"])
                for old in history[:-1]:
                    if old is not best or entry["validation_loss"] < best["validation_loss"]:
                        old.pop("state", None)
        if out_of_time:
            break


def validation_scores(directory: Path, clips: list[Clip], frame_rate_hz: float) -> dict[str, float]:
    """Mean beat and downbeat F (mir_eval, +-70 ms) of the numpy tracker on the validation clips."""
    import mir_eval

    from ..music.learned_beats import decode, load_beat_tracker

    tracker = load_beat_tracker(directory)
    beat_f, downbeat_f = [], []
    for clip in clips:
        beats_s, _, beat_in_bar = decode(tracker.activations(clip.log_mel_db.astype(np.float32)), frame_rate_hz)
        beat_f.append(mir_eval.beat.f_measure(clip.beat_frames / frame_rate_hz, beats_s))
        downbeat_f.append(mir_eval.beat.f_measure(clip.downbeat_frames / frame_rate_hz, beats_s[beat_in_bar == 0]))
    return {"beat_f": float(np.mean(beat_f)), "downbeat_f": float(np.mean(downbeat_f))}


def _readme(options: TrainOptions, command: str, history: list[dict], scores: dict, weights_bytes: int) -> str:
    corpus_lines, licences = [], set()
    for corpus in (Path(c).expanduser() for c in options.corpus):
        summary = json.loads((corpus / "corpus.json").read_text()) if (corpus / "corpus.json").is_file() else {}
        corpus_lines.append(f"- `{corpus}`: build config `{json.dumps(summary.get('config', {}), sort_keys=True)}`, "
                            f"splits `{json.dumps(summary.get('splits', {}), sort_keys=True)}`"
                            + (f"; note: {summary['partial']}" if "partial" in summary else ""))
        for split in ("train", "validation"):
            for line in (corpus / f"manifest_{split}.jsonl").read_text().splitlines():
                if line.strip():
                    record = json.loads(line)
                    licences.add(f"{record.get('source', '?')}: {record.get('licence', '?')}")
    best = min(history, key=lambda h: h["validation_loss"])
    lines = [
        "# Choreo beat / downbeat tracker (BeatTCN)",
        "",
        "Trained here by `choreo.training.train_beat_tracker` on these corpora (built by "
        "`python -m choreo.datasets.music_corpus build` or `python -m choreo.datasets.agreed_beats build`; train "
        "splits for training, validation splits for picking the weights; the test splits were not read):",
        "",
        *corpus_lines,
        "",
        "Exact command:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Weights: `model.safetensors`, {weights_bytes / 1e3:.0f} kB float32; `config.json` holds `BeatTCNConfig`.",
        f"Best validation loss {best['validation_loss']:.4f} at step {best['step']} of {history[-1]['step']} "
        f"({history[-1]['minutes']:.1f} CPU minutes on {options.threads} thread(s), "
        f"{history[-1]['wall_minutes']:.1f} minutes wall clock on a shared 2-core machine).",
        f"Validation (numpy inference + decoder): beat F {scores['beat_f']:.3f}, downbeat F {scores['downbeat_f']:.3f} "
        "(mir_eval, +-70 ms).",
        "",
        "Licences of the training data sources (the corpora themselves are not distributed):",
        "",
        *[f"- {entry}" for entry in sorted(licences)],
        "",
        "The weights are a product of this repository's code and these sources; they carry the repository's licence.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.training.train_beat_tracker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = TrainOptions(corpus=())
    parser.add_argument("--corpus", action="append", required=True, help="corpus folder (repeatable: pooled)")
    for option in dataclasses.fields(TrainOptions)[1:]:
        default = getattr(defaults, option.name)
        parser.add_argument("--" + option.name.replace("_", "-"), type=type(default), default=default)
    parser.add_argument("--channels", type=int, default=BeatTCNConfig.channels, help="hidden width of the TCN")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = TrainOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainOptions)
                              if f.name != "corpus"}, corpus=tuple(args.corpus))
    config = BeatTCNConfig(channels=args.channels)
    command = "python -m choreo.training.train_beat_tracker " + shlex.join(sys.argv[1:] if argv is None else argv)
    model, history = train(options, config)

    from ..checkpoints import WEIGHTS_FILE, save_checkpoint

    out = Path(options.out)
    save_checkpoint(out, model, config, metadata={"options": dataclasses.asdict(options), "history": history})
    scores = validation_scores(out, pooled_split(options, "validation", config.frame_rate_hz), config.frame_rate_hz)
    LOG.info(json.dumps(scores))
    (out / "README.md").write_text(_readme(options, command, history, scores, (out / WEIGHTS_FILE).stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
