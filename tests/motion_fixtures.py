"""Synthetic clips with known motion over a real photograph (matplotlib's Grace Hopper sample)."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image


@lru_cache(maxsize=1)
def photograph() -> np.ndarray:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(path).convert("RGB")).copy()


def view(width: int, height: int, zoom: float = 1.0, angle: float = 0.0, dx: float = 0.0, dy: float = 0.0,
         source: np.ndarray | None = None) -> np.ndarray:
    """A ``width x height`` view of the photograph: scaled by ``zoom``, turned by ``angle`` degrees
    about the view's centre, and moved by (dx, dy) pixels. Sub-pixel exact (cubic resampling)."""
    source = photograph() if source is None else source
    sh, sw = source.shape[:2]
    base = 0.6  # the view is a downscale of the photograph, as a camera's would be
    matrix = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, base * zoom)
    matrix[:, 2] += (width / 2 - sw / 2 + dx, height / 2 - sh / 2 + dy)
    return cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def blend(a: np.ndarray, b: np.ndarray, t: float = 0.5) -> np.ndarray:
    return np.clip(a.astype(np.float64) * (1 - t) + b.astype(np.float64) * t + 0.5, 0, 255).astype(np.uint8)


def crop(image: np.ndarray, margin: int) -> np.ndarray:
    """Leave out the border, where content enters or leaves the picture and no method can know it."""
    return image[margin:-margin, margin:-margin]


def flower(width: int, height: int) -> np.ndarray:
    """A procedural 'flower': coloured petals around a heart, on a soft leafy ground; nothing
    in it matches a photograph of a person."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    cx, cy = width * 0.55, height * 0.45
    radius = np.hypot(xs - cx, ys - cy) / min(width, height)
    angle = np.arctan2(ys - cy, xs - cx)
    petals = np.clip(1.2 - radius * (3.0 + np.cos(7 * angle)), 0, 1)
    ground = 0.5 + 0.25 * np.sin(xs / 7.0) * np.cos(ys / 11.0)
    red = 0.9 * petals + 0.15 * ground
    green = 0.35 * petals * radius * 3 + 0.55 * ground
    blue = 0.6 * petals + 0.2 * ground
    heart = radius < 0.06
    red[heart], green[heart], blue[heart] = 1.0, 0.85, 0.2
    return (np.clip(np.dstack([red, green, blue]), 0, 1) * 255 + 0.5).astype(np.uint8)
