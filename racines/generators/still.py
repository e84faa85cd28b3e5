"""A hold on the archive photograph.

Example::

    generator: {kind: still, fit: contain}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import Field

from racines.film.images import fit, load_rgb
from racines.film.model import Film, Shot
from racines.film.schema import GeneratorBase
from racines.generators.base import Fit, Generator


class StillSettings(GeneratorBase):
    """A hold on the photograph."""

    kind: Literal["still"]
    fit: Fit = Field("cover", description="'cover' fills the frame (cropping); 'contain' letterboxes.")


class StillGenerator(Generator):
    name = "still"
    version = "1"
    settings = StillSettings
    cost_per_frame = 0.5

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        frame = fit(load_rgb(shot.source.path), film.width, film.height, shot.generator.fit)
        frame.setflags(write=False)
        for _ in range(shot.frames):
            yield frame
