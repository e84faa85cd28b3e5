"""The photograph flowing into a target image (weightless draft).

Example::

    generator:
      kind: morph
      target: flowers/jasmine.png
      easing: ease-in-out
      hold_start: 12
      hold_end: 12

This draft morph is a warp-dissolve: the photograph pushes in while the target settles
from a slight zoom, and the two cross-dissolve along the easing curve.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from racines.film.images import fit, load_rgb
from racines.film.model import Film, Shot
from racines.generators.base import Generator, ease, progress

PUSH = 0.08  # how far each image zooms during the morph


class MorphGenerator(Generator):
    name = "morph"
    version = "1"

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        settings = shot.generator
        w, h = film.width, film.height
        first = fit(load_rgb(shot.source.path), w, h, settings.fit).astype(np.float32)
        last = fit(load_rgb(shot.assets["target"]), w, h, settings.fit).astype(np.float32)
        morph_frames = shot.frames - settings.hold_start - settings.hold_end
        for index in range(shot.frames):
            step = min(max(index - settings.hold_start, 0), morph_frames - 1)
            t = float(ease(progress(step, morph_frames), settings.easing))
            a = _zoom(first, 1.0 + PUSH * t)
            b = _zoom(last, 1.0 + PUSH * (1.0 - t))
            yield np.clip(a * (1.0 - t) + b * t + 0.5, 0, 255).astype(np.uint8)


def _zoom(image: np.ndarray, zoom: float) -> np.ndarray:
    if zoom == 1.0:
        return image
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, zoom)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
