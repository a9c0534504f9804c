"""Shared fixtures: the pack loaded the way ComfyUI loads it, and small synthetic inputs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_pack(module_name: str = "choreo_pack_under_test"):
    """Import the repository root as a package under an arbitrary name, as ComfyUI's loader does."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / "__init__.py",
                                                  submodule_search_locations=[str(REPO_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for modules of tiny networks: per-op overhead dominates them, and on a shared 2-core
    machine oversubscribed threads made them 10-30x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def pack():
    return load_pack()


def click_track(tempo_bpm: float = 120.0, duration_s: float = 8.0, sample_rate: int = 22050,
                beats_per_bar: int = 4) -> np.ndarray:
    """(N,) float32 clicks on every beat, louder and lower on downbeats, over a quiet bass hum."""
    times = np.arange(int(duration_s * sample_rate)) / sample_rate
    signal = 0.02 * np.sin(2 * np.pi * 55.0 * times)
    click_len = int(0.03 * sample_rate)
    envelope = np.exp(-np.arange(click_len) / (0.006 * sample_rate))
    for index, beat_s in enumerate(np.arange(0.0, duration_s, 60.0 / tempo_bpm)):
        start = int(beat_s * sample_rate)
        stop = min(start + click_len, len(signal))
        downbeat = index % beats_per_bar == 0
        tone = np.sin(2 * np.pi * (800.0 if downbeat else 1600.0) * times[: stop - start])
        signal[start:stop] += (0.9 if downbeat else 0.5) * tone * envelope[: stop - start]
    return signal.astype(np.float32)
