"""The only module that imports ComfyUI, each import with a fallback.

Inside ComfyUI this reaches progress bars (which also make a node
interruptible), the folders of ``folder_paths`` and the model memory manager;
outside it (tests, the CLI) the same calls do the plain thing, so node classes
stay testable without a ComfyUI checkout.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

if TYPE_CHECKING:
    import torch

try:
    import folder_paths
except ImportError:
    folder_paths = None

try:
    import comfy.utils as comfy_utils
    import comfy.model_management as model_management
except ImportError:
    comfy_utils = None
    model_management = None

T = TypeVar("T")
PACK_DIR = Path(__file__).resolve().parents[1]
# folder_paths key -> sub-folder of ComfyUI/models where users drop Choreo weights.
MODEL_FOLDERS = {
    "choreo": "choreo",
    "choreo_rtmlib": os.path.join("choreo", "rtmlib"),
    "choreo_mediapipe": os.path.join("choreo", "mediapipe"),  # MediaPipe's .tflite pose/face/hand/mask models
    "animatediff_models": "animatediff_models",
    "smpl": "smpl",  # licence-gated SMPL body models, shared with other packs (4D-Humans, PHALP)
}
MODEL_EXTENSIONS = {".onnx", ".safetensors", ".json"}
FOLDER_EXTENSIONS = {"smpl": {".pkl", ".npz"}, "choreo_mediapipe": {".tflite"}}  # keys whose files are not weights in MODEL_EXTENSIONS


def inside_comfyui() -> bool:
    return folder_paths is not None


def register_model_folders() -> None:
    """Add Choreo's model folders under ComfyUI/models (users add more via extra_model_paths.yaml)."""
    if folder_paths is None:
        return
    for key, sub_folder in MODEL_FOLDERS.items():
        path = os.path.join(folder_paths.models_dir, sub_folder)
        if key in folder_paths.folder_names_and_paths:
            folder_paths.add_model_folder_path(key, path)
        else:
            folder_paths.folder_names_and_paths[key] = ([path], FOLDER_EXTENSIONS.get(key, MODEL_EXTENSIONS))


def model_file_names(key: str) -> list[str]:
    if folder_paths is None:
        return []
    return folder_paths.get_filename_list(key)


def model_folders(key: str) -> list[Path]:
    """Every folder registered for ``key`` (ComfyUI/models/<sub folder> and extra_model_paths.yaml entries);
    ``./models_user/<sub folder>`` outside ComfyUI."""
    if folder_paths is None:
        return [Path.cwd() / "models_user" / MODEL_FOLDERS[key]]
    return [Path(path) for path in folder_paths.get_folder_paths(key)]


def registered_folders(key: str) -> list[Path]:
    """The folders ComfyUI registers for ``key``; none outside ComfyUI or for a key it does not know."""
    if folder_paths is None:
        return []
    try:
        return [Path(path) for path in folder_paths.get_folder_paths(key)]
    except KeyError:
        return []


def marked_sub_folders(key: str, marker: str) -> dict[str, Path]:
    """Folders one level under ``key``'s folders that hold ``marker`` (e.g. a diffusers model_index.json), by
    name; the first folder wins a repeated name."""
    found = {}
    for root in registered_folders(key):
        if root.is_dir():
            for child in sorted(root.iterdir()):
                if (child / marker).is_file():
                    found.setdefault(child.name, child)
    return found


def safetensors_choices(key: str, recommended: str) -> list[str]:
    """A combo's names: ``recommended`` first, so a fresh install shows what to download, then the .safetensors
    files ComfyUI lists for ``key``."""
    names = [name for name in model_file_names(key) if name.endswith(".safetensors")]
    return list(dict.fromkeys([recommended, *names]))


def model_file_path(key: str, name: str) -> Path:
    if folder_paths is None:
        return Path(name)
    return Path(folder_paths.get_full_path_or_raise(key, name))


def output_directory() -> Path:
    if folder_paths is None:
        return Path(os.environ.get("CHOREO_OUTPUT_DIR", Path.cwd() / "output"))
    return Path(folder_paths.get_output_directory())


def temp_directory() -> Path:
    if folder_paths is None:
        return Path(tempfile.gettempdir()) / "choreo"
    return Path(folder_paths.get_temp_directory())


def input_directory() -> Path | None:
    if folder_paths is not None:
        return Path(folder_paths.get_input_directory())
    return Path(os.environ["CHOREO_INPUT_DIR"]) if "CHOREO_INPUT_DIR" in os.environ else None


def input_files(suffixes: tuple[str, ...]) -> list[str]:
    """Names of the files in ComfyUI's input folder with one of ``suffixes``, sorted."""
    folder = input_directory()
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def input_file_path(name: str) -> Path | None:
    """Path of a file directly inside the input folder; None for anything else (no traversal)."""
    folder = input_directory()
    if folder is None or Path(name).name != name:
        return None
    path = folder / name
    return path if path.is_file() else None


