"""The shot-file format, as pydantic models: data only, no I/O.

Two kinds of file live in ``shots/``: ``film.yaml`` (settings for the whole film) and one
YAML file per shot, named after the shot id. ``racines schema`` prints these models as
JSON Schema so that YAML editors can complete and check the files.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

SHOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(s|f)?\s*$"
TIMECODE_PATTERN = r"^\d\d:\d\d:\d\d[:;]\d\d$"

Duration = Union[
    Annotated[int, Field(ge=1, description="A whole number of frames.")],
    Annotated[
        str,
        Field(
            pattern=DURATION_PATTERN,
            description="Frames ('120' or '120f') or seconds ('5s', '4.5s'). Seconds are converted "
            "to frames with exact rational arithmetic at the film's rate, rounded to the nearest frame.",
        ),
    ],
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# --- film.yaml ---------------------------------------------------------------------------


class FilmSettings(Strict):
    """``shots/film.yaml``: settings shared by every shot."""

    title: str = Field(min_length=1, description="The film's title, used in file names and the EDL.")
    frame_rate: Union[int, str] = Field(
        24,
        description="Exact rate: 24, 25, 30, 48, 50, 60 or a rational such as '24000/1001' "
        "(never 23.976, which is not exact).",
        json_schema_extra={"examples": [24, "24000/1001", 25, "30000/1001"]},
    )
    resolution: Union[str, list[int]] = Field(
        "1280x720", description="'WIDTHxHEIGHT' or [WIDTH, HEIGHT]; both even.", examples=["1920x1080"]
    )
    timecode_start: str = Field(
        "01:00:00:00",
        pattern=TIMECODE_PATTERN,
        description="Record timecode of the film's first frame (';' before frames for drop-frame).",
    )
    cut: list[Annotated[str, Field(pattern=SHOT_ID_PATTERN)]] = Field(
        min_length=1, description="Shot ids in screen order; each names a file shots/<id>.yaml."
    )
    handles: int = Field(
        8, ge=0, le=240,
        description="Frames rendered beyond each end of every take, for the editor to trim into.",
    )


# --- shot files --------------------------------------------------------------------------


class Source(Strict):
    """The archive photograph a shot is made from, and the permission to use it."""

    photo: str = Field(
        min_length=1,
        description="Path to the photograph, relative to this shot file; it must stay inside the project.",
    )
    contributor: str = Field(min_length=1, description="Who brought the photograph.")
    consent: Literal["granted", "pending", "withdrawn"] = Field(
        description="Only 'granted' photographs are ever rendered."
    )
    credit: str = Field("", description="Credit line for the end credits; defaults to the contributor.")


class Framing(Strict):
    """A window on the photograph: centre in [0, 1] of the frame-filling crop, zoom >= 1."""

    x: float = Field(0.5, ge=0.0, le=1.0)
    y: float = Field(0.5, ge=0.0, le=1.0)
    zoom: float = Field(1.0, ge=1.0, le=8.0)


Easing = Literal["linear", "ease-in", "ease-out", "ease-in-out"]
Fit = Literal["cover", "contain"]


class GeneratorBase(Strict):
    prompt: str = Field("", description="What the shot should show; kept in the take's manifest.")
    negative_prompt: str = ""
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed for any randomness in the generator.")


class StillSettings(GeneratorBase):
    """A hold on the photograph."""

    kind: Literal["still"]
    fit: Fit = Field("cover", description="'cover' fills the frame (cropping); 'contain' letterboxes.")


class KenBurnsSettings(GeneratorBase):
    """Pan and zoom across the photograph, the documentary classic."""

    kind: Literal["kenburns"]
    start: Framing = Field(default_factory=Framing)
    end: Framing = Field(default_factory=lambda: Framing(zoom=1.25))
    easing: Easing = "ease-in-out"


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


class CreditsSettings(GeneratorBase):
    """The end credits card, built from the provenance of every shot in the cut."""

    kind: Literal["credits"]
    heading: str = "Racines"
    extra_lines: list[str] = Field(default_factory=list, description="Lines added after the contributors.")


GeneratorSettings = Annotated[
    Union[StillSettings, KenBurnsSettings, MorphSettings, CreditsSettings],
    Field(discriminator="kind"),
]

class Dissolve(Strict):
    dissolve: Duration = Field(description="Length of the dissolve into the next shot.")


class Trim(Strict):
    """Frames the cut leaves out at each end of the shot (negative: taken from the handles).

    Trims are editorial: changing them never makes a new take. ``racines conform`` writes them.
    """

    head: int = 0
    tail: int = 0


class ShotFile(Strict):
    """``shots/<id>.yaml``: one shot, owned by one person, so files merge well in git."""

    source: Source | None = Field(None, description="Required for every generator but 'credits'.")
    duration: Duration
    generator: GeneratorSettings
    transition: Union[Literal["cut"], Dissolve] = Field(
        "cut", description="'cut', or {dissolve: N} frames/seconds into the next shot in the cut."
    )
    trim: Trim = Field(default_factory=Trim, description="Editorial trims written by racines conform.")
    notes: str = ""


def parse_duration_text(text: str) -> tuple[str, str]:
    """Split '4.5s' into ('4.5', 's'); frames are the default unit."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([sf]?)\s*", text)
    if not match:
        raise ValueError(text)
    return match.group(1), match.group(2) or "f"
