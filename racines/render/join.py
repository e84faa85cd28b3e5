"""Join a deliverable whole from its pieces by stream copy, through cached chunks of pieces."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import ffmpeg

from racines.core.atomic import atomic_path
from racines.media.ffmpeg import run
from racines.render.plan import PIECE_FORMAT, PIECES_DIR, Deliverable, Entry, Subtitles


def container_options(deliverable: Deliverable, timecode: str) -> dict:
    """The master carries the film's start timecode; the review copy is streamable (index first)."""
    if deliverable.kind == "master":
        return {"timecode": timecode, "f": "mov"}
    return {"f": "mp4", "movflags": "+faststart"}


def join_whole(out_dir: Path, deliverable: Deliverable, rate: Fraction, timecode: str, chunk: int) -> list[Entry]:
    """Join the deliverable; return the files it was joined from (its pieces, or chunks of them)."""
    options = container_options(deliverable, timecode)
    joined = chunked(out_dir, list(deliverable.entries), rate, options["f"], deliverable.what, chunk)
    concat(out_dir, joined, deliverable.path, rate, options, deliverable.what, audio=deliverable.audio,
           subtitles=deliverable.subtitles)
    return joined


def subtitle_streams(subtitles: Subtitles | None) -> tuple[list, dict]:
    """The subtitle inputs and their output options: each SRT as a ``mov_text`` track tagged
    with its language, the first shown by default and the others not (the other streams are
    copied as they are)."""
    if subtitles is None:
        return [], {}
    streams, options = [], {"c:s": "mov_text"}
    for index, track in enumerate(subtitles.tracks):
        streams.append(ffmpeg.input(str(track.path), f="srt")["s"])
        options[f"metadata:s:s:{index}"] = f"language={track.language}"
        options[f"disposition:s:{index}"] = "default" if index == 0 else "0"
    return streams, options


def chunked(out_dir: Path, entries: list[Entry], rate: Fraction, container: str, what: str,
            chunk: int) -> list[Entry]:
    """Runs of ``chunk`` encoded pieces joined into cached chunk files, named by the pieces they hold.

    Opening a piece costs ffmpeg's concat reader a few milliseconds whatever its size, so a
    film of a hundred shots re-joined from its pieces after each change pays for every one;
    with chunks, a change re-joins one chunk and the film is joined from a few chunks. Pieces
    cut from takes by in and out points (the master's solo stretches) are left as they are."""
    if len(entries) <= chunk or any(entry.copied for entry in entries):
        return entries
    plan = chunk_plan(entries, chunk)
    for joined, group in plan:
        if not (out_dir / joined.file).is_file():
            concat(out_dir, group, out_dir / joined.file, rate, {"f": container}, f"{what} (a chunk of pieces)",
                   keep_listing=False)
    return [joined for joined, _ in plan]


def kept_chunks(out_dir: Path, entries: tuple[Entry, ...], chunk: int) -> list[Entry]:
    """The chunks of ``entries`` already in the cache: after a patch, those still hold current
    pieces, kept for the next full join."""
    return [joined for joined, _ in chunk_plan(list(entries), chunk) if (out_dir / joined.file).is_file()]


def chunk_plan(entries: list[Entry], chunk: int) -> list[tuple[Entry, list[Entry]]]:
    """(chunk entry, the piece entries it holds) for each run of ``chunk`` pieces."""
    plan = []
    for first in range(0, len(entries), chunk):
        group = entries[first:first + chunk]
        name = hashlib.sha256(json.dumps([PIECE_FORMAT, [e.to_json() for e in group]]).encode()).hexdigest()[:32]
        plan.append((Entry((PIECES_DIR / f"chunk-{name}{Path(group[0].file).suffix}").as_posix()), group))
    return plan


def concat(out_dir: Path, entries: list[Entry], output: Path, rate: Fraction, options: dict, what: str,
           keep_listing: bool = True, audio: Path | None = None, subtitles: Subtitles | None = None) -> None:
    """Stream-copy the entries into one file. Where pieces are cut from takes by in and out
    points, every frame then gets its exact timestamp again (the points leave sub-frame
    jitter at the joins; only intra-only ProRes is cut so, so no frame reordering is lost).
    The concat list names only our own hex pieces and validated take paths, read with safe=1.
    ``audio``: the film's sound, a file made whole (racines.sound), copied in beside the picture;
    ``subtitles``: tracks muxed in after it (see subtitle_streams)."""
    lines = ["ffconcat version 1.0"]
    for entry in entries:
        lines.append(f"file '{entry.file}'")
        if entry.copied:
            lines += [f"inpoint {entry.inpoint}", f"outpoint {entry.outpoint}"]
    if any(entry.copied for entry in entries):
        options = {**options, "bsf:v": f"setts=ts=N*{rate.denominator}/({rate.numerator}*TB)"}
    # the listing sits in out_dir, which its relative paths start from; a deliverable keeps its own
    listing_path = out_dir / f"{output.stem}.ffconcat" if keep_listing else out_dir / f".{output.stem}.ffconcat"
    with atomic_path(listing_path) as listing, atomic_path(output) as tmp:
        listing.write_text("\n".join(lines) + "\n")
        streams = [ffmpeg.input(str(listing), format="concat", safe=1).video]
        if audio is not None:
            streams.append(ffmpeg.input(str(audio)).audio)
        texts, text_options = subtitle_streams(subtitles)
        run(ffmpeg.output(*streams, *texts, str(tmp), c="copy", **options, **text_options), f"joining {what}")
    if not keep_listing:
        listing_path.unlink(missing_ok=True)
