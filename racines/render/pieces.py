"""Cut a track into pieces: the stretches where one clip is shown alone, and the dissolves.

A piece depends only on the media frames it shows, so it can be encoded once, kept, and
joined to the others by stream copy (ProRes is intra-only, so the join is frame-exact).
Changing one shot then re-encodes only its own pieces and the dissolves that touch it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from racines.render.compose import ClipSpan, open_reader, spans


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

    @functools.cached_property
    def identity(self) -> dict:
        """What the piece's pixels depend on: media identity (immutable takes) and frame ranges.
        Read once per piece: a film of a hundred shots asks for it for every key and state."""
        return {"frames": self.frames, "layers": [[_media_stamp(l.media), l.first_frame] for l in self.layers]}


def _media_stamp(path: Path) -> list:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return [str(path), None, None]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _label(span: ClipSpan) -> str:
    meta = span.clip.metadata.get("racines", {})
    return f"{meta.get('shot', span.clip.name)}  {meta.get('take', '')}".strip()


def cut_into_pieces(track: otio.schema.Track, media_base: Path) -> list[Piece]:
    plan = spans(track, media_base)
    found: list[Piece] = []
    record = 0
    for index, span in enumerate(plan):
        incoming = plan[index - 1].into_next if index > 0 else 0
        first = span.read_start + incoming
        if span.solo:
            found.append(Piece(record, span.solo, (Layer(span.media, first, span.clip.name, span.rate),),
                               _labels(plan, record, span.solo)))
            record += span.solo
        if span.into_next:
            following = plan[index + 1]
            layers = (Layer(span.media, first + span.solo, span.clip.name, span.rate),
                      Layer(following.media, following.read_start, following.clip.name, following.rate))
            found.append(Piece(record, span.into_next, layers, _labels(plan, record, span.into_next)))
            record += span.into_next
    return found


def _labels(plan: list[ClipSpan], record_in: int, frames: int) -> tuple[tuple[str, int, int], ...]:
    """Each clip owns the record from cut point to cut point; its label shows over that stretch."""
    labels = []
    for span in plan:
        first, last = max(span.record_in, record_in), min(span.record_out, record_in + frames) - 1
        if first <= last:
            labels.append((_label(span), first - record_in, last - record_in))
    return tuple(labels)


def piece_frames(piece: Piece, width: int, height: int) -> Iterator[np.ndarray]:
    """The piece's frames as flat uint16 yuv422p10le arrays; a dissolve blends its two layers
    with the incoming weight rising by 1/(N+1) per frame, in exact integer arithmetic."""
    readers = [open_reader(layer.media, layer.first_frame, piece.frames, layer.clip_name, width, height,
                           layer.rate)
               for layer in piece.layers]
    try:
        if len(readers) == 1:
            yield from readers[0]
            return
        steps = piece.frames + 1
        for step, (a, b) in enumerate(zip(*readers), start=1):
            yield ((a.astype(np.uint32) * (steps - step) + b.astype(np.uint32) * step + steps // 2)
                   // steps).astype(np.uint16)
    finally:
        for reader in readers:
            reader.close()


def piece_key(piece: Piece, *extra: object) -> str:
    canonical = json.dumps([piece.identity, *extra], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
