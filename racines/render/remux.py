"""Put a new mix or new subtitles into a deliverable whose picture is current: one stream copy
of its own video beside the sound (or without any, when the film has none now) and the
subtitle tracks, so that a change of sound or of subtitles never encodes a frame."""

from __future__ import annotations

import ffmpeg

from racines.core.atomic import atomic_path
from racines.media.ffmpeg import run
from racines.render.cache import State
from racines.render.join import container_options, subtitle_streams
from racines.render.plan import Deliverable
from racines.render.policy import Policy
from racines.render.quicktime import Unpatchable
from racines.render.soundswap import replace_sound


def remux(deliverable: Deliverable, timecode: str) -> None:
    """Rewrite ``deliverable`` with its video as it is, ``deliverable.audio`` and
    ``deliverable.subtitles``; a reader sees
    the old file or the new one (written beside it, then moved into place). A file patched in
    place comes out compacted: only its live frames are copied."""
    streams = [ffmpeg.input(str(deliverable.path)).video]
    if deliverable.audio is not None:
        streams.append(ffmpeg.input(str(deliverable.audio)).audio)
    texts, text_options = subtitle_streams(deliverable.subtitles)
    with atomic_path(deliverable.path) as tmp:
        run(ffmpeg.output(*streams, *texts, str(tmp), c="copy", **container_options(deliverable, timecode),
                          **text_options),
            f"putting the new sound or subtitles into {deliverable.what}")


def swap_sound(deliverable: Deliverable, last: State | None, policy: Policy) -> bool:
    """The master's new sound put in place of its old one, in the file (racines.render.soundswap);
    False, leaving the file as it was, where that cannot be done (the caller remuxes): not the
    master, a master without sound or with another, too much dead space."""
    if deliverable.kind != "master" or deliverable.audio is None or last is None or last.sound is None \
            or last.output is None:
        return False
    try:
        replace_sound(deliverable.path, deliverable.audio, expected=last.output, min_live=policy.live_min)
    except (Unpatchable, OSError):
        return False
    return True
