"""Every Choreo loader refuses a missing model file or folder at prompt validation (VALIDATE_INPUTS), before
anything runs, with a message that names the file and the folder to put it in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


class FolderPaths:
    """The part of ComfyUI's folder_paths the loaders use, over one models folder and one input folder."""

    def __init__(self, root: Path):
        self.models_dir = str(root / "models")
        self.input_dir = root / "input"
        self.input_dir.mkdir(parents=True)
        self.folder_names_and_paths = {key: ([str(root / "models" / key)], set())
                                       for key in ("smpl", "diffusers", "diffusion_models", "vae", "text_encoders",
                                                   "clip_vision", "checkpoints", "animatediff_models")}

    def get_folder_paths(self, key):
        return self.folder_names_and_paths[key][0]

    def get_filename_list(self, key):
        return sorted(os.path.relpath(os.path.join(top, name), folder)
                      for folder in self.get_folder_paths(key) for top, _, names in os.walk(folder) for name in names)

    def get_full_path(self, key, name):
        for folder in self.get_folder_paths(key):
            if os.path.isfile(os.path.join(folder, name)):
                return os.path.join(folder, name)
        return None

    def get_input_directory(self):
        return str(self.input_dir)


@pytest.fixture
def models(pack, tmp_path, monkeypatch):
    folder_paths = FolderPaths(tmp_path)
    monkeypatch.setattr(pack.nodes.comfy_bridge, "folder_paths", folder_paths)
    return tmp_path / "models"


def loader(pack, name):
    return pack.NODE_CLASS_MAPPINGS[name]


def test_every_choreo_loader_validates_its_inputs_up_front(pack):
    loaders = [name for name in pack.NODE_CLASS_MAPPINGS if name.startswith("ChoreoLoad")]
    assert {"ChoreoLoadMotionExpert", "ChoreoLoadXDancer", "ChoreoLoadWanAnimate", "ChoreoLoadMusicInfuser",
            "ChoreoLoadCHAMP"} <= set(loaders)
    assert all(callable(getattr(loader(pack, name), "VALIDATE_INPUTS", None)) for name in loaders)


def test_motion_expert_missing_checkpoint_names_it_and_its_folder(pack, models):
    cls = loader(pack, "ChoreoLoadMotionExpert")
    message = cls.VALIDATE_INPUTS(checkpoint="my_mace")
    assert "'my_mace'" in message and str(models / "choreo" / "motion_expert") in message
    assert cls.VALIDATE_INPUTS(checkpoint="bundled/mace_demo") is True


def test_xdancer_missing_checkpoint_names_it_and_its_folder(pack, models):
    cls = loader(pack, "ChoreoLoadXDancer")
    message = cls.VALIDATE_INPUTS(checkpoint="my_xdancer")
    assert "'my_xdancer'" in message and str(models / "choreo" / "xdancer") in message
    assert cls.VALIDATE_INPUTS(checkpoint=pack.nodes.xdancer_nodes.DEMO_NAME) is True


def test_smpl_missing_model_names_it_and_its_folder(pack, models):
    cls = loader(pack, "ChoreoLoadSMPLBody")
    message = cls.VALIDATE_INPUTS(model_file="SMPL_NEUTRAL.pkl")
    assert "'SMPL_NEUTRAL.pkl'" in message and str(models / "smpl") in message
    (models / "smpl").mkdir(parents=True)
    (models / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(b"")
    assert cls.VALIDATE_INPUTS(model_file="SMPL_NEUTRAL.pkl") is True


def test_pose_keypoint_missing_file_names_it_and_the_input_folder(pack, models):
    cls = loader(pack, "ChoreoLoadPoseKeypoint")
    message = cls.VALIDATE_INPUTS(pose_file="dancer_pose.json")
    assert "'dancer_pose.json'" in message and "ComfyUI/input" in message
    (models.parent / "input" / "dancer_pose.json").write_text("[]")
    assert cls.VALIDATE_INPUTS(pose_file="dancer_pose.json") is True


def test_xdancer_renderer_missing_weights_name_each_file_and_folder(pack, models):
    cls = loader(pack, "ChoreoLoadXDancerRenderer")
    from_checkpoint = pack.nodes.xdancer_renderer_nodes.FROM_CHECKPOINT
    message = cls.VALIDATE_INPUTS(base_model="v1-5-pruned-emaonly.safetensors", motion_module=from_checkpoint,
                                  renderer_checkpoint="mine")
    assert "'v1-5-pruned-emaonly.safetensors'" in message and "ComfyUI/models/checkpoints" in message
    (models / "checkpoints").mkdir(parents=True)
    (models / "checkpoints" / "v1-5-pruned-emaonly.safetensors").write_bytes(b"")
    message = cls.VALIDATE_INPUTS(base_model="v1-5-pruned-emaonly.safetensors", motion_module=from_checkpoint,
                                  renderer_checkpoint="mine")
    assert "'mine'" in message and str(models / "choreo" / "xdancer_renderer") in message
    mine = models / "choreo" / "xdancer_renderer" / "mine"
    mine.mkdir(parents=True)
    (mine / "config.json").write_text("{}")
    (mine / "model.safetensors").write_bytes(b"")
    message = cls.VALIDATE_INPUTS(base_model="v1-5-pruned-emaonly.safetensors", motion_module="v3_sd15_mm.ckpt",
                                  renderer_checkpoint="mine")
    assert "'v3_sd15_mm.ckpt'" in message and "ComfyUI/models/animatediff_models" in message
    assert cls.VALIDATE_INPUTS(base_model="v1-5-pruned-emaonly.safetensors", motion_module=from_checkpoint,
                               renderer_checkpoint="mine") is True


def test_wan_animate_missing_folder_or_file_names_it_and_its_folder(pack, models):
    cls = loader(pack, "ChoreoLoadWanAnimate")
    files = dict(transformer="wan2.2_animate_14B_bf16.safetensors", vae="wan_2.1_vae.safetensors",
                 text_encoder="umt5_xxl_fp16.safetensors", clip_vision="clip_vision_h.safetensors")
    message = cls.VALIDATE_INPUTS(source="diffusers folder", diffusers_folder="Wan2.2-Animate-14B-Diffusers", **files)
    assert "'Wan2.2-Animate-14B-Diffusers'" in message and str(models / "diffusers") in message
    (models / "diffusers" / "Wan2.2-Animate-14B-Diffusers").mkdir(parents=True)
    (models / "diffusers" / "Wan2.2-Animate-14B-Diffusers" / "model_index.json").write_text("{}")
    assert cls.VALIDATE_INPUTS(source="diffusers folder", diffusers_folder="Wan2.2-Animate-14B-Diffusers",
                               **files) is True
    message = cls.VALIDATE_INPUTS(source="single files", diffusers_folder="Wan2.2-Animate-14B-Diffusers", **files)
    assert "wan2.2_animate_14B_bf16.safetensors" in message and "ComfyUI/models/diffusion_models" in message
    for key, name in (("diffusion_models", files["transformer"]), ("vae", files["vae"]),
                      ("text_encoders", files["text_encoder"])):
        (models / key).mkdir(parents=True)
        (models / key / name).write_bytes(b"")
    message = cls.VALIDATE_INPUTS(source="single files", diffusers_folder="Wan2.2-Animate-14B-Diffusers", **files)
    assert "clip_vision_h.safetensors" in message and "ComfyUI/models/clip_vision" in message
