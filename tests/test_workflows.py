"""The bundled workflows are valid ComfyUI graphs and the quick-start one runs end to end."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from choreo.io.video_export import read_video_info
from choreo.timeline import num_frames_for
from conftest import REPO_ROOT, click_track

# ComfyUI's template browser lists example_workflows/ by file name, so the names are the titles.
WORKFLOW_DIR = REPO_ROOT / "example_workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.json"))
# ComfyUI 0.33.0's definitions of the core nodes the workflows use, vendored (see the file's "source").
CORE_NODES = json.loads((REPO_ROOT / "tests" / "fixtures" / "comfyui_core_nodes_subset.json").read_text())["nodes"]
SOCKET_ONLY = {"IMAGE", "AUDIO", "MASK", "LATENT", "VIDEO", "POSE_KEYPOINT", "CONDITIONING"}
VIDEO_WRITERS = ("ChoreoRenderDanceVideoFile", "ChoreoSaveDanceVideo")
# Nodes whose combos list the user's files: any saved file name is valid.
FILE_PICKERS = ("LoadAudio", "LoadImage", "ChoreoReferencePose", "ChoreoLoadPoseKeypoint", "ChoreoLoadXDancerRenderer",
                "ChoreoLoadWanAnimate", "ChoreoLoadMotionExpert", "ChoreoLoadXDancer")
# Frontend-only widgets that core nodes add to widgets_values (upload buttons, previews).
EXTRA_WIDGETS = {"LoadAudio": 2, "LoadImage": 1}
# V3 dynamic combos (SaveVideo's format/codec) are widgets whose options are {key, inputs} entries.
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", DYNAMIC_COMBO)
# Canvas-only nodes (comments), left out of the API prompt as the frontend's graphToPrompt does.
FRONTEND_ONLY = {"Note"}


def node_definitions(pack) -> dict:
    """/object_info-style definitions for our nodes plus the core subset."""
    definitions = dict(CORE_NODES)
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        inputs = cls.INPUT_TYPES()
        definitions[name] = {"input": inputs, "input_order": {key: list(value) for key, value in inputs.items()},
                             "output": list(cls.RETURN_TYPES)}
    return definitions


def widget_inputs(definition: dict) -> list[tuple[str, tuple]]:
    """(name, spec) of the inputs that are widgets, in widget order."""
    widgets = []
    for section in ("required", "optional"):
        for name in definition.get("input_order", {}).get(section, []):
            spec = definition["input"][section][name]
            kind = spec[0]
            socket_only = len(spec) > 1 and spec[1].get("forceInput")
            if (isinstance(kind, list) or kind in WIDGET_KINDS) and not socket_only:
                widgets.append((name, spec))
    return widgets


def expected_widget_values(node_type: str, definition: dict) -> int:
    count = 0
    for _, spec in widget_inputs(definition):
        count += 1
        if len(spec) > 1 and spec[1].get("control_after_generate"):
            count += 1
    return count + EXTRA_WIDGETS.get(node_type, 0)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_nodes_links_and_widgets_resolve(path, pack):
    workflow = json.loads(path.read_text())
    definitions = node_definitions(pack)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    assert workflow["last_node_id"] >= max(nodes)
    assert workflow["last_link_id"] >= max(link[0] for link in workflow["links"])
    for node in workflow["nodes"]:
        assert node["type"] in definitions, f"unknown node type {node['type']} in {path.name}"
        definition = definitions[node["type"]]
        assert len(node["widgets_values"]) == expected_widget_values(node["type"], definition), node["type"]
        values = iter(node["widgets_values"])
        for name, spec in widget_inputs(definition):
            value = next(values)
            options = spec[0] if isinstance(spec[0], list) else spec[1].get("options") if spec[0] == "COMBO" else None
            if spec[0] == DYNAMIC_COMBO:
                options = [option["key"] for option in spec[1]["options"]]
            if name.endswith("_name"):  # model-file lists (unet_name, vae_name, ...) depend on the user's folders
                options = None
            if options is not None and node["type"] not in FILE_PICKERS:
                assert value in options, f"{node['type']}.{name} = {value!r} not in {options}"
            if spec[0] in ("INT", "FLOAT"):
                assert spec[1].get("min", -np.inf) <= value <= spec[1].get("max", np.inf), f"{node['type']}.{name}"
            if len(spec) > 1 and spec[1].get("control_after_generate"):
                assert next(values) in ("fixed", "increment", "decrement", "randomize")
        required = definition["input"].get("required", {})
        linked = {entry["name"] for entry in node["inputs"] if entry.get("link") is not None}
        for name, spec in required.items():
            is_widget = isinstance(spec[0], list) or spec[0] in WIDGET_KINDS
            if not is_widget or (len(spec) > 1 and spec[1].get("forceInput")):
                assert name in linked, f"required socket {node['type']}.{name} is not connected"
    for link_id, source_id, source_slot, target_id, target_slot, link_type in workflow["links"]:
        source, target = nodes[source_id], nodes[target_id]
        assert definitions[source["type"]]["output"][source_slot] == link_type
        assert link_id in source["outputs"][source_slot]["links"]
        target_input = target["inputs"][target_slot]
        assert target_input["link"] == link_id
        all_inputs = {**definitions[target["type"]]["input"].get("required", {}),
                      **definitions[target["type"]]["input"].get("optional", {})}
        # A multi-type input (io.MultiType, e.g. SCAIL2ColoredMask's "SAM3_TRACK_DATA,MASK") takes any of its types.
        accepted = all_inputs[target_input["name"]][0].split(",")
        assert link_type in accepted, f"{target['type']}.{target_input['name']}"


# The frontend stops drawing text below about 0.57 zoom (LiteGraph's minimum font size for detail), and its
# tab bar covers the top 37 px of the canvas.
MIN_READABLE_ZOOM = 0.6
TAB_BAR_PX = 37


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_opens_readable_with_titles_below_the_tab_bar(path):
    workflow = json.loads(path.read_text())
    view = workflow["extra"]["ds"]
    assert view["scale"] >= MIN_READABLE_ZOOM
    tops = [node["pos"][1] - 30 for node in workflow["nodes"]]  # a node's title bar sits above its position
    tops += [group["bounding"][1] for group in workflow.get("groups", [])]
    assert (min(tops) + view["offset"][1]) * view["scale"] > TAB_BAR_PX + 20


def test_every_core_node_of_the_workflows_is_in_the_vendored_definitions():
    used = {node["type"] for path in WORKFLOWS for node in json.loads(path.read_text())["nodes"]}
    core_used = {name for name in used if not name.startswith("Choreo")}
    assert core_used and core_used <= set(CORE_NODES)
    assert CORE_NODES["LoadAudio"]["output"] == ["AUDIO"]


def to_api_prompt(workflow: dict, definitions: dict) -> dict:
    """UI graph -> API prompt (what the frontend's graphToPrompt does for these simple graphs)."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:  # virtual nodes: the frontend never sends them to the server
            continue
        inputs = {}
        values = iter(node["widgets_values"])
        for name, spec in widget_inputs(definitions[node["type"]]):
            inputs[name] = next(values)
            if len(spec) > 1 and spec[1].get("control_after_generate"):
                next(values)
        for entry in node["inputs"]:
            if entry.get("link") is not None:
                link = links[entry["link"]]
                inputs[entry["name"]] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def run_prompt(prompt: dict, pack, fake_nodes: dict) -> dict:
    """Execute an API prompt in dependency order with our node classes (no ComfyUI needed)."""
    results, ui = {}, {}

    def run(node_id: str):
        if node_id in results:
            return results[node_id]
        entry = prompt[node_id]
        kwargs = {name: run(value[0])[value[1]] if isinstance(value, list) else value
                  for name, value in entry["inputs"].items()}
        if entry["class_type"] in fake_nodes:
            results[node_id] = fake_nodes[entry["class_type"]](**kwargs)
            return results[node_id]
        cls = pack.NODE_CLASS_MAPPINGS[entry["class_type"]]
        output = getattr(cls(), cls.FUNCTION)(**kwargs)
        if isinstance(output, dict):
            ui[node_id] = output.get("ui")
            output = output["result"]
        results[node_id] = output
        return output

    for node_id in prompt:
        run(node_id)
    return ui


@pytest.mark.parametrize("name", [path.name for path in WORKFLOWS if path.stem.endswith("(CPU)")])
def test_cpu_workflow_runs_end_to_end(pack, tmp_path, monkeypatch, name):
    monkeypatch.setenv("CHOREO_OUTPUT_DIR", str(tmp_path))
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    shutil.copyfile(REPO_ROOT / "assets" / "demo_character_pose.json", input_dir / "choreo_demo_character_pose.json")
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(input_dir))
    workflow = json.loads((WORKFLOW_DIR / name).read_text())
    definitions = node_definitions(pack)
    prompt = to_api_prompt(workflow, definitions)
    song = click_track(tempo_bpm=110.0, duration_s=6.0, sample_rate=44100)
    stereo = torch.from_numpy(np.stack([song, song]))[None]
    # The demo character at 160x240: a picture with a person in it, as the detector needs (a blank one is refused).
    character = cv2.cvtColor(cv2.imread(str(REPO_ROOT / "assets" / "demo_character.png")), cv2.COLOR_BGR2RGB)
    picture = torch.from_numpy(cv2.resize(character, (160, 240), interpolation=cv2.INTER_AREA))[None] / 255.0
    fake_nodes = {"LoadAudio": lambda audio: ({"waveform": stereo, "sample_rate": 44100},),
                  "LoadImage": lambda image, **_: (picture, torch.zeros(1, 240, 160))}
    ui = run_prompt(prompt, pack, fake_nodes)
    saver_id = next(k for k, v in prompt.items() if v["class_type"] in VIDEO_WRITERS)
    saved = ui[saver_id]["images"][0]
    video = tmp_path / saved["subfolder"] / saved["filename"]
    info = read_video_info(video)
    assert info.num_frames == num_frames_for(6.0, 30.0)
    assert abs(info.audio_duration_s - info.video_duration_s) < 1 / 30  # one frame clock: sound ends with picture
    if "motion" in prompt[saver_id]["inputs"]:
        assert video.with_suffix(".npz").exists() and video.with_suffix(".bvh").exists()
    if "pose" in prompt[saver_id]["inputs"]:
        assert video.with_suffix(".pose.json").exists()
    preview = ui[next(k for k, v in prompt.items() if v["class_type"] == "ChoreoAnalyzeMusic")]["images"][0]
    assert preview["type"] == "temp" and preview["filename"].endswith(".png")


