"""Walk an OpenTimelineIO track frame by frame, as raw 10-bit 4:2:2 video.

At most two decoders are open at any time (both sides of a dissolve), so memory does not
grow with the length of the film. Cuts pass decoded frames through untouched; dissolves
blend the two sides in integer arithmetic, the weight of the incoming shot rising by
1/(N+1) per frame so that neither side appears pure inside the dissolve.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np
import opentimelineio as otio

from racines.errors import RenderFailed
from racines.media.ffmpeg import read_frames

PIX_FMT = "yuv422p10le"


@dataclass(frozen=True)
class ClipSpan:
    """A clip and the frames of its media that the track shows, dissolves included."""

    clip: otio.schema.Clip
    media: Path
    read_start: int        # first media frame needed (inside the incoming dissolve)
    read_count: int        # media frames needed, both dissolves included
    solo: int              # frames shown without a dissolve
    into_next: int         # frames of the dissolve into the next clip (0 for a cut)
    record_in: int         # first frame of the clip's own part of the record, cut point to cut point
    record_out: int


def spans(track: otio.schema.Track, media_base: Path) -> list[ClipSpan]:
    items = list(track)
    result = []
    for index, item in enumerate(items):
        if isinstance(item, otio.schema.Gap):
            raise RenderFailed("the timeline has a gap; racines renders only contiguous cuts")
        if not isinstance(item, otio.schema.Clip):
            continue
        before = items[index - 1] if index > 0 and isinstance(items[index - 1], otio.schema.Transition) else None
        after = items[index + 1] if index + 1 < len(items) and isinstance(items[index + 1], otio.schema.Transition) else None
        pre_in = _frames(before.in_offset) if before else 0
        pre_out = _frames(before.out_offset) if before else 0
        post_in = _frames(after.in_offset) if after else 0
        post_out = _frames(after.out_offset) if after else 0
        source = item.source_range
        start, duration = _frames(source.start_time), _frames(source.duration)
        record = item.range_in_parent()
        result.append(ClipSpan(
            clip=item,
            media=(media_base / item.media_reference.target_url).resolve(),
            read_start=start - pre_in,
            read_count=pre_in + duration + post_out,
            solo=duration - pre_out - post_in,
            into_next=post_in + post_out,
            record_in=_frames(record.start_time),
            record_out=_frames(record.end_time_exclusive()),
        ))
    return result


def _frames(time: otio.opentime.RationalTime) -> int:
    return round(time.value)


def track_frames(track: otio.schema.Track, media_base: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield every frame of the track as a flat uint16 array (Y, then Cb, then Cr planes)."""
    plan = spans(track, media_base)
    reader = None
    for index, span in enumerate(plan):
        if reader is None:  # after a cut (or at the start) this clip's decoder is not open yet
            reader = _open(span, width, height)
        for _ in range(span.solo):
            yield _next(reader, span)
        follower = None
        if span.into_next:
            incoming = plan[index + 1]
            follower = _open(incoming, width, height)
            steps = span.into_next + 1
            for step in range(1, steps):
                a = _next(reader, span).astype(np.uint32)
                b = _next(follower, incoming).astype(np.uint32)
                yield ((a * (steps - step) + b * step + steps // 2) // steps).astype(np.uint16)
        reader.close()
        reader = follower


def _open(span: ClipSpan, width: int, height: int) -> Iterator[np.ndarray]:
    if not span.media.is_file():
        raise RenderFailed(f"the media of clip {span.clip.name} is missing: {span.media}\n"
                           "    fix: render the shot again (racines render --shot ID)")
    stream = (ffmpeg.input(str(span.media))
              .trim(start_frame=span.read_start, end_frame=span.read_start + span.read_count)
              .output("pipe:", format="rawvideo", pix_fmt=PIX_FMT, fps_mode="passthrough"))
    raw = read_frames(stream, width, height, PIX_FMT, f"reading {span.media.name}")
    return (np.frombuffer(chunk, dtype=np.uint16) for chunk in raw)


def _next(reader: Iterator[np.ndarray], span: ClipSpan) -> np.ndarray:
    try:
        return next(reader)
    except StopIteration:
        raise RenderFailed(f"the media of clip {span.clip.name} ({span.media.name}) has fewer frames than "
                           "the timeline uses\n    fix: render the shot again (racines render --shot ID)") from None
