"""The photograph flowing into a target image: a weightless morph.

Example::

    generator:
      kind: morph
      target: flowers/jasmine.png
      easing: ease-in-out
      hold_start: 12
      hold_end: 12
      control_points:              # optional: [x, y] on the photograph -> [x, y] on the target
        - [[0.42, 0.31], [0.55, 0.40]]
      colour_transfer: true

The engine (:mod:`racines.motion.morph`) matches features automatically and takes the
director's control points, warps both images through a triangulated mesh refined by
optical flow, moves the palette across in L*a*b*, and cross-dissolves; the pace is evened
out so that every frame changes the picture by a similar amount, then eased.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from racines.film.images import fit, fit_point, load_rgb
from racines.film.model import Film, Shot
from racines.generators.base import Generator, ease, progress


class MorphGenerator(Generator):
    name = "morph"
    version = "2"
    cost_per_frame = 5.0  # flow, mesh warps and colour per frame (about 5x, measured at 640x360)
    runtime_modules = ("racines.motion.morph", "racines.motion.warp")  # torch and OpenCV: 1.5 s to import

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        # the engine (and torch) load only when a morph is drawn, not when a cache key is checked
        from racines.motion.morph import Morph
        from racines.motion.warp import configure_cpu_threads, pick_device

        settings = shot.generator
        w, h = film.width, film.height
        photo = load_rgb(shot.source.path)
        target = load_rgb(shot.assets["target"])
        pairs = [
            (fit_point(*src, photo.shape[1], photo.shape[0], w, h, settings.fit),
             fit_point(*dst, target.shape[1], target.shape[0], w, h, settings.fit))
            for src, dst in settings.control_points
        ]
        device = pick_device()
        if device.type == "cpu":
            # the take's ffmpeg encoder runs beside us: leave it cores (see configure_cpu_threads)
            configure_cpu_threads()
        morph = Morph(
            fit(photo, w, h, settings.fit), fit(target, w, h, settings.fit),
            control_points=pairs, auto_match=settings.auto_match, flow_strength=settings.flow_strength,
            colour_transfer=settings.colour_transfer, device=device,
        )
        morph_frames = shot.frames - settings.hold_start - settings.hold_end
        for index in range(shot.frames):
            step = min(max(index - settings.hold_start, 0), morph_frames - 1)
            t = float(ease(progress(step, morph_frames), settings.easing))
            yield morph.frame(morph.even(t) if settings.even_pace else t)
