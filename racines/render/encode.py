"""Encode pieces into the cache: the master's in ProRes, the review copy's in H.264 with burn-ins.

A dissolve is blended in Python (racines.render.compose) and encoded into both deliverables'
pieces by one ffmpeg; a solo stretch of the review copy is transcoded by one ffmpeg, its
frames never passing through Python. Every file is written under a temporary name and moved
into place when complete.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from pathlib import Path

import ffmpeg

from racines.core.atomic import atomic_path, staging_dir
from racines.media import fonts, presets
from racines.media.ffmpeg import FrameWriter, raw_input, run
from racines.render import quicktime
from racines.render.compose import PIX_FMT, numbered_video, piece_frames, short_media
from racines.render.pieces import Piece
from racines.render.plan import Format
from racines.render.stale import Job


def encode_all(jobs: Sequence[Job], fmt: Format, total: int, workers: int = 1,
               on_frame: Callable[[int], None] | None = None) -> None:
    """Encode the jobs' pieces, ``workers`` at once; ``on_frame`` is told the frames of the
    film (``total``) done so far, those of the pieces that need no encoding counted first."""
    done = total - sum(job.piece.frames for job in jobs)
    report: Callable[[int], None] = on_frame or _ignore
    report(done)
    if workers <= 1:
        for job in jobs:
            encode_piece(job.piece, fmt, job.timecode, job.master, job.review, functools.partial(_add, report, done))
            done += job.piece.frames
        return
    # pieces are independent: encode several at once (each is a Python reader/blender feeding
    # its own ffmpeg processes, so threads run in parallel); progress by piece
    with ThreadPoolExecutor(workers, thread_name_prefix="racines-piece") as pool:
        futures = {pool.submit(encode_piece, job.piece, fmt, job.timecode, job.master, job.review,
                               _ignore): job for job in jobs}
        for future in as_completed(futures):
            future.result()
            done += futures[future].piece.frames
            report(done)


def encode_piece(piece: Piece, fmt: Format, timecode: str, master: Path | None, review: Path | None,
                 on_frame: Callable[[int], None] | None = None) -> None:
    """Encode the piece into ``master``, ``review`` or both; ``timecode``: its first frame's."""
    on_frame = on_frame or _ignore
    if master is None and review is not None and len(piece.layers) == 1:
        _transcode_solo_review(piece, fmt, timecode, review)
        on_frame(piece.frames)
        return
    with ExitStack() as stack:
        # one ffmpeg encodes both deliverables' pieces from one stream of frames
        source = presets.tag_bt709(raw_input(fmt.width, fmt.height, fmt.rate_text, PIX_FMT))
        split = source.split() if master is not None and review is not None else None
        outputs = []
        if master is not None:
            tmp = stack.enter_context(atomic_path(master))
            outputs.append((split[0] if split else source).output(str(tmp), **presets.prores_hq(timecode)))
        if review is not None:
            # beside the piece, not in /tmp: a render killed here leaves it to the next one's sweep
            labels = stack.enter_context(staging_dir(review.parent, "burnin"))
            tmp = stack.enter_context(atomic_path(review))
            graph = _burn_ins(split[1] if split else source, piece, labels, timecode, fmt)
            outputs.append(graph.output(str(tmp), **presets.review_h264(patchable=True)))
        what = " and ".join(name for name, path in (("the master", master), ("the review copy", review)) if path)
        writer = stack.enter_context(FrameWriter(ffmpeg.merge_outputs(*outputs), f"encoding {what}"))
        for count, frame in enumerate(piece_frames(piece, fmt.width, fmt.height), start=1):
            writer.write(frame)
            on_frame(count)


def _transcode_solo_review(piece: Piece, fmt: Format, timecode: str, review: Path) -> None:
    """A solo stretch of the review copy in one ffmpeg: decode the take, burn in, encode. Its
    frames skip the trip through Python that blending needs (at 720p, 3.7 MB a frame out of
    one pipe and into another). The frames are those the reader would give: the same seek,
    the same 10-bit 4:2:2, numbered from 0 at the film's rate."""
    layer = piece.layers[0]
    stream = numbered_video(layer.media, layer.first_frame, layer.clip_name, layer.rate, fmt.rate)
    with staging_dir(review.parent, "burnin") as labels, atomic_path(review) as tmp:
        graph = _burn_ins(stream, piece, labels, timecode, fmt)
        run(graph.output(str(tmp), fps_mode="passthrough", **{"frames:v": piece.frames},
                         **presets.review_h264(patchable=True)), "encoding the review copy")
        delivered = len(quicktime.read_track(tmp).samples)
        if delivered != piece.frames:
            raise short_media(layer.clip_name, layer.media, delivered, piece.frames)


def _burn_ins(stream, piece: Piece, labels: Path, timecode: str, fmt: Format):
    """Shot id and take over each clip's stretch of the record, and the record timecode
    (drawtext counts drop-frame when the timecode is written with ';', as the plan writes it).

    Label text reaches drawtext through ``textfile`` only: shot names are never spliced
    into the filter graph.
    """
    stream = presets.tag_bt709(stream).filter("format", "yuv420p")
    size = max(12, fmt.height // 24)
    common = {"fontfile": str(fonts.MONO), "fontsize": size, "fontcolor": "white", "box": 1,
              "boxcolor": "black@0.55", "boxborderw": max(2, size // 4)}
    for index, (text, first, last) in enumerate(piece.labels):
        label = labels / f"label{index:04d}.txt"
        label.write_text(text, encoding="utf-8")
        stream = stream.filter("drawtext", textfile=str(label), x=size, y=size,
                               enable=f"between(n,{first},{last})", **common)
    return stream.filter("drawtext", timecode=timecode, rate=fmt.rate_text, x=f"w-tw-{size}", y=f"h-th-{size}",
                         **common)


def _ignore(count: int) -> None:
    pass


def _add(report: Callable[[int], None], base: int, count: int) -> None:
    report(base + count)
