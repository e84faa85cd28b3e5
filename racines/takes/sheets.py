"""Thumbnails and contact sheets: small pictures a director reads at a glance."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from racines.media import fonts

SHEET_FRAMES = 6
STRIP_WIDTH = 200  # width of one frame in a contact strip


def sample_indices(count: int, samples: int = SHEET_FRAMES) -> list[int]:
    """Evenly spaced frame indices, first and last included."""
    if count <= samples:
        return list(range(count))
    return [round(i * (count - 1) / (samples - 1)) for i in range(samples)]


def shrink(frame: np.ndarray, width: int) -> Image.Image:
    image = Image.fromarray(frame)
    return image.resize((width, max(2, round(frame.shape[0] * width / frame.shape[1]))), Image.Resampling.BILINEAR)


def contact_strip(samples: list[tuple[int, Image.Image]]) -> Image.Image:
    """One row of frames, each labelled with its frame number."""
    height = samples[0][1].height
    strip = Image.new("RGB", (STRIP_WIDTH * len(samples), height), (0, 0, 0))
    draw = ImageDraw.Draw(strip)
    font = ImageFont.truetype(str(fonts.SANS), max(9, height // 10))
    for slot, (index, image) in enumerate(samples):
        strip.paste(image, (slot * STRIP_WIDTH, 0))
        draw.text((slot * STRIP_WIDTH + 4, height - font.size - 4), str(index), font=font, fill=(255, 255, 255),
                  stroke_width=2, stroke_fill=(0, 0, 0))
    return strip


def film_sheet(rows: list[tuple[str, Image.Image | None]], frames: int = SHEET_FRAMES) -> Image.Image:
    """The whole film as one picture: a label column, then each shot's strip (grey when missing)."""
    label_width = 260
    row_height = max((strip.height for _, strip in rows if strip is not None), default=112)
    sheet = Image.new("RGB", (label_width + STRIP_WIDTH * frames, row_height * len(rows)), (24, 24, 26))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.truetype(str(fonts.SANS), 15)
    for row, (label, strip) in enumerate(rows):
        top = row * row_height
        draw.multiline_text((10, top + 10), label, font=font, fill=(235, 232, 225), spacing=6)
        if strip is None:
            draw.rectangle([label_width, top + 4, sheet.width - 4, top + row_height - 4], fill=(60, 60, 64))
        else:
            sheet.paste(strip, (label_width, top))
    return sheet
