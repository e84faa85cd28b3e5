"""A hold on the archive photograph.

Example::

    generator: {kind: still, fit: contain}
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from racines.film.images import fit, load_rgb
from racines.film.model import Film, Shot
from racines.generators.base import Generator


class StillGenerator(Generator):
    name = "still"
    version = "1"
    cost_per_frame = 0.5

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        frame = fit(load_rgb(shot.source.path), film.width, film.height, shot.generator.fit)
        frame.setflags(write=False)
        for _ in range(shot.frames):
            yield frame
