"""Cut a track into pieces: the stretches where one clip is shown alone, and the dissolves.

A piece depends only on the media frames it shows, so it can be encoded once, kept, and
joined to the others by stream copy (ProRes is intra-only, so the join is frame-exact).
Changing one shot then re-encodes only its own pieces and the dissolves that touch it.
Pure: the timeline is read, no file is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.edit.timeline import record_ranges, shot_of
from racines.errors import RenderFailed


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


@dataclass(frozen=True)
class Layer:
    media: Path
    first_frame: int       # first media frame this piece shows
    clip_name: str
    rate: Fraction         # the media's frame rate, to seek in it


@dataclass(frozen=True)
class Piece:
    record_in: int                    # first frame of the piece in the film
    frames: int
    layers: tuple[Layer, ...]         # one for a solo stretch, two (outgoing, incoming) for a dissolve
    labels: tuple[tuple[str, int, int], ...]  # burn-in text and the piece frames it covers (first, last)


def media_of(clip: otio.schema.Clip, media_base: Path) -> Path:
    """The clip's media, its path normalised without asking the file system: a link on the way
    is kept as a link, so that paths stay inside the project that holds them."""
    return Path(os.path.normpath(media_base / clip.media_reference.target_url))


def spans(track: otio.schema.Track, media_base: Path) -> list[ClipSpan]:
    items = list(track)
    records = record_ranges(track)
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
        record_in, record_out = records[shot_of(item)]
        result.append(ClipSpan(
            clip=item,
            media=media_of(item, media_base),
            read_start=start - pre_in,
            read_count=pre_in + duration + post_out,
            solo=duration - pre_out - post_in,
            into_next=post_in + post_out,
            record_in=record_in,
            record_out=record_out,
            rate=Fraction(source.start_time.rate).limit_denominator(1001),
        ))
    return result


def _frames(time: otio.opentime.RationalTime) -> int:
    return round(time.value)


def _label(span: ClipSpan) -> str:
    meta = span.clip.metadata.get("racines", {})
    return f"{shot_of(span.clip)}  {meta.get('take', '')}".strip()


def cut_into_pieces(track: otio.schema.Track, media_base: Path) -> list[Piece]:
    plan = spans(track, media_base)
    found: list[Piece] = []
    record = 0
    for index, span in enumerate(plan):
        incoming = plan[index - 1].into_next if index > 0 else 0
        near = plan[max(0, index - 1):index + 2]  # the only clips a piece of this one can show
        first = span.read_start + incoming
        if span.solo:
            found.append(Piece(record, span.solo, (Layer(span.media, first, span.clip.name, span.rate),),
                               _labels(near, record, span.solo)))
            record += span.solo
        if span.into_next:
            following = plan[index + 1]
            layers = (Layer(span.media, first + span.solo, span.clip.name, span.rate),
                      Layer(following.media, following.read_start, following.clip.name, following.rate))
            found.append(Piece(record, span.into_next, layers, _labels(near, record, span.into_next)))
            record += span.into_next
    return found


def _labels(spans_near: list[ClipSpan], record_in: int, frames: int) -> tuple[tuple[str, int, int], ...]:
    """Each clip owns the record from cut point to cut point; its label shows over that stretch."""
    labels = []
    for span in spans_near:
        first, last = max(span.record_in, record_in), min(span.record_out, record_in + frames) - 1
        if first <= last:
            labels.append((_label(span), first - record_in, last - record_in))
    return tuple(labels)
