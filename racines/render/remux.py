"""Put a new mix into a deliverable whose picture is current: one stream copy of its own video
beside the sound (or without any, when the film has none now), so that a change of sound
never encodes a frame."""

from __future__ import annotations

import ffmpeg

from racines.core.atomic import atomic_path
from racines.media.ffmpeg import run
from racines.render.join import container_options
from racines.render.plan import Deliverable


def remux(deliverable: Deliverable, timecode: str) -> None:
    """Rewrite ``deliverable`` with its video as it is and ``deliverable.audio``; a reader sees
    the old file or the new one (written beside it, then moved into place). A file patched in
    place comes out compacted: only its live frames are copied."""
    streams = [ffmpeg.input(str(deliverable.path)).video]
    if deliverable.audio is not None:
        streams.append(ffmpeg.input(str(deliverable.audio)).audio)
    with atomic_path(deliverable.path) as tmp:
        run(ffmpeg.output(*streams, str(tmp), c="copy", **container_options(deliverable, timecode)),
            f"putting the new sound into {deliverable.what}")
