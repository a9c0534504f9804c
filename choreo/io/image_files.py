"""Reading reference images from disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageInputError

MIN_SIDE_PX = 16
MAX_SIDE_PX = 8192
WORK_MAX_SIDE_PX = 1024  # set-up and render cost grow with the pixel count; 1024 px keeps a dance at a few fps


def load_image(path: str | Path, max_side_px: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB; alpha is composited onto white so cut-out characters stay visible.

    max_side_px : when the longer side exceeds it, the picture is scaled down to ``working_size_px``
                  (aspect kept, even sides); None keeps the file's size.
    """
    path = Path(path)
    with _open_image(path) as opened:
        check_image_size(opened.width, opened.height, str(path))
        size_px = (opened.width, opened.height) if max_side_px is None \
            else working_size_px(opened.width, opened.height, max_side_px)
        if size_px != (opened.width, opened.height):
            opened.draft("RGB", size_px)  # JPEG: decode at a reduced scale, far faster for huge photos
        try:
            image = opened.convert("RGBA")
        except OSError as error:  # truncated or corrupt pixel data: the header alone was readable
            raise ImageInputError(f"image file {str(path)!r} cannot be read ({error}). Use a PNG or JPEG.") from error
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, image).convert("RGB")
    if rgb.size != size_px:
        rgb = rgb.resize(size_px, Image.Resampling.LANCZOS)
    return np.asarray(rgb)


def image_size_px(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header."""
    with _open_image(Path(path)) as opened:
        return opened.width, opened.height


def working_size_px(width: int, height: int, max_side_px: int = WORK_MAX_SIDE_PX) -> tuple[int, int]:
    """(width, height) to work at: the longer side at most ``max_side_px``, aspect kept.

    A scaled-down size has even sides, as H.264's yuv420p needs, and keeps the shorter
    side at least ``MIN_SIDE_PX``; a picture already small enough keeps its size.

    >>> working_size_px(6000, 4000)
    (1024, 682)
    """
    if max(width, height) <= max_side_px:
        return width, height
    longest_px = max(width, height)

    def even(side_px: int) -> int:  # integer arithmetic: the longer side lands on max_side_px exactly
        return max(MIN_SIDE_PX, 2 * (side_px * max_side_px // (2 * longest_px)))

    return even(width), even(height)


def check_image_size(width: int, height: int, name: str = "image") -> None:
    if min(width, height) < MIN_SIDE_PX or max(width, height) > MAX_SIDE_PX:
        raise ImageInputError(
            f"{name} is {width}x{height} px; Choreo needs sides between {MIN_SIDE_PX} and {MAX_SIDE_PX} px. "
            "Resize the image.")


def _open_image(path: Path) -> Image.Image:
    if not path.is_file():
        raise ImageInputError(f"image file {str(path)!r} does not exist. Check the path.")
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as error:
        raise ImageInputError(f"image file {str(path)!r} cannot be read ({error}). Use a PNG or JPEG.") from error
