"""The learned beat / downbeat tracker at inference: a small TCN run in numpy, then decoded to beats and bars.

The network (``models.beat_tcn.BeatTCN``, trained by ``choreo.training.train_beat_tracker``) maps
Choreo's analysis log-mel to two activations per frame: how likely a beat, and a downbeat, sits
on that frame. Inference needs no torch (the CLI's default install has none): the weights are read
with ``safetensors.numpy`` and each convolution is a few matrix products, ~0.3 s for 3 minutes.

Decoding reuses Choreo's two dynamic programmes: the beat tracker's (beat frame x inter-beat
interval) Viterbi on the beat activation, then a bar-position Viterbi over the beats on the
downbeat activation (``meter.decode_bars``), which settles meter and downbeats together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoints import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_config
from ..errors import ChoreoError
from .beat_tracking import ONSET_LAG_S, estimate_tempo, track_beats
from .meter import decode_bars

DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "beat_tracker"
DYNAMIC_RANGE_DB = 80.0  # the analysis log-mel floors at its maximum minus 80 dB (power_to_db's top_db)
SEARCH_FRAMES = 2  # an activation peak within +-2 frames (+-23 ms) of a beat belongs to it


@dataclass(frozen=True)
class BeatTCNConfig:
    """Shape of the beat TCN; stored as config.json beside the weights.

    num_bands     : log-mel bands in (the analysis spectrogram's 128).
    channels      : width of every hidden layer.
    stem_kernel   : frames seen by the first, per-band convolution (odd).
    kernel_size   : taps of each dilated convolution (odd).
    dilations     : one residual block per entry; 1..256 gives a receptive field of about 2,000 frames (24 s).
    dropout       : training only.
    frame_rate_hz : frames per second of the input (22050 / 256).
    """

    num_bands: int = 128
    channels: int = 32
    stem_kernel: int = 3
    kernel_size: int = 5
    dilations: tuple[int, ...] = field(default=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    dropout: float = 0.1
    frame_rate_hz: float = 22050.0 / 256.0


def network_input(log_mel_db: np.ndarray) -> np.ndarray:
    """(bands, T) float32 in [0, 1]: the log-mel relative to its loudest bin over the 80 dB range.

    Relative to the maximum, so the input does not depend on the recording's gain.
    log_mel_db : (bands, T) float, dB (the analysis ``log_mel``).
    """
    log_mel_db = np.asarray(log_mel_db, dtype=np.float32)
    peak_db = float(log_mel_db.max()) if log_mel_db.size else 0.0
    return np.clip((log_mel_db - peak_db) / DYNAMIC_RANGE_DB + 1.0, 0.0, 1.0)


def _conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, dilation: int = 1) -> np.ndarray:
    """Same-length 1-D convolution (cross-correlation, as torch's Conv1d), time-major.

    x : (T, C_in) float32; weight : (C_out, C_in, K) torch layout; bias : (C_out,). Returns (T, C_out).
    One matrix product per tap on a contiguous block of rows: no im2col copy.
    """
    num_taps, length = weight.shape[2], x.shape[0]
    reach = dilation * (num_taps - 1) // 2
    padded = np.pad(x, ((reach, reach), (0, 0)))
    out = padded[:length] @ weight[:, :, 0].T + bias
    for tap in range(1, num_taps):
        out += padded[tap * dilation: tap * dilation + length] @ weight[:, :, tap].T
    return out


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


class BeatTracker:
    """The trained network's weights (float32 numpy) and config; ``activations`` runs it."""

    def __init__(self, config: BeatTCNConfig, weights: dict[str, np.ndarray]):
        expected = {"stem.weight", "stem.bias", "head.weight", "head.bias"}
        for index in range(len(config.dilations)):
            expected |= {f"blocks.{index}.{part}.{kind}" for part in ("dilated", "pointwise")
                         for kind in ("weight", "bias")}
        missing, unexpected = sorted(expected - set(weights)), sorted(set(weights) - expected)
        if missing or unexpected:
            raise CheckpointError(f"beat tracker weights do not match the config: missing {missing[:4]}, "
                                  f"unexpected {unexpected[:4]}; re-train or re-download the checkpoint.")
        if weights["stem.weight"].shape != (config.channels, config.num_bands, config.stem_kernel):
            raise CheckpointError(f"beat tracker stem.weight has shape {weights['stem.weight'].shape}, the config "
                                  f"says {(config.channels, config.num_bands, config.stem_kernel)}.")
        self.config = config
        self.weights = {key: np.asarray(value, dtype=np.float32) for key, value in weights.items()}

    def activations(self, log_mel_db: np.ndarray) -> np.ndarray:
        """(2, T) float32 beat and downbeat probability per frame of a (num_bands, T) dB log-mel."""
        if log_mel_db.shape[0] != self.config.num_bands:
            raise ChoreoError(f"the beat tracker needs a {self.config.num_bands}-band log-mel, got "
                              f"{log_mel_db.shape[0]} bands; compute it with analyze.spectral_descriptors.")
        from threadpoolctl import threadpool_limits  # installed with librosa (via scikit-learn)

        w = self.weights
        # 32-channel products gain nothing from BLAS threads and lose ~5x when the cores are busy.
        with threadpool_limits(limits=1, user_api="blas"):
            h = _elu(_conv1d(np.ascontiguousarray(network_input(log_mel_db).T), w["stem.weight"], w["stem.bias"]))
            for index, dilation in enumerate(self.config.dilations):
                inner = _elu(_conv1d(h, w[f"blocks.{index}.dilated.weight"], w[f"blocks.{index}.dilated.bias"],
                                     dilation))
                h = h + _conv1d(inner, w[f"blocks.{index}.pointwise.weight"], w[f"blocks.{index}.pointwise.bias"])
            logits = _conv1d(h, w["head.weight"], w["head.bias"]).T  # (2, T)
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def load_beat_tracker(directory: str | Path = DEFAULT_CHECKPOINT_DIR) -> BeatTracker:
    """The tracker in ``directory`` (config.json + model.safetensors), read without torch."""
    from safetensors.numpy import load_file

    directory = Path(directory)
    config = load_config(directory, BeatTCNConfig)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path} is missing; the beat tracker needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                              "(train one with `python -m choreo.training.train_beat_tracker`).")
    return BeatTracker(config, load_file(str(weights_path)))


