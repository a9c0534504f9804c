"""Reading reference images from disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageInputError

MIN_SIDE_PX = 16
MAX_SIDE_PX = 8192


def load_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; alpha is composited onto white so cut-out characters stay visible."""
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"image file {str(path)!r} does not exist. Check the path.")
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGBA")
    except (UnidentifiedImageError, OSError) as error:
        raise ImageInputError(f"image file {str(path)!r} cannot be read ({error}). Use a PNG or JPEG.") from error
    check_image_size(image.width, image.height, str(path))
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"))


def check_image_size(width: int, height: int, name: str = "image") -> None:
    if min(width, height) < MIN_SIDE_PX or max(width, height) > MAX_SIDE_PX:
        raise ImageInputError(
            f"{name} is {width}x{height} px; Choreo needs sides between {MIN_SIDE_PX} and {MAX_SIDE_PX} px. "
            "Resize the image.")
