"""Every node is self-describing and plays by ComfyUI's rules."""

from __future__ import annotations

import json

import pytest

from conftest import REPO_ROOT

CORE_TYPES = {"IMAGE", "AUDIO", "MASK", "LATENT", "VIDEO", "POSE_KEYPOINT", "CONDITIONING", "INT", "FLOAT",
              "STRING", "BOOLEAN", "COMBO", "MODEL", "VAE", "CLIP"}


def core_node_names() -> set[str]:
    """Ids of the vendored ComfyUI 0.33.0 core nodes (tests/fixtures), the ones Choreo's workflows meet."""
    source = REPO_ROOT / "tests" / "fixtures" / "comfyui_core_nodes_subset.json"
    return set(json.loads(source.read_text())["nodes"])


def all_inputs(cls):
    spec = cls.INPUT_TYPES()
    return {**spec.get("required", {}), **spec.get("optional", {})}


def test_pack_loads_under_any_module_name(pack):
    from conftest import load_pack

    other = load_pack("some_other_folder_name")
    assert set(other.NODE_CLASS_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)


def test_node_ids_are_prefixed_and_never_shadow_core_nodes(pack):
    core = core_node_names()
    for node_id in pack.NODE_CLASS_MAPPINGS:
        assert node_id.startswith("Choreo") and node_id not in core
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)


@pytest.mark.parametrize("node_id", sorted(__import__("conftest").load_pack().NODE_CLASS_MAPPINGS))
def test_every_node_documents_itself(pack, node_id):
    cls = pack.NODE_CLASS_MAPPINGS[node_id]
    assert cls.CATEGORY.startswith("Choreo/")
    assert len(cls.DESCRIPTION) > 40
    assert callable(getattr(cls, cls.FUNCTION))
    for name, spec in all_inputs(cls).items():
        assert len(spec) == 2 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
    names = getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)
    assert len(names) == len(cls.RETURN_TYPES) == len(getattr(cls, "OUTPUT_TOOLTIPS", cls.RETURN_TYPES))
    for spec in all_inputs(cls).values():
        if spec[0] in ("INT", "FLOAT"):
            options = spec[1]
            assert options["min"] <= options["default"] <= options["max"]
            assert isinstance(options["default"], int if spec[0] == "INT" else float)


def test_own_socket_types_do_not_reuse_core_names(pack):
    for cls in pack.NODE_CLASS_MAPPINGS.values():
        for type_name in list(cls.RETURN_TYPES) + [spec[0] for spec in all_inputs(cls).values()]:
            if isinstance(type_name, str) and type_name not in CORE_TYPES:
                assert type_name.startswith("CHOREO_"), type_name
