"""Open archive photographs safely and fit them to the film's frame."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

# Archival scans are large; this bound (about 16k x 11k) is a deliberate choice, and anything
# beyond it is refused rather than decoded, so a crafted file cannot exhaust memory.
MAX_PIXELS = 180_000_000
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")


class NotAnImage(ValueError):
    pass


def check_image(path: Path) -> tuple[int, int]:
    """Return (width, height) if ``path`` is a readable photograph, else raise NotAnImage."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                image.verify()
                size = image.size
    except (Image.UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAnImage(str(exc)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise NotAnImage(f"the file is damaged or truncated ({exc})") from exc
    if size[0] * size[1] > MAX_PIXELS:
        raise NotAnImage(f"the image is {size[0]}x{size[1]}, above the {MAX_PIXELS} pixel limit")
    return size


def load_rgb(path: Path) -> np.ndarray:
    """Decode a photograph to an RGB uint8 array, honouring its EXIF orientation."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB")).copy()
    except (OSError, SyntaxError, ValueError) as exc:
        # Validation reads only the header: a file cut short (a copy or a sync that stopped
        # half-way) passes it and fails here, when its pixels are decoded.
        raise NotAnImage(f"{path}: the photograph cannot be decoded ({exc})\n    fix: copy the file again "
                         "from the original scan or archive; it looks truncated or damaged") from exc


def fit(image: np.ndarray, width: int, height: int, mode: str = "cover", scale: float = 1.0) -> np.ndarray:
    """Resize ``image`` to ``width*scale`` x ``height*scale``, cropping ('cover') or letterboxing ('contain').

    The result keeps the image's dtype (float frames may overshoot [0, 1] slightly where upscaled)."""
    out_w, out_h = round(width * scale), round(height * scale)
    src_h, src_w = image.shape[:2]
    ratio = max(out_w / src_w, out_h / src_h) if mode == "cover" else min(out_w / src_w, out_h / src_h)
    new_w, new_h = max(1, round(src_w * ratio)), max(1, round(src_h * ratio))
    interpolation = cv2.INTER_AREA if ratio < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas = np.zeros((out_h, out_w, 3), dtype=image.dtype)  # uint8 photographs, float model frames
    if mode == "cover":
        x0, y0 = (new_w - out_w) // 2, (new_h - out_h) // 2
        canvas[:] = resized[y0 : y0 + out_h, x0 : x0 + out_w]
    else:
        x0, y0 = (out_w - new_w) // 2, (out_h - new_h) // 2
        canvas[y0 : y0 + new_h, x0 : x0 + new_w] = resized
    return canvas


def fit_point(x: float, y: float, src_w: int, src_h: int, width: int, height: int, mode: str = "cover",
              scale: float = 1.0) -> tuple[float, float]:
    """Where a point of the image, in fractions of its width and height (0 to 1), lands in the
    frame :func:`fit` makes, in pixel coordinates (pixel centres on integers)."""
    out_w, out_h = round(width * scale), round(height * scale)
    ratio = max(out_w / src_w, out_h / src_h) if mode == "cover" else min(out_w / src_w, out_h / src_h)
    new_w, new_h = max(1, round(src_w * ratio)), max(1, round(src_h * ratio))
    # fit() crops (cover) or pads (contain) the resized image by these offsets
    x0, y0 = (new_w - out_w) // 2, (new_h - out_h) // 2
    if mode != "cover":
        x0, y0 = -((out_w - new_w) // 2), -((out_h - new_h) // 2)
    return x * new_w - 0.5 - x0, y * new_h - 0.5 - y0
