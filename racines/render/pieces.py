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

import ffmpeg
import numpy as np
import opentimelineio as otio

from racines.media.ffmpeg import read_frames
from racines.render.compose import PIX_FMT, ClipSpan, numbered_video, open_reader, short_media, spans


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


def piece_frames(piece: Piece, width: int, height: int) -> Iterator[np.ndarray]:
    """The piece's frames as flat uint16 yuv422p10le arrays; a dissolve blends its two layers
    with the incoming weight rising by 1/(N+1) per frame, in exact integer arithmetic."""
    if len(piece.layers) == 1:
        layer = piece.layers[0]
        yield from open_reader(layer.media, layer.first_frame, piece.frames, layer.clip_name, width, height,
                               layer.rate)
        return
    steps = piece.frames + 1
    luma = width * height
    # the stacked frame holds each plane of the outgoing layer above the same plane of the incoming one
    planes = ((0, luma), (2 * luma, luma // 2), (3 * luma, luma // 2))
    for step, stacked in enumerate(_stacked_layers(piece, width, height), start=1):
        frame = np.empty(2 * luma, dtype=np.uint16)
        done = 0
        for start, size in planes:
            outgoing, incoming = stacked[start:start + size], stacked[start + size:start + 2 * size]
            frame[done:done + size] = (outgoing.astype(np.uint32) * (steps - step)
                                       + incoming.astype(np.uint32) * step + steps // 2) // steps
            done += size
        yield frame


def _stacked_layers(piece: Piece, width: int, height: int) -> Iterator[np.ndarray]:
    """Both layers of a dissolve decoded by one ffmpeg, each frame of the outgoing one above
    the same frame of the incoming one (one process and one pipe rather than a reader per
    layer). Each layer is seeked as open_reader seeks it and numbered from 0, so that the
    stack pairs frames by position; ``shortest`` ends it with the shorter side."""
    sides = [numbered_video(layer.media, layer.first_frame, layer.clip_name, layer.rate, piece.layers[0].rate)
             for layer in piece.layers]
    stream = (ffmpeg.filter(sides, "vstack", inputs=2, shortest=1)
              .output("pipe:", format="rawvideo", pix_fmt=PIX_FMT, fps_mode="passthrough",
                      **{"frames:v": piece.frames}))
    names = " and ".join(layer.media.name for layer in piece.layers)
    delivered = 0
    raw = read_frames(stream, width, 2 * height, PIX_FMT, f"reading {names}")
    try:
        for chunk in raw:
            yield np.frombuffer(chunk, dtype=np.uint16)
            delivered += 1
    finally:
        raw.close()  # a consumer that stops early stops ffmpeg now, not when collected
    if delivered != piece.frames:
        for layer in piece.layers:  # which side is short: each read alone, on this error path only
            for _ in open_reader(layer.media, layer.first_frame, piece.frames, layer.clip_name, width, height,
                                 layer.rate):
                pass
        raise short_media(piece.layers[0].clip_name, piece.layers[0].media, delivered, piece.frames)


def piece_key(piece: Piece, *extra: object) -> str:
    canonical = json.dumps([piece.identity, *extra], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
