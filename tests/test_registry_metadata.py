"""pyproject.toml carries what the ComfyUI registry requires, in the forms it accepts."""

from __future__ import annotations

import re

import pytest
from packaging.specifiers import SpecifierSet
from PIL import Image

from conftest import REPO_ROOT

tomllib = pytest.importorskip("tomllib")  # standard library from Python 3.11

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
REPOSITORY = PYPROJECT["project"]["urls"]["Repository"]


def test_registry_identity_fields_are_valid():
    project, comfy = PYPROJECT["project"], PYPROJECT["tool"]["comfy"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,98}", project["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPOSITORY)
    assert comfy["PublisherId"]
    assert SpecifierSet(comfy["requires-comfyui"]).contains("0.3.64")
    assert not SpecifierSet(comfy["requires-comfyui"]).contains("0.3.63")


def test_icon_is_an_image_of_this_repository_within_the_registry_size():
    icon = PYPROJECT["tool"]["comfy"]["Icon"]
    raw_prefix = REPOSITORY.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"
    assert icon.startswith(raw_prefix), icon
    with Image.open(REPO_ROOT / icon.removeprefix(raw_prefix)) as image:
        assert image.format in ("PNG", "JPEG", "GIF") and image.width <= 800 and image.height <= 400
