"""Pan and zoom across the photograph with easing: the documentary classic.

Example::

    generator:
      kind: kenburns
      start: {x: 0.5, y: 0.5, zoom: 1.0}
      end: {x: 0.35, y: 0.3, zoom: 1.6}
      easing: ease-in-out

``x`` and ``y`` place the centre of the view inside the frame-filling crop of the
photograph (0 to 1); ``zoom`` 2 shows half of it. The view never leaves the picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from racines.film.images import fit, load_rgb
from racines.film.model import Film, Shot
from racines.film.schema import GeneratorBase, Strict
from racines.generators.base import Easing, Generator, ease, progress


class Framing(Strict):
    """A window on the photograph: centre in [0, 1] of the frame-filling crop, zoom >= 1."""

    x: float = Field(0.5, ge=0.0, le=1.0)
    y: float = Field(0.5, ge=0.0, le=1.0)
    zoom: float = Field(1.0, ge=1.0, le=8.0)


class KenBurnsSettings(GeneratorBase):
    """Pan and zoom across the photograph, the documentary classic."""

    kind: Literal["kenburns"]
    start: Framing = Field(default_factory=Framing)
    end: Framing = Field(default_factory=lambda: Framing(zoom=1.25))
    easing: Easing = "ease-in-out"


class KenBurnsGenerator(Generator):
    name = "kenburns"
    version = "1"
    settings = KenBurnsSettings

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        return self.frames_with_handles(shot, film, 0, derived)

    def frames_with_handles(self, shot: Shot, film: Film, handles: int, derived: object = None) -> Iterator[np.ndarray]:
        """A linear move goes on into the handles; an eased one is at rest there already."""
        settings = shot.generator
        # Resample the photograph once to a plate as large as the deepest zoom needs, but no
        # larger than the photograph itself holds detail for: each frame is then one cheap
        # sub-pixel affine warp of the plate, and memory stays bounded at any zoom.
        photo = load_rgb(shot.source.path)
        native = min(photo.shape[1] / film.width, photo.shape[0] / film.height)
        scale = max(1.0, min(max(settings.start.zoom, settings.end.zoom), native))
        plate = fit(photo, film.width, film.height, "cover", scale=scale)
        plate_h, plate_w = plate.shape[:2]
        for index in range(-handles, shot.frames + handles):
            linear = index / (shot.frames - 1) if shot.frames > 1 else 0.0
            t = linear if settings.easing == "linear" else float(ease(progress(min(max(index, 0), shot.frames - 1),
                                                                               shot.frames), settings.easing))
            view = _interpolate(settings.start, settings.end, t)
            matrix = _view_matrix(view, plate_w, plate_h, film.width, film.height)
            upsampling = view.zoom > scale
            yield cv2.warpAffine(plate, matrix, (film.width, film.height),
                                 flags=cv2.INTER_CUBIC if upsampling else cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT101)


def _interpolate(a: Framing, b: Framing, t: float) -> Framing:
    # Zoom is interpolated geometrically so that the apparent speed of the push-in is even;
    # past the ends (in the handles) the view is kept inside the picture.
    zoom = min(max(a.zoom * (b.zoom / a.zoom) ** t, 1.0), 8.0)
    x, y = a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t
    return Framing(x=min(max(x, 0.0), 1.0), y=min(max(y, 0.0), 1.0), zoom=zoom)


def _view_matrix(view: Framing, plate_w: int, plate_h: int, out_w: int, out_h: int) -> np.ndarray:
    """Affine map from the output frame into the plate for a view (centre, zoom), clamped inside."""
    view_w, view_h = plate_w / view.zoom, plate_h / view.zoom
    cx = np.clip(view.x * plate_w, view_w / 2, plate_w - view_w / 2)
    cy = np.clip(view.y * plate_h, view_h / 2, plate_h - view_h / 2)
    sx, sy = out_w / view_w, out_h / view_h
    # output = s * (plate - (centre - view/2)), sampling at pixel centres
    return np.array(
        [[sx, 0.0, -sx * (cx - view_w / 2) + 0.5 * (sx - 1)],
         [0.0, sy, -sy * (cy - view_h / 2) + 0.5 * (sy - 1)]],
        dtype=np.float64,
    )
