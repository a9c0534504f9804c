"""ComfyUI owns the pack's model memory: loaders hand out patcher-backed models, a node run loads all of its
networks in one ``load_models_gpu`` call, and a model evicted from the pack's cache leaves nothing referenced.

ComfyUI is replaced by stub ``comfy.model_management`` / ``comfy.model_patcher`` modules (conftest's ``comfy``
fixture) that behave like the real ones where it matters: ``load_models_gpu`` keeps only weak references to the
patchers it loads.
"""

from __future__ import annotations

import gc
import importlib
import weakref

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import REPO_ROOT  # noqa: E402

MACE_DEMO = REPO_ROOT / "assets" / "checkpoints" / "motion_expert" / "mace_demo"


@pytest.fixture
def fresh_cache(pack, monkeypatch):
    """An empty pack model cache, so the test controls eviction."""
    cache_module = importlib.import_module(f"{pack.__name__}.choreo.model_cache")
    cache = cache_module.ModelCache(budget_bytes=1)  # one entry at a time: each new load evicts the previous
    for module in (cache_module, importlib.import_module(f"{pack.__name__}.nodes.wan_animate_nodes")):
        monkeypatch.setattr(module, "MODEL_CACHE", cache)
    return cache


def _features(pack, num_frames: int, expert):
    """Random music features of ``expert``'s width and extractor."""
    features_module = importlib.import_module(f"{pack.__name__}.choreo.music.features")
    music_dim, extractor = expert.config.music_dim, expert.metadata["extractor"]
    values = np.random.default_rng(0).random((num_frames, music_dim)).astype(np.float32)
    return features_module.MusicFeatures(values, 30.0, extractor, tuple(str(i) for i in range(music_dim)))


def test_xdancer_node_runs_load_tokenizer_and_gpt_in_one_call(pack, comfy, one_torch_thread):
    nodes = importlib.import_module(f"{pack.__name__}.nodes.xdancer_nodes")
    reference = importlib.import_module(f"{pack.__name__}.choreo.pose.reference").default_reference_pose(256, 384)
    (model,) = nodes.ChoreoLoadXDancer().load(nodes.DEMO_NAME)
    (tokens,) = nodes.ChoreoEncodePoseTokens().encode(model, reference, reference)
    nodes.ChoreoDecodePoseTokens().decode(model, tokens, reference)
    assert len(comfy.loads) == 2  # one call per node run
    for index in range(2):
        assert comfy.loaded_modules(index) == [model.tokenizer, model.gpt]
        assert comfy.loads[index][1].get("force_full_load") is True  # plain modules cannot be half-loaded


@pytest.mark.skipif(not (MACE_DEMO / "model.safetensors").is_file(), reason="demo checkpoint not built")
def test_evicting_a_motion_expert_frees_its_patcher_and_weights(pack, comfy, fresh_cache, one_torch_thread):
    nodes = importlib.import_module(f"{pack.__name__}.nodes.motion_expert_nodes")
    (expert,) = nodes.ChoreoLoadMotionExpert().load("bundled/mace_demo", "float32")
    assert nodes.ChoreoLoadMotionExpert().load("bundled/mace_demo", "float32")[0] is expert
    nodes.ChoreoGenerate3DDance().generate(expert, _features(pack, 20, expert), 1, 0.5, 2.0, "auto", 2, num_frames=16)
    assert len(comfy.loads) == 1 and comfy.loaded_modules(0) == [expert.network]
    patcher, network = comfy.loads[0][0][0], weakref.ref(expert.network)
    assert patcher() is not None  # alive while the pack's cache holds the expert: ComfyUI can offload it
    del expert
    fresh_cache.get_or_load("something else", lambda: torch.nn.Linear(2, 2))  # evicts the expert
    gc.collect()
    assert patcher() is None and network() is None


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory):
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from test_wan_animate import tiny_pipeline

    folder = tmp_path_factory.mktemp("wan") / "tiny"
    tiny_pipeline().save_pretrained(folder)
    return folder


def _wan_render(pack, folder, offload: str):
    from test_wan_animate import dance

    nodes = importlib.import_module(f"{pack.__name__}.nodes.wan_animate_nodes")
    (pipe,) = nodes.ChoreoLoadWanAnimate().load("diffusers folder", str(folder), "x", "x", "x", "x", "fp32", offload,
                                                False)
    (images,) = nodes.ChoreoWanAnimateRender().render(pipe, torch.full((1, 32, 32, 3), 0.5), dance(5), "a dancer",
                                                      "", 32, 32, 1, 1.0, 0, 77, 5, "reference")
    assert images.shape == (5, 32, 32, 3)
    return pipe


def test_wan_pipeline_parts_are_loaded_by_comfyui_not_behind_unload_all(pack, comfy, fresh_cache, wan_folder):
    pipe = _wan_render(pack, wan_folder, "model")
    loaded = {id(module) for index in range(len(comfy.loads)) for module in comfy.loaded_modules(index)}
    assert loaded == {id(getattr(pipe, part)) for part in ("transformer", "text_encoder", "image_encoder", "vae")}
    # ... and unload_all_models, absent from the stub, never ran
    assert comfy.loaded_modules(0) == [pipe.text_encoder, pipe.image_encoder, pipe.vae]  # the encoders' stage
    parts = weakref.ref(pipe.transformer), weakref.ref(comfy.loads[0][0][0]())
    del pipe
    fresh_cache.clear()
    gc.collect()
    assert parts[0]() is None and parts[1]() is None


def test_wan_sequential_offload_asks_comfyui_for_room_for_one_layer(pack, comfy, fresh_cache, wan_folder):
    pipe = _wan_render(pack, wan_folder, "sequential")  # diffusers streams the layers; ComfyUI keeps its models
    whole = sum(comfy.module_size(getattr(pipe, part)) for part in ("transformer", "text_encoder", "image_encoder",
                                                                     "vae"))
    assert comfy.loads == [] and len(comfy.freed) == 1 and 0 < comfy.freed[0] < whole / 4  # one layer's worth