def progress_reporter(steps: int = 100) -> Callable[[float], None]:
    """A callback taking a fraction 0..1; inside ComfyUI it drives the node's progress bar.

    ComfyUI's progress hook raises InterruptProcessingException when the user
    presses Cancel, so any loop that reports progress is interruptible.
    """
    if comfy_utils is None:
        return lambda fraction: None
    bar = comfy_utils.ProgressBar(steps)

    def report(fraction: float) -> None:
        bar.update_absolute(int(round(min(max(fraction, 0.0), 1.0) * steps)), steps)

    return report


def check_interrupted() -> None:
    """Raise ComfyUI's interrupt exception if the user cancelled (no-op outside ComfyUI)."""
    if model_management is not None:
        model_management.throw_exception_if_processing_interrupted()


def save_path(filename_prefix: str, width: int, height: int) -> tuple[Path, str, str]:
    """(folder, file stem with counter, subfolder relative to the output directory)."""
    out_dir = output_directory()
    if folder_paths is not None:
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, str(out_dir), width, height)
        return Path(folder), f"{name}_{counter:05}_", subfolder
    prefix = Path(filename_prefix)
    folder = out_dir / prefix.parent
    folder.mkdir(parents=True, exist_ok=True)
    counter = 1 + sum(1 for _ in folder.glob(f"{prefix.name}_*"))
    return folder, f"{prefix.name}_{counter:05}_", str(prefix.parent) if str(prefix.parent) != "." else ""


def prompt_server_routes():
    """ComfyUI's aiohttp ``RouteTableDef`` (``PromptServer.instance.routes``), or None outside ComfyUI."""
    try:
        from server import PromptServer
    except ImportError:
        return None
    instance = getattr(PromptServer, "instance", None)
    return instance.routes if instance is not None else None


def pose_library_directory() -> Path:
    """Folder of the user's pose library: ``<ComfyUI user dir>/choreo_poses`` (``<output>/choreo_poses`` outside)."""
    if folder_paths is not None and hasattr(folder_paths, "get_user_directory"):
        return Path(folder_paths.get_user_directory()) / "choreo_poses"
    return output_directory() / "choreo_poses"


# id(owner) -> {id(module): ModelPatcher}. ComfyUI keeps only weak references to patchers (``LoadedModel``), so
# the owner (the loaded model a loader node returns and Choreo's cache holds) must keep them alive; each entry is
# dropped by a finalizer when its owner is collected, so evicting the owner frees the patchers and the weights.
_PATCHERS: dict[int, dict[int, object]] = {}


def manage(owner: T, modules: Iterable[torch.nn.Module]) -> T:
    """Wrap each network of ``owner`` in a ComfyUI ``ModelPatcher`` that lives exactly as long as ``owner``.

    Loader nodes call this so ComfyUI can load, offload and free the weights like a core model; it is idempotent
    (a cached owner keeps its patchers). Outside ComfyUI it does nothing. Returns ``owner``.
    """
    if model_management is None:
        return owner
    patchers = _PATCHERS.get(id(owner))
    if patchers is None:
        patchers = _PATCHERS[id(owner)] = {}
        weakref.finalize(owner, _PATCHERS.pop, id(owner), None)
    model_patcher = importlib.import_module("comfy.model_patcher")
    for module in modules:
        if id(module) not in patchers:
            patchers[id(module)] = model_patcher.ModelPatcher(
                module, load_device=model_management.get_torch_device(),
                offload_device=model_management.unet_offload_device(), size=model_management.module_size(module))
    return owner


def is_managed(owner: object) -> bool:
    """True when ``owner``'s networks are placed by ComfyUI (``manage`` gave them patchers)."""
    return id(owner) in _PATCHERS


def load_models(owner: object, modules: Iterable[torch.nn.Module | None]) -> torch.device:
    """Get the networks a node is about to run onto the inference device and return that device.

    Inside ComfyUI all of them go to one ``load_models_gpu`` call (separate calls could evict the first network
    to make room for the second), fully loaded: plain torch modules lack ComfyUI's cast-on-the-fly layers, so a
    partial load would leave some weights on the offload device. Outside ComfyUI: CUDA when available, else CPU.
    """
    import torch

    modules = [module for module in modules if module is not None]
    if model_management is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        for module in modules:
            module.to(device)
        return device
    patchers = _PATCHERS[id(manage(owner, modules))]
    selected = [patchers[id(module)] for module in modules]
    model_management.load_models_gpu(selected, force_full_load=True)
    return model_management.get_torch_device()


def make_room(memory_bytes: int) -> None:
    """Ask ComfyUI to offload only as many of its models as needed to free ``memory_bytes`` on the GPU."""
    if model_management is not None:
        model_management.free_memory(memory_bytes, model_management.get_torch_device())


def offload_device() -> torch.device:
    """Where idle weights wait: ComfyUI's offload device inside it, the CPU outside."""
    import torch

    return model_management.unet_offload_device() if model_management is not None else torch.device("cpu")


def choreo_models_directory(family: str) -> Path:
    """``ComfyUI/models/choreo/<family>`` (``./models_user/choreo/<family>`` outside ComfyUI)."""
    base = Path(folder_paths.models_dir) if folder_paths is not None else Path.cwd() / "models_user"
    return base / "choreo" / family
