"""A small temporal convolutional network from a log-mel spectrogram to beat and downbeat activations.

In the spirit of Davies & Böck 2019 ("Temporal convolutional networks for musical audio beat
tracking") and Böck & Davies 2020 (multi-task beat / downbeat TCN): non-causal dilated 1-D
convolutions whose receptive field doubles per block, so the top layers see several bars (enough
to tell a downbeat from beat 3), with one sigmoid head per target. Our own simplifications: the
spectrogram is Choreo's analysis log-mel (128 bands at 22050 / 256 = 86.1 frames/s) squeezed by
one per-frame convolution instead of 2-D frequency convolutions, and no normalisation layers, so
``choreo.music.learned_beats`` runs the same network in a few numpy matrix products.

The configuration is ``choreo.music.learned_beats.BeatTCNConfig`` (torch-free, so the numpy
runtime can read it); this module only builds the trainable torch twin.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from choreo.music.learned_beats import BeatTCNConfig


class ResidualBlock(nn.Module):
    """x + pointwise(ELU(dilated conv(x))): one doubling of the receptive field."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.dilated = nn.Conv1d(channels, channels, kernel_size, dilation=dilation,
                                 padding=dilation * (kernel_size - 1) // 2)
        self.pointwise = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pointwise(self.dropout(F.elu(self.dilated(x))))


class BeatTCN(nn.Module):
    """Log-mel frames to (beat, downbeat) logits per frame.

    forward(x) : x (B, num_bands, T) network input (``learned_beats.network_input``)
                 -> (B, 2, T) logits; sigmoid gives beat and downbeat activations.
    Parameter names are the keys ``learned_beats`` reads: stem.*, blocks.<i>.dilated.*,
    blocks.<i>.pointwise.*, head.*.
    """

    def __init__(self, config: BeatTCNConfig):
        super().__init__()
        self.config = config
        self.stem = nn.Conv1d(config.num_bands, config.channels, config.stem_kernel,
                              padding=config.stem_kernel // 2)
        self.blocks = nn.ModuleList(ResidualBlock(config.channels, config.kernel_size, dilation, config.dropout)
                                    for dilation in config.dilations)
        self.head = nn.Conv1d(config.channels, 2, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming for ELU-fed convolutions; residual outputs start small so the stack begins near identity."""
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            block.pointwise.weight.data.mul_(0.1)
        # Beats fill ~5 % of frames and downbeats ~1.5 %: start the heads there instead of at 50 %.
        nn.init.constant_(self.head.bias, -3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.elu(self.stem(x))  # (B, C, T)
        for block in self.blocks:
            h = block(h)
        return self.head(h)  # (B, 2, T)
