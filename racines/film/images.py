"""Open archive photographs safely and fit them to the film's frame."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from racines.core.atomic import write_json
from racines.core.reading import sha256_of

# Archival scans are large; this bound (about 16k x 11k) is a deliberate choice, and anything
# beyond it is refused rather than decoded, so a crafted file cannot exhaust memory.
MAX_PIXELS = 180_000_000
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")


class NotAnImage(ValueError):
    def __init__(self, message: str, fix: str = "give a PNG, JPEG, TIFF or WebP photograph"):
        super().__init__(message)
        self.fix = fix


DAMAGED_FIX = "copy the file again from the original scan or archive; it looks truncated or damaged"


def check_image(path: Path) -> tuple[int, int]:
    """Return (width, height) if ``path`` is a photograph that decodes to its last pixel, else
    raise NotAnImage. The header alone would pass a file cut short (a copy or a sync that
    stopped half-way), which would then fail a render after work began."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # as load_rgb: one limit, whichever runs first
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                size = image.size
                # checked before decoding: a few kB of PNG can declare gigapixels
                if size[0] * size[1] > MAX_PIXELS:
                    raise NotAnImage(f"the image is {size[0]}x{size[1]}, above the {MAX_PIXELS} pixel limit",
                                     "scale the scan down (e.g. to 8000 pixels on its long side)")
                if image.format == "JPEG":
                    image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))  # every block still decoded
                image.load()
    except NotAnImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAnImage(f"the image is above the {MAX_PIXELS} pixel limit ({exc})",
                         "scale the scan down (e.g. to 8000 pixels on its long side)") from exc
    except Image.UnidentifiedImageError as exc:
        raise NotAnImage(str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImage(f"the file is damaged or truncated ({exc})", DAMAGED_FIX) from exc
    return size


#: the photographs that decoded whole, by content: a film of a hundred shots is decoded once,
#: not on every command
DECODED_FILE = Path("renders") / "cache" / "decoded-images.json"


class DecodedImages:
    """Which photographs decoded whole, remembered by sha256 of their bytes; a file is hashed
    again only when its size or mtime changed. Paths are the project's own, so that a copy of
    the project (mtimes kept) reads without a write."""

    def __init__(self, root: Path):
        self.root = root
        self.store = root / DECODED_FILE
        self.stamps: dict[str, list] = {}     # project-relative path -> [size, mtime_ns, sha256]
        self.decoded: dict[str, list] = {}    # sha256 -> [width, height]
        self.dirty = False
        try:
            data = json.loads(self.store.read_text(encoding="utf-8"))
            self.stamps, self.decoded = dict(data["stamps"]), dict(data["decoded"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or damaged: it only costs a decode

    def check(self, path: Path) -> tuple[int, int]:
        """(width, height) of a photograph that decodes whole; raise NotAnImage."""
        name = path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        try:
            stat = path.stat()
            stamp = [stat.st_size, stat.st_mtime_ns]
            entry = self.stamps.get(name)
            digest = entry[2] if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp else sha256_of(path)
        except OSError as exc:
            raise NotAnImage(f"the file cannot be read ({exc.strerror or exc})", "check the file's permissions") from None
        size = self.decoded.get(digest)
        if size is None:
            size = list(check_image(path))
            self.decoded[digest] = size
            self.dirty = True
        if self.stamps.get(name) != [*stamp, digest]:
            self.stamps[name] = [*stamp, digest]
            self.dirty = True
        return size[0], size[1]

    def save(self) -> None:
        """Remember what decoded (best effort: a read-only project is validated all the same)."""
        if not self.dirty:
            return
        live = {name: entry for name, entry in self.stamps.items() if os.path.exists(self.root / name)}
        wanted = {entry[2] for entry in live.values()}
        try:
            write_json(self.store, {"stamps": live, "decoded": {k: v for k, v in self.decoded.items() if k in wanted}})
        except OSError:
            return
        self.dirty = False



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