def _inputs_by_link(workflow: dict) -> dict:
    """(target node id, input name) -> (source node, source slot) for every link."""
    nodes = {node["id"]: node for node in workflow["nodes"]}
    return {(link[3], nodes[link[3]]["inputs"][link[4]]["name"]): (nodes[link[1]], link[2])
            for link in workflow["links"]}


def _only(workflow: dict, node_type: str) -> dict:
    (node,) = [node for node in workflow["nodes"] if node["type"] == node_type]
    return node


@pytest.mark.parametrize("name, sampler_node, frames_in", [
    ("Choreo - Your dance to Wan-Animate 2.json", "WanAnimate2ToVideo", ("pose_video",)),
    ("Choreo - Your dance to SCAIL.json", "WanSCAILToVideo", ("pose_video",)),
])
def test_pose_video_workflows_drive_one_chunk_with_the_song_cut_to_it(name, sampler_node, frames_in):
    workflow = json.loads((WORKFLOW_DIR / name).read_text())
    sources = _inputs_by_link(workflow)
    frames = _only(workflow, "ChoreoRenderDanceFrames")
    wan = _only(workflow, sampler_node)
    renderer, _, start_frame, frame_count, stride, _ = frames["widgets_values"]
    length = wan["widgets_values"][2]
    assert renderer == "puppet"  # both models read a person-like driving video, not a skeleton drawing
    for socket in frames_in:
        assert sources[(wan["id"], socket)][0]["id"] == frames["id"]
    assert (length - 1) % 4 == 0 and frame_count == length and stride == 1 and start_frame == 0
    trim = _only(workflow, "TrimAudioDuration")
    assert trim["widgets_values"] == [0.0, pytest.approx(length / 30.0, abs=0.01)]
    create = _only(workflow, "CreateVideo")
    assert sources[(create["id"], "fps")] == (frames, 1)  # the frames' own fps, 30 for the dance's clock
    assert sources[(create["id"], "audio")][0]["id"] == trim["id"]
    note = _only(workflow, "Note")["widgets_values"][0]
    for node in workflow["nodes"]:
        for model in node["properties"].get("models", []):
            assert model["name"] in node["widgets_values"]
            assert f"{model['directory']}/{model['name']}" in note


