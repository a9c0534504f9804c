"""Shared fixtures: the pack loaded the way ComfyUI loads it, and small synthetic inputs."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import weakref
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


@pytest.fixture(scope="module")
def click_song(pack):
    """(music features at 30 fps, music analysis, 256x384 default reference pose) of a 2 s click track at 120 bpm:
    what a 2D pose generator node is given."""
    core = importlib.import_module(f"{pack.__name__}.choreo")
    audio = importlib.import_module(f"{core.__name__}.music.audio").Audio.from_array(click_track(duration_s=2.0), 22050)
    features = importlib.import_module(f"{core.__name__}.music.features").extract_music_features(audio, fps=30.0)
    music = importlib.import_module(f"{core.__name__}.music.analyze").analyze_music(audio, fps=30.0)
    reference = importlib.import_module(f"{core.__name__}.pose.reference").default_reference_pose(256, 384)
    return features, music, reference


@pytest.fixture(scope="module")
def click_song_features(pack):
    """extractor name -> music features of ``click_song``'s 2 s click track (a beat-aware extractor reads the
    same analysis), for models trained on other features than edge_librosa (e.g. the bundled demos)."""
    core = importlib.import_module(f"{pack.__name__}.choreo")
    audio = importlib.import_module(f"{core.__name__}.music.audio").Audio.from_array(click_track(duration_s=2.0), 22050)
    music = importlib.import_module(f"{core.__name__}.music.analyze").analyze_music(audio, fps=30.0)
    features = importlib.import_module(f"{core.__name__}.music.features")
    return lambda extractor: features.extract_music_features(audio, fps=30.0, extractor=extractor, analysis=music)


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


class StubPatcher:
    """Stands in for ``comfy.model_patcher.ModelPatcher``: remembers what it wraps and where it goes."""

    def __init__(self, model, load_device, offload_device, size=0):
        self.model, self.load_device, self.offload_device, self.size = model, load_device, offload_device, size


class StubModelManagement(types.ModuleType):
    """Records every load; like ComfyUI's ``LoadedModel`` it holds the loaded patchers weakly."""

    def __init__(self):
        super().__init__("comfy.model_management")
        self.loads: list[tuple[list[weakref.ref], dict]] = []
        self.freed: list[int] = []

    def load_models_gpu(self, models, **options):
        self.loads.append(([weakref.ref(patcher) for patcher in models], options))

    def loaded_modules(self, index: int) -> list:
        """The networks the ``index``-th load asked for, in order."""
        return [ref().model for ref in self.loads[index][0]]

    def free_memory(self, memory_required, device, keep_loaded=()):
        self.freed.append(memory_required)

    @staticmethod
    def get_torch_device():
        import torch

        return torch.device("cpu")

    unet_offload_device = get_torch_device

    @staticmethod
    def module_size(module):
        return sum(t.numel() * t.element_size() for t in module.state_dict().values())

    @staticmethod
    def throw_exception_if_processing_interrupted():
        return None


@pytest.fixture
def comfy(pack, monkeypatch):
    """The pack's bridge talking to stub ComfyUI memory-manager modules; restored after the test."""
    management = StubModelManagement()
    patcher_module = types.ModuleType("comfy.model_patcher")
    patcher_module.ModelPatcher = StubPatcher
    package = types.ModuleType("comfy")
    package.model_management, package.model_patcher = management, patcher_module
    for name, module in (("comfy", package), ("comfy.model_management", management),
                         ("comfy.model_patcher", patcher_module)):
        monkeypatch.setitem(sys.modules, name, module)
    bridge = importlib.import_module(f"{pack.__name__}.nodes.comfy_bridge")
    monkeypatch.setattr(bridge, "model_management", management)
    monkeypatch.setattr(bridge, "_PATCHERS", {})
    return management
