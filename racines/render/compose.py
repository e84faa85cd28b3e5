"""The frames of pieces (racines.render.pieces), as raw 10-bit 4:2:2 video.

Frames are read piece by piece: one decoder at a time (both sides of a dissolve in one), so
memory does not grow with the length of the film. Cuts pass decoded frames through
untouched; dissolves blend the two sides in integer arithmetic, the weight of the incoming
shot rising by 1/(N+1) per frame so that neither side appears pure inside the dissolve.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np
import opentimelineio as otio

from racines.errors import RenderFailed
from racines.media.ffmpeg import read_frames
from racines.render.pieces import Piece, cut_into_pieces

PIX_FMT = "yuv422p10le"


def track_frames(track: otio.schema.Track, media_base: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield every frame of the track as a flat uint16 array (Y, then Cb, then Cr planes)."""
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
