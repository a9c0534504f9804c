"""MediaPipe's landmark and segmentation models: where they live and how they arrive.

The networks are Google's MediaPipe models (Apache-2.0), run by OpenCV's TFLite
importer (``cv2.dnn.readNetFromTFLite``, OpenCV >= 4.8), which the pack already
depends on. Not the ``mediapipe`` package: its wheels that still carry these
files pin protobuf < 5, pull jax and opencv-contrib, and stop at Python 3.12.

The ``.tflite`` files do come from a mediapipe wheel on PyPI, though: ``fetch_models``
runs ``pip download mediapipe==0.10.14 --no-deps`` (any platform's wheel holds the
same files), unpacks only the files below, checks their SHA-256 and writes them to a
models folder. Nothing from the wheel is installed or imported. A mediapipe <= 0.10.21
that is already installed is used as it is.

``python -m choreo.pose.mediapipe_models [--dest DIR]`` does the fetch.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import ChoreoError
from ..io.atomic import write_atomically

WHEEL_VERSION = "0.10.14"
# Any wheel of that version holds the same model files; this tag exists for every Python it was built for.
WHEEL_TAG = ("--python-version", "3.11", "--platform", "manylinux2014_x86_64")


@dataclass(frozen=True)
class ModelFile:
    name: str
    path_in_wheel: str
    sha256: str


POSE = ModelFile("pose_landmark_full.tflite", "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                 "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f")
SEGMENTATION = ModelFile("selfie_segmentation.tflite", "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
                         "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c")
FACE = ModelFile("face_landmark.tflite", "mediapipe/modules/face_landmark/face_landmark.tflite",
                 "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814")
HAND = ModelFile("hand_landmark_full.tflite", "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
                 "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3")
MODEL_FILES: tuple[ModelFile, ...] = (POSE, SEGMENTATION, FACE, HAND)

FETCH_COMMAND = "python -m choreo.pose.mediapipe_models"


class MissingModelsError(ChoreoError):
    """MediaPipe's model files are not on this machine."""


@dataclass(frozen=True)
class MediaPipeModels:
    """Paths of the four model files, all present."""

    pose: Path
    segmentation: Path
    face: Path
    hand: Path


def default_models_dir() -> Path:
    """``$CHOREO_MODELS_DIR/mediapipe``, else the user's cache (``~/.cache/choreo/mediapipe``)."""
    if os.environ.get("CHOREO_MODELS_DIR"):
        return Path(os.environ["CHOREO_MODELS_DIR"]) / "mediapipe"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "choreo" / "mediapipe"


def _installed_mediapipe_dir() -> Path | None:
    """The folder of an installed ``mediapipe`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).parent


def candidate_paths(model: ModelFile, folders: Iterable[Path]) -> list[Path]:
    paths = [Path(folder) / model.name for folder in folders]
    installed = _installed_mediapipe_dir()
    if installed is not None:
        paths.append(installed / model.path_in_wheel)
    return paths


def find_models(folders: Iterable[Path] = ()) -> MediaPipeModels:
    """The model files from ``folders``, the default models folder or an installed mediapipe.

    Raises MissingModelsError naming the missing files and the command that fetches them.
    """
    search = [*map(Path, folders), default_models_dir()]
    found: dict[str, Path] = {}
    for model in MODEL_FILES:
        for path in candidate_paths(model, search):
            if path.is_file():
                found[model.name] = path
                break
    missing = [model.name for model in MODEL_FILES if model.name not in found]
    if missing:
        where = ", ".join(str(folder) for folder in search)
        raise MissingModelsError(
            f"MediaPipe's pose models are not installed ({', '.join(missing)} not found in {where}). "
            f"Run `{FETCH_COMMAND}` once (it takes them from the mediapipe {WHEEL_VERSION} wheel on PyPI), "
            "or give a pose file instead.")
    return MediaPipeModels(found[POSE.name], found[SEGMENTATION.name], found[FACE.name], found[HAND.name])


def extract_models(wheel_path: Path, dest_dir: Path) -> list[Path]:
    """Copy the model files out of a mediapipe wheel into ``dest_dir``, each checked against its SHA-256."""
    written = []
    with zipfile.ZipFile(wheel_path) as wheel:
        for model in MODEL_FILES:
            data = wheel.read(model.path_in_wheel)
            digest = hashlib.sha256(data).hexdigest()
            if digest != model.sha256:
                raise ChoreoError(f"{model.path_in_wheel} in {wheel_path.name} has SHA-256 {digest}, expected "
                                  f"{model.sha256}. Use the mediapipe {WHEEL_VERSION} wheel from PyPI.")
            target = dest_dir / model.name
            write_atomically(target, lambda file, data=data: file.write(data))
            written.append(target)
    return written


def verified_models(dest_dir: Path) -> list[Path] | None:
    """The model files in ``dest_dir`` when every one is there with its SHA-256, else None."""
    paths = [Path(dest_dir) / model.name for model in MODEL_FILES]
    for model, path in zip(MODEL_FILES, paths):
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != model.sha256:
            return None
    return paths


def fetch_models(dest_dir: Path | None = None) -> list[Path]:
    """Download the mediapipe wheel with pip (no dependencies, nothing installed) and extract the models;
    nothing is downloaded when ``dest_dir`` already holds them."""
    dest_dir = Path(dest_dir or default_models_dir())
    present = verified_models(dest_dir)
    if present is not None:
        return present
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pip", "download", f"mediapipe=={WHEEL_VERSION}", "--no-deps",
                   "--only-binary=:all:", *WHEEL_TAG, "--dest", scratch, "--quiet"]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(scratch).glob("mediapipe-*.whl"))
        if result.returncode != 0 or not wheels:
            raise ChoreoError(f"pip could not download mediapipe {WHEEL_VERSION} from PyPI: "
                              f"{(result.stderr or result.stdout).strip()[-400:]} "
                              f"Download the wheel by hand and run `{FETCH_COMMAND} --wheel FILE`.")
        return extract_models(wheels[0], dest_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=FETCH_COMMAND, description="Fetch MediaPipe's pose, face, hand and "
                                     "segmentation models (Apache-2.0) from the mediapipe wheel on PyPI.")
    parser.add_argument("--dest", type=Path, default=None, help=f"folder to write to (default {default_models_dir()})")
    parser.add_argument("--wheel", type=Path, default=None, help="a mediapipe wheel already downloaded")
    args = parser.parse_args(argv)
    dest = args.dest or default_models_dir()
    try:
        paths = extract_models(args.wheel, dest) if args.wheel else fetch_models(dest)
    except (ChoreoError, OSError, KeyError, zipfile.BadZipFile) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"MediaPipe models ready in {paths[0].parent}: {', '.join(path.name for path in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
