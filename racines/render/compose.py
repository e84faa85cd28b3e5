"""Walk an OpenTimelineIO track frame by frame, as raw 10-bit 4:2:2 video.

Frames are read piece by piece (racines.render.pieces): one decoder at a time (both sides
of a dissolve in one), so memory does not grow with the length of the film.
Cuts pass decoded frames through untouched; dissolves blend the two sides in integer arithmetic, the weight of the incoming shot rising by
1/(N+1) per frame so that neither side appears pure inside the dissolve.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
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
    rate: Fraction         # frames per second of the media (the clip's source range)


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
            rate=Fraction(source.start_time.rate).limit_denominator(1001),
        ))
    return result


def _frames(time: otio.opentime.RationalTime) -> int:
    return round(time.value)


def track_frames(track: otio.schema.Track, media_base: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield every frame of the track as a flat uint16 array (Y, then Cb, then Cr planes)."""
    from racines.render.pieces import cut_into_pieces, piece_frames

    for piece in cut_into_pieces(track, media_base):
        yield from piece_frames(piece, width, height)


def open_reader(media: Path, first: int, count: int, clip_name: str, width: int, height: int,
                rate: Fraction) -> Iterator[np.ndarray]:
    """Exactly ``count`` frames of ``media`` from frame ``first``, decoded to raw 10-bit 4:2:2.

    The reader seeks to half a frame before ``first`` rather than decoding the frames before
    it: takes are intra-only, so the seek lands on the frame before and ffmpeg's accurate seek
    drops it; the half frame absorbs containers' rounded timestamps. A dissolve at the end of
    a long take then decodes its dozen frames, not the whole take."""
    stream = (seek_input(media, first, clip_name, rate)
              .output("pipe:", format="rawvideo", pix_fmt=PIX_FMT, fps_mode="passthrough", **{"frames:v": count}))
    return _exactly(read_frames(stream, width, height, PIX_FMT, f"reading {media.name}"), count, clip_name, media)


def seek_input(media: Path, first: int, clip_name: str, rate: Fraction):
    """``media`` as an ffmpeg input whose first decoded frame is frame ``first`` (see open_reader)."""
    if not media.is_file():
        raise RenderFailed(f"the media of clip {clip_name} is missing: {media}\n"
                           "    fix: render the shot again (racines render --shot ID)")
    seek = {"ss": f"{float((first - Fraction(1, 2)) / rate):.6f}"} if first > 0 else {}
    return ffmpeg.input(str(media), **seek)


def numbered_video(media: Path, first: int, clip_name: str, rate: Fraction, numbered_at: Fraction):
    """The video of ``media`` from frame ``first`` (seeked as open_reader seeks it) in raw 10-bit
    4:2:2, its frames numbered from 0 at ``numbered_at`` frames per second: a take's frames as a
    filter graph takes them, paired with other streams by position."""
    return (seek_input(media, first, clip_name, rate).video.filter("format", PIX_FMT)
            .filter("settb", f"{numbered_at.denominator}/{numbered_at.numerator}").filter("setpts", "N"))


def short_media(clip_name: str, media: Path, delivered: int, count: int) -> RenderFailed:
    return RenderFailed(f"the media of clip {clip_name} ({media.name}) has {delivered} of the {count} frames the "
                        "timeline uses from it\n    fix: render the shot again (racines render --shot ID)")


def _exactly(raw: Iterator[bytes], count: int, clip_name: str, media: Path) -> Iterator[np.ndarray]:
    delivered = 0
    try:
        for chunk in raw:
            yield np.frombuffer(chunk, dtype=np.uint16)
            delivered += 1
    finally:
        raw.close()
    if delivered != count:
        raise short_media(clip_name, media, delivered, count)