def test_scail_workflow_masks_match_animation_mode():
    workflow = json.loads((WORKFLOW_DIR / "Choreo - Your dance to SCAIL.json").read_text())
    sources = _inputs_by_link(workflow)
    wan, masks = _only(workflow, "WanSCAILToVideo"), _only(workflow, "SCAIL2ColoredMask")
    width, height = wan["widgets_values"][:2]
    assert width % 32 == 0 and height % 32 == 0
    assert wan["widgets_values"][-1] is False and masks["widgets_values"][-1] is False  # both in Animation Mode
    assert sources[(wan["id"], "pose_video_mask")] == (masks, 0)
    assert sources[(wan["id"], "reference_image_mask")] == (masks, 1)
    tracker = sources[(masks["id"], "driving_track_data")][0]
    frames = _only(workflow, "ChoreoRenderDanceFrames")
    assert sources[(tracker["id"], "images")][0]["id"] == frames["id"]  # the mask tracks the same frames
    person_mask = sources[(masks["id"], "ref_track_data")]
    assert person_mask[0]["type"] == "ChoreoReferencePose" and person_mask[1] == 2


def test_wan_animate2_workflow_renders_its_81_frame_driving_video_at_30_fps(pack, tmp_path, monkeypatch):
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    shutil.copyfile(REPO_ROOT / "assets" / "demo_character_pose.json", input_dir / "choreo_demo_character_pose.json")
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(input_dir))
    monkeypatch.setenv("CHOREO_OUTPUT_DIR", str(tmp_path))
    workflow = json.loads((WORKFLOW_DIR / "Choreo - Your dance to Wan-Animate 2.json").read_text())
    prompt = to_api_prompt(workflow, node_definitions(pack))
    frames_id = str(_only(workflow, "ChoreoRenderDanceFrames")["id"])
    needed, stack = set(), [frames_id]
    while stack:  # the Choreo half: everything upstream of Render Dance Frames
        node_id = stack.pop()
        if node_id not in needed:
            needed.add(node_id)
            stack += [value[0] for value in prompt[node_id]["inputs"].values() if isinstance(value, list)]
    song = click_track(tempo_bpm=110.0, duration_s=4.0, sample_rate=22050)
    character = cv2.cvtColor(cv2.imread(str(REPO_ROOT / "assets" / "demo_character.png")), cv2.COLOR_BGR2RGB)
    picture = torch.from_numpy(cv2.resize(character, (160, 240), interpolation=cv2.INTER_AREA))[None] / 255.0
    fake_nodes = {"LoadAudio": lambda audio: ({"waveform": torch.from_numpy(song)[None, None], "sample_rate": 22050},),
                  "LoadImage": lambda image, **_: (picture, torch.zeros(1, 240, 160))}
    results = {}
    sub_prompt = {k: v for k, v in prompt.items() if k in needed}
    cls = pack.NODE_CLASS_MAPPINGS["ChoreoRenderDanceFrames"]
    original = getattr(cls, cls.FUNCTION)

    def keep(self, **kwargs):
        results["frames"] = original(self, **kwargs)
        return results["frames"]

    monkeypatch.setattr(cls, cls.FUNCTION, keep)
    run_prompt(sub_prompt, pack, fake_nodes)
    images, fps, next_start = results["frames"]
    assert images.shape == (81, 240, 160, 3) and fps == 30.0 and next_start == 81
    assert float(images.std()) > 0.05  # a picture, not a blank batch


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_has_a_template_thumbnail_and_a_note_of_its_model_files(path):
    # ComfyUI's template browser lists a custom-node workflow by its file stem and shows
    # /api/workflow_templates/<pack folder>/<stem>.jpg as its picture (frontend 1.49.6, mediaSubtype "jpg").
    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file() and thumbnail.stat().st_size < 60_000
    picture = cv2.imread(str(thumbnail))
    assert picture is not None and picture.shape[0] >= 256 and picture.shape[1] >= 256
    notes = [node["widgets_values"][0] for node in json.loads(path.read_text())["nodes"] if node["type"] == "Note"]
    assert any("Model files" in note for note in notes)


def test_beat_aware_music_features_read_the_analysis_of_the_same_song():
    """edge_librosa_beats takes the beat phase from Analyze Music: wired to the Analyze Music of the same audio,
    the dance and its features follow one set of beats (the user's tempo override included)."""
    checked = []
    for path in WORKFLOWS:
        workflow = json.loads(path.read_text())
        by_link = _inputs_by_link(workflow)
        for node in workflow["nodes"]:
            if node["type"] != "ChoreoMusicFeatures" or node["widgets_values"][1] != "edge_librosa_beats":
                continue
            analyze, slot = by_link[(node["id"], "analysis")]
            assert analyze["type"] == "ChoreoAnalyzeMusic" and slot == 0, path.name
            assert by_link[(node["id"], "audio")] == by_link[(analyze["id"], "audio")], path.name
            checked.append(path.name)
    # the bundled X-Dancer and pose DiT demos read beat-aware features, so their workflows must be among these
    assert {"Choreo - X-Dancer motion demo (CPU).json", "Choreo - One-hot pose DiT demo (CPU).json"} <= set(checked)