def beats_from_activation(beat_activation: np.ndarray, frame_rate_hz: float) -> np.ndarray:
    """(N,) float64 beat times, seconds: the beat Viterbi of ``beat_tracking`` on the network's beat activation.

    The activation is a clean pulse train where the network is sure, so its autocorrelation picks the
    tempo and the (frame x interval) programme follows drift; the STFT-lag correction that programme
    applies to spectral flux is undone (the network was trained on the labelled beat frames).
    """
    activation = np.asarray(beat_activation, dtype=np.float64)
    if len(activation) < 4 or activation.max() <= 0:
        return np.zeros(0)
    tempo_bpm = estimate_tempo(activation, frame_rate_hz)
    return track_beats(activation, frame_rate_hz, tempo_bpm) + ONSET_LAG_S


def activation_at_beats(activation: np.ndarray, beat_times_s: np.ndarray, frame_rate_hz: float) -> np.ndarray:
    """(N,) float an activation's peak within SEARCH_FRAMES of each beat (downbeat evidence, beat confidence)."""
    frames = np.rint(np.asarray(beat_times_s) * frame_rate_hz).astype(np.int64)
    offsets = np.arange(-SEARCH_FRAMES, SEARCH_FRAMES + 1)
    index = np.clip(frames[:, None] + offsets[None, :], 0, len(activation) - 1)
    return np.asarray(activation, dtype=np.float64)[index].max(axis=1)


def decode(activations: np.ndarray, frame_rate_hz: float) -> tuple[np.ndarray, int, np.ndarray]:
    """Beats, meter and bar positions from (2, T) beat / downbeat activations.

    returns : (beat_times_s (N,) float64, beats_per_bar, beat_in_bar (N,) int64 with 0 on downbeats).

    >>> beats_s, beats_per_bar, beat_in_bar = decode(tracker.activations(log_mel), 22050 / 256)  # doctest: +SKIP
    """
    beat_times_s = beats_from_activation(activations[0], frame_rate_hz)
    beats_per_bar, beat_in_bar = decode_bars(activation_at_beats(activations[1], beat_times_s, frame_rate_hz))
    return beat_times_s, beats_per_bar, beat_in_bar
