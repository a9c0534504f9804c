"""CHAMP nodes, loaded the way ComfyUI loads the pack, over tiny official-layout files in fake ComfyUI folders."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
import torch

from test_champ_renderer import SIDE_PX, write_tiny_champ


class FolderPaths:
    """The part of ComfyUI's folder_paths the CHAMP loader uses, over one models folder."""

    def __init__(self, models: Path):
        self.models_dir = str(models)
        self.paths = {key: [str(models / key)] for key in ("choreo", "diffusers")}

    def get_folder_paths(self, key):
        return self.paths[key]


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.champ_nodes")


@pytest.fixture
def models(nodes, tmp_path, monkeypatch):
    monkeypatch.setattr(nodes.comfy_bridge, "folder_paths", FolderPaths(tmp_path / "models"))
    return tmp_path / "models"


def install_tiny_champ(models: Path, scratch: Path, guidance_types=("depth", "dwpose")) -> None:
    """CHAMP's files into models/choreo/champ, the three diffusers folders into models/diffusers."""
    files, _ = write_tiny_champ(scratch, guidance_types=guidance_types)
    (models / "diffusers").mkdir(parents=True)
    (models / "choreo").mkdir(parents=True)
    shutil.move(files.champ_dir, models / "choreo" / "champ")
    for folder, name in ((files.base_model_dir, "sd15"), (files.vae_dir, "vae-mse"),
                         (files.image_encoder_dir, "clip-image")):
        shutil.move(folder, models / "diffusers" / name)


def test_nodes_document_every_input(nodes):
    for cls in (nodes.ChoreoLoadCHAMP, nodes.ChoreoCHAMPRender):
        spec = cls.INPUT_TYPES()
        for name, entry in {**spec["required"], **spec.get("optional", {})}.items():
            assert entry[1].get("tooltip"), f"{cls.__name__}.{name}"
            if entry[0] in ("INT", "FLOAT"):
                assert entry[1]["min"] <= entry[1]["default"] <= entry[1]["max"]
                assert isinstance(entry[1]["default"], int if entry[0] == "INT" else float)
        assert len(cls.DESCRIPTION) > 40 and len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)
        assert cls.CATEGORY.startswith("Choreo/") and cls.__name__.startswith("Choreo")
    assert list(nodes.ChoreoCHAMPRender.INPUT_TYPES()["optional"]) == ["depth", "normal", "semantic", "skeleton"]


def test_a_missing_file_is_named_with_its_folder_at_validation(nodes, models):
    message = nodes.ChoreoLoadCHAMP.VALIDATE_INPUTS(champ="champ", base_model="stable-diffusion-v1-5",
                                                    vae="sd-vae-ft-mse", image_encoder="image_encoder")
    assert str(models / "choreo" / "champ" / "denoising_unet.pth") in message
    assert str(models / "choreo" / "champ" / "stable-diffusion-v1-5" / "unet" / "config.json") in message
    assert "fudan-generative-ai/champ" in message


def test_a_clone_of_the_hf_repo_loads_with_the_default_names(nodes, models, tmp_path, one_torch_thread):
    files, _ = write_tiny_champ(tmp_path / "scratch", guidance_types=("normal",))
    clone = models / "choreo" / "champ"  # git clone https://huggingface.co/fudan-generative-ai/champ
    clone.mkdir(parents=True)
    for folder, name in ((files.champ_dir, "champ"), (files.base_model_dir, "stable-diffusion-v1-5"),
                         (files.vae_dir, "sd-vae-ft-mse"), (files.image_encoder_dir, "image_encoder")):
        shutil.move(folder, clone / name)
    spec = nodes.ChoreoLoadCHAMP.INPUT_TYPES()["required"]
    defaults = {name: spec[name][1]["default"] for name in ("champ", "base_model", "vae", "image_encoder")}
    assert all(value in spec[name][0] for name, value in defaults.items())
    assert nodes.ChoreoLoadCHAMP.VALIDATE_INPUTS(**defaults) is True
    assert nodes.resolve_files(**defaults).champ_dir == clone / "champ"
    (champ,) = nodes.ChoreoLoadCHAMP().load(**defaults, dtype="fp32", offload=False)
    assert champ.guidance_types == ("normal",)


def test_load_and_render_through_the_nodes(nodes, models, tmp_path, one_torch_thread):
    install_tiny_champ(models, tmp_path / "scratch")
    spec = nodes.ChoreoLoadCHAMP.INPUT_TYPES()["required"]
    assert "champ" in spec["champ"][0] and {"sd15", "vae-mse", "clip-image"} <= set(spec["vae"][0])
    names = dict(champ="champ", base_model="sd15", vae="vae-mse", image_encoder="clip-image")
    assert nodes.ChoreoLoadCHAMP.VALIDATE_INPUTS(**names) is True
    (champ,) = nodes.ChoreoLoadCHAMP().load(**names, dtype="fp32", offload=False)
    assert champ.guidance_types == ("depth", "dwpose")
    reference = torch.rand(1, 40, 24, 3, generator=torch.Generator().manual_seed(0))
    skeleton = torch.rand(5, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    (images,) = nodes.ChoreoCHAMPRender().render(champ, reference, SIDE_PX, SIDE_PX, 1, 2.0, 0, 3, 1,
                                                 skeleton=skeleton)
    assert images.shape == (5, SIDE_PX, SIDE_PX, 3) and images.dtype == torch.float32
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0 and float(images.std()) > 0


def test_inside_comfyui_its_manager_loads_each_stages_networks(nodes, models, comfy, tmp_path, one_torch_thread):
    install_tiny_champ(models, tmp_path / "scratch")
    names = dict(champ="champ", base_model="sd15", vae="vae-mse", image_encoder="clip-image")
    (champ,) = nodes.ChoreoLoadCHAMP().load(**names, dtype="fp32", offload=False)
    assert nodes.comfy_bridge.is_managed(champ) and champ.offload  # weights wait on the offload device
    reference = torch.rand(1, 40, 24, 3)
    nodes.ChoreoCHAMPRender().render(champ, reference, SIDE_PX, SIDE_PX, 1, 1.0, 0, 3, 1,
                                     depth=torch.rand(3, 32, 32, 3))
    model = champ.model
    assert [comfy.loaded_modules(index) for index in range(len(comfy.loads))] == [
        [champ.image_encoder, champ.vae, model.reference_unet],  # reference
        [model.denoiser, model.guidance_encoders],  # denoising
        [champ.vae],  # decoding
    ]
    assert all(options.get("force_full_load") for _, options in comfy.loads)
