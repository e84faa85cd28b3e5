"""A drawing on a frame, sent by a page as a PNG data URL: checked, redrawn and saved beside
the shot's decisions (``shots/reviews/<shot>/``), where git keeps it with the note naming it.

The browser's bytes are never written as they came: Pillow reads the header first (a PNG,
within the size of a frame of any film), then the pixels, and the file saved is its own
re-encoding, without the sender's metadata chunks.
"""

from __future__ import annotations

import base64
import binascii
import io
import secrets
from pathlib import Path

from PIL import Image

from racines.core.atomic import atomic_path
from racines.errors import UsageError
from racines.takes.reviews import drawing_path

PREFIX = "data:image/png;base64,"
MAX_SIDE = 8192


def save_drawing(root: Path, shot_id: str, version: str, frame: int, data_url: str) -> str:
    """Save the drawing; return its file name, for the note."""
    if not data_url.startswith(PREFIX):
        raise UsageError("a drawing is sent as a PNG data URL")
    try:
        data = base64.b64decode(data_url[len(PREFIX):], validate=True)
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if max(image.size) > MAX_SIDE:
                raise UsageError(f"a drawing of {image.size[0]}x{image.size[1]} is larger than any frame")
            image.load()
            picture = image.convert("RGBA")
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UsageError(f"the drawing is not a PNG this room reads ({exc})") from None
    name = f"{version}-f{frame:04d}-{secrets.token_hex(4)}.png"
    path = drawing_path(root, shot_id, name)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG", optimize=True)
    return name
