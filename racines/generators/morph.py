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
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field

from racines.film.images import fit, fit_point, load_rgb
from racines.film.model import Film, Shot
from racines.film.schema import GeneratorBase, KindProblem
from racines.generators.base import Easing, Fit, Generator, ease, progress

Coordinate = Annotated[float, Field(ge=0.0, le=1.0)]
Point = Annotated[
    list[Coordinate],
    Field(min_length=2, max_length=2,
          description="[x, y]: 0 is the left (top) edge of the image, 1 the right (bottom)."),
]
ControlPoint = Annotated[
    list[Point],
    Field(min_length=2, max_length=2,
          description="[[x, y] on the photograph, [x, y] on the target]: this point of the photograph "
          "travels to that point of the target."),
]
CONTROL_POINT_FIX = ("write each pair as [[x, y], [x, y]]: a point on the photograph, then where it lands on the "
                     "target; x and y are fractions of the image's width and height, from 0 (left, top) to 1 "
                     "(right, bottom)")


class MorphSettings(GeneratorBase):
    """The photograph flowing into a target image (a flower, a landscape...)."""

    kind: Literal["morph"]
    target: str = Field(min_length=1, description="Target image, relative to this shot file, inside the project.")
    easing: Easing = Field("ease-in-out", description="Pace of the morph: linear, ease-in, ease-out, ease-in-out.")
    hold_start: int = Field(0, ge=0, description="Frames holding the photograph before the morph begins.")
    hold_end: int = Field(0, ge=0, description="Frames holding the target after the morph ends.")
    fit: Fit = "cover"
    control_points: list[ControlPoint] = Field(
        default_factory=list,
        description="Pairs of matching points, e.g. [[0.42, 0.31], [0.55, 0.40]] takes the grandmother's eye "
        "to the heart of the flower. Coordinates are fractions of each image file's width and height "
        "(as displayed), so they survive a change of resolution.",
    )
    auto_match: bool = Field(True, description="Also find matching features automatically (SIFT + RANSAC).")
    flow_strength: float = Field(
        0.5, ge=0.0, le=1.0,
        description="How much optical flow pulls the two images' edges into register: 0 mesh only, 1 full.",
    )
    colour_transfer: bool = Field(True, description="Let the palette flow from the photograph's to the target's.")
    even_pace: bool = Field(
        True, description="Spread the visible change evenly over the morph (before easing), so nothing pops.",
    )

    images: ClassVar[tuple[str, ...]] = ("target",)

    def problems(self, frames: int) -> list[KindProblem]:
        found = [(("control_points", *loc), message, self.control_points[loc[0]][loc[1]], fix)
                 for loc, message, fix in control_point_problems(self.control_points)]
        holds = self.hold_start + self.hold_end
        if frames >= 1 and holds >= frames:
            found.append((("hold_start",), f"the holds ({holds} frames) leave no frame for the morph in a "
                          f"{frames}-frame shot", holds, "shorten hold_start/hold_end or lengthen the shot"))
        return found

    @classmethod
    def explain(cls, error: dict, loc: tuple) -> tuple[str, str] | None:
        """Say what is wrong with a control point in the director's terms (pair, point, coordinate)."""
        if "control_points" not in loc:
            return None
        depth = len(loc) - loc.index("control_points") - 1   # 0: the list, 1: a pair, 2: a point, 3: a coordinate
        kind, ctx = error["type"], error.get("ctx", {})
        if kind in ("too_long", "too_short") and depth in (1, 2):
            what = "a control point pair needs exactly 2 points, [x, y] on the photograph and [x, y] on the target" \
                if depth == 1 else "a point needs exactly 2 coordinates, [x, y]"
            return f"{what}; this one has {ctx.get('actual_length', 'a different number')}", CONTROL_POINT_FIX
        if kind in ("greater_than_equal", "less_than_equal") and depth == 3:
            side = "photograph" if loc[-2] == 0 else "target"
            axis = "x" if loc[-1] == 0 else "y"
            return (f"the {axis} of this point on the {side} is outside the image (coordinates run from 0 to 1)",
                    CONTROL_POINT_FIX)
        return error["msg"], CONTROL_POINT_FIX


def control_point_problems(pairs: list[list[list[float]]]) -> list[tuple[tuple, str, str]]:
    """Pairs that cannot make a mesh: two pairs starting (or ending) at the same place.

    Returns (location inside control_points, message, fix) for each.
    """
    found = []
    for side, name in ((0, "photograph"), (1, "target")):
        seen: dict[tuple[int, int], int] = {}
        for index, pair in enumerate(pairs):
            key = (round(pair[side][0] * 1000), round(pair[side][1] * 1000))
            if key in seen:
                found.append(((index, side), f"this point on the {name} repeats control point {seen[key]}'s",
                              "give each control point its own place, or remove the repeat"))
            seen.setdefault(key, index)
    return found


class MorphGenerator(Generator):
    name = "morph"
    version = "2"
    settings = MorphSettings
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
