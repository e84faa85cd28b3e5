"""The end credits card: every contributor whose photograph is in the cut, every voice and
piece of music heard, by the same rule (consent granted, credit and the person's name), and
the generators and models that made the images, read from the provenance of the takes.

Example::

    duration: 8s
    generator: {kind: credits, heading: Racines, extra_lines: ["With the class of 2026"]}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, ClassVar, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field

from racines.core.cost import sentence, totals
from racines.film.model import Film, Shot
from racines.film.schema import MAX_NAME, GeneratorBase
from racines.generators.base import Generator
from racines.media import fonts


class CreditsSettings(GeneratorBase):
    """The end credits card, built from the provenance of every shot in the cut."""

    kind: Literal["credits"]
    heading: str = Field("Racines", max_length=MAX_NAME, description="The card's title; a line break starts a new line.")
    extra_lines: list[Annotated[str, Field(max_length=MAX_NAME)]] = Field(
        default_factory=list, max_length=50, description="Lines added after the contributors.")

    cost: bool = Field(False, description="Add what making the images of the cut cost: GPU-hours and kWh, with how "
                       "they were known (measured on the GPU or estimated from CPU time). The card then changes "
                       "whenever a take of the cut is made again.", json_schema_extra={"pixels": False})  # keyed by the lines

    photograph: ClassVar[bool] = False


def _credited(credit: str, person: str) -> str:
    return credit if credit == person else f"{credit} ({person})"


def credit_lines(manifests: list[dict], heading: str, extra_lines: list[str],
                 sound: list[dict] | None = None, cost: bool = False) -> list[list[str]]:
    """The card's text as [style, line] pairs, from the manifests of the takes in the cut and
    the voices and music heard (``sound``: racines.takes.resolve gives them)."""
    contributors: list[str] = []
    makers: list[str] = []
    learned: dict[str, list[str]] = {}  # a LoRA's dataset -> whose photographs it learned from
    for manifest in manifests:
        for dataset, people in manifest.get("learned_from") or ():
            learned.setdefault(dataset, [])
            learned[dataset] += [p for p in people if p not in learned[dataset]]
        source = manifest.get("source")
        if source and source.get("consent") == "granted":
            line = _credited(source["credit"], source["contributor"])
            if line not in contributors:
                contributors.append(line)
        maker = manifest["generator"].get("description") or manifest["generator"]["name"]
        if maker not in makers:
            makers.append(maker)
    heard: dict[str, list[str]] = {"voice": [], "music": []}
    for clip in sound or ():
        if clip.get("consent") == "granted":
            line = _credited(clip["credit"], clip["person"])
            if clip["role"] == "music" and clip.get("licence"):
                line += f", {clip['licence']}"
            if line not in heard[clip["role"]]:
                heard[clip["role"]].append(line)
    lines = [["title", heading], ["gap", ""], ["head", "Photographs from the family archives of"]]
    lines += [["body", c] for c in contributors]
    for dataset, people in learned.items():
        lines += [["gap", ""], ["head", f"The model '{dataset}' learned from photographs by"]]
        lines += [["body", p] for p in people]
    for role, head in (("voice", "Voices"), ("music", "Music")):
        if heard[role]:
            lines += [["gap", ""], ["head", head]] + [["body", line] for line in heard[role]]
    lines += [["gap", ""], ["head", "Images made with"]] + [["body", m] for m in makers]
    total = totals(manifests)
    if cost and total["takes"]:  # what making the images cost, with how it was known
        figures, _, method = sentence(total, "This film").partition(" (")
        lines += [["gap", ""], ["body", figures],
                  ["head", "; ".join(filter(None, [method.rstrip(")"), "the takes in the cut, retakes not counted"]))]]
    if extra_lines:
        lines += [["gap", ""]] + [["body", x] for x in extra_lines]
    return lines


class CreditsGenerator(Generator):
    name = "credits"
    version = "2"
    settings = CreditsSettings
    derives_from_takes = True
    libraries = ("numpy", "pillow", "matplotlib")  # matplotlib ships the font

    def derive(self, shot: Shot, manifests: list[dict]) -> list[list[str]]:
        return credit_lines(manifests, shot.generator.heading, shot.generator.extra_lines, cost=shot.generator.cost)

    def derive_with_sound(self, shot: Shot, manifests: list[dict], sound: list[dict]) -> list[list[str]]:
        return credit_lines(manifests, shot.generator.heading, shot.generator.extra_lines, sound, shot.generator.cost)

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        lines = derived if derived is not None else credit_lines([], shot.generator.heading, shot.generator.extra_lines)
        card = render_card(lines, film.width, film.height).astype(np.float32)
        fade = min(12, shot.frames // 4)
        for index in range(shot.frames):
            level = min(1.0, (index + 1) / (fade + 1), (shot.frames - index) / (fade + 1)) if fade else 1.0
            yield (card * level + 0.5).astype(np.uint8)


def render_card(lines: list[list[str]], width: int, height: int) -> np.ndarray:
    # a heading, an extra line or a contributor's name may hold line breaks: one line drawn for each
    lines = [[style, part] for style, text in lines for part in (text.splitlines() or [text])]
    unit = height / 28
    sizes = {"title": 2.0, "head": 0.8, "body": 1.0, "gap": 0.6}
    total = sum(sizes[style] * unit * 1.5 for style, _ in lines)
    shrink = min(1.0, height * 0.9 / total) if total else 1.0
    image = Image.new("RGB", (width, height), (8, 8, 10))
    draw = ImageDraw.Draw(image)
    y = (height - total * shrink) / 2
    for style, text in lines:
        size = max(6, round(sizes[style] * unit * shrink))
        if text:
            font = ImageFont.truetype(str(fonts.SANS_BOLD if style == "title" else fonts.SANS), size)
            colour = (200, 190, 160) if style == "head" else (240, 236, 228)
            left = (width - draw.textlength(text, font=font)) / 2
            draw.text((left, y), text, font=font, fill=colour)
        y += sizes[style] * unit * 1.5 * shrink
    return np.asarray(image)
